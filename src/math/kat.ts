import { sha256 } from '@noble/hashes/sha2.js';
import { MpcError } from '../errors/index.js';
import type { MathBackend } from './backend.js';
import { fromBytesBE } from './bits.js';
import { KAT_INV, KAT_MULTIEXP, KAT_POWM } from './kat-vectors.js';

/**
 * Deterministic input expansion shared with scripts/gen-kat.py:
 * SHA-256(label ‖ be32(counter)) blocks, truncated to `bits`, top bit forced.
 */
export function expand(label: string, bits: number): bigint {
  const blocks: Uint8Array[] = [];
  const labelBytes = new TextEncoder().encode(label);
  for (let counter = 0; blocks.length * 256 < bits; counter++) {
    const input = new Uint8Array(labelBytes.length + 4);
    input.set(labelBytes);
    new DataView(input.buffer).setUint32(labelBytes.length, counter);
    blocks.push(sha256(input));
  }
  const all = new Uint8Array(blocks.length * 32);
  for (const [i, b] of blocks.entries()) all.set(b, i * 32);
  const x = fromBytesBE(all) >> BigInt(all.length * 8 - bits);
  return x | (1n << BigInt(bits - 1));
}

/** Mersenne primes M521 and M607, and composites that fool weak tests. */
const M521 = (1n << 521n) - 1n;
const M607 = (1n << 607n) - 1n;
const CARMICHAEL = 41041n * 825265n; // product of two Carmichael numbers: composite, Fermat-liar rich
const STRONG_PSEUDOPRIME_BASE2 = 3215031751n; // spsp to bases 2, 3, 5, 7

/**
 * Known-answer self-test run before a backend is selected. Expected values were computed with
 * CPython's integers (scripts/gen-kat.py), independent of every backend under test.
 * @throws MpcError ERR_MATH_SELF_TEST_FAILED naming the failed check.
 */
export function runSelfTest(math: MathBackend): void {
  const fail = (what: string): never => {
    throw new MpcError('ERR_MATH_SELF_TEST_FAILED', `${math.name} backend failed known-answer test: ${what}`);
  };
  for (const v of KAT_POWM) {
    const m = expand(`kat.powm.m.${v.modBits}`, v.modBits) | 1n;
    const b = expand(`kat.powm.b.${v.modBits}`, v.modBits) % m;
    const e = expand(`kat.powm.e.${v.modBits}`, v.expBits);
    const want = BigInt(`0x${v.result}`);
    if (math.powm(b, e, m) !== want) fail(`powm ${v.modBits}/${v.expBits}`);
    if (math.powmSec(b, e, m) !== want) fail(`powmSec ${v.modBits}/${v.expBits}`);
    if (math.powmBatch([{ base: b, exp: e, mod: m, secret: true }])[0] !== want) fail(`powmBatch ${v.modBits}`);
  }
  for (const v of KAT_MULTIEXP) {
    const m = expand(`kat.multi.m.${v.modBits}`, v.modBits) | 1n;
    const bs = [0, 1, 2].map((i) => expand(`kat.multi.b${i}.${v.modBits}`, v.modBits) % m);
    const es = [0, 1, 2].map((i) => expand(`kat.multi.e${i}.${v.modBits}`, 1000 + 500 * i));
    const want = BigInt(`0x${v.result}`);
    if (math.multiExp(bs, es, m) !== want) fail(`multiExp ${v.modBits}`);
    if (math.multiExpSec(bs, es, m) !== want) fail(`multiExpSec ${v.modBits}`);
  }
  for (const v of KAT_INV) {
    const m = expand(`kat.inv.m.${v.bits}`, v.bits) | 1n;
    const a = expand(`kat.inv.a.${v.bits}`, v.bits) % m;
    if (math.gcd(a, m) !== BigInt(`0x${v.gcd}`)) fail(`gcd ${v.bits}`);
    if (math.jacobi(a, m) !== v.jacobi) fail(`jacobi ${v.bits}`);
    if (v.gcd === '1') {
      if (math.invMod(a, m) !== BigInt(`0x${v.inverse}`)) fail(`invMod ${v.bits}`);
      if (math.mulMod(a, BigInt(`0x${v.inverse}`), m) !== 1n) fail(`mulMod ${v.bits}`);
    }
  }
  if (!math.isProbablePrime(M521) || !math.isProbablePrime(M607)) fail('isProbablePrime rejected a Mersenne prime');
  if (math.isProbablePrime(M521 * M607)) fail('isProbablePrime accepted M521·M607');
  if (math.isProbablePrime(CARMICHAEL)) fail('isProbablePrime accepted a Carmichael product');
  if (math.isProbablePrime(STRONG_PSEUDOPRIME_BASE2)) fail('isProbablePrime accepted a strong pseudoprime');
}
