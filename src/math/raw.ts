/**
 * The contract every arithmetic core (native GMP, wasm32, BigInt) implements.
 *
 * A raw core does arithmetic only. It is called by the validating shell in `backend.ts`, which
 * guarantees the preconditions below, so a core never re-checks them (sodium-native / node-argon2
 * style: the native layer is thin, the TypeScript shell validates).
 *
 * Preconditions the shell guarantees on every call:
 * - every value is a `bigint` with 0 <= value, and bit length within `MATH_LIMITS`;
 * - `base < mod` (bases are reduced by the shell);
 * - for `powm`, `powmSec`, `multiExp*`: `mod` is odd and >= 3;
 * - for `powmSec`, `multiExpSec`: every exponent is >= 1 (exponent 0 is answered by the shell);
 * - for `mulMod`: `mod >= 2`, `a < mod`, `b < mod`;
 * - for `invMod`: `mod >= 2`, `a < mod`;
 * - for `jacobi`: `n` odd and >= 3, `a < n`;
 * - for `isProbablePrime`: `n >= 2`; `reps` in [1, 256]; `bases` (if given) are random witnesses in [2, n-2].
 * - `bases.length === exps.length >= 1` for multi-exponentiation.
 */
export interface RawMath {
  readonly name: BackendName;
  /** base^exp mod mod, variable time: only for public exponents. */
  powm(base: bigint, exp: bigint, mod: bigint): bigint;
  /** base^exp mod mod, constant time in the exponent (GMP mpz_powm_sec semantics). */
  powmSec(base: bigint, exp: bigint, mod: bigint): bigint;
  /** Π bases[i]^exps[i] mod mod, variable time (public exponents). */
  multiExp(bases: readonly bigint[], exps: readonly bigint[], mod: bigint): bigint;
  /** Π bases[i]^exps[i] mod mod, constant time in the exponents. */
  multiExpSec(bases: readonly bigint[], exps: readonly bigint[], mod: bigint): bigint;
  /** Many independent exponentiations in one call (one crossing into native/wasm code). */
  powmBatch(tasks: readonly PowmTask[]): bigint[];
  mulMod(a: bigint, b: bigint, mod: bigint): bigint;
  /** a^-1 mod mod, or `null` when gcd(a, mod) != 1. */
  invMod(a: bigint, mod: bigint): bigint | null;
  gcd(a: bigint, b: bigint): bigint;
  /** Jacobi symbol (a/n). */
  jacobi(a: bigint, n: bigint): -1 | 0 | 1;
  /**
   * Probable-prime test. A core may use its own strong test (GMP: trial division + BPSW + MR);
   * the shell's generic test is Miller–Rabin with the given random `bases` (already drawn from a CSPRNG).
   * Returns true for primes always; false for composites except with negligible probability.
   */
  isProbablePrime?(n: bigint, reps: number): boolean;
  /**
   * Operations this core does not implement itself but runs with the BigInt core's code (the wasm
   * core keeps gcd, inverse, Jacobi and mulMod in BigInt, where they are as fast). The agreement
   * suite does not re-test these against the BigInt core: it would compare a function with itself.
   */
  readonly sharedWithJs?: readonly SharedOp[];
  /** Releases module memory (wasm) or native handles. Idempotent. */
  dispose?(): void;
}

export type BackendName = 'native' | 'wasm' | 'js';

export type SharedOp = 'mulMod' | 'invMod' | 'gcd' | 'jacobi';

export interface PowmTask {
  readonly base: bigint;
  readonly exp: bigint;
  readonly mod: bigint;
  /** true: constant-time path (secret exponent). The shell guarantees exp >= 1 when true. */
  readonly secret: boolean;
}

/**
 * Documented bounds. Anything larger is refused with ERR_MATH_TOO_LARGE before any arithmetic,
 * so no input can make a backend allocate or loop without limit (the DoS guard).
 * 8192 bits leaves room above the largest modulus the protocol uses (N^2 for a 3072-bit N = 6144 bits)
 * and above the largest exponent (ring-Pedersen y up to ℓ + ε + 8κ ≈ 3558 bits; φ(N^2) ≈ 6144 bits).
 */
export const MATH_LIMITS = {
  maxModulusBits: 8192,
  maxExponentBits: 8192,
  /** Inputs to be reduced (bases, mulMod operands) may be at most this large. */
  maxOperandBits: 16384,
  maxMultiExpTerms: 64,
  maxBatchTasks: 4096,
  minPrimeBits: 16,
  maxPrimeBits: 4096,
} as const;
