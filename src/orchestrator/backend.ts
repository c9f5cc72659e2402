/**
 * What the orchestrator needs from the parties, as one small interface over the embedded session
 * coordinator (src/daemon/coordinator.ts). Signing always passes the authorization (the initiator's
 * signed request, the policy version it was evaluated under, the approval statements) so that each
 * party re-checks it before its partial leaves (issue 14). Policy and registry versions the
 * orchestrator accepts are relayed to every party, which verifies the admin quorum itself.
 */
import type { BtcNetwork, ChainKey, PayloadKind, SignedArtifact } from '../chains/index.js';
import type { Coordinator } from '../daemon/coordinator.js';
import type { Point } from '../primitives/curve.js';
import type { EcdsaSignature, PresignaturePublic } from '../protocol/sign.js';

export interface SignAuthorization {
  readonly signedRequest: string;
  readonly policyVersion: number;
  readonly approvals: readonly string[];
}

export interface SigningBackend {
  keygen(o: { keyId: string; threshold: number; parties: number }): Promise<Point>;
  auxInfo(o: { keyId: string; parties: number }): Promise<void>;
  keyInfo(o: { keyId: string; parties: readonly number[] }): Promise<ChainKey>;
  presign(o: { keyId: string; signers: readonly number[]; path: readonly number[] }): Promise<PresignaturePublic>;
  signPayload(o: {
    keyId: string;
    kind: PayloadKind;
    payload: Uint8Array;
    presignatures: readonly PresignaturePublic[];
    network?: BtcNetwork;
    authorization: SignAuthorization;
  }): Promise<{ artifact: SignedArtifact; signatures?: readonly EcdsaSignature[] }>;
  /** Relays an admin-signed policy version / operator registry to the parties, if supported. */
  pushPolicy?(doc: object): Promise<DocumentPushResult>;
  pushRegistry?(doc: object): Promise<DocumentPushResult>;
}

/** What a relay reached: `ok` when every party holds the document; each party's outcome when known. */
export interface DocumentPushResult {
  readonly ok: boolean;
  readonly parties?: readonly { readonly party: number; readonly ok: boolean; readonly code: string }[];
}

/** The coordinator as a SigningBackend. */
export function coordinatorBackend(c: Coordinator): SigningBackend {
  return {
    keygen: (o) => c.keygen(o),
    auxInfo: (o) => c.auxInfo(o),
    keyInfo: (o) => c.keyInfo(o),
    presign: (o) => c.presign(o),
    signPayload: (o) => c.signPayload(o),
    pushPolicy: (doc) => c.pushPolicy(doc),
    pushRegistry: (doc) => c.pushRegistry(doc),
  };
}
