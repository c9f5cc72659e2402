import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { mod, toBytesBE } from '../../src/math/bits.js';
import { CURVE_ORDER, encodePoint, G, mulBase, Point } from '../../src/primitives/curve.js';
import { WireWriter } from '../../src/util/wire.js';
import { type ProofContext, proofTranscript } from '../../src/zk/common.js';
import { decodeSchProof, encodeSchProof, proveSch, type SchProof, schnorrCommit, verifySch } from '../../src/zk/sch.js';
import { TestDrbg } from '../helpers/drbg.js';
import { failure } from '../helpers/failure.js';
import { math, sid } from '../helpers/keys.js';

/** 33-byte encodings that are not valid non-identity points (SECURITY.md A14). */
function badPointEncodings(valid: Uint8Array): Array<[string, Uint8Array]> {
  const p = Point.Fp.ORDER;
  const withX = (prefix: number, x: bigint): Uint8Array => Uint8Array.of(prefix, ...toBytesBE(x, 32));
  return [
    ['all zero (identity)', new Uint8Array(33)],
    ['x = 0 with prefix 02', withX(0x02, 0n)],
    ['x = p (not reduced)', withX(0x02, p)],
    ['x = p + 1 (not reduced)', withX(0x03, p + 1n)],
    ['x = 2^256 − 1', withX(0x02, (1n << 256n) - 1n)],
    ['off curve (x = 5 has no y)', withX(0x02, 5n)],
    ['invalid prefix 04', Uint8Array.of(0x04, ...valid.subarray(1))],
    ['invalid prefix 05', Uint8Array.of(0x05, ...valid.subarray(1))],
    ['invalid prefix 00', Uint8Array.of(0x00, ...valid.subarray(1))],
  ];
}

