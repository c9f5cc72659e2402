import { MpcError } from '../errors/index.js';
import { bitLength, mod } from './bits.js';
import { type Rng, randBelow, systemRng } from './random.js';
import { type BackendName, MATH_LIMITS, type PowmTask, type RawMath } from './raw.js';
import { oddPrimesBelow, TRIAL_DIVISION_LIMIT } from './small-primes.js';
import {
  assertArray,
  assertExponent,
  assertInteger,
  assertModulus,
  assertNonNegative,
  assertOddModulus,
  assertOperand,
} from './validate.js';

/**
 * Miller–Rabin rounds with random bases for the generic probable-prime test. Each round lets a
 * composite through with probability at most 1/4 even when the composite is chosen by an adversary,
 * so 64 rounds bound the error by 2^-128.
 */
export const MILLER_RABIN_ROUNDS = 64;

/** A modulus (p·q)^power with its CRT data, computed once per key (see `crtModulus`). */
export interface CrtModulus {
  readonly modulus: bigint;
  readonly power: 1 | 2;
  /** p^power and q^power */
  readonly pe: bigint;
  readonly qe: bigint;
  /** φ(p^power) = p^(power-1)(p-1), and the same for q */
  readonly phiP: bigint;
  readonly phiQ: bigint;
  readonly p: bigint;
  readonly q: bigint;
  /** (p^power)^-1 mod q^power, for Garner recombination */
  readonly peInvModQe: bigint;
}

/** The validated math API every layer above uses. All arguments are checked; bad input throws MpcError. */
export interface MathBackend {
  readonly name: BackendName;
  /** base^exp mod m for a PUBLIC exponent (variable time). m odd >= 3. */
  powm(base: bigint, exp: bigint, m: bigint): bigint;
  /** base^exp mod m for a SECRET exponent (constant-time path: GMP mpz_powm_sec on native). */
  powmSec(base: bigint, exp: bigint, m: bigint): bigint;
  /** base^exp mod (p·q)^power using the factorization (secret: both halves use the constant-time path). */
  powmCrt(base: bigint, exp: bigint, crt: CrtModulus): bigint;
  /** Π bases[i]^exps[i] mod m, public exponents. */
  multiExp(bases: readonly bigint[], exps: readonly bigint[], m: bigint): bigint;
  /** Π bases[i]^exps[i] mod m, secret exponents. */
  multiExpSec(bases: readonly bigint[], exps: readonly bigint[], m: bigint): bigint;
  /** Independent exponentiations in one crossing. */
  powmBatch(tasks: readonly PowmTask[]): bigint[];
  mulMod(a: bigint, b: bigint, m: bigint): bigint;
  /** a^-1 mod m; throws ERR_MATH_NOT_INVERTIBLE when gcd(a, m) != 1. */
  invMod(a: bigint, m: bigint): bigint;
  gcd(a: bigint, b: bigint): bigint;
  /** Jacobi symbol (a/n), n odd >= 3. */
  jacobi(a: bigint, n: bigint): -1 | 0 | 1;
  /** Probable-prime test: never false for a prime; false for composites except with probability < 2^-128. */
  isProbablePrime(n: bigint, rng?: Rng): boolean;
  /** Uniform in [0, n). */
  randBelow(n: bigint, rng?: Rng): bigint;
  /** Uniform in Z*_n: in [1, n) and coprime to n. */
  randUnit(n: bigint, rng?: Rng): bigint;
  /** The arithmetic core under this shell (for benchmarks and tests). */
  readonly raw: RawMath;
}

/** Precomputes the CRT data of (p·q)^power. p and q must be distinct odd primes (only checked for shape). */
export function crtModulus(p: bigint, q: bigint, power: 1 | 2 = 1): CrtModulus {
  assertOddModulus('p', p);
  assertOddModulus('q', q);
  if (p === q) throw new MpcError('ERR_MATH_NOT_INVERTIBLE', 'p and q must be distinct');
  const pe = power === 2 ? p * p : p;
  const qe = power === 2 ? q * q : q;
  const inv = invModBig(pe % qe, qe);
  if (inv === null) throw new MpcError('ERR_MATH_NOT_INVERTIBLE', 'p and q must be coprime');
  return Object.freeze({
    modulus: pe * qe,
    power,
    pe,
    qe,
    phiP: power === 2 ? p * (p - 1n) : p - 1n,
    phiQ: power === 2 ? q * (q - 1n) : q - 1n,
    p,
    q,
    peInvModQe: inv,
  });
}

