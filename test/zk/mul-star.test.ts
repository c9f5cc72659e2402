import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { mod } from '../../src/math/bits.js';
import { CURVE_ORDER, G, mulBase, Point } from '../../src/primitives/curve.js';
import { encrypt, type PaillierPublicKey, type PaillierSecretKey, scalarMul } from '../../src/primitives/paillier.js';
import type { RingPedersenParams } from '../../src/primitives/ring-pedersen.js';
import { WireWriter } from '../../src/util/wire.js';
import type { ProofContext } from '../../src/zk/common.js';
import {
  decodeMulStarProof,
  encodeMulStarProof,
  type MulStarProof,
  type MulStarStatement,
  type MulStarWitness,
  proveMulStar,
  verifyMulStar,
} from '../../src/zk/mul-star.js';
import { SECURITY } from '../../src/zk/params.js';
import { TestDrbg } from '../helpers/drbg.js';
import { failure } from '../helpers/failure.js';
import { math, partyKeys, sid } from '../helpers/keys.js';

/** D = C^x · ρ^N mod N². */
function mulCiphertext(pk: PaillierPublicKey, C: bigint, x: bigint, rho: bigint): bigint {
  return math.mulMod(scalarMul(math, pk, x, C), math.powmSec(rho, pk.n, pk.n2), pk.n2);
}

