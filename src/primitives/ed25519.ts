import { createPrivateKey, createPublicKey, type KeyObject, sign, verify } from 'node:crypto';
import { bytesToHex } from '@noble/hashes/utils.js';
import { MpcError } from '../errors/index.js';

/**
 * Ed25519 signatures through node:crypto (OpenSSL): ~20× faster than the pure-JS implementation
 * here (sign 0.03 ms vs 0.67 ms, verify 0.09 ms vs 1.7 ms), which matters on the signing path
 * where every control frame is signed once and verified by each reader. Keys stay in the raw
 * 32-byte form of RFC 8032 everywhere else (key generation and the roster use @noble/curves); this
 * module only wraps them in the PKCS#8 / SPKI encodings OpenSSL wants. Every party verifies with
 * the same implementation (RFC 8032, canonical S), so verdicts on a signature never differ.
 */
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const SIG_BYTES = 64;

/** A signing key held as an OpenSSL key object (the caller wipes its own raw copy). */
export class Ed25519Signer {
  readonly #key: KeyObject;

  constructor(secret: Uint8Array) {
    if (!(secret instanceof Uint8Array) || secret.length !== 32) {
      throw new MpcError('ERR_TRANSPORT_KEY_INVALID', 'Ed25519 secret key must be 32 bytes');
    }
    const der = Buffer.concat([PKCS8_PREFIX, secret]);
    try {
      this.#key = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    } finally {
      der.fill(0);
    }
  }

  sign(message: Uint8Array): Uint8Array {
    return new Uint8Array(sign(null, message, this.#key));
  }
}

const publicKeys = new Map<string, KeyObject | null>();
const MAX_CACHED = 4096;

function publicKeyObject(pub: Uint8Array): KeyObject | null {
  const hex = bytesToHex(pub);
  let k = publicKeys.get(hex);
  if (k === undefined) {
    try {
      k =
        pub.length === 32
          ? createPublicKey({ key: Buffer.concat([SPKI_PREFIX, pub]), format: 'der', type: 'spki' })
          : null;
    } catch {
      k = null;
    }
    if (publicKeys.size >= MAX_CACHED) publicKeys.delete(publicKeys.keys().next().value as string);
    publicKeys.set(hex, k);
  }
  return k;
}

/** False for any invalid key, signature or mismatch; never throws. */
export function ed25519Verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (!(signature instanceof Uint8Array) || signature.length !== SIG_BYTES) return false;
  const key = publicKeyObject(publicKey);
  if (key === null) return false;
  try {
    return verify(null, message, key, signature);
  } catch {
    return false;
  }
}
