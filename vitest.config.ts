import { relative } from 'node:path';
import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * Files that are small but run long (seconds of CPU on 2 cores). In a fresh clone vitest has no
 * timing cache and runs the largest files first, which put these last, each alone on one core while
 * the other sat idle. They go first; everything else keeps vitest's order (cached durations, else size).
 */
const LONG_FIRST = [
  'test/math/agreement-6144-exp.test.ts',
  'test/math/agreement-3072.test.ts',
  'test/math/agreement-6144-nt.test.ts',
  'test/math/agreement-small.test.ts',
  'test/math/agreement-primes.test.ts',
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
