/**
 * The orchestrator's audit log (issue #15) on a real nats-server with JetStream: three in-process
 * party daemons (in-memory protocol transport, each shipping its ledger's chain) and the
 * orchestrator in process (service + REST on fastify.inject) writing its own chain straight to the
 * stream. The decision is in the stream before the parties are asked to sign, the result before it
 * is answered; with JetStream away sign requests and approvals are refused with
 * ERR_AUDIT_SINK_UNAVAILABLE and /readyz is false; back, signing resumes and every chain verifies.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { bytesToHex } from '@noble/hashes/utils.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AuditEvent, type AuditTrust, parseRecord, verifyAuditLog } from '../../src/audit/index.js';
import { auditCommand } from '../../src/cli/audit-command.js';
import type { PartyAuditConfig } from '../../src/daemon/audit-config.js';
import { encodeRoster } from '../../src/daemon/config.js';
import { type NatsServerProcess, runNatsServer } from '../../src/daemon/nats-server-process.js';
import { type AuditShipping, partyAuditEmitter, startAuditShipping } from '../../src/daemon/party-audit.js';
import { freePort } from '../../src/daemon/spawn-party.js';
import { OrchestratorAudit } from '../../src/orchestrator/audit.js';
import { coordinatorBackend, type SigningBackend } from '../../src/orchestrator/backend.js';
import { loadAdminSet } from '../../src/policy/index.js';
import { encodePoint } from '../../src/primitives/curve.js';
import { Ed25519Signer } from '../../src/primitives/ed25519.js';
import { getKeyShare } from '../../src/storage/secret-store.js';
import { readAuditHeads, readAuditStream } from '../../src/transport/audit-sink.js';
import { MemoryHub } from '../../src/transport/memory.js';
import { clusterIdentities, installDealtKey, startCluster } from '../daemon/cluster.js';
import { dealKeyShares } from '../helpers/dealer.js';
import { math } from '../helpers/keys.js';
import { makeKey } from '../helpers/operator-keys.js';
import { NATS_SERVER_BIN } from '../transport/nats-server.js';
import { type Harness, hex0x, makeHarness, tx } from './harness.js';

const DEPLOYMENT = 'dep-orch';
const ids = clusterIdentities(3);
const partyAudit: PartyAuditConfig = { deployment: DEPLOYMENT, createStream: true, replicas: 1, checkpointEvery: 50 };
const EMITTERS = ['party-0', 'party-1', 'party-2', 'orchestrator'];
let dir: string;
let server: NatsServerProcess;
let natsConf: string;
let url: string;
let nc: NatsConnection;
let cluster: Awaited<ReturnType<typeof startCluster>>;
let shipping: AuditShipping[] = [];
let audit: OrchestratorAudit;
let h: Harness;
let nonce = 0;
/** Runs inside the backend's signPayload, after the parties signed (tests set it). */
let afterSign: ((o: { ok: boolean }) => Promise<void>) | undefined;
/** Runs when the backend is asked to sign, before the parties are (tests set it). */
let beforeSign: (() => Promise<void>) | undefined;

const trust = (): AuditTrust => ({
  deployment: DEPLOYMENT,
  emitters: new Map<string, Uint8Array>([
    ...ids.roster.map((r, i) => [`party-${i}`, r.ed25519] as [string, Uint8Array]),
    ['orchestrator', ids.coordinatorKey],
  ]),
});
const stream = () => readAuditStream(nc, DEPLOYMENT);
const orchEvents = async (): Promise<AuditEvent[]> =>
  (await stream())
    .map((l) => parseRecord(l).parsed)
    .filter((b) => b.emitter === 'orchestrator')
    .map((b) => b.event);
const forRequest = (events: readonly AuditEvent[], id: string) =>
  events.filter((e) => 'request' in e && e.request === id).map((e) => e.type);