describe('Πsch (Schnorr proof of knowledge, commit-early form)', () => {
  const rng = new TestDrbg('sch');
  const ctx: ProofContext = { sid: sid('session-sch'), prover: 1, rid: sid('rid-of-the-run') };
  const x = mod(rng.bits(256), CURVE_ORDER) || 1n;
  const X = mulBase(x);
  const { secret, commitment } = schnorrCommit(rng);
  const proof = proveSch(ctx, X, commitment, secret, x);

  it('verifies for honest inputs across the scalar range (property)', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 1n, max: CURVE_ORDER - 1n }), (k) => {
        const K = mulBase(k);
        const c = schnorrCommit(rng);
        const p = proveSch(ctx, K, c.commitment, c.secret, k);
        expect(p.A.equals(c.commitment.A)).toBe(true);
        expect(p.z >= 0n && p.z < CURVE_ORDER).toBe(true);
        verifySch(ctx, K, decodeSchProof(encodeSchProof(p)));
      }),
      { numRuns: 40 },
    );
  });

  it('commits to a non-identity A = α·G with α in [1, q) before the challenge exists', () => {
    const c = schnorrCommit(rng);
    expect(c.secret.alpha >= 1n && c.secret.alpha < CURVE_ORDER).toBe(true);
    expect(c.commitment.A.equals(mulBase(c.secret.alpha))).toBe(true);
    expect(c.commitment.A.is0()).toBe(false);
  });

  it('rejects a proof for the wrong secret: knowledge of x is what is proven', () => {
    const c = schnorrCommit(rng);
    const p = proveSch(ctx, X, c.commitment, c.secret, x + 1n);
    expect(failure(() => verifySch(ctx, X, p))).toBe('ERR_ZK_PROOF_INVALID:curve equation');
  });

  it('rejects a response made with the secret of another commitment', () => {
    const c1 = schnorrCommit(rng);
    const c2 = schnorrCommit(rng);
    const p = proveSch(ctx, X, c1.commitment, c2.secret, x);
    expect(failure(() => verifySch(ctx, X, p))).toBe('ERR_ZK_PROOF_INVALID:curve equation');
  });

  it('shows why α is single-use: two responses under one α reveal x', () => {
    const c = schnorrCommit(rng);
    const ctx2 = { ...ctx, sid: sid('another-session') };
    const p1 = proveSch(ctx, X, c.commitment, c.secret, x);
    const p2 = proveSch(ctx2, X, c.commitment, c.secret, x);
    // Anyone can recompute e1, e2 (the challenge is public by design): x = (z1 − z2)·(e1 − e2)⁻¹ mod q.
    const e = (cx: ProofContext): bigint =>
      proofTranscript('pi-sch', cx)
        .point('X', encodePoint(X))
        .point('A', encodePoint(c.commitment.A))
        .challengeRng('e')
        .below(CURVE_ORDER);
    const extracted = mod((p1.z - p2.z) * math.invMod(mod(e(ctx) - e(ctx2), CURVE_ORDER), CURVE_ORDER), CURVE_ORDER);
    expect(extracted).toBe(x);
  });

  it('rejects the proof replayed under another session id, prover index, rid or label (A11, A7)', () => {
    expect(failure(() => verifySch({ ...ctx, sid: sid('session-other') }, X, proof))).toBe(
      'ERR_ZK_PROOF_INVALID:curve equation',
    );
    expect(failure(() => verifySch({ ...ctx, prover: 2 }, X, proof))).toBe('ERR_ZK_PROOF_INVALID:curve equation');
    expect(failure(() => verifySch({ ...ctx, rid: sid('other-rid') }, X, proof))).toBe(
      'ERR_ZK_PROOF_INVALID:curve equation',
    );
    expect(failure(() => verifySch({ sid: ctx.sid, prover: ctx.prover }, X, proof))).toBe(
      'ERR_ZK_PROOF_INVALID:curve equation',
    );
    expect(failure(() => verifySch({ ...ctx, label: 'other' }, X, proof))).toBe('ERR_ZK_PROOF_INVALID:curve equation');
  });

  it("rejects the proof verified against another party's point (A7)", () => {
    expect(failure(() => verifySch(ctx, mulBase(x + 1n), proof))).toBe('ERR_ZK_PROOF_INVALID:curve equation');
    expect(failure(() => verifySch(ctx, X.negate(), proof))).toBe('ERR_ZK_PROOF_INVALID:curve equation');
  });

  it('rejects z set to 0, 1, q − 1, q, q + 1, −1 and A or X at the identity (A6, A14)', () => {
    for (const z of [0n, 1n, CURVE_ORDER - 1n]) {
      if (z === proof.z) continue;
      expect(
        failure(() => verifySch(ctx, X, { ...proof, z })),
        `${z}`,
      ).toBe('ERR_ZK_PROOF_INVALID:curve equation');
    }
    for (const z of [CURVE_ORDER, CURVE_ORDER + 1n, -1n, proof.z + CURVE_ORDER]) {
      expect(failure(() => verifySch(ctx, X, { ...proof, z }))).toBe(
        'ERR_ZK_PROOF_INVALID:z is not a canonical scalar',
      );
    }
    expect(failure(() => verifySch(ctx, X, { ...proof, A: Point.ZERO }))).toBe(
      'ERR_ZK_PROOF_INVALID:A is the identity',
    );
    expect(failure(() => verifySch(ctx, X, { ...proof, A: G }))).toBe('ERR_ZK_PROOF_INVALID:curve equation');
    expect(failure(() => verifySch(ctx, Point.ZERO, proof))).toBe('ERR_ZK_PROOF_INVALID:X is the identity');
    // The trivial proof for the identity (A = 0, z = 0) is refused, not accepted.
    expect(failure(() => verifySch(ctx, Point.ZERO, { A: Point.ZERO, z: 0n }))).toBe(
      'ERR_ZK_PROOF_INVALID:X is the identity',
    );
  });

  it('refuses to prove for the identity (nothing to hash or verify)', () => {
    const c = schnorrCommit(rng);
    expect(failure(() => proveSch(ctx, Point.ZERO, c.commitment, c.secret, 0n))).toMatch(/^ERR_ZK_STATEMENT_INVALID/);
    expect(failure(() => proveSch(ctx, X, { A: Point.ZERO }, c.secret, x))).toMatch(/^ERR_ZK_STATEMENT_INVALID/);
  });

  it('decodes strictly: truncation, trailing bytes, wrong tag or version, oversize input are typed errors', () => {
    const bytes = encodeSchProof(proof);
    expect(bytes.length).toBe(67);
    const back = decodeSchProof(bytes);
    expect(back.A.equals(proof.A) && back.z === proof.z).toBe(true);
    for (let cut = 0; cut < bytes.length; cut++) {
      expect(failure(() => decodeSchProof(bytes.subarray(0, cut)))).toMatch(/^ERR_WIRE_TRUNCATED/);
    }
    // The encoding has a fixed length, so a trailing byte already exceeds the size cap.
    expect(failure(() => decodeSchProof(Uint8Array.of(...bytes, 0)))).toMatch(/^ERR_WIRE_TOO_LARGE/);
    expect(failure(() => decodeSchProof(Uint8Array.of(0x02, ...bytes.subarray(1))))).toMatch(/^ERR_WIRE_BAD_TAG/);
    expect(failure(() => decodeSchProof(Uint8Array.of(0x01, 0x02, ...bytes.subarray(2))))).toMatch(/^ERR_WIRE_BAD_TAG/);
    expect(failure(() => decodeSchProof(new Uint8Array(1 << 20)))).toMatch(/^ERR_WIRE_TOO_LARGE/);
  });

  it('decodes z only as a canonical scalar: z ≥ q is refused (no second encoding of z mod q)', () => {
    const bytes = encodeSchProof(proof);
    for (const z of [CURVE_ORDER, CURVE_ORDER + proof.z, (1n << 256n) - 1n]) {
      if (z >= 1n << 256n) continue;
      const bad = Uint8Array.of(...bytes.subarray(0, 35), ...toBytesBE(z, 32));
      expect(failure(() => decodeSchProof(bad))).toBe('ERR_WIRE_NON_CANONICAL:pi-sch.z');
    }
    expect(failure(() => encodeSchProof({ ...proof, z: CURVE_ORDER }))).toMatch(/^ERR_WIRE_TYPE/);
  });

  it('rejects identity, off-curve, unreduced and badly prefixed points at decode (A14)', () => {
    const bytes = encodeSchProof(proof);
    for (const [name, enc] of badPointEncodings(encodePoint(proof.A))) {
      const bad = Uint8Array.of(...bytes.subarray(0, 2), ...enc, ...bytes.subarray(35));
      expect(
        failure(() => decodeSchProof(bad)),
        name,
      ).toBe('ERR_WIRE_POINT_INVALID:pi-sch.A');
    }
  });

  it('rejects a proof with a missing field (A8)', () => {
    const A = encodePoint(proof.A);
    const z = toBytesBE(proof.z, 32);
    const withoutA = new WireWriter().u8(0x01).u8(1).fixed(z).finish();
    const withoutZ = new WireWriter().u8(0x01).u8(1).fixed(A).finish();
    expect(failure(() => decodeSchProof(withoutA))).toMatch(/^ERR_WIRE_/);
    expect(failure(() => decodeSchProof(withoutZ))).toMatch(/^ERR_WIRE_TRUNCATED/);
    expect(failure(() => decodeSchProof(Uint8Array.of(0x01, 1)))).toMatch(/^ERR_WIRE_TRUNCATED/);
  });

  it('round-trips the encoding of arbitrary valid proofs (property)', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 1n, max: CURVE_ORDER - 1n }),
        fc.bigInt({ min: 0n, max: CURVE_ORDER - 1n }),
        (a, z) => {
          const p: SchProof = { A: mulBase(a), z };
          const back = decodeSchProof(encodeSchProof(p));
          expect(back.A.equals(p.A) && back.z === z).toBe(true);
        },
      ),
      { numRuns: 40 },
    );
  });
});
