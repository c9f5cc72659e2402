import type { ErrorCode } from '../errors/index.js';
import { MpcError } from '../errors/index.js';
import type { Point } from '../primitives/curve.js';
import type { EcdsaSignature } from '../protocol/sign.js';

/**
 * What a chain payload module promises (issue #12): strict decoding into fields a policy can read,
 * the digests to sign (computed here, never taken from the requester), and assembly of the signed
 * artifact a chain accepts. Everything here is pure: no I/O, no clock, no randomness.
 */

/** The payload kinds; `raw.digest` is the most dangerous: nothing about it can be checked. */
export const PAYLOAD_KINDS = ['eth.transaction', 'eth.message', 'eth.typed_data', 'btc.psbt', 'raw.digest'] as const;
export type PayloadKind = (typeof PAYLOAD_KINDS)[number];

/** Bitcoin networks (address prefixes and xpub version bytes). */
export const BTC_NETWORKS = ['mainnet', 'testnet', 'regtest'] as const;
export type BtcNetwork = (typeof BTC_NETWORKS)[number];

/** The threshold key's extended public key (Y, c): the root of every derivation path. */
export interface ChainKey {
  readonly publicKey: Point;
  readonly chainCode: Uint8Array;
}

/** Context a decoder needs besides the bytes (the same at every party). */
export interface ChainContext {
  /** The key that will sign: needed where the payload claims paths under it (btc.psbt). */
  readonly key?: ChainKey;
  /** Bitcoin network for addresses (default mainnet). */
  readonly network?: BtcNetwork;
}

/** One digest to sign, and the path it must be signed under when the payload fixes it. */
export interface SigningDigest {
  readonly digest: Uint8Array;
  /** BIP32 non-hardened path from the root key (btc.psbt: from the input's derivation record). */
  readonly path?: readonly number[];
}

/** JSON-safe decoded fields (bigints as decimal strings, bytes as 0x-hex). */
export type Fields = { readonly [k: string]: FieldValue };
export type FieldValue = string | number | boolean | null | readonly FieldValue[] | Fields;

export interface DecodedPayload {
  readonly kind: PayloadKind;
  readonly fields: Fields;
  readonly digests: readonly SigningDigest[];
}

/** The signed artifact: what the user hands to a chain (hex), plus the kind-specific extras. */
export interface SignedArtifact {
  readonly kind: PayloadKind;
  /** eth.transaction: signed raw tx; eth.message/typed_data: 65-byte r‖s‖v; btc.psbt: finalized tx; raw.digest: r‖s‖recovery. */
  readonly hex: string;
  readonly fields: Fields;
}

/** One payload kind: its size limit (checked before any decoding), decoder and assembler. */
export interface PayloadCodec {
  readonly kind: PayloadKind;
  readonly maxBytes: number;
  decode(bytes: Uint8Array, ctx: ChainContext): DecodedPayload;
  /** `signed[i]` signs `digests[i]`; each is verified under its public key before use. */
  assemble(bytes: Uint8Array, signed: readonly DigestSignature[], ctx: ChainContext): SignedArtifact;
}

/** A signature over one of a payload's digests and the (derived) public key it verifies under. */
export interface DigestSignature {
  readonly signature: EcdsaSignature;
  readonly publicKey: Point;
}

/** A typed refusal; the message names fields and sizes, never payload content. */
export function chainError(
  code: ErrorCode,
  why: string,
  details?: Readonly<Record<string, string | number | boolean>>,
  cause?: unknown,
): MpcError {
  return new MpcError(code, `chain payload rejected: ${why}`, {
    ...(details === undefined ? {} : { details }),
    ...(cause === undefined ? {} : { cause }),
  });
}

export function assertSize(kind: PayloadKind, bytes: unknown, maxBytes: number): asserts bytes is Uint8Array {
  if (!(bytes instanceof Uint8Array)) throw chainError('ERR_CHAIN_PAYLOAD_MALFORMED', `${kind} payload must be bytes`);
  if (bytes.length > maxBytes) {
    throw chainError('ERR_CHAIN_PAYLOAD_TOO_LARGE', `${kind} payload exceeds ${maxBytes} bytes`, {
      kind,
      size: bytes.length,
      limit: maxBytes,
    });
  }
}

export function assertSignatureCount(kind: PayloadKind, got: number, want: number): void {
  if (got !== want) {
    throw chainError('ERR_CHAIN_SIGNATURE_INVALID', `${kind} needs ${want} signature(s), got ${got}`, { kind });
  }
}

/** 0x-prefixed lowercase hex. */
export function hex0x(b: Uint8Array): string {
  return `0x${Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')}`;
}
