#!/usr/bin/env node
// Prints `true` when libsecp256k1 (header and library) can be compiled and linked against, else
// `false`. binding.gyp reads this to add native/secp256k1.cc to the addon; without the library the
// addon still builds, and src/primitives/secp256k1-backend.ts falls back to @noble/curves.
// MPC_NO_LIBSECP256K1=1 forces `false` (to build and test the fallback on a machine that has it).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function probe() {
  if (process.env.MPC_NO_LIBSECP256K1 === '1') return false;
  const dir = mkdtempSync(join(tmpdir(), 'mpc-secp-probe-'));
  try {
    const cxx = process.env.CXX || 'c++';
    const source = `#include <secp256k1.h>
int main() { secp256k1_context* c = secp256k1_context_create(SECP256K1_CONTEXT_NONE); secp256k1_context_destroy(c); return 0; }
`;
    const args = ['-x', 'c++', '-', '-o', join(dir, 'probe'), '-lsecp256k1'];
    if (process.platform === 'darwin')
      args.push('-I/opt/homebrew/include', '-L/opt/homebrew/lib', '-I/usr/local/include', '-L/usr/local/lib');
    const r = spawnSync(cxx, args, { input: source, stdio: ['pipe', 'ignore', 'ignore'] });
    return r.status === 0;
  } catch {
    return false;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

process.stdout.write(probe() ? 'true' : 'false');
