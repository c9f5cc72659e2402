import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `mpc-${prefix}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function walk(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/**
 * Files under `dir` containing any 16-byte window of any `secret` (windows every 8 bytes, so a copy
 * of at least 24 contiguous bytes is always caught). Returns the offending file names.
 */
export function scanForPlaintext(dir: string, secrets: readonly Uint8Array[]): string[] {
  const needles: Buffer[] = [];
  for (const s of secrets) {
    const b = Buffer.from(s);
    if (b.length < 16) throw new Error('secret too short to scan for');
    for (let o = 0; o + 16 <= b.length; o += 8) needles.push(b.subarray(o, o + 16));
  }
  return walk(dir).filter((f) => {
    const data = readFileSync(f);
    return needles.some((n) => data.indexOf(n) >= 0);
  });
}

/** Every way a prime could sit in a file: lowercase and uppercase hex, decimal, big-endian bytes. */
export function primeEncodings(p: bigint, bits: number): Buffer[] {
  const hex = p.toString(16).padStart(bits / 4, '0');
  return [
    Buffer.from(hex, 'ascii'),
    Buffer.from(hex.toUpperCase(), 'ascii'),
    Buffer.from(p.toString(10), 'ascii'),
    Buffer.from(hex, 'hex'),
  ];
}

export const modeOf = (p: string): number => statSync(p).mode & 0o777;

import { execFileSync, fork } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { packageRoot } from '../../src/util/package-root.js';

/**
 * Compiles test/storage/<entry> (default crash-child.ts; and what it imports) to JS under
 * node_modules/.cache, so a plain `node` child can run it (vitest runs TypeScript in-process only).
 * tsc 7 takes ~1 s.
 */
export function compileCrashChild(entry = 'crash-child.ts'): { script: string; cleanup: () => void } {
  const root = packageRoot();
  const out = join(root, 'node_modules', '.cache', `mpc-storage-crash-${process.pid}-${Date.now()}`);
  mkdirSync(out, { recursive: true });
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  try {
    execFileSync(process.execPath, [
      tsc,
      '--outDir',
      out,
      '--rootDir',
      root,
      '--module',
      'nodenext',
      '--moduleResolution',
      'nodenext',
      '--target',
      'es2022',
      '--types',
      'node',
      '--skipLibCheck',
      '--strict',
      '--ignoreConfig',
      join(root, 'test', 'storage', entry),
      join(root, 'src', 'storage', 'better-sqlite3.d.ts'),
    ]);
  } catch (e) {
    rmSync(out, { recursive: true, force: true });
    throw e;
  }
  const script = join(out, 'test', 'storage', entry.replace(/\.ts$/, '.js'));
  if (!existsSync(script)) throw new Error('crash child did not compile');
  return { script, cleanup: () => rmSync(out, { recursive: true, force: true }) };
}

/** Forks the child and resolves with how it ended and the IPC messages it sent. */
export function runChild(
  script: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ signal: NodeJS.Signals | null; code: number | null; messages: unknown[]; stderr: string }> {
  return new Promise((resolve, reject) => {
    const messages: unknown[] = [];
    let stderr = '';
    const child = fork(script, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('message', (m) => messages.push(m));
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve({ code, signal, messages, stderr }));
  });
}
