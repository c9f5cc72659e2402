import { MpcError } from '../errors/index.js';
import { bitLength } from './bits.js';
import { MATH_LIMITS } from './raw.js';

/**
 * Argument checks of the math shell. Messages name the argument and the limit, never the value:
 * an exponent may be a secret.
 */

export function assertBigint(name: string, x: unknown): asserts x is bigint {
  if (typeof x !== 'bigint') throw new MpcError('ERR_MATH_TYPE', `${name} must be a bigint`, { details: { name } });
}

/** x is a bigint, 0 <= x, and at most `maxBits` bits. */
export function assertNonNegative(name: string, x: unknown, maxBits: number): asserts x is bigint {
  assertBigint(name, x);
  if (x < 0n) throw new MpcError('ERR_MATH_NEGATIVE', `${name} must not be negative`, { details: { name } });
  const bits = bitLength(x);
  if (bits > maxBits) {
    throw new MpcError('ERR_MATH_TOO_LARGE', `${name} has ${bits} bits, above the limit of ${maxBits}`, {
      details: { name, bits, maxBits },
    });
  }
}

/** An odd modulus >= 3 within the modulus bound: what Montgomery arithmetic and mpz_powm_sec need. */
export function assertOddModulus(name: string, m: unknown): asserts m is bigint {
  assertNonNegative(name, m, MATH_LIMITS.maxModulusBits);
  if (m < 3n) throw new MpcError('ERR_MATH_MODULUS_TOO_SMALL', `${name} must be at least 3`, { details: { name } });
  if ((m & 1n) === 0n) throw new MpcError('ERR_MATH_MODULUS_EVEN', `${name} must be odd`, { details: { name } });
}

/** Any modulus >= 2 within the modulus bound (mulMod, invMod: φ(N) is even). */
export function assertModulus(name: string, m: unknown): asserts m is bigint {
  assertNonNegative(name, m, MATH_LIMITS.maxModulusBits);
  if (m < 2n) throw new MpcError('ERR_MATH_MODULUS_TOO_SMALL', `${name} must be at least 2`, { details: { name } });
}

export function assertOperand(name: string, x: unknown): asserts x is bigint {
  assertNonNegative(name, x, MATH_LIMITS.maxOperandBits);
}

export function assertExponent(name: string, e: unknown): asserts e is bigint {
  assertNonNegative(name, e, MATH_LIMITS.maxExponentBits);
}

export function assertArray(name: string, xs: unknown, maxLength: number): asserts xs is readonly unknown[] {
  if (!Array.isArray(xs)) throw new MpcError('ERR_MATH_TYPE', `${name} must be an array`, { details: { name } });
  if (xs.length === 0) throw new MpcError('ERR_MATH_EMPTY', `${name} must not be empty`, { details: { name } });
  if (xs.length > maxLength) {
    throw new MpcError('ERR_MATH_TOO_LARGE', `${name} has ${xs.length} entries, above the limit of ${maxLength}`, {
      details: { name, length: xs.length, maxLength },
    });
  }
}

export function assertInteger(name: string, x: unknown, min: number, max: number): asserts x is number {
  if (typeof x !== 'number' || !Number.isInteger(x)) {
    throw new MpcError('ERR_MATH_TYPE', `${name} must be an integer`, { details: { name } });
  }
  if (x < min || x > max) {
    throw new MpcError('ERR_MATH_TOO_LARGE', `${name} must be in [${min}, ${max}]`, { details: { name, min, max } });
  }
}
