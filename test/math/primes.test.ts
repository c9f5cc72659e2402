import { describe, expect, it } from 'vitest';
import { FIXTURE_PLAN } from '../../src/cli/fixture-primes.js';
import { crtModulus } from '../../src/math/backend.js';
import { bitLength } from '../../src/math/bits.js';
import { generatePrime, isPrimeOfKind } from '../../src/math/primes.js';
import { ALL_BACKENDS, backend } from '../helpers/backends.js';
import { TestDrbg } from '../helpers/drbg.js';
import { testPrimes } from '../helpers/primes.js';

describe.each(ALL_BACKENDS)('%s prime generation', (name) => {
  const m = backend(name);

  it.each([
    ['blum', 256],
    ['safe', 256],
    ['blum', 512],
  ] as const)('makes %s primes of exactly %i bits whose products have exactly twice the bits', (kind, bits) => {
    const rng = new TestDrbg(`gen-${name}-${kind}-${bits}`);
    const p = generatePrime(m, bits, kind, { rng });
    const q = generatePrime(m, bits, kind, { rng });
    expect(p).not.toBe(q);
    for (const x of [p, q]) {
      expect(bitLength(x)).toBe(bits);
      expect(x % 4n).toBe(3n);
      expect(backend('js').isProbablePrime(x)).toBe(true);
      if (kind === 'safe') expect(backend('js').isProbablePrime((x - 1n) / 2n)).toBe(true);
    }
    expect(bitLength(p * q)).toBe(2 * bits);
  });

  it('rejects prime sizes outside the documented bounds and unknown kinds', () => {
    expect(() => generatePrime(m, 8, 'blum')).toThrow(/ERR_MATH_TOO_LARGE/);
    expect(() => generatePrime(m, 5000, 'safe')).toThrow(/ERR_MATH_TOO_LARGE/);
    expect(() => generatePrime(m, 256.5, 'safe')).toThrow(/ERR_MATH_TYPE/);
    expect(() => generatePrime(m, 256, 'rsa' as never)).toThrow(/ERR_MATH_TYPE/);
  });

  it('tells primes of each kind apart', () => {
    const safe = 1019n; // 509 is prime
    const blumNotSafe = 1031n; // 1031 ≡ 3 mod 4, 515 = 5·103
    expect(isPrimeOfKind(m, safe, 'safe')).toBe(true);
    expect(isPrimeOfKind(m, blumNotSafe, 'blum')).toBe(true);
    expect(isPrimeOfKind(m, blumNotSafe, 'safe')).toBe(false);
    expect(isPrimeOfKind(m, 1033n, 'blum')).toBe(false); // ≡ 1 mod 4
    expect(isPrimeOfKind(m, 1019n * 1031n, 'blum')).toBe(false);
  });
});

describe('committed test-prime fixture', () => {
  it('holds every planned set, each prime of its kind and size, with no prime twice', async () => {
    const native = backend('native');
    const seen = new Set<bigint>();
    for (const { kind, bits, count } of FIXTURE_PLAN) {
      const primes = await testPrimes(kind, bits);
      expect(primes).toHaveLength(count);
      for (const p of primes) {
        expect(bitLength(p)).toBe(bits);
        expect(isPrimeOfKind(native, p, kind)).toBe(true);
        expect(seen.has(p)).toBe(false);
        seen.add(p);
      }
    }
  });

  it('gives 3072-bit Paillier moduli and CRT exponentiation that matches the direct one on every backend', async () => {
    const [p, q] = await testPrimes('safe', 1536);
    const crt2 = crtModulus(p as bigint, q as bigint, 2);
    expect(bitLength(crt2.pe * 1n) > 0 && bitLength((p as bigint) * (q as bigint))).toBe(3072);
    const rng = new TestDrbg('fixture-crt');
    const base = rng.bits(6000) % crt2.modulus;
    const exp = rng.bits(3072);
    const want = backend('native').powm(base, exp, crt2.modulus);
    for (const name of ALL_BACKENDS) expect(backend(name).powmCrt(base, exp, crt2)).toBe(want);
  });
});
