import { getBytes, hashMessage, recoverAddress, toUtf8String } from 'ethers';
import { ethSignature } from './eth-transaction.js';
import { ethereumAddress } from './keys.js';
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
 * `eth.message`: EIP-191 version 0x45 (`personal_sign`): the digest is
 * keccak256("\x19Ethereum Signed Message:\n" ‖ len ‖ message), computed by ethers' `hashMessage`.
 * The payload is the message bytes themselves; the output is the 65-byte r ‖ s ‖ v (v = 27/28).
 */

const KIND = 'eth.message' as const;
export const ETH_MESSAGE_MAX_BYTES = 16 * 1024;

function message(bytes: Uint8Array): Uint8Array {
  assertSize(KIND, bytes, ETH_MESSAGE_MAX_BYTES);
  if (bytes.length === 0) throw chainError('ERR_CHAIN_PAYLOAD_MALFORMED', 'empty message');
  return bytes;
}

function utf8OrNull(bytes: Uint8Array): string | null {
  try {
    return toUtf8String(bytes);
  } catch {
    return null;
  }
}

function decode(bytes: Uint8Array, _ctx: ChainContext): DecodedPayload {
  const m = message(bytes);
  return {
    kind: KIND,
    fields: { message: hex0x(m), text: utf8OrNull(m), length: m.length },
    digests: [{ digest: getBytes(hashMessage(m)) }],
  };
}

/** 65-byte r ‖ s ‖ v, checked to recover to the signing key's address. */
export function ethSignatureBytes(digest: string, one: DigestSignature): { hex: string; signer: string } {
  const sig = ethSignature(one.signature);
  const signer = ethereumAddress(one.publicKey);
  if (recoverAddress(digest, sig) !== signer) {
    throw chainError('ERR_CHAIN_SIGNATURE_INVALID', 'signature does not recover to the signing key');
  }
  return { hex: sig.serialized, signer };
}

function assemble(bytes: Uint8Array, signed: readonly DigestSignature[], _ctx: ChainContext): SignedArtifact {
  const m = message(bytes);
  assertSignatureCount(KIND, signed.length, 1);
  const { hex, signer } = ethSignatureBytes(hashMessage(m), signed[0] as DigestSignature);
  return { kind: KIND, hex, fields: { signer } };
}

export const ethMessage: PayloadCodec = { kind: KIND, maxBytes: ETH_MESSAGE_MAX_BYTES, decode, assemble };
