import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { bitLength } from '../../src/math/bits.js';
import { generatePrime } from '../../src/math/primes.js';
import type { PaillierSecretKey } from '../../src/primitives/paillier.js';
import { type RingPedersenParams, ringPedersenParams } from '../../src/primitives/ring-pedersen.js';
import type { ProofContext } from '../../src/zk/common.js';
import { decodeFacProof, encodeFacProof, type FacProof, isqrt, proveFac, verifyFac } from '../../src/zk/fac.js';
import { SECURITY } from '../../src/zk/params.js';
import { TestDrbg } from '../helpers/drbg.js';
import { failure } from '../helpers/failure.js';
import { math, partyKeys, sid } from '../helpers/keys.js';
import { testPrimes } from '../helpers/primes.js';

/** The 16 largest primes below 2^16 (the BitForge/6ix1een small factors). */
function smallPrimes16(): bigint[] {
  const out: bigint[] = [];
  for (let c = 65535n; out.length < 16; c -= 2n) if (math.isProbablePrime(c)) out.push(c);
  return out;
}

describe('isqrt (exact integer square root for the Πfac statement)', () => {
  it('is ⌊sqrt(n)⌋ for small values, perfect squares and their neighbours', () => {
    for (let k = 0n; k < 2000n; k++) {
      const r = isqrt(k);
      expect(r * r <= k && (r + 1n) * (r + 1n) > k, String(k)).toBe(true);
    }
    for (const r of [1n, 2n, 3n, (1n << 64n) - 1n, (1n << 1536n) - 1n, 3n ** 1000n]) {
      expect(isqrt(r * r)).toBe(r);
      expect(isqrt(r * r - 1n)).toBe(r - 1n);
      expect(isqrt(r * r + 2n * r)).toBe(r); // (r + 1)² − 1
    }
    expect(failure(() => isqrt(-1n))).toBe('ERR_MATH_NEGATIVE:');
  });

  it('satisfies r² ≤ n < (r + 1)² for random values up to 8192 bits (property)', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 8192n) - 1n }), (x) => {
        const r = isqrt(x);
        return r * r <= x && (r + 1n) * (r + 1n) > x;
      }),
      { numRuns: 300 },
    );
  });
});

