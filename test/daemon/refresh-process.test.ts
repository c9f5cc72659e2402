/**
 * Issue #16 over NATS: key refresh with three party daemons as OS processes (`mpc-custody party`), a
 * real nats-server with the TLS / nkey / permission set and the JetStream audit stream `mpc-custody
 * setup --audit` writes. A 2-of-3 key is generated, gets aux info and one presignature; `mpc-custody
 * coord refresh` then moves the key to epoch 1 (every holder seals a new share and aux info, every
 * holder checks every acknowledgement, then commits). After it: the old presignature is refused with
 * ERR_PRESIGNATURE_EPOCH; a new presignature signs a digest that @noble/curves verifies under the
 * ORIGINAL public key; the public key and chain code are unchanged; each signer's audit chain holds
 * the burn (presignatures.burnt, reason epoch) and every party's the refresh steps. Then a holder is
 * killed (SIGKILL) after the next refresh prepared everywhere and before the commit reached it: the
 * others commit, it restarts on the old epoch with the new share prepared, and `coord refresh`
 * completes that commit (resumed); the key is then on one epoch at every holder and signs. A holder
 * killed during a refresh session: nobody commits, the key stays on its epoch everywhere, and after
 * the restart a new refresh completes. Last,
 * a 2-of-3 custodian backup kit of holder 2's share (`backup create`), its data directory lost (share
 * store, ledger, prime cache, store key: only its config and identity are left), `recovery restore`
 * from two custodians' pieces: the restarted holder refuses to presign (ERR_DAEMON_KEY_RESTORED) until
 * `coord refresh` gives it a new share and aux info, then it signs under the original key; its new
 * ledger continued its audit chain from the stream (key.restored shipped, the stream verifies).
 * Then a reshare that adds a holder (`coord reshare --from 3 --to 4 --threshold 3`): party 3, in the
 * roster but holding nothing, joins; the key keeps its public key and chain code at all four, an
 * old-epoch presignature is refused, three signers including the new one sign, two are refused. Then
 * a holder killed inside the commit (its ledger committed, the store step not done): restarted, the
 * key is on the new epoch everywhere and the holder finishes the step and signs. Last, a reshare in
 * which party 3 leaves (3-of-4 → 2-of-3, the same cluster and key): holders 0..2 re-deal and commit;
 * party 3 (crash hook MPC_TEST_CRASH_AT=leave-commit) dies (SIGKILL) as the leavers' step reaches
 * it, so the reshare run again reports it silent; the new committee signs without it; restarted,
 * it is still on the old epoch with its share, and `coord reshare --from 4 --to 3 --threshold 2`
 * resumes only its step (the same epoch and digest, resumed): its share file is gone, the key is
 * refused there with ERR_DAEMON_KEY_RETIRED (record, presign with it, a third reshare), its audit
 * `reshare.step` left is shipped and the stream verifies, and holders 1 and 2 sign under the
 * original key.
 */
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { x25519 } from '@noble/curves/ed25519.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRecord } from '../../src/audit/index.js';
import { verifyAuditStream } from '../../src/cli/audit-command.js';
import { runCli } from '../../src/cli/command.js';
import { COMMANDS } from '../../src/cli/commands.js';
import { presignatureToJson } from '../../src/cli/presignature-file.js';
import { connectCoordinator } from '../../src/daemon/coordinator-client.js';
import { addCachedPrimes } from '../../src/daemon/main.js';
import { findNatsServer, type NatsServerProcess, runNatsServer } from '../../src/daemon/nats-server-process.js';
import { type SetupResult, setupPartySet } from '../../src/daemon/setup.js';
import { freePort, type SpawnedParty, spawnParty } from '../../src/daemon/spawn-party.js';
import { encodePoint, type Point } from '../../src/primitives/curve.js';
import { decodeKeyRecord } from '../../src/protocol/reshare.js';
import { openFileSecretStore } from '../../src/storage/file-store.js';
import { createKeyFile } from '../../src/storage/software-sealer.js';
import { readAuditStream } from '../../src/transport/audit-sink.js';
import { connectNats, loadAuditorNatsConfig } from '../../src/transport/nats.js';
import { testPrimes } from '../helpers/primes.js';
import { required } from '../helpers/requirements.js';

