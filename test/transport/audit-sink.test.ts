import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AuditEmitter, recordLine, type StoredRecord, signBody, verifyAuditLog } from '../../src/audit/index.js';
import { auditCommand } from '../../src/cli/audit-command.js';
import { encodeRoster } from '../../src/daemon/config.js';
import { type NatsServerProcess, runNatsServer } from '../../src/daemon/nats-server-process.js';
import { freePort } from '../../src/daemon/spawn-party.js';
import { Ed25519Signer } from '../../src/primitives/ed25519.js';
import { PartyLedger } from '../../src/storage/party-ledger.js';
import { SoftwareSealer } from '../../src/storage/software-sealer.js';
import { AuditShipper } from '../../src/transport/audit-shipper.js';
import {
  AuditPublisher,
  auditStreamName,
  ensureAuditStream,
  readAuditHeads,
  readAuditStream,
} from '../../src/transport/audit-sink.js';
import { EMITTERS, emitterKey, makeEmitter, sampleEvents, trustFor } from '../audit/fixtures.js';
import { NATS_SERVER_BIN } from './nats-server.js';

/** A real nats-server with JetStream (file store in a temp dir) on a free loopback port. */
let dir: string;
let server: NatsServerProcess;
let url: string;
let nc: NatsConnection;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mpc-audit-js-'));
  const port = await freePort();
  url = `nats://127.0.0.1:${port}`;
  const conf = join(dir, 'nats.conf');
  await writeFile(conf, `listen: 127.0.0.1:${port}\njetstream { store_dir: "${join(dir, 'js')}" }\n`);
  server = await runNatsServer(conf, { bin: NATS_SERVER_BIN });
  nc = await connect({ servers: url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
}, 30_000);

afterAll(async () => {
  await nc?.close();
  await server?.kill();
  await rm(dir, { recursive: true, force: true });
});

async function publishAll(deployment: string, emitters: AuditEmitter[], events = 8): Promise<StoredRecord[]> {
  await ensureAuditStream(nc, { deployment });
  const pubs = await Promise.all(emitters.map((e) => AuditPublisher.open(nc, deployment, e.emitter)));
  const all: StoredRecord[] = [];
  for (const ev of sampleEvents(events)) {
    for (const [i, em] of emitters.entries()) {
      for (const r of em.append(ev)) {
        await pubs[i]?.publish(r);
        all.push(r);
      }
    }
  }
  return all;
}

const line = (r: StoredRecord) => recordLine(r);
const bodyOf = (l: string) =>
  JSON.parse(JSON.parse(l).body) as { emitter: string; seq: number; event: Record<string, unknown> };
const indexOf = (lines: string[], emitter: string, seq: number) =>
  lines.findIndex((l) => bodyOf(l).emitter === emitter && bodyOf(l).seq === seq);

