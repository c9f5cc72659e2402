import { MpcError } from '../errors/index.js';
import { btcPsbt } from './btc-psbt.js';
import { ethMessage } from './eth-message.js';
import { ethTransaction } from './eth-transaction.js';
import { ethTypedData } from './eth-typed-data.js';
import { rawDigest } from './raw-digest.js';
import {
  assertSize,
  type ChainContext,
  chainError,
  type DecodedPayload,
  type DigestSignature,
  PAYLOAD_KINDS,
  type PayloadCodec,
  type PayloadKind,
  type SignedArtifact,
  type SigningDigest,
} from './types.js';

/** Every payload kind's codec, keyed by kind. */
export const PAYLOAD_CODECS: Readonly<Record<PayloadKind, PayloadCodec>> = {
  'eth.transaction': ethTransaction,
  'eth.message': ethMessage,
  'eth.typed_data': ethTypedData,
  'btc.psbt': btcPsbt,
  'raw.digest': rawDigest,
};

export function isPayloadKind(kind: unknown): kind is PayloadKind {
  return typeof kind === 'string' && (PAYLOAD_KINDS as readonly string[]).includes(kind);
}

/** @throws MpcError ERR_CHAIN_KIND_UNKNOWN */
export function payloadCodec(kind: unknown): PayloadCodec {
  if (!isPayloadKind(kind)) throw chainError('ERR_CHAIN_KIND_UNKNOWN', 'unknown payload kind');
  return PAYLOAD_CODECS[kind];
}

/** Anything a library throws that is not already typed becomes a malformed-payload refusal. */
function typed<T>(kind: PayloadKind, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof MpcError) throw e;
    throw chainError('ERR_CHAIN_PAYLOAD_MALFORMED', `${kind} payload is malformed`, { kind }, e);
  }
}

/**
 * Decodes a payload of `kind`: size limit first, then the kind's strict decoder.
 * @throws MpcError ERR_CHAIN_* (never anything else)
 */
export function decodePayload(kind: unknown, bytes: Uint8Array, ctx: ChainContext = {}): DecodedPayload {
  const codec = payloadCodec(kind);
  assertSize(codec.kind, bytes, codec.maxBytes);
  return typed(codec.kind, () => codec.decode(bytes, ctx));
}

/** The signed artifact of a payload from one signature per digest (in digest order). */
export function assemblePayload(
  kind: unknown,
  bytes: Uint8Array,
  signed: readonly DigestSignature[],
  ctx: ChainContext = {},
): SignedArtifact {
  const codec = payloadCodec(kind);
  assertSize(codec.kind, bytes, codec.maxBytes);
  return typed(codec.kind, () => codec.assemble(bytes, signed, ctx));
}

/**
 * The digest at `index` of a payload, as a signer computes it for itself (never taken from the
 * requester), with the path it must be signed under when the payload fixes one.
 * @throws MpcError ERR_CHAIN_DIGEST_INDEX when the payload has no such digest
 */
export function signingDigest(kind: unknown, bytes: Uint8Array, index: number, ctx: ChainContext = {}): SigningDigest {
  return digestAt(decodePayload(kind, bytes, ctx), index);
}

/**
 * The digest at `index` of an already decoded payload (`decodePayload`), as `signingDigest`.
 * @throws MpcError ERR_CHAIN_DIGEST_INDEX when the payload has no such digest
 */
export function digestAt(decoded: DecodedPayload, index: number): SigningDigest {
  const d = Number.isInteger(index) && index >= 0 ? decoded.digests[index] : undefined;
  if (d === undefined) {
    throw chainError('ERR_CHAIN_DIGEST_INDEX', 'the payload has no digest at this index', {
      digests: decoded.digests.length,
    });
  }
  return d;
}
