import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { encrypt, type PaillierSecretKey } from '../../src/primitives/paillier.js';
import type { RingPedersenParams } from '../../src/primitives/ring-pedersen.js';
import type { ProofContext } from '../../src/zk/common.js';
import { decodeEncProof, type EncProof, encodeEncProof, proveEnc, verifyEnc } from '../../src/zk/enc.js';
import { SECURITY } from '../../src/zk/params.js';
import { TestDrbg } from '../helpers/drbg.js';
import { failure } from '../helpers/failure.js';
import { math, partyKeys, sid } from '../helpers/keys.js';

describe('Πenc (Paillier encryption in range)', () => {
  let prover: PaillierSecretKey;
  let aux: RingPedersenParams; // the verifier's ring-Pedersen parameters
  let otherAux: RingPedersenParams;
  const ctx: ProofContext = { sid: sid('session-enc'), prover: 1 };
  const rng = new TestDrbg('enc');
  let K: bigint;
  let k: bigint;
  let rho: bigint;
  let proof: EncProof;

  beforeAll(async () => {
    prover = (await partyKeys(0)).sk;
    aux = (await partyKeys(1)).rp.params;
    otherAux = (await partyKeys(2)).rp.params;
    k = rng.bits(255);
    rho = math.randUnit(prover.pub.n, rng);
    K = encrypt(math, prover.pub, k, rho);
    proof = proveEnc(math, ctx, aux, { pk: prover.pub, K }, { k, rho }, rng);
  });

  it('verifies for honest inputs across the plaintext range (property)', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(1n << BigInt(SECURITY.ell)), max: 1n << BigInt(SECURITY.ell) }), (m) => {
        const r = math.randUnit(prover.pub.n, rng);
        const C = encrypt(math, prover.pub, m, r);
        const p = proveEnc(math, ctx, aux, { pk: prover.pub, K: C }, { k: m, rho: r }, rng);
        verifyEnc(math, ctx, aux, { pk: prover.pub, K: C }, decodeEncProof(encodeEncProof(p)));
      }),
      { numRuns: 8 },
    );
  });

  it('rejects a plaintext outside ±2^ℓ: a prover cannot prove a large k', () => {
    const big = 1n << BigInt(SECURITY.ell + SECURITY.epsilon + 2);
    const C = encrypt(math, prover.pub, big, rho);
    const p = proveEnc(math, ctx, aux, { pk: prover.pub, K: C }, { k: big, rho }, rng);
    expect(failure(() => verifyEnc(math, ctx, aux, { pk: prover.pub, K: C }, p))).toBe(
      'ERR_ZK_PROOF_INVALID:z1 out of range',
    );
  });

  it('rejects the proof replayed under another session id or prover index (A11, A7)', () => {
    const st = { pk: prover.pub, K };
    expect(failure(() => verifyEnc(math, { ...ctx, sid: sid('session-other') }, aux, st, proof))).toMatch(/equation/);
    expect(failure(() => verifyEnc(math, { ...ctx, prover: 2 }, aux, st, proof))).toMatch(/equation/);
    expect(failure(() => verifyEnc(math, { ...ctx, label: 'hat' }, aux, st, proof))).toMatch(/equation/);
  });

  it("rejects the proof verified against another party's key, ciphertext or verifier parameters (A7)", async () => {
    const other = (await partyKeys(3)).sk;
    expect(failure(() => verifyEnc(math, ctx, aux, { pk: other.pub, K }, proof))).not.toBe('accepted');
    const K2 = encrypt(math, prover.pub, k, math.randUnit(prover.pub.n, rng));
    expect(failure(() => verifyEnc(math, ctx, aux, { pk: prover.pub, K: K2 }, proof))).toMatch(/equation/);
    expect(failure(() => verifyEnc(math, ctx, otherAux, { pk: prover.pub, K }, proof))).not.toBe('accepted');
  });

  it('rejects every response and commitment set to 0, 1, the bound, bound + 1 and the modulus (A6)', () => {
    const st = { pk: prover.pub, K };
    const rangeBound = 1n << BigInt(SECURITY.ell + SECURITY.epsilon);
    const values: Record<keyof EncProof, bigint[]> = {
      S: [0n, 1n, aux.n, aux.n + 1n],
      A: [0n, 1n, prover.pub.n2, prover.pub.n],
      C: [0n, 1n, aux.n, aux.n + 1n],
      z1: [0n, 1n, rangeBound, rangeBound + 1n, -rangeBound - 1n, prover.pub.n],
      z2: [0n, 1n, prover.pub.n, prover.pub.n + 1n],
      z3: [0n, 1n, aux.n, -aux.n],
    };
    for (const [field, vs] of Object.entries(values) as Array<[keyof EncProof, bigint[]]>) {
      for (const v of vs) {
        if (v === proof[field]) continue;
        expect(
          failure(() => verifyEnc(math, ctx, aux, st, { ...proof, [field]: v })),
          `${field}`,
        ).toMatch(/^ERR_ZK_PROOF_INVALID:/);
      }
    }
    // z1 one past either end of ±2^(ℓ+ε) is refused by the range check itself, not by an equation;
    // z1 on the bound passes the range check and fails on the equations.
    const at = (z1: bigint) => failure(() => verifyEnc(math, ctx, aux, st, { ...proof, z1 }));
    expect(at(rangeBound + 1n)).toBe('ERR_ZK_PROOF_INVALID:z1 out of range');
    expect(at(-rangeBound - 1n)).toBe('ERR_ZK_PROOF_INVALID:z1 out of range');
    expect(at(rangeBound)).toMatch(/^ERR_ZK_PROOF_INVALID:.*equation$/);
    expect(at(-rangeBound)).toMatch(/^ERR_ZK_PROOF_INVALID:.*equation$/);
    // Each membership check and each equation refuses on its own, with its own reason (a check
    // masked by a later one could be removed unnoticed).
    const patched = (patch: Partial<EncProof>) => failure(() => verifyEnc(math, ctx, aux, st, { ...proof, ...patch }));
    expect(patched({ S: aux.n })).toBe('ERR_ZK_PROOF_INVALID:S is not in Z*_N̂');
    expect(patched({ C: 0n })).toBe('ERR_ZK_PROOF_INVALID:C is not in Z*_N̂');
    expect(patched({ A: prover.pub.n })).toBe('ERR_ZK_PROOF_INVALID:A is not in Z*_{N0²}');
    expect(patched({ z2: prover.p })).toBe('ERR_ZK_PROOF_INVALID:z2 is not in Z*_{N0}');
    // z2·2 keeps the challenge and the ring-Pedersen relation, breaks only the Paillier one;
    // z3 + 1 the other way round.
    expect(patched({ z2: math.mulMod(proof.z2, 2n, prover.pub.n) })).toBe('ERR_ZK_PROOF_INVALID:Paillier equation');
    expect(patched({ z3: proof.z3 + 1n })).toBe('ERR_ZK_PROOF_INVALID:ring-Pedersen equation');
  });

  it('rejects a ciphertext outside Z*_{N²} in the statement (A15)', () => {
    for (const bad of [0n, prover.pub.n2, prover.pub.n * 5n, prover.pub.n2 + 1n]) {
      expect(failure(() => verifyEnc(math, ctx, aux, { pk: prover.pub, K: bad }, proof))).toBe(
        'ERR_ZK_PROOF_INVALID:K is not in Z*_{N0²}',
      );
    }
  });

  it('decodes strictly: truncation, trailing bytes, wrong tag, non-canonical and oversize fields are typed errors', () => {
    const bytes = encodeEncProof(proof);
    expect(decodeEncProof(bytes)).toEqual(proof);
    for (let cut = 0; cut < bytes.length; cut += Math.max(1, Math.floor(bytes.length / 97))) {
      expect(failure(() => decodeEncProof(bytes.subarray(0, cut)))).toMatch(/^ERR_WIRE_TRUNCATED/);
    }
    expect(failure(() => decodeEncProof(Uint8Array.of(...bytes, 0)))).toMatch(/^ERR_WIRE_TRAILING_BYTES/);
    expect(failure(() => decodeEncProof(Uint8Array.of(0x03, ...bytes.subarray(1))))).toMatch(/^ERR_WIRE_BAD_TAG/);
    // S with a leading zero byte: same value, second encoding → refused.
    const s = Uint8Array.from(bytes);
    const len = new DataView(s.buffer).getUint32(2);
    const nonCanonical = Uint8Array.of(
      ...s.subarray(0, 2),
      0,
      0,
      (len + 1) >> 8,
      (len + 1) & 0xff,
      0,
      ...s.subarray(6),
    );
    expect(failure(() => decodeEncProof(nonCanonical))).toMatch(/^ERR_WIRE_NON_CANONICAL/);
    // A length prefix of 2^32 − 1 is refused before any allocation.
    const huge = Uint8Array.of(...s.subarray(0, 2), 0xff, 0xff, 0xff, 0xff, ...s.subarray(6));
    expect(failure(() => decodeEncProof(huge))).toMatch(/^ERR_WIRE_BAD_LENGTH/);
    expect(failure(() => decodeEncProof(new Uint8Array(1 << 20)))).toMatch(/^ERR_WIRE_TOO_LARGE/);
  });
});
