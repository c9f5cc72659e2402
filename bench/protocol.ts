import { createHash, randomFillSync } from 'node:crypto';
import { countingBackend, type ExpCounts } from '../src/math/counting.js';
import { loadBackend } from '../src/math/select.js';
import type { AuxInfo, KeyShare } from '../src/protocol/key-share.js';
import { type LocalOptions, runAuxInfo, runKeygen, runPresign, signDigest } from '../src/protocol/local.js';
import { MemoryPresignatureLedger } from '../src/protocol/sign.js';
import { fixtureSafePrimes } from './lib.js';

export interface PhaseRow {
  n: number;
  t: number;
  phase: 'keygen' | 'aux' | 'presign' | 'sign';
  /** Wall time of the whole in-process run (all parties on one thread). */
  totalMs: number;
  /** totalMs / parties: CPU per party. */
  perPartyMs: number;
  /** Exponentiations per party, by kind. */
  perParty: ExpCounts;
}

const sysRng = { fill: (b: Uint8Array) => void randomFillSync(b) };

/**
 * Per-phase cost of the protocols for n = 3 and n = 5 on the native backend, with the count of
 * modular exponentiations per phase and party (PERFORMANCE.md: hold it against the GMP bound).
 * All parties run in one process on one thread, so time per party = total / parties.
 * Aux-info uses the committed fixture primes: prime search is measured separately (bench math).
 */
export async function benchProtocol(log: (line: string) => void): Promise<PhaseRow[]> {
  const primes = fixtureSafePrimes();
  const rows: PhaseRow[] = [];
  const { math, counts, reset } = countingBackend(loadBackend('native'));
  for (const [n, t] of [
    [3, 2],
    [5, 3],
  ] as const) {
    const opts: LocalOptions = { math, sid: `bench-${n}-${Date.now()}`, rng: () => sysRng };
    const phase = <T>(name: PhaseRow['phase'], parties: number, fn: () => T): T => {
      reset();
      const t0 = performance.now();
      const out = fn();
      const totalMs = performance.now() - t0;
      const perParty = Object.fromEntries(
        Object.entries(counts).map(([k, v]) => [k, Math.round(v / parties)]),
      ) as unknown as ExpCounts;
      rows.push({ n, t, phase: name, totalMs, perPartyMs: totalMs / parties, perParty });
      log(
        `  n=${n} t=${t} ${name.padEnd(7)} ${(totalMs / parties).toFixed(0).padStart(7)} ms/party  exps/party: powm ${perParty.powm}, powmSec ${perParty.powmSec}, CRT ${perParty.powmCrt}, multiExp ${perParty.multiExp}, batched ${perParty.batched}`,
      );
      return out;
    };
    const core = phase('keygen', n, () => runKeygen(n, t, opts));
    const aux = phase('aux', n, () =>
      runAuxInfo(
        Array.from({ length: n }, (_, i) => ({ p: primes[2 * i] as bigint, q: primes[2 * i + 1] as bigint })),
        opts,
      ),
    );
    const shares: KeyShare[] = core.map((c, i) => ({ core: c, aux: aux[i] as AuxInfo }));
    const signers = Array.from({ length: t }, (_, i) => i);
    const presigs = phase('presign', t, () => runPresign(shares, signers, [], opts));
    const digest = createHash('sha256').update('bench').digest();
    phase('sign', t, () =>
      signDigest(
        presigs,
        digest,
        presigs.map(() => new MemoryPresignatureLedger()),
      ),
    );
  }
  return rows;
}
