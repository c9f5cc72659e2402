import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { mod, toBytesBE } from '../../src/math/bits.js';
import { CURVE_ORDER, encodePoint, G, mulBase, mulPublic, mulSecret, Point } from '../../src/primitives/curve.js';
import { encrypt, encryptCrt, type PaillierSecretKey } from '../../src/primitives/paillier.js';
import { commit, powSigned, type RingPedersenParams } from '../../src/primitives/ring-pedersen.js';
import { WireWriter } from '../../src/util/wire.js';
import { type ProofContext, proofTranscript } from '../../src/zk/common.js';
import {
  decodeLogStarProof,
  encodeLogStarProof,
  type LogStarProof,
  type LogStarStatement,
  proveLogStar,
  verifyLogStar,
} from '../../src/zk/log-star.js';
import { CHALLENGE_BOUND, SECURITY } from '../../src/zk/params.js';
import { TestDrbg } from '../helpers/drbg.js';
import { failure } from '../helpers/failure.js';
import { math, partyKeys, sid } from '../helpers/keys.js';

/** 33-byte encodings that are not valid non-identity points (SECURITY.md A14). */
function badPointEncodings(valid: Uint8Array): Array<[string, Uint8Array]> {
  const p = Point.Fp.ORDER;
  const withX = (prefix: number, x: bigint): Uint8Array => Uint8Array.of(prefix, ...toBytesBE(x, 32));
  return [
    ['all zero (identity)', new Uint8Array(33)],
    ['x = p (not reduced)', withX(0x02, p)],
    ['x = 2^256 − 1', withX(0x03, (1n << 256n) - 1n)],
    ['off curve (x = 5 has no y)', withX(0x02, 5n)],
    ['invalid prefix 04', Uint8Array.of(0x04, ...valid.subarray(1))],
    ['invalid prefix 00', Uint8Array.of(0x00, ...valid.subarray(1))],
  ];
}

/** Encodes the proof's fields in wire order, leaving out field `skip` (A8: a missing field). */
function encodeWithout(p: LogStarProof, skip: keyof LogStarProof): Uint8Array {
  const w = new WireWriter().u8(0x04).u8(1);
  if (skip !== 'S') w.biguint(p.S);
  if (skip !== 'A') w.biguint(p.A);
  if (skip !== 'Y') w.fixed(encodePoint(p.Y));
  if (skip !== 'D') w.biguint(p.D);
  if (skip !== 'z1') w.bigint(p.z1);
  if (skip !== 'z2') w.biguint(p.z2);
  if (skip !== 'z3') w.bigint(p.z3);
  return w.finish();
}

