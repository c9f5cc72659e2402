import { describe, expect, it } from 'vitest';
import { MpcError } from '../../src/errors/index.js';
import { crtModulus } from '../../src/math/backend.js';
import { MATH_LIMITS } from '../../src/math/raw.js';
import { ALL_BACKENDS, backend } from '../helpers/backends.js';
import { TestDrbg } from '../helpers/drbg.js';

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(MpcError);
    expect((e as Error).message).not.toMatch(/[0-9a-f]{24,}/); // no big values (possible secrets) in messages
    return (e as MpcError).code;
  }
  return 'no error';
}

const M = (1n << 127n) - 1n; // a Mersenne prime: odd, and every nonzero value is a unit
const TOO_BIG = 1n << BigInt(MATH_LIMITS.maxModulusBits); // 8193 bits

describe.each(ALL_BACKENDS)('%s backend edge cases', (name) => {
  const m = backend(name);

  it('answers the boundary values of exponentiation', () => {
    for (const pow of [m.powm, m.powmSec]) {
      expect(pow(0n, 5n, M)).toBe(0n);
      expect(pow(0n, 0n, M)).toBe(1n); // 0^0 = 1 by the convention of GMP and of CPython's pow
      expect(pow(1n, 12345n, M)).toBe(1n);
      expect(pow(7n, 0n, M)).toBe(1n);
      expect(pow(7n, 1n, M)).toBe(7n);
      expect(pow(M - 1n, 2n, M)).toBe(1n);
      expect(pow(M - 1n, 3n, M)).toBe(M - 1n);
      expect(pow(2n, 10n, 3n)).toBe(1n); // smallest odd modulus
      expect(pow(M + 5n, 1n, M)).toBe(5n); // base reduced first
      expect(pow(3n, M - 1n, M)).toBe(1n); // Fermat
    }
    expect(m.multiExp([2n, 3n], [0n, 0n], M)).toBe(1n);
    expect(m.multiExpSec([2n, 3n], [5n, 0n], M)).toBe(32n);
    expect(m.powmBatch([{ base: 5n, exp: 0n, mod: M, secret: true }])).toEqual([1n]);
  });

  it('rejects even, zero, one and oversize moduli with typed errors', () => {
    expect(code(() => m.powm(2n, 3n, 10n))).toBe('ERR_MATH_MODULUS_EVEN');
    expect(code(() => m.powmSec(2n, 3n, 1n << 64n))).toBe('ERR_MATH_MODULUS_EVEN');
    expect(code(() => m.powm(2n, 3n, 0n))).toBe('ERR_MATH_MODULUS_TOO_SMALL');
    expect(code(() => m.powm(2n, 3n, 1n))).toBe('ERR_MATH_MODULUS_TOO_SMALL');
    expect(code(() => m.multiExp([2n], [3n], 4n))).toBe('ERR_MATH_MODULUS_EVEN');
    expect(code(() => m.mulMod(2n, 3n, 1n))).toBe('ERR_MATH_MODULUS_TOO_SMALL');
    expect(code(() => m.jacobi(2n, 8n))).toBe('ERR_MATH_MODULUS_EVEN');
    expect(code(() => m.powm(2n, 3n, TOO_BIG + 1n))).toBe('ERR_MATH_TOO_LARGE');
    expect(code(() => m.powm(2n, 1n << BigInt(MATH_LIMITS.maxExponentBits), M))).toBe('ERR_MATH_TOO_LARGE');
    expect(code(() => m.powm(1n << BigInt(MATH_LIMITS.maxOperandBits), 3n, M))).toBe('ERR_MATH_TOO_LARGE');
  });

  it('rejects negative values and wrong types everywhere', () => {
    const bad: unknown[] = [-1n, 1, '5', null, undefined, {}, [], 1.5, Symbol('x'), () => 1n];
    const ops: Array<[string, (x: never) => unknown]> = [
      ['powm base', (x) => m.powm(x, 3n, M)],
      ['powm exp', (x) => m.powm(3n, x, M)],
      ['powm mod', (x) => m.powm(3n, 3n, x)],
      ['powmSec exp', (x) => m.powmSec(3n, x, M)],
      ['mulMod a', (x) => m.mulMod(x, 3n, M)],
      ['invMod a', (x) => m.invMod(x, M)],
      ['gcd b', (x) => m.gcd(3n, x)],
      ['jacobi a', (x) => m.jacobi(x, M)],
      ['isProbablePrime', (x) => m.isProbablePrime(x)],
      ['randBelow', (x) => m.randBelow(x)],
      ['multiExp exps', (x) => m.multiExp([2n], [x], M)],
      ['batch exp', (x) => m.powmBatch([{ base: 2n, exp: x, mod: M, secret: false }])],
    ];
    for (const [label, op] of ops) {
      for (const v of bad) {
        const c = code(() => op(v as never));
        expect([`${label}:ERR_MATH_TYPE`, `${label}:ERR_MATH_NEGATIVE`]).toContain(`${label}:${c}`);
      }
    }
    expect(code(() => m.powm(-5n, 3n, M))).toBe('ERR_MATH_NEGATIVE');
    expect(code(() => m.powmSec(5n, -3n, M))).toBe('ERR_MATH_NEGATIVE');
  });

  it('rejects malformed multi-exponentiation and batch shapes', () => {
    expect(code(() => m.multiExp([2n, 3n], [1n], M))).toBe('ERR_MATH_LENGTH_MISMATCH');
    expect(code(() => m.multiExp([], [], M))).toBe('ERR_MATH_EMPTY');
    expect(code(() => m.multiExp('x' as never, [1n], M))).toBe('ERR_MATH_TYPE');
    const many = Array.from({ length: MATH_LIMITS.maxMultiExpTerms + 1 }, () => 2n);
    expect(code(() => m.multiExp(many, many, M))).toBe('ERR_MATH_TOO_LARGE');
    expect(code(() => m.powmBatch([]))).toBe('ERR_MATH_EMPTY');
    expect(code(() => m.powmBatch([null as never]))).toBe('ERR_MATH_TYPE');
    const tasks = Array.from({ length: MATH_LIMITS.maxBatchTasks + 1 }, () => ({
      base: 2n,
      exp: 2n,
      mod: M,
      secret: false,
    }));
    expect(code(() => m.powmBatch(tasks))).toBe('ERR_MATH_TOO_LARGE');
    expect(code(() => m.powmBatch([{ base: 2n, exp: 2n, mod: 8n, secret: false }]))).toBe('ERR_MATH_MODULUS_EVEN');
  });

  it('refuses to invert a non-unit, and inverts units for odd and even moduli', () => {
    expect(code(() => m.invMod(6n, 9n))).toBe('ERR_MATH_NOT_INVERTIBLE');
    expect(code(() => m.invMod(0n, M))).toBe('ERR_MATH_NOT_INVERTIBLE');
    expect(code(() => m.invMod(4n, 1n << 100n))).toBe('ERR_MATH_NOT_INVERTIBLE');
    expect((m.invMod(3n, 1n << 100n) * 3n) % (1n << 100n)).toBe(1n);
    expect(m.invMod(M - 1n, M)).toBe(M - 1n);
    expect(m.invMod(1n, 2n)).toBe(1n);
  });

  it('computes gcd and jacobi on the small cases', () => {
    expect(m.gcd(0n, 0n)).toBe(0n);
    expect(m.gcd(0n, 12n)).toBe(12n);
    expect(m.gcd(12n, 18n)).toBe(6n);
    expect(m.jacobi(0n, 3n)).toBe(0);
    expect(m.jacobi(1n, 3n)).toBe(1);
    expect(m.jacobi(2n, 3n)).toBe(-1);
    expect(m.jacobi(2n, 15n)).toBe(1); // (2/3)(2/5) = (−1)(−1)
    expect(m.jacobi(3n, 9n)).toBe(0);
    expect(m.jacobi(M - 1n, M)).toBe(-1); // M ≡ 3 (mod 4)
  });

  it('draws random values in range and units coprime to the modulus', () => {
    const rng = new TestDrbg(`rand-${name}`);
    const n = 3n * 5n * 7n * 11n;
    for (let i = 0; i < 2000; i++) {
      const x = m.randBelow(n, rng);
      expect(x >= 0n && x < n).toBe(true);
      const u = m.randUnit(n, rng);
      expect(u > 0n && u < n && m.gcd(u, n) === 1n).toBe(true);
    }
    expect(m.randBelow(1n, rng)).toBe(0n);
    expect(code(() => m.randBelow(0n, rng))).toBe('ERR_MATH_MODULUS_TOO_SMALL');
  });
});