describe('audit sink on a real JetStream', () => {
  it('stores every record once, in order, and the stream refuses delete and purge', async () => {
    const emitters = EMITTERS.map((e) => makeEmitter('dep-a', e));
    const written = await publishAll('dep-a', emitters);
    const lines = await readAuditStream(nc, 'dep-a');
    expect(lines).toEqual(written.map(line));
    const heads = await readAuditHeads(nc, 'dep-a', [...EMITTERS]);
    const rep = verifyAuditLog(lines, { ...trustFor('dep-a'), anchors: heads });
    expect(rep.ok).toBe(true);
    expect(rep.emitters['party-0']?.records).toBe(10);

    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info(auditStreamName('dep-a'));
    expect(info.config).toMatchObject({ deny_delete: true, deny_purge: true, storage: 'file' });
    await expect(jsm.streams.deleteMessage(auditStreamName('dep-a'), 3)).rejects.toThrow();
    await expect(jsm.streams.purge(auditStreamName('dep-a'))).rejects.toThrow();
    expect(await readAuditStream(nc, 'dep-a')).toEqual(lines);
  });

  it('a second writer of the same chain is refused by the server (no fork), a retried record is stored once', async () => {
    const deployment = 'dep-fork';
    const em = makeEmitter(deployment, 'party-0');
    await publishAll(deployment, [em], 3);
    // a forked writer: same key, a stale head, its own record 2 (the stream already holds 1..3)
    const fork = makeEmitter(deployment, 'party-0');
    fork.append({ type: 'daemon.started', party: 0 });
    const [forked] = fork.append({ type: 'daemon.stopped', reason: 'fork' });
    const pub = await AuditPublisher.open(nc, deployment, 'party-0');
    await expect(pub.publish(forked as StoredRecord)).rejects.toThrow(/ERR_AUDIT_CHAIN_FORK/);
    // the check the server does itself: a publish that claims an older subject head is refused
    const { jetstream } = await import('@nats-io/jetstream');
    await expect(
      jetstream(nc).publish('audit.dep-fork.party-0', line(forked as StoredRecord), {
        msgID: 'party-0-x',
        expect: { lastSubjectSequence: 1 },
      }),
    ).rejects.toThrow(/wrong last sequence/i);
    // a retry of the last record (same message id) is deduplicated, not stored twice
    const lines = await readAuditStream(nc, deployment);
    const last = JSON.parse(lines[lines.length - 1] as string) as StoredRecord;
    const ack = await jetstream(nc).publish('audit.dep-fork.party-0', line(last), {
      msgID: `party-0-${bodyOf(line(last)).seq}`,
    });
    expect(ack.duplicate).toBe(true);
    expect(await readAuditStream(nc, deployment)).toEqual(lines);
  });

  describe('tampering with an exported JSONL is detected and named', () => {
    let lines: string[];
    let heads: string[];
    const trust = () => ({ ...trustFor('dep-t'), anchors: heads });
    beforeAll(async () => {
      await publishAll(
        'dep-t',
        EMITTERS.map((e) => makeEmitter('dep-t', e)),
      );
      lines = await readAuditStream(nc, 'dep-t');
      heads = await readAuditHeads(nc, 'dep-t', [...EMITTERS]);
      expect(verifyAuditLog(lines, trust()).ok).toBe(true);
    });

    it('modified field', () => {
      const i = indexOf(lines, 'party-1', 4);
      const r = JSON.parse(lines[i] as string) as StoredRecord;
      const t = [...lines];
      t[i] = JSON.stringify({ body: r.body.replace('"time":', '"time":1'), sig: r.sig });
      expect(verifyAuditLog(t, trust()).firstBreak).toMatchObject({
        kind: 'bad_signature',
        index: i,
        emitter: 'party-1',
        seq: 4,
      });
    });

    it('deleted record', () => {
      const i = indexOf(lines, 'orchestrator', 2);
      const t = lines.filter((_, j) => j !== i);
      expect(verifyAuditLog(t, trust()).firstBreak).toMatchObject({
        kind: 'missing_record',
        emitter: 'orchestrator',
        seq: 3,
      });
    });

    it('reordered records', () => {
      const a = indexOf(lines, 'party-0', 6);
      const b = indexOf(lines, 'party-0', 7);
      const t = [...lines];
      [t[a], t[b]] = [lines[b] as string, lines[a] as string];
      expect(verifyAuditLog(t, trust()).firstBreak).toMatchObject({
        kind: 'reordered',
        index: a,
        emitter: 'party-0',
        seq: 7,
      });
    });

    it('truncated tail (against the stream heads)', () => {
      const cut = indexOf(lines, 'party-1', 9);
      const t = lines.filter((l, j) => !(bodyOf(l).emitter === 'party-1' && j >= cut));
      expect(verifyAuditLog(t, trust()).firstBreak).toMatchObject({ kind: 'truncated', emitter: 'party-1', seq: 9 });
    });

    it('forged record signed by another emitter', () => {
      const i = indexOf(lines, 'party-0', 5);
      const b = JSON.parse((JSON.parse(lines[i] as string) as StoredRecord).body);
      b.event = { type: 'request.approved', request: 'r9', approver: 'mallory' };
      const text = JSON.stringify(b);
      const t = [...lines];
      t[i] = JSON.stringify({ body: text, sig: signBody(new Ed25519Signer(emitterKey('orchestrator').secret), text) });
      const out = verifyAuditLog(t, trust()).firstBreak;
      expect(out).toMatchObject({ kind: 'signed_by_other_emitter', index: i, emitter: 'party-0', seq: 5 });
      expect(out?.message).toContain('orchestrator');
    });

    it('record replayed from another deployment', async () => {
      const other = await readAuditStream(nc, 'dep-a');
      const i = indexOf(lines, 'party-1', 3);
      const t = [...lines];
      t[i] = other[indexOf(other, 'party-1', 3)] as string;
      expect(verifyAuditLog(t, trust()).firstBreak).toMatchObject({
        kind: 'foreign_deployment',
        index: i,
        emitter: 'party-1',
        seq: 3,
      });
    });
  });

  it('audit export and audit verify (CLI): a clean log passes with a summary, a tampered export exits 1 naming the record', async () => {
    const roster = join(dir, 'roster.json');
    const x = (i: number) => new Uint8Array(32).fill(i + 1);
    await writeFile(
      roster,
      encodeRoster({
        parties: ['party-0', 'party-1', 'party-2'].map((e, i) => ({ ed25519: emitterKey(e).publicKey, x25519: x(i) })),
        coordinator: emitterKey('orchestrator').publicKey,
      }),
    );
    const run = async (args: string[]) => {
      const lines: string[] = [];
      const code = await auditCommand(args, (l) => lines.push(l));
      return { code, out: JSON.parse(lines[lines.length - 1] as string) as Record<string, unknown> };
    };
    const base = ['--roster', roster, '--deployment', 'dep-t'];
    const file = join(dir, 'export.jsonl');
    const heads = join(dir, 'heads.jsonl');
    expect((await run(['export', ...base, '--nats', url, '--out', file, '--heads', heads])).out).toMatchObject({
      exported: 30,
      heads: 3,
    });
    const ok = await run(['verify', ...base, '--from', file, '--anchors', heads]);
    expect(ok.code).toBe(0);
    expect(ok.out).toMatchObject({
      ok: true,
      records: 30,
      requests: 3,
      approvals: 3,
      signatures: 0,
      presignaturesConsumed: { 'party-0': 0, 'party-1': 0, orchestrator: 0 },
    });
    expect((await run(['verify', ...base, '--nats', url])).code).toBe(0);

    const { readFile } = await import('node:fs/promises');
    const lines = (await readFile(file, 'utf8')).trim().split('\n');
    const tampered = join(dir, 'tampered.jsonl');
    await writeFile(tampered, `${lines.filter((_, i) => i !== 7).join('\n')}\n`);
    const bad = await run(['verify', ...base, '--from', tampered]);
    expect(bad.code).toBe(1);
    expect(bad.out.break).toMatchObject({ kind: 'missing_record' });
    await writeFile(tampered, `${lines.slice(0, -2).join('\n')}\n`);
    expect((await run(['verify', ...base, '--from', tampered])).code).toBe(0); // a cut tail needs an anchor
    const cut = await run(['verify', ...base, '--from', tampered, '--anchors', heads]);
    expect(cut.code).toBe(1);
    expect(cut.out.break).toMatchObject({ kind: 'truncated' });
  });

  it('the shipper keeps records while JetStream is down and delivers each exactly once, in order, afterwards', async () => {
    const deployment = 'dep-outage';
    await ensureAuditStream(nc, { deployment });
    const em = makeEmitter(deployment, 'party-2');
    const ledger: StoredRecord[] = []; // stands for the party's durable ledger table
    const source = { recordsAfter: (after: number, limit: number) => ledger.slice(after, after + limit) };
    const pub = await AuditPublisher.open(nc, deployment, 'party-2', 500);
    const errors: unknown[] = [];
    const shipper = new AuditShipper(source, pub, { retryMinMs: 50, retryMaxMs: 200, onError: (e) => errors.push(e) });
    shipper.start();
    const events = sampleEvents(30);
    for (const ev of events.slice(0, 10)) ledger.push(...em.append(ev));
    shipper.notify();
    await shipper.flush();

    await server.kill();
    for (const ev of events.slice(10, 25)) {
      ledger.push(...em.append(ev)); // the party keeps working: records only in its ledger
      shipper.notify();
    }
    await new Promise((r) => setTimeout(r, 600));
    expect(errors.length).toBeGreaterThan(0);
    await server.start();
    for (const ev of events.slice(25)) ledger.push(...em.append(ev));
    shipper.notify();
    await shipper.flush();
    await shipper.stop();

    const lines = await readAuditStream(nc, deployment);
    expect(lines).toEqual(ledger.map(line));
    const rep = verifyAuditLog(lines, {
      ...trustFor(deployment, ['party-2']),
      anchors: await readAuditHeads(nc, deployment, ['party-2']),
    });
    expect(rep.ok).toBe(true);
    expect(rep.emitters['party-2']?.records).toBe(ledger.length);
  }, 60_000);

  it('a party ledger keeps consuming presignatures while JetStream is down; a restarted shipper delivers its records once, in order', async () => {
    const deployment = 'dep-party';
    await ensureAuditStream(nc, { deployment });
    const path = join(dir, 'party-1-ledger.db');
    const opts = {
      sealer: new SoftwareSealer(Buffer.alloc(32, 0x42)),
      audit: {
        deployment,
        emitter: 'party-1',
        signer: new Ed25519Signer(emitterKey('party-1').secret),
        checkpointEvery: 8,
      },
    };
    let ledger = PartyLedger.open(path, 1, opts);
    ledger.appendAudit({ type: 'daemon.started', party: 1 });
    for (let i = 0; i < 12; i += 1) await ledger.addPresignature(`pre-${i}`, 'hot', Buffer.alloc(64, i));
    let shipper = new AuditShipper(ledger, await AuditPublisher.open(nc, deployment, 'party-1', 500), {
      retryMinMs: 50,
    });
    await shipper.flush();

    await server.kill();
    const down = new AuditShipper(ledger, await AuditPublisher.open(nc, deployment, 'party-1', 300), {
      retryMinMs: 50,
    });
    down.start();
    for (let i = 0; i < 8; i += 1) {
      ledger.consume(`pre-${i}`, i.toString(16).padStart(64, '0')); // signing goes on: the consume commits locally
      down.notify();
    }
    await down.stop();
    ledger.appendAudit({ type: 'daemon.stopped', reason: 'sigterm' });
    ledger.close();

    await server.start();
    ledger = PartyLedger.open(path, 1, opts); // the party restarts: its chain resumes from the ledger
    ledger.appendAudit({ type: 'daemon.started', party: 1 });
    shipper = new AuditShipper(ledger, await AuditPublisher.open(nc, deployment, 'party-1'), { retryMinMs: 50 });
    await shipper.flush();

    const stored = ledger.recordsAfter(0, 1000);
    const lines = await readAuditStream(nc, deployment);
    expect(lines).toEqual(stored.map(line));
    const rep = verifyAuditLog(lines, {
      ...trustFor(deployment, ['party-1']),
      anchors: await readAuditHeads(nc, deployment, ['party-1']),
    });
    expect(rep.ok).toBe(true);
    expect(rep.emitters['party-1']?.events['presignature.consumed']).toBe(8);
    ledger.close();
  }, 60_000);
});
