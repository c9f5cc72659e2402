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
 * Presigning cost by proof, per party, with t signers (t − 1 peers), in the CGGMP24 revision's form
 * (src/protocol/presign.ts, Fig. 8) against the CGGMP21-era form it replaced. Range proofs are the
 * Paillier/ring-Pedersen ones (their exponentiations are what the counts below measure); Πelog is
 * curve-only.
 *
 *   round  | CGGMP24 revision (now)                          | CGGMP21 form (before)
 *   r1     | prove 2(t−1) Πenc-elg                            | prove (t−1) Πenc
 *   r2     | verify 2(t−1) Πenc-elg; prove 2(t−1) Πaff-g,    | verify (t−1) Πenc; prove 2(t−1) Πaff-g,
 *          |   1 Πelog                                       |   (t−1) Πlog*
 *   r3     | verify 2(t−1) Πaff-g, (t−1) Πelog; prove 1 Πelog | verify 2(t−1) Πaff-g, (t−1) Πlog*; prove (t−1) Πlog*
 *   output | verify (t−1) Πelog                              | verify (t−1) Πlog*
 *
 * Per peer that is 2 Paillier range proofs (+ 2 verifications) instead of 3 (+ 3). Measured with the
 * counting backend (exponentiations per call): Πenc-elg and Πlog* prove 2 CRT + 2 multi-exp, verify
 * 3 powm + 1 multi-exp; Πenc prove 2 powmSec + 2 multi-exp, verify the same as the others; Πaff-g
 * prove 1 powmSec + 2 CRT + 5 multi-exp, verify 5 powm + 3 multi-exp; Πelog none. Whole presign per
 * party (now measured; before = now + one Πenc prove and verify per peer):
 *
 *   t | now: powm  powmSec  CRT  multiExp  total | before: powm  powmSec  CRT  multiExp  total
 *   2 |        16        6   14        22     58 |           19        8   14        25     66
 *   3 |        32       12   26        44    114 |           38       16   26        50    130
 *
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
