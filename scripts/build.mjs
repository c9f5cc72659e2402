#!/usr/bin/env node
// Builds everything the project runs: the native addon (if not built yet), the wasm core, and the
// TypeScript sources to dist/. Missing toolchains cost one line each; the backends fall back.
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const run = (cmd, args) => {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
};

if (!existsSync(join(root, 'build', 'Release', 'mpc_math.node'))) run(process.execPath, ['scripts/build-native.mjs']);
run(process.execPath, ['scripts/build-wasm.mjs']);
rmSync(join(root, 'dist'), { recursive: true, force: true });
run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json']);
console.log('build: TypeScript compiled to dist/');