const CLI = join(import.meta.dirname, '..', '..', 'dist', 'src', 'cli', 'main.js');
const canRun =
  required(existsSync(CLI), `the built CLI (${CLI}; npm run build)`) &&
  required(findNatsServer() !== undefined, 'nats-server');

const DEPLOYMENT = 'dep-refresh';
let dir: string;
let setup: SetupResult;
let nats: NatsServerProcess;
let auditor: NatsConnection | undefined;
const daemons: SpawnedParty[] = [];

/** `mpc-custody …` as main.ts runs it, in this process (the parties are processes). */
async function cli(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const status = await runCli(COMMANDS, args, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { status, stdout: out.join('\n'), stderr: err.join('\n') };
}

/** The share ids in party i's store (headers only; the daemon has the same store open). */
async function held(i: number): Promise<Array<{ keyId: string; version: number }>> {
  const pdir = join(dir, `party-${i}`);
  const store = await openFileSecretStore({ dir: pdir, keyFile: join(pdir, 'store.key') });
  try {
    return (await store.listShares()).map((s) => ({ keyId: s.keyId, version: s.version }));
  } finally {
    await store.close();
  }
}

/** Party i's audit events as shipped to the stream (waits until `until` holds: shipping is asynchronous). */
async function auditEvents(
  party: number,
  until: (events: Array<Record<string, unknown>>) => boolean,
): Promise<Array<Record<string, unknown>>> {
  let events: Array<Record<string, unknown>> = [];
  for (let attempt = 0; attempt < 100; attempt++) {
    const lines = await readAuditStream(auditor as NatsConnection, DEPLOYMENT);
    events = lines
      .map((l) => parseRecord(l).parsed)
      .filter((r) => r.emitter === `party-${party}`)
      .map((r) => r.event as unknown as Record<string, unknown>);
    if (until(events)) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  return events;
}

type Coord = Awaited<ReturnType<typeof connectCoordinator>>['coordinator'];

/**
 * Runs `f` with two coordinator connections: `c` (patient) and `quick` (5 s rounds, for sessions
 * that wait on a dead holder).
 */
async function withCoordinators(f: (c: Coord, quick: Coord) => Promise<void>): Promise<void> {
  const coord = await connectCoordinator(setup.coordinatorConfig, { readyTimeoutMs: 20_000 });
  const quick = await connectCoordinator(setup.coordinatorConfig, { readyTimeoutMs: 5_000, roundTimeoutMs: 5_000 });
  try {
    await f(coord.coordinator, quick.coordinator);
  } finally {
    await quick.close();
    await coord.close();
  }
}

/** A fresh presignature of `signers` signs `text`'s SHA-256; @noble/curves verifies it under `Y`. */
async function signsUnder(c: Coord, Y: Point, signers: number[], text: string): Promise<void> {
  const digest = sha256(new TextEncoder().encode(text));
  const pre = await c.presign({ keyId: 'rk', signers });
  const sig = await c.sign({ keyId: 'rk', presignature: pre, digest });
  const compact = new secp256k1.Signature(sig.r, sig.s).toBytes('compact');
  expect(secp256k1.verify(compact, digest, encodePoint(Y), { prehash: false })).toBe(true);
}

/** `coord refresh` through the CLI reaches `epoch` (a new refresh, or a resumed commit) at every holder. */
async function refreshTo(c: Coord, epoch: number, resumed: boolean): Promise<void> {
  // no --parties: the holder count comes from the key (3 holders while the roster has 4 parties)
  const r = await cli(['coord', 'refresh', '--config', setup.coordinatorConfig, '--key', 'rk']);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  expect(JSON.parse(r.stdout)).toMatchObject({ keyId: 'rk', refreshed: true, epoch, resumed });
  const after = await c.rotationStatus({ keyId: 'rk', parties: 3 });
  expect(after.map((x) => `${x.keyEpoch}:${x.state}`)).toEqual(Array(3).fill(`${epoch}:committed`));
}

describe.runIf(canRun)('key refresh over NATS with party processes', () => {
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mpc-refresh-'));
    setup = await setupPartySet({
      dir,
      // party 3 is in the roster and running, and joins the key by the reshare at the end
      parties: 4,
      natsPort: await freePort(),
      httpBasePort: 0,
      math: 'native',
      policy: 'off', // the coordinator alone drives these parties (cosign-process.test.ts enforces)
      audit: DEPLOYMENT,
    });
    // Every aux info, refresh and reshare session (a cut-off one too) takes two fresh safe primes at
    // each party taking part: parties 0 and 1 take part in nine, party 2 in five before its disk is
    // lost (four after its restore), party 3 in two; it keeps two more, as a daemon that starts with
    // fewer than its stock target (2) searches for primes in the background, and party 3 restarts
    // with its stock used up. Enough are cached: none is searched for.
    const primes = await testPrimes('safe', 1536);
    const stock = [primes.slice(0, 18), primes.slice(18, 36), primes.slice(36, 46), primes.slice(46, 52)];
    for (const [i, p] of stock.entries()) await addCachedPrimes(setup.partyConfigs[i] as string, p);
    nats = await runNatsServer(setup.nats.serverConfigFile);
    for (const c of setup.partyConfigs) daemons.push(await spawnParty(CLI, c, { timeoutMs: 30_000, drainMs: 3000 }));
    const a = setup.nats.auditor;
    if (a === undefined) throw new Error('setup wrote no auditor credential');
    auditor = await connectNats(await loadAuditorNatsConfig(a.configFile));
  }, 120_000);

  afterAll(async () => {
    if (process.env.REFRESH_DEBUG) {
      writeFileSync(
        process.env.REFRESH_DEBUG,
        daemons.map((d, i) => d.lines.map((l) => `${i} ${l}`).join('\n')).join('\n'),
      );
    }
    await auditor?.close();
    for (const d of daemons) await d.stop(5000);
    await nats?.kill();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('refreshes a 2-of-3 key: old presignature refused and burnt, new one signs under the original key', async () => {
    const coord = await connectCoordinator(setup.coordinatorConfig, { readyTimeoutMs: 20_000 });
    try {
      const c = coord.coordinator;
      const Y = await c.keygen({ keyId: 'rk', threshold: 2, parties: 3 });
      await c.auxInfo({ keyId: 'rk', parties: 3 });
      const before = await c.keyInfo({ keyId: 'rk', parties: [0, 1, 2] });
      const old = await c.presign({ keyId: 'rk', signers: [0, 1] });
      const versions = await Promise.all([0, 1, 2].map(held));

      const r = await cli(['coord', 'refresh', '--config', setup.coordinatorConfig, '--key', 'rk', '--parties', '3']);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ keyId: 'rk', refreshed: true, epoch: 1 });

      // every holder replaced its share by a newer version; nothing prepared is left beside it
      for (let i = 0; i < 3; i++) {
        const now = await held(i);
        const was = versions[i]?.find((s) => s.keyId === 'rk')?.version ?? 0;
        expect(now.find((s) => s.keyId === 'rk')?.version).toBeGreaterThan(was);
        expect(now.filter((s) => s.keyId.startsWith('rk.'))).toEqual([]);
      }
      const after = await c.keyInfo({ keyId: 'rk', parties: [0, 1, 2] });
      expect(encodePoint(after.publicKey)).toEqual(encodePoint(before.publicKey));
      expect(after.chainCode).toEqual(before.chainCode);

      // the presignature of epoch 0 is refused with its own code, through the CLI
      const file = join(dir, 'old-presignature.json');
      writeFileSync(file, JSON.stringify(presignatureToJson(old)));
      const digest = sha256(new TextEncoder().encode('after the refresh'));
      const refused = await cli([
        'coord',
        'sign',
        '--config',
        setup.coordinatorConfig,
        '--key',
        'rk',
        '--presignature',
        file,
        '--digest',
        Buffer.from(digest).toString('hex'),
      ]);
      expect(refused.status).toBe(1);
      expect(refused.stderr).toMatch(
        /ERR_PRESIGNATURE_EPOCH: the presignature was made before the key "rk" was refreshed/,
      );

      // a presignature of the new epoch signs under the original public key
      const fresh = await c.presign({ keyId: 'rk', signers: [1, 2] });
      const sig = await c.sign({ keyId: 'rk', presignature: fresh, digest });
      const compact = new secp256k1.Signature(sig.r, sig.s).toBytes('compact');
      expect(secp256k1.verify(compact, digest, encodePoint(Y), { prehash: false })).toBe(true);

      // the audit chains: each holder prepared and committed epoch 1; the signers of the old
      // presignature burnt it (reason epoch) in the commit, the third had nothing to burn
      for (let i = 0; i < 3; i++) {
        const events = await auditEvents(i, (e) => e.some((x) => x.type === 'refresh.step' && x.step === 'committed'));
        const steps = events.filter((x) => x.type === 'refresh.step').map((x) => `${x.step}@${x.epoch}`);
        expect(steps).toEqual(['prepared@1', 'committed@1']);
        const burns = events.filter((x) => x.type === 'presignatures.burnt');
        expect(burns).toEqual(i === 2 ? [] : [{ type: 'presignatures.burnt', count: 1, reason: 'epoch' }]);
        // the burn is recorded with the commit (one transaction: adjacent records)
        if (i !== 2) {
          const at = events.findIndex((x) => x.type === 'presignatures.burnt');
          expect(events[at + 1]).toMatchObject({ type: 'refresh.step', step: 'committed', key: 'rk' });
        }
      }
    } finally {
      await coord.close();
    }
  }, 300_000);

  it('kill -9 of a holder between prepare and commit: a retried coord refresh completes the commit; one epoch everywhere', async () => {
    await withCoordinators(async (c, quick) => {
      // `quick`: the commit to a dead holder waits only 5 s
      const Y = (await c.keyInfo({ keyId: 'rk', parties: [0, 1, 2] })).publicKey;
      const from = (await c.rotationStatus({ keyId: 'rk', parties: 3 }))[0]?.keyEpoch ?? 0;
      const commit = await c.prepareRefresh({ keyId: 'rk', parties: 3 });
      expect(commit.epoch).toBe(from + 1);

      // a commit whose acknowledgement of holder 1 is not holder 1's signature is refused by every
      // holder (each checks every ack against the roster); nothing is committed anywhere
      const forged = {
        ...commit,
        acks: commit.acks.map((a) => (a.holder === 1 ? { holder: 1, sig: (commit.acks[0] as typeof a).sig } : a)),
      };
      await expect(quick.commitRotation({ keyId: 'rk', parties: 3, commit: forged })).rejects.toMatchObject({
        details: { codes: 'ERR_ROTATION_ACK_INVALID' },
      });
      const refused = await c.rotationStatus({ keyId: 'rk', parties: 3 });
      expect(refused.map((x) => `${x.keyEpoch}:${x.state}`)).toEqual(Array(3).fill(`${from}:prepared`));

      // party 2 dies with its next share sealed but not committed; 0 and 1 commit without it
      const victim = daemons[2] as SpawnedParty;
      victim.proc.kill('SIGKILL');
      await victim.exit;
      const half = quick.commitRotation({ keyId: 'rk', parties: 3, commit });
      await expect(half).rejects.toMatchObject({ code: 'ERR_DAEMON_SESSION_TIMEOUT', details: { missing: '2' } });

      daemons[2] = await spawnParty(CLI, setup.partyConfigs[2] as string, { timeoutMs: 30_000, drainMs: 3000 });
      const during = await c.rotationStatus({ keyId: 'rk', parties: 3 });
      // after the restart party 2 is still on the old epoch with the new one prepared (its old share
      // signs until it commits); the others are on the new epoch
      expect(during.map((x) => `${x.keyEpoch}:${x.state}`)).toEqual([
        `${from + 1}:committed`,
        `${from + 1}:committed`,
        `${from}:prepared`,
      ]);

      await refreshTo(c, from + 1, true);
      for (let i = 0; i < 3; i++) expect((await held(i)).filter((s) => s.keyId.startsWith('rk.'))).toEqual([]);

      // the restarted holder signs with a holder that committed without it, under the original key
      await signsUnder(c, Y, [0, 2], 'after the interrupted refresh');
    });
  }, 300_000);

  it('kill -9 of a holder during the refresh session: no holder commits, the key stays on its epoch; after the restart a retried refresh completes', async () => {
    await withCoordinators(async (c, quick) => {
      const Y = (await c.keyInfo({ keyId: 'rk', parties: [0, 1, 2] })).publicKey;
      const from = (await c.rotationStatus({ keyId: 'rk', parties: 3 }))[0]?.keyEpoch ?? 0;
      const victim = daemons[1] as SpawnedParty;
      const mark = victim.lines.length;
      const attempt = quick.refresh({ keyId: 'rk', parties: 3 });
      attempt.catch(() => undefined);
      // killed as soon as it has taken up the refresh session (its primes drawn, rounds running)
      while (!victim.lines.slice(mark).some((l) => l.includes('"op":"refresh"') && l.includes('session requested'))) {
        await new Promise((r) => setTimeout(r, 20));
      }
      victim.proc.kill('SIGKILL');
      await victim.exit;
      await expect(attempt).rejects.toMatchObject({
        code: expect.stringMatching(/^ERR_DAEMON_SESSION_(TIMEOUT|FAILED)$/),
      });
      daemons[1] = await spawnParty(CLI, setup.partyConfigs[1] as string, { timeoutMs: 30_000, drainMs: 3000 });
      // every holder is on the old epoch and none committed the attempt (the others may hold it prepared)
      const during = await c.rotationStatus({ keyId: 'rk', parties: 3 });
      expect(during.map((x) => x.keyEpoch)).toEqual([from, from, from]);
      for (const x of during) expect(x.state === 'committed' ? x.epoch : from).toBe(from);

      await refreshTo(c, from + 1, false);
      await signsUnder(c, Y, [0, 1], 'after the cut-off refresh');
    });
  }, 300_000);

  it('holder 2 loses its data directory: restored from 2 of 3 custodians, it refuses to presign until a refresh, then signs', async () => {
    const coord = await connectCoordinator(setup.coordinatorConfig, { readyTimeoutMs: 20_000 });
    try {
      const c = coord.coordinator;
      const Y = (await c.keyInfo({ keyId: 'rk', parties: [0, 1, 2] })).publicKey;
      const from = (await c.rotationStatus({ keyId: 'rk', parties: 3 }))[0]?.keyEpoch ?? 0;
      const config = setup.partyConfigs[2] as string;
      const pdir = join(dir, 'party-2');
      // three recovery custodians; the kit holds the share the daemon holds now (after aux info and refreshes)
      const secrets = [1, 2, 3].map((k) => new Uint8Array(32).fill(0x70 + k));
      const custodianFlags = secrets.flatMap((x) => [
        '--custodian',
        Buffer.from(x25519.getPublicKey(x)).toString('hex'),
      ]);
      const kit = join(dir, 'party-2.kit');
      const made = await cli([
        'backup',
        'create',
        '--config',
        config,
        '--key',
        'rk',
        '--k',
        '2',
        ...custodianFlags,
        '--out',
        kit,
      ]);
      expect(made.stderr).toBe('');
      expect(made.status).toBe(0);
      const secretFiles = secrets.map((x, k) => {
        const f = join(dir, `custodian-${k}.hex`);
        writeFileSync(f, `${Buffer.from(x).toString('hex')}\n`, { mode: 0o600 });
        return f;
      });

      // the disk is gone: only the config and the identity (provisioned with the host) are left
      expect(await (daemons[2] as SpawnedParty).stop(10_000)).toBe(0);
      for (const name of readdirSync(pdir)) {
        if (name !== 'config.json' && name !== 'identity.key')
          await rm(join(pdir, name), { recursive: true, force: true });
      }
      await createKeyFile(join(pdir, 'store.key'));
      const restore = (pieces: number[]) =>
        cli([
          'recovery',
          'restore',
          '--config',
          config,
          '--key',
          'rk',
          '--kit',
          kit,
          ...pieces.flatMap((k) => ['--piece', `${k}:${secretFiles[k]}`]),
        ]);
      const restored = await restore([2, 0]);
      expect(restored.stderr).toBe('');
      expect(JSON.parse(restored.stdout)).toMatchObject({ ok: true, key: 'rk', epoch: from });
      // a second restore of the same key is refused, nothing written
      const again = await restore([1, 0]);
      expect(again.status).toBe(1);
      expect(again.stderr).toMatch(/ERR_STORAGE_VERSION_CONFLICT/);
      await addCachedPrimes(config, (await testPrimes('safe', 1536)).slice(52, 60));
      daemons[2] = await spawnParty(CLI, config, { timeoutMs: 30_000, drainMs: 3000 });

      // no aux info at the restored holder: it refuses to presign, naming why
      await expect(c.presign({ keyId: 'rk', signers: [1, 2] })).rejects.toMatchObject({
        details: { codes: expect.stringContaining('ERR_DAEMON_KEY_RESTORED') },
      });
      await refreshTo(c, from + 1, false);
      // the restored core is replaced by the committed full share
      expect((await held(2)).filter((x) => x.keyId.startsWith('rk'))).toEqual([{ keyId: 'rk', version: 1 }]);

      await signsUnder(c, Y, [1, 2], 'after the restore');
      // the new ledger continued party 2's chain from its last record in the stream: the restore and
      // the refresh after it are shipped, and the whole stream verifies (no fork at party 2)
      const events = await auditEvents(2, (e) =>
        e.some((x) => x.type === 'refresh.step' && x.step === 'committed' && x.epoch === from + 1),
      );
      expect(events.find((x) => x.type === 'key.restored')).toEqual({
        type: 'key.restored',
        key: 'rk',
        epoch: from,
        publicKey: Buffer.from(encodePoint(Y)).toString('hex'),
      });
      const report = await verifyAuditStream({
        roster: setup.rosterFile,
        deployment: DEPLOYMENT,
        natsConfig: setup.nats.auditor?.configFile as string,
      });
      expect(report.firstBreak).toBeUndefined();
    } finally {
      await coord.close();
    }
  }, 300_000);

  it('reshare that adds a holder: 2-of-3 → 3-of-4 with party 3 joining; same key, old presignature refused, three signers needed', async () => {
    await withCoordinators(async (c) => {
      const before = await c.keyInfo({ keyId: 'rk', parties: [0, 1, 2] });
      const from = (await c.rotationStatus({ keyId: 'rk', parties: 3 }))[0]?.keyEpoch ?? 0;
      const old = await c.presign({ keyId: 'rk', signers: [0, 1] });
      const r = await cli([
        'coord',
        'reshare',
        '--config',
        setup.coordinatorConfig,
        '--key',
        'rk',
        '--from',
        '3',
        '--to',
        '4',
        '--threshold',
        '3',
      ]);
      expect(r.stderr).toBe('');
      expect(JSON.parse(r.stdout)).toMatchObject({
        keyId: 'rk',
        reshared: true,
        parties: 4,
        threshold: 3,
        epoch: from + 1,
      });
      const after = await c.rotationStatus({ keyId: 'rk', parties: 4 });
      expect(after.map((x) => `${x.keyEpoch}:${x.state}`)).toEqual(Array(4).fill(`${from + 1}:committed`));
      // the same public key and chain code at every holder, the new one included (same xpub)
      const key = await c.keyInfo({ keyId: 'rk', parties: [0, 1, 2, 3] });
      expect(encodePoint(key.publicKey)).toEqual(encodePoint(before.publicKey));
      expect(key.chainCode).toEqual(before.chainCode);
      // a presignature of the old committee no longer signs
      const digest = sha256(new TextEncoder().encode('with an old presignature'));
      await expect(c.sign({ keyId: 'rk', presignature: old, digest })).rejects.toThrow(/ERR_PRESIGNATURE_EPOCH/);
      // the joining holder signs with two others under the original key; two signers are not enough
      await signsUnder(c, before.publicKey, [1, 2, 3], 'after the reshare');
      await expect(c.presign({ keyId: 'rk', signers: [0, 3] })).rejects.toMatchObject({
        details: { codes: expect.stringContaining('ERR_DAEMON_COMMAND_INVALID') },
      });
    });
  }, 300_000);

  it('kill -9 of a holder inside the commit (after its ledger committed, before the store step): restarted, it finishes the step and signs on the new epoch', async () => {
    await withCoordinators(async (c, quick) => {
      const Y = (await c.keyInfo({ keyId: 'rk', parties: [0, 1, 2, 3] })).publicKey;
      const from = (await c.rotationStatus({ keyId: 'rk', parties: 4 }))[0]?.keyEpoch ?? 0;
      // holder 3 runs with the crash hook: it dies right after its ledger commits a rotation
      expect(await (daemons[3] as SpawnedParty).stop(10_000)).toBe(0);
      const config = setup.partyConfigs[3] as string;
      daemons[3] = await spawnParty(CLI, config, {
        env: { ...process.env, MPC_TEST_CRASH_AT: 'rotation-commit' },
        timeoutMs: 30_000,
        drainMs: 3000,
      });
      const victim = daemons[3] as SpawnedParty;
      // the refresh session at full round deadlines (aux info of four parties); the commit to the holder that dies waits 5 s
      const commit = await c.prepareRefresh({ keyId: 'rk', parties: 4 });
      await expect(quick.commitRotation({ keyId: 'rk', parties: 4, commit })).rejects.toMatchObject({
        code: 'ERR_DAEMON_SESSION_TIMEOUT',
        details: { missing: '3' },
      });
      await victim.exit;
      // restarted with the next test's crash hook (it fires only as a leaver's commit arrives): one
      // restart fewer
      daemons[3] = await spawnParty(CLI, config, {
        env: { ...process.env, MPC_TEST_CRASH_AT: 'leave-commit' },
        timeoutMs: 30_000,
        drainMs: 3000,
      });
      // its ledger committed: every holder is on the new epoch; its store still had the step to do
      const after = await c.rotationStatus({ keyId: 'rk', parties: 4 });
      expect(after.map((x) => `${x.keyEpoch}:${x.state}`)).toEqual(Array(4).fill(`${from + 1}:committed`));
      // the first use of the key finishes the step: it signs with the new epoch's share
      await signsUnder(c, Y, [1, 2, 3], 'after the commit was cut');
      expect((await held(3)).filter((x) => x.keyId.startsWith('rk'))).toEqual([
        { keyId: 'rk', version: expect.any(Number) },
      ]);
    });
  }, 300_000);

  it('reshare where party 3 leaves (3-of-4 → 2-of-3), killed (-9) as its step arrives: coord reshare again retires it; it refuses the key and holds no share, the holders sign', async () => {
    await withCoordinators(async (c, quick) => {
      const Y = (await c.keyInfo({ keyId: 'rk', parties: [0, 1, 2, 3] })).publicKey;
      const from = (await c.rotationStatus({ keyId: 'rk', parties: 4 }))[0]?.keyEpoch ?? 0;
      const shares3 = () => readdirSync(join(dir, 'party-3', 'shares', '3')).filter((f) => f.startsWith('rk'));
      // party 3 runs with the crash hook (MPC_TEST_CRASH_AT=leave-commit, since the previous test's
      // restart): it dies as the leavers' step reaches it, before it checks or retires anything
      const victim = daemons[3] as SpawnedParty;
      // holders 0..2 re-deal among themselves (full round deadlines) and commit
      const commit = await c.prepareReshare({ keyId: 'rk', from: 4, to: 3, threshold: 2 });
      await c.commitRotation({ keyId: 'rk', parties: 3, commit });
      // the reshare again: the holders committed and the leaver is on the epoch before, so only the
      // leavers' step runs; it does not come back (5 s)
      await expect(quick.reshare({ keyId: 'rk', from: 4, to: 3, threshold: 2 })).rejects.toMatchObject({
        code: 'ERR_DAEMON_SESSION_TIMEOUT',
        details: { missing: '3' },
      });
      await victim.exit;
      expect(victim.proc.signalCode).toBe('SIGKILL');
      // the new committee signs without the leaver, under the original key
      await signsUnder(c, Y, [0, 1], 'while the leaver is down');

      daemons[3] = await spawnParty(CLI, setup.partyConfigs[3] as string, { timeoutMs: 30_000, drainMs: 3000 });
      // restarted, the leaver is still on the old epoch and holds its share
      const during = await c.rotationStatus({ keyId: 'rk', parties: 4 });
      expect(during.map((x) => x.keyEpoch)).toEqual([from + 1, from + 1, from + 1, from]);
      expect(shares3()).toEqual(['rk.share']);

      // coord reshare resumes only the leavers' step (no new session: the same epoch and digest)
      const args = ['coord', 'reshare', '--config', setup.coordinatorConfig, '--key', 'rk'];
      const r = await cli([...args, '--from', '4', '--to', '3', '--threshold', '2']);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(JSON.parse(r.stdout)).toEqual({
        keyId: 'rk',
        reshared: true,
        parties: 3,
        threshold: 2,
        epoch: from + 1,
        digest: Buffer.from(commit.digest).toString('hex'),
        resumed: true,
      });
      // the leaver: no share of the key in its store, every use refused with its code
      expect(shares3()).toEqual([]);
      expect((await held(3)).filter((x) => x.keyId.startsWith('rk'))).toEqual([]);
      await expect(c.keyRecord({ keyId: 'rk', parties: 4 })).rejects.toMatchObject({
        details: { codes: 'ERR_DAEMON_KEY_RETIRED' },
      });
      // a presign with it: party 3 refuses its retired key, party 2 a signer outside the new
      // committee; the coordinator reports the refusals that reached it first (either, or both)
      await expect(c.presign({ keyId: 'rk', signers: [2, 3] })).rejects.toMatchObject({
        details: { codes: expect.stringMatching(/ERR_DAEMON_KEY_RETIRED|ERR_DAEMON_COMMAND_INVALID/) },
      });
      // nothing left to do: the reshare once more says so
      const again = await cli([...args, '--from', '4', '--to', '3', '--threshold', '2']);
      expect(again.status).toBe(1);
      expect(again.stderr).toMatch(/ERR_DAEMON_KEY_RETIRED/);
      // its ledger marked the key left (audit reshare.step left, shipped); the stream verifies
      const events = await auditEvents(3, (e) => e.some((x) => x.type === 'reshare.step' && x.step === 'left'));
      expect(events.filter((x) => x.type === 'reshare.step' && x.step === 'left')).toEqual([
        { type: 'reshare.step', key: 'rk', step: 'left', epoch: from + 1, parties: [0, 1, 2] },
      ]);
      const report = await verifyAuditStream({
        roster: setup.rosterFile,
        deployment: DEPLOYMENT,
        natsConfig: setup.nats.auditor?.configFile as string,
      });
      expect(report.firstBreak).toBeUndefined();

      // the new committee: 2-of-3 at the new epoch, the same key; it signs under the original key
      const record = decodeKeyRecord(await c.keyRecord({ keyId: 'rk', parties: 3 }));
      expect({ t: record.t, n: record.n, epoch: record.epoch }).toEqual({ t: 2, n: 3, epoch: from + 1 });
      expect(encodePoint(record.publicKey)).toEqual(encodePoint(Y));
      await signsUnder(c, Y, [1, 2], 'after party 3 left');
    });
  }, 300_000);
});