describe('Πmul* (multiplication, Paillier vs group)', () => {
  let sk: PaillierSecretKey;
  let pk: PaillierPublicKey;
  let aux: RingPedersenParams; // the verifier's ring-Pedersen parameters
  let otherAux: RingPedersenParams;
  const ctx: ProofContext = { sid: sid('session-mul-star'), prover: 1 };
  const rng = new TestDrbg('mul-star');
  let st: MulStarStatement;
  let wit: MulStarWitness;
  let proof: MulStarProof;

  /** A statement for x (x ≢ 0 mod q) with a fresh C and nonce. */
  function instance(x: bigint): { st: MulStarStatement; wit: MulStarWitness } {
    const rho = math.randUnit(pk.n, rng);
    const C = encrypt(math, pk, rng.bits(255), math.randUnit(pk.n, rng));
    return { st: { pk, C, D: mulCiphertext(pk, C, x, rho), X: mulBase(x) }, wit: { x, rho } };
  }

  beforeAll(async () => {
    sk = (await partyKeys(0)).sk;
    pk = sk.pub;
    aux = (await partyKeys(1)).rp.params;
    otherAux = (await partyKeys(2)).rp.params;
    ({ st, wit } = instance(rng.bits(255) | 1n));
    proof = proveMulStar(math, ctx, aux, st, wit, rng, sk);
  });

  it('verifies for honest inputs across ±2^ℓ, with and without the CRT key (property)', () => {
    fc.assert(
      fc.property(
        fc
          .bigInt({ min: -(1n << BigInt(SECURITY.ell)), max: 1n << BigInt(SECURITY.ell) })
          .filter((x) => mod(x, CURVE_ORDER) !== 0n),
        fc.boolean(),
        (x, useCrt) => {
          const inst = instance(x);
          const p = proveMulStar(math, ctx, aux, inst.st, inst.wit, rng, useCrt ? sk : undefined);
          verifyMulStar(math, ctx, aux, inst.st, decodeMulStarProof(encodeMulStarProof(p)));
        },
      ),
      { numRuns: 5 },
    );
  });

  it('rejects a D that is not C^x, an X that is not x·G, and a wrong nonce', () => {
    const badD = { ...st, D: mulCiphertext(pk, st.C, wit.x + 1n, wit.rho) };
    expect(failure(() => verifyMulStar(math, ctx, aux, badD, proveMulStar(math, ctx, aux, badD, wit, rng)))).toBe(
      'ERR_ZK_PROOF_INVALID:Paillier equation',
    );
    const badX = { ...st, X: mulBase(wit.x + 1n) };
    expect(failure(() => verifyMulStar(math, ctx, aux, badX, proveMulStar(math, ctx, aux, badX, wit, rng)))).toBe(
      'ERR_ZK_PROOF_INVALID:curve equation',
    );
    const badRho = { ...wit, rho: math.randUnit(pk.n, rng) };
    expect(failure(() => verifyMulStar(math, ctx, aux, st, proveMulStar(math, ctx, aux, st, badRho, rng)))).toBe(
      'ERR_ZK_PROOF_INVALID:Paillier equation',
    );
  });

  it('rejects an out-of-range multiplier, even one with the right residue mod q', () => {
    // x' = x + q·2^(ℓ+ε): x'·G = X, D' = C^{x'}·ρ^N is consistent, but x' ∉ ±2^ℓ.
    const big = wit.x + CURVE_ORDER * (1n << BigInt(SECURITY.ell + SECURITY.epsilon));
    const stBig = { ...st, D: mulCiphertext(pk, st.C, big, wit.rho) };
    const p = proveMulStar(math, ctx, aux, stBig, { ...wit, x: big }, rng);
    expect(failure(() => verifyMulStar(math, ctx, aux, stBig, p))).toBe('ERR_ZK_PROOF_INVALID:z1 out of range');
    const huge = 1n << BigInt(SECURITY.ell + SECURITY.epsilon + 2);
    const inst = instance(huge);
    expect(
      failure(() => verifyMulStar(math, ctx, aux, inst.st, proveMulStar(math, ctx, aux, inst.st, inst.wit, rng))),
    ).toBe('ERR_ZK_PROOF_INVALID:z1 out of range');
  });

  it('rejects the proof replayed under another session id, prover index or label (A11, A7)', () => {
    expect(failure(() => verifyMulStar(math, { ...ctx, sid: sid('session-other') }, aux, st, proof))).toMatch(
      /equation/,
    );
    expect(failure(() => verifyMulStar(math, { ...ctx, prover: 2 }, aux, st, proof))).toMatch(/equation/);
    expect(failure(() => verifyMulStar(math, { ...ctx, label: 'hat' }, aux, st, proof))).toMatch(/equation/);
  });

  it("rejects the proof verified against another party's key, ciphertext, point or parameters (A7)", async () => {
    const other = (await partyKeys(3)).sk.pub;
    expect(failure(() => verifyMulStar(math, ctx, aux, { ...st, pk: other }, proof))).toMatch(/^ERR_ZK_PROOF_INVALID:/);
    const C2 = encrypt(math, pk, 5n, math.randUnit(pk.n, rng));
    expect(failure(() => verifyMulStar(math, ctx, aux, { ...st, C: C2 }, proof))).toMatch(/equation/);
    const D2 = mulCiphertext(pk, st.C, wit.x, math.randUnit(pk.n, rng)); // same product, other nonce
    expect(failure(() => verifyMulStar(math, ctx, aux, { ...st, D: D2 }, proof))).toMatch(/equation/);
    expect(failure(() => verifyMulStar(math, ctx, aux, { ...st, X: G }, proof))).toMatch(/equation/);
    expect(failure(() => verifyMulStar(math, ctx, otherAux, st, proof))).toMatch(/^ERR_ZK_PROOF_INVALID:/);
  });

  it('rejects every response and commitment set to 0, 1, the bound, bound + 1 and the modulus (A6)', () => {
    const rangeBound = 1n << BigInt(SECURITY.ell + SECURITY.epsilon);
    const z2Bound = (1n << BigInt(SECURITY.ell + SECURITY.epsilon + 1)) * aux.n;
    const numeric: Record<Exclude<keyof MulStarProof, 'Bx'>, bigint[]> = {
      A: [0n, 1n, pk.n2, pk.n, pk.n2 + 1n],
      E: [0n, 1n, aux.n, aux.n + 1n],
      S: [0n, 1n, aux.n, aux.n + 1n],
      z1: [0n, 1n, rangeBound, rangeBound + 1n, -rangeBound - 1n, pk.n, -proof.z1],
      z2: [0n, 1n, z2Bound, z2Bound + 1n, -z2Bound - 1n, aux.n],
      w: [0n, 1n, pk.n, pk.n + 1n],
    };
    for (const [field, vs] of Object.entries(numeric) as Array<[keyof typeof numeric, bigint[]]>) {
      for (const v of vs) {
        if (v === proof[field]) continue;
        expect(
          failure(() => verifyMulStar(math, ctx, aux, st, { ...proof, [field]: v })),
          `${field}`,
        ).toMatch(/^ERR_ZK_PROOF_INVALID:/);
      }
    }
    for (const Bx of [Point.ZERO, G, proof.Bx.negate(), st.X]) {
      expect(failure(() => verifyMulStar(math, ctx, aux, st, { ...proof, Bx }))).toMatch(/^ERR_ZK_PROOF_INVALID:/);
    }
    expect(failure(() => verifyMulStar(math, ctx, aux, st, { ...proof, Bx: Point.ZERO }))).toBe(
      'ERR_ZK_PROOF_INVALID:Bx is the identity',
    );
    expect(failure(() => verifyMulStar(math, ctx, aux, st, { ...proof, z1: rangeBound + 1n }))).toBe(
      'ERR_ZK_PROOF_INVALID:z1 out of range',
    );
  });

  it('rejects a proof object with a missing field before any arithmetic', () => {
    for (const field of ['A', 'Bx', 'E', 'S', 'z1', 'z2', 'w'] as const) {
      const { [field]: _dropped, ...rest } = proof;
      expect(
        failure(() => verifyMulStar(math, ctx, aux, st, rest as unknown as MulStarProof)),
        field,
      ).toMatch(/^ERR_ZK_PROOF_INVALID:/);
    }
  });

  it('rejects ciphertexts outside Z*_{N0²} and the identity point in the statement (A15)', () => {
    for (const name of ['C', 'D'] as const) {
      for (const bad of [0n, pk.n2, pk.n * 5n, pk.n2 + 1n]) {
        expect(failure(() => verifyMulStar(math, ctx, aux, { ...st, [name]: bad }, proof))).toBe(
          `ERR_ZK_PROOF_INVALID:${name} is not in Z*_{N0²}`,
        );
      }
    }
    expect(failure(() => verifyMulStar(math, ctx, aux, { ...st, X: Point.ZERO }, proof))).toBe(
      'ERR_ZK_PROOF_INVALID:X is the identity',
    );
    expect(failure(() => proveMulStar(math, ctx, aux, { ...st, X: Point.ZERO }, wit, rng))).toBe(
      'ERR_ZK_STATEMENT_INVALID:',
    );
  });

  it('decodes strictly: truncation, trailing bytes, wrong tag, non-canonical, bad point and missing fields', () => {
    const bytes = encodeMulStarProof(proof);
    const back = decodeMulStarProof(bytes);
    expect(back.Bx.equals(proof.Bx)).toBe(true);
    expect({ ...back, Bx: null }).toEqual({ ...proof, Bx: null });
    for (let cut = 0; cut < bytes.length; cut += Math.max(1, Math.floor(bytes.length / 97))) {
      expect(failure(() => decodeMulStarProof(bytes.subarray(0, cut)))).toMatch(/^ERR_WIRE_TRUNCATED/);
    }
    expect(failure(() => decodeMulStarProof(Uint8Array.of(...bytes, 0)))).toMatch(/^ERR_WIRE_TRAILING_BYTES/);
    expect(failure(() => decodeMulStarProof(Uint8Array.of(0x20, ...bytes.subarray(1))))).toMatch(/^ERR_WIRE_BAD_TAG/);
    // A with a leading zero byte: same value, second encoding → refused.
    const dv = new DataView(bytes.buffer, bytes.byteOffset);
    const lenA = dv.getUint32(2);
    const lenPlus = new Uint8Array(4);
    new DataView(lenPlus.buffer).setUint32(0, lenA + 1);
    const nonCanonical = Uint8Array.of(...bytes.subarray(0, 2), ...lenPlus, 0, ...bytes.subarray(6));
    expect(failure(() => decodeMulStarProof(nonCanonical))).toMatch(/^ERR_WIRE_NON_CANONICAL/);
    // B_x: an invalid SEC1 prefix, and an x-coordinate off the curve.
    const bxAt = 6 + lenA;
    const badPrefix = Uint8Array.from(bytes);
    badPrefix[bxAt] = 0x05;
    expect(failure(() => decodeMulStarProof(badPrefix))).toBe('ERR_WIRE_POINT_INVALID:pi-mul-star.Bx');
    const offCurve = Uint8Array.from(bytes);
    offCurve.fill(0xff, bxAt + 1, bxAt + 33); // x ≥ p: not a field element
    expect(failure(() => decodeMulStarProof(offCurve))).toBe('ERR_WIRE_POINT_INVALID:pi-mul-star.Bx');
    const huge = Uint8Array.of(...bytes.subarray(0, 2), 0xff, 0xff, 0xff, 0xff, ...bytes.subarray(6));
    expect(failure(() => decodeMulStarProof(huge))).toMatch(/^ERR_WIRE_BAD_LENGTH/);
    expect(failure(() => decodeMulStarProof(new Uint8Array(1 << 20)))).toMatch(/^ERR_WIRE_TOO_LARGE/);
    // A message without B_x is a typed wire error, never a proof.
    const missing = new WireWriter()
      .u8(0x21)
      .u8(1)
      .biguint(proof.A)
      .biguint(proof.E)
      .biguint(proof.S)
      .bigint(proof.z1)
      .bigint(proof.z2)
      .biguint(proof.w)
      .finish();
    expect(failure(() => decodeMulStarProof(missing))).toMatch(/^ERR_WIRE_/);
    // An oversize z1 (one bit above the cap) is refused by size.
    const wide = encodeMulStarProof({ ...proof, z1: 1n << BigInt(SECURITY.ell + SECURITY.epsilon + 1) });
    expect(failure(() => decodeMulStarProof(wide))).toMatch(/^ERR_WIRE_BIGINT_TOO_LARGE/);
  });
});
