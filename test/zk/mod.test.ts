import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { mod } from '../../src/math/bits.js';
import { generatePrime } from '../../src/math/primes.js';
import type { PaillierSecretKey } from '../../src/primitives/paillier.js';
import type { ProofContext } from '../../src/zk/common.js';
import {
  decodeModProof,
  encodeModProof,
  type ModProof,
  type ModRepetition,
  modChallenges,
  proveMod,
  verifyMod,
} from '../../src/zk/mod.js';
import { SECURITY } from '../../src/zk/params.js';
import { TestDrbg } from '../helpers/drbg.js';
import { failure } from '../helpers/failure.js';
import { math, partyKeys, sid } from '../helpers/keys.js';
import { testPrimes } from '../helpers/primes.js';

/** Chinese remainder: the x mod Π m_i with x ≡ r_i (mod m_i), for pairwise coprime m_i. */
function crt(residues: readonly bigint[], moduli: readonly bigint[]): bigint {
  let x = 0n;
  let m = 1n;
  residues.forEach((r, i) => {
    const mi = moduli[i] as bigint;
    // x' = x + m·((r − x)·m⁻¹ mod m_i)
    x += m * mod((r - x) * math.invMod(m % mi, mi), mi);
    m *= mi;
  });
  return x;
}

/** (v / P) for a prime P: the Jacobi symbol equals the Legendre symbol (fast, no exponentiation). */
const isQr = (v: bigint, P: bigint): boolean => math.jacobi(v % P, P) !== -1;

/** v is a fourth power mod the prime P: a QR when P ≡ 3 (mod 4), else v ≡ 0 or v^((P−1)/4) ≡ 1. */
function isFourthPower(v: bigint, P: bigint): boolean {
  if ((P & 3n) === 3n) return isQr(v, P);
  const r = v % P;
  return r === 0n || math.powm(r, (P - 1n) / 4n, P) === 1n;
}

const signed = (a: boolean, b: boolean, w: bigint, y: bigint, n: bigint): bigint => {
  const wy = b ? math.mulMod(w, y, n) : y;
  return a ? mod(-wy, n) : wy;
};
const ab: ReadonlyArray<[boolean, boolean]> = [
  [false, false],
  [true, false],
  [false, true],
  [true, true],
];

/** How many challenges admit NO (a, b) with (−1)^a·w^b·y a fourth power modulo every prime: no x can exist. */
function unanswerable(ys: readonly bigint[], w: bigint, n: bigint, primes: readonly bigint[]): number {
  return ys.filter((y) => !ab.some(([a, b]) => primes.every((P) => isFourthPower(signed(a, b, w, y, n), P)))).length;
}

/**
 * A cheating prover that knows the factorization of any square-free N: for each y_i it takes the
 * first (a, b) that makes y' a QR modulo every prime, the Blum fourth-root formula per prime and
 * z_i = y_i^(N⁻¹ mod φ). It answers every repetition it can; the rest get the formula anyway.
 */
function forge(ctx: ProofContext, n: bigint, primes: readonly bigint[], w: bigint): ModProof {
  const phi = primes.reduce((acc, P) => acc * (P - 1n), 1n);
  const nInv = math.invMod(n % phi, phi);
  // z = y^(N⁻¹ mod φ), computed per prime with the exponent reduced mod P − 1 (Fermat), then CRT.
  const nthRoot = (y: bigint): bigint =>
    crt(
      primes.map((P) => math.powm(y % P, nInv % (P - 1n), P)),
      primes,
    );
  const reps = modChallenges(ctx, n, w).map((y): ModRepetition => {
    const [a, b] = ab.find(([a0, b0]) => primes.every((P) => isQr(signed(a0, b0, w, y, n), P))) ?? [false, false];
    const y2 = signed(a, b, w, y, n);
    const x = crt(
      primes.map((P) => math.powm(y2 % P, ((P + 1n) / 4n) ** 2n % (P - 1n), P)),
      primes,
    );
    return { x, a, b, z: nthRoot(y) };
  });
  return { w, reps };
}

