#!/usr/bin/env node
// Builds the native GMP math core (binding.gyp -> build/Release/mpc_math.node).
//
//   node scripts/build-native.mjs            npm `install` script: never fails the install. If the
//                                            addon cannot be built, prints one line saying why and
//                                            exits 0 (the project then uses the wasm or js backend).
//   node scripts/build-native.mjs --strict   `npm run build:native`: any failure exits 1, with the
//                                            compiler output.
//   --verbose                                stream node-gyp's output instead of capturing it.
//
// Offline by design: node-gyp is pointed at the headers installed with the running node
// (<prefix>/include/node) unless npm already passes `nodedir`, so no header download is needed.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const strict = process.argv.includes('--strict');
const verbose = process.argv.includes('--verbose');
const addonPath = join(root, 'build', 'Release', 'mpc_math.node');
const secpAddonPath = join(root, 'build', 'Release', 'mpc_secp256k1.node');
const TAG = 'mpc-custody native';

/** Ends the script: success, or failure (exit 0 unless --strict). */
function finish(ok, line, output) {
  if (ok) {
    console.log(`${TAG}: ${line}`);
    process.exit(0);
  }
  if (strict) {
    if (output) process.stderr.write(`${output.trimEnd()}\n`);
    console.error(`${TAG}: build failed: ${line}`);
    process.exit(1);
  }
  console.warn(`${TAG}: native GMP backend unavailable (${line}); falling back to the wasm/js backend`);
  process.exit(0);
}

function run(command, args, options = {}) {
  const result = spawnSync(command, args, {
    cwd: root,
    encoding: 'utf8',
    stdio: verbose ? 'inherit' : 'pipe',
    maxBuffer: 64 * 1024 * 1024,
    ...options,
  });
  return {
    error: result.error,
    status: result.status,
    stderr: result.stderr ?? '',
    output: `${result.stdout ?? ''}${result.stderr ?? ''}`,
  };
}

// 1. A C++ compiler that can see gmp.h (the usual reason for failure, so it gets its own message).
function checkGmpHeader() {
  const cxx = process.env.CXX || 'c++';
  const probe = run(cxx, ['-E', '-x', 'c++', '-'], { input: '#include <gmp.h>\n', stdio: 'pipe' });
  if (probe.error && probe.error.code === 'ENOENT') {
    finish(false, `no C++ compiler (${cxx}) found; install build-essential (Debian/Ubuntu) or set CXX`, '');
  }
  if (probe.status !== 0) {
    const hint =
      process.platform === 'darwin'
        ? 'brew install gmp'
        : 'install the Debian/Ubuntu package libgmp-dev (apt-get install libgmp-dev), or gmp-devel on Fedora';
    finish(false, `gmp.h not found: ${hint}`, probe.stderr);
  }
}

// 2. node-gyp: the project's own, else the one npm ships with (npm exports its path to scripts),
//    else `npm exec node-gyp`.
function nodeGypCommand() {
  const require = createRequire(join(root, 'package.json'));
  try {
    return { command: process.execPath, args: [require.resolve('node-gyp/bin/node-gyp.js')] };
  } catch {
    // not installed locally (e.g. npm ci --omit=dev)
  }
  const bin = join(root, 'node_modules', '.bin', process.platform === 'win32' ? 'node-gyp.cmd' : 'node-gyp');
  if (existsSync(bin)) return { command: bin, args: [] };
  const npmGyp = process.env.npm_config_node_gyp;
  if (npmGyp && existsSync(npmGyp)) return { command: process.execPath, args: [npmGyp] };
  return { command: process.platform === 'win32' ? 'npm.cmd' : 'npm', args: ['exec', '--yes=false', '--', 'node-gyp'] };
}

// 3. Headers: npm passes its `nodedir` setting as npm_config_nodedir (node-gyp reads that). When run
//    directly, use the headers installed next to the running node if present (offline), else let
//    node-gyp use its download cache.
function nodedirArgs() {
  if (process.env.npm_config_nodedir) return [];
  const prefix = resolve(dirname(process.execPath), '..');
  if (existsSync(join(prefix, 'include', 'node', 'node_api.h'))) return [`--nodedir=${prefix}`];
  return [];
}

// 4. The built file must load and compute: catches a missing libgmp.so at run time.
function smokeTest() {
  try {
    const require = createRequire(import.meta.url);
    const addon = require(addonPath);
    if (addon.powm(4n, 13n, 497n) !== 445n || addon.powmSec(4n, 13n, 497n) !== 445n) {
      return 'the built addon computed a wrong result';
    }
    if (!existsSync(secpAddonPath))
      return `GMP ${addon.gmpVersion}; libsecp256k1 not found, secp256k1 via @noble/curves`;
    // 1·G must come back as G (compressed): the library is linked and loads
    const secp = require(secpAddonPath);
    const g = Buffer.from('0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798', 'hex');
    const one = new Uint8Array(32);
    one[31] = 1;
    const out = secp.secpMul(new Uint8Array(g), one);
    if (!(out instanceof Uint8Array) || !Buffer.from(out).equals(g)) {
      return 'the built addon computed a wrong result (mpc_secp256k1)';
    }
    return `GMP ${addon.gmpVersion}; build/Release/mpc_secp256k1.node (libsecp256k1)`;
  } catch (e) {
    return { error: e instanceof Error ? e.message : String(e) };
  }
}

checkGmpHeader();
const gyp = nodeGypCommand();
const build = run(gyp.command, [...gyp.args, 'rebuild', ...nodedirArgs()]);
if (build.error) finish(false, `could not run node-gyp: ${build.error.message}`, build.output);
if (build.status !== 0) {
  const firstError = build.output.split('\n').find((l) => /\berror\b/i.test(l) && !/^gyp (ERR|info)/.test(l));
  finish(false, `node-gyp rebuild failed${firstError ? `: ${firstError.trim()}` : ''}`, build.output);
}
const smoke = smokeTest();
if (typeof smoke !== 'string') finish(false, `built, but loading it failed: ${smoke.error}`, build.output);
if (smoke.startsWith('the built')) finish(false, smoke, build.output);
finish(true, `built build/Release/mpc_math.node (${smoke})`, '');
