/**
 * Several orchestrator replicas on one PostgreSQL database (own database on 127.0.0.1:5432, dropped
 * after), each with its own store connection pool, REST API, replica id and presignature pool over
 * the same (key, path), and one shared fake backend standing for the parties: it records every
 * presignature signed with and every signPayload call. Under concurrent load through both APIs
 * (some idempotency keys posted to both at once, a third replica joining mid-load and resuming
 * what it finds waiting) every request is signed exactly once and no presignature twice. Then
 * replica A dies mid-sign (after the parties signed, before its commit): replica B fails A's stale
 * claims after the signing lease with ERR_ORCH_INTERRUPTED, burns their reservations, and never
 * signs them again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditLog } from '../../src/orchestrator/audit.js';
import type { SigningBackend } from '../../src/orchestrator/backend.js';
import { OrchestratorStore } from '../../src/orchestrator/store/store.js';
import { fakeBackend, type Harness, hex0x, makeHarness, tx } from './harness.js';
import { createTestDatabase } from './pg.js';

const PATH = [0, 7];
const SPEC = { keyId: 'k1', path: PATH, target: 20, lowWater: 5 };
const LEASE_MS = 60_000;

let db: Awaited<ReturnType<typeof createTestDatabase>>;
const fake = fakeBackend();
/** signPayload calls per signed request (one per sign request: its signedRequest is unique). */
const calls = new Map<string, number>();
const shared: SigningBackend = {
  ...fake,
  async signPayload(o) {
    calls.set(o.authorization.signedRequest, (calls.get(o.authorization.signedRequest) ?? 0) + 1);
    return fake.signPayload(o);
  },
};
/** Once set, replica A "dies" in signPayload: after the parties signed, before its commit. */
let killA = false;
const stuckOnA: string[] = [];
const replicaA: SigningBackend = {
  ...shared,
  async signPayload(o) {
    if (!killA) return shared.signPayload(o);
    await shared.signPayload(o);
    stuckOnA.push(o.authorization.signedRequest);
    return new Promise<never>(() => undefined);
  },
};
/**
 * The first HOLD claims (`→ signing`) by replicas A and B wait, inside their claim's transaction and
 * before its compare-and-set, until a joining replica has taken those requests: their creator is
 * then between its evaluation and its compare-and-set while the joining replica resumes, evaluates
 * and signs them, so both replicas certainly race for each of them.
 */
const HOLD = 5;
const held: string[] = [];
let releaseHeld: () => void = () => undefined;
const heldGate = new Promise<void>((r) => {
  releaseHeld = r;
});
const storeTransition = OrchestratorStore.prototype.transition;
OrchestratorStore.prototype.transition = async function (this: OrchestratorStore, id, from, to, patch, now) {
  if (to === 'signing' && patch.claimedBy !== 'orch-c' && held.length < HOLD && !held.includes(id)) {
    held.push(id);
    await heldGate;
  }
  return storeTransition.call(this, id, from, to, patch, now);
};
const signedRecords: string[] = [];
/** Policy decisions written per request (more than one: two replicas evaluated it). */
const evaluations = new Map<string, number>();
const recordingAudit: AuditLog = {
  ready: true,
  async write(e) {
    if (e.type === 'request.evaluated') evaluations.set(e.request, (evaluations.get(e.request) ?? 0) + 1);
    if (e.type === 'request.signed') signedRecords.push(e.request);
  },
  async enqueue() {},
};
/** Replica B's clock runs ahead by this much (the lease passing without waiting ten minutes). */
let offsetB = 0;
let A: Harness;
let B: Harness;
let aClosed = false;

