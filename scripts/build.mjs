#!/usr/bin/env node
// Builds everything the project runs: the native addon (if missing or stale), the wasm core, and the
// TypeScript sources to dist/. Missing toolchains cost one line each; the backends fall back.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const run = (cmd, args) => {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
};

/** The addons are rebuilt when mpc_math is missing, older than a source it is built from, or
 *  mpc_secp256k1 is missing while libsecp256k1 is now installed (scripts/probe-libsecp256k1.mjs). */
function nativeIsStale() {
  const addon = join(root, 'build', 'Release', 'mpc_math.node');
  if (!existsSync(addon)) return true;
  const built = statSync(addon).mtimeMs;
  const sources = [
    ...readdirSync(join(root, 'native')).map((f) => join('native', f)),
    'binding.gyp',
    'scripts/build-native.mjs',
    'scripts/probe-libsecp256k1.mjs',
  ];
  if (sources.some((f) => statSync(join(root, f)).mtimeMs > built)) return true;
  if (existsSync(join(root, 'build', 'Release', 'mpc_secp256k1.node'))) return false;
  const probe = spawnSync(process.execPath, ['scripts/probe-libsecp256k1.mjs'], { cwd: root, encoding: 'utf8' });
  return probe.stdout === 'true';
}

if (nativeIsStale()) run(process.execPath, ['scripts/build-native.mjs']);
run(process.execPath, ['scripts/build-wasm.mjs']);
rmSync(join(root, 'dist'), { recursive: true, force: true });
run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json']);
console.log('build: TypeScript compiled to dist/');
