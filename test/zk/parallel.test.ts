import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MpcError } from '../../src/errors/index.js';
import { MathPool } from '../../src/math/pool.js';
import { encrypt, type PaillierSecretKey } from '../../src/primitives/paillier.js';
import type { RingPedersenParams } from '../../src/primitives/ring-pedersen.js';
import type { ProofContext } from '../../src/zk/common.js';
import { verifyEnc } from '../../src/zk/enc.js';
import { ZkRunner, zkWorkerFile } from '../../src/zk/parallel.js';
import { TestDrbg } from '../helpers/drbg.js';
import { math, partyKeys, sid } from '../helpers/keys.js';

describe('proofs for different counterparties run in parallel on the worker pool', () => {
  const pool = new MathPool({ backend: 'native', threads: 2, workerFile: zkWorkerFile() });
  const zk = new ZkRunner(pool);
  afterAll(() => pool.close());
  let prover: PaillierSecretKey;
  let verifiers: RingPedersenParams[];
  const ctx: ProofContext = { sid: sid('parallel'), prover: 0 };
  const rng = new TestDrbg('parallel');

  beforeAll(async () => {
    prover = (await partyKeys(0)).sk;
    verifiers = await Promise.all([1, 2, 3].map(async (i) => (await partyKeys(i)).rp.params));
  });

  it('proves Πenc towards three verifiers at once; each proof verifies directly and on the pool', async () => {
    const k = rng.bits(250);
    const rho = math.randUnit(prover.pub.n, rng);
    const K = encrypt(math, prover.pub, k, rho);
    const st = { pk: prover.pub, K };
    const proofs = await Promise.all(verifiers.map((aux) => zk.prove('enc', ctx, aux, st, { k, rho })));
    proofs.forEach((p, i) => {
      verifyEnc(math, ctx, verifiers[i] as RingPedersenParams, st, p);
    });
    const verdicts = await zk.verifyAll(
      proofs.map((p, i) => ({ proof: 'enc' as const, args: [ctx, verifiers[i], st, p] })),
    );
    expect(verdicts).toEqual([undefined, undefined, undefined]);
  });

  it('reports every failed verification with its typed error and check, not just the first', async () => {
    const k = rng.bits(250);
    const rho = math.randUnit(prover.pub.n, rng);
    const K = encrypt(math, prover.pub, k, rho);
    const st = { pk: prover.pub, K };
    const good = await zk.prove('enc', ctx, verifiers[0] as RingPedersenParams, st, { k, rho });
    const tasks = [
      { proof: 'enc' as const, args: [ctx, verifiers[0], st, good] },
      { proof: 'enc' as const, args: [ctx, verifiers[0], st, { ...good, z1: 1n << 600n }] },
      { proof: 'enc' as const, args: [{ ...ctx, prover: 9 }, verifiers[0], st, good] },
    ];
    const [ok, range, replay] = await zk.verifyAll(tasks);
    expect(ok).toBeUndefined();
    expect(range).toBeInstanceOf(MpcError);
    expect(range?.code).toBe('ERR_ZK_PROOF_INVALID');
    expect(range?.details.check).toBe('z1 out of range');
    expect(replay?.details.check).toMatch(/equation/);
  });
});
