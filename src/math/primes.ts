import { MpcError } from '../errors/index.js';
import { assertPrimeBits, type MathBackend } from './backend.js';
import { bitLength } from './bits.js';
import { type Rng, randBelow, systemRng } from './random.js';
import { oddPrimesBelow, SIEVE_LIMIT } from './small-primes.js';

/**
 * Prime search for Paillier-Blum moduli.
 *
 * - `blum`: p ≡ 3 (mod 4), which Πmod needs (N = pq is a Blum integer).
 * - `safe`: p = 2p' + 1 with p' prime; safe primes are Blum primes too (p' odd ⇒ p ≡ 3 mod 4).
 *   The CGGMP spec generates Paillier keys from safe primes (cggmp21 `generate_paillier_key`).
 *
 * Every prime has its top two bits set, so the product of two `bits`-bit primes has exactly 2·bits
 * bits (a 3072-bit N from two 1536-bit primes, never 3071).
 *
 * Method: draw a random start, sieve a window of candidates in arithmetic progression against the
 * odd primes below 2^16 (for safe primes also rejecting q ≡ (r−1)/2 mod r, which would make
 * 2q+1 divisible by r), then run a Fermat base-2 test on the survivors and the full probable-prime
 * test (BPSW + Miller–Rabin on native, 64 random-base Miller–Rabin rounds elsewhere) on the winner.
 */
export type PrimeKind = 'blum' | 'safe';

export interface PrimeSearchOptions {
  readonly rng?: Rng;
  /** Called after each sieve window with the number of candidates tested so far. */
  readonly onProgress?: (tested: number) => void;
  /** Safety valve: give up after this many sieve windows (default: effectively unbounded for sane sizes). */
  readonly maxWindows?: number;
}

const WINDOW = 4096;

/** Generates a random prime of exactly `bits` bits of the requested kind. */
export function generatePrime(math: MathBackend, bits: number, kind: PrimeKind, opts: PrimeSearchOptions = {}): bigint {
  assertPrimeBits(bits);
  if (kind !== 'blum' && kind !== 'safe') throw new MpcError('ERR_MATH_TYPE', "kind must be 'blum' or 'safe'");
  const rng = opts.rng ?? systemRng;
  const sievePrimes = oddPrimesBelow(SIEVE_LIMIT);
  // The searched value: p itself (blum) or q = (p − 1)/2 (safe).
  const searchBits = kind === 'safe' ? bits - 1 : bits;
  const step = kind === 'safe' ? 2n : 4n;
  const maxWindows = opts.maxWindows ?? 100_000;
  let tested = 0;
  for (let w = 0; w < maxWindows; w++) {
    const start = randomStart(searchBits, kind, rng);
    const composite = sieveWindow(start, step, kind, sievePrimes);
    for (let k = 0; k < WINDOW; k++) {
      if (composite[k] === 1) continue;
      const c = start + step * BigInt(k);
      if (bitLength(c) !== searchBits) break; // ran past the top of the range
      tested++;
      const p = kind === 'safe' ? 2n * c + 1n : c;
      if (!passesFermat(math, c)) continue;
      if (kind === 'safe' && !passesFermat(math, p)) continue;
      if (!math.isProbablePrime(c, rng)) continue;
      if (kind === 'safe' && !math.isProbablePrime(p, rng)) continue;
      return p;
    }
    opts.onProgress?.(tested);
  }
  throw new MpcError('ERR_MATH_PRIME_SEARCH_EXHAUSTED', `no ${kind} prime of ${bits} bits found`);
}

/** Fermat base 2: cheap filter, never rejects a prime. */
function passesFermat(math: MathBackend, n: bigint): boolean {
  return math.powm(2n, n - 1n, n) === 1n;
}

/**
 * A random odd start with the top two bits set. For blum, start ≡ 3 (mod 4); for safe, the start
 * is q with q odd, and the top two bits of p = 2q + 1 follow from those of q.
 */
function randomStart(bits: number, kind: PrimeKind, rng: Rng): bigint {
  const top = 3n << BigInt(bits - 2);
  let x = top | randBelow(1n << BigInt(bits - 2), rng);
  if (kind === 'blum') x = (x & ~3n) | 3n;
  else x |= 1n;
  return x;
}

/** Marks candidates start + step·k (k < WINDOW) that a small prime rules out. */
function sieveWindow(start: bigint, step: bigint, kind: PrimeKind, primes: readonly number[]): Uint8Array {
  const composite = new Uint8Array(WINDOW);
  const stepN = Number(step);
  for (const r of primes) {
    const res = Number(start % BigInt(r));
    const stepInv = invSmall(stepN % r, r);
    // candidate ≡ 0 (mod r)  ⇔  k ≡ −res·step⁻¹ (mod r)
    mark(composite, (((((r - res) % r) * stepInv) % r) + r) % r, r);
    if (kind === 'safe') {
      // 2c + 1 ≡ 0 (mod r)  ⇔  c ≡ (r − 1)/2 (mod r)
      const target = (r - 1) / 2;
      mark(composite, (((((target - res) % r) + r) % r) * stepInv) % r, r);
    }
  }
  return composite;
}

function mark(composite: Uint8Array, first: number, r: number): void {
  for (let k = first; k < WINDOW; k += r) composite[k] = 1;
}

/** Inverse of a modulo a small odd prime r (a ≠ 0), by Fermat: a^(r−2) mod r, in doubles-safe steps. */
function invSmall(a: number, r: number): number {
  let result = 1;
  let base = a % r;
  let e = r - 2;
  while (e > 0) {
    if (e & 1) result = (result * base) % r;
    base = (base * base) % r;
    e >>= 1;
  }
  return result;
}

/** True when p is a probable prime of the kind: Blum (p ≡ 3 mod 4) or safe ((p − 1)/2 prime too). */
export function isPrimeOfKind(math: MathBackend, p: bigint, kind: PrimeKind, rng: Rng = systemRng): boolean {
  if (typeof p !== 'bigint' || p < 7n || (p & 3n) !== 3n) return false;
  if (!math.isProbablePrime(p, rng)) return false;
  return kind === 'blum' || math.isProbablePrime((p - 1n) >> 1n, rng);
}
