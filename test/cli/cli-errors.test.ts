/**
 * The operator surface as a user meets it (issue 20): the built CLI is spawned with the mistakes a
 * user makes — unknown command or flag, missing flag, malformed value, missing file, a directory
 * for a file, a non-JSON file, a file of the wrong shape — and each must end with exactly one
 * stderr line `mpc-custody <command>: CODE: …` naming the flag or file, the code once, no stack, no
 * file content, nothing on stdout, and the documented exit code (2 usage, 1 failed). No daemon
 * runs: every row is refused before anything connects. `--help` of every command is checked in
 * process against the same command list main.ts runs.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Command, type CommandGroup, isGroup, runCli } from '../../src/cli/command.js';
import { COMMANDS } from '../../src/cli/commands.js';
import { partyRefusal } from '../../src/cli/coord-command.js';
import { MpcError } from '../../src/errors/index.js';
import { tempDir } from '../storage/helpers.js';

const CLI = join(import.meta.dirname, '..', '..', 'dist', 'src', 'cli', 'main.js');
/** Written into every input file: it must never reach the terminal. */
const MARKER = 'S3CR3T-CONTENT-MARKER';
const HEX64 = 'ab'.repeat(32);

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function spawnCli(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { env: { PATH: process.env.PATH, ...env }, timeout: 30_000 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Runs `jobs` with at most `n` at once (the machine is shared). */
async function limited<T>(jobs: ReadonlyArray<() => Promise<T>>, n: number): Promise<T[]> {
  const out: T[] = new Array(jobs.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < jobs.length) {
        const i = next++;
        out[i] = await (jobs[i] as () => Promise<T>)();
      }
    }),
  );
  return out;
}

