/**
 * What the orchestrator needs from the parties, as one small interface over the embedded session
 * coordinator (src/daemon/coordinator.ts). Signing always passes the authorization (the initiator's
 * signed request, the policy version it was evaluated under, the approval statements) so that each
 * party can re-check it before its partial leaves (issue 14). Policy and registry pushes are relayed
 * when the coordinator offers them.
 */
import type { BtcNetwork, ChainKey, PayloadKind, SignedArtifact } from '../chains/index.js';
import type { Coordinator } from '../daemon/coordinator.js';
import type { Point } from '../primitives/curve.js';
import type { PresignaturePublic } from '../protocol/sign.js';

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
  }): Promise<{ artifact: SignedArtifact }>;
  /** Relays an admin-signed policy version / operator registry to the parties, if supported. */
  pushPolicy?(doc: object): Promise<{ ok: boolean }>;
  pushRegistry?(doc: object): Promise<{ ok: boolean }>;
}

type MaybePush = {
  pushPolicy?: (d: object) => Promise<{ ok: boolean }>;
  pushRegistry?: (d: object) => Promise<{ ok: boolean }>;
};

/** The coordinator as a SigningBackend. */
export function coordinatorBackend(c: Coordinator): SigningBackend {
  const push = c as unknown as MaybePush;
  return {
    keygen: (o) => c.keygen(o),
    auxInfo: (o) => c.auxInfo(o),
    keyInfo: (o) => c.keyInfo(o),
    presign: (o) => c.presign(o),
    async signPayload(o) {
      // A variable, not a literal: the coordinator takes `authorization` once the party-side
      // check lands (branch cosign); until then the field is carried and ignored.
      const args: Parameters<Coordinator['signPayload']>[0] = o;
      return c.signPayload(args);
    },
    ...(typeof push.pushPolicy === 'function'
      ? { pushPolicy: (d: object) => (push.pushPolicy as NonNullable<MaybePush['pushPolicy']>).call(c, d) }
      : {}),
    ...(typeof push.pushRegistry === 'function'
      ? { pushRegistry: (d: object) => (push.pushRegistry as NonNullable<MaybePush['pushRegistry']>).call(c, d) }
      : {}),
  };
}