describe('Πfac (no small factor)', () => {
  const rng = new TestDrbg('fac');
  const ctx: ProofContext = { sid: sid('session-fac'), prover: 1, rid: sid('rid-fac-0123456789') };
  const keys: Array<{ sk: PaillierSecretKey; aux: RingPedersenParams }> = [];
  let sk: PaillierSecretKey; // the prover's key
  let aux: RingPedersenParams; // the verifier's ring-Pedersen parameters
  let otherAux: RingPedersenParams;
  let n: bigint;
  let proof: FacProof;

  beforeAll(async () => {
    for (let i = 0; i < 3; i++) {
      const k = await partyKeys(i);
      keys.push({ sk: k.sk, aux: k.rp.params });
    }
    sk = (keys[0] as { sk: PaillierSecretKey }).sk;
    aux = (keys[1] as { aux: RingPedersenParams }).aux;
    otherAux = (keys[2] as { aux: RingPedersenParams }).aux;
    n = sk.pub.n;
    proof = proveFac(math, ctx, aux, { n }, sk, rng);
  });

  it('verifies honest proofs after an encode/decode round trip, for every prover/verifier pair (property)', () => {
    verifyFac(math, ctx, aux, { n }, decodeFacProof(encodeFacProof(proof)));
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 }),
        fc.integer({ min: 1, max: 2 }),
        fc.uint8Array({ minLength: 1, maxLength: 48 }),
        (i, d, rid) => {
          const prover = keys[i] as { sk: PaillierSecretKey };
          const verifier = keys[(i + d) % 3] as { aux: RingPedersenParams };
          const c = { ...ctx, prover: i, rid };
          const p = proveFac(math, c, verifier.aux, { n: prover.sk.pub.n }, prover.sk, rng);
          verifyFac(math, c, verifier.aux, { n: prover.sk.pub.n }, decodeFacProof(encodeFacProof(p)));
        },
      ),
      { numRuns: 3 },
    );
  });

  it('rejects N = (16 primes ≈ 2^16)·q with an honestly computed proof from that factorization (A1, BitForge)', () => {
    const small = smallPrimes16();
    const smallProduct = small.reduce((a, b) => a * b, 1n);
    const big = generatePrime(math, 3072 - bitLength(smallProduct), 'blum', { rng: new TestDrbg('fac-big') });
    const bad = smallProduct * big;
    expect(bitLength(bad)).toBeGreaterThanOrEqual(SECURITY.minModulusBits); // passes the size floor
    expect(small.every((p) => bad % p === 0n)).toBe(true);
    // The honest prover algorithm with the (bad) factors: the large factor overflows its range.
    const p1 = proveFac(math, ctx, aux, { n: bad }, { p: smallProduct, q: big }, rng);
    expect(failure(() => verifyFac(math, ctx, aux, { n: bad }, p1))).toBe('ERR_ZK_PROOF_INVALID:z2 out of range');
    const p2 = proveFac(math, ctx, aux, { n: bad }, { p: big, q: smallProduct }, rng);
    expect(failure(() => verifyFac(math, ctx, aux, { n: bad }, p2))).toBe('ERR_ZK_PROOF_INVALID:z1 out of range');
    // A proof made for an honest modulus does not transfer to the bad one.
    expect(failure(() => verifyFac(math, ctx, aux, { n: bad }, proof))).not.toBe('accepted');
  });

  it('rejects N = p·q with a 1024-bit p and a 2048-bit q (p small relative to sqrt(N)) (A1)', async () => {
    const p = (await testPrimes('safe', 1024))[0] as bigint;
    const q = ((await testPrimes('safe', 1536))[8] as bigint) * ((await testPrimes('safe', 512))[1] as bigint);
    const bad = p * q;
    expect(bitLength(bad)).toBeGreaterThanOrEqual(SECURITY.minModulusBits);
    const pf = proveFac(math, ctx, aux, { n: bad }, { p, q }, rng);
    expect(failure(() => verifyFac(math, ctx, aux, { n: bad }, pf))).toBe('ERR_ZK_PROOF_INVALID:z2 out of range');
  });

  it("rejects a proof from another modulus, or verified with another verifier's parameters (A1, A7)", () => {
    const other = (keys[2] as { sk: PaillierSecretKey }).sk;
    expect(failure(() => verifyFac(math, ctx, aux, { n: other.pub.n }, proof))).toMatch(
      /^ERR_ZK_PROOF_INVALID:equation/,
    );
    expect(failure(() => verifyFac(math, ctx, otherAux, { n }, proof))).not.toBe('accepted');
  });

  it('rejects 2048- and 1024-bit moduli with otherwise valid proofs (A3), even and oversize N0', async () => {
    for (const bits of [1024, 512]) {
      const [p, q] = (await testPrimes('safe', bits)) as [bigint, bigint];
      const pf = proveFac(math, ctx, aux, { n: p * q }, { p, q }, rng);
      expect(failure(() => verifyFac(math, ctx, aux, { n: p * q }, pf))).toBe(
        'ERR_ZK_PROOF_INVALID:N0 below the minimum size',
      );
    }
    expect(failure(() => verifyFac(math, ctx, aux, { n: n + 1n }, proof))).toBe('ERR_ZK_PROOF_INVALID:N0 is even');
    expect(failure(() => verifyFac(math, ctx, aux, { n: (1n << 4096n) + 1n }, proof))).toBe(
      'ERR_ZK_PROOF_INVALID:N0 above the maximum size',
    );
  });

  it('rejects the proof replayed under another sid, prover, rid or label (A7, A11); rid is mandatory', () => {
    for (const c of [
      { ...ctx, sid: sid('session-other') },
      { ...ctx, prover: 2 },
      { ...ctx, rid: sid('rid-fac-other') },
      { ...ctx, label: 'x' },
    ]) {
      expect(failure(() => verifyFac(math, c, aux, { n }, proof))).toBe('ERR_ZK_PROOF_INVALID:equation 1 (P)');
    }
    const { rid: _, ...noRid } = ctx;
    expect(failure(() => verifyFac(math, noRid, aux, { n }, proof))).toBe('ERR_ZK_STATEMENT_INVALID:');
    expect(failure(() => proveFac(math, noRid, aux, { n }, sk, rng))).toBe('ERR_ZK_STATEMENT_INVALID:');
  });

  it('rejects every commitment and response set to 0, 1, the bound, bound + 1 and the modulus (A6, A10)', () => {
    const st = { n };
    const zBound = (1n << BigInt(SECURITY.ell + SECURITY.epsilon)) * isqrt(n);
    const wBound = (1n << BigInt(SECURITY.ell + SECURITY.epsilon + 1)) * aux.n;
    const vBound = wBound * n;
    const values: Record<keyof FacProof, bigint[]> = {
      P: [0n, 1n, aux.n, aux.n + 1n, aux.n - 1n],
      Q: [0n, 1n, aux.n, aux.n + 1n, aux.n - 1n],
      A: [0n, 1n, aux.n, aux.n + 1n],
      B: [0n, 1n, aux.n, aux.n + 1n],
      T: [0n, 1n, aux.n, aux.n + 1n],
      z1: [0n, 1n, zBound, zBound + 1n, -zBound - 1n, n],
      z2: [0n, 1n, -zBound, zBound + 1n, -zBound - 1n, n],
      w1: [0n, 1n, wBound, wBound + 1n, -wBound - 1n],
      w2: [0n, 1n, -wBound, wBound + 1n, -wBound - 1n],
      v: [0n, 1n, vBound, vBound + 1n, -vBound - 1n],
    };
    for (const [field, vs] of Object.entries(values) as Array<[keyof FacProof, bigint[]]>) {
      for (const v of vs) {
        if (v === proof[field]) continue;
        expect(
          failure(() => verifyFac(math, ctx, aux, st, { ...proof, [field]: v })),
          `${field}=${v}`,
        ).toMatch(/^ERR_ZK_PROOF_INVALID:/);
      }
    }
    // The exact range checks: one past the bound is refused by the range check itself.
    expect(failure(() => verifyFac(math, ctx, aux, st, { ...proof, z1: zBound + 1n }))).toBe(
      'ERR_ZK_PROOF_INVALID:z1 out of range',
    );
    expect(failure(() => verifyFac(math, ctx, aux, st, { ...proof, z2: -zBound - 1n }))).toBe(
      'ERR_ZK_PROOF_INVALID:z2 out of range',
    );
    expect(failure(() => verifyFac(math, ctx, aux, st, { ...proof, z1: zBound }))).toBe(
      'ERR_ZK_PROOF_INVALID:equation 1 (P)',
    );
    expect(failure(() => verifyFac(math, ctx, aux, st, { ...proof, v: proof.v + 1n }))).toBe(
      'ERR_ZK_PROOF_INVALID:equation 3 (T)',
    );
    expect(failure(() => verifyFac(math, ctx, aux, st, { ...proof, w2: proof.w2 + 1n }))).toBe(
      'ERR_ZK_PROOF_INVALID:equation 2 (Q)',
    );
    expect(failure(() => verifyFac(math, ctx, aux, st, { ...proof, P: aux.n - 1n }))).toBe(
      'ERR_ZK_PROOF_INVALID:equation 1 (P)',
    );
  });

  it('rejects commitments re-randomized with consistent responses: B, T are in the challenge (A10)', () => {
    // B' = B·s^δ with z2' = z2 + δ satisfies check 2 for the SAME e; T' = T·t^δ with v' = v + δ satisfies
    // check 3. A verifier whose challenge omitted B or T would accept these mauled proofs.
    const st = { n };
    const d = 1000n;
    const mauledB = { ...proof, B: math.mulMod(proof.B, math.powm(aux.s, d, aux.n), aux.n), z2: proof.z2 + d };
    expect(failure(() => verifyFac(math, ctx, aux, st, mauledB))).toBe('ERR_ZK_PROOF_INVALID:equation 1 (P)');
    const mauledT = { ...proof, T: math.mulMod(proof.T, math.powm(aux.t, d, aux.n), aux.n), v: proof.v + d };
    expect(failure(() => verifyFac(math, ctx, aux, st, mauledT))).toBe('ERR_ZK_PROOF_INVALID:equation 1 (P)');
  });

  it('proves and verifies with 4096-bit N0 and N̂, whose exponents exceed the math layer bound (split path)', async () => {
    const [a, b] = (await testPrimes('safe', 1536)) as [bigint, bigint];
    const [c, d] = (await testPrimes('safe', 512)) as [bigint, bigint];
    const p = a * c;
    const q = b * d;
    const bigN = p * q;
    // A 4096-bit N̂ with t = r², s = t^λ (public test values; validation only needs the shape).
    const [e1, e2] = [(await testPrimes('safe', 1536))[10] as bigint, (await testPrimes('safe', 1536))[11] as bigint];
    const [f1, f2] = [(await testPrimes('safe', 512))[2] as bigint, (await testPrimes('safe', 512))[3] as bigint];
    const nh = e1 * f1 * e2 * f2;
    const t = math.mulMod(123456789n, 123456789n, nh);
    const bigAux = ringPedersenParams(math, nh, math.powm(t, 987654321987654321n, nh), t, SECURITY.minModulusBits);
    expect(bitLength(bigN)).toBeGreaterThan(4090);
    expect(bitLength(nh)).toBeGreaterThan(4090);
    const pf = proveFac(math, ctx, bigAux, { n: bigN }, { p, q }, rng);
    expect(bitLength(pf.v < 0n ? -pf.v : pf.v)).toBeGreaterThan(8192);
    verifyFac(math, ctx, bigAux, { n: bigN }, decodeFacProof(encodeFacProof(pf)));
    expect(failure(() => verifyFac(math, ctx, bigAux, { n: bigN }, { ...pf, v: pf.v - 1n }))).toBe(
      'ERR_ZK_PROOF_INVALID:equation 3 (T)',
    );
  });

  it('refuses to prove with a witness that does not factor N0', () => {
    expect(failure(() => proveFac(math, ctx, aux, { n }, { p: sk.p, q: sk.q + 2n }, rng))).toBe(
      'ERR_ZK_STATEMENT_INVALID:',
    );
    expect(failure(() => proveFac(math, ctx, aux, { n }, { p: 1n, q: n }, rng))).toBe('ERR_ZK_STATEMENT_INVALID:');
  });

  it('decodes strictly: truncation, trailing bytes, wrong tag or version, non-canonical and oversize fields', () => {
    const bytes = encodeFacProof(proof);
    expect(decodeFacProof(bytes)).toEqual(proof);
    for (let cut = 0; cut < bytes.length; cut += Math.max(1, Math.floor(bytes.length / 97))) {
      expect(failure(() => decodeFacProof(bytes.subarray(0, cut)))).toMatch(/^ERR_WIRE_TRUNCATED/);
    }
    expect(failure(() => decodeFacProof(bytes.subarray(0, bytes.length - 1)))).toMatch(/^ERR_WIRE_TRUNCATED/);
    expect(failure(() => decodeFacProof(Uint8Array.of(...bytes, 0)))).toMatch(/^ERR_WIRE_TRAILING_BYTES/);
    expect(failure(() => decodeFacProof(Uint8Array.of(0x02, ...bytes.subarray(1))))).toBe(
      'ERR_WIRE_BAD_TAG:pi-fac.tag',
    );
    expect(failure(() => decodeFacProof(Uint8Array.of(bytes[0] as number, 0, ...bytes.subarray(2))))).toBe(
      'ERR_WIRE_BAD_TAG:pi-fac.version',
    );
    // P with a leading zero byte: same value, second encoding → refused.
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
    expect(failure(() => decodeFacProof(nonCanonical))).toBe('ERR_WIRE_NON_CANONICAL:pi-fac.P');
    // Negative zero for z1 (sign byte 1, empty magnitude) is a second encoding of 0.
    const zeroZ1 = encodeFacProof({ ...proof, z1: 0n });
    const z1At =
      2 + 5 * 4 + [proof.P, proof.Q, proof.A, proof.B, proof.T].reduce((acc, x) => acc + bitLengthBytes(x), 0);
    const negZero = Uint8Array.from(zeroZ1);
    expect(negZero[z1At]).toBe(0);
    negZero[z1At] = 1;
    expect(failure(() => decodeFacProof(negZero))).toBe('ERR_WIRE_NON_CANONICAL:pi-fac.z1');
    const huge = Uint8Array.of(...bytes.subarray(0, 2), 0xff, 0xff, 0xff, 0xff, ...bytes.subarray(6));
    expect(failure(() => decodeFacProof(huge))).toBe('ERR_WIRE_BAD_LENGTH:pi-fac.P');
    expect(failure(() => decodeFacProof(new Uint8Array(1 << 20)))).toMatch(/^ERR_WIRE_TOO_LARGE/);
  });
});

const bitLengthBytes = (x: bigint): number => Math.ceil(bitLength(x) / 8);