describe('CLI errors: one coded line, the offending name, the right exit code', () => {
  const t = tempDir('cli-errors');
  const f = (name: string) => join(t.dir, name);
  afterAll(() => t.cleanup());

  type Row = { what: string; args: string[]; exit: 1 | 2; code: string; names: string; spawn?: true };
  let rows: Row[];
  /** Every row in process (the same runCli as main.ts), a sample also through the built CLI. */
  let runs: Array<{ row: Row; run: Run; how: string }>;

  beforeAll(async () => {
    expect(existsSync(CLI), `the built CLI (${CLI}; npm run build)`).toBe(true);
    writeFileSync(f('not-json.json'), `{"secret": "${MARKER}", `);
    writeFileSync(f('wrong-shape.json'), JSON.stringify({ id: 'zz', R: MARKER, extra: MARKER }));
    writeFileSync(f('array.json'), JSON.stringify([MARKER]));
    mkdirSync(f('a-directory'));
    writeFileSync(f('coordinator.json'), JSON.stringify({ roster: 'no-roster.json', secretFile: 'k', nats: 'n' }));
    writeFileSync(
      f('pre.json'),
      JSON.stringify({ id: 'cd'.repeat(32), R: `02${HEX64}`, publicKey: `03${HEX64}`, signers: [0, 1], path: [] }),
    );
    writeFileSync(f('secret.hex'), `${MARKER}\n`);
    writeFileSync(f('secret-ok.hex'), `${'11'.repeat(32)}\n`);
    const coordOk = ['--config', f('coordinator.json'), '--key', 'hot'];
    const digest = ['--digest', 'cd'.repeat(32)];
    rows = [
      { what: 'no command', args: [], exit: 2, code: 'ERR_CLI_USAGE', names: 'no command' },
      {
        what: 'unknown command',
        spawn: true,
        args: ['frobnicate'],
        exit: 2,
        code: 'ERR_CLI_USAGE',
        names: '"frobnicate"',
      },
      { what: 'unknown subcommand', args: ['coord', 'frob'], exit: 2, code: 'ERR_CLI_USAGE', names: '"frob"' },
      { what: 'no subcommand', args: ['audit'], exit: 2, code: 'ERR_CLI_USAGE', names: 'verify, export' },
      {
        what: 'unknown flag',
        spawn: true,
        args: ['setup', '--dir', t.dir, '--bogus'],
        exit: 2,
        code: 'ERR_CLI_USAGE',
        names: '--bogus',
      },
      { what: 'flag without value', args: ['setup', '--dir'], exit: 2, code: 'ERR_CLI_USAGE', names: '--dir' },
      { what: 'missing flag', args: ['key-repair', '--key', 'k'], exit: 2, code: 'ERR_CLI_USAGE', names: '--config' },
      {
        what: 'not an integer',
        spawn: true,
        args: ['setup', '--dir', t.dir, '--parties', 'three'],
        exit: 2,
        code: 'ERR_CLI_USAGE',
        names: '--parties',
      },
      {
        what: 'out of range',
        args: ['setup', '--dir', t.dir, '--parties', '1'],
        exit: 2,
        code: 'ERR_CLI_USAGE',
        names: '--parties',
      },
      {
        what: 'switch with a value',
        args: ['key-repair', '--config', 'c', '--key', 'k', '--delete=yes'],
        exit: 2,
        code: 'ERR_CLI_USAGE',
        names: '--delete',
      },
      {
        what: 'bad choice',
        args: ['coord', 'xpub', ...coordOk, '--network', 'moon'],
        exit: 2,
        code: 'ERR_CLI_USAGE',
        names: '--network',
      },
      {
        what: 'bad key id',
        args: ['coord', 'xpub', '--config', 'c', '--key', '_x'],
        exit: 2,
        code: 'ERR_CLI_USAGE',
        names: '--key',
      },
      {
        what: 'bad list',
        args: ['coord', 'presign', ...coordOk, '--signers', '0;1'],
        exit: 2,
        code: 'ERR_CLI_USAGE',
        names: '--signers',
      },
      {
        what: 'bad digest',
        args: ['coord', 'sign', ...coordOk, '--presignature', f('pre.json'), '--digest', 'xyz'],
        exit: 2,
        code: 'ERR_CLI_USAGE',
        names: '--digest',
      },
      {
        what: 'bad kind',
        args: ['coord', 'sign', ...coordOk, '--presignature', f('pre.json'), '--kind', 'doge', '--payload', '00'],
        exit: 2,
        code: 'ERR_CLI_USAGE',
        names: '--kind',
      },
      {
        what: 'threshold > parties',
        args: ['coord', 'keygen', ...coordOk, '--threshold', '4', '--parties', '3'],
        exit: 2,
        code: 'ERR_CLI_USAGE',
        names: '--threshold',
      },
      {
        what: 'import: chain code not 64 hex',
        args: ['import', 'tss-lib', '--party-file', 'p', '--config', 'c', '--key', 'k', '--chain-code', 'xyz'],
        exit: 2,
        code: 'ERR_CLI_USAGE',
        names: '--chain-code',
      },
      {
        what: 'import: no party file',
        args: ['import', 'tss-lib', '--config', 'c', '--key', 'k'],
        exit: 2,
        code: 'ERR_CLI_USAGE',
        names: '--party-file',
      },
      {
        what: 'missing config file',
        spawn: true,
        args: ['party', '--config', f('missing.json')],
        exit: 1,
        code: 'ERR_FILE_NOT_FOUND',
        names: f('missing.json'),
      },
      {
        what: 'directory for a file',
        args: ['party', '--config', f('a-directory')],
        exit: 1,
        code: 'ERR_FILE_UNREADABLE',
        names: f('a-directory'),
      },
      {
        what: 'non-JSON config',
        args: ['key-repair', '--config', f('not-json.json'), '--key', 'k'],
        exit: 1,
        code: 'ERR_CONFIG_INVALID',
        names: f('not-json.json'),
      },
      {
        what: 'non-JSON coordinator config',
        spawn: true,
        args: ['coord', 'xpub', '--config', f('not-json.json'), '--key', 'k'],
        exit: 1,
        code: 'ERR_FILE_NOT_JSON',
        names: f('not-json.json'),
      },
      {
        what: 'coordinator config of another shape',
        args: ['coord', 'xpub', '--config', f('array.json'), '--key', 'k'],
        exit: 1,
        code: 'ERR_INPUT_INVALID',
        names: f('array.json'),
      },
      {
        what: 'missing presignature file',
        args: ['coord', 'sign', ...coordOk, '--presignature', f('nope.json'), ...digest],
        exit: 1,
        code: 'ERR_FILE_NOT_FOUND',
        names: f('nope.json'),
      },
      {
        what: 'non-JSON presignature',
        args: ['coord', 'sign', ...coordOk, '--presignature', f('not-json.json'), ...digest],
        exit: 1,
        code: 'ERR_FILE_NOT_JSON',
        names: f('not-json.json'),
      },
      {
        what: 'presignature of the wrong shape',
        spawn: true,
        args: ['coord', 'sign', ...coordOk, '--presignature', f('wrong-shape.json'), ...digest],
        exit: 1,
        code: 'ERR_INPUT_INVALID',
        names: f('wrong-shape.json'),
      },
      {
        what: 'coordinator roster missing',
        spawn: true,
        args: ['coord', 'sign', ...coordOk, '--presignature', f('pre.json'), ...digest],
        exit: 1,
        code: 'ERR_CONFIG_INVALID',
        names: 'no-roster.json',
      },
      {
        what: 'missing payload file',
        args: [
          'coord',
          'sign',
          ...coordOk,
          '--presignature',
          f('pre.json'),
          '--kind',
          'btc.psbt',
          '--payload',
          f('tx.psbt'),
        ],
        exit: 1,
        code: 'ERR_FILE_NOT_FOUND',
        names: f('tx.psbt'),
      },
      {
        what: 'missing audit export',
        args: ['audit', 'verify', '--roster', f('not-json.json'), '--deployment', 'd', '--from', f('x.jsonl')],
        exit: 1,
        code: 'ERR_CONFIG_INVALID',
        names: f('not-json.json'),
      },
      {
        what: 'audit source twice',
        args: ['audit', 'verify', '--roster', 'r', '--deployment', 'd', '--from', 'x', '--nats', 'nats://h:1'],
        exit: 2,
        code: 'ERR_CLI_USAGE',
        names: '--from',
      },
      {
        what: 'custodian key malformed',
        args: ['backup', 'create', '--config', 'c', '--key', 'k', '--k', '2', '--custodian', 'zz', '--out', 'o'],
        exit: 2,
        code: 'ERR_CLI_USAGE',
        names: '--custodian',
      },
      {
        what: 'kit not a kit',
        args: ['backup', 'verify', '--kit', f('not-json.json'), '--piece', '0', '--secret', f('secret-ok.hex')],
        exit: 1,
        code: 'ERR_BACKUP_KIT_INVALID',
        names: f('not-json.json'),
      },
      {
        what: 'restore piece malformed',
        args: ['recovery', 'restore', '--config', 'c', '--key', 'k', '--kit', 'x', '--piece', 'one'],
        exit: 2,
        code: 'ERR_CLI_USAGE',
        names: '--piece',
      },
      {
        what: 'hsm PIN missing',
        args: ['hsm-init', '--token', 't', '--party', '1'],
        exit: 2,
        code: 'ERR_CLI_USAGE',
        names: 'MPC_HSM_PIN',
      },
      {
        what: 'operator JWK not JSON',
        args: [
          'operator',
          'register',
          '--url',
          'http://127.0.0.1:1',
          '--key',
          'k',
          '--id',
          'op',
          '--roles',
          'a',
          '--public-key',
          `{${MARKER}`,
        ],
        exit: 2,
        code: 'ERR_CLI_USAGE',
        names: '--public-key',
      },
      {
        what: 'request url not http',
        args: ['request', 'show', '--url', 'ftp://x', '--key', 'k', '--id', '1'],
        exit: 2,
        code: 'ERR_CLI_USAGE',
        names: '--url',
      },
      {
        what: 'request payload missing',
        args: [
          'request',
          'create',
          '--url',
          'http://127.0.0.1:1',
          '--key',
          'k',
          '--key-id',
          'hot',
          '--kind',
          'raw.digest',
        ],
        exit: 2,
        code: 'ERR_CLI_USAGE',
        names: '--payload',
      },
      {
        what: 'operator key file missing',
        args: ['request', 'show', '--url', 'http://127.0.0.1:1', '--key', f('no-key.json'), '--id', '1'],
        exit: 1,
        code: 'ERR_FILE_NOT_FOUND',
        names: f('no-key.json'),
      },
    ];
    const inProcess = async (row: Row): Promise<Run> => {
      const out: string[] = [];
      const err: string[] = [];
      const code = await runCli(COMMANDS, row.args, { out: (l) => out.push(l), err: (l) => err.push(l) });
      return { code, stdout: out.map((l) => `${l}\n`).join(''), stderr: err.map((l) => `${l}\n`).join('') };
    };
    runs = [];
    for (const row of rows) runs.push({ row, run: await inProcess(row), how: 'in process' });
    const sample = rows.filter((r) => r.spawn);
    const spawned = await limited(
      sample.map((r) => () => spawnCli(r.args)),
      3,
    );
    sample.forEach((row, i) => {
      runs.push({ row, run: spawned[i] as Run, how: 'spawned' });
    });
  });

  it('every row: exit code, exactly one stderr line with the code once and the offending name, no stack, no content', () => {
    expect(runs.filter((r) => r.how === 'spawned').length).toBeGreaterThanOrEqual(6);
    for (const { row, run: r, how } of runs) {
      const ctx = `${row.what} (${how}): ${JSON.stringify(r)}`;
      expect(r.code, ctx).toBe(row.exit);
      expect(r.stdout, ctx).toBe('');
      const lines = r.stderr.split('\n').filter((l) => l !== '');
      expect(lines, ctx).toHaveLength(1);
      const line = lines[0] as string;
      expect(line, ctx).toMatch(new RegExp(`^mpc-custody( [a-z-]+){0,2}: ${row.code}: `));
      expect(line.split(row.code).length - 1, ctx).toBe(1);
      expect(line, ctx).not.toMatch(/ERR_[A-Z_]+: ERR_/);
      expect(line, ctx).toContain(row.names);
      expect(line, ctx).not.toContain(MARKER);
      expect(line, ctx).not.toMatch(/\bat .*\.js:\d+/);
      expect(line, ctx).not.toContain('usage:');
    }
  });

  it('--json: the same error as one JSON object with code, message, details and exit', async () => {
    const bad = await spawnCli(['coord', 'sign', '--config', 'c', '--key', 'hot', '--presignature', 'p', '--json']);
    expect(bad.code).toBe(2);
    const lines = bad.stderr.split('\n').filter((l) => l !== '');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] as string)).toEqual({
      ok: false,
      command: 'coord sign',
      code: 'ERR_CLI_USAGE',
      category: 'invalid_args',
      message: 'give --kind and --payload, or --digest (mpc-custody coord sign --help)',
      details: {},
      exit: 2,
    });
    const missing = await spawnCli(['party', '--config', f('missing.json'), '--json']);
    expect(missing.code).toBe(1);
    expect(JSON.parse(missing.stderr)).toMatchObject({
      code: 'ERR_FILE_NOT_FOUND',
      command: 'party',
      details: { path: f('missing.json') },
      exit: 1,
    });
  });

  it('--help of the built CLI prints on stdout and exits 0', async () => {
    const top = await spawnCli(['--help']);
    expect(top.code).toBe(0);
    expect(top.stderr).toBe('');
    expect(top.stdout).toContain('exit codes: 0 ok, 1 the operation failed, 2 usage');
    const sign = await spawnCli(['coord', '--config', 'x', 'sign', '--help']);
    expect(sign.code).toBe(0);
    expect(sign.stdout).toMatch(/^usage: mpc-custody coord sign --config FILE --key ID --presignature/);
  });
});

