import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Bench } from 'tinybench';
import { packageRoot } from '../src/util/package-root.js';

export interface Measurement {
  readonly name: string;
  readonly msPerOp: number;
  readonly opsPerSec: number;
  readonly samples: number;
}

/**
 * Times `fn` with tinybench: at least `iterations` runs and at least `timeMs` of sampling.
 * Slow tasks (hundreds of ms) get few samples; that is enough for ratios measured side by side.
 */
export async function measure(
  name: string,
  fn: () => unknown,
  timeMs = 300,
  iterations = 3,
  warmupIterations = 1,
): Promise<Measurement> {
  const bench = new Bench({ time: timeMs, iterations, warmupIterations, warmup: warmupIterations > 0, warmupTime: 0 });
  bench.add(name, fn);
  await bench.run();
  const task = bench.tasks[0];
  const r = task?.result;
  if (r === undefined || r.state !== 'completed') {
    const cause = r !== undefined && 'error' in r ? r.error : undefined;
    throw new Error(`benchmark ${name} did not complete`, { cause });
  }
  return { name, msPerOp: r.latency.mean, opsPerSec: 1000 / r.latency.mean, samples: r.latency.samplesCount };
}

/** Seeded pseudo-random bigints so every backend and peer sees the same operands. */
export function seeded(label: string): (bits: number) => bigint {
  let state = 0x9e3779b97f4a7c15n ^ BigInt(Buffer.from(label).reduce((a, b) => (a * 31 + b) >>> 0, 7));
  const next = (): bigint => {
    // xorshift64*: operand generation only, never for anything secret
    state ^= state >> 12n;
    state ^= (state << 25n) & 0xffffffffffffffffn;
    state ^= state >> 27n;
    return (state * 0x2545f4914f6cdd1dn) & 0xffffffffffffffffn;
  };
  return (bits: number) => {
    let x = 0n;
    for (let i = 0; i < Math.ceil(bits / 64); i++) x = (x << 64n) | next();
    return (x >> BigInt(Math.ceil(bits / 64) * 64 - bits)) | (1n << BigInt(bits - 1));
  };
}

/** The committed 1536-bit safe test primes (bench operands only: they are public). */
export function fixtureSafePrimes(): bigint[] {
  const fixture = JSON.parse(readFileSync(join(packageRoot(), 'test', 'fixtures', 'primes.json'), 'utf8')) as {
    sets: Record<string, string[]>;
  };
  const set = fixture.sets['safe-1536'];
  if (set === undefined || set.length < 8) throw new Error('test/fixtures/primes.json has no safe-1536 primes');
  return set.map((h) => BigInt(`0x${h}`));
}

export function writeResults(file: string, data: unknown): string {
  const dir = join(packageRoot(), 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, file);
  writeFileSync(path, `${JSON.stringify(data, (_k, v) => (typeof v === 'bigint' ? v.toString(16) : v), 2)}\n`);
  return path;
}

export const fmt = (ms: number): string => (ms >= 100 ? ms.toFixed(0) : ms >= 1 ? ms.toFixed(2) : ms.toFixed(4));