describe('powmCrt', () => {
  // Two 127/89-bit Mersenne primes stand in for p and q here; the fixture-based test uses real 1536-bit ones.
  const p = (1n << 127n) - 1n;
  const q = (1n << 89n) - 1n;
  it.each(ALL_BACKENDS)(
    '%s: equals direct exponentiation mod pq and mod (pq)^2, including bases divisible by p',
    (name) => {
      const m = backend(name);
      const rng = new TestDrbg(`crt-${name}`);
      for (const power of [1, 2] as const) {
        const crt = crtModulus(p, q, power);
        for (let i = 0; i < 300; i++) {
          let base = rng.bits(2 * 216) % crt.modulus;
          if (i % 50 === 0) base = (p * rng.bits(40)) % crt.modulus;
          if (i % 77 === 0) base = 0n;
          const exp = i % 60 === 0 ? 0n : rng.bits(1 + rng.int(500));
          expect(m.powmCrt(base, exp, crt)).toBe(m.powm(base, exp, crt.modulus));
        }
      }
    },
  );
  it('rejects equal or even factors', () => {
    expect(code(() => crtModulus(p, p))).toBe('ERR_MATH_NOT_INVERTIBLE');
    expect(code(() => crtModulus(p, 4n))).toBe('ERR_MATH_MODULUS_EVEN');
  });
});
