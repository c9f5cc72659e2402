#!/usr/bin/env node
// Builds the wasm32 math core: wasm/src/*.c -> wasm/build/mpc_math.wasm, with Debian's clang + lld
// (freestanding wasm32 + SIMD128 + bulk memory; no emscripten, no libc).
//
//   node scripts/build-wasm.mjs            `npm run build:wasm` / build.mjs: if clang or wasm-ld is
//                                          missing, prints one line naming the Debian packages and
//                                          exits 0 (the project then uses the native or js backend).
//   node scripts/build-wasm.mjs --strict   any missing tool or compile error exits 1.
//   --force                                rebuild even when the output is newer than every source.
//
// Idempotent: when the module is newer than every file in wasm/src/ and this script, nothing runs.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const strict = process.argv.includes('--strict');
const force = process.argv.includes('--force');
const srcDir = join(root, 'wasm', 'src');
const outDir = join(root, 'wasm', 'build');
const outFile = join(outDir, 'mpc_math.wasm');
const TAG = 'mpc-custody wasm';

function finish(ok, line, output) {
  if (ok) {
    console.log(`${TAG}: ${line}`);
    process.exit(0);
  }
  if (output) process.stderr.write(`${output.trimEnd()}\n`);
  if (strict) {
    console.error(`${TAG}: build failed: ${line}`);
    process.exit(1);
  }
  console.warn(`${TAG}: wasm backend unavailable (${line}); falling back to the native/js backend`);
  process.exit(0);
}

function run(command, args) {
  const r = spawnSync(command, args, { cwd: root, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  return { error: r.error, status: r.status, output: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

const sources = readdirSync(srcDir)
  .filter((f) => f.endsWith('.c') || f.endsWith('.h'))
  .sort()
  .map((f) => join(srcDir, f));
const cFiles = sources.filter((f) => f.endsWith('.c'));

// Up to date? Compare the output's mtime with every source and with this script.
if (!force && existsSync(outFile)) {
  const built = statSync(outFile).mtimeMs;
  const newest = Math.max(...[...sources, fileURLToPath(import.meta.url)].map((f) => statSync(f).mtimeMs));
  if (built >= newest) finish(true, `up to date (${outFile})`);
}

// Toolchain: clang with the wasm32 target, and wasm-ld (Debian package lld) which clang invokes.
const clang = process.env.MPC_WASM_CC || 'clang';
const probeClang = run(clang, ['--version']);
const probeLd = run('wasm-ld', ['--version']);
const missing = [];
if (probeClang.error || probeClang.status !== 0) missing.push('clang');
if (probeLd.error || probeLd.status !== 0) missing.push('lld');
if (missing.length > 0) {
  finish(
    false,
    `${missing.map((p) => (p === 'lld' ? 'wasm-ld' : p)).join(' and ')} not found; install the Debian packages: apt-get install -y ${missing.join(' ')}`,
  );
}

const flags = [
  '--target=wasm32',
  '-O3',
  '-msimd128', // i64x2.extmul_*: two 32x32->64 products per instruction (the hot loop)
  '-mbulk-memory', // memset/memcpy become memory.fill/memory.copy, so no libc is needed
  '-nostdlib',
  '-ffreestanding',
  '-fno-exceptions',
  '-Wall',
  '-Wextra',
  '-Wl,--no-entry',
  '-Wl,--strip-debug',
  '-Wl,-z,stack-size=131072',
  '-Wl,--initial-memory=1048576',
];

mkdirSync(outDir, { recursive: true });
const tmp = `${outFile}.${process.pid}.tmp`;
const compiled = run(clang, [...flags, '-o', tmp, ...cFiles]);
if (compiled.error || compiled.status !== 0) {
  rmSync(tmp, { force: true });
  finish(false, `clang failed (status ${compiled.status ?? compiled.error?.message})`, compiled.output);
}
renameSync(tmp, outFile);
if (compiled.output.trim()) process.stderr.write(`${compiled.output.trimEnd()}\n`);
finish(true, `built ${outFile} (${statSync(outFile).size} bytes)`);
