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

/** Fixed-window width for `bits`-bit exponents: small tables for short exponents, 4 bits otherwise. */
function fixedWindow(bits: number): number {
  if (bits <= 8) return 1;
  if (bits <= 64) return 2;
  if (bits <= 256) return 3;
  return 4;
}

/** Digits of `e` in base 2^w, most significant first, padded to `count` digits. */
function digits(e: bigint, w: number, count: number): number[] {
  const bin = e.toString(2).padStart(count * w, '0');
  const out = new Array<number>(count);
  for (let i = 0; i < count; i++) out[i] = Number.parseInt(bin.slice(i * w, i * w + w), 2);
  return out;
}

/**
 * Fixed windows with a multiplication for every window, zero digits included (the multiplication
 * count does not depend on the exponent's digits). See the honesty note above: BigInt itself is
 * not constant time.
 */
function powmUniform(base: bigint, exp: bigint, m: bigint): bigint {
  return multiExpStraus([base], [exp], m, true);
}

/** Straus (simultaneous) exponentiation: one squaring chain shared by all bases, fixed windows. */
function multiExpStraus(bases: readonly bigint[], exps: readonly bigint[], m: bigint, uniform: boolean): bigint {
  let maxBits = 1;
  for (const e of exps) maxBits = Math.max(maxBits, e.toString(2).length);
  const w = fixedWindow(maxBits);
  const count = Math.ceil(maxBits / w);
  const size = 1 << w;
  const tables = bases.map((b) => {
    const t: bigint[] = [1n % m];
    for (let i = 1; i < size; i++) t.push(((t[i - 1] as bigint) * b) % m);
    return t;
  });
  const ds = exps.map((e) => digits(e, w, count));
  let r = 1n % m;
  for (let i = 0; i < count; i++) {
    if (i > 0) for (let k = 0; k < w; k++) r = (r * r) % m;
    for (let j = 0; j < tables.length; j++) {
      const d = (ds[j] as number[])[i] as number;
      if (uniform || d !== 0) r = (r * ((tables[j] as bigint[])[d] as bigint)) % m;
    }
  }
  return r;
}

/**
 * One Lehmer step (Knuth TAOCP vol. 2, §4.5.2, Algorithm L): simulates Euclid on the leading 48
 * bits of a ≥ b using doubles (exact below 2^53) and returns the cofactor matrix [A, B, C, D] such
 * that (A·a + B·b, C·a + D·b) equals the pair several Euclid steps later, or null when not even one
 * step can be simulated (then the caller does one full-precision step).
 */
function lehmerMatrix(a: bigint, b: bigint): [number, number, number, number] | null {
  const shift = BigInt(Math.max(0, a.toString(2).length - 48));
  let x = Number(a >> shift);
  let y = Number(b >> shift);
  let A = 1;
  let B = 0;
  let C = 0;
  let D = 1;
  for (;;) {
    if (y + C === 0 || y + D === 0) break;
    const q = floorDiv(x + A, y + C);
    if (q !== floorDiv(x + B, y + D)) break;
    [A, C] = [C, A - q * C];
    [B, D] = [D, B - q * D];
    [x, y] = [y, x - q * y];
  }
  return B === 0 ? null : [A, B, C, D];
}

/** ⌊n/d⌋ exactly for |n|, |d| < 2^50 (the double quotient may round across an integer; fix it). */
function floorDiv(n: number, d: number): number {
  let q = Math.floor(n / d);
  const r = n - q * d;
  if (d > 0) {
    if (r < 0) q--;
    else if (r >= d) q++;
  } else if (r > 0) q--;
  else if (r <= d) q++;
  return q;
}

/** Extended Euclid (Lehmer-accelerated) tracking only the cofactor of `a`: [gcd, s] with s·a ≡ gcd (mod m). */
function gcdExt(m: bigint, a: bigint, wantCofactor: boolean): [bigint, bigint] {
  let r0 = m;
  let r1 = a;
  let s0 = 0n;
  let s1 = 1n;
  // Lehmer steps while the numbers are big; plain Euclid below 2^64.
  while (r1 >> 64n !== 0n) {
    const mat = lehmerMatrix(r0, r1);
    if (mat === null) {
      const q = r0 / r1;
      [r0, r1] = [r1, r0 - q * r1];
      if (wantCofactor) [s0, s1] = [s1, s0 - q * s1];
      continue;
    }
    const [A, B, C, D] = mat.map(BigInt) as [bigint, bigint, bigint, bigint];
    [r0, r1] = [A * r0 + B * r1, C * r0 + D * r1];
    if (wantCofactor) [s0, s1] = [A * s0 + B * s1, C * s0 + D * s1];
  }
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    if (wantCofactor) [s0, s1] = [s1, s0 - q * s1];
  }
  return [r0, s0];
}

function gcd(a: bigint, b: bigint): bigint {
  if (a < b) [a, b] = [b, a];
  if (b === 0n) return a;
  return gcdExt(a, b, false)[0];
}

function invMod(a: bigint, m: bigint): bigint | null {
  if (a === 0n) return m === 1n ? 0n : null;
  const [g, s] = gcdExt(m, a, true);
  if (g !== 1n) return null;
  const r = s % m;
  return r < 0n ? r + m : r;
}

/**
 * Jacobi symbol (a/n), n odd positive: Euclid-style reduction with quadratic reciprocity
 * (Cohen, Alg. 1.4.10), removing all factors of 2 of a in one shift per round.
 */
function jacobi(a: bigint, n: bigint): -1 | 0 | 1 {
  let result = 1;
  a %= n;
  while (a !== 0n) {
    // Remove all factors of 2 at once: whole zero words first, then the low word's trailing zeros.
    let tz = 0;
    let low = Number(a & 0xffffffffn);
    while (low === 0) {
      a >>= 32n;
      tz += 32;
      low = Number(a & 0xffffffffn);
    }
    const t = 31 - Math.clz32(low & -low);
    if (t > 0) a >>= BigInt(t);
    tz += t;
    const r = Number(n & 7n);
    if ((tz & 1) === 1 && (r === 3 || r === 5)) result = -result;
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
