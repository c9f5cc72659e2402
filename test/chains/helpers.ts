/**
 * Test-only signing for the chain payload tests: a known root secret (the dealer's view, which the
 * protocol never has) and the child secret at a path, signed with @noble/curves. Outputs are
 * checked with libraries other than the ones src/chains builds them with (viem, bip32,
 * tiny-secp256k1, @scure/base).
 */
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { BIP32Factory } from 'bip32';
import * as ecc from 'tiny-secp256k1';
import type { ChainKey, DigestSignature } from '../../src/chains/index.js';
import { mod, toBytesBE } from '../../src/math/bits.js';
import { CURVE_ORDER, mulBase } from '../../src/primitives/curve.js';
import { derivePath } from '../../src/protocol/hd.js';
import type { EcdsaSignature } from '../../src/protocol/sign.js';

export const bip32 = BIP32Factory(ecc);

export interface TestKey extends ChainKey {
  readonly secret: bigint;
}

export function testKey(seed: number): TestKey {
  const secret = mod(BigInt(`0x${'9e3779b97f4a7c15'.repeat(4)}`) * BigInt(seed + 1), CURVE_ORDER);
  const chainCode = new Uint8Array(32).map((_, i) => (i * 31 + seed) & 0xff);
  return { secret, publicKey: mulBase(secret), chainCode };
}

/** Sign a 32-byte digest with the child secret at `path` (low-s, with recovery id). */
export function signAt(key: TestKey, path: readonly number[], digest: Uint8Array): DigestSignature {
  const d = derivePath(key.publicKey, key.chainCode, path);
  const sk = toBytesBE(mod(key.secret + d.shift, CURVE_ORDER), 32);
  const raw = secp256k1.sign(digest, sk, { prehash: false, lowS: true, format: 'recovered' });
  const sig = secp256k1.Signature.fromBytes(raw, 'recovered');
  const signature: EcdsaSignature = {
    r: sig.r,
    s: sig.s,
    recovery: sig.recovery as number,
    der: sig.toBytes('der'),
    compact: sig.toBytes('compact'),
  };
  return { signature, publicKey: d.publicKey };
}

/** The same key as an independent BIP32 library sees it (from our xpub string). */
export const hex = (b: Uint8Array): string => bytesToHex(b);