function invModBig(a: bigint, m: bigint): bigint | null {
  let [r0, r1, t0, t1] = [m, a, 0n, 1n];
  while (r1 !== 0n) {
    const k = r0 / r1;
    [r0, r1] = [r1, r0 - k * r1];
    [t0, t1] = [t1, t0 - k * t1];
  }
  return r0 === 1n ? mod(t0, m) : null;
}

/** Wraps an arithmetic core with argument validation and the algorithms shared by all cores. */
export function createBackend(raw: RawMath): MathBackend {
  const smallPrimes = oddPrimesBelow(TRIAL_DIVISION_LIMIT);

  function powmChecked(base: bigint, exp: bigint, m: bigint, secret: boolean): bigint {
    assertOperand('base', base);
    assertExponent('exponent', exp);
    assertOddModulus('modulus', m);
    if (exp === 0n) return 1n;
    const b = base < m ? base : base % m;
    return secret ? raw.powmSec(b, exp, m) : raw.powm(b, exp, m);
  }

  function multiExpChecked(bases: readonly bigint[], exps: readonly bigint[], m: bigint, secret: boolean): bigint {
    assertArray('bases', bases, MATH_LIMITS.maxMultiExpTerms);
    assertArray('exponents', exps, MATH_LIMITS.maxMultiExpTerms);
    if (bases.length !== exps.length) {
      throw new MpcError('ERR_MATH_LENGTH_MISMATCH', 'bases and exponents must have the same length');
    }
    assertOddModulus('modulus', m);
    const bs: bigint[] = [];
    const es: bigint[] = [];
    for (let i = 0; i < bases.length; i++) {
      const b = bases[i];
      const e = exps[i];
      assertOperand(`bases[${i}]`, b);
      assertExponent(`exponents[${i}]`, e);
      if (e === 0n) continue; // b^0 = 1 contributes nothing
      bs.push(b < m ? b : b % m);
      es.push(e);
    }
    if (bs.length === 0) return 1n;
    return secret ? raw.multiExpSec(bs, es, m) : raw.multiExp(bs, es, m);
  }

  function halfCrt(base: bigint, exp: bigint, prime: bigint, pe: bigint, phi: bigint): bigint {
    const b = base % pe;
    // Euler: b^exp = b^(exp mod φ) only for units; a base divisible by p keeps the full exponent.
    const e = b % prime === 0n ? exp : exp % phi;
    if (e === 0n) return 1n % pe;
    return raw.powmSec(b, e, pe);
  }

  function isProbablePrime(n: bigint, rng: Rng = systemRng): boolean {
    assertNonNegative('n', n, MATH_LIMITS.maxModulusBits);
    if (n < 2n) return false;
    if (n < 4n) return true;
    if ((n & 1n) === 0n) return false;
    for (const p of smallPrimes) {
      const bp = BigInt(p);
      if (n === bp) return true;
      if (n % bp === 0n) return false;
    }
    if (raw.isProbablePrime !== undefined) return raw.isProbablePrime(n, MILLER_RABIN_ROUNDS);
    return millerRabin(n, rng);
  }

  function millerRabin(n: bigint, rng: Rng): boolean {
    const nm1 = n - 1n;
    let d = nm1;
    let s = 0;
    while ((d & 1n) === 0n) {
      d >>= 1n;
      s++;
    }
    const witness = (a: bigint): boolean => {
      let x = raw.powm(a, d, n);
      if (x === 1n || x === nm1) return true;
      for (let i = 1; i < s; i++) {
        x = (x * x) % n;
        if (x === nm1) return true;
        if (x === 1n) return false;
      }
      return false;
    };
    if (!witness(2n)) return false;
    if (n < 5n) return true;
    for (let i = 0; i < MILLER_RABIN_ROUNDS; i++) {
      const a = 2n + randBelow(n - 3n, rng); // a in [2, n-2]
      if (!witness(a)) return false;
    }
    return true;
  }

  const backend: MathBackend = {
    name: raw.name,
    raw,
    powm: (base, exp, m) => powmChecked(base, exp, m, false),
    powmSec: (base, exp, m) => powmChecked(base, exp, m, true),
    powmCrt(base, exp, crt) {
      assertOperand('base', base);
      assertExponent('exponent', exp);
      if (crt === null || typeof crt !== 'object' || typeof crt.modulus !== 'bigint') {
        throw new MpcError('ERR_MATH_TYPE', 'crt must come from crtModulus()');
      }
      if (exp === 0n) return 1n;
      const r1 = halfCrt(base, exp, crt.p, crt.pe, crt.phiP);
      const r2 = halfCrt(base, exp, crt.q, crt.qe, crt.phiQ);
      // Garner: x = r1 + pe·((r2 − r1)·pe^-1 mod qe)
      const h = mod((r2 - r1) * crt.peInvModQe, crt.qe);
      return r1 + crt.pe * h;
    },
    multiExp: (bases, exps, m) => multiExpChecked(bases, exps, m, false),
    multiExpSec: (bases, exps, m) => multiExpChecked(bases, exps, m, true),
    powmBatch(tasks) {
      assertArray('tasks', tasks, MATH_LIMITS.maxBatchTasks);
      const out = new Array<bigint>(tasks.length);
      const pending: PowmTask[] = [];
      const where: number[] = [];
      for (let i = 0; i < tasks.length; i++) {
        const t = tasks[i] as PowmTask;
        if (t === null || typeof t !== 'object') throw new MpcError('ERR_MATH_TYPE', `tasks[${i}] must be an object`);
        assertOperand(`tasks[${i}].base`, t.base);
        assertExponent(`tasks[${i}].exp`, t.exp);
        assertOddModulus(`tasks[${i}].mod`, t.mod);
        if (t.exp === 0n) {
          out[i] = 1n;
          continue;
        }
        pending.push({
          base: t.base < t.mod ? t.base : t.base % t.mod,
          exp: t.exp,
          mod: t.mod,
          secret: t.secret === true,
        });
        where.push(i);
      }
      if (pending.length > 0) {
        const results = raw.powmBatch(pending);
        for (let k = 0; k < where.length; k++) out[where[k] as number] = results[k] as bigint;
      }
      return out;
    },
    mulMod(a, b, m) {
      assertOperand('a', a);
      assertOperand('b', b);
      assertModulus('modulus', m);
      return raw.mulMod(a < m ? a : a % m, b < m ? b : b % m, m);
    },
    invMod(a, m) {
      assertOperand('a', a);
      assertModulus('modulus', m);
      const r = raw.invMod(a < m ? a : a % m, m);
      if (r === null) throw new MpcError('ERR_MATH_NOT_INVERTIBLE', 'value is not invertible modulo the modulus');
      return r;
    },
    gcd(a, b) {
      assertOperand('a', a);
      assertOperand('b', b);
      if (a === 0n) return b;
      if (b === 0n) return a;
      return raw.gcd(a, b);
    },
    jacobi(a, n) {
      assertOperand('a', a);
      assertOddModulus('n', n);
      return raw.jacobi(a < n ? a : a % n, n);
    },
    isProbablePrime,
    randBelow(n, rng = systemRng) {
      assertNonNegative('n', n, MATH_LIMITS.maxOperandBits);
      if (n < 1n) throw new MpcError('ERR_MATH_MODULUS_TOO_SMALL', 'n must be at least 1');
      return randBelow(n, rng);
    },
    randUnit(n, rng = systemRng) {
      assertModulus('n', n);
      for (let i = 0; i < 1024; i++) {
        const x = randBelow(n, rng);
        if (x !== 0n && (x === 1n || raw.gcd(n, x) === 1n)) return x;
      }
      // Only reachable when n has a tiny factor set covering most of Z_n (e.g. n = 2): refuse, don't loop.
      throw new MpcError('ERR_MATH_RNG', 'no unit found modulo n after 1024 draws');
    },
  };
  return Object.freeze(backend);
}

/** bitLength re-exported for callers of the math layer. */
export { bitLength };
/** Validation helper for prime-size arguments shared with primes.ts. */
export function assertPrimeBits(bits: unknown): asserts bits is number {
  assertInteger('bits', bits, MATH_LIMITS.minPrimeBits, MATH_LIMITS.maxPrimeBits);
}
