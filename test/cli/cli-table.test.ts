/**
 * Every command of `mpc-custody` against every kind of bad input it can get (issue 20 acceptance):
 * an unknown flag and each required flag left out (generated from each command's usage), malformed
 * values, a missing file, a directory for a file, a non-JSON file, a file of the wrong shape, a
 * file with an unknown field, an unknown key where a local store answers, and NATS or HTTP
 * endpoints nobody listens on. Each run must print exactly one stderr line
 * `mpc-custody <command>: CODE: …` with the code once and the offending flag, file, field or URL,
 * nothing on stdout, no stack, none of the planted secrets and no file content; exit 2 for usage,
 * 1 for a failed operation.
 *
 * The commands run in process through the same runCli and COMMANDS as main.ts (fast); `party`
 * against an unreachable NATS runs as a child process of the built CLI because a started daemon
 * belongs in its own process. The refusals only running parties give (an unknown key at every
 * `coord` command, an unknown presignature at `coord sign`) are rows of cli-table-live.test.ts.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Command, type CommandGroup, isGroup } from '../../src/cli/command.js';
import { COMMANDS } from '../../src/cli/commands.js';
import { setupPartySet } from '../../src/daemon/setup.js';
import { generateOperatorKey } from '../../src/orchestrator/client.js';
import { tempDir } from '../storage/helpers.js';
import { inProcess, type Kind, problemsOf, type Row, type Run, spawned } from './cli-rows.js';

/** Planted in every bad input file: it must never reach the terminal. */
const MARKER = 'S3CR3T-TABLE-MARKER-7f3a';
const HEX64 = 'ab'.repeat(32);
const SOFTHSM = '/usr/lib/softhsm/libsofthsm2.so';

const LEAVES: readonly Command[] = COMMANDS.flatMap((e: Command | CommandGroup) => (isGroup(e) ? e.commands : [e]));

/** The flags of a command's usage line: name, metavar, required. */
function flagsOf(cmd: Command): Array<{ flag: string; metavar: string; required: boolean }> {
  const out: Array<{ flag: string; metavar: string; required: boolean }> = [];
  for (const m of cmd.usage.matchAll(/(\[?)(--[a-z0-9-]+)(?: ([^\]\s]+))?/g)) {
    out.push({ flag: m[2] as string, metavar: m[3] ?? '', required: m[1] === '' });
  }
  return out;
}