async function until(what: string, f: () => Promise<boolean> | boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function newRequest(kind: 'eth.transaction' | 'eth.message' = 'eth.transaction') {
  nonce += 1;
  const payload = kind === 'eth.transaction' ? tx(nonce) : new TextEncoder().encode(`audit message ${nonce}`);
  const idempotencyKey = `audit-${nonce}`;
  const signedRequest = await h.signedRequest({ payload, kind, keyId: 'hot', idempotencyKey });
  const body = { keyId: 'hot', kind, payload: hex0x(payload), signedRequest, idempotencyKey };
  return { body, signedRequest, post: () => h.call('ian', 'POST', '/v1/sign-requests', body) };
}
const final = async (id: string) =>
  (await h.call('vic', 'GET', `/v1/sign-requests/${id}?waitFor=final&timeoutSeconds=60`)).json;
const readyz = () => h.call(undefined, 'GET', '/readyz');

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'orch-audit-'));
  const port = await freePort();
  url = `nats://127.0.0.1:${port}`;
  natsConf = join(dir, 'nats.conf');
  await writeFile(natsConf, `listen: 127.0.0.1:${port}\njetstream { store_dir: "${join(dir, 'js')}" }\n`);
  server = await runNatsServer(natsConf, { bin: NATS_SERVER_BIN });
  nc = await connect({ servers: url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  const hub = new MemoryHub();
  const admin = await makeKey('a1');
  const admins = await loadAdminSet({ threshold: 1, admins: [{ id: 'a1', publicKey: admin.publicJwk }] });
  cluster = await startCluster({
    dir,
    ids,
    transports: ids.secrets.map((k, i) => hub.transport(i, k, ids.roster)),
    coordinatorBus: hub.bus(),
    roundTimeoutMs: 60_000,
    options: () => ({ policy: { mode: 'enforce', admins } }),
    ledgerOptions: (i) => ({ audit: partyAuditEmitter(partyAudit, i, ids.secrets[i]!.ed25519Secret) }),
  });
  shipping = await Promise.all(
    [0, 1, 2].map((i) =>
      startAuditShipping({ nc, ledger: cluster.parties[i]!.ledger, party: i, config: partyAudit, retryMaxMs: 200 }),
    ),
  );
  const key = await dealKeyShares({ n: 3, t: 2, seed: 'orchestrator-audit' });
  await installDealtKey(cluster.parties, 'hot', key);
  audit = await OrchestratorAudit.open({
    nc,
    deployment: DEPLOYMENT,
    signer: new Ed25519Signer(ids.coordinatorSecret),
    publicKey: ids.coordinatorKey,
    createStream: true,
    checkpointEvery: 5,
    ackTimeoutMs: 1_000,
    retryMaxMs: 200,
  });
  await until('the orchestrator audit log', () => audit.ready);
  const inner = coordinatorBackend(cluster.coordinator);
  const backend: SigningBackend = {
    ...inner,
    async signPayload(o) {
      await beforeSign?.();
      const out = await inner.signPayload(o);
      await afterSign?.({ ok: true });
      return out;
    },
  };
  h = await makeHarness({ backend, admin, audit });
  await cluster.coordinator.pushPolicy(JSON.parse((await h.store.listDocuments('policy'))[0]?.raw as string) as object);
  await cluster.coordinator.pushRegistry(
    JSON.parse((await h.store.listDocuments('registry'))[0]?.raw as string) as object,
  );
  const info = await inner.keyInfo({ keyId: 'hot', parties: [0, 1, 2] });
  await h.store.insertKey({ id: 'hot', threshold: 2, parties: 3, createdBy: 'root' }, Date.now());
  await h.store.updateKey(
    'hot',
    {
      state: 'ready',
      progress: 'done',
      publicKey: bytesToHex(encodePoint(info.publicKey)),
      chainCode: bytesToHex(info.chainCode),
    },
    Date.now(),
  );
}, 120_000);

afterAll(async () => {
  await h?.close();
  await audit?.close(100);
  for (const s of shipping) await s.stop(100);
  await cluster?.close();
  await nc?.close();
  await server?.kill();
  await rm(dir, { recursive: true, force: true });
});

