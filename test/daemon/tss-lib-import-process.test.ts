/**
 * Issue #19 acceptance over NATS: three party daemons as OS processes (`mpc-custody party`), a real
 * nats-server with the TLS / nkey / permission set `mpc-custody setup` writes. Each party stages its
 * tss-lib save file (test/fixtures/tss-lib-ecdsa, real tss-lib output: 5 parties, threshold 2) with
 * `mpc-custody import tss-lib` (plaintext file removed), the coordinator runs `mpc-custody coord
 * import` (the parties agree on the public data, convert to the additive 3-of-3 key, run fresh aux
 * info and refresh it at once to a 3-of-3 Feldman key of epoch 1), then a presignature and an EIP-1559 transaction signed by the imported key: viem recovers
 * the fixture ECDSAPub's address and @noble/curves verifies the signature under the ECDSAPub read
 * from the file. Refused before that: parties that staged save files of different keys
 * (ERR_IMPORT_MISMATCH naming the odd party, nothing imported anywhere) and a key nobody staged.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { keccak256, parseTransaction, recoverTransactionAddress, serializeTransaction } from 'viem';
import { publicKeyToAddress } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRecord } from '../../src/audit/index.js';
import { verifyAuditStream } from '../../src/cli/audit-command.js';
import { runCli } from '../../src/cli/command.js';
import { COMMANDS } from '../../src/cli/commands.js';
import { connectCoordinator } from '../../src/daemon/coordinator-client.js';
import { addCachedPrimes } from '../../src/daemon/main.js';
import { findNatsServer, type NatsServerProcess, runNatsServer } from '../../src/daemon/nats-server-process.js';
import { type SetupResult, setupPartySet } from '../../src/daemon/setup.js';
import { freePort, type SpawnedParty, spawnParty } from '../../src/daemon/spawn-party.js';
import { openFileSecretStore } from '../../src/storage/file-store.js';
import { readAuditStream } from '../../src/transport/audit-sink.js';
import { connectNats, loadAuditorNatsConfig } from '../../src/transport/nats.js';
import { testPrimes } from '../helpers/primes.js';
import { required } from '../helpers/requirements.js';
import { syntheticSaveFiles } from '../protocol/tss-lib-synthetic.js';

const CLI = join(import.meta.dirname, '..', '..', 'dist', 'src', 'cli', 'main.js');
const canRun =
  required(existsSync(CLI), `the built CLI (${CLI}; npm run build)`) &&
  required(findNatsServer() !== undefined, 'nats-server');

const fixture = (k: number) =>
  readFileSync(new URL(`../fixtures/tss-lib-ecdsa/keygen_data_${k}.json`, import.meta.url), 'utf8');

/** The fixture's ECDSAPub as 65 uncompressed bytes, read from the file without this project's code. */
function fixturePublicKey(): Uint8Array {
  const m = /"ECDSAPub":\s*\{\s*"Curve":\s*"secp256k1",\s*"Coords":\s*\[\s*(\d+),\s*(\d+)\s*\]/.exec(fixture(0));
  if (m === null) throw new Error('fixture has no ECDSAPub');
  const hex = (d: string) => BigInt(d).toString(16).padStart(64, '0');
  return Buffer.from(`04${hex(m[1] as string)}${hex(m[2] as string)}`, 'hex');
}

let dir: string;
let setup: SetupResult;
let nats: NatsServerProcess;
const daemons: SpawnedParty[] = [];

/**
 * `mpc-custody …` as main.ts runs it, in this process (the same command code and argument parsing;
 * a node process per call would cost seconds each on a loaded machine). The parties are processes.
 */
async function cli(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const status = await runCli(COMMANDS, args, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { status, stdout: out.join('\n'), stderr: err.join('\n') };
}

/** Stages `content` at `party` under `key` (`mpc-custody import tss-lib`; the file is removed once sealed). */
async function stage(party: number, key: string, content: string): Promise<void> {
  const file = join(dir, `save-${party}-${key}.json`);
  writeFileSync(file, content, { mode: 0o600 });
  const config = setup.partyConfigs[party] as string;
  const r = await cli(['import', 'tss-lib', '--party-file', file, '--config', config, '--key', key]);
  expect(r.stderr).toBe('');
  expect(existsSync(file)).toBe(false);
}

/** The share ids in party i's store (headers only; the daemon has the same store open). */
async function held(i: number): Promise<string[]> {
  const pdir = join(dir, `party-${i}`);
  const store = await openFileSecretStore({ dir: pdir, keyFile: join(pdir, 'store.key') });
  try {
    return (await store.listShares()).map((s) => s.keyId);
  } finally {
    await store.close();
  }
}

describe.runIf(canRun)('tss-lib import over NATS with party processes', () => {
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mpc-tsslib-'));
    setup = await setupPartySet({
      dir,
      parties: 3,
      natsPort: await freePort(),
      httpBasePort: 0,
      math: 'native',
      policy: 'off', // the coordinator alone drives these parties (cosign-process.test.ts enforces)
      audit: 'tsslib', // each party ships its signed audit records (key.imported among them)
    });
    const primes = await testPrimes('safe', 1536);
    for (let i = 0; i < 3; i++) {
      await addCachedPrimes(setup.partyConfigs[i] as string, primes.slice(4 * i, 4 * i + 4));
    }
    nats = await runNatsServer(setup.nats.serverConfigFile);
    for (const c of setup.partyConfigs) daemons.push(await spawnParty(CLI, c, { timeoutMs: 30_000, drainMs: 3000 }));
  }, 120_000);

  afterAll(async () => {
    for (const d of daemons) await d.stop(5000);
    await nats?.kill();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('refuses parties that staged different keys, naming the odd one; nothing is imported', async () => {
    const ks = [11n, 22n, 33n, 44n, 55n];
    const a = syntheticSaveFiles(101n, ks);
    const b = syntheticSaveFiles(202n, ks);
    await stage(0, 'mixed', a[0] as string);
    await stage(1, 'mixed', a[1] as string);
    await stage(2, 'mixed', b[2] as string);
    const r = await cli(['coord', 'import', '--config', setup.coordinatorConfig, '--key', 'mixed', '--parties', '3']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(
      /ERR_IMPORT_MISMATCH: the parties did not stage the same tss-lib key .*the odd one staged by party 2\)/,
    );
    for (let i = 0; i < 3; i++) {
      const ids = await held(i);
      expect(ids).toContain('mixed.tsslib'); // still staged: `import discard` drops a wrong one
      expect(ids.filter((k) => k === 'mixed' || k === 'mixed.core')).toEqual([]);
    }
    const none = await cli([
      'coord',
      'import',
      '--config',
      setup.coordinatorConfig,
      '--key',
      'nobody',
      '--parties',
      '3',
    ]);
    expect(none.status).toBe(1);
    expect(none.stderr).toMatch(/ERR_IMPORT_NOT_STAGED: party [0-2] has no tss-lib share staged for "nobody"/);
  }, 60_000);

  it('imports the three fixture save files, runs aux info and a refresh, signs an EIP-1559 transaction under ECDSAPub', async () => {
    for (let i = 0; i < 3; i++) await stage(i, 'migrated', fixture(i));
    const r = await cli([
      'coord',
      'import',
      '--config',
      setup.coordinatorConfig,
      '--key',
      'migrated',
      '--parties',
      '3',
    ]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout);
    const Y = fixturePublicKey();
    // imported, fresh aux info, and refreshed at once: epoch 1, the tss-lib shares no longer combine
    expect(out).toMatchObject({
      keyId: 'migrated',
      imported: 'tss-lib',
      aux: 'ok',
      signers: 3,
      refreshed: true,
      epoch: 1,
    });
    expect(out.publicKey).toBe(Buffer.from(secp256k1.Point.fromBytes(Y).toBytes(true)).toString('hex'));
    for (let i = 0; i < 3; i++) {
      const ids = await held(i);
      expect(ids).toContain('migrated'); // the full share (core + fresh aux info)
      expect(ids.filter((k) => k.startsWith('migrated.'))).toEqual([]); // neither staged nor core left
    }

    const coord = await connectCoordinator(setup.coordinatorConfig, { readyTimeoutMs: 20_000 });
    try {
      const pre = await coord.coordinator.presign({ keyId: 'migrated', signers: [0, 1, 2] });
      const unsigned = serializeTransaction({
        type: 'eip1559',
        chainId: 1,
        nonce: 7,
        to: '0x52908400098527886E0F7030069857D2E4169EE7',
        value: 1_000_000_000_000_000n,
        gas: 21_000n,
        maxFeePerGas: 30_000_000_000n,
        maxPriorityFeePerGas: 1_000_000_000n,
      });
      const signed = await coord.coordinator.signPayload({
        keyId: 'migrated',
        kind: 'eth.transaction',
        payload: Buffer.from(unsigned.slice(2), 'hex'),
        presignatures: [pre],
      });
      const raw = signed.artifact.hex as `0x${string}`;
      expect(await recoverTransactionAddress({ serializedTransaction: raw as never })).toBe(
        publicKeyToAddress(`0x${Buffer.from(Y).toString('hex')}`),
      );
      const tx = parseTransaction(raw);
      const sig = new secp256k1.Signature(BigInt(tx.r as string), BigInt(tx.s as string));
      const digest = Buffer.from(keccak256(unsigned).slice(2), 'hex');
      expect(secp256k1.verify(sig.toBytes('compact'), digest, Y, { prehash: false })).toBe(true);
    } finally {
      await coord.close();
    }
    // every party's signed chain records the import (shipped to JetStream; read with the auditor's credential)
    const compressed = Buffer.from(secp256k1.Point.fromBytes(Y).toBytes(true)).toString('hex');
    let records: { emitter: string; event: Record<string, unknown> }[] = [];
    const of = (type: string) => records.filter((x) => x.event.type === type);
    const committed = () =>
      of('refresh.step').filter((x) => x.event.step === 'committed' && x.event.key === 'migrated');
    for (let tries = 0; tries < 100 && (of('key.imported').length < 3 || committed().length < 3); tries++) {
      const nc = await connectNats(await loadAuditorNatsConfig(setup.nats.auditor?.configFile as string));
      try {
        records = (await readAuditStream(nc, 'tsslib'))
          .map((l) => parseRecord(l).parsed)
          .map((b) => ({ emitter: b.emitter, event: b.event as Record<string, unknown> }));
      } finally {
        await nc.close();
      }
      if (of('key.imported').length < 3 || committed().length < 3) await new Promise((res) => setTimeout(res, 200));
    }
    const imported = of('key.imported');
    // the refresh right after the import committed epoch 1 at every holder
    expect(
      committed()
        .map((x) => [x.emitter, x.event.epoch])
        .sort(),
    ).toEqual([
      ['party-0', 1],
      ['party-1', 1],
      ['party-2', 1],
    ]);
    expect(imported.map((x) => x.emitter).sort()).toEqual(['party-0', 'party-1', 'party-2']);
    for (const x of imported) {
      expect(x.event).toEqual({
        type: 'key.imported',
        key: 'migrated',
        source: 'tss-lib',
        parties: 3,
        publicKey: compressed,
      });
    }
    const report = await verifyAuditStream({
      roster: setup.rosterFile,
      deployment: 'tsslib',
      natsConfig: setup.nats.auditor?.configFile as string,
    });
    expect(report.firstBreak).toBeUndefined();
  }, 120_000);
});