beforeAll(async () => {
  db = await createTestDatabase('replicas');
  const state = { kind: 'postgres' as const, url: db.url };
  A = await makeHarness({
    state,
    backend: replicaA,
    pools: [SPEC],
    replicaId: 'orch-a',
    signingLeaseMs: LEASE_MS,
    audit: recordingAudit,
  });
  B = await makeHarness({
    state,
    backend: shared,
    pools: [SPEC],
    keys: A.keys,
    admin: A.admin,
    replicaId: 'orch-b',
    signingLeaseMs: LEASE_MS,
    audit: recordingAudit,
    now: () => Date.now() + offsetB,
  });
  await A.readyKey('k1');
}, 30_000);
afterAll(async () => {
  OrchestratorStore.prototype.transition = storeTransition;
  if (!aClosed) await A?.close();
  await B?.close();
  await db?.drop();
});

async function body(tag: string, nonce: number) {
  const idempotencyKey = `rep-${tag}-${nonce}`;
  const payload = tx(nonce);
  const signedRequest = await A.signedRequest({ payload, idempotencyKey, path: PATH });
  return { keyId: 'k1', kind: 'eth.transaction', payload: hex0x(payload), signedRequest, idempotencyKey };
}

async function post(h: Harness, b: Awaited<ReturnType<typeof body>>) {
  const r = await h.call('ian', 'POST', '/v1/sign-requests', b);
  expect([200, 201]).toContain(r.status);
  return { id: r.json.id as string, status: r.status, signedRequest: b.signedRequest };
}

/** A final request as each replica's API shows it (the same row, so the same JSON). */
async function finalOnBoth(id: string, replicas: Harness[]) {
  const seen = await Promise.all(
    replicas.map((h) => h.call('vic', 'GET', `/v1/sign-requests/${id}?waitFor=final&timeoutSeconds=20`)),
  );
  for (const s of seen) expect(s.json).toEqual(seen[0]?.json);
  return seen[0]?.json as { state: string; error: { code: string } | null };
}

