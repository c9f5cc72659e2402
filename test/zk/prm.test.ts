import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { type PaillierSecretKey, paillierSecretKey } from '../../src/primitives/paillier.js';
import {
  generateRingPedersen,
  type RingPedersenSecret,
  ringPedersenParams,
} from '../../src/primitives/ring-pedersen.js';
import type { ProofContext } from '../../src/zk/common.js';
import { SECURITY } from '../../src/zk/params.js';
import { decodePrmProof, encodePrmProof, type PrmProof, provePrm, verifyPrm } from '../../src/zk/prm.js';
import { TestDrbg } from '../helpers/drbg.js';
import { failure } from '../helpers/failure.js';
import { math, partyKeys, sid } from '../helpers/keys.js';
import { testPrimes } from '../helpers/primes.js';

describe('Πprm (ring-Pedersen parameters: s ∈ ⟨t⟩)', () => {
  const rng = new TestDrbg('prm');
  const ctx: ProofContext = { sid: sid('session-prm'), prover: 1 };
  const keys: Array<{ sk: PaillierSecretKey; rp: RingPedersenSecret }> = [];
  let sk: PaillierSecretKey;
  let rp: RingPedersenSecret;
  let n: bigint;
  let proof: PrmProof;

  beforeAll(async () => {
    for (let i = 0; i < 3; i++) keys.push(await partyKeys(i));
    ({ sk, rp } = keys[0] as { sk: PaillierSecretKey; rp: RingPedersenSecret });
    n = rp.params.n;
    proof = provePrm(math, ctx, rp.params, { ...rp, sk }, rng);
  });

  it('verifies honest proofs after an encode/decode round trip, for fixture parameters and contexts (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 }), fc.uint8Array({ minLength: 1, maxLength: 40 }), (k, s) => {
        const key = keys[k] as { sk: PaillierSecretKey; rp: RingPedersenSecret };
        const c = { sid: s, prover: k };
        const p = provePrm(math, c, key.rp.params, { ...key.rp, sk: key.sk }, rng);
        verifyPrm(math, c, key.rp.params, decodePrmProof(encodePrmProof(p)));
      }),
      { numRuns: 2 },
    );
  });

  it('verifies the shared proof, and a proof made without the factorization (constant-time path mod N)', () => {
    verifyPrm(math, ctx, rp.params, decodePrmProof(encodePrmProof(proof)));
    expect(proof.A).toHaveLength(SECURITY.m);
    expect(proof.z.every((z) => z >= 0n && z < rp.phi)).toBe(true);
    const slow = provePrm(math, ctx, rp.params, { lambda: rp.lambda, phi: rp.phi }, rng);
    verifyPrm(math, ctx, rp.params, slow);
  });

  it('rejects s = 1, s = t, s = N − 1, gcd(s, N) ≠ 1 and degenerate t, by validation and by the verifier (A4)', () => {
    const { s, t } = rp.params;
    const cases: Array<[bigint, bigint, string]> = [
      [1n, t, 's is ±1'],
      [n - 1n, t, 's is ±1'],
      [t, t, 's equals t'],
      [sk.p, t, 's is not in Z*_N'],
      [sk.q * 7n, t, 's is not in Z*_N'],
      [0n, t, 's is not in Z*_N'],
      [n, t, 's is not in Z*_N'],
      [s, 1n, 't is ±1'],
      [s, n - 1n, 't is ±1'],
      [s, sk.q, 't is not in Z*_N'],
    ];
    for (const [s2, t2, check] of cases) {
      expect(failure(() => ringPedersenParams(math, n, s2, t2, SECURITY.minModulusBits))).toBe(
        'ERR_RING_PEDERSEN_INVALID:',
      );
      expect(
        failure(() => verifyPrm(math, ctx, { n, s: s2, t: t2 }, proof)),
        check,
      ).toBe(`ERR_ZK_PROOF_INVALID:${check}`);
    }
  });

  it('rejects s ∉ ⟨t⟩: valid-looking parameters pass validation, the prover refuses, a forged proof fails (A4)', () => {
    // t is a square, so a non-square s (Jacobi −1) is not a power of t.
    let s: bigint;
    do s = math.randUnit(n, rng);
    while (math.jacobi(s, n) !== -1);
    const bad = ringPedersenParams(math, n, s, rp.params.t, SECURITY.minModulusBits); // validation cannot tell
    expect(failure(() => provePrm(math, ctx, bad, { ...rp, sk }, rng))).toBe('ERR_ZK_STATEMENT_INVALID:');
    // Forger: guess every challenge bit g_i ahead; A_i = t^{a_i}·s^{−g_i}, z_i = a_i satisfies
    // t^{z_i} = A_i·s^{e_i} exactly when e_i = g_i (both bits would give s = t^{z'−z} ∈ ⟨t⟩).
    const sInv = math.invMod(s, n);
    const guesses = Array.from({ length: SECURITY.m }, () => rng.int(2) === 1);
    const a = guesses.map(() => math.randBelow(n, rng));
    const forged: PrmProof = {
      A: a.map((ai, i) =>
        guesses[i] ? math.mulMod(math.powm(rp.params.t, ai, n), sInv, n) : math.powm(rp.params.t, ai, n),
      ),
      z: a,
    };
    expect(failure(() => verifyPrm(math, ctx, bad, forged))).toBe('ERR_ZK_PROOF_INVALID:equation t^z = A·s^e');
    // The honest proof for the real s does not transfer to the fake s either.
    expect(failure(() => verifyPrm(math, ctx, bad, proof))).toBe('ERR_ZK_PROOF_INVALID:equation t^z = A·s^e');
  });

  it('rejects 2048- and 1024-bit parameters before use, by validation and by the verifier (A3)', async () => {
    for (const bits of [1024, 512]) {
      const [p, q] = (await testPrimes('safe', bits)) as [bigint, bigint];
      const small = paillierSecretKey(math, p, q, 0);
      const srp = generateRingPedersen(math, small, new TestDrbg(`prm-small-${bits}`));
      expect(
        failure(() => ringPedersenParams(math, srp.params.n, srp.params.s, srp.params.t, SECURITY.minModulusBits)),
      ).toBe('ERR_RING_PEDERSEN_INVALID:');
      const sp = provePrm(math, ctx, srp.params, { ...srp, sk: small }, rng);
      expect(failure(() => verifyPrm(math, ctx, srp.params, sp))).toBe('ERR_ZK_PROOF_INVALID:N below the minimum size');
    }
    expect(failure(() => verifyPrm(math, ctx, { ...rp.params, n: n + 1n }, proof))).toBe(
      'ERR_ZK_PROOF_INVALID:N is even',
    );
    expect(failure(() => verifyPrm(math, ctx, { ...rp.params, n: (1n << 4096n) + 1n }, proof))).toBe(
      'ERR_ZK_PROOF_INVALID:N above the maximum size',
    );
  });

  it('rejects proofs with 1, 79, 127 or 129 repetitions, in the decoder and in the verifier (A5)', () => {
    for (const len of [1, 79, 127, 129]) {
      const cut = <T>(xs: readonly T[]): T[] => Array.from({ length: len }, (_, i) => xs[i % SECURITY.m] as T);
      expect(failure(() => decodePrmProof(encodePrmProof({ A: cut(proof.A), z: cut(proof.z) })))).toBe(
        'ERR_WIRE_BAD_LENGTH:pi-prm.A',
      );
      expect(failure(() => decodePrmProof(encodePrmProof({ A: proof.A, z: cut(proof.z) })))).toBe(
        'ERR_WIRE_BAD_LENGTH:pi-prm.z',
      );
      expect(failure(() => verifyPrm(math, ctx, rp.params, { A: cut(proof.A), z: cut(proof.z) }))).toBe(
        'ERR_ZK_PROOF_INVALID:repetition count',
      );
      expect(failure(() => verifyPrm(math, ctx, rp.params, { A: proof.A, z: cut(proof.z) }))).toBe(
        'ERR_ZK_PROOF_INVALID:repetition count',
      );
    }
  });

  it('rejects the proof replayed under another sid, prover, rid or label, or for other parameters (A7, A10, A11)', () => {
    for (const c of [
      { ...ctx, sid: sid('session-other') },
      { ...ctx, prover: 2 },
      { ...ctx, rid: sid('rid') },
      { ...ctx, label: 'x' },
    ]) {
      expect(failure(() => verifyPrm(math, c, rp.params, proof))).toBe('ERR_ZK_PROOF_INVALID:equation t^z = A·s^e');
    }
    const other = (keys[1] as { rp: RingPedersenSecret }).rp.params;
    expect(failure(() => verifyPrm(math, ctx, other, proof))).not.toBe('accepted');
    // Same N, other valid s or t: every statement value is in the challenge (and in the equation).
    const s2 = math.powm(rp.params.t, 12345n, n);
    expect(failure(() => verifyPrm(math, ctx, { ...rp.params, s: s2 }, proof))).toBe(
      'ERR_ZK_PROOF_INVALID:equation t^z = A·s^e',
    );
    const t2 = math.mulMod(rp.params.t, 4n, n);
    expect(failure(() => verifyPrm(math, ctx, { ...rp.params, t: t2 }, proof))).toBe(
      'ERR_ZK_PROOF_INVALID:equation t^z = A·s^e',
    );
  });

  it('rejects a commitment re-randomized with a consistent response: every A_i is in the challenge (A10)', () => {
    // A'_5 = A_5·t^δ, z'_5 = z_5 + δ satisfies t^{z'} = A'·s^e for the SAME e_5: a verifier whose
    // challenge omitted the A_i (as an early cggmp21 version of this proof did) would accept it.
    const i = 5;
    const delta = 7n;
    const zi = proof.z[i] as bigint;
    expect(zi + delta < n).toBe(true);
    const mauled: PrmProof = {
      A: proof.A.map((x, k) => (k === i ? math.mulMod(x, math.powm(rp.params.t, delta, n), n) : x)),
      z: proof.z.map((x, k) => (k === i ? x + delta : x)),
    };
    expect(failure(() => verifyPrm(math, ctx, rp.params, mauled))).toBe('ERR_ZK_PROOF_INVALID:equation t^z = A·s^e');
  });

  it('rejects A_i and z_i set to 0, 1, N, N + 1 or a multiple of a factor (A6)', () => {
    const at = (field: 'A' | 'z', i: number, v: bigint): PrmProof => ({
      ...proof,
      [field]: proof[field].map((x, k) => (k === i ? v : x)),
    });
    for (const i of [0, SECURITY.m - 1]) {
      for (const v of [0n, n, n + 1n, sk.p]) {
        expect(failure(() => verifyPrm(math, ctx, rp.params, at('A', i, v)))).toBe(
          'ERR_ZK_PROOF_INVALID:A is not in Z*_N',
        );
      }
      for (const v of [n, n + 1n]) {
        expect(failure(() => verifyPrm(math, ctx, rp.params, at('z', i, v)))).toBe(
          'ERR_ZK_PROOF_INVALID:z out of range',
        );
      }
    }
    // In-range values change the challenge (A) or break the equation (z): caught in the first chunk.
    expect(failure(() => verifyPrm(math, ctx, rp.params, at('A', 0, 1n)))).toBe(
      'ERR_ZK_PROOF_INVALID:equation t^z = A·s^e',
    );
    for (const v of [0n, 1n]) {
      expect(failure(() => verifyPrm(math, ctx, rp.params, at('z', 0, v)))).toBe(
        'ERR_ZK_PROOF_INVALID:equation t^z = A·s^e',
      );
    }
    // z_i + φ is another exponent of the same power, but a verifier cannot tell: only [0, N) is checked,
    // and an out-of-range representative is refused.
    expect(failure(() => verifyPrm(math, ctx, rp.params, at('z', 5, (proof.z[5] as bigint) + rp.phi)))).toBe(
      'ERR_ZK_PROOF_INVALID:z out of range',
    );
  });

  it('refuses to prove with a wrong witness or a key for another modulus', () => {
    const other = keys[1] as { sk: PaillierSecretKey };
    expect(failure(() => provePrm(math, ctx, rp.params, { ...rp, lambda: rp.lambda + 1n, sk }, rng))).toBe(
      'ERR_ZK_STATEMENT_INVALID:',
    );
    expect(failure(() => provePrm(math, ctx, rp.params, { ...rp, sk: other.sk }, rng))).toBe(
      'ERR_ZK_STATEMENT_INVALID:',
    );
    expect(failure(() => provePrm(math, ctx, rp.params, { ...rp, lambda: rp.phi }, rng))).toBe(
      'ERR_ZK_STATEMENT_INVALID:',
    );
  });

  it('decodes strictly: truncation, trailing bytes, wrong tag or version, non-canonical and oversize fields', () => {
    const bytes = encodePrmProof(proof);
    expect(decodePrmProof(bytes)).toEqual(proof);
    for (let cut = 0; cut < bytes.length; cut += Math.max(1, Math.floor(bytes.length / 97))) {
      expect(failure(() => decodePrmProof(bytes.subarray(0, cut)))).toMatch(/^ERR_WIRE_TRUNCATED/);
    }
    expect(failure(() => decodePrmProof(bytes.subarray(0, bytes.length - 1)))).toMatch(/^ERR_WIRE_TRUNCATED/);
    expect(failure(() => decodePrmProof(Uint8Array.of(...bytes, 0)))).toMatch(/^ERR_WIRE_TRAILING_BYTES/);
    expect(failure(() => decodePrmProof(Uint8Array.of(0x05, ...bytes.subarray(1))))).toBe(
      'ERR_WIRE_BAD_TAG:pi-prm.tag',
    );
    expect(failure(() => decodePrmProof(Uint8Array.of(bytes[0] as number, 9, ...bytes.subarray(2))))).toBe(
      'ERR_WIRE_BAD_TAG:pi-prm.version',
    );
    // A_0 with a leading zero byte: same value, second encoding → refused.
    const head = 2 + 4; // tag, version, count
    const len = new DataView(bytes.buffer, bytes.byteOffset).getUint32(head);
    const nonCanonical = Uint8Array.of(
      ...bytes.subarray(0, head),
      0,
      0,
      (len + 1) >> 8,
      (len + 1) & 0xff,
      0,
      ...bytes.subarray(head + 4),
    );
    expect(failure(() => decodePrmProof(nonCanonical))).toBe('ERR_WIRE_NON_CANONICAL:pi-prm.A[0]');
    const huge = Uint8Array.of(...bytes.subarray(0, head), 0xff, 0xff, 0xff, 0xff, ...bytes.subarray(head + 4));
    expect(failure(() => decodePrmProof(huge))).toBe('ERR_WIRE_BAD_LENGTH:pi-prm.A[0]');
    expect(failure(() => decodePrmProof(new Uint8Array(1 << 20)))).toMatch(/^ERR_WIRE_TOO_LARGE/);
  });
});
