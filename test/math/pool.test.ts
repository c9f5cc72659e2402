import { afterAll, describe, expect, it } from 'vitest';
import { MpcError } from '../../src/errors/index.js';
import { MathPool } from '../../src/math/pool.js';
import type { PowmTask } from '../../src/math/raw.js';
import { backend } from '../helpers/backends.js';
import { TestDrbg } from '../helpers/drbg.js';

function tasks(n: number, bits: number): PowmTask[] {
  const rng = new TestDrbg(`pool-${n}-${bits}`);
  return Array.from({ length: n }, (_, i) => {
    const mod = rng.oddModulus(bits);
    return { base: rng.bits(bits) % mod, exp: rng.bits(bits), mod, secret: i % 2 === 0 };
  });
}

describe('math worker pool', () => {
  const pool = new MathPool({ backend: 'native', threads: 2 });
  afterAll(() => pool.close());

  it('runs batches on the workers with the selected backend and returns results in order', async () => {
    expect(await pool.warmUp()).toBe('native');
    const t = tasks(64, 1024);
    const want = backend('js').powmBatch(t);
    expect(await pool.powmBatch(t)).toEqual(want);
    const items = t.slice(0, 10).map((x) => ({ bases: [x.base, 3n], exps: [x.exp, 5n], mod: x.mod, secret: x.secret }));
    expect(await pool.multiExpBatch(items)).toEqual(items.map((x) => backend('js').multiExp(x.bases, x.exps, x.mod)));
    expect(await pool.powmBatch([])).toEqual([]);
  });

  it('keeps the event loop free while heavy work runs', async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const work = pool.powmBatch(tasks(24, 3072));
    // The batch takes hundreds of ms on the workers; the main thread must keep servicing timers.
    await new Promise((r) => setTimeout(r, 20));
    const ticksWhileBusy = ticks;
    await work;
    clearInterval(timer);
    expect(ticksWhileBusy).toBeGreaterThan(0);
  });

  it('rebuilds typed errors thrown inside a worker', async () => {
    await expect(pool.powmBatch([{ base: 2n, exp: 3n, mod: 10n, secret: false }])).rejects.toMatchObject({
      code: 'ERR_MATH_MODULUS_EVEN',
    });
    await expect(pool.generatePrime(8, 'blum')).rejects.toBeInstanceOf(MpcError);
  });

  it('generates primes of each kind on a worker', async () => {
    const p = await pool.generatePrime(256, 'safe');
    expect(await pool.checkPrime(p, 'safe')).toBe(true);
    expect(await pool.checkPrime(p + 2n, 'blum')).toBe(false);
  });
});

describe('math pool lifecycle', () => {
  it('close() waits for running work, then refuses new work', async () => {
    const pool = new MathPool({ backend: 'js', threads: 1 });
    const running = pool.sleepBusy(300);
    await new Promise((r) => setTimeout(r, 50));
    await pool.close();
    await expect(running).resolves.toBeGreaterThan(0);
    await expect(pool.powmBatch(tasks(1, 256))).rejects.toMatchObject({ code: 'ERR_POOL_CLOSED' });
    await pool.close(); // idempotent
  });

  it('close() destroys workers still busy after its timeout', async () => {
    const pool = new MathPool({ backend: 'js', threads: 1 });
    const stuck = pool.sleepBusy(60_000);
    stuck.catch(() => undefined);
    await new Promise((r) => setTimeout(r, 50));
    await pool.close({ timeoutMs: 100 });
    await expect(stuck).rejects.toMatchObject({ code: 'ERR_POOL_CLOSED' });
  });

  it('rejects a bad thread count', () => {
    expect(() => new MathPool({ backend: 'js', threads: 0 })).toThrow(/ERR_CONFIG_INVALID/);
  });
});
