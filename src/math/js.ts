import type { PowmTask, RawMath } from './raw.js';

/**
 * The pure-BigInt core: the oracle the other backends are tested against, and the fallback when
 * neither native nor wasm loads.
 *
 * Honesty note (noble's "memory dumping" caveat applies): JavaScript BigInt arithmetic is not
 * constant time and its intermediate values cannot be wiped. `powmSec` here performs a uniform
 * operation sequence (a multiplication for every window, including zero windows, and a full table
 * scan), which removes the exponent-dependent *operation count*, but the engine's bignum routines
 * remain variable time. Production parties run the native backend (GMP mpz_powm_sec).
 */

/** Window size for public exponents: 4 bits below 512 exponent bits, 5 above. */
function windowBits(expBits: number): number {
  if (expBits <= 64) return 2;
  if (expBits <= 512) return 4;
  return 5;
}

function powmPublic(base: bigint, exp: bigint, m: bigint): bigint {
  if (exp === 0n) return 1n % m;
  const bin = exp.toString(2);
  const w = windowBits(bin.length);
  // Odd powers base^1, base^3, ..., base^(2^w - 1) for a left-to-right sliding window.
  const b2 = (base * base) % m;
  const odd: bigint[] = [base];
  for (let i = 1; i < 1 << (w - 1); i++) odd.push(((odd[i - 1] as bigint) * b2) % m);
  let r = 1n;
  let i = 0;
  const n = bin.length;
  while (i < n) {
    if (bin[i] === '0') {
      r = (r * r) % m;
      i++;
      continue;
    }
    // Longest window of at most w bits starting at i and ending in a 1.
    let j = Math.min(i + w, n);
    while (bin[j - 1] === '0') j--;
    const value = Number.parseInt(bin.slice(i, j), 2);
    for (let k = i; k < j; k++) r = (r * r) % m;
    r = (r * (odd[(value - 1) >> 1] as bigint)) % m;
    i = j;
  }
  return r;
}

/** Fixed 4-bit windows, always one table multiplication per window, table read by full scan. */
function powmUniform(base: bigint, exp: bigint, m: bigint): bigint {
  const table: bigint[] = [1n % m];
  for (let i = 1; i < 16; i++) table.push(((table[i - 1] as bigint) * base) % m);
  const hex = exp.toString(16);
  let r = 1n % m;
  for (let i = 0; i < hex.length; i++) {
    const d = Number.parseInt(hex[i] as string, 16);
    if (i > 0) {
      r = (r * r) % m;
      r = (r * r) % m;
      r = (r * r) % m;
      r = (r * r) % m;
    }
    let t = 0n;
    for (let k = 0; k < 16; k++) {
      // Select without branching on d: mask is 1n only for k === d.
      const mask = BigInt(Number(k === d));
      t += mask * (table[k] as bigint);
    }
    r = (r * t) % m;
  }
  return r;
}

/** Straus (simultaneous) exponentiation: one squaring chain shared by all bases, 4-bit fixed windows. */
function multiExpStraus(bases: readonly bigint[], exps: readonly bigint[], m: bigint, uniform: boolean): bigint {
  const tables = bases.map((b) => {
    const t: bigint[] = [1n % m];
    for (let i = 1; i < 16; i++) t.push(((t[i - 1] as bigint) * b) % m);
    return t;
  });
  const hexLen = Math.max(...exps.map((e) => e.toString(16).length));
  const hexes = exps.map((e) => e.toString(16).padStart(hexLen, '0'));
  let r = 1n % m;
  for (let i = 0; i < hexLen; i++) {
    if (i > 0) {
      r = (r * r) % m;
      r = (r * r) % m;
      r = (r * r) % m;
      r = (r * r) % m;
    }
    for (let j = 0; j < tables.length; j++) {
      const d = Number.parseInt((hexes[j] as string)[i] as string, 16);
      const table = tables[j] as bigint[];
      if (uniform) {
        let t = 0n;
        for (let k = 0; k < 16; k++) t += BigInt(Number(k === d)) * (table[k] as bigint);
        r = (r * t) % m;
      } else if (d !== 0) {
        r = (r * (table[d] as bigint)) % m;
      }
    }
  }
  return r;
}

function gcd(a: bigint, b: bigint): bigint {
  while (b !== 0n) {
    const t = a % b;
    a = b;
    b = t;
  }
  return a;
}

function invMod(a: bigint, m: bigint): bigint | null {
  // Extended Euclid on (a, m), tracking only the coefficient of a.
  let r0 = m;
  let r1 = a;
  let t0 = 0n;
  let t1 = 1n;
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [t0, t1] = [t1, t0 - q * t1];
  }
  if (r0 !== 1n) return null;
  return t0 < 0n ? t0 + m : t0;
}

function jacobi(a: bigint, n: bigint): -1 | 0 | 1 {
  // Binary Jacobi algorithm (Cohen, Alg. 1.4.10): n odd and positive.
  let result = 1;
  a %= n;
  while (a !== 0n) {
    while ((a & 1n) === 0n) {
      a >>= 1n;
      const r = n & 7n;
      if (r === 3n || r === 5n) result = -result;
    }
    [a, n] = [n, a];
    if ((a & 3n) === 3n && (n & 3n) === 3n) result = -result;
    a %= n;
  }
  return n === 1n ? (result as -1 | 1) : 0;
}

export function createJsMath(): RawMath {
  return Object.freeze({
    name: 'js' as const,
    powm: powmPublic,
    powmSec: powmUniform,
    multiExp: (bases: readonly bigint[], exps: readonly bigint[], m: bigint) => multiExpStraus(bases, exps, m, false),
    multiExpSec: (bases: readonly bigint[], exps: readonly bigint[], m: bigint) => multiExpStraus(bases, exps, m, true),
    powmBatch: (tasks: readonly PowmTask[]) =>
      tasks.map((t) => (t.secret ? powmUniform(t.base, t.exp, t.mod) : powmPublic(t.base, t.exp, t.mod))),
    mulMod: (a: bigint, b: bigint, m: bigint) => (a * b) % m,
    invMod,
    gcd,
    jacobi,
  });
}
