import { defineConfig } from 'vitest/config';

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
  },
});