describe('Πlog* (group element vs Paillier encryption in range)', () => {
  let prover: PaillierSecretKey;
  let aux: RingPedersenParams; // the verifier's ring-Pedersen parameters
  let otherAux: RingPedersenParams;
  const ctx: ProofContext = { sid: sid('session-log-star'), prover: 1 };
  const rng = new TestDrbg('log-star');
  let x: bigint;
  let rho: bigint;
  let st: LogStarStatement; // base G (ψ')
  let proof: LogStarProof;
  const Gamma = mulBase(0x1234567890abcdefn); // stands in for Γ = Σ γ_j·G

  beforeAll(async () => {
    prover = (await partyKeys(0)).sk;
    aux = (await partyKeys(1)).rp.params;
    otherAux = (await partyKeys(2)).rp.params;
    x = mod(rng.bits(255), CURVE_ORDER) || 1n;
    rho = math.randUnit(prover.pub.n, rng);
    st = { pk: prover.pub, C: encrypt(math, prover.pub, x, rho), X: mulBase(x), B: G };
    proof = proveLogStar(math, ctx, aux, st, { x, rho }, rng);
  });

  it('verifies for honest inputs across the plaintext range, with random bases, with and without CRT (property)', () => {
    const nonZeroModQ = (v: bigint): boolean => mod(v, CURVE_ORDER) !== 0n;
    fc.assert(
      fc.property(
        fc.bigInt({ min: -(1n << BigInt(SECURITY.ell)), max: 1n << BigInt(SECURITY.ell) }).filter(nonZeroModQ),
        fc.bigInt({ min: 1n, max: CURVE_ORDER - 1n }),
        fc.boolean(),
        (m, b, crt) => {
          const B = mulBase(b);
          const r = math.randUnit(prover.pub.n, rng);
          const C = crt ? encryptCrt(math, prover, m, r) : encrypt(math, prover.pub, m, r);
          const s: LogStarStatement = { pk: prover.pub, C, X: mulSecret(B, m), B };
          const p = proveLogStar(math, ctx, aux, s, { x: m, rho: r }, rng, crt ? prover : undefined);
          verifyLogStar(math, ctx, aux, s, decodeLogStarProof(encodeLogStarProof(p)));
        },
      ),
      { numRuns: 6 },
    );
  });

  it('binds the base point: a proof for base G (ψ′) does not verify for base Γ (ψ″) (PROTOCOL.md §5)', () => {
    // Same witness, statement re-based on Γ: X' = x·Γ. The challenge hashes B, so the proof fails.
    expect(failure(() => verifyLogStar(math, ctx, aux, { ...st, B: Gamma, X: mulSecret(Gamma, x) }, proof))).toMatch(
      /equation/,
    );
    // Base swapped, X kept.
    expect(failure(() => verifyLogStar(math, ctx, aux, { ...st, B: Gamma }, proof))).toMatch(/equation/);
    // And the other way: a ψ″-style proof on Γ does not verify on G.
    const sGamma: LogStarStatement = { ...st, B: Gamma, X: mulSecret(Gamma, x) };
    const pGamma = proveLogStar(math, ctx, aux, sGamma, { x, rho }, rng);
    verifyLogStar(math, ctx, aux, sGamma, pGamma);
    expect(failure(() => verifyLogStar(math, ctx, aux, { ...sGamma, B: G, X: st.X }, pGamma))).toMatch(/equation/);
  });

  it('rejects a base point chosen after the challenge (why B is hashed: Frozen Heart, A10)', () => {
    // A cheating prover knows x inside C but claims X = 7·G with x ≠ 7. If B were not hashed, it could
    // run the honest commit, take e, then solve z1·B′ = Y + e·X for B′ = z1⁻¹·(Y + e·X).
    const { ell, epsilon } = SECURITY;
    const n0 = prover.pub.n;
    const X = mulBase(7n);
    const alpha = math.randBelow(1n << BigInt(ell + epsilon), rng);
    const mu = math.randBelow((1n << BigInt(ell)) * aux.n, rng);
    const gamma = math.randBelow((1n << BigInt(ell + epsilon)) * aux.n, rng);
    const r = math.randUnit(n0, rng);
    const S = commit(math, aux, x, mu, true);
    const A = math.mulMod(1n + alpha * n0, math.powmSec(r, n0, prover.pub.n2), prover.pub.n2);
    const Y = mulBase(0xfeedn);
    const D = commit(math, aux, alpha, gamma, true);
    // The implementation's transcript with B left out.
    const e = proofTranscript('pi-log-star', ctx)
      .uint('aux.N', aux.n)
      .uint('aux.s', aux.s)
      .uint('aux.t', aux.t)
      .uint('N0', n0)
      .uint('C', st.C)
      .point('X', encodePoint(X))
      .uint('S', S)
      .uint('A', A)
      .point('Y', encodePoint(Y))
      .uint('D', D)
      .challengeRng('e')
      .signed(CHALLENGE_BOUND);
    const z1 = alpha + e * x;
    const forged: LogStarProof = {
      S,
      A,
      Y,
      D,
      z1,
      z2: math.mulMod(r, powSigned(math, rho, e, n0, true), n0),
      z3: gamma + e * mu,
    };
    const Bprime = Y.add(mulPublic(X, e)).multiply(math.invMod(mod(z1, CURVE_ORDER), CURVE_ORDER));
    expect(mulPublic(Bprime, z1).equals(Y.add(mulPublic(X, e)))).toBe(true); // the relation the forger needs
    expect(failure(() => verifyLogStar(math, ctx, aux, { ...st, X, B: Bprime }, forged))).toMatch(/equation/);
  });

  it('rejects a plaintext outside ±2^ℓ: a prover cannot prove a large x', () => {
    const big = 1n << BigInt(SECURITY.ell + SECURITY.epsilon + 2);
    const s: LogStarStatement = { ...st, C: encrypt(math, prover.pub, big, rho), X: mulBase(big) };
    const p = proveLogStar(math, ctx, aux, s, { x: big, rho }, rng);
    expect(failure(() => verifyLogStar(math, ctx, aux, s, p))).toBe('ERR_ZK_PROOF_INVALID:z1 out of range');
  });

  it('rejects a proof whose X does not match the encrypted x (the check that makes Δ_i = k_i·Γ sound)', () => {
    const s: LogStarStatement = { ...st, X: mulBase(x + 1n) };
    const p = proveLogStar(math, ctx, aux, s, { x, rho }, rng);
    expect(failure(() => verifyLogStar(math, ctx, aux, s, p))).toBe('ERR_ZK_PROOF_INVALID:curve equation');
  });

  it('rejects the proof replayed under another session id, prover index or label (A11, A7)', () => {
    expect(failure(() => verifyLogStar(math, { ...ctx, sid: sid('session-other') }, aux, st, proof))).toMatch(
      /equation/,
    );
    expect(failure(() => verifyLogStar(math, { ...ctx, prover: 2 }, aux, st, proof))).toMatch(/equation/);
    expect(failure(() => verifyLogStar(math, { ...ctx, label: 'psi-double-prime' }, aux, st, proof))).toMatch(
      /equation/,
    );
  });

  it("rejects the proof verified against another party's key, ciphertext, point or verifier parameters (A7, A10)", async () => {
    const other = (await partyKeys(3)).sk;
    expect(failure(() => verifyLogStar(math, ctx, aux, { ...st, pk: other.pub }, proof))).not.toBe('accepted');
    const C2 = encrypt(math, prover.pub, x, math.randUnit(prover.pub.n, rng));
    expect(failure(() => verifyLogStar(math, ctx, aux, { ...st, C: C2 }, proof))).toMatch(/equation/);
    expect(failure(() => verifyLogStar(math, ctx, aux, { ...st, X: mulBase(x + 1n) }, proof))).toMatch(/equation/);
    expect(failure(() => verifyLogStar(math, ctx, otherAux, st, proof))).not.toBe('accepted');
  });

  it('rejects every response and commitment set to 0, 1, the bound, bound + 1 and the modulus (A6)', () => {
    const n0 = prover.pub.n;
    const rangeBound = 1n << BigInt(SECURITY.ell + SECURITY.epsilon);
    const z3Bound = (1n << BigInt(SECURITY.ell + SECURITY.epsilon + 1)) * aux.n;
    const values: Record<Exclude<keyof LogStarProof, 'Y'>, bigint[]> = {
      S: [0n, 1n, aux.n, aux.n + 1n, aux.n - 1n],
      A: [0n, 1n, prover.pub.n2, prover.pub.n, prover.pub.n2 + 1n],
      D: [0n, 1n, aux.n, aux.n + 1n],
      z1: [0n, 1n, -1n, rangeBound, -rangeBound, rangeBound + 1n, -rangeBound - 1n, n0],
      z2: [0n, 1n, n0, n0 + 1n, n0 - 1n],
      z3: [0n, 1n, aux.n, -aux.n, z3Bound + 1n, -z3Bound - 1n],
    };
    for (const [field, vs] of Object.entries(values) as Array<[keyof typeof values, bigint[]]>) {
      for (const v of vs) {
        if (v === proof[field]) continue;
        expect(
          failure(() => verifyLogStar(math, ctx, aux, st, { ...proof, [field]: v })),
          `${field}=${v}`,
        ).toMatch(/^ERR_ZK_PROOF_INVALID:/);
      }
    }
    const at = (patch: Partial<LogStarProof>): string =>
      failure(() => verifyLogStar(math, ctx, aux, st, { ...proof, ...patch }));
    expect(at({ z1: rangeBound + 1n })).toBe('ERR_ZK_PROOF_INVALID:z1 out of range');
    expect(at({ z3: z3Bound + 1n })).toBe('ERR_ZK_PROOF_INVALID:z3 out of range');
    expect(at({ z2: n0 })).toBe('ERR_ZK_PROOF_INVALID:z2 is not in Z*_{N0}');
    expect(at({ z2: prover.p })).toBe('ERR_ZK_PROOF_INVALID:z2 is not in Z*_{N0}');
    expect(at({ A: prover.pub.n2 })).toBe('ERR_ZK_PROOF_INVALID:A is not in Z*_{N0²}');
    expect(at({ S: 0n })).toBe('ERR_ZK_PROOF_INVALID:S is not in Z*_N̂');
    expect(at({ D: aux.n })).toBe('ERR_ZK_PROOF_INVALID:D is not in Z*_N̂');
    // The curve commitment: identity, G and −Y.
    expect(at({ Y: Point.ZERO })).toBe('ERR_ZK_PROOF_INVALID:Y is the identity');
    expect(at({ Y: G })).toMatch(/equation/);
    expect(at({ Y: proof.Y.negate() })).toMatch(/equation/);
  });

  it('rejects a ciphertext outside Z*_{N²} and identity points in the statement (A15, A14)', () => {
    for (const bad of [0n, prover.pub.n2, prover.pub.n * 5n, prover.p * 7n, prover.pub.n2 + 1n]) {
      expect(failure(() => verifyLogStar(math, ctx, aux, { ...st, C: bad }, proof))).toBe(
        'ERR_ZK_PROOF_INVALID:C is not in Z*_{N0²}',
      );
    }
    expect(failure(() => verifyLogStar(math, ctx, aux, { ...st, X: Point.ZERO }, proof))).toBe(
      'ERR_ZK_PROOF_INVALID:X is the identity',
    );
    expect(failure(() => verifyLogStar(math, ctx, aux, { ...st, B: Point.ZERO }, proof))).toBe(
      'ERR_ZK_PROOF_INVALID:B is the identity',
    );
  });

  it('refuses to prove for identity points or with a secret key that is not the statement key', async () => {
    expect(failure(() => proveLogStar(math, ctx, aux, { ...st, X: Point.ZERO }, { x, rho }, rng))).toMatch(
      /^ERR_ZK_STATEMENT_INVALID/,
    );
    expect(failure(() => proveLogStar(math, ctx, aux, { ...st, B: Point.ZERO }, { x, rho }, rng))).toMatch(
      /^ERR_ZK_STATEMENT_INVALID/,
    );
    const other = (await partyKeys(3)).sk;
    expect(failure(() => proveLogStar(math, ctx, aux, st, { x, rho }, rng, other))).toMatch(
      /^ERR_ZK_STATEMENT_INVALID/,
    );
  });

  it('decodes strictly: truncation, trailing bytes, wrong tag, non-canonical and oversize fields are typed errors', () => {
    const bytes = encodeLogStarProof(proof);
    const back = decodeLogStarProof(bytes);
    expect(back.Y.equals(proof.Y)).toBe(true);
    expect({ ...back, Y: null }).toEqual({ ...proof, Y: null });
    for (let cut = 0; cut < bytes.length; cut += Math.max(1, Math.floor(bytes.length / 97))) {
      expect(failure(() => decodeLogStarProof(bytes.subarray(0, cut)))).toMatch(/^ERR_WIRE_TRUNCATED/);
    }
    expect(failure(() => decodeLogStarProof(bytes.subarray(0, bytes.length - 1)))).toMatch(/^ERR_WIRE_TRUNCATED/);
    expect(failure(() => decodeLogStarProof(Uint8Array.of(...bytes, 0)))).toMatch(/^ERR_WIRE_TRAILING_BYTES/);
    expect(failure(() => decodeLogStarProof(Uint8Array.of(0x02, ...bytes.subarray(1))))).toMatch(/^ERR_WIRE_BAD_TAG/);
    expect(failure(() => decodeLogStarProof(Uint8Array.of(0x04, 0x02, ...bytes.subarray(2))))).toMatch(
      /^ERR_WIRE_BAD_TAG/,
    );
    // S with a leading zero byte: same value, second encoding → refused.
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
    expect(failure(() => decodeLogStarProof(nonCanonical))).toMatch(/^ERR_WIRE_NON_CANONICAL/);
    // A length prefix of 2^32 − 1 is refused before any allocation.
    const huge = Uint8Array.of(...bytes.subarray(0, 2), 0xff, 0xff, 0xff, 0xff, ...bytes.subarray(6));
    expect(failure(() => decodeLogStarProof(huge))).toMatch(/^ERR_WIRE_BAD_LENGTH/);
    expect(failure(() => decodeLogStarProof(new Uint8Array(1 << 20)))).toMatch(/^ERR_WIRE_TOO_LARGE/);
    // z1 one bit above the cap of ℓ + ε + 1 bits, and a negative zero: refused by the decoder.
    const w = (z1: bigint, negZero = false): Uint8Array => {
      const out = new WireWriter().u8(0x04).u8(1).biguint(proof.S).biguint(proof.A).fixed(encodePoint(proof.Y));
      out.biguint(proof.D);
      if (negZero) out.u8(1).bytes(new Uint8Array(0));
      else out.bigint(z1);
      return out.biguint(proof.z2).bigint(proof.z3).finish();
    };
    expect(failure(() => decodeLogStarProof(w(1n << BigInt(SECURITY.ell + SECURITY.epsilon + 1))))).toMatch(
      /^ERR_WIRE_BIGINT_TOO_LARGE/,
    );
    expect(failure(() => decodeLogStarProof(w(0n, true)))).toMatch(/^ERR_WIRE_NON_CANONICAL/);
    expect(decodeLogStarProof(w(proof.z1)).z1).toBe(proof.z1);
  });

  it('rejects identity, off-curve, unreduced and badly prefixed points for Y at decode (A14)', () => {
    const bytes = encodeLogStarProof(proof);
    // Y follows tag, version, S (u32 length ‖ bytes) and A (u32 length ‖ bytes).
    const sLen = new DataView(bytes.buffer, bytes.byteOffset).getUint32(2);
    const aLen = new DataView(bytes.buffer, bytes.byteOffset).getUint32(2 + 4 + sLen);
    const off = 2 + 4 + sLen + 4 + aLen;
    expect(Uint8Array.from(bytes.subarray(off, off + 33))).toEqual(encodePoint(proof.Y));
    for (const [name, enc] of badPointEncodings(encodePoint(proof.Y))) {
      const bad = Uint8Array.of(...bytes.subarray(0, off), ...enc, ...bytes.subarray(off + 33));
      expect(
        failure(() => decodeLogStarProof(bad)),
        name,
      ).toBe('ERR_WIRE_POINT_INVALID:pi-log-star.Y');
    }
  });

  it('rejects a proof with any field missing (A8)', () => {
    expect(decodeLogStarProof(encodeWithout(proof, 'nothing' as keyof LogStarProof)).z3).toBe(proof.z3);
    for (const field of ['S', 'A', 'Y', 'D', 'z1', 'z2', 'z3'] as const) {
      expect(
        failure(() => decodeLogStarProof(encodeWithout(proof, field))),
        field,
      ).toMatch(/^ERR_WIRE_/);
    }
  });
});
