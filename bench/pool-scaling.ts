import { MathPool } from '../src/math/pool.js';
import type { BackendName, PowmTask } from '../src/math/raw.js';
import { measure, seeded } from './lib.js';

export interface PoolRow {
  backend: BackendName;
  threads: number;
  batch: number;
  msPerBatch: number;
  speedup: number;
}

/** Batch modexp (3072/3072, secret) through the piscina pool with 1 and 2 workers. */
export async function benchPool(backend: BackendName, log: (line: string) => void): Promise<PoolRow[]> {
  const rnd = seeded('pool');
  const mod = rnd(3072) | 1n;
  const tasks: PowmTask[] = Array.from({ length: 32 }, () => ({
    base: rnd(3072) % mod,
    exp: rnd(3072),
    mod,
    secret: true,
  }));
  const rows: PoolRow[] = [];
  for (const threads of [1, 2]) {
    const pool = new MathPool({ backend, threads });
    try {
      await pool.warmUp();
      const m = await measure(`pool ${threads}`, () => pool.powmBatch(tasks), 1000, 3);
      const base = rows[0]?.msPerBatch ?? m.msPerOp;
      rows.push({ backend, threads, batch: tasks.length, msPerBatch: m.msPerOp, speedup: base / m.msPerOp });
      log(
        `  ${threads} worker(s): ${m.msPerOp.toFixed(0)} ms per batch of ${tasks.length}, speed-up ×${(base / m.msPerOp).toFixed(2)}`,
      );
    } finally {
      await pool.close();
    }
  }
  return rows;
}
