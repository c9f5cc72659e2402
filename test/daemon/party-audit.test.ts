import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { sha256 } from '@noble/hashes/sha2.js';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AuditTrust, parseRecord, recordLine, signBody, verifyAuditLog } from '../../src/audit/index.js';
import { auditCommand } from '../../src/cli/audit-command.js';
import type { PartyAuditConfig } from '../../src/daemon/audit-config.js';
import { encodeRoster, loadPartyConfig } from '../../src/daemon/config.js';
import { startParty } from '../../src/daemon/main.js';
import { type NatsServerProcess, runNatsServer } from '../../src/daemon/nats-server-process.js';
import { type AuditShipping, partyAuditEmitter, startAuditShipping } from '../../src/daemon/party-audit.js';
import { setupPartySet } from '../../src/daemon/setup.js';
import { freePort } from '../../src/daemon/spawn-party.js';
import { Ed25519Signer } from '../../src/primitives/ed25519.js';
import { getKeyShare } from '../../src/storage/secret-store.js';
import { readAuditHeads, readAuditStream } from '../../src/transport/audit-sink.js';
import { MemoryHub } from '../../src/transport/memory.js';
import { connectNats, loadAuditorNatsConfig, loadPartyNatsConfig } from '../../src/transport/nats.js';
import { rejection } from '../helpers/failure.js';
import { math } from '../helpers/keys.js';
import { memoMath } from '../helpers/memo-math.js';
import { NATS_SERVER_BIN } from '../transport/nats-server.js';
import { clusterIdentities, startCluster } from './cluster.js';

/**
 * The party daemons' audit log (issue #15) end to end: three in-process daemons (in-memory protocol
 * transport) whose ledgers carry each change's signed record, shipped by each party's shipper to a
 * real nats-server with JetStream. keygen 2-of-3, aux info, presign, sign, a refused sign → the
 * stream holds every party's chain, the verifier and the CLI accept it, no honest secret appears
 * in any record, and tampering (in the stream's copy, or in a ledger before shipping) is caught.
 */
const N = 3;
const DEPLOYMENT = 'dep-audit';
const ids = clusterIdentities(N);
const config: PartyAuditConfig = { deployment: DEPLOYMENT, createStream: true, replicas: 1, checkpointEvery: 3 };
let dir: string;
let server: NatsServerProcess;
let url: string;
let natsConf: string;
let nc: NatsConnection;
let cluster: Awaited<ReturnType<typeof startCluster>>;
let shipping: AuditShipping[] = [];
let presignatureId: string;
const digest = sha256(new TextEncoder().encode('withdraw 1 BTC'));

const trust = (): AuditTrust => ({
  deployment: DEPLOYMENT,
  emitters: new Map(ids.roster.map((r, i) => [`party-${i}`, r.ed25519])),
});
const ship = (i: number) => startAuditShipping({ nc, ledger: cluster.parties[i]!.ledger, party: i, config });
const flushAll = () => Promise.all(shipping.map((s) => s.shipper.flush()));
const eventsOf = (lines: readonly string[], emitter: string) =>
  lines
    .map((l) => parseRecord(l).parsed)
    .filter((b) => b.emitter === emitter)
    .map((b) => b.event);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mpc-party-audit-'));
  const port = await freePort();
  url = `nats://127.0.0.1:${port}`;
  natsConf = join(dir, 'nats.conf');
  await writeFile(natsConf, `listen: 127.0.0.1:${port}\njetstream { store_dir: "${join(dir, 'js')}" }\n`);
  server = await runNatsServer(natsConf, { bin: NATS_SERVER_BIN });
  nc = await connect({ servers: url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  const hub = new MemoryHub();
  const shared = memoMath(math);
  cluster = await startCluster({
    dir,
    ids,
    transports: ids.secrets.map((k, i) => hub.transport(i, k, ids.roster)),
    coordinatorBus: hub.bus(),
    ledgerOptions: (i) => ({ audit: partyAuditEmitter(config, i, ids.secrets[i]!.ed25519Secret) }),
    // one cached backend for the three in-process daemons (test/helpers/memo-math.ts): each aux-info
    // proof (Πprm, Πmod) is computed once for its two verifiers, both still check it (CI time)
    options: () => ({ math: shared }),
  });
  shipping = await Promise.all([0, 1, 2].map(ship));
  await cluster.coordinator.keygen({ keyId: 'treasury', threshold: 2, parties: N });
  await cluster.coordinator.auxInfo({ keyId: 'treasury', parties: N });
  const pre = await cluster.coordinator.presign({ keyId: 'treasury', signers: [0, 1] });
  presignatureId = pre.id;
  await cluster.coordinator.sign({ keyId: 'treasury', presignature: pre, digest });
  // refused at both signers: the presignature was consumed by the sign above
  const err = await rejection(cluster.coordinator.sign({ keyId: 'treasury', presignature: pre, digest }));
  expect(err.message).toContain('ERR_PRESIGNATURE_USED');
  await flushAll();
}, 120_000);

