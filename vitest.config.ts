import { relative } from 'node:path';
import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * The longest files, longest first (seconds measured in CI on 2 cores, 2026-12-03; those marked
 * "now" scaled by the before/after ratio measured on a loaded 2-core machine after the CI-time
 * commits of branch ci: cached aux-info verification arithmetic, fewer random agreement inputs).
 * In a fresh clone vitest has no timing cache and runs the largest files first, which put
 * small-but-long files (the agreement suites, e2e) last, alone on one core while the other sat idle.
 * Longest-first keeps both cores busy to the end; every other file keeps vitest's order (cached
 * durations, else size).
 */
const LONG_FIRST = [
  'test/daemon/refresh-process.test.ts', // ~170 s under load with six process tests; 257-272 s with the seventh (a leave, 26-42 s) at load average 3-11
  'test/protocol/e2e.test.ts', // 144; now ~130 (the five-party aux info's proof verification shared)
  'test/daemon/party-process.test.ts', // 100
  'test/daemon/reshare-resume.test.ts', // ~75 s under load (2026-12-03: two in-process 4-party reshares)
  'test/daemon/cosign-process.test.ts', // 67
  'test/protocol/identify.test.ts', // 80; now ~58 (cached arithmetic across its runs)
  'test/orchestrator/process.test.ts', // 56
  'test/protocol/aux-info.test.ts', // 53
  'test/math/agreement-6144-exp.test.ts', // 226 s at 10^4 inputs; ~51 at 2,500
  'test/daemon/storage-faults.test.ts', // 52; now ~46
  'test/protocol/sign.test.ts', // 43
  'test/math/agreement-3072.test.ts', // 106 at 10^4 inputs; now ~42 at 2,500
  'test/daemon/identification.test.ts', // 40
  'test/math/agreement-small.test.ts', // 103 at 10^4 inputs; now ~38 (2,500 from 1536 bits up)
  'test/daemon/tss-lib-import-process.test.ts', // 38
  'test/math/agreement-primes.test.ts', // 36
  'test/daemon/party-daemon.test.ts', // 68; now ~35 (one cached backend for its three daemons)
  'test/daemon/limits.test.ts', // 34
  'test/protocol/refresh.test.ts', // 35; now ~29
  'test/daemon/reshare-leave.test.ts', // 25-31 s under load (one 3-party in-process reshare, two presigns, two 5 s commit waits)
  'test/math/agreement-6144-nt.test.ts', // 131 at 10^4 inputs; ~23 at 2,500
  // test/protocol/presign.test.ts (47) left the list: ~11 s with its malicious runs' arithmetic cached
];

class LongFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (f: TestSpecification) => {
      const i = LONG_FIRST.indexOf(relative(f.project.config.root, f.moduleId));
      return i < 0 ? LONG_FIRST.length : i;
    };
    return [...sorted].sort((a, b) => rank(a) - rank(b));
  }
}

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Cross-backend agreement runs 10^4 inputs per operation at 256 bits, 2,500 above; integration tests start processes.
    testTimeout: 300_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Both cores: the agreement suites are split into files so they can run side by side.
    maxWorkers: 2,
    reporters: ['default'],
    sequence: { sequencer: LongFirstSequencer },
  },
});