describe('CLI help and refusals, in process', () => {
  const all = COMMANDS.flatMap((e: Command | CommandGroup) => (isGroup(e) ? [e, ...e.commands] : [e]));

  it.each(all.map((c) => [c.name]))('%s --help describes its flags and the exit codes', async (name) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCli(COMMANDS, [...name.split(' '), '--help'], {
      out: (l) => out.push(l),
      err: (l) => err.push(l),
    });
    expect(code).toBe(0);
    expect(err).toEqual([]);
    const text = out.join('\n');
    expect(text).toMatch(new RegExp(`^usage: mpc-custody ${name}`));
    expect(text).toContain('exit codes: 0 ok');
  });

  const failed = (code: string, reason: string) =>
    new MpcError('ERR_DAEMON_SESSION_FAILED', reason, { details: { sid: 's', op: 'sign', codes: code } });

  it('a session the parties refused is reported under their code, naming the key or the presignature file', () => {
    const about = { key: 'hot', presignatures: ['pre.json'] };
    const cases: Array<[string, string]> = [
      ['ERR_DAEMON_KEY_UNKNOWN', 'key "hot" is unknown at party 0, 1 (--key)'],
      ['ERR_DAEMON_PRESIGNATURE_UNKNOWN', 'party 0, 1 holds no such presignature (--presignature pre.json)'],
      [
        'ERR_DAEMON_PRESIGNATURE_OTHER_KEY',
        'the presignature belongs to another key than "hot" (--presignature pre.json)',
      ],
      ['ERR_PRESIGNATURE_USED', 'the presignature was used already (--presignature pre.json)'],
      ['ERR_DAEMON_DRAINING', 'party 0, 1 is shutting down (draining): nothing was started'],
    ];
    for (const [code, reason] of cases) {
      const e = partyRefusal(failed(code, `sign failed at 0, 1: ${code}`), about) as MpcError;
      expect(e.code).toBe(code);
      expect(e.reason).toBe(reason);
      expect(e.message).toBe(`${code}: ${reason}`);
    }
    // a protocol failure with blame, or parties disagreeing on the code, stays a failed session
    const blamed = new MpcError('ERR_DAEMON_SESSION_FAILED', 'sign failed at 1: ERR_PROTOCOL_ABORT', {
      details: { codes: 'ERR_PROTOCOL_ABORT' },
      blame: [{ party: 1, msgIds: [], reason: 'bad' }],
    });
    expect(partyRefusal(blamed, about)).toBe(blamed);
    const mixed = failed('ERR_DAEMON_KEY_UNKNOWN, ERR_DAEMON_DRAINING', 'sign failed at 0, 1: …');
    expect(partyRefusal(mixed, about)).toBe(mixed);
  });

  it('an error re-wrapped with its own message carries its code once', () => {
    const inner = new MpcError('ERR_CONFIG_INVALID', 'roster must be version 1');
    const outer = new MpcError(inner.code, inner.message, { details: { path: '/r.json' } });
    expect(outer.message).toBe('ERR_CONFIG_INVALID: roster must be version 1');
    expect(outer.reason).toBe('roster must be version 1');
  });
});
