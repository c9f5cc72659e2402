import { encodePoint } from '../primitives/curve.js';
import { secp256k1Backend } from '../primitives/secp256k1-backend.js';
import {
  assertSignatureCount,
  assertSize,
  type ChainContext,
  chainError,
  type DecodedPayload,
  type DigestSignature,
  hex0x,
  type PayloadCodec,
  type SignedArtifact,
} from './types.js';

/**
 * `raw.digest`: 32 bytes signed as they are. Nothing about them can be checked — they may be the
 * hash of any transaction on any chain — so the decoded fields say so (`dangerous: true`) and a
 * policy should treat this kind as the most dangerous one. Output: r ‖ s ‖ recovery id (65 bytes).
 */

const KIND = 'raw.digest' as const;
export const RAW_DIGEST_BYTES = 32;

function digestOf(bytes: Uint8Array): Uint8Array {
  assertSize(KIND, bytes, RAW_DIGEST_BYTES);
  if (bytes.length !== RAW_DIGEST_BYTES)
    throw chainError('ERR_CHAIN_PAYLOAD_MALFORMED', 'a raw digest is exactly 32 bytes');
  return Uint8Array.from(bytes);
}

function decode(bytes: Uint8Array, _ctx: ChainContext): DecodedPayload {
  const digest = digestOf(bytes);
  return { kind: KIND, fields: { digest: hex0x(digest), dangerous: true }, digests: [{ digest }] };
}

function assemble(bytes: Uint8Array, signed: readonly DigestSignature[], _ctx: ChainContext): SignedArtifact {
  const digest = digestOf(bytes);
  assertSignatureCount(KIND, signed.length, 1);
  const { signature, publicKey } = signed[0] as DigestSignature;
  if (!secp256k1Backend().verify(signature.compact, digest, encodePoint(publicKey))) {
    throw chainError('ERR_CHAIN_SIGNATURE_INVALID', 'signature does not verify');
  }
  const out = new Uint8Array(65);
  out.set(signature.compact);
  out[64] = signature.recovery;
  return { kind: KIND, hex: hex0x(out).slice(2), fields: { der: hex0x(signature.der).slice(2) } };
}

export const rawDigest: PayloadCodec = { kind: KIND, maxBytes: RAW_DIGEST_BYTES, decode, assemble };
