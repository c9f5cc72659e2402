import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { mod, toBytesBE } from '../../src/math/bits.js';
import { CURVE_ORDER, encodePoint, G, mulBase, Point } from '../../src/primitives/curve.js';
import {
  add,
  decrypt,
  encrypt,
  encryptCrt,
  type PaillierPublicKey,
  type PaillierSecretKey,
  scalarMul,
} from '../../src/primitives/paillier.js';
import type { RingPedersenParams } from '../../src/primitives/ring-pedersen.js';
import { WireWriter } from '../../src/util/wire.js';
import {
  type AffGProof,
  type AffGStatement,
  type AffGWitness,
  decodeAffGProof,
  encodeAffGProof,
  proveAffG,
  verifyAffG,
} from '../../src/zk/aff-g.js';
import type { ProofContext } from '../../src/zk/common.js';
import { SECURITY } from '../../src/zk/params.js';
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

const FIELDS = ['A', 'Bx', 'By', 'E', 'S', 'F', 'T', 'z1', 'z2', 'z3', 'z4', 'w', 'wy'] as const;
const SIGNED = new Set<string>(['z1', 'z2', 'z3', 'z4']);

/** Encodes the proof's fields in wire order, leaving out field `skip` (A8: a missing field). */
function encodeWithout(p: AffGProof, skip: (typeof FIELDS)[number] | null): Uint8Array {
  const w = new WireWriter().u8(0x03).u8(1);
  for (const f of FIELDS) {
    if (f === skip) continue;
    if (f === 'Bx') w.fixed(encodePoint(p.Bx));
    else if (SIGNED.has(f)) w.bigint(p[f]);
    else w.biguint(p[f]);
  }
  return w.finish();
}

