import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { mod } from '../../src/math/bits.js';
import { CURVE_ORDER } from '../../src/primitives/curve.js';
import { decrypt, encrypt, type PaillierPublicKey, type PaillierSecretKey } from '../../src/primitives/paillier.js';
import type { RingPedersenParams } from '../../src/primitives/ring-pedersen.js';
import { WireWriter } from '../../src/util/wire.js';
import type { ProofContext } from '../../src/zk/common.js';
import {
  type DecProof,
  type DecStatement,
  type DecWitness,
  decMaxPlaintextBits,
  decodeDecProof,
  encodeDecProof,
  proveDec,
  verifyDec,
} from '../../src/zk/dec.js';
import { SECURITY } from '../../src/zk/params.js';
import { TestDrbg } from '../helpers/drbg.js';
import { expectStrictDecoder, failure } from '../helpers/failure.js';
import { math, partyKeys, sid } from '../helpers/keys.js';

/** The bound of an identification plaintext such as δ_i: ℓ' + ε + 1 + ⌈log2 n⌉ with n = 4 (synedrion PAPER.md). */
const L = SECURITY.ellPrime + SECURITY.epsilon + 1 + 2;

describe('Πdec (Paillier decryption modulo q)', () => {
  let sk: PaillierSecretKey;
  let pk: PaillierPublicKey;
  let aux: RingPedersenParams; // the verifier's ring-Pedersen parameters
  let otherAux: RingPedersenParams;
  const ctx: ProofContext = { sid: sid('session-dec'), prover: 1 };
  const rng = new TestDrbg('dec');
  let st: DecStatement;
  let wit: DecWitness;
  let proof: DecProof;

  function instance(y: bigint, bits = L): { st: DecStatement; wit: DecWitness } {
    const rho = math.randUnit(pk.n, rng);
    return { st: { pk, C: encrypt(math, pk, y, rho), x: mod(y, CURVE_ORDER), plaintextBits: bits }, wit: { y, rho } };
  }

  beforeAll(async () => {
    sk = (await partyKeys(0)).sk;
    pk = sk.pub;
    aux = (await partyKeys(1)).rp.params;
    otherAux = (await partyKeys(2)).rp.params;
    ({ st, wit } = instance(-rng.bits(L)));
    proof = proveDec(math, ctx, aux, st, wit, rng, sk);
  });

  it('verifies for honest signed plaintexts across ±2^L, L ∈ {ℓ, δ-bound, max}, with and without CRT (property)', () => {
    const Ls = [SECURITY.ell, L, decMaxPlaintextBits(pk)];
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 }),
        fc.boolean(),
        fc.bigInt({ min: -1n, max: 1n }),
        (li, useCrt, sign) => {
          const bits = Ls[li] as number;
          const y = sign * rng.bits(bits);
          const inst = instance(y, bits);
          expect(decrypt(math, sk, inst.st.C)).toBe(y);
          const p = proveDec(math, ctx, aux, inst.st, inst.wit, rng, useCrt ? sk : undefined);
          verifyDec(math, ctx, aux, inst.st, decodeDecProof(encodeDecProof(p)));
        },
      ),
      { numRuns: 5 },
    );
  });

  it('rejects a claimed residue x ≢ y (mod q) and a wrong nonce', () => {
    const badX = { ...st, x: mod(st.x + 1n, CURVE_ORDER) };
    expect(failure(() => verifyDec(math, ctx, aux, badX, proveDec(math, ctx, aux, badX, wit, rng)))).toBe(
      'ERR_ZK_PROOF_INVALID:mod-q equation',
    );
    const badRho = { ...wit, rho: math.randUnit(pk.n, rng) };
    expect(failure(() => verifyDec(math, ctx, aux, st, proveDec(math, ctx, aux, st, badRho, rng)))).toBe(
      'ERR_ZK_PROOF_INVALID:Paillier equation',
    );
    // A witness y' ≠ dec(C) with the right residue: y' = y + q.
    const shifted = { ...wit, y: wit.y + CURVE_ORDER };
    expect(failure(() => verifyDec(math, ctx, aux, st, proveDec(math, ctx, aux, st, shifted, rng)))).toBe(
      'ERR_ZK_PROOF_INVALID:Paillier equation',
    );
  });

  it('rejects the y + N0 representative: the range check pins y to the signed decryption', () => {
    // enc(y) = enc(y + N0), so y' = y + N0 satisfies every equation for x' = (y + N0) mod q.
    const yN = wit.y + pk.n;
    const stN = { ...st, x: mod(yN, CURVE_ORDER) };
    expect(stN.x).not.toBe(st.x);
    const p = proveDec(math, ctx, aux, stN, { ...wit, y: yN }, rng);
    expect(failure(() => verifyDec(math, ctx, aux, stN, p))).toBe('ERR_ZK_PROOF_INVALID:z1 out of range');
  });

  it('rejects a plaintext outside ±2^L, and a proof made for another bound L', () => {
    const big = 1n << BigInt(L + SECURITY.epsilon + 2);
    const inst = instance(big);
    expect(failure(() => verifyDec(math, ctx, aux, inst.st, proveDec(math, ctx, aux, inst.st, inst.wit, rng)))).toBe(
      'ERR_ZK_PROOF_INVALID:z1 out of range',
    );
    // L is hashed: the same proof under L + 1 fails (its z1 is within both ranges).
    expect(failure(() => verifyDec(math, ctx, aux, { ...st, plaintextBits: L + 1 }, proof))).toMatch(/equation/);
    // A proof for the δ-bound is rejected under L = ℓ by range.
    expect(failure(() => verifyDec(math, ctx, aux, { ...st, plaintextBits: SECURITY.ell }, proof))).toBe(
      'ERR_ZK_PROOF_INVALID:z1 out of range',
    );
  });

  it('refuses an invalid bound L or residue x as a statement error, not a blame', () => {
    for (const bits of [0, SECURITY.ell - 1, decMaxPlaintextBits(pk) + 1, L + 0.5, Number.NaN]) {
      expect(failure(() => proveDec(math, ctx, aux, { ...st, plaintextBits: bits }, wit, rng))).toBe(
        'ERR_ZK_STATEMENT_INVALID:',
      );
      expect(failure(() => verifyDec(math, ctx, aux, { ...st, plaintextBits: bits }, proof))).toBe(
        'ERR_ZK_STATEMENT_INVALID:',
      );
    }
    for (const x of [CURVE_ORDER, -1n]) {
      expect(failure(() => proveDec(math, ctx, aux, { ...st, x }, wit, rng))).toBe('ERR_ZK_STATEMENT_INVALID:');
      expect(failure(() => verifyDec(math, ctx, aux, { ...st, x }, proof))).toBe(
        'ERR_ZK_PROOF_INVALID:x is not in Z_q',
      );
    }
  });

  it('rejects the proof replayed under another session id, prover index or label (A11, A7)', () => {
    expect(failure(() => verifyDec(math, { ...ctx, sid: sid('session-other') }, aux, st, proof))).toMatch(/equation/);
    expect(failure(() => verifyDec(math, { ...ctx, prover: 2 }, aux, st, proof))).toMatch(/equation/);
    expect(failure(() => verifyDec(math, { ...ctx, label: 'hat' }, aux, st, proof))).toMatch(/equation/);
  });

  it("rejects the proof verified against another party's key, ciphertext or verifier parameters (A7)", async () => {
    const other = (await partyKeys(3)).sk.pub;
    expect(failure(() => verifyDec(math, ctx, aux, { ...st, pk: other }, proof))).toMatch(/^ERR_ZK_PROOF_INVALID:/);
    const C2 = encrypt(math, pk, wit.y, math.randUnit(pk.n, rng)); // same plaintext, other nonce
    expect(failure(() => verifyDec(math, ctx, aux, { ...st, C: C2 }, proof))).toMatch(/equation/);
    expect(failure(() => verifyDec(math, ctx, otherAux, st, proof))).toMatch(/^ERR_ZK_PROOF_INVALID:/);
  });

  it('rejects every response and commitment set to 0, 1, the bound, bound + 1 and the modulus (A6)', () => {
    const z1Bound = 1n << BigInt(L + SECURITY.epsilon);
    const z2Bound = (1n << BigInt(SECURITY.ell + SECURITY.epsilon + 1)) * aux.n;
    const values: Record<keyof DecProof, bigint[]> = {
      S: [0n, 1n, aux.n, aux.n + 1n],
      T: [0n, 1n, aux.n, aux.n + 1n],
      A: [0n, 1n, pk.n2, pk.n, pk.n2 + 1n],
      gamma: [0n, 1n, CURVE_ORDER - 1n, CURVE_ORDER, CURVE_ORDER + 1n, -1n],
      z1: [0n, 1n, z1Bound, z1Bound + 1n, -z1Bound - 1n, pk.n, proof.z1 + CURVE_ORDER],
      z2: [0n, 1n, z2Bound, z2Bound + 1n, -z2Bound - 1n, aux.n],
      w: [0n, 1n, pk.n, pk.n + 1n],
    };
    for (const [field, vs] of Object.entries(values) as Array<[keyof DecProof, bigint[]]>) {
      for (const v of vs) {
        if (v === proof[field]) continue;
        expect(
          failure(() => verifyDec(math, ctx, aux, st, { ...proof, [field]: v })),
          `${field}`,
        ).toMatch(/^ERR_ZK_PROOF_INVALID:/);
      }
    }
    expect(failure(() => verifyDec(math, ctx, aux, st, { ...proof, gamma: CURVE_ORDER }))).toBe(
      'ERR_ZK_PROOF_INVALID:gamma is not in Z_q',
    );
    expect(failure(() => verifyDec(math, ctx, aux, st, { ...proof, z1: z1Bound + 1n }))).toBe(
      'ERR_ZK_PROOF_INVALID:z1 out of range',
    );
  });

  it('rejects a proof object with a missing field before any arithmetic', () => {
    for (const field of ['S', 'T', 'A', 'gamma', 'z1', 'z2', 'w'] as const) {
      const { [field]: _dropped, ...rest } = proof;
      expect(
        failure(() => verifyDec(math, ctx, aux, st, rest as unknown as DecProof)),
        field,
      ).toMatch(/^ERR_ZK_PROOF_INVALID:/);
    }
  });

  it('rejects a ciphertext outside Z*_{N0²} in the statement (A15)', () => {
    for (const bad of [0n, pk.n2, pk.n * 5n, pk.n2 + 1n]) {
      expect(failure(() => verifyDec(math, ctx, aux, { ...st, C: bad }, proof))).toBe(
        'ERR_ZK_PROOF_INVALID:C is not in Z*_{N0²}',
      );
    }
  });

  it('decodes strictly: truncation, trailing bytes, wrong tag, non-canonical, oversize and missing fields', () => {
    const bytes = encodeDecProof(proof);
    expect(decodeDecProof(bytes)).toEqual(proof);
    expectStrictDecoder(bytes, decodeDecProof, 0x23);
    // γ wider than 256 bits (33 bytes) is refused by size.
    expect(failure(() => decodeDecProof(encodeDecProof({ ...proof, gamma: 1n << 256n })))).toBe(
      'ERR_WIRE_BAD_LENGTH:pi-dec.gamma',
    );
    // A message without γ is a typed wire error, never a proof.
    const missing = new WireWriter()
      .u8(0x22)
      .u8(1)
      .biguint(proof.S)
      .biguint(proof.T)
      .biguint(proof.A)
      .bigint(proof.z1)
      .bigint(proof.z2)
      .biguint(proof.w)
      .finish();
    expect(failure(() => decodeDecProof(missing))).toMatch(/^ERR_WIRE_/);
  });
});
