/**
 * The rows of the CLI tables (cli-table.test.ts, cli-table-live.test.ts): a command with one bad
 * input, how to run it (in process through main.ts's runCli and COMMANDS, or the built CLI), and
 * what its one stderr line must and must not say.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { runCli } from '../../src/cli/command.js';
import { COMMANDS } from '../../src/cli/commands.js';

export const CLI = join(import.meta.dirname, '..', '..', 'dist', 'src', 'cli', 'main.js');

export type Kind =
  | 'unknown flag'
  | 'missing flag'
  | 'malformed value'
  | 'missing file'
  | 'directory'
  | 'not JSON'
  | 'wrong schema'
  | 'unknown field'
  | 'unknown key'
  | 'unknown presignature'
  | 'busy'
  | 'unreachable';

export interface Row {
  readonly cmd: string;
  readonly kind: Kind;
  /** The flag whose value (or file) is bad. */
  readonly flag?: string;
  readonly args: readonly string[];
  readonly exit: 1 | 2;
  readonly code: string;
  /** Every one must appear in the line: the flag, file, field or URL at fault. */
  readonly names: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  readonly spawn?: true;
  /** A daemon: its JSON log lines (pino) may precede the error on stdout. */
  readonly logs?: true;
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export async function inProcess(row: Row): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const saved: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(row.env ?? {})) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
  try {
    const code = await runCli(COMMANDS, [...row.cmd.split(' '), ...row.args], {
      out: (l) => out.push(l),
      err: (l) => err.push(l),
    });
    return { code, stdout: out.map((l) => `${l}\n`).join(''), stderr: err.map((l) => `${l}\n`).join('') };
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

export function spawned(row: Row): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...row.cmd.split(' '), ...row.args],
      { env: { PATH: process.env.PATH, ...row.env }, timeout: 30_000 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

const isLogLine = (l: string): boolean => {
  try {
    return typeof (JSON.parse(l) as { level?: unknown }).level === 'string';
  } catch {
    return false;
  }
};

/**
 * What is wrong with a run of `row`: exit code, stdout (empty, or a daemon's JSON log lines), one
 * stderr line `mpc-custody <cmd>: CODE: ` with one code, every name of the row, no secret, no stack,
 * no usage text. Empty when the run is right.
 */
export function problemsOf(row: Row, r: Run, secrets: readonly string[]): string[] {
  const ctx = `${row.cmd} [${row.kind}${row.flag ? ` ${row.flag}` : ''}] ${JSON.stringify(r)}`;
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  const line = lines[0] ?? '';
  const problems = [
    r.code !== row.exit && `exit ${r.code}, want ${row.exit}`,
    r.stdout !== '' && !row.logs && 'stdout not empty',
    row.logs === true &&
      !r.stdout
        .split('\n')
        .filter((l) => l !== '')
        .every(isLogLine) &&
      'stdout holds more than JSON log lines',
    ...secrets.filter((s) => r.stdout.includes(s)).map(() => 'prints a secret on stdout'),
    lines.length !== 1 && `${lines.length} stderr lines`,
    !line.startsWith(`mpc-custody ${row.cmd}: ${row.code}: `) && `want "mpc-custody ${row.cmd}: ${row.code}: "`,
    line.split(/\b(ERR_[A-Z0-9_]+)\b/).filter((p) => /^ERR_/.test(p)).length !== 1 && 'more than one code',
    ...row.names.filter((n) => !line.includes(n)).map((n) => `does not name ${n}`),
    ...secrets.filter((s) => line.includes(s)).map(() => 'prints a secret'),
    /\bat .*\.(js|ts):\d+/.test(r.stderr) && 'prints a stack',
    line.includes('usage:') && 'prints the usage',
  ].filter((p): p is string => typeof p === 'string');
  return problems.length === 0 ? [] : [`${problems.join('; ')} — ${ctx}`];
}
