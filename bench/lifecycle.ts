/**
 * `npm run bench -- --only lifecycle` (or `node dist/bench/lifecycle.js [--n 3,5]`): wall time of the key lifecycle protocols with warm
 * prime pools (the committed fixture primes stand in for the pool: prime search is benched apart),
 * all parties in one process on one thread:
 *   refresh   zero-sharing dealing + aux-info with fresh primes (one session);
 *   reshare   (t, n) → (t, n) among the same committee: the dealing alone, then the new committee's
 *             aux-info (what a reshare costs beyond the dealing).
 * Benchmarks are not tests: nothing here fails on a slow number.
 */
import { randomFillSync } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { loadBackend } from '../src/math/select.js';
import type { CoreKeyShare } from '../src/protocol/key-share.js';
import { type LocalOptions, runAuxInfo, runKeygen, runRefresh, runReshare } from '../src/protocol/local.js';
import { keyRecordOf } from '../src/protocol/reshare.js';
import { fixtureSafePrimes } from './lib.js';

const sysRng = { fill: (b: Uint8Array) => void randomFillSync(b) };

function timed<T>(fn: () => T): { out: T; ms: number } {
  const t0 = performance.now();
  const out = fn();
  return { out, ms: performance.now() - t0 };
}

export interface LifecycleRow {
  readonly n: number;
  readonly t: number;
  /** Refresh: dealing + aux-info, one session, every party in this process (ms). */
  readonly refreshMs: number;
  /** Reshare (t, n) → (t, n): the dealing alone, then the new committee's aux-info (ms). */
  readonly reshareDealingMs: number;
  readonly reshareAuxMs: number;
}

export function benchLifecycle(sizes: readonly number[], log: (line: string) => void): LifecycleRow[] {
  const rows: LifecycleRow[] = [];
  const math = loadBackend('native');
  const primes = fixtureSafePrimes();
  const pair = (i: number) => ({ p: primes[2 * i] as bigint, q: primes[2 * i + 1] as bigint });
  for (const n of sizes) {
    const t = Math.floor(n / 2) + 1;
    const opts: LocalOptions = { math, sid: `bench-lifecycle-${n}-${Date.now()}`, rng: () => sysRng };
    const cores = runKeygen(n, t, opts);
    const r = timed(() =>
      runRefresh(
        cores,
        cores.map((_, i) => pair(i)),
        opts,
      ),
    );
    log(`  n=${n} t=${t} refresh  ${r.ms.toFixed(0).padStart(7)} ms total (dealing + aux-info)`);
    const ids = cores.map((_, i) => i);
    const d = timed(() =>
      runReshare(
        cores.map((core) => ({
          key: keyRecordOf(core),
          roles: { oldIndex: ids, newIndex: ids, newT: t },
          share: core,
        })),
        opts,
      ),
    );
    const next = d.out.map((o) => o.share as CoreKeyShare);
    const a = timed(() =>
      runAuxInfo(
        next.map((_, i) => pair(n + i)),
        { ...opts, sid: `${opts.sid}-aux` },
      ),
    );
    log(
      `  n=${n} t=${t} reshare  ${d.ms.toFixed(0).padStart(7)} ms dealing + ${a.ms.toFixed(0)} ms aux-info of the new committee`,
    );
    rows.push({ n, t, refreshMs: r.ms, reshareDealingMs: d.ms, reshareAuxMs: a.ms });
  }
  return rows;
}

// run directly: `node dist/bench/lifecycle.js [--n 3,5]`
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const at = process.argv.indexOf('--n');
  const sizes = at >= 0 ? (process.argv[at + 1] ?? '').split(',').map(Number) : [3, 5];
  if (sizes.some((x) => !Number.isInteger(x) || x < 2 || x > 10)) throw new Error('--n takes sizes in [2, 10]');
  benchLifecycle(sizes, (line) => console.log(line));
}
