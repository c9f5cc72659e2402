import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { encrypt, type PaillierPublicKey, type PaillierSecretKey, scalarMul } from '../../src/primitives/paillier.js';
import type { RingPedersenParams } from '../../src/primitives/ring-pedersen.js';
import { WireWriter } from '../../src/util/wire.js';
import {
  type AffPProof,
  type AffPStatement,
  type AffPWitness,
  decodeAffPProof,
  encodeAffPProof,
  proveAffP,
  verifyAffP,
} from '../../src/zk/aff-p.js';
import type { ProofContext } from '../../src/zk/common.js';
import { SECURITY } from '../../src/zk/params.js';
import { TestDrbg } from '../helpers/drbg.js';
import { expectStrictDecoder, failure } from '../helpers/failure.js';
import { math, partyKeys, sid } from '../helpers/keys.js';

const { ell, ellPrime, epsilon } = SECURITY;

describe('Πaff-p (Paillier affine operation with Paillier commitment, in range)', () => {
  let proverSk: PaillierSecretKey; // N1: the prover's key
  let pk0: PaillierPublicKey; // N0: the verifier's key (C, D)
  let pk1: PaillierPublicKey;
  let aux: RingPedersenParams; // the verifier's ring-Pedersen parameters
  let otherAux: RingPedersenParams;
  const ctx: ProofContext = { sid: sid('session-aff-p'), prover: 1 };
  const rng = new TestDrbg('aff-p');
  let st: AffPStatement;
  let wit: AffPWitness;
  let proof: AffPProof;

  /** D = C^x · (1 + N0)^y · ρ^{N0} mod N0². */
  function affine(C: bigint, x: bigint, y: bigint, rho: bigint): bigint {
    return math.mulMod(scalarMul(math, pk0, x, C), encrypt(math, pk0, y, rho), pk0.n2);
  }

  /** The MtA shape of presigning round 2: C = K_j, y = −β, D = (x ⊙ C) ⊕ enc_0(y), X = enc_1(x), Y = enc_1(y). */
  function instance(x: bigint, y: bigint): { st: AffPStatement; wit: AffPWitness } {
    const C = encrypt(math, pk0, rng.bits(255), math.randUnit(pk0.n, rng));
    const rho = math.randUnit(pk0.n, rng);
    const rhoX = math.randUnit(pk1.n, rng);
    const rhoY = math.randUnit(pk1.n, rng);
    return {
      st: { pk0, pk1, C, D: affine(C, x, y, rho), Y: encrypt(math, pk1, y, rhoY), X: encrypt(math, pk1, x, rhoX) },
      wit: { x, y, rho, rhoX, rhoY },
    };
  }

  beforeAll(async () => {
    proverSk = (await partyKeys(0)).sk;
    pk1 = proverSk.pub;
    const verifier = await partyKeys(1);
    pk0 = verifier.sk.pub;
    aux = verifier.rp.params;
    otherAux = (await partyKeys(2)).rp.params;
    ({ st, wit } = instance(rng.bits(255), -rng.bits(ellPrime)));
    proof = proveAffP(math, ctx, aux, st, wit, rng, proverSk);
  });

  it('verifies for honest inputs across ±2^ℓ × ±2^ℓ′, with and without the CRT key (property)', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: -(1n << BigInt(ell)), max: 1n << BigInt(ell) }),
        fc.bigInt({ min: -(1n << BigInt(ellPrime)), max: 1n << BigInt(ellPrime) }),
        fc.boolean(),
        (x, y, useCrt) => {
          const inst = instance(x, y);
          const p = proveAffP(math, ctx, aux, inst.st, inst.wit, rng, useCrt ? proverSk : undefined);
          verifyAffP(math, ctx, aux, inst.st, decodeAffPProof(encodeAffPProof(p)));
        },
      ),
      { numRuns: 4 },
    );
  });

  it('rejects a D, X or Y that does not match the witness', () => {
    const cases: Array<[Partial<AffPStatement>, string]> = [
      [{ D: affine(st.C, wit.x + 1n, wit.y, wit.rho) }, 'Paillier equation (N0)'],
      [{ D: affine(st.C, wit.x, wit.y + 1n, wit.rho) }, 'Paillier equation (N0)'],
      [{ X: encrypt(math, pk1, wit.x + 1n, wit.rhoX) }, 'Paillier equation (N1, X)'],
      [{ Y: encrypt(math, pk1, wit.y + 1n, wit.rhoY) }, 'Paillier equation (N1, Y)'],
    ];
    for (const [patch, check] of cases) {
      const bad = { ...st, ...patch };
      expect(failure(() => verifyAffP(math, ctx, aux, bad, proveAffP(math, ctx, aux, bad, wit, rng)))).toBe(
        `ERR_ZK_PROOF_INVALID:${check}`,
      );
    }
  });

  it('rejects x outside ±2^ℓ and y outside ±2^ℓ′ even when every ciphertext is consistent', () => {
    const bigX = instance(1n << BigInt(ell + epsilon + 2), wit.y);
    expect(failure(() => verifyAffP(math, ctx, aux, bigX.st, proveAffP(math, ctx, aux, bigX.st, bigX.wit, rng)))).toBe(
      'ERR_ZK_PROOF_INVALID:z1 out of range',
    );
    const bigY = instance(wit.x, -(1n << BigInt(ellPrime + epsilon + 2)));
    expect(failure(() => verifyAffP(math, ctx, aux, bigY.st, proveAffP(math, ctx, aux, bigY.st, bigY.wit, rng)))).toBe(
      'ERR_ZK_PROOF_INVALID:z2 out of range',
    );
  });

  it('rejects the proof replayed under another session id, prover index or label (A11, A7)', () => {
    expect(failure(() => verifyAffP(math, { ...ctx, sid: sid('session-other') }, aux, st, proof))).toMatch(/equation/);
    expect(failure(() => verifyAffP(math, { ...ctx, prover: 2 }, aux, st, proof))).toMatch(/equation/);
    expect(failure(() => verifyAffP(math, { ...ctx, label: 'hat' }, aux, st, proof))).toMatch(/equation/);
  });

  it("rejects the proof verified against another party's keys, ciphertexts or verifier parameters (A7)", async () => {
    const other = (await partyKeys(3)).sk.pub;
    expect(failure(() => verifyAffP(math, ctx, aux, { ...st, pk0: other }, proof))).toMatch(/^ERR_ZK_PROOF_INVALID:/);
    expect(failure(() => verifyAffP(math, ctx, aux, { ...st, pk1: other }, proof))).toMatch(/^ERR_ZK_PROOF_INVALID:/);
    // Swapping the roles of the two keys.
    expect(failure(() => verifyAffP(math, ctx, aux, { ...st, pk0: pk1, pk1: pk0 }, proof))).toMatch(
      /^ERR_ZK_PROOF_INVALID:/,
    );
    const other0 = instance(wit.x, wit.y).st; // same witness values, fresh ciphertexts
    for (const name of ['C', 'D', 'X', 'Y'] as const) {
      expect(
        failure(() => verifyAffP(math, ctx, aux, { ...st, [name]: other0[name] }, proof)),
        name,
      ).toMatch(/equation/);
    }
    expect(failure(() => verifyAffP(math, ctx, otherAux, st, proof))).toMatch(/^ERR_ZK_PROOF_INVALID:/);
  });

  it('rejects every response and commitment set to 0, 1, the bound, bound + 1 and the modulus (A6)', () => {
    const b1 = 1n << BigInt(ell + epsilon);
    const b2 = 1n << BigInt(ellPrime + epsilon);
    const b34 = (1n << BigInt(ell + epsilon + 1)) * aux.n;
    const ring = [0n, 1n, aux.n, aux.n + 1n];
    const values: Record<keyof AffPProof, bigint[]> = {
      A: [0n, 1n, pk0.n2, pk0.n],
      Bx: [0n, 1n, pk1.n2, pk1.n],
      By: [0n, 1n, pk1.n2, pk1.n],
      E: ring,
      S: ring,
      F: ring,
      T: ring,
      z1: [0n, 1n, b1, b1 + 1n, -b1 - 1n, pk1.n],
      z2: [0n, 1n, b2, b2 + 1n, -b2 - 1n, pk0.n],
      z3: [0n, 1n, b34, b34 + 1n, -b34 - 1n],
      z4: [0n, 1n, b34, b34 + 1n, -b34 - 1n],
      w: [0n, 1n, pk0.n, pk0.n + 1n],
      wx: [0n, 1n, pk1.n, pk1.n + 1n],
      wy: [0n, 1n, pk1.n, pk1.n + 1n],
    };
    for (const [field, vs] of Object.entries(values) as Array<[keyof AffPProof, bigint[]]>) {
      for (const v of vs) {
        if (v === proof[field]) continue;
        expect(
          failure(() => verifyAffP(math, ctx, aux, st, { ...proof, [field]: v })),
          `${field}`,
        ).toMatch(/^ERR_ZK_PROOF_INVALID:/);
      }
    }
    expect(failure(() => verifyAffP(math, ctx, aux, st, { ...proof, z2: b2 + 1n }))).toBe(
      'ERR_ZK_PROOF_INVALID:z2 out of range',
    );
    expect(failure(() => verifyAffP(math, ctx, aux, st, { ...proof, wx: pk1.n }))).toBe(
      'ERR_ZK_PROOF_INVALID:wx is not in Z*_{N1}',
    );
  });

  it('rejects a proof object with a missing field before any arithmetic', () => {
    for (const field of Object.keys(proof) as Array<keyof AffPProof>) {
      const { [field]: _dropped, ...rest } = proof;
      expect(
        failure(() => verifyAffP(math, ctx, aux, st, rest as unknown as AffPProof)),
        field,
      ).toMatch(/^ERR_ZK_PROOF_INVALID:/);
    }
  });

  it('rejects ciphertexts outside Z*_{N0²} / Z*_{N1²} in the statement (A15)', () => {
    const cases: Array<[keyof AffPStatement, PaillierPublicKey, string]> = [
      ['C', pk0, 'N0'],
      ['D', pk0, 'N0'],
      ['Y', pk1, 'N1'],
      ['X', pk1, 'N1'],
    ];
    for (const [name, pk, label] of cases) {
      for (const bad of [0n, pk.n2, pk.n * 5n, pk.n2 + 1n]) {
        expect(failure(() => verifyAffP(math, ctx, aux, { ...st, [name]: bad }, proof))).toBe(
          `ERR_ZK_PROOF_INVALID:${name} is not in Z*_{${label}²}`,
        );
      }
    }
  });

  it('rejects a proverSk that is not the key of pk1', () => {
    expect(failure(() => proveAffP(math, ctx, aux, { ...st, pk1: pk0 }, wit, rng, proverSk))).toBe(
      'ERR_ZK_STATEMENT_INVALID:',
    );
  });

  it('decodes strictly: truncation, trailing bytes, wrong tag, non-canonical, oversize and missing fields', () => {
    const bytes = encodeAffPProof(proof);
    expect(decodeAffPProof(bytes)).toEqual(proof);
    expectStrictDecoder(bytes, decodeAffPProof, 0x03);
    // z2 one bit above its cap is refused by size.
    const wide = encodeAffPProof({ ...proof, z2: 1n << BigInt(ellPrime + epsilon + 1) });
    expect(failure(() => decodeAffPProof(wide))).toBe('ERR_WIRE_BIGINT_TOO_LARGE:pi-aff-p.z2');
    // A message without w_y is a typed wire error, never a proof.
    const w = new WireWriter().u8(0x23).u8(1);
    for (const f of ['A', 'Bx', 'By', 'E', 'S', 'F', 'T'] as const) w.biguint(proof[f]);
    for (const f of ['z1', 'z2', 'z3', 'z4'] as const) w.bigint(proof[f]);
    w.biguint(proof.w).biguint(proof.wx);
    expect(failure(() => decodeAffPProof(w.finish()))).toBe('ERR_WIRE_TRUNCATED:pi-aff-p.wy.length');
  });
});