describe('two orchestrator replicas on one PostgreSQL database', () => {
  it('under concurrent load through both APIs every request signs exactly once, no presignature twice', async () => {
    await Promise.all([A.pools?.refill(SPEC), B.pools?.refill(SPEC)]);
    expect(await A.store.countPresignatures('k1', PATH, 'available')).toBeGreaterThanOrEqual(SPEC.target);
    const N = 100;
    const DUPLICATES = 12;
    const bodies = await Promise.all(Array.from({ length: N }, (_, i) => body('load', i)));
    const replicas = [A, B];
    // every request through one replica, alternating; the first DUPLICATES also through the other at once
    const posts = bodies.map((b, i) =>
      Promise.all([
        post(replicas[i % 2] as Harness, b),
        ...(i < DUPLICATES ? [post(replicas[(i + 1) % 2] as Harness, b)] : []),
      ]),
    );
    // a third replica joins mid-load: its start resumes every request it finds waiting for policy,
    // racing the replica that created it (only one compare-and-set wins)
    // (and, pools in hand, must not burn the reservations the others are signing with now)
    const joining = (async () => {
      for (let i = 0; i < 2000 && held.length < HOLD; i++) await new Promise((r) => setTimeout(r, 5));
      const c = await makeHarness({
        state: { kind: 'postgres', url: db.url },
        backend: shared,
        pools: [SPEC],
        keys: A.keys,
        admin: A.admin,
        replicaId: 'orch-c',
        signingLeaseMs: LEASE_MS,
        audit: recordingAudit,
      });
      // the held requests' creators go on only once the joining replica has moved them on
      await Promise.all(
        held.map((id) => c.service.waitForSignRequest(id, ['signing', 'signed', 'failed', 'rejected'], 20_000)),
      );
      return c;
    })().finally(releaseHeld);
    const answered = await Promise.all(posts);
    const C = await joining;
    try {
      const ids = answered.map((a) => (a[0] as { id: string }).id);
      expect(new Set(ids).size).toBe(N);
      for (const pair of answered.slice(0, DUPLICATES)) {
        // the same request from either replica: one created it (201), the other found it (200)
        expect(pair[1]?.id).toBe(pair[0]?.id);
        expect(pair.map((p) => p.status).sort()).toEqual([200, 201]);
      }
      const finals = await Promise.all(ids.map((id) => finalOnBoth(id, [A, B, C])));
      expect(finals.filter((f) => f.state !== 'signed')).toEqual([]);
      // the parties were asked to sign each request exactly once, across all replicas
      for (const b of bodies) expect(calls.get(b.signedRequest)).toBe(1);
      expect(fake.signed).toBe(N);
      // no presignature signed with twice; every pooled one a signed request took ended used
      expect(new Set(fake.used).size).toBe(fake.used.length);
      const pooled = (await Promise.all(ids.map((id) => A.store.presignaturesOf(id)))).flat();
      expect(pooled.length).toBeGreaterThanOrEqual(SPEC.target);
      expect(pooled.filter((p) => p.state !== 'used')).toEqual([]);
      expect(await A.store.countPresignatures('k1', PATH, 'reserved')).toBe(0);
      // who claimed what: every replica that signed recorded itself
      const claims = await A.store.db
        .selectFrom('sign_requests')
        .select(['claimed_by', (eb) => eb.fn.countAll<number>().as('n')])
        .groupBy('claimed_by')
        .execute();
      expect(claims.reduce((n, c) => n + Number(c.n), 0)).toBe(N);
      expect(claims.every((c) => ['orch-a', 'orch-b', 'orch-c'].includes(c.claimed_by as string))).toBe(true);
      // the race did happen: the joining replica evaluated and won the held requests, whose
      // creators' `→ signing` compare-and-set then found them moved on (signPayload once, above)
      expect(held.length).toBe(HOLD);
      for (const id of held) {
        expect(evaluations.get(id)).toBe(2);
        const row = await A.store.db
          .selectFrom('sign_requests')
          .select('claimed_by')
          .where('id', '=', id)
          .executeTakeFirst();
        expect(row?.claimed_by).toBe('orch-c');
      }
      // and exactly one signed record per request in the (shared) audit log
      expect(signedRecords.length).toBe(N);
      expect(new Set(signedRecords).size).toBe(N);
    } finally {
      await C.close();
    }
  }, 60_000);

  it('replica A dies mid-sign: after the lease B fails its claims (ERR_ORCH_INTERRUPTED), never signs them twice', async () => {
    killA = true;
    const K = 8;
    const onA = await Promise.all(Array.from({ length: K }, (_, i) => body('dead-a', 1000 + i)));
    const onB = await Promise.all(Array.from({ length: K }, (_, i) => body('live-b', 2000 + i)));
    const [postedA, postedB] = await Promise.all([
      Promise.all(onA.map((b) => post(A, b))),
      Promise.all(onB.map((b) => post(B, b))),
    ]);
    // A's requests reach the parties, then A hangs before committing: they stay claimed by A
    for (let i = 0; stuckOnA.length < K && i < 300; i++) await new Promise((r) => setTimeout(r, 50));
    expect(stuckOnA.length).toBe(K);
    // "kill" A: stop it without draining its sign jobs (they never return), close its API and pool
    await A.service.drain(10);
    await A.app.close();
    await A.store.close();
    aClosed = true;
    for (const p of postedB) expect((await finalOnBoth(p.id, [B])).state).toBe('signed');
    // within the lease B leaves A's claims alone
    for (const p of postedA) expect((await B.service.getSignRequest(p.id)).state).toBe('signing');
    offsetB = LEASE_MS + 1000;
    for (const p of postedA) {
      const r = await finalOnBoth(p.id, [B]);
      expect(r.state).toBe('failed');
      expect(r.error?.code).toBe('ERR_ORCH_INTERRUPTED');
      // signed once at the parties (by A before it died), never again by B
      expect(calls.get(p.signedRequest)).toBe(1);
      // A's reservation is burnt, never left reserved (nor offered again)
      const ps = await B.store.presignaturesOf(p.id);
      expect(ps.filter((x) => x.state !== 'burnt')).toEqual([]);
    }
    for (const p of postedB) expect(calls.get(p.signedRequest)).toBe(1);
    expect(new Set(fake.used).size).toBe(fake.used.length);
    expect(await B.store.countPresignatures('k1', PATH, 'reserved')).toBe(0);
  }, 60_000);
});
