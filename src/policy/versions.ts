/**
 * Published policy versions and operator registries: admin-quorum-signed documents that a holder
 * (the orchestrator, every party) accepts only forward. A version older than the one held is
 * refused, and so is a different document under the same version number (an admin quorum that
 * signed two documents for one version is a fork, not an update).
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { MpcError } from '../errors/index.js';
import { compilePolicy, type Policy } from './document.js';
import { type OperatorRegistry, parseRegistry } from './registry.js';
import { type AdminSet, verifyQuorumDocument } from './signed-document.js';

export const POLICY_TYP = 'mpc-custody-policy+json';
export const REGISTRY_TYP = 'mpc-custody-operators+json';

interface Versioned {
  readonly version: number;
  /** SHA-256 of the signed payload bytes (hex): names the exact document. */
  readonly hash: string;
  readonly signedBy: readonly string[];
}

export interface PolicyVersion extends Versioned {
  readonly policy: Policy;
}

export interface RegistryVersion extends Versioned {
  readonly registry: OperatorRegistry;
}

function decodeJson(payload: Uint8Array, what: string): unknown {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload));
  } catch {
    throw new MpcError('ERR_POLICY_SIGNED_MALFORMED', `${what} payload is not JSON`);
  }
}

/** Verifies a signed policy version: quorum first, then the document itself. */
export async function verifySignedPolicy(raw: unknown, admins: AdminSet): Promise<PolicyVersion> {
  const signed = await verifyQuorumDocument(raw, POLICY_TYP, admins);
  const policy = compilePolicy(decodeJson(signed.payload, 'policy'));
  return { policy, version: policy.version, hash: bytesToHex(sha256(signed.payload)), signedBy: signed.signedBy };
}

/** Verifies a signed operator registry: quorum first, then the registry. */
export async function verifySignedRegistry(raw: unknown, admins: AdminSet): Promise<RegistryVersion> {
  const signed = await verifyQuorumDocument(raw, REGISTRY_TYP, admins);
  const registry = await parseRegistry(decodeJson(signed.payload, 'operator registry'));
  return { registry, version: registry.version, hash: bytesToHex(sha256(signed.payload)), signedBy: signed.signedBy };
}

/**
 * Chooses between the held version and a candidate: the candidate only if it is newer, the held
 * one again if the candidate is the very same document.
 *
 * @throws MpcError ERR_POLICY_VERSION_OLD, ERR_POLICY_VERSION_CONFLICT
 */
export function acceptUpdate<T extends Versioned>(held: T | undefined, candidate: T, what = 'policy'): T {
  if (held === undefined || candidate.version > held.version) return candidate;
  if (candidate.version === held.version) {
    if (candidate.hash === held.hash) return held;
    throw new MpcError(
      'ERR_POLICY_VERSION_CONFLICT',
      `${what} version ${candidate.version} is held with other content`,
    );
  }
  throw new MpcError(
    'ERR_POLICY_VERSION_OLD',
    `${what} version ${candidate.version} is older than the held ${held.version}`,
    {
      details: { held: held.version, offered: candidate.version },
    },
  );
}
