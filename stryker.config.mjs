// @ts-check
/**
 * Mutation testing of the modules that carry security checks (issue 21): `npm run mutation`, or
 * `npm run mutation -- --mutate src/zk/enc.ts` for one module. Not part of `npm test` or CI: on
 * 2 cores a full run takes hours. Incremental: results are kept in reports/mutation/ and a later
 * run re-tests only mutants whose code or covering tests changed.
 */
import { existsSync } from 'node:fs';

/** Layers with checks; src/chains, src/policy and src/audit join as soon as they exist. */
const scoped = [
  'src/zk',
  'src/primitives',
  'src/protocol',
  'src/transport',
  'src/storage',
  'src/chains',
  'src/policy',
  'src/audit',
].filter((dir) => existsSync(dir));

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  packageManager: 'npm',
  plugins: ['@stryker-mutator/vitest-runner'],
  testRunner: 'vitest',
  // Test selection (which suites, and why some are left out) lives in this vitest config.
  vitest: { configFile: 'vitest.stryker.config.ts', related: true },
  mutate: [
    ...scoped.map((dir) => `${dir}/**/*.ts`),
    'src/daemon/control.ts',
    'src/daemon/coordinator.ts',
    'src/daemon/consume-group.ts',
    '!src/**/*.d.ts',
    // worker entry points run from dist/ (see vitest.stryker.config.ts): a mutant there is never executed
    '!src/**/worker.ts',
    '!src/**/*-worker.ts',
  ],
  coverageAnalysis: 'perTest',
  // The machine is shared: one test process at a time.
  concurrency: 1,
  timeoutMS: 60_000,
  timeoutFactor: 2,
  incremental: true,
  incrementalFile: 'reports/mutation/stryker-incremental.json',
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/index.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  clearTextReporter: { allowColor: false, logTests: false, reportScoreTable: true },
  // dist/ stays in the sandbox: pool and session workers load their compiled code from there.
  ignorePatterns: ['bench/results', '.prime-cache', 'coverage', '*.log'],
  // Stryker rewrites tsconfig paths with the TypeScript compiler API, which TypeScript 7 (native)
  // no longer ships. Our tsconfig points nowhere outside the sandbox, so name a file that does not
  // exist and the rewrite is skipped. (Vitest strips types; nothing is type-checked per mutant.)
  tsconfigFile: 'tsconfig.stryker-none.json',
  tempDirName: '.stryker-tmp',
  cleanTempDir: true,
  thresholds: { high: 90, low: 75, break: null },
};
