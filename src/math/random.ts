import { randomFillSync } from 'node:crypto';
import { MpcError } from '../errors/index.js';
import { bitLength, fromBytesBE } from './bits.js';

/**
 * A source of random bytes. Production code passes the system CSPRNG; tests may pass a seeded DRBG
 * so runs are reproducible (cggmp21 does the same with `DevRng`).
 */
export interface Rng {
  fill(bytes: Uint8Array): void;
}

/** The operating system's CSPRNG (node:crypto randomFillSync → getrandom(2)). */
export const systemRng: Rng = Object.freeze({
  fill(bytes: Uint8Array): void {
    randomFillSync(bytes);
  },
});

/** Uniform integer in [0, n), n >= 1, by rejection sampling on the exact bit length (no modulo bias). */
export function randBelow(n: bigint, rng: Rng = systemRng): bigint {
  if (typeof n !== 'bigint' || n < 1n) throw new MpcError('ERR_MATH_RNG', 'randBelow needs a bigint bound >= 1');
  if (n === 1n) return 0n;
  const bits = bitLength(n - 1n);
  const bytes = new Uint8Array(Math.ceil(bits / 8));
  const topMask = 0xff >>> (bytes.length * 8 - bits);
  // Each draw succeeds with probability > 1/2; 512 failures in a row means the RNG is broken.
  for (let attempt = 0; attempt < 512; attempt++) {
    rng.fill(bytes);
    bytes[0] = (bytes[0] as number) & topMask;
    const x = fromBytesBE(bytes);
    if (x < n) {
      bytes.fill(0);
      return x;
    }
  }
  throw new MpcError('ERR_MATH_RNG', 'random source returned out-of-range values 512 times in a row');
}

/** Uniform integer with exactly `bits` bits (top bit set). */
export function randBits(bits: number, rng: Rng = systemRng): bigint {
  if (!Number.isInteger(bits) || bits < 1) throw new MpcError('ERR_MATH_RNG', 'randBits needs bits >= 1');
  const top = 1n << BigInt(bits - 1);
  return top | randBelow(top, rng);
}

/** Uniform integer in [-bound, bound) (the "±B" sampling of the CGGMP spec: [0, 2B) minus B). */
export function randSigned(bound: bigint, rng: Rng = systemRng): bigint {
  return randBelow(2n * bound, rng) - bound;
}
