/**
 * The CLI table's rows that need parties to answer (issue 20 acceptance: unknown key, unknown
 * presignature): a real nats-server with the TLS / nkey set `setup` writes and two party daemons as
 * processes (policy off: the coordinator alone drives them; key "hot" is put in their ledgers before
 * they start, as keygen + aux info would leave it). The `coord` commands run in process
 * (same runCli and COMMANDS as main.ts) and each refusal must be ONE stderr line under the parties'
 * own code naming the key or the presignature file, as cli-table.test.ts checks it (cli-rows.ts).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findNatsServer, type NatsServerProcess, runNatsServer } from '../../src/daemon/nats-server-process.js';
import { type SetupResult, setupPartySet } from '../../src/daemon/setup.js';
import { freePort, type SpawnedParty, spawnParty } from '../../src/daemon/spawn-party.js';
import { PartyLedger } from '../../src/storage/party-ledger.js';
import { required } from '../helpers/requirements.js';
import { tempDir } from '../storage/helpers.js';
import { CLI, inProcess, problemsOf, type Row } from './cli-rows.js';

const canRun =
  required(existsSync(CLI), `the built CLI (${CLI}; npm run build)`) &&
  required(findNatsServer() !== undefined, 'nats-server');

const HEX64 = 'ab'.repeat(32);

describe.runIf(canRun)('CLI refusals the parties give: unknown key, unknown presignature', () => {
  const t = tempDir('cli-table-live');
  let setup: SetupResult;
  let nats: NatsServerProcess | undefined;
  const daemons: SpawnedParty[] = [];
  let secrets: string[];

  beforeAll(async () => {
    setup = await setupPartySet({
      dir: t.dir,
      parties: 2,
      natsPort: await freePort(),
      httpBasePort: 0,
      math: 'native',
      policy: 'off',
    });
    secrets = [
      readFileSync(join(t.dir, 'party-0', 'store.key'), 'utf8').trim(),
      readFileSync(join(t.dir, 'coordinator', 'coordinator.key'), 'utf8').trim(),
    ];
    // key "hot" as each party's ledger records it once keygen and aux info are done: the sign
    // refuses the unknown presignature before any share is loaded, so no protocol has to run
    for (const [i, c] of setup.partyConfigs.entries()) {
      const ledger = PartyLedger.open(join(dirname(c), 'ledger.db'), i);
      try {
        ledger.putKey({ keyId: 'hot', publicKey: `02${HEX64}`, threshold: 2, parties: 2, shareVersion: 1 });
      } finally {
        ledger.close();
      }
    }
    nats = await runNatsServer(setup.nats.serverConfigFile);
    for (const c of setup.partyConfigs) daemons.push(await spawnParty(CLI, c, { timeoutMs: 30_000, drainMs: 2000 }));
  }, 90_000);

  afterAll(async () => {
    for (const d of daemons) await d.stop(5000);
    await nats?.kill();
    t.cleanup();
  });

  it('each refusal is one line under the parties’ code naming the key or the presignature file', async () => {
    const coord = setup.coordinatorConfig;
    const pre = join(t.dir, 'pre.json');
    writeFileSync(
      pre,
      JSON.stringify({ id: 'cd'.repeat(32), R: `02${HEX64}`, publicKey: `03${HEX64}`, signers: [0, 1], path: [] }),
    );
    const digest = ['--digest', 'ef'.repeat(32)];
    const unknownKey = (cmd: string, args: string[]): Row => ({
      cmd,
      kind: 'unknown key',
      flag: '--key',
      args: ['--config', coord, '--key', 'nokey', ...args],
      exit: 1,
      code: 'ERR_DAEMON_KEY_UNKNOWN',
      names: ['"nokey"'],
    });
    const rows: Row[] = [
      unknownKey('coord xpub', []),
      unknownKey('coord address', ['--chain', 'ethereum']),
      unknownKey('coord aux', ['--parties', '2']),
      unknownKey('coord presign', ['--signers', '0,1']),
      unknownKey('coord refresh', []),
      unknownKey('coord sign', ['--presignature', pre, ...digest]),
      {
        cmd: 'coord import',
        kind: 'unknown key',
        flag: '--key',
        args: ['--config', coord, '--key', 'nokey', '--parties', '2'],
        exit: 1,
        code: 'ERR_IMPORT_NOT_STAGED',
        names: ['"nokey"'],
      },
      // party ids beyond the roster (2 parties): refused before a session starts, naming the flag
      ...(
        [
          ['coord keygen', '--parties', ['--key', 'k2', '--threshold', '2', '--parties', '3']],
          ['coord aux', '--parties', ['--key', 'hot', '--parties', '3']],
          ['coord presign', '--signers', ['--key', 'hot', '--signers', '0,7']],
          ['coord xpub', '--parties', ['--key', 'hot', '--parties', '0,5']],
        ] as const
      ).map(
        ([cmd, flag, args]): Row => ({
          cmd,
          kind: 'malformed value',
          flag,
          args: ['--config', coord, ...args],
          exit: 2,
          code: 'ERR_CLI_USAGE',
          names: [flag, 'not in the roster'],
        }),
      ),
      {
        cmd: 'key-repair',
        kind: 'busy',
        flag: '--config',
        args: ['--config', setup.partyConfigs[0] as string, '--key', 'hot'],
        exit: 1,
        code: 'ERR_LEDGER_BUSY',
        names: [join(dirname(setup.partyConfigs[0] as string), 'ledger.db'), 'stop the party daemon'],
      },
      {
        cmd: 'identity-seal',
        kind: 'busy',
        flag: '--config',
        args: ['--config', setup.partyConfigs[1] as string],
        exit: 1,
        code: 'ERR_LEDGER_BUSY',
        names: [join(dirname(setup.partyConfigs[1] as string), 'ledger.db'), 'stop the party daemon'],
      },
      {
        cmd: 'coord sign',
        kind: 'unknown presignature',
        flag: '--presignature',
        args: ['--config', coord, '--key', 'hot', '--presignature', pre, ...digest],
        exit: 1,
        code: 'ERR_DAEMON_PRESIGNATURE_UNKNOWN',
        names: [pre],
      },
    ];
    const failures: string[] = [];
    for (const row of rows) failures.push(...problemsOf(row, await inProcess(row), secrets));
    expect(failures).toEqual([]);

    // a document every party refuses: each party's outcome on stdout (exit 1) with its code once
    const doc = join(t.dir, 'policy.jws.json');
    writeFileSync(doc, JSON.stringify({ payload: 'e30', signatures: [{ protected: 'e30', signature: 'AAAA' }] }));
    const push = await inProcess({
      cmd: 'coord policy-push',
      kind: 'wrong schema',
      args: ['--config', coord, '--file', doc],
      exit: 1,
      code: '',
      names: [],
    });
    expect(push.code).toBe(1);
    expect(push.stderr).toBe('');
    const out = JSON.parse(push.stdout) as {
      ok: boolean;
      parties: Array<{ ok: boolean; code: string; message: string }>;
    };
    expect(out.ok).toBe(false);
    expect(out.parties).toHaveLength(2);
    for (const p of out.parties) {
      expect(p.ok).toBe(false);
      expect(p.code).toMatch(/^ERR_POLICY_/);
      expect(p.message).not.toMatch(/ERR_[A-Z_]+/);
    }
  }, 120_000);
});