/** Every per-repetition equation holds (what a verifier WITHOUT the checks on N and w would accept). */
function equationsHold(ctx: ProofContext, n: bigint, p: ModProof): boolean {
  const ys = modChallenges(ctx, n, p.w);
  return p.reps.every((r, i) => {
    const y = ys[i] as bigint;
    return math.powm(r.x, 4n, n) === signed(r.a, r.b, p.w, y, n) && math.powm(r.z, n, n) === y;
  });
}

/** A random prime ≡ 1 (mod 4) with the top two bits set (not Blum): the A2 counterexample. */
let cachedNonBlum: bigint | undefined;
function nonBlumPrime(): bigint {
  cachedNonBlum ??= primeOneMod4(1536, new TestDrbg('mod-p1'));
  return cachedNonBlum;
}
function primeOneMod4(bits: number, rng: TestDrbg): bigint {
  const small = [3n, 5n, 7n, 11n, 13n, 17n, 19n, 23n, 29n, 31n, 37n, 41n, 43n, 47n];
  let c = (rng.bits(bits) | (3n << BigInt(bits - 2)) | 1n) & ~2n; // ≡ 1 (mod 4)
  for (; ; c += 4n) {
    if (small.some((s) => c % s === 0n)) continue;
    if (math.powm(2n, c - 1n, c) === 1n && math.isProbablePrime(c)) return c;
  }
}

