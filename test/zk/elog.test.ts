import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { mod, toBytesBE } from '../../src/math/bits.js';
import { CURVE_ORDER, encodePoint, G, mulBase, mulSecret, Point } from '../../src/primitives/curve.js';
import { WireWriter } from '../../src/util/wire.js';
import type { ProofContext } from '../../src/zk/common.js';
import {
  decodeElogProof,
  ELOG_PROOF_BYTES,
  type ElogProof,
  type ElogStatement,
  encodeElogProof,
  proveElog,
  verifyElog,
} from '../../src/zk/elog.js';
import { TestDrbg } from '../helpers/drbg.js';
import { failure } from '../helpers/failure.js';
import { sid } from '../helpers/keys.js';

const rng = new TestDrbg('elog');
const scalar = (): bigint => mod(rng.bits(256), CURVE_ORDER - 1n) + 1n;

/** An honest statement: (L, M) = ElGamal of y·G under X = x·G with nonce λ, and Y = y·h. */
function statement(y: bigint, lambda: bigint, h: Point): ElogStatement {
  const X = mulBase(scalar());
  return { L: mulBase(lambda), M: mulBase(y).add(mulSecret(X, lambda)), X, Y: mulSecret(h, y), h };
}

describe('Πelog (dlog with ElGamal commitment, CGGMP24 Fig. 23)', () => {
  const ctx: ProofContext = { sid: sid('session-elog'), prover: 2 };
  const y = scalar();
  const lambda = scalar();
  const Gamma = mulBase(0x1234567890abcdefn); // stands in for Γ (round 3 base)
  const st = statement(y, lambda, Gamma);
  const proof = proveElog(ctx, st, { y, lambda }, rng);

  it('verifies for honest inputs on random bases, through the codec (property)', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 1n, max: CURVE_ORDER - 1n }),
        fc.bigInt({ min: 1n, max: CURVE_ORDER - 1n }),
        (a, b) => {
          const s = statement(a, b, mulBase(scalar()));
          verifyElog(ctx, s, decodeElogProof(encodeElogProof(proveElog(ctx, s, { y: a, lambda: b }, rng))));
        },
      ),
      { numRuns: 20 },
    );
    verifyElog(ctx, st, proof);
    // Round-2 form: h = G.
    const s2 = statement(y, lambda, G);
    verifyElog(ctx, s2, proveElog(ctx, s2, { y, lambda }, rng));
  });

  it('rejects Y = y′·h with y′ ≠ the y inside (L, M): the check that binds Γ_i / Δ_i to the committed value', () => {
    // The attack of presigning: commit k in A_i, then publish Δ_i for another k′.
    const s: ElogStatement = { ...st, Y: mulSecret(Gamma, y + 1n) };
    expect(failure(() => verifyElog(ctx, s, proveElog(ctx, s, { y, lambda }, rng)))).toBe(
      'ERR_ZK_PROOF_INVALID:Y equation',
    );
    // Proving with y′ makes the M equation fail instead.
    expect(failure(() => verifyElog(ctx, s, proveElog(ctx, s, { y: y + 1n, lambda }, rng)))).toBe(
      'ERR_ZK_PROOF_INVALID:M equation',
    );
  });

  it('rejects an L whose discrete log is not the λ used in M', () => {
    const s: ElogStatement = { ...st, L: mulBase(lambda + 1n) };
    expect(failure(() => verifyElog(ctx, s, proveElog(ctx, s, { y, lambda }, rng)))).toBe(
      'ERR_ZK_PROOF_INVALID:L equation',
    );
  });

  it('binds the base h, the key X and the context (session, prover, label) through the challenge', () => {
    expect(failure(() => verifyElog(ctx, { ...st, h: G, Y: mulBase(y) }, proof))).toMatch(/equation/);
    expect(failure(() => verifyElog(ctx, { ...st, X: mulBase(5n) }, proof))).toMatch(/equation/);
    expect(failure(() => verifyElog({ ...ctx, sid: sid('other') }, st, proof))).toMatch(/equation/);
    expect(failure(() => verifyElog({ ...ctx, prover: 3 }, st, proof))).toMatch(/equation/);
    expect(failure(() => verifyElog({ ...ctx, label: 'x' }, st, proof))).toMatch(/equation/);
  });

  it('rejects each tampered response and commitment with the check that catches it', () => {
    const at = (patch: Partial<ElogProof>): string => failure(() => verifyElog(ctx, st, { ...proof, ...patch }));
    expect(at({ z: mod(proof.z + 1n, CURVE_ORDER) })).toBe('ERR_ZK_PROOF_INVALID:L equation');
    expect(at({ u: mod(proof.u + 1n, CURVE_ORDER) })).toBe('ERR_ZK_PROOF_INVALID:M equation');
    expect(at({ z: CURVE_ORDER })).toBe('ERR_ZK_PROOF_INVALID:z is not a canonical scalar');
    expect(at({ u: -1n })).toBe('ERR_ZK_PROOF_INVALID:u is not a canonical scalar');
    expect(at({ A: G })).toMatch(/equation/);
    expect(at({ N: G })).toMatch(/equation/);
    expect(at({ A: Point.ZERO })).toBe('ERR_ZK_PROOF_INVALID:A is the identity');
    expect(at({ N: Point.ZERO })).toBe('ERR_ZK_PROOF_INVALID:N is the identity');
    expect(at({ B: Point.ZERO })).toBe('ERR_ZK_PROOF_INVALID:B is the identity');
  });

  it('rejects a B chosen after the challenge: the Y equation is checked (forgery with y·h unknown)', () => {
    // A prover who knows (y, λ) for (L, M) but claims Y = 7·h: honest A, N; B solved from u·h = B + e·Y.
    // B is hashed, so fixing it after e changes e; the Y equation then fails.
    const s: ElogStatement = { ...st, Y: mulSecret(Gamma, 7n) };
    const p = proveElog(ctx, s, { y, lambda }, rng);
    expect(failure(() => verifyElog(ctx, s, p))).toBe('ERR_ZK_PROOF_INVALID:Y equation');
  });

  it('refuses identity points in the statement (prover and verifier)', () => {
    for (const k of ['L', 'M', 'X', 'Y', 'h'] as const) {
      expect(failure(() => verifyElog(ctx, { ...st, [k]: Point.ZERO }, proof))).toBe(
        `ERR_ZK_PROOF_INVALID:${k} is the identity`,
      );
      expect(failure(() => proveElog(ctx, { ...st, [k]: Point.ZERO }, { y, lambda }, rng))).toMatch(
        /^ERR_ZK_STATEMENT_INVALID/,
      );
    }
  });

  it('decodes strictly: exact length, tag, points and canonical scalars', () => {
    const bytes = encodeElogProof(proof);
    expect(bytes.length).toBe(ELOG_PROOF_BYTES);
    const back = decodeElogProof(bytes);
    expect(back.A.equals(proof.A) && back.N.equals(proof.N) && back.B.equals(proof.B)).toBe(true);
    expect([back.z, back.u]).toEqual([proof.z, proof.u]);
    for (let cut = 0; cut < bytes.length; cut += 7) {
      expect(failure(() => decodeElogProof(bytes.subarray(0, cut)))).toMatch(/^ERR_WIRE_TRUNCATED/);
    }
    expect(failure(() => decodeElogProof(Uint8Array.of(...bytes, 0)))).toMatch(
      /^ERR_WIRE_TOO_LARGE|^ERR_WIRE_TRAILING/,
    );
    expect(failure(() => decodeElogProof(Uint8Array.of(0x01, ...bytes.subarray(1))))).toMatch(/^ERR_WIRE_BAD_TAG/);
    const w = (z: bigint, N: Uint8Array = encodePoint(proof.N)): Uint8Array =>
      new WireWriter()
        .u8(0x09)
        .u8(1)
        .fixed(encodePoint(proof.A))
        .fixed(N)
        .fixed(encodePoint(proof.B))
        .fixed(toBytesBE(z, 32))
        .fixed(toBytesBE(proof.u, 32))
        .finish();
    expect(decodeElogProof(w(proof.z)).z).toBe(proof.z);
    expect(failure(() => decodeElogProof(w(CURVE_ORDER)))).toBe('ERR_WIRE_NON_CANONICAL:pi-elog.z');
    expect(failure(() => decodeElogProof(w(proof.z, new Uint8Array(33))))).toBe('ERR_WIRE_POINT_INVALID:pi-elog.N');
    expect(failure(() => decodeElogProof(w(proof.z, Uint8Array.of(0x02, ...toBytesBE(5n, 32)))))).toBe(
      'ERR_WIRE_POINT_INVALID:pi-elog.N',
    );
  });
});
