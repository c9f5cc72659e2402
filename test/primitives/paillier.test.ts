import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { MpcError } from '../../src/errors/index.js';
import {
  add,
  assertCiphertext,
  decrypt,
  encrypt,
  encryptCrt,
  type PaillierSecretKey,
  paillierPublicKey,
  paillierSecretKey,
  recoverNonce,
  scalarMul,
} from '../../src/primitives/paillier.js';
import { commit, generateRingPedersen, ringPedersenParams } from '../../src/primitives/ring-pedersen.js';
import { SECURITY } from '../../src/zk/params.js';
import { TestDrbg } from '../helpers/drbg.js';
import { math, partyKeys } from '../helpers/keys.js';
import { testPrimes } from '../helpers/primes.js';

const codeOf = (fn: () => unknown): string => {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(MpcError);
    return (e as MpcError).code;
  }
  return 'no error';
};

describe('Paillier (3072-bit N from fixture safe primes)', () => {
  let sk: PaillierSecretKey;
  const rng = new TestDrbg('paillier');
  const half = (n: bigint) => (n - 1n) / 2n;
  beforeAll(async () => {
    sk = (await partyKeys(0)).sk;
  });

  it('decrypts what it encrypts, for negative plaintexts too, with and without CRT (property)', () => {
    const bound = half(sk.pub.n);
    fc.assert(
      fc.property(fc.bigInt({ min: -bound, max: bound }), (m) => {
        const rho = math.randUnit(sk.pub.n, rng);
        const c = encrypt(math, sk.pub, m, rho);
        expect(encryptCrt(math, sk, m, rho)).toBe(c);
        expect(decrypt(math, sk, c)).toBe(m);
        expect(recoverNonce(math, sk, c)).toBe(rho);
      }),
      { numRuns: 12 },
    );
  });

  it('adds and scales plaintexts homomorphically (property)', () => {
    const small = 1n << 800n;
    fc.assert(
      fc.property(
        fc.bigInt({ min: -small, max: small }),
        fc.bigInt({ min: -small, max: small }),
        fc.bigInt({ min: -small, max: small }),
        (a, b, k) => {
          const ca = encrypt(math, sk.pub, a, math.randUnit(sk.pub.n, rng));
          const cb = encrypt(math, sk.pub, b, math.randUnit(sk.pub.n, rng));
          expect(decrypt(math, sk, add(math, sk.pub, ca, cb))).toBe(a + b);
          expect(decrypt(math, sk, scalarMul(math, sk.pub, k, ca))).toBe(k * a);
        },
      ),
      { numRuns: 8 },
    );
  });

  it('rejects ciphertexts outside Z*_{N²} (A15)', () => {
    const { n, n2 } = sk.pub;
    for (const c of [0n, n2, n2 + 1n, n, sk.p * 12345n, -1n]) {
      expect(codeOf(() => assertCiphertext(math, sk.pub, c))).toBe('ERR_PAILLIER_CIPHERTEXT_INVALID');
      expect(codeOf(() => decrypt(math, sk, c))).toBe('ERR_PAILLIER_CIPHERTEXT_INVALID');
    }
  });

  it('rejects plaintexts outside ±(N−1)/2', () => {
    const rho = math.randUnit(sk.pub.n, rng);
    expect(codeOf(() => encrypt(math, sk.pub, half(sk.pub.n) + 1n, rho))).toBe('ERR_PAILLIER_PLAINTEXT_RANGE');
    expect(codeOf(() => encrypt(math, sk.pub, -half(sk.pub.n) - 1n, rho))).toBe('ERR_PAILLIER_PLAINTEXT_RANGE');
  });

  it('refuses moduli below the size floor before any use (A3), even ones, and bad primes', async () => {
    const [p512, q512] = await testPrimes('safe', 512);
    const [p1024, q1024] = await testPrimes('safe', 1024);
    expect(codeOf(() => paillierPublicKey((p512 as bigint) * (q512 as bigint), SECURITY.minModulusBits))).toBe(
      'ERR_PAILLIER_KEY_TOO_SMALL',
    );
    expect(codeOf(() => paillierPublicKey((p1024 as bigint) * (q1024 as bigint), SECURITY.minModulusBits))).toBe(
      'ERR_PAILLIER_KEY_TOO_SMALL',
    );
    expect(codeOf(() => paillierPublicKey(sk.pub.n + 1n, SECURITY.minModulusBits))).toBe('ERR_PAILLIER_KEY_INVALID');
    expect(codeOf(() => paillierSecretKey(math, sk.p, sk.p, SECURITY.minModulusBits))).toBe('ERR_PAILLIER_KEY_INVALID');
    expect(codeOf(() => paillierSecretKey(math, sk.p + 2n, sk.q, SECURITY.minModulusBits))).toBe(
      'ERR_PAILLIER_KEY_INVALID',
    );
  });
});

describe('ring-Pedersen parameters', () => {
  it('generates valid parameters whose commitments are homomorphic', async () => {
    const { sk } = await partyKeys(1);
    const rp = generateRingPedersen(math, sk, new TestDrbg('rp'));
    const v = ringPedersenParams(math, rp.params.n, rp.params.s, rp.params.t, SECURITY.minModulusBits);
    expect(math.powmCrt(v.t, rp.lambda, sk.crtN)).toBe(v.s); // s = t^λ
    const c1 = commit(math, v, 5n, -7n, true);
    const c2 = commit(math, v, -2n, 10n, false);
    expect(math.mulMod(c1, c2, v.n)).toBe(commit(math, v, 3n, 3n, false));
  });

  it('rejects degenerate parameters (A4) and small moduli (A3)', async () => {
    const { sk, rp } = await partyKeys(1);
    const { n, s, t } = rp.params;
    const bad: Array<[bigint, bigint, bigint]> = [
      [n, 1n, t],
      [n, s, 1n],
      [n, s, s],
      [n, n - 1n, t],
      [n, 0n, t],
      [n, sk.p * 3n, t],
      [n, s, sk.q],
      [n + 1n, s, t],
      [(n >> 1000n) | 1n, s % (n >> 1000n), t % (n >> 1000n)],
    ];
    for (const [nn, ss, tt] of bad) {
      expect(codeOf(() => ringPedersenParams(math, nn, ss, tt, SECURITY.minModulusBits))).toBe(
        'ERR_RING_PEDERSEN_INVALID',
      );
    }
  });
});