describe('Πmod (Paillier–Blum modulus)', () => {
  const rng = new TestDrbg('mod');
  const ctx: ProofContext = { sid: sid('session-mod'), prover: 1, rid: sid('rid-mod-0123456789') };
  const keys: PaillierSecretKey[] = [];
  let sk: PaillierSecretKey;
  let n: bigint;
  let proof: ModProof;

  beforeAll(async () => {
    for (let i = 0; i < 3; i++) keys.push((await partyKeys(i)).sk);
    sk = keys[0] as PaillierSecretKey;
    n = sk.pub.n;
    proof = proveMod(math, ctx, { n }, sk, rng);
  });

  it('verifies honest proofs after an encode/decode round trip, for fixture moduli and contexts (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 }), fc.uint8Array({ minLength: 1, maxLength: 40 }), (k, rid) => {
        const key = keys[k] as PaillierSecretKey;
        const c = { ...ctx, prover: k, rid };
        const p = proveMod(math, c, { n: key.pub.n }, key, rng);
        verifyMod(math, c, { n: key.pub.n }, decodeModProof(encodeModProof(p)));
      }),
      { numRuns: 2 },
    );
  });

  it('verifies the shared honest proof: w has Jacobi symbol −1 and every response is in [0, N)', () => {
    verifyMod(math, ctx, { n }, decodeModProof(encodeModProof(proof)));
    expect(math.jacobi(proof.w, n)).toBe(-1);
    expect(proof.reps).toHaveLength(SECURITY.m);
    expect(proof.reps.every((r) => r.x < n && r.z < n)).toBe(true);
    // Known, harmless malleability of the paper's Πmod: x_i is any of the four fourth roots of y'_i
    // (here N − x_0), so proofs are not unique; nothing in the protocol hashes a Πmod proof.
    const x0 = (proof.reps[0] as ModRepetition).x;
    verifyMod(math, ctx, { n }, { w: proof.w, reps: proof.reps.map((r, i) => (i === 0 ? { ...r, x: n - x0 } : r)) });
  });

  it('rejects a non-Blum N = p·q with p ≡ 1 (mod 4): the prover refuses and a forged proof fails (A2)', async () => {
    const p = nonBlumPrime();
    const q = (await testPrimes('safe', 1536))[5] as bigint;
    const bad = p * q;
    expect(bad.toString(2).length).toBeGreaterThanOrEqual(SECURITY.minModulusBits);
    expect(failure(() => proveMod(math, ctx, { n: bad }, { p, q }, rng))).toBe('ERR_ZK_STATEMENT_INVALID:');
    let w: bigint;
    do w = math.randUnit(bad, rng);
    while (math.jacobi(w, bad) !== -1);
    // Soundness is real: some challenges have no fourth root for any (a, b), so no x_i can exist.
    expect(unanswerable(modChallenges(ctx, bad, w), w, bad, [p, q])).toBeGreaterThan(0);
    expect(failure(() => verifyMod(math, ctx, { n: bad }, forge(ctx, bad, [p, q], w)))).toBe(
      'ERR_ZK_PROOF_INVALID:fourth-root equation',
    );
  });

  it('rejects a three-prime N (all factors Blum): about half the challenges are unanswerable (A2)', async () => {
    const primes = [
      (await testPrimes('safe', 1536))[6],
      (await testPrimes('safe', 1024))[0],
      (await testPrimes('safe', 512))[0],
    ] as bigint[];
    const [p1, p2, p3] = primes as [bigint, bigint, bigint];
    const bad = p1 * p2 * p3;
    expect(bad.toString(2).length).toBeGreaterThanOrEqual(SECURITY.minModulusBits);
    // The honest algorithm cannot even start: the second "factor" p2·p3 ≡ 1 (mod 4).
    expect(failure(() => proveMod(math, ctx, { n: bad }, { p: p1, q: p2 * p3 }, rng))).toBe(
      'ERR_ZK_STATEMENT_INVALID:',
    );
    let w: bigint;
    do w = math.randUnit(bad, rng);
    while (math.jacobi(w, bad) !== -1);
    const missing = unanswerable(modChallenges(ctx, bad, w), w, bad, primes);
    expect(missing).toBeGreaterThan(32); // ≈ m/2 expected; a pass needs all 128 answerable (2^-128)
    expect(failure(() => verifyMod(math, ctx, { n: bad }, forge(ctx, bad, primes, w)))).toBe(
      'ERR_ZK_PROOF_INVALID:fourth-root equation',
    );
  });

  it('rejects w ≡ 0 (mod p) even when every equation holds for a non-Blum N (the wednesdei bug, A2)', async () => {
    // Mod p everything is 0, so p's shape is never tested: with b_i = 1 every y_i is answerable.
    const p = nonBlumPrime();
    const q = (await testPrimes('safe', 1536))[7] as bigint;
    const bad = p * q;
    const w = p * 2n;
    const phi = (p - 1n) * (q - 1n);
    const nInv = math.invMod(bad % phi, phi);
    const nthRoot = (y: bigint): bigint =>
      crt([math.powm(y % p, nInv % (p - 1n), p), math.powm(y % q, nInv % (q - 1n), q)], [p, q]);
    const reps = modChallenges(ctx, bad, w).map((y): ModRepetition => {
      const a = !isQr(math.mulMod(w, y, bad), q); // (−1)^a·w·y is a QR mod q (−1 is not, q ≡ 3 mod 4)
      const y2 = signed(a, true, w, y, bad);
      const xq = math.powm(y2 % q, ((q + 1n) / 4n) ** 2n % (q - 1n), q);
      return { x: crt([0n, xq], [p, q]), a, b: true, z: nthRoot(y) };
    });
    const forged = { w, reps };
    expect(equationsHold(ctx, bad, forged)).toBe(true);
    expect(failure(() => verifyMod(math, ctx, { n: bad }, forged))).toBe('ERR_ZK_PROOF_INVALID:gcd(w, N) is not 1');
  });

  it('rejects w with Jacobi symbol +1 or sharing a factor with N before any equation (A2)', () => {
    for (const w of [sk.p, sk.q, 3n * sk.p]) {
      expect(failure(() => verifyMod(math, ctx, { n }, { ...proof, w }))).toBe(
        'ERR_ZK_PROOF_INVALID:gcd(w, N) is not 1',
      );
    }
    // A non-residue mod both p and q: Jacobi +1, and the forger cannot answer y with Jacobi −1.
    let w: bigint;
    do w = math.randUnit(n, rng);
    while (isQr(w, sk.p) || isQr(w, sk.q));
    expect(math.jacobi(w, n)).toBe(1);
    expect(unanswerable(modChallenges(ctx, n, w), w, n, [sk.p, sk.q])).toBeGreaterThan(0);
    for (const bad of [w, 1n, n - 1n, 4n]) {
      expect(failure(() => verifyMod(math, ctx, { n }, { ...proof, w: bad }))).toBe(
        'ERR_ZK_PROOF_INVALID:Jacobi(w, N) is not −1',
      );
    }
    expect(failure(() => verifyMod(math, ctx, { n }, forge(ctx, n, [sk.p, sk.q], w)))).toBe(
      'ERR_ZK_PROOF_INVALID:Jacobi(w, N) is not −1',
    );
  });

  it('rejects a prime N although every equation holds for it, and an even N (A2)', () => {
    // For a prime N ≡ 3 (mod 4), ±y is always a QR with a fourth root and z = y^(N⁻¹ mod N−1).
    const prime = generatePrime(math, 3072, 'blum', { rng: new TestDrbg('mod-prime') });
    let w: bigint;
    do w = math.randUnit(prime, rng);
    while (math.jacobi(w, prime) !== -1);
    const forged = forge(ctx, prime, [prime], w);
    expect(equationsHold(ctx, prime, forged)).toBe(true);
    expect(failure(() => verifyMod(math, ctx, { n: prime }, forged))).toBe(
      'ERR_ZK_PROOF_INVALID:N is a probable prime',
    );
    expect(failure(() => verifyMod(math, ctx, { n: n + 1n }, proof))).toBe('ERR_ZK_PROOF_INVALID:N is even');
    expect(failure(() => verifyMod(math, ctx, { n: 2n * sk.p * sk.q }, proof))).toBe('ERR_ZK_PROOF_INVALID:N is even');
  });

  it('rejects honest proofs for 2048- and 1024-bit moduli before any use (A3), and oversize moduli', async () => {
    for (const bits of [1024, 512]) {
      const [p, q] = (await testPrimes('safe', bits)) as [bigint, bigint];
      const small = proveMod(math, ctx, { n: p * q }, { p, q }, rng);
      expect(failure(() => verifyMod(math, ctx, { n: p * q }, small))).toBe(
        'ERR_ZK_PROOF_INVALID:N below the minimum size',
      );
    }
    const huge = (1n << 4096n) + 1n;
    expect(failure(() => verifyMod(math, ctx, { n: huge }, proof))).toBe(
      'ERR_ZK_PROOF_INVALID:N above the maximum size',
    );
  });

  it('rejects proofs with 1, 79, 127 or 129 repetitions, in the decoder and in the verifier (A5)', () => {
    const lengths = [1, 79, 127, 129];
    for (const len of lengths) {
      const reps = Array.from({ length: len }, (_, i) => proof.reps[i % SECURITY.m] as ModRepetition);
      expect(failure(() => decodeModProof(encodeModProof({ w: proof.w, reps })))).toBe(
        'ERR_WIRE_BAD_LENGTH:pi-mod.reps',
      );
      expect(failure(() => verifyMod(math, ctx, { n }, { w: proof.w, reps }))).toBe(
        'ERR_ZK_PROOF_INVALID:repetition count',
      );
    }
  });

  it('rejects the proof replayed under another sid, prover, rid or label, or for another modulus (A7, A11)', () => {
    const st = { n };
    for (const c of [
      { ...ctx, sid: sid('session-other') },
      { ...ctx, prover: 2 },
      { ...ctx, rid: sid('rid-mod-other') },
      { ...ctx, label: 'x' },
    ]) {
      expect(failure(() => verifyMod(math, c, st, proof))).toBe('ERR_ZK_PROOF_INVALID:fourth-root equation');
    }
    // The other party's modulus: its N is a different Blum modulus, so only the challenges differ.
    expect(failure(() => verifyMod(math, ctx, { n: (keys[1] as PaillierSecretKey).pub.n }, proof))).not.toBe(
      'accepted',
    );
    // Πmod is bound to ρ: a context without rid is a caller error on both sides.
    const { rid: _, ...noRid } = ctx;
    expect(failure(() => verifyMod(math, noRid, st, proof))).toBe('ERR_ZK_STATEMENT_INVALID:');
    expect(failure(() => proveMod(math, noRid, st, sk, rng))).toBe('ERR_ZK_STATEMENT_INVALID:');
  });

  it('derives different challenges when any input changes (A9, A10)', () => {
    const base = modChallenges(ctx, n, proof.w);
    expect(modChallenges(ctx, n, proof.w)).toEqual(base);
    const variants = [
      modChallenges({ ...ctx, sid: sid('session-mod2') }, n, proof.w),
      modChallenges({ ...ctx, prover: 0 }, n, proof.w),
      modChallenges({ ...ctx, rid: sid('rid-mod-012345678') }, n, proof.w),
      modChallenges(ctx, n, n - proof.w),
      modChallenges(ctx, n + 2n, proof.w),
    ];
    for (const v of variants) expect(v[0]).not.toBe(base[0]);
    expect(base.every((y) => y >= 0n && y < n)).toBe(true);
  });

  it('rejects w re-randomized with consistent responses: w is in the challenge (A10, Frozen Heart)', () => {
    // w' = w·u⁴ keeps Jacobi −1, and x'_i = x_i·u^{b_i} satisfies x'_i⁴ = (−1)^a·w'^b·y_i for the SAME
    // y_i: a verifier whose challenge omitted w would accept this mauled proof.
    const u = 3n;
    const w2 = math.mulMod(proof.w, u ** 4n, n);
    const mauled: ModProof = { w: w2, reps: proof.reps.map((r) => (r.b ? { ...r, x: math.mulMod(r.x, u, n) } : r)) };
    const ys = modChallenges(ctx, n, proof.w);
    expect(mauled.reps.every((r, i) => math.powm(r.x, 4n, n) === signed(r.a, r.b, w2, ys[i] as bigint, n))).toBe(true);
    expect(failure(() => verifyMod(math, ctx, { n }, mauled))).toBe('ERR_ZK_PROOF_INVALID:fourth-root equation');
  });

  it('rejects w, x_i, z_i set to 0, 1, N, N + 1 and flipped a_i, b_i (A6)', () => {
    const st = { n };
    const at = (i: number, patch: Partial<ModRepetition>): ModProof => ({
      w: proof.w,
      reps: proof.reps.map((r, k) => (k === i ? { ...r, ...patch } : r)),
    });
    expect(failure(() => verifyMod(math, ctx, st, { ...proof, w: 0n }))).toBe('ERR_ZK_PROOF_INVALID:w out of range');
    expect(failure(() => verifyMod(math, ctx, st, { ...proof, w: 1n }))).toBe(
      'ERR_ZK_PROOF_INVALID:Jacobi(w, N) is not −1',
    );
    expect(failure(() => verifyMod(math, ctx, st, { ...proof, w: n }))).toBe('ERR_ZK_PROOF_INVALID:w out of range');
    expect(failure(() => verifyMod(math, ctx, st, { ...proof, w: n + 1n }))).toBe(
      'ERR_ZK_PROOF_INVALID:w out of range',
    );
    for (const i of [0, SECURITY.m - 1]) {
      for (const v of [0n, 1n]) {
        expect(failure(() => verifyMod(math, ctx, st, at(i, { x: v })))).toBe(
          'ERR_ZK_PROOF_INVALID:fourth-root equation',
        );
      }
      for (const v of [n, n + 1n]) {
        expect(failure(() => verifyMod(math, ctx, st, at(i, { x: v })))).toBe('ERR_ZK_PROOF_INVALID:x out of range');
        expect(failure(() => verifyMod(math, ctx, st, at(i, { z: v })))).toBe('ERR_ZK_PROOF_INVALID:z out of range');
      }
      const r = proof.reps[i] as ModRepetition;
      expect(failure(() => verifyMod(math, ctx, st, at(i, { a: !r.a })))).toBe(
        'ERR_ZK_PROOF_INVALID:fourth-root equation',
      );
      expect(failure(() => verifyMod(math, ctx, st, at(i, { b: !r.b })))).toBe(
        'ERR_ZK_PROOF_INVALID:fourth-root equation',
      );
    }
    // z_0 set to 0, 1 or −z_0 (not an N-th root of y: N is odd, so (−z)^N = −y): caught by the
    // first batched chunk; z_127 = 1 by the last one.
    const z0 = (proof.reps[0] as ModRepetition).z;
    for (const v of [0n, 1n, n - z0]) {
      expect(failure(() => verifyMod(math, ctx, st, at(0, { z: v })))).toBe('ERR_ZK_PROOF_INVALID:N-th-root equation');
    }
    expect(failure(() => verifyMod(math, ctx, st, at(SECURITY.m - 1, { z: 1n })))).toBe(
      'ERR_ZK_PROOF_INVALID:N-th-root equation',
    );
  });

  it('decodes strictly: truncation, trailing bytes, wrong tag or version, non-canonical and oversize fields', () => {
    const bytes = encodeModProof(proof);
    expect(decodeModProof(bytes)).toEqual(proof);
    for (let cut = 0; cut < bytes.length; cut += Math.max(1, Math.floor(bytes.length / 97))) {
      expect(failure(() => decodeModProof(bytes.subarray(0, cut)))).toMatch(/^ERR_WIRE_TRUNCATED/);
    }
    expect(failure(() => decodeModProof(bytes.subarray(0, bytes.length - 1)))).toMatch(/^ERR_WIRE_TRUNCATED/);
    expect(failure(() => decodeModProof(Uint8Array.of(...bytes, 0)))).toMatch(/^ERR_WIRE_TRAILING_BYTES/);
    expect(failure(() => decodeModProof(Uint8Array.of(0x02, ...bytes.subarray(1))))).toBe(
      'ERR_WIRE_BAD_TAG:pi-mod.tag',
    );
    expect(failure(() => decodeModProof(Uint8Array.of(bytes[0] as number, 2, ...bytes.subarray(2))))).toBe(
      'ERR_WIRE_BAD_TAG:pi-mod.version',
    );
    // w with a leading zero byte: same value, second encoding → refused.
    const len = new DataView(bytes.buffer, bytes.byteOffset).getUint32(2);
    const nonCanonical = Uint8Array.of(
      ...bytes.subarray(0, 2),
      0,
      0,
      (len + 1) >> 8,
      (len + 1) & 0xff,
      0,
      ...bytes.subarray(6),
    );
    expect(failure(() => decodeModProof(nonCanonical))).toBe('ERR_WIRE_NON_CANONICAL:pi-mod.w');
    // Flags byte of repetition 0 with an unknown bit.
    const flagsAt = 2 + 4 + len + 4;
    const badFlags = Uint8Array.from(bytes);
    badFlags[flagsAt] = 4;
    expect(failure(() => decodeModProof(badFlags))).toBe('ERR_WIRE_NON_CANONICAL:pi-mod.reps[0]');
    const huge = Uint8Array.of(...bytes.subarray(0, 2), 0xff, 0xff, 0xff, 0xff, ...bytes.subarray(6));
    expect(failure(() => decodeModProof(huge))).toBe('ERR_WIRE_BAD_LENGTH:pi-mod.w');
    expect(failure(() => decodeModProof(new Uint8Array(1 << 20)))).toMatch(/^ERR_WIRE_TOO_LARGE/);
  });
});
