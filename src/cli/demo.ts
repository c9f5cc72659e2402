import { bitLength } from '../math/bits.js';
import { MathPool } from '../math/pool.js';
import type { BackendName, PowmTask } from '../math/raw.js';
import { BACKEND_NAMES, loadBackend, selectBackend } from '../math/select.js';

/**
 * `npm run demo` until the protocol lands: shows which math backends load and pass their
 * known-answer self-tests, a short timing of the Paillier-sized exponentiation on each, and the
 * worker pool running a batch off the event loop.
 */
export async function demoCommand(out: (line: string) => void): Promise<number> {
  out('mpc-custody demo: math core self-test and benchmark summary');
  for (const name of BACKEND_NAMES) {
    const t0 = performance.now();
    try {
      loadBackend(name);
      out(`  backend ${name.padEnd(6)} self-test passed (${(performance.now() - t0).toFixed(0)} ms)`);
    } catch (e) {
      out(`  backend ${name.padEnd(6)} unavailable: ${(e as Error).message}`);
    }
  }
  const chosen = selectBackend({ log: (l) => out(`  ${l}`) });
  out(`  selected backend: ${chosen.name}`);

  out('timing one exponentiation per shape (ms per operation, fewer runs for slower backends):');
  const shapes: Array<[number, number, string]> = [
    [1536, 1536, 'CRT half of a 3072-bit N'],
    [3072, 3072, 'mod N'],
    [6144, 3072, 'Paillier r^N mod N^2'],
  ];
  const seedMod = (bits: number): bigint => (1n << BigInt(bits - 1)) | (0x9e3779b97f4a7c15n * BigInt(bits)) | 1n;
  for (const [modBits, expBits, label] of shapes) {
    const mod = seedMod(modBits) ^ (1n << BigInt(modBits - 7));
    const base = mod / 3n;
    const exp = (1n << BigInt(expBits - 1)) | 0x5deece66dn;
    const cells: string[] = [];
    for (const name of BACKEND_NAMES) {
      let math: ReturnType<typeof loadBackend>;
      try {
        math = loadBackend(name);
      } catch {
        cells.push(`${name}: n/a`);
        continue;
      }
      const runs = name === 'native' ? 5 : 2;
      const t0 = performance.now();
      for (let i = 0; i < runs; i++) math.powmSec(base, exp, mod);
      cells.push(`${name}: ${((performance.now() - t0) / runs).toFixed(1)}`);
    }
    out(`  ${String(modBits).padStart(4)}/${String(expBits).padEnd(4)} ${label.padEnd(26)} ${cells.join('  ')}`);
  }

  const pool = new MathPool({ backend: chosen.name as BackendName });
  try {
    await pool.warmUp();
    const mod = seedMod(3072);
    const tasks: PowmTask[] = Array.from({ length: 32 }, (_, i) => ({
      base: mod / BigInt(i + 3),
      exp: mod - BigInt(i),
      mod,
      secret: true,
    }));
    const t0 = performance.now();
    const results = await pool.powmBatch(tasks);
    const ms = performance.now() - t0;
    out(
      `worker pool: ${tasks.length} secret 3072-bit exponentiations on ${pool.threads} workers in ${ms.toFixed(0)} ms ` +
        `(${((tasks.length * 1000) / ms).toFixed(0)} op/s); results ${results.every((r) => bitLength(r) <= 3072) ? 'ok' : 'WRONG'}`,
    );
  } finally {
    await pool.close();
  }
  out('the CGGMP24 protocol demo (keygen, presign, sign over NATS) arrives with the protocol issues.');
  return 0;
}