describe('Πaff-g (Paillier affine operation with group commitment, in range)', () => {
  let proverSk: PaillierSecretKey; // N1: the prover's own key
  let pk0: PaillierPublicKey; // N0: the verifier's key (C, D under it)
  let verifierSk: PaillierSecretKey;
  let aux: RingPedersenParams; // the verifier's ring-Pedersen parameters (N̂ = N0 as in the protocol)
  let otherAux: RingPedersenParams;
  let other: PaillierSecretKey;
  const ctx: ProofContext = { sid: sid('session-aff-g'), prover: 1, label: 'not-hat' };
  const rng = new TestDrbg('aff-g');
  let K: bigint; // C = K_j = enc_{N0}(k; ·), the verifier's round-1 ciphertext
  let st: AffGStatement;
  let wit: AffGWitness;
  let proof: AffGProof;

  /** Builds a statement the way presigning round 2 does: D = (x ⊙ C) ⊕ enc_{N0}(y; ρ), Y = enc_{N1}(y; ρ_y), X = x·G. */
  function statement(x: bigint, y: bigint, C = K): { st: AffGStatement; w: AffGWitness } {
    const rho = math.randUnit(pk0.n, rng);
    const rhoY = math.randUnit(proverSk.pub.n, rng);
    const D = add(math, pk0, scalarMul(math, pk0, x, C), encrypt(math, pk0, y, rho));
    const Y = encryptCrt(math, proverSk, y, rhoY);
    return { st: { pk0, pk1: proverSk.pub, C, D, Y, X: mulBase(x) }, w: { x, y, rho, rhoY } };
  }

  beforeAll(async () => {
    proverSk = (await partyKeys(0)).sk;
    const verifier = await partyKeys(1);
    verifierSk = verifier.sk;
    pk0 = verifier.sk.pub;
    aux = verifier.rp.params;
    const third = await partyKeys(2);
    other = third.sk;
    otherAux = third.rp.params;
    K = encrypt(math, pk0, mod(rng.bits(256), CURVE_ORDER), math.randUnit(pk0.n, rng));
    const beta = rng.bits(SECURITY.ellPrime);
    ({ st, w: wit } = statement(mod(rng.bits(256), CURVE_ORDER) || 1n, -beta));
    proof = proveAffG(math, ctx, aux, st, wit, rng, proverSk);
  });

  it('verifies for honest inputs across both plaintext ranges, with and without the CRT key (property)', () => {
    const nonZeroModQ = (v: bigint): boolean => mod(v, CURVE_ORDER) !== 0n;
    fc.assert(
      fc.property(
        fc.bigInt({ min: -(1n << BigInt(SECURITY.ell)), max: 1n << BigInt(SECURITY.ell) }).filter(nonZeroModQ),
        fc.bigInt({ min: -(1n << BigInt(SECURITY.ellPrime)), max: 1n << BigInt(SECURITY.ellPrime) }),
        fc.boolean(),
        (x, y, crt) => {
          const { st: s, w } = statement(x, y);
          const p = proveAffG(math, ctx, aux, s, w, rng, crt ? proverSk : undefined);
          verifyAffG(math, ctx, aux, s, decodeAffGProof(encodeAffGProof(p)));
        },
      ),
      { numRuns: 5 },
    );
  });

  it('is the MtA of presigning: the verifier decrypts D to x·k + y over the integers', () => {
    const k = 0x1122334455667788n;
    const C = encrypt(math, pk0, k, math.randUnit(pk0.n, rng));
    const x = 0x0badc0ffeen;
    const y = -(1n << 800n) - 12345n;
    const { st: s, w } = statement(x, y, C);
    verifyAffG(math, ctx, aux, s, proveAffG(math, ctx, aux, s, w, rng));
    expect(decrypt(math, verifierSk, s.D)).toBe(x * k + y);
  });

  it('rejects x outside ±2^ℓ and y outside ±2^ℓ′ by the range checks (checks 6 and 7)', () => {
    const bigX = 1n << BigInt(SECURITY.ell + SECURITY.epsilon + 2);
    const a = statement(bigX, wit.y);
    const pa = proveAffG(math, ctx, aux, a.st, a.w, rng, proverSk);
    expect(failure(() => verifyAffG(math, ctx, aux, a.st, pa))).toBe('ERR_ZK_PROOF_INVALID:z1 out of range');
    const bigY = -(1n << BigInt(SECURITY.ellPrime + SECURITY.epsilon + 2));
    const b = statement(wit.x, bigY);
    const pb = proveAffG(math, ctx, aux, b.st, b.w, rng, proverSk);
    expect(failure(() => verifyAffG(math, ctx, aux, b.st, pb))).toBe('ERR_ZK_PROOF_INVALID:z2 out of range');
  });

  it('rejects a witness inconsistent with the statement (X for another x; Y for another y)', () => {
    const s1: AffGStatement = { ...st, X: mulBase(wit.x + 1n) };
    expect(failure(() => verifyAffG(math, ctx, aux, s1, proveAffG(math, ctx, aux, s1, wit, rng)))).toBe(
      'ERR_ZK_PROOF_INVALID:curve equation',
    );
    const s2: AffGStatement = { ...st, Y: encrypt(math, proverSk.pub, wit.y + 1n, wit.rhoY) };
    expect(failure(() => verifyAffG(math, ctx, aux, s2, proveAffG(math, ctx, aux, s2, wit, rng)))).toBe(
      'ERR_ZK_PROOF_INVALID:Paillier equation (N1)',
    );
  });

  it('binds Y in the challenge: Y·v^N1 with w_y·v^e (a maul anyone can do) is refused', () => {
    // With v = −1: v^N1 = −1 mod N1² (N1 odd) and v^e = ±1 by the parity of e, so the mauled pair
    // (−Y, ±w_y) satisfies check 3 for the same e. Only hashing Y into e stops it; the attacker
    // does not know e's parity, so both candidates are tried and both must be refused.
    const n1 = proverSk.pub.n;
    const mauled: AffGStatement = { ...st, Y: proverSk.pub.n2 - st.Y };
    expect(verifyAffG(math, ctx, aux, st, proof)).toBeUndefined();
    for (const wy of [proof.wy, n1 - proof.wy]) {
      expect(failure(() => verifyAffG(math, ctx, aux, mauled, { ...proof, wy }))).toMatch(
        /^ERR_ZK_PROOF_INVALID:.*equation/,
      );
    }
  });

  it('rejects the proof replayed under another session id, prover index or label (hat vs not-hat) (A11, A7)', () => {
    expect(failure(() => verifyAffG(math, { ...ctx, sid: sid('session-other') }, aux, st, proof))).toMatch(/equation/);
    expect(failure(() => verifyAffG(math, { ...ctx, prover: 2 }, aux, st, proof))).toMatch(/equation/);
    expect(failure(() => verifyAffG(math, { ...ctx, label: 'hat' }, aux, st, proof))).toMatch(/equation/);
    expect(failure(() => verifyAffG(math, { sid: ctx.sid, prover: ctx.prover }, aux, st, proof))).toMatch(/equation/);
  });

  it("rejects the proof verified against another party's key, ciphertext, point or verifier parameters (A7, A10)", () => {
    const at = (s: Partial<AffGStatement>, a = aux): string =>
      failure(() => verifyAffG(math, ctx, a, { ...st, ...s }, proof));
    expect(at({ pk0: other.pub })).not.toBe('accepted');
    expect(at({ pk1: other.pub })).not.toBe('accepted');
    expect(at({ pk0: proverSk.pub, pk1: pk0 })).not.toBe('accepted'); // roles swapped
    expect(at({ C: encrypt(math, pk0, 5n, math.randUnit(pk0.n, rng)) })).toMatch(/equation/);
    expect(at({ D: math.mulMod(st.D, encrypt(math, pk0, 0n, math.randUnit(pk0.n, rng)), pk0.n2) })).toMatch(/equation/);
    expect(at({ Y: encrypt(math, proverSk.pub, wit.y, math.randUnit(proverSk.pub.n, rng)) })).toMatch(/equation/);
    expect(at({ X: mulBase(wit.x + 1n) })).toMatch(/equation/);
    expect(at({ X: st.X.negate() })).toMatch(/equation/);
    expect(at({}, otherAux)).not.toBe('accepted');
  });

  it('rejects every response and commitment set to 0, 1, the bound, bound + 1 and the modulus (A6)', () => {
    const n0 = pk0.n;
    const n1 = proverSk.pub.n;
    const b1 = 1n << BigInt(SECURITY.ell + SECURITY.epsilon);
    const b2 = 1n << BigInt(SECURITY.ellPrime + SECURITY.epsilon);
    const b34 = (1n << BigInt(SECURITY.ell + SECURITY.epsilon + 1)) * aux.n;
    const values: Record<Exclude<keyof AffGProof, 'Bx'>, bigint[]> = {
      A: [0n, 1n, pk0.n2, n0, pk0.n2 + 1n],
      By: [0n, 1n, proverSk.pub.n2, n1, proverSk.pub.n2 + 1n],
      E: [0n, 1n, aux.n, aux.n + 1n],
      S: [0n, 1n, aux.n, aux.n + 1n],
      F: [0n, 1n, aux.n, aux.n + 1n],
      T: [0n, 1n, aux.n, aux.n + 1n],
      z1: [0n, 1n, b1, -b1, b1 + 1n, -b1 - 1n, n0],
      z2: [0n, 1n, b2, -b2, b2 + 1n, -b2 - 1n, n0],
      z3: [0n, 1n, aux.n, -aux.n, b34 + 1n, -b34 - 1n],
      z4: [0n, 1n, aux.n, -aux.n, b34 + 1n, -b34 - 1n],
      w: [0n, 1n, n0, n0 + 1n],
      wy: [0n, 1n, n1, n1 + 1n],
    };
    for (const [field, vs] of Object.entries(values) as Array<[keyof typeof values, bigint[]]>) {
      for (const v of vs) {
        if (v === proof[field]) continue;
        expect(
          failure(() => verifyAffG(math, ctx, aux, st, { ...proof, [field]: v })),
          `${field}=${v}`,
        ).toMatch(/^ERR_ZK_PROOF_INVALID:/);
      }
    }
    const at = (patch: Partial<AffGProof>): string =>
      failure(() => verifyAffG(math, ctx, aux, st, { ...proof, ...patch }));
    expect(at({ z1: b1 + 1n })).toBe('ERR_ZK_PROOF_INVALID:z1 out of range');
    expect(at({ z1: -b1 - 1n })).toBe('ERR_ZK_PROOF_INVALID:z1 out of range');
    expect(at({ z2: b2 + 1n })).toBe('ERR_ZK_PROOF_INVALID:z2 out of range');
    expect(at({ z3: b34 + 1n })).toBe('ERR_ZK_PROOF_INVALID:z3 out of range');
    expect(at({ z4: -b34 - 1n })).toBe('ERR_ZK_PROOF_INVALID:z4 out of range');
    expect(at({ w: n0 })).toBe('ERR_ZK_PROOF_INVALID:w is not in Z*_{N0}');
    expect(at({ w: verifierSk.q })).toBe('ERR_ZK_PROOF_INVALID:w is not in Z*_{N0}');
    expect(at({ wy: n1 })).toBe('ERR_ZK_PROOF_INVALID:wy is not in Z*_{N1}');
    expect(at({ A: n0 })).toBe('ERR_ZK_PROOF_INVALID:A is not in Z*_{N0²}');
    expect(at({ By: proverSk.pub.n2 })).toBe('ERR_ZK_PROOF_INVALID:By is not in Z*_{N1²}');
    expect(at({ E: 0n })).toBe('ERR_ZK_PROOF_INVALID:E is not in Z*_N̂');
    expect(at({ S: aux.n })).toBe('ERR_ZK_PROOF_INVALID:S is not in Z*_N̂');
    expect(at({ F: aux.n + 1n })).toBe('ERR_ZK_PROOF_INVALID:F is not in Z*_N̂');
    expect(at({ T: 0n })).toBe('ERR_ZK_PROOF_INVALID:T is not in Z*_N̂');
    // The curve commitment B_x: identity, G and −B_x.
    expect(at({ Bx: Point.ZERO })).toBe('ERR_ZK_PROOF_INVALID:Bx is the identity');
    expect(at({ Bx: G })).toMatch(/equation/);
    expect(at({ Bx: proof.Bx.negate() })).toMatch(/equation/);
    // Each equation checked on its own: a change that keeps the challenge but breaks one relation.
    expect(at({ z3: proof.z3 + 1n })).toBe('ERR_ZK_PROOF_INVALID:ring-Pedersen equation (E, S)');
    expect(at({ z4: proof.z4 + 1n })).toBe('ERR_ZK_PROOF_INVALID:ring-Pedersen equation (F, T)');
    expect(at({ wy: math.mulMod(proof.wy, 2n, n1) })).toBe('ERR_ZK_PROOF_INVALID:Paillier equation (N1)');
    expect(at({ w: math.mulMod(proof.w, 2n, n0) })).toBe('ERR_ZK_PROOF_INVALID:Paillier equation (N0)');
  });

  it('rejects ciphertexts outside Z*_{N²} and an identity X in the statement (A15, A14)', () => {
    for (const bad of [0n, pk0.n2, pk0.n * 5n, verifierSk.p * 7n, pk0.n2 + 1n]) {
      expect(failure(() => verifyAffG(math, ctx, aux, { ...st, C: bad }, proof))).toBe(
        'ERR_ZK_PROOF_INVALID:C is not in Z*_{N0²}',
      );
      expect(failure(() => verifyAffG(math, ctx, aux, { ...st, D: bad }, proof))).toBe(
        'ERR_ZK_PROOF_INVALID:D is not in Z*_{N0²}',
      );
    }
    const n1 = proverSk.pub;
    for (const bad of [0n, n1.n2, n1.n * 5n, proverSk.q * 3n, n1.n2 + 1n]) {
      expect(failure(() => verifyAffG(math, ctx, aux, { ...st, Y: bad }, proof))).toBe(
        'ERR_ZK_PROOF_INVALID:Y is not in Z*_{N1²}',
      );
    }
    expect(failure(() => verifyAffG(math, ctx, aux, { ...st, X: Point.ZERO }, proof))).toBe(
      'ERR_ZK_PROOF_INVALID:X is the identity',
    );
  });

  it('refuses to prove for an identity X or with a secret key that is not N1', () => {
    expect(failure(() => proveAffG(math, ctx, aux, { ...st, X: Point.ZERO }, wit, rng))).toMatch(
      /^ERR_ZK_STATEMENT_INVALID/,
    );
    expect(failure(() => proveAffG(math, ctx, aux, st, wit, rng, other))).toMatch(/^ERR_ZK_STATEMENT_INVALID/);
  });

  it('decodes strictly: truncation, trailing bytes, wrong tag, non-canonical and oversize fields are typed errors', () => {
    const bytes = encodeAffGProof(proof);
    const back = decodeAffGProof(bytes);
    expect(back.Bx.equals(proof.Bx)).toBe(true);
    expect({ ...back, Bx: null }).toEqual({ ...proof, Bx: null });
    for (let cut = 0; cut < bytes.length; cut += Math.max(1, Math.floor(bytes.length / 97))) {
      expect(failure(() => decodeAffGProof(bytes.subarray(0, cut)))).toMatch(/^ERR_WIRE_TRUNCATED/);
    }
    expect(failure(() => decodeAffGProof(bytes.subarray(0, bytes.length - 1)))).toMatch(/^ERR_WIRE_TRUNCATED/);
    expect(failure(() => decodeAffGProof(Uint8Array.of(...bytes, 0)))).toMatch(/^ERR_WIRE_TRAILING_BYTES/);
    expect(failure(() => decodeAffGProof(Uint8Array.of(0x02, ...bytes.subarray(1))))).toMatch(/^ERR_WIRE_BAD_TAG/);
    expect(failure(() => decodeAffGProof(Uint8Array.of(0x03, 0x02, ...bytes.subarray(2))))).toMatch(
      /^ERR_WIRE_BAD_TAG/,
    );
    // A with a leading zero byte: same value, second encoding → refused.
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
    expect(failure(() => decodeAffGProof(nonCanonical))).toMatch(/^ERR_WIRE_NON_CANONICAL/);
    // A length prefix of 2^32 − 1 is refused before any allocation.
    const huge = Uint8Array.of(...bytes.subarray(0, 2), 0xff, 0xff, 0xff, 0xff, ...bytes.subarray(6));
    expect(failure(() => decodeAffGProof(huge))).toMatch(/^ERR_WIRE_BAD_LENGTH/);
    expect(failure(() => decodeAffGProof(new Uint8Array(1 << 20)))).toMatch(/^ERR_WIRE_TOO_LARGE/);
    // z2 one bit above its cap of ℓ′ + ε + 1 bits is refused by the decoder, before any arithmetic.
    const tooBig = encodeAffGProof({ ...proof, z2: 1n << BigInt(SECURITY.ellPrime + SECURITY.epsilon + 1) });
    expect(failure(() => decodeAffGProof(tooBig))).toBe('ERR_WIRE_BIGINT_TOO_LARGE:pi-aff-g.z2');
    const z1TooBig = encodeAffGProof({ ...proof, z1: -(1n << BigInt(SECURITY.ell + SECURITY.epsilon + 1)) });
    expect(failure(() => decodeAffGProof(z1TooBig))).toBe('ERR_WIRE_BIGINT_TOO_LARGE:pi-aff-g.z1');
  });

  it('rejects identity, off-curve, unreduced and badly prefixed points for B_x at decode (A14)', () => {
    const bytes = encodeAffGProof(proof);
    // B_x follows tag, version and A (u32 length ‖ bytes).
    const off = 2 + 4 + new DataView(bytes.buffer, bytes.byteOffset).getUint32(2);
    expect(Uint8Array.from(bytes.subarray(off, off + 33))).toEqual(encodePoint(proof.Bx));
    for (const [name, enc] of badPointEncodings(encodePoint(proof.Bx))) {
      const bad = Uint8Array.of(...bytes.subarray(0, off), ...enc, ...bytes.subarray(off + 33));
      expect(
        failure(() => decodeAffGProof(bad)),
        name,
      ).toBe('ERR_WIRE_POINT_INVALID:pi-aff-g.Bx');
    }
  });

  it('rejects a proof with any field missing (A8)', () => {
    expect(encodeWithout(proof, null)).toEqual(encodeAffGProof(proof));
    for (const field of FIELDS) {
      expect(
        failure(() => decodeAffGProof(encodeWithout(proof, field))),
        field,
      ).toMatch(/^ERR_WIRE_/);
    }
  });
});
