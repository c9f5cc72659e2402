import { relative } from 'node:path';
import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * The longest files, longest first (seconds measured in CI on 2 cores, 2026-12-03). In a fresh clone
 * vitest has no timing cache and runs the largest files first, which put small-but-long files (the
 * agreement suites, e2e) last, alone on one core while the other sat idle. Longest-first keeps both
 * cores busy to the end; every other file keeps vitest's order (cached durations, else size).
 */
const LONG_FIRST = [
  'test/daemon/refresh-process.test.ts', // ~170 s here under load with six process tests; 205-253 s → 257-272 s with the seventh (a leave, 26-42 s) at load average 3-11
  'test/math/agreement-6144-exp.test.ts', // 226 s at 10^4 inputs; fewer since
  'test/protocol/e2e.test.ts', // 144
  'test/math/agreement-6144-nt.test.ts', // 131 at 10^4 inputs
  'test/math/agreement-3072.test.ts', // 106
  'test/math/agreement-small.test.ts', // 103
  'test/daemon/party-process.test.ts', // 100
  'test/daemon/reshare-resume.test.ts', // ~75 s under load (2026-12-03: two in-process 4-party reshares)
  'test/protocol/identify.test.ts', // 80
  'test/daemon/party-daemon.test.ts', // 68
  'test/daemon/cosign-process.test.ts', // 67
  'test/orchestrator/process.test.ts', // 56
  'test/protocol/aux-info.test.ts', // 53
  'test/daemon/storage-faults.test.ts', // 52
  'test/protocol/presign.test.ts', // 47
  'test/protocol/sign.test.ts', // 43
  'test/daemon/identification.test.ts', // 40
  'test/daemon/tss-lib-import-process.test.ts', // 38
  'test/math/agreement-primes.test.ts', // 36
  'test/protocol/refresh.test.ts', // 35
  'test/daemon/limits.test.ts', // 34
  'test/daemon/reshare-leave.test.ts', // 25-31 s under load (one 3-party in-process reshare, two presigns, two 5 s commit waits)
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
    // Cross-backend agreement runs ~10^4 inputs per operation and size; integration tests start processes.
    testTimeout: 300_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Both cores: the agreement suites are split into files so they can run side by side.
    maxWorkers: 2,
    reporters: ['default'],
    sequence: { sequencer: LongFirstSequencer },
  },
});