/** `args` without `flag` (and its value). */
function drop(args: readonly string[], flag: string): string[] {
  const out = [...args];
  const i = out.indexOf(flag);
  if (i < 0) return out;
  out.splice(i, out[i + 1] !== undefined && !(out[i + 1] as string).startsWith('--') ? 2 : 1);
  return out;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

describe('every command, every kind of bad input: one coded line naming the culprit', () => {
  const t = tempDir('cli-table');
  const f = (name: string) => join(t.dir, name);
  afterAll(() => t.cleanup());

  /** Arguments every flag of which is valid (the rows change one thing). */
  let base: Record<string, string[]>;
  let rows: Row[];
  /** Secrets of the deployment besides the marker: none may be printed either. */
  let secrets: string[];
  let runs: Array<{ row: Row; run: Run }>;

  beforeAll(async () => {
    const natsPort = await freePort();
    const httpPort = await freePort();
    const set = await setupPartySet({ dir: f('set'), parties: 2, natsPort, httpBasePort: 0, audit: 'dep' });
    const party = set.partyConfigs[0] as string;
    const partyDir = dirname(party);
    const coord = set.coordinatorConfig;
    const auditor = set.nats.auditor?.configFile as string;
    const natsUrl = `nats://127.0.0.1:${natsPort}`;
    const httpUrl = `http://127.0.0.1:${httpPort}`;
    secrets = [
      MARKER,
      readFileSync(join(partyDir, 'store.key'), 'utf8').trim(),
      readFileSync(join(dirname(coord), 'coordinator.key'), 'utf8').trim(),
    ];

    // bad inputs, each carrying the marker
    const write = (name: string, text: string, mode = 0o644) => {
      writeFileSync(f(name), text, { mode });
      chmodSync(f(name), mode);
      return f(name);
    };
    const notJson = write('not-json.json', `{"secret": "${MARKER}", `);
    const array = write('array.json', JSON.stringify([MARKER]));
    const dir = f('a-directory');
    mkdirSync(dir);
    const missing = f('missing.json');
    const withField = (file: string, name: string, edit: (o: Record<string, unknown>) => void) => {
      const o = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
      edit(o);
      const out = join(dirname(file), name);
      writeFileSync(out, JSON.stringify(o));
      return out;
    };
    const partyExtra = withField(party, 'extra.json', (o) => {
      o.surprise = MARKER;
    });
    const partyNoRoster = withField(party, 'no-roster.json', (o) => {
      o.roster = 'missing-roster.json';
    });
    const partyNoIdentity = withField(party, 'no-identity.json', (o) => {
      delete o.identityFile;
    });
    const partyNoAdmins = withField(party, 'no-admins.json', (o) => {
      o.policy = { mode: 'enforce', admins: 'missing-admins.json' };
    });
    const partyBadAdmins = withField(party, 'bad-admins.json', (o) => {
      o.policy = { mode: 'enforce', admins: notJson };
    });
    // NATS credentials whose CA certificate is gone
    const noCa = f('no-ca.crt');
    const natsNoCa = withField(join(f('set'), 'nats', 'party-0.json'), 'party-0-no-ca.json', (o) => {
      o.caFile = noCa;
    });
    const coordNatsNoCa = withField(join(f('set'), 'nats', 'coordinator.json'), 'coordinator-no-ca.json', (o) => {
      o.caFile = noCa;
    });
    const partyNoCa = withField(party, 'no-ca.json', (o) => {
      o.nats = natsNoCa;
    });
    const coordNoCa = withField(coord, 'no-ca.json', (o) => {
      o.nats = coordNatsNoCa;
    });
    const coordExtra = withField(coord, 'extra.json', (o) => {
      o.surprise = MARKER;
    });
    const coordNoRoster = withField(coord, 'no-roster.json', (o) => {
      o.roster = 'missing-roster.json';
    });
    const pre = write(
      'pre.json',
      JSON.stringify({ id: 'cd'.repeat(32), R: `02${HEX64}`, publicKey: `03${HEX64}`, signers: [0, 1], path: [] }),
    );
    const preExtra = write(
      'pre-extra.json',
      JSON.stringify({
        id: 'cd'.repeat(32),
        R: `02${HEX64}`,
        publicKey: `03${HEX64}`,
        signers: [0, 1],
        path: [],
        surprise: MARKER,
      }),
    );
    const preShape = write('pre-shape.json', JSON.stringify({ id: MARKER, R: MARKER, extra: MARKER }));
    const secretBad = write('secret.hex', `${MARKER}\n`);
    const secretOk = write('secret-ok.hex', `${'11'.repeat(32)}\n`);
    const tssShape = write('tss-shape.json', JSON.stringify({ Xi: MARKER, ShareID: MARKER }));
    const opKey = f('operator.key');
    const adminJwk = await generateOperatorKey(opKey, 'admin', 'EdDSA');
    secrets.push(String((JSON.parse(readFileSync(opKey, 'utf8')) as { privateJwk: { d: string } }).privateJwk.d));
    const opKeyNotJson = write('op-not-json.key', `{"privateJwk": "${MARKER}"`, 0o600);
    const opKeyShape = write('op-shape.key', JSON.stringify({ id: MARKER }), 0o600);
    const opKeyOpen = write('op-open.key', readFileSync(opKey, 'utf8'), 0o644);
    const orchShape = write('orch-shape.json', JSON.stringify({ http: MARKER }));
    const orchExtra = write(
      'orch-extra.json',
      JSON.stringify({ bootstrapAdmin: { id: 'admin', publicKey: adminJwk }, surprise: MARKER }),
    );
    /** Orchestrator configs, each valid but for what it names (relative paths: against the file). */
    const orch = (name: string, extra: Record<string, unknown>) =>
      write(
        name,
        JSON.stringify({ coordinator: coord, bootstrapAdmin: { id: 'admin', publicKey: adminJwk }, ...extra }),
      );
    const orchNoCoordinator = write(
      'orch-no-coordinator.json',
      JSON.stringify({ bootstrapAdmin: { id: 'admin', publicKey: adminJwk } }),
    );
    const orchCoordinatorGone = orch('orch-coordinator-gone.json', { coordinator: 'gone.json' });
    const orchNoDbDir = orch('orch-no-db-dir.json', { state: { kind: 'sqlite', path: 'gone/orchestrator.db' } });
    const orchPolicyGone = orch('orch-policy-gone.json', {
      policy: { admins: { threshold: 1, admins: [{ id: 'admin', publicKey: adminJwk }] }, policyFile: 'gone.jws' },
    });
    const orchTlsGone = orch('orch-tls-gone.json', {
      http: { host: '127.0.0.1', port: 0, tls: { certFile: 'gone.crt', keyFile: 'gone.key' } },
    });
    const orchUnreachable = orch('orch-unreachable.json', { state: { kind: 'sqlite', path: 'orch.db' } });
    const orchPgUrl = `postgres://127.0.0.1:${httpPort}/custody`;
    const orchPg = orch('orch-pg.json', {
      state: { kind: 'postgres', url: `postgres://u:${MARKER}@127.0.0.1:${httpPort}/custody` },
    });
    mkdirSync(f('tokens'));
    write('softhsm2.conf', `directories.tokendir = ${f('tokens')}\nobjectstore.backend = file\n`);
    const kit = write('kit.json', `{"kit": "${MARKER}"}`);

    base = {
      demo: [],
      setup: ['--dir', f('new-set')],
      party: ['--config', party],
      'coord keygen': ['--config', coord, '--key', 'hot', '--threshold', '2', '--parties', '2'],
      'coord aux': ['--config', coord, '--key', 'hot', '--parties', '2'],
      'coord import': ['--config', coord, '--key', 'hot', '--parties', '2'],
      'coord presign': ['--config', coord, '--key', 'hot', '--signers', '0,1'],
      'coord refresh': ['--config', coord, '--key', 'hot'],
      'coord reshare': ['--config', coord, '--key', 'hot', '--from', '2', '--to', '2', '--threshold', '2'],
      'coord sign': ['--config', coord, '--key', 'hot', '--presignature', pre, '--digest', 'cd'.repeat(32)],
      'coord xpub': ['--config', coord, '--key', 'hot'],
      'coord address': ['--config', coord, '--key', 'hot', '--chain', 'ethereum'],
      'coord policy-push': ['--config', coord, '--file', set.policy?.policyFile as string],
      'coord registry-push': ['--config', coord, '--file', set.policy?.registryFile as string],
      'identity-seal': ['--config', partyNoIdentity],
      'import tss-lib': ['--party-file', tssShape, '--config', party, '--key', 'tss'],
      'import discard': ['--config', party, '--key', 'tss'],
      'hsm-init': ['--token', 'tok', '--party', '0'],
      'key-repair': ['--config', party, '--key', 'hot'],
      'backup create': ['--config', party, '--key', 'hot', '--k', '1', '--custodian', HEX64, '--out', f('kit.out')],
      'backup verify': ['--kit', kit, '--piece', '0', '--secret', secretOk],
      'recovery restore': ['--config', party, '--key', 'hot', '--kit', kit, '--piece', `0:${secretOk}`],
      'audit verify': ['--roster', set.rosterFile, '--deployment', 'dep', '--nats', natsUrl],
      'audit export': ['--roster', set.rosterFile, '--deployment', 'dep', '--nats', natsUrl, '--out', f('x.jsonl')],
      orchestrator: ['--config', orchExtra],
      'operator keygen': ['--id', 'op', '--out', f('new-op.key')],
      'operator register': [
        '--url',
        httpUrl,
        '--key',
        opKey,
        '--id',
        'op',
        '--roles',
        'initiator',
        '--public-key',
        JSON.stringify(adminJwk),
      ],
      'request create': [
        '--url',
        httpUrl,
        '--key',
        opKey,
        '--key-id',
        'hot',
        '--kind',
        'raw.digest',
        '--payload',
        '00',
      ],
      'request show': ['--url', httpUrl, '--key', opKey, '--id', 'r1'],
      'request wait': ['--url', httpUrl, '--key', opKey, '--id', 'r1'],
      primes: ['--fixture', f('primes.json')],
      'config-reference': [],
    };

    const usage = (cmd: string, flag: string, args: readonly string[], ...names: string[]): Row => ({
      cmd,
      kind: 'malformed value',
      flag,
      args,
      exit: 2,
      code: 'ERR_CLI_USAGE',
      names: [flag, ...names],
    });
    /** `base[cmd]` with `flag` set to `value` (replaced, or appended when absent). */
    const set1 = (cmd: string, flag: string, value?: string): string[] => {
      const args = drop(base[cmd] as string[], flag);
      return value === undefined ? [...args, flag] : [...args, flag, value];
    };
    const bad = (
      cmd: string,
      kind: Kind,
      flag: string,
      value: string,
      code: string,
      names: readonly string[],
      exit: 1 | 2 = 1,
    ): Row => ({ cmd, kind, flag, args: set1(cmd, flag, value), exit, code, names });
    /** A file flag: missing, a directory, not JSON, wrong shape (codes per command). */
    const fileRows = (
      cmd: string,
      flag: string,
      codes: { notJson?: string; shape?: string; missing?: string; dir?: string },
    ): Row[] => [
      bad(cmd, 'missing file', flag, missing, codes.missing ?? 'ERR_FILE_NOT_FOUND', [missing]),
      bad(cmd, 'directory', flag, dir, codes.dir ?? 'ERR_FILE_UNREADABLE', [dir]),
      ...(codes.notJson ? [bad(cmd, 'not JSON', flag, notJson, codes.notJson, [notJson])] : []),
      ...(codes.shape ? [bad(cmd, 'wrong schema', flag, array, codes.shape, [array])] : []),
    ];
    const partyConfigRows = (cmd: string): Row[] => [
      ...fileRows(cmd, '--config', { notJson: 'ERR_CONFIG_INVALID', shape: 'ERR_CONFIG_INVALID' }),
      bad(cmd, 'unknown field', '--config', partyExtra, 'ERR_CONFIG_INVALID', [partyExtra, 'surprise']),
      // only the commands that read the roster (the others open the party's store alone)
      ...(cmd === 'party' || cmd === 'identity-seal'
        ? [bad(cmd, 'missing file', '--config', partyNoRoster, 'ERR_CONFIG_INVALID', ['missing-roster.json'])]
        : []),
    ];
    const coordConfigRows = (cmd: string): Row[] => [
      ...fileRows(cmd, '--config', { notJson: 'ERR_FILE_NOT_JSON', shape: 'ERR_INPUT_INVALID' }),
      bad(cmd, 'unknown field', '--config', coordExtra, 'ERR_INPUT_INVALID', [coordExtra, 'surprise']),
      bad(cmd, 'missing file', '--config', coordNoRoster, 'ERR_CONFIG_INVALID', ['missing-roster.json']),
      {
        cmd,
        kind: 'unreachable',
        flag: '--config',
        args: base[cmd] as string[],
        exit: 1,
        code: 'ERR_TRANSPORT_CONNECT',
        names: [`127.0.0.1:${natsPort}`],
      },
    ];
    const keyRows = (cmd: string): Row[] => [usage(cmd, '--key', set1(cmd, '--key', '_bad'))];
    const operatorKeyRows = (cmd: string): Row[] => [
      ...fileRows(cmd, '--key', {}),
      bad(cmd, 'not JSON', '--key', opKeyNotJson, 'ERR_CONFIG_INVALID', [opKeyNotJson]),
      bad(cmd, 'wrong schema', '--key', opKeyShape, 'ERR_CONFIG_INVALID', [opKeyShape]),
      bad(cmd, 'malformed value', '--key', opKeyOpen, 'ERR_CONFIG_INVALID', [opKeyOpen, 'chmod 600']),
      usage(cmd, '--url', set1(cmd, '--url', 'ftp://x')),
      {
        cmd,
        kind: 'unreachable',
        flag: '--url',
        args: base[cmd] as string[],
        exit: 1,
        code: 'ERR_TRANSPORT_CONNECT',
        names: [httpUrl],
      },
    ];
    const coordCmds = [
      'coord keygen',
      'coord aux',
      'coord import',
      'coord presign',
      'coord refresh',
      'coord reshare',
      'coord xpub',
      'coord address',
    ];

    rows = [
      // generated: an unknown flag for every command, every required flag left out
      ...LEAVES.map(
        (c): Row => ({
          cmd: c.name,
          kind: 'unknown flag',
          args: [...(base[c.name] ?? []), '--no-such-flag'],
          exit: 2,
          code: 'ERR_CLI_USAGE',
          names: ['--no-such-flag'],
        }),
      ),
      ...LEAVES.flatMap((c) =>
        flagsOf(c)
          .filter((x) => x.required)
          .map(
            (x): Row => ({
              cmd: c.name,
              kind: 'missing flag',
              flag: x.flag,
              args: drop(base[c.name] ?? [], x.flag),
              exit: 2,
              code: 'ERR_CLI_USAGE',
              names: [x.flag],
            }),
          ),
      ),

      // setup
      usage('setup', '--parties', set1('setup', '--parties', 'three')),
      usage('setup', '--parties', set1('setup', '--parties', '65'), '<= 64'),
      usage('setup', '--nats-port', set1('setup', '--nats-port', '70000')),
      usage('setup', '--policy', set1('setup', '--policy', 'maybe'), 'enforce, off'),
      usage('setup', '--audit', set1('setup', '--audit', '-x')),
      bad('setup', 'directory', '--dir', notJson, 'ERR_FILE_UNWRITABLE', [notJson, 'not a directory']),

      // party (the daemon starts in its own process)
      usage('party', '--drain-ms', set1('party', '--drain-ms', '-1')),
      ...partyConfigRows('party'),
      {
        cmd: 'party',
        kind: 'unreachable',
        flag: '--config',
        args: base.party as string[],
        exit: 1,
        code: 'ERR_TRANSPORT_CONNECT',
        names: [`127.0.0.1:${natsPort}`],
        spawn: true,
        logs: true,
      },

      bad('party', 'missing file', '--config', partyNoAdmins, 'ERR_CONFIG_INVALID', [
        join(partyDir, 'missing-admins.json'),
      ]),
      bad('party', 'not JSON', '--config', partyBadAdmins, 'ERR_CONFIG_INVALID', [notJson]),
      {
        cmd: 'party',
        kind: 'missing file',
        flag: '--config',
        args: ['--config', partyNoCa],
        exit: 1,
        code: 'ERR_CONFIG_INVALID',
        names: [noCa, 'CA file'],
        spawn: true,
        logs: true,
      },
      bad('coord xpub', 'missing file', '--config', coordNoCa, 'ERR_CONFIG_INVALID', [noCa, 'CA file']),

      // coord
      ...coordCmds.flatMap((c) => [...keyRows(c), ...coordConfigRows(c)]),
      usage('coord keygen', '--threshold', set1('coord keygen', '--threshold', 'two')),
      usage('coord keygen', '--threshold', set1('coord keygen', '--threshold', '3')),
      usage('coord aux', '--parties', set1('coord aux', '--parties', '1')),
      usage('coord import', '--parties', set1('coord import', '--parties', 'x')),
      usage('coord refresh', '--parties', set1('coord refresh', '--parties', '1')),
      usage('coord reshare', '--to', set1('coord reshare', '--to', '1')),
      usage('coord reshare', '--threshold', set1('coord reshare', '--threshold', '3')),
      usage('coord presign', '--signers', set1('coord presign', '--signers', '0;1')),
      usage('coord presign', '--path', set1('coord presign', '--path', "0/0'")),
      usage('coord xpub', '--network', set1('coord xpub', '--network', 'moon')),
      usage('coord xpub', '--parties', set1('coord xpub', '--parties', 'all')),
      usage('coord address', '--chain', set1('coord address', '--chain', 'doge')),
      usage('coord address', '--path', set1('coord address', '--path', 'm/x')),
      ...keyRows('coord sign'),
      ...coordConfigRows('coord sign'),
      usage('coord sign', '--digest', set1('coord sign', '--digest', 'xyz')),
      usage('coord sign', '--kind', [...drop(base['coord sign'] as string[], '--digest'), '--kind', 'doge']),
      usage('coord sign', '--policy-version', set1('coord sign', '--policy-version', '0')),
      usage('coord sign', '--payload', [...drop(base['coord sign'] as string[], '--digest'), '--kind', 'btc.psbt']),
      usage('coord sign', '--request', set1('coord sign', '--request', pre)),
      ...fileRows('coord sign', '--presignature', { notJson: 'ERR_FILE_NOT_JSON', shape: 'ERR_INPUT_INVALID' }),
      bad('coord sign', 'wrong schema', '--presignature', preShape, 'ERR_INPUT_INVALID', [preShape, 'publicKey']),
      bad('coord sign', 'unknown field', '--presignature', preExtra, 'ERR_INPUT_INVALID', [preExtra, 'surprise']),
      {
        cmd: 'coord sign',
        kind: 'missing file',
        flag: '--payload',
        args: [...drop(base['coord sign'] as string[], '--digest'), '--kind', 'btc.psbt', '--payload', missing],
        exit: 1,
        code: 'ERR_FILE_NOT_FOUND',
        names: [missing],
      },
      {
        cmd: 'coord sign',
        kind: 'missing file',
        flag: '--request',
        args: [...(base['coord sign'] as string[]), '--request', missing, '--policy-version', '1'],
        exit: 1,
        code: 'ERR_FILE_NOT_FOUND',
        names: [missing],
      },
      {
        cmd: 'coord sign',
        kind: 'missing file',
        flag: '--approvals',
        args: [...(base['coord sign'] as string[]), '--request', pre, '--policy-version', '1', '--approvals', missing],
        exit: 1,
        code: 'ERR_FILE_NOT_FOUND',
        names: [missing],
      },
      ...['coord policy-push', 'coord registry-push'].flatMap((c) => [
        ...coordConfigRows(c),
        ...fileRows(c, '--file', { notJson: 'ERR_FILE_NOT_JSON', shape: 'ERR_INPUT_INVALID' }),
      ]),

      // identity-seal
      ...partyConfigRows('identity-seal'),
      {
        cmd: 'identity-seal',
        kind: 'wrong schema',
        flag: '--config',
        args: base['identity-seal'] as string[],
        exit: 1,
        code: 'ERR_CONFIG_INVALID',
        names: [partyNoIdentity, 'identityFile'],
      },

      // import
      ...partyConfigRows('import tss-lib'),
      ...keyRows('import tss-lib'),
      usage('import tss-lib', '--chain-code', set1('import tss-lib', '--chain-code', 'xyz')),
      ...fileRows('import tss-lib', '--party-file', { notJson: 'ERR_IMPORT_INVALID', shape: 'ERR_IMPORT_INVALID' }),
      bad('import tss-lib', 'wrong schema', '--party-file', tssShape, 'ERR_IMPORT_INVALID', [tssShape]),
      ...partyConfigRows('import discard'),
      ...keyRows('import discard'),
      {
        cmd: 'import discard',
        kind: 'unknown key',
        flag: '--key',
        args: base['import discard'] as string[],
        exit: 1,
        code: 'ERR_IMPORT_NOT_STAGED',
        names: ['"tss"'],
      },

      // hsm-init
      usage('hsm-init', '--party', set1('hsm-init', '--party', '-1')),
      usage('hsm-init', '--token', set1('hsm-init', '--token', 'x'.repeat(33))),
      usage('hsm-init', '--pin-env', set1('hsm-init', '--pin-env', 'lower')),
      { ...usage('hsm-init', '--pin-env', base['hsm-init'] as string[], 'MPC_HSM_PIN'), env: { MPC_HSM_PIN: '' } },
      {
        cmd: 'hsm-init',
        kind: 'missing file',
        flag: '--module',
        args: set1('hsm-init', '--module', missing),
        exit: 1,
        code: 'ERR_HSM_UNAVAILABLE',
        names: [missing],
        env: { MPC_HSM_PIN: MARKER },
      },
      {
        cmd: 'hsm-init',
        kind: 'not JSON',
        flag: '--module',
        args: set1('hsm-init', '--module', notJson),
        exit: 1,
        code: 'ERR_HSM_UNAVAILABLE',
        names: [notJson],
        env: { MPC_HSM_PIN: MARKER },
      },

      {
        ...usage('hsm-init', '--so-pin-env', [...(base['hsm-init'] as string[]), '--init-token'], 'MPC_HSM_SO_PIN'),
        env: { MPC_HSM_PIN: MARKER, MPC_HSM_SO_PIN: '' },
      },
      // a token nobody initialized (SoftHSM, where installed)
      ...(existsSync(SOFTHSM)
        ? [
            {
              cmd: 'hsm-init',
              kind: 'malformed value',
              flag: '--token',
              args: set1('hsm-init', '--token', 'no-such-token'),
              exit: 1,
              code: 'ERR_HSM_TOKEN_NOT_FOUND',
              names: ['"no-such-token"', '--token'],
              env: { MPC_HSM_PIN: MARKER, SOFTHSM2_CONF: f('softhsm2.conf') },
            } satisfies Row,
          ]
        : []),

      // key-repair
      ...partyConfigRows('key-repair'),
      ...keyRows('key-repair'),
      usage('key-repair', '--delete', [...(base['key-repair'] as string[]), '--delete=yes']),
      {
        cmd: 'key-repair',
        kind: 'unknown key',
        flag: '--key',
        args: base['key-repair'] as string[],
        exit: 1,
        code: 'ERR_DAEMON_KEY_UNKNOWN',
        names: ['hot'],
      },

      // backup, recovery
      ...partyConfigRows('backup create'),
      ...keyRows('backup create'),
      usage('backup create', '--custodian', set1('backup create', '--custodian', 'zz')),
      usage('backup create', '--k', set1('backup create', '--k', '0')),
      {
        cmd: 'backup create',
        kind: 'unknown key',
        flag: '--key',
        args: base['backup create'] as string[],
        exit: 1,
        code: 'ERR_DAEMON_KEY_UNKNOWN',
        names: ['"hot"', '--key'],
      },
      usage('backup verify', '--piece', set1('backup verify', '--piece', '256')),
      ...fileRows('backup verify', '--kit', { notJson: 'ERR_BACKUP_KIT_INVALID', shape: 'ERR_BACKUP_KIT_INVALID' }),
      ...fileRows('backup verify', '--secret', {}),
      bad('backup verify', 'malformed value', '--secret', secretBad, 'ERR_INPUT_INVALID', [secretBad]),
      ...partyConfigRows('recovery restore'),
      ...keyRows('recovery restore'),
      usage('recovery restore', '--piece', set1('recovery restore', '--piece', 'one')),
      ...fileRows('recovery restore', '--kit', { notJson: 'ERR_BACKUP_KIT_INVALID', shape: 'ERR_BACKUP_KIT_INVALID' }),
      bad('recovery restore', 'missing file', '--piece', `0:${missing}`, 'ERR_FILE_NOT_FOUND', [missing]),
      bad('recovery restore', 'malformed value', '--piece', `0:${secretBad}`, 'ERR_INPUT_INVALID', [secretBad]),

      // audit
      ...['audit verify', 'audit export'].flatMap((c) => [
        ...fileRows(c, '--roster', { notJson: 'ERR_CONFIG_INVALID', shape: 'ERR_CONFIG_INVALID' }),
        usage(c, '--nats', set1(c, '--nats', 'http://x')),
        usage(c, '--deployment', set1(c, '--deployment', 'd'.repeat(65))),
        {
          cmd: c,
          kind: 'unreachable',
          flag: '--nats',
          args: base[c] as string[],
          exit: 1,
          code: 'ERR_TRANSPORT_CONNECT',
          names: [natsUrl],
        } satisfies Row,
        ...fileRows(c, '--nats-config', { notJson: 'ERR_CONFIG_INVALID', shape: 'ERR_CONFIG_INVALID' }).map((r) => ({
          ...r,
          args: [...drop(r.args, '--nats')],
        })),
        {
          cmd: c,
          kind: 'unreachable',
          flag: '--nats-config',
          args: [...drop(base[c] as string[], '--nats'), '--nats-config', auditor],
          exit: 1,
          code: 'ERR_TRANSPORT_CONNECT',
          names: [`127.0.0.1:${natsPort}`],
        } satisfies Row,
      ]),
      usage('audit verify', '--from', [...(base['audit verify'] as string[]), '--from', pre]),
      usage('audit verify', '--anchors', set1('audit verify', '--anchors', pre)),
      ...fileRows('audit verify', '--from', {}).map((r) => ({ ...r, args: drop(r.args, '--nats') })),
      bad('audit export', 'directory', '--out', dir, 'ERR_FILE_UNWRITABLE', [dir]),
      bad('audit export', 'missing file', '--heads', join(missing, 'h.jsonl'), 'ERR_FILE_NOT_FOUND', [
        join(missing, 'h.jsonl'),
      ]),
      bad('backup create', 'directory', '--out', dir, 'ERR_FILE_UNWRITABLE', [dir]),

      // orchestrator
      usage('orchestrator', '--drain-ms', set1('orchestrator', '--drain-ms', 'soon')),
      ...fileRows('orchestrator', '--config', { notJson: 'ERR_FILE_NOT_JSON', shape: 'ERR_INPUT_INVALID' }),
      bad('orchestrator', 'wrong schema', '--config', orchShape, 'ERR_INPUT_INVALID', [orchShape]),
      bad('orchestrator', 'unknown field', '--config', orchExtra, 'ERR_INPUT_INVALID', [orchExtra, 'surprise']),
      bad('orchestrator', 'wrong schema', '--config', orchNoCoordinator, 'ERR_CONFIG_INVALID', [
        orchNoCoordinator,
        'coordinator',
      ]),
      bad('orchestrator', 'missing file', '--config', orchCoordinatorGone, 'ERR_FILE_NOT_FOUND', [f('gone.json')]),
      bad('orchestrator', 'missing file', '--config', orchNoDbDir, 'ERR_FILE_NOT_FOUND', [f('gone/orchestrator.db')]),
      bad('orchestrator', 'missing file', '--config', orchPolicyGone, 'ERR_FILE_NOT_FOUND', [f('gone.jws')]),
      bad('orchestrator', 'missing file', '--config', orchTlsGone, 'ERR_FILE_NOT_FOUND', [f('gone.crt')]),
      bad('orchestrator', 'unreachable', '--config', orchUnreachable, 'ERR_TRANSPORT_CONNECT', [
        natsUrl.replace('nats:', 'tls:'),
      ]),
      bad('orchestrator', 'unreachable', '--config', orchPg, 'ERR_ORCH_STORE', [orchPgUrl]),

      // operator, request (the REST client)
      usage('operator keygen', '--id', set1('operator keygen', '--id', '-x')),
      usage('operator keygen', '--alg', set1('operator keygen', '--alg', 'RS256')),
      bad('operator keygen', 'missing file', '--out', join(missing, 'k.key'), 'ERR_FILE_NOT_FOUND', [
        join(missing, 'k.key'),
      ]),
      bad('operator keygen', 'malformed value', '--out', opKey, 'ERR_FILE_UNWRITABLE', [opKey, 'exists']),
      bad('operator keygen', 'directory', '--out', dir, 'ERR_FILE_UNWRITABLE', [dir]),
      ...operatorKeyRows('operator register'),
      usage('operator register', '--public-key', set1('operator register', '--public-key', `{${MARKER}`)),
      usage('operator register', '--roles', set1('operator register', '--roles', 'a b')),
      ...operatorKeyRows('request create'),
      usage('request create', '--kind', set1('request create', '--kind', 'doge')),
      usage('request create', '--payload', set1('request create', '--payload', 'xyz')),
      usage('request create', '--payload', [...(base['request create'] as string[]), '--payload-file', pre]),
      usage('request create', '--path', set1('request create', '--path', "m/0'")),
      usage('request create', '--ttl', set1('request create', '--ttl', '0')),
      bad('request create', 'missing file', '--payload-file', missing, 'ERR_FILE_NOT_FOUND', [missing]),
      ...operatorKeyRows('request show'),
      ...operatorKeyRows('request wait'),
      usage('request wait', '--timeout', set1('request wait', '--timeout', '0')),

      // primes: the output is checked before minutes of work
      bad('primes', 'missing file', '--fixture', join(missing, 'p.json'), 'ERR_FILE_NOT_FOUND', [
        join(missing, 'p.json'),
      ]),
      usage('primes', '--fixture', set1('primes', '--fixture', '')),
    ];
    // `request create` --payload-file row must not also carry --payload
    rows = rows.map((r) =>
      r.cmd === 'request create' && r.flag === '--payload-file' && r.kind === 'missing file'
        ? { ...r, args: [...drop(r.args, '--payload')] }
        : r,
    );

    runs = [];
    for (const row of rows.filter((r) => !r.spawn)) runs.push({ row, run: await inProcess(row) });
    for (const row of rows.filter((r) => r.spawn)) runs.push({ row, run: await spawned(row) });
  });

  it('has arguments for every command, an unknown-flag and missing-flag row for each, a row for every file flag', () => {
    expect(
      Object.keys(base).sort(),
      'every command needs valid arguments in `base` (and its bad-input rows) in test/cli/cli-table.test.ts',
    ).toEqual(LEAVES.map((c) => c.name).sort());
    // flags that name a file the command writes where no bad input applies beyond the rows above
    for (const c of LEAVES) {
      expect(rows.some((r) => r.cmd === c.name && r.kind === 'unknown flag')).toBe(true);
      for (const x of flagsOf(c)) {
        if (x.required) {
          expect(rows.some((r) => r.cmd === c.name && r.kind === 'missing flag' && r.flag === x.flag)).toBe(true);
        }
        if (/FILE/.test(x.metavar)) {
          expect(
            rows.some((r) => r.cmd === c.name && r.flag === x.flag && r.kind !== 'missing flag'),
            `${c.name} ${x.flag}: a row with a bad file`,
          ).toBe(true);
        }
      }
    }
    const kinds = new Set(rows.map((r) => r.kind));
    expect([...kinds].sort()).toEqual(
      [
        'unknown flag',
        'missing flag',
        'malformed value',
        'missing file',
        'directory',
        'not JSON',
        'wrong schema',
        'unknown field',
        'unknown key',
        'unreachable',
      ].sort(),
    );
  });

  it('every row: exit code, one stderr line, the code once, the culprit named, no stack, no secret, no content', () => {
    const failures = runs.flatMap(({ row, run }) => problemsOf(row, run, secrets));
    expect(failures).toEqual([]);
  });

  it('--json: every in-process row as one JSON object with the same code, exit and names', async () => {
    const failures: string[] = [];
    for (const row of rows.filter((r) => !r.spawn)) {
      const r = await inProcess({ ...row, args: [...row.args, '--json'] });
      const lines = r.stderr.split('\n').filter((l) => l !== '');
      let o: { ok?: unknown; command?: unknown; code?: unknown; message?: unknown; exit?: unknown } = {};
      try {
        o = JSON.parse(lines[0] ?? '') as typeof o;
      } catch {
        // reported below
      }
      const message = String(o.message ?? '');
      const details = JSON.stringify((o as { details?: unknown }).details ?? {});
      const problems = [
        lines.length !== 1 && `${lines.length} stderr lines`,
        r.stdout !== '' && 'stdout not empty',
        (o.ok !== false ||
          o.command !== row.cmd ||
          o.code !== row.code ||
          o.exit !== row.exit ||
          r.code !== row.exit) &&
          `want {ok:false, command:${row.cmd}, code:${row.code}, exit:${row.exit}}`,
        ...row.names.filter((n) => !`${message} ${details}`.includes(n)).map((n) => `does not name ${n}`),
        ...secrets.filter((x) => r.stderr.includes(x)).map(() => 'prints a secret'),
      ].filter((p): p is string => typeof p === 'string');
      if (problems.length > 0) failures.push(`${problems.join('; ')} — ${row.cmd} [${row.kind}] ${r.stderr}`);
    }
    expect(failures).toEqual([]);
  });
});