afterAll(async () => {
  for (const s of shipping) await s.stop(100);
  await cluster?.close();
  await nc?.close();
  await server?.kill();
  await rm(dir, { recursive: true, force: true });
});

describe('party audit log on JetStream', () => {
  it("holds each party's chain, every change recorded, and the verifier and the CLI accept it", async () => {
    const lines = await readAuditStream(nc, DEPLOYMENT);
    const anchors = await readAuditHeads(nc, DEPLOYMENT, ['party-0', 'party-1', 'party-2']);
    const rep = verifyAuditLog(lines, { ...trust(), anchors });
    expect(rep.firstBreak).toBeUndefined();
    expect(rep.ok).toBe(true);
    for (const [i, p] of cluster.parties.entries()) {
      // the stream holds exactly what the ledger holds, in order
      expect(lines.filter((l) => parseRecord(l).parsed.emitter === `party-${i}`)).toEqual(
        p.ledger.recordsAfter(0, 1000).map(recordLine),
      );
      const types = eventsOf(lines, `party-${i}`).map((e) => e.type);
      expect(types.filter((t) => t !== 'checkpoint').slice(0, 3)).toEqual([
        'daemon.started',
        'key.generated',
        'aux.done',
      ]);
      expect(types).toContain('checkpoint');
    }
    for (const i of [0, 1]) {
      const events = eventsOf(lines, `party-${i}`);
      expect(events).toContainEqual({ type: 'presignature.created', key: 'treasury', presignature: presignatureId });
      expect(events).toContainEqual({
        type: 'presignature.consumed',
        key: 'treasury',
        presignature: presignatureId,
        digest: Buffer.from(digest).toString('hex'),
      });
      expect(events).toContainEqual(
        expect.objectContaining({ type: 'command.refused', command: 'sign', code: 'ERR_PRESIGNATURE_USED' }),
      );
    }
    expect(eventsOf(lines, 'party-2').some((e) => e.type.startsWith('presignature'))).toBe(false);

    const roster = join(dir, 'roster.json');
    await writeFile(roster, encodeRoster({ parties: ids.roster, coordinator: ids.coordinatorKey }));
    const out: string[] = [];
    const code = await auditCommand(['verify', '--roster', roster, '--deployment', DEPLOYMENT, '--nats', url], (l) =>
      out.push(l),
    );
    const summary = JSON.parse(out.at(-1) as string) as Record<string, unknown>;
    expect(summary).toMatchObject({ ok: true, presignaturesConsumed: { 'party-0': 1, 'party-1': 1, 'party-2': 0 } });
    expect(code).toBe(0);
  });

  it('JetStream down: signing goes on, records wait in the ledgers; back: each arrives once, in order', async () => {
    await server.kill();
    const pre = await cluster.coordinator.presign({ keyId: 'treasury', signers: [1, 2] });
    await cluster.coordinator.sign({ keyId: 'treasury', presignature: pre, digest });
    server = await runNatsServer(natsConf, { bin: NATS_SERVER_BIN });
    await flushAll();
    const lines = await readAuditStream(nc, DEPLOYMENT);
    for (const [i, p] of cluster.parties.entries()) {
      expect(lines.filter((l) => parseRecord(l).parsed.emitter === `party-${i}`)).toEqual(
        p.ledger.recordsAfter(0, 1000).map(recordLine),
      );
    }
    expect(eventsOf(lines, 'party-2')).toContainEqual(
      expect.objectContaining({ type: 'presignature.consumed', presignature: pre.id }),
    );
    const anchors = await readAuditHeads(nc, DEPLOYMENT, ['party-0', 'party-1', 'party-2']);
    expect(verifyAuditLog(lines, { ...trust(), anchors }).ok).toBe(true);
  });

  it('no record holds an honest secret share or Paillier prime (hex or decimal)', async () => {
    const lines = await readAuditStream(nc, DEPLOYMENT);
    const secrets: bigint[] = [];
    for (const [i, p] of cluster.parties.entries()) {
      const { share } = await getKeyShare(p.store, math, { partyId: i, keyId: 'treasury' });
      secrets.push(share.core.x, share.aux.p, share.aux.q);
    }
    const needles = secrets.flatMap((x) => [x.toString(16), x.toString(16).padStart(64, '0'), x.toString(10)]);
    const found = (text: string) => needles.filter((n) => text.toLowerCase().includes(n));
    expect(lines.length).toBeGreaterThan(15);
    for (const l of lines) expect(found(l)).toEqual([]);
    // the scan sees a share when one is there: a record (forged here) carrying x_0 as a session id
    const x0 = (secrets[0] as bigint).toString(16).padStart(64, '0');
    const body = JSON.stringify({
      ...parseRecord(lines[0] as string).parsed,
      event: { type: 'command.refused', command: 'sign', code: 'ERR_X', session: x0 },
    });
    expect(
      found(recordLine({ body, sig: signBody(new Ed25519Signer(ids.secrets[0]!.ed25519Secret), body) })),
    ).not.toEqual([]);
  });

  it('a modified, deleted or cut record of the stream is named by the verifier', async () => {
    const lines = await readAuditStream(nc, DEPLOYMENT);
    const anchors = await readAuditHeads(nc, DEPLOYMENT, ['party-0', 'party-1', 'party-2']);
    const at = lines.findIndex((l) => parseRecord(l).parsed.event.type === 'presignature.consumed');
    const victim = parseRecord(lines[at] as string);
    // modified: the digest of the consume record
    const forged = victim.body.replace(/"digest":"[0-9a-f]{2}/, '"digest":"00');
    expect(forged).not.toBe(victim.body);
    const modified = [...lines];
    modified[at] = recordLine({ body: forged, sig: victim.sig });
    expect(verifyAuditLog(modified, { ...trust(), anchors }).firstBreak).toMatchObject({
      kind: 'bad_signature',
      index: at,
      emitter: victim.parsed.emitter,
      seq: victim.parsed.seq,
    });
    // deleted
    const deleted = lines.filter((_, i) => i !== at);
    expect(verifyAuditLog(deleted, { ...trust(), anchors }).firstBreak).toMatchObject({
      kind: 'missing_record',
      emitter: victim.parsed.emitter,
      seq: victim.parsed.seq + 1,
    });
    // tail cut: the stream's head per subject is the anchor
    const last = lines.map((l) => parseRecord(l).parsed.emitter).lastIndexOf('party-2');
    const cut = lines.filter((_, i) => i !== last);
    expect(verifyAuditLog(cut, { ...trust(), anchors }).firstBreak).toMatchObject({
      kind: 'truncated',
      emitter: 'party-2',
    });
  });

  it('a record modified in the ledger before shipping is caught once shipped', async () => {
    const p = cluster.parties[2]!;
    await shipping[2]?.stop(100);
    const seq = p.ledger.auditHead.seq + 1;
    p.ledger.appendAudit({ type: 'daemon.stopped', reason: 'drained' });
    // an insider with the ledger file rewrites the unshipped record
    const db = new Database(join(dir, 'party-2', 'ledger.db'));
    const row = db.prepare('SELECT body FROM audit_records WHERE seq = ?').get(seq) as { body: string };
    db.prepare('UPDATE audit_records SET body = ? WHERE seq = ?').run(
      row.body.replace('drained', 'drain-timeout'),
      seq,
    );
    db.close();
    shipping[2] = await ship(2);
    await shipping[2].shipper.flush();
    const lines = await readAuditStream(nc, DEPLOYMENT);
    const index = lines.findIndex(
      (l) => parseRecord(l).parsed.emitter === 'party-2' && parseRecord(l).parsed.seq === seq,
    );
    expect(parseRecord(lines[index] as string).parsed.event).toEqual({
      type: 'daemon.stopped',
      reason: 'drain-timeout',
    });
    const rep = verifyAuditLog(lines, trust());
    expect(rep.firstBreak).toMatchObject({ kind: 'bad_signature', index, emitter: 'party-2', seq });
  });

  it('setup with an audit deployment: a party daemon creates the stream and ships its chain; the auditor credential only reads it', async () => {
    const sdir = join(dir, 'setup');
    const setup = await setupPartySet({
      dir: sdir,
      parties: 2,
      natsPort: await freePort(),
      policy: 'off',
      audit: 'dep-s',
    });
    const cfgFile = setup.partyConfigs[0] as string;
    const cfg = JSON.parse(await readFile(cfgFile, 'utf8')) as Record<string, unknown>;
    expect(cfg.audit).toEqual({ deployment: 'dep-s', createStream: true });
    // no background safe-prime search in this test
    await writeFile(cfgFile, JSON.stringify({ ...cfg, primes: { target: 0, workers: 1 }, http: undefined }));
    const js = await runNatsServer(setup.nats.serverConfigFile, { bin: NATS_SERVER_BIN });
    try {
      const party = await startParty(cfgFile);
      await party.shutdown('test', 1000);
      // party-0's own credential may read its own subject's head, and nothing else
      const pnc = await connectNats(
        await loadPartyNatsConfig(cfg.nats === undefined ? '' : join(sdir, 'party-0', cfg.nats as string)),
      );
      try {
        const heads = await readAuditHeads(pnc, 'dep-s', ['party-0']);
        expect(heads.map((h) => parseRecord(h).parsed)).toMatchObject([
          { emitter: 'party-0', seq: 2, event: { type: 'daemon.stopped', reason: 'drained' } },
        ]);
        await expect(readAuditStream(pnc, 'dep-s')).rejects.toThrow();
      } finally {
        await pnc.close();
      }
      // the party's data directory loses its ledger (not restored from a backup kit): the new ledger
      // continues the chain from the party's last record in the stream instead of forking it
      const dataDir = (await loadPartyConfig(cfgFile)).dataDir;
      for (const f of ['ledger.db', 'ledger.db-wal', 'ledger.db-shm']) await rm(join(dataDir, f), { force: true });
      const again = await startParty(cfgFile);
      await again.shutdown('test', 1000);
      const head = async () => {
        const c = await connectNats(
          await loadPartyNatsConfig(cfg.nats === undefined ? '' : join(sdir, 'party-0', cfg.nats as string)),
        );
        try {
          return (await readAuditHeads(c, 'dep-s', ['party-0'])).map((h) => parseRecord(h).parsed);
        } finally {
          await c.close();
        }
      };
      expect(await head()).toMatchObject([{ emitter: 'party-0', seq: 4, event: { type: 'daemon.stopped' } }]);
      // the auditor credential (TLS + nkey) reads and verifies the stream, and may do nothing else
      const auditor = setup.nats.auditor;
      if (auditor === undefined) throw new Error('setup wrote no auditor credential');
      expect((await stat(auditor.nkeySeedFile)).mode & 0o777).toBe(0o600);
      const out: string[] = [];
      const args = ['--roster', setup.rosterFile, '--deployment', 'dep-s', '--nats-config', auditor.configFile];
      expect(await auditCommand(['verify', ...args], (l) => out.push(l))).toBe(0);
      expect(JSON.parse(out.at(-1) as string)).toMatchObject({ ok: true, emitters: { 'party-0': { records: 4 } } });
      const anc = await connectNats(await loadAuditorNatsConfig(auditor.configFile));
      try {
        const { jetstream, jetstreamManager } = await import('@nats-io/jetstream');
        await expect(jetstream(anc, { timeout: 1000 }).publish('audit.dep-s.party-0', 'x')).rejects.toThrow();
        const jsm = await jetstreamManager(anc, { checkAPI: false, timeout: 1000 });
        await expect(jsm.streams.purge('AUDIT_dep-s')).rejects.toThrow();
        await expect(jsm.streams.delete('AUDIT_dep-s')).rejects.toThrow();
        await expect(jsm.streams.update('AUDIT_dep-s', { max_msgs: 1 })).rejects.toThrow();
        expect(await readAuditStream(anc, 'dep-s')).toHaveLength(4);
      } finally {
        await anc.close();
      }
    } finally {
      await js.kill();
    }
  });
});
