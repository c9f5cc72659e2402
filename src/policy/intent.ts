/**
 * What the policy evaluates: the decoded intent of a sign request, never a bare hash
 * (docs/PRODUCT.md §2.3, Google Cloud MPC's lesson). The orchestrator and every party build it
 * themselves from the payload bytes (src/chains) and the initiator's registry entry, so all of
 * them evaluate the same thing.
 */
import { MpcError } from '../errors/index.js';
import {
  BTC_NETWORKS,
  type BtcNetwork,
  CHAINS,
  type Chain,
  OPERATIONS,
  type Operation,
  PAYLOAD_KINDS,
  type PayloadKind,
} from './schema.js';

/** One movement of value: asset id (`ETH`, `BTC`, `erc20:0x…` lower case), destination, base units. */
export interface Transfer {
  readonly asset: string;
  readonly destination: string;
  readonly amount: bigint;
}

export interface Initiator {
  readonly id: string;
  readonly roles: readonly string[];
  readonly groups: readonly string[];
}

export interface PolicyIntent {
  readonly kind: PayloadKind;
  readonly operation: Operation;
  /** Absent for a raw digest (it names no chain). */
  readonly chain?: Chain;
  /** Ethereum chain id (transactions; typed data when its domain names one). */
  readonly chainId?: number;
  readonly network?: BtcNetwork;
  readonly keyId: string;
  /** Every derivation path the request signs under (one per PSBT input). */
  readonly paths: readonly (readonly number[])[];
  readonly initiator: Initiator;
  /** Value the request moves (empty for messages and raw digests). Change outputs are not transfers. */
  readonly transfers: readonly Transfer[];
}

/** One signed request as remembered for velocity limits (every party keeps its own record). */
export interface SpendRecord {
  /** Unix seconds at which it was signed. */
  readonly at: number;
  readonly keyId: string;
  readonly initiator: string;
  readonly transfers: readonly Transfer[];
}

/** Normalises an address for comparison: hex and bech32 are case-insensitive, base58 is not. */
export function normalizeAddress(address: string): string {
  return /^(0x|bc1|tb1|bcrt1)/i.test(address) ? address.toLowerCase() : address;
}

/** Normalises an asset id: token contract addresses compare in lower case. */
export function normalizeAsset(asset: string): string {
  return asset.startsWith('erc20:') ? asset.toLowerCase() : asset;
}

const bad = (what: string) => new MpcError('ERR_POLICY_INTENT_INVALID', `intent ${what}`);

/** Checks an intent built by a caller (a programming error must not pass silently into policy). */
export function assertIntent(i: PolicyIntent): void {
  if (!PAYLOAD_KINDS.includes(i.kind)) throw bad('kind is unknown');
  if (!OPERATIONS.includes(i.operation)) throw bad('operation is unknown');
  if (i.chain !== undefined && !CHAINS.includes(i.chain)) throw bad('chain is unknown');
  if (i.network !== undefined && !BTC_NETWORKS.includes(i.network)) throw bad('network is unknown');
  if (i.chainId !== undefined && (!Number.isSafeInteger(i.chainId) || i.chainId < 1)) throw bad('chainId is invalid');
  if (typeof i.keyId !== 'string' || i.keyId.length === 0) throw bad('keyId is empty');
  if (!Array.isArray(i.paths) || i.paths.length === 0) throw bad('names no derivation path');
  for (const p of i.paths) {
    if (!Array.isArray(p) || !p.every((s) => Number.isInteger(s) && s >= 0 && s < 2 ** 31)) {
      throw bad('has an invalid derivation path');
    }
  }
  if (typeof i.initiator?.id !== 'string' || i.initiator.id.length === 0) throw bad('names no initiator');
  for (const t of i.transfers) {
    if (typeof t.amount !== 'bigint' || t.amount < 0n) throw bad('has a negative or non-integer amount');
    if (typeof t.asset !== 'string' || typeof t.destination !== 'string') throw bad('has a malformed transfer');
  }
}