describe('orchestrator audit log on JetStream', () => {
  it('the decision is in the stream before signing, the result before the answer; the chain verifies', async () => {
    const r = await newRequest();
    let atSign: AuditEvent[] = [];
    beforeSign = async () => {
      atSign = await orchEvents();
    };
    const created = await r.post();
    expect(created.status, JSON.stringify(created.json)).toBe(201);
    const id = created.json.id as string;
    const done = await final(id);
    beforeSign = undefined;
    expect(done.state, JSON.stringify(done.error)).toBe('signed');
    // when the parties were asked to sign, the decision was already acknowledged
    expect(forRequest(atSign, id)).toEqual(['request.received', 'request.evaluated']);
    // when the answer was given, the result was too
    const events = await orchEvents();
    expect(forRequest(events, id)).toEqual(['request.received', 'request.evaluated', 'request.signed']);
    const evaluated = events.find((e) => e.type === 'request.evaluated' && e.request === id);
    expect(evaluated).toEqual({
      type: 'request.evaluated',
      request: id,
      policyVersion: 1,
      rule: 'eth-tx',
      action: 'allow',
    });
    const signed = events.find((e) => e.type === 'request.signed' && e.request === id) as Extract<
      AuditEvent,
      { type: 'request.signed' }
    >;
    expect(signed).toMatchObject({ key: 'hot', signers: [0, 1] });
    // the same presignature and digest the signers recorded as consumed
    await Promise.all(shipping.map((s) => s.shipper.flush()));
    const lines = await stream();
    for (const p of signed.signers) {
      expect(
        lines
          .map((l) => parseRecord(l).parsed)
          .filter((b) => b.emitter === `party-${p}`)
          .map((b) => b.event),
      ).toContainEqual({
        type: 'presignature.consumed',
        key: 'hot',
        presignature: signed.presignature,
        digest: signed.digest,
      });
    }
    expect(events.filter((e) => e.type === 'policy.changed').map((e) => (e as { document: string }).document)).toEqual([
      'registry',
      'policy',
    ]);
    const anchors = await readAuditHeads(nc, DEPLOYMENT, EMITTERS);
    const rep = verifyAuditLog(lines, { ...trust(), anchors });
    expect(rep.firstBreak).toBeUndefined();
    expect(rep.emitters.orchestrator?.lastCheckpoint).not.toBeNull();
  });

  it('JetStream down: sign requests and approvals refused (typed error), /readyz false; back: resumes, chain continuous', async () => {
    // a message waiting for its approval when JetStream goes
    const waiting = await newRequest('eth.message');
    const w = await waiting.post();
    const wid = w.json.id as string;
    expect((await h.call('vic', 'GET', `/v1/sign-requests/${wid}?waitFor=pending_approval,final`)).json.state).toBe(
      'pending_approval',
    );
    const before = (await h.call('vic', 'GET', '/v1/sign-requests?limit=100')).json.items as unknown[];
    await server.kill();
    await until('/readyz false', async () => (await readyz()).status === 503);
    expect((await readyz()).json).toMatchObject({ ready: false, reasons: ['audit log unavailable'] });
    const refused = await (await newRequest()).post();
    expect([refused.status, refused.json.code]).toEqual([503, 'ERR_AUDIT_SINK_UNAVAILABLE']);
    const approval = await h.call('amy', 'POST', `/v1/sign-requests/${wid}/approvals`, {
      approval: await h.approval('amy', waiting.signedRequest),
    });
    expect([approval.status, approval.json.code]).toEqual([503, 'ERR_AUDIT_SINK_UNAVAILABLE']);
    // nothing was stored or moved
    expect(((await h.call('vic', 'GET', '/v1/sign-requests?limit=100')).json.items as unknown[]).length).toBe(
      before.length,
    );
    expect((await h.call('vic', 'GET', `/v1/sign-requests/${wid}`)).json.state).toBe('pending_approval');

    server = await runNatsServer(natsConf, { bin: NATS_SERVER_BIN });
    await until('/readyz true', async () => (await readyz()).status === 200);
    const ok = await h.call('amy', 'POST', `/v1/sign-requests/${wid}/approvals`, {
      approval: await h.approval('amy', waiting.signedRequest),
    });
    expect(ok.status, JSON.stringify(ok.json)).toBe(200);
    expect((await final(wid)).state).toBe('signed');
    const again = await (await newRequest()).post();
    expect(again.status).toBe(201);
    expect((await final(again.json.id as string)).state).toBe('signed');
    const events = await orchEvents();
    expect(forRequest(events, wid)).toEqual([
      'request.received',
      'request.evaluated', // require_approvals
      'request.approved',
      'request.evaluated', // allow
      'request.signed',
    ]);
    await Promise.all(shipping.map((s) => s.shipper.flush()));
    const lines = await stream();
    const rep = verifyAuditLog(lines, { ...trust(), anchors: await readAuditHeads(nc, DEPLOYMENT, EMITTERS) });
    expect(rep.firstBreak).toBeUndefined();
    const roster = join(dir, 'roster.json');
    await writeFile(roster, encodeRoster({ parties: ids.roster, coordinator: ids.coordinatorKey }));
    const out: string[] = [];
    const code = await auditCommand(['verify', '--roster', roster, '--deployment', DEPLOYMENT, '--nats', url], (l) =>
      out.push(l),
    );
    expect(JSON.parse(out.at(-1) as string)).toMatchObject({ ok: true });
    expect(code).toBe(0);
  });

  it('JetStream lost while the parties sign: the signature is withheld (typed error); its failure recorded once back', async () => {
    afterSign = async () => {
      afterSign = undefined;
      await server.kill();
      await until('the log to notice', () => !audit.ready);
    };
    const r = await (await newRequest()).post();
    expect(r.status).toBe(201);
    const id = r.json.id as string;
    const done = await final(id);
    expect(done).toMatchObject({ state: 'failed', artifact: null, error: { code: 'ERR_AUDIT_SINK_UNAVAILABLE' } });
    server = await runNatsServer(natsConf, { bin: NATS_SERVER_BIN });
    await until('/readyz true', async () => (await readyz()).status === 200);
    await until('the queued failure', async () => forRequest(await orchEvents(), id).includes('request.failed'));
    const events = await orchEvents();
    expect(forRequest(events, id)).toEqual(['request.received', 'request.evaluated', 'request.failed']);
    expect(events).toContainEqual({ type: 'request.failed', request: id, code: 'ERR_AUDIT_SINK_UNAVAILABLE' });
    const rep = verifyAuditLog(await stream(), { ...trust(), anchors: await readAuditHeads(nc, DEPLOYMENT, EMITTERS) });
    expect(rep.firstBreak).toBeUndefined();
  });

  it('no record holds an honest share, Paillier prime or the coordinator key (hex or decimal)', async () => {
    await Promise.all(shipping.map((s) => s.shipper.flush()));
    const lines = await stream();
    const secrets: bigint[] = [BigInt(`0x${bytesToHex(ids.coordinatorSecret)}`)];
    for (const [i, p] of cluster.parties.entries()) {
      const { share } = await getKeyShare(p.store, math, { partyId: i, keyId: 'hot' });
      secrets.push(share.core.x, share.aux.p, share.aux.q);
    }
    const needles = secrets.flatMap((x) => [x.toString(16), x.toString(16).padStart(64, '0'), x.toString(10)]);
    const orch = lines.filter((l) => parseRecord(l).parsed.emitter === 'orchestrator');
    expect(orch.length).toBeGreaterThan(10);
    for (const l of lines) expect(needles.filter((n) => l.toLowerCase().includes(n))).toEqual([]);
    // positive control: the scan finds a secret where there is one
    expect(needles.filter((n) => `${orch[0]}${needles[1]}`.includes(n))).not.toEqual([]);
  });

  it('GET /v1/audit: auditors page through every emitter, records as stored (they verify); filters; other roles refused', async () => {
    const r0 = await newRequest();
    const created = await r0.post();
    expect(created.status, JSON.stringify(created.json)).toBe(201);
    expect((await final(created.json.id as string)).state).toBe('signed');
    await Promise.all(shipping.map((s) => s.shipper.flush()));
    const lines = await stream();
    type Item = { streamSeq: number; body: string; sig: string };
    const all: Item[] = [];
    let cursor: string | null = '0';
    let pages = 0;
    while (cursor !== null && pages < 1000) {
      const r = await h.call('aud', 'GET', `/v1/audit?limit=7&cursor=${cursor}`);
      expect(r.status, JSON.stringify(r.json)).toBe(200);
      all.push(...(r.json.items as Item[]));
      cursor = r.json.nextCursor as string | null;
      pages += 1;
    }
    expect(pages).toBeGreaterThan(1);
    expect(all.map((i) => i.body)).toEqual(lines.slice(0, all.length).map((l) => JSON.parse(l).body));
    expect(all.length).toBeGreaterThanOrEqual(lines.length);
    expect(all.every((x, j) => j === 0 || x.streamSeq > (all[j - 1] as Item).streamSeq)).toBe(true);
    const rep = verifyAuditLog(
      all.map((i) => ({ body: i.body, sig: i.sig })),
      trust(),
    );
    expect(rep.firstBreak).toBeUndefined();
    // by request: the orchestrator's records of one signed request, in order
    const byRequest = await h.call('root', 'GET', `/v1/audit?request=${created.json.id as string}`);
    const types = (byRequest.json.items as Item[]).map(
      (i) => parseRecord({ body: i.body, sig: i.sig }).parsed.event.type,
    );
    expect(types).toEqual(['request.received', 'request.evaluated', 'request.signed']);
    // by emitter and type
    const consumes = await h.call('aud', 'GET', '/v1/audit?emitter=party-1&type=presignature.consumed&limit=1000');
    const got = (consumes.json.items as Item[]).map((i) => parseRecord({ body: i.body, sig: i.sig }).parsed);
    const expected = lines
      .map((l) => parseRecord(l).parsed)
      .filter((b) => b.emitter === 'party-1' && b.event.type === 'presignature.consumed');
    expect(got.length).toBeGreaterThan(0);
    expect(got).toEqual(expected);
    // other roles, bad queries
    for (const who of ['ian', 'amy', 'vic']) {
      const r = await h.call(who, 'GET', '/v1/audit');
      expect(r.status).toBe(403);
      expect(r.json.code).toBe('ERR_API_FORBIDDEN');
    }
    for (const q of ['limit=0', 'limit=1001', 'cursor=-1', 'cursor=abc', 'emitter=a.b', 'type=X', 'other=1']) {
      const r = await h.call('aud', 'GET', `/v1/audit?${q}`);
      expect(r.status, q).toBe(400);
      expect(r.json.code, q).toBe('ERR_API_BAD_REQUEST');
    }
  });
});
