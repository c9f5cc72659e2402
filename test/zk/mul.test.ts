import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { encrypt, type PaillierPublicKey, type PaillierSecretKey, scalarMul } from '../../src/primitives/paillier.js';
import { WireWriter } from '../../src/util/wire.js';
import type { ProofContext } from '../../src/zk/common.js';
import {
  decodeMulProof,
  encodeMulProof,
  type MulProof,
  type MulStatement,
  type MulWitness,
  proveMul,
  verifyMul,
} from '../../src/zk/mul.js';
import { CHALLENGE_BOUND, SECURITY } from '../../src/zk/params.js';
import { TestDrbg } from '../helpers/drbg.js';
import { failure } from '../helpers/failure.js';
import { math, partyKeys, sid } from '../helpers/keys.js';

/** C = Y^x · ρ^N mod N² ((x ⊙ Y) re-randomised). */
function mulCiphertext(pk: PaillierPublicKey, Y: bigint, x: bigint, rho: bigint): bigint {
  return math.mulMod(scalarMul(math, pk, x, Y), math.powmSec(rho, pk.n, pk.n2), pk.n2);
}

describe('Πmul (Paillier multiplication)', () => {
  let sk: PaillierSecretKey;
  let pk: PaillierPublicKey;
  const ctx: ProofContext = { sid: sid('session-mul'), prover: 1 };
  const rng = new TestDrbg('mul');
  let st: MulStatement;
  let wit: MulWitness;
  let proof: MulProof;

  /** A statement for x with fresh nonces and a fresh Y. */
  function instance(x: bigint): { st: MulStatement; wit: MulWitness } {
    const rhoX = math.randUnit(pk.n, rng);
    const rho = math.randUnit(pk.n, rng);
    const Y = encrypt(math, pk, rng.bits(255), math.randUnit(pk.n, rng));
    const X = encrypt(math, pk, x, rhoX);
    return { st: { pk, X, Y, C: mulCiphertext(pk, Y, x, rho) }, wit: { x, rho, rhoX } };
  }

  beforeAll(async () => {
    sk = (await partyKeys(0)).sk;
    pk = sk.pub;
    ({ st, wit } = instance(rng.bits(255)));
    proof = proveMul(math, ctx, st, wit, rng, sk);
  });

  it('verifies for honest inputs, with and without the CRT key (property)', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: -(1n << BigInt(SECURITY.ell)), max: 1n << BigInt(SECURITY.ell) }),
        fc.boolean(),
        (x, useCrt) => {
          const inst = instance(x);
          const p = proveMul(math, ctx, inst.st, inst.wit, rng, useCrt ? sk : undefined);
          verifyMul(math, ctx, inst.st, decodeMulProof(encodeMulProof(p)));
        },
      ),
      { numRuns: 5 },
    );
  });

  it('verifies a full-width plaintext x ≈ ±N/2 (the statement is mod N, not a range)', () => {
    for (const x of [(pk.n - 1n) / 2n, -(pk.n - 1n) / 2n]) {
      const inst = instance(x);
      verifyMul(math, ctx, inst.st, proveMul(math, ctx, inst.st, inst.wit, rng));
    }
  });

  it('rejects a C that is not the product, and an X that does not encrypt the multiplier', () => {
    // C = Y^(x+1)·ρ^N but the witness says x.
    const badC = { ...st, C: mulCiphertext(pk, st.Y, wit.x + 1n, wit.rho) };
    expect(failure(() => verifyMul(math, ctx, badC, proveMul(math, ctx, badC, wit, rng)))).toBe(
      'ERR_ZK_PROOF_INVALID:product equation',
    );
    // X = enc(x+1) while C = Y^x: the witness x satisfies C, not X.
    const badX = { ...st, X: encrypt(math, pk, wit.x + 1n, wit.rhoX) };
    expect(failure(() => verifyMul(math, ctx, badX, proveMul(math, ctx, badX, wit, rng)))).toBe(
      'ERR_ZK_PROOF_INVALID:encryption equation',
    );
    // Witness x+1 satisfies X' = enc(x+1) but not C = Y^x.
    const badW = { ...wit, x: wit.x + 1n };
    expect(failure(() => verifyMul(math, ctx, badX, proveMul(math, ctx, badX, badW, rng)))).toBe(
      'ERR_ZK_PROOF_INVALID:product equation',
    );
    // A wrong nonce for X.
    const badRho = { ...wit, rhoX: math.randUnit(pk.n, rng) };
    expect(failure(() => verifyMul(math, ctx, st, proveMul(math, ctx, st, badRho, rng)))).toBe(
      'ERR_ZK_PROOF_INVALID:encryption equation',
    );
  });

  it('rejects the proof replayed under another session id, prover index or label (A11, A7)', () => {
    expect(failure(() => verifyMul(math, { ...ctx, sid: sid('session-other') }, st, proof))).toMatch(/equation/);
    expect(failure(() => verifyMul(math, { ...ctx, prover: 2 }, st, proof))).toMatch(/equation/);
    expect(failure(() => verifyMul(math, { ...ctx, label: 'hat' }, st, proof))).toMatch(/equation/);
  });

  it("rejects the proof verified against another party's key or other ciphertexts (A7)", async () => {
    const other = (await partyKeys(3)).sk.pub;
    expect(failure(() => verifyMul(math, ctx, { ...st, pk: other }, proof))).toMatch(/^ERR_ZK_PROOF_INVALID:/);
    const Y2 = encrypt(math, pk, 7n, math.randUnit(pk.n, rng));
    expect(failure(() => verifyMul(math, ctx, { ...st, Y: Y2 }, proof))).toMatch(/equation/);
    const C2 = mulCiphertext(pk, st.Y, wit.x, math.randUnit(pk.n, rng)); // same product, other nonce
    expect(failure(() => verifyMul(math, ctx, { ...st, C: C2 }, proof))).toMatch(/equation/);
    const X2 = encrypt(math, pk, wit.x, math.randUnit(pk.n, rng)); // same plaintext, other nonce
    expect(failure(() => verifyMul(math, ctx, { ...st, X: X2 }, proof))).toMatch(/equation/);
  });

  it('rejects every response and commitment set to 0, 1, the bound, bound + 1 and the modulus (A6)', () => {
    const zBound = CHALLENGE_BOUND * pk.n;
    const values: Record<keyof MulProof, bigint[]> = {
      A: [0n, 1n, pk.n2, pk.n, pk.n2 + 1n],
      B: [0n, 1n, pk.n2, pk.n, pk.n2 + 1n],
      z: [0n, 1n, zBound, zBound + 1n, -zBound - 1n, pk.n, -proof.z],
      u: [0n, 1n, pk.n, pk.n + 1n],
      v: [0n, 1n, pk.n, pk.n + 1n],
    };
    for (const [field, vs] of Object.entries(values) as Array<[keyof MulProof, bigint[]]>) {
      for (const v of vs) {
        if (v === proof[field]) continue;
        expect(
          failure(() => verifyMul(math, ctx, st, { ...proof, [field]: v })),
          `${field}`,
        ).toMatch(/^ERR_ZK_PROOF_INVALID:/);
      }
    }
    expect(failure(() => verifyMul(math, ctx, st, { ...proof, z: zBound + 1n }))).toBe(
      'ERR_ZK_PROOF_INVALID:z out of range',
    );
  });

  it('rejects a proof object with a missing field before any arithmetic', () => {
    for (const field of ['A', 'B', 'z', 'u', 'v'] as const) {
      const { [field]: _dropped, ...rest } = proof;
      expect(
        failure(() => verifyMul(math, ctx, st, rest as unknown as MulProof)),
        field,
      ).toMatch(/^ERR_ZK_PROOF_INVALID:/);
    }
  });

  it('rejects ciphertexts outside Z*_{N²} in the statement (A15)', () => {
    for (const name of ['X', 'Y', 'C'] as const) {
      for (const bad of [0n, pk.n2, pk.n * 5n, pk.n2 + 1n]) {
        expect(failure(() => verifyMul(math, ctx, { ...st, [name]: bad }, proof))).toBe(
          `ERR_ZK_PROOF_INVALID:${name} is not in Z*_{N²}`,
        );
      }
    }
  });

  it('rejects a proverSk that is not the key of the statement', async () => {
    const other = (await partyKeys(3)).sk;
    expect(failure(() => proveMul(math, ctx, st, wit, rng, other))).toBe('ERR_ZK_STATEMENT_INVALID:');
  });

  it('decodes strictly: truncation, trailing bytes, wrong tag, non-canonical, oversize and missing fields', () => {
    const bytes = encodeMulProof(proof);
    expect(decodeMulProof(bytes)).toEqual(proof);
    for (let cut = 0; cut < bytes.length; cut += Math.max(1, Math.floor(bytes.length / 97))) {
      expect(failure(() => decodeMulProof(bytes.subarray(0, cut)))).toMatch(/^ERR_WIRE_TRUNCATED/);
    }
    expect(failure(() => decodeMulProof(Uint8Array.of(...bytes, 0)))).toMatch(/^ERR_WIRE_TRAILING_BYTES/);
    expect(failure(() => decodeMulProof(Uint8Array.of(0x02, ...bytes.subarray(1))))).toMatch(/^ERR_WIRE_BAD_TAG/);
    expect(failure(() => decodeMulProof(Uint8Array.of(0x20, 0x02, ...bytes.subarray(2))))).toMatch(/^ERR_WIRE_BAD_TAG/);
    // A with a leading zero byte: same value, second encoding → refused.
    const len = new DataView(bytes.buffer, bytes.byteOffset).getUint32(2);
    const lenPlus = new Uint8Array(4);
    new DataView(lenPlus.buffer).setUint32(0, len + 1);
    const nonCanonical = Uint8Array.of(...bytes.subarray(0, 2), ...lenPlus, 0, ...bytes.subarray(6));
    expect(failure(() => decodeMulProof(nonCanonical))).toMatch(/^ERR_WIRE_NON_CANONICAL/);
    // z encoded as a negative zero.
    const nz = encodeMulProof({ ...proof, z: 0n });
    const dv = new DataView(nz.buffer, nz.byteOffset);
    const bAt = 6 + dv.getUint32(2); // tag, version, len(A), A
    const zSign = bAt + 4 + dv.getUint32(bAt); // len(B), B
    nz[zSign] = 1;
    expect(failure(() => decodeMulProof(nz))).toMatch(/^ERR_WIRE_NON_CANONICAL/);
    // A length prefix of 2^32 − 1 is refused before any allocation.
    const huge = Uint8Array.of(...bytes.subarray(0, 2), 0xff, 0xff, 0xff, 0xff, ...bytes.subarray(6));
    expect(failure(() => decodeMulProof(huge))).toMatch(/^ERR_WIRE_BAD_LENGTH/);
    expect(failure(() => decodeMulProof(new Uint8Array(1 << 20)))).toMatch(/^ERR_WIRE_TOO_LARGE/);
    // A message without z (every other field present) is a typed wire error, never a proof.
    const missing = new WireWriter()
      .u8(0x20)
      .u8(1)
      .biguint(proof.A)
      .biguint(proof.B)
      .biguint(proof.u)
      .biguint(proof.v)
      .finish();
    expect(failure(() => decodeMulProof(missing))).toMatch(/^ERR_WIRE_/);
  });
});
