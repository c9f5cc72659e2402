import { createPublicKey, verify as nodeVerify } from 'node:crypto';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { toBytesBE } from '../../src/math/bits.js';
import type { Point } from '../../src/primitives/curve.js';
import { encodePoint } from '../../src/primitives/curve.js';
import type { EcdsaSignature } from '../../src/protocol/sign.js';

/** node:crypto (OpenSSL): SPKI from a JWK, SHA-256 over the message, DER signature. */
export function opensslVerifies(publicKey: Point, message: Uint8Array, der: Uint8Array): boolean {
  const { x, y } = publicKey.toAffine();
  const b64 = (v: bigint) => Buffer.from(toBytesBE(v, 32)).toString('base64url');
  const key = createPublicKey({ key: { kty: 'EC', crv: 'secp256k1', x: b64(x), y: b64(y) }, format: 'jwk' });
  return nodeVerify('sha256', message, key, der);
}

/** @noble/curves: compact and DER forms, low-s enforced, and public-key recovery from the recovery id. */
export function nobleVerifies(publicKey: Point, digest: Uint8Array, sig: EcdsaSignature): boolean {
  const pk = encodePoint(publicKey);
  const compact = secp256k1.verify(sig.compact, digest, pk, { prehash: false, lowS: true });
  const der = secp256k1.verify(sig.der, digest, pk, { prehash: false, lowS: true, format: 'der' });
  const recovered = new secp256k1.Signature(sig.r, sig.s, sig.recovery).recoverPublicKey(digest).equals(publicKey);
  return compact && der && recovered;
}
