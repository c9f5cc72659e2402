/**
 * Presignature pools over a fake signing backend (the parties' side is the daemon's own tests):
 * the pool fills to its target, 50 concurrent sign requests all succeed and no presignature is used
 * twice, the pool refills; reservations are compare-and-set on SQLite and on PostgreSQL (two store
 * connections racing like two replicas); a restart burns what was reserved; a presignature a party
 * lost is burnt and the request still signs.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MpcError } from '../../src/errors/index.js';
import type { StateConfig } from '../../src/orchestrator/config.js';
import { PresignaturePools } from '../../src/orchestrator/pool.js';
import { OrchestratorService } from '../../src/orchestrator/service.js';
import { SignerHealth } from '../../src/orchestrator/signer-sets.js';
import { OrchestratorStore } from '../../src/orchestrator/store/store.js';
import { fakeBackend, type Harness, hex0x, makeHarness, tx } from './harness.js';
import { createTestDatabase } from './pg.js';

const PATH = [0, 7];
const SPEC = { keyId: 'k1', path: PATH, target: 20, lowWater: 5 };

/** Posts the initiator's EIP-1559 sign request (nonce `nonce`, path m/0/7) to key k1; its id. */
async function post(h: Harness, idempotencyKey: string, nonce: number): Promise<string> {
  const payload = tx(nonce);
  const signedRequest = await h.signedRequest({ payload, idempotencyKey, path: PATH });
  const r = await h.call('ian', 'POST', '/v1/sign-requests', {
    keyId: 'k1',
    kind: 'eth.transaction',
    payload: hex0x(payload),
    signedRequest,
    idempotencyKey,
  });
  expect(r.status).toBe(201);
  return r.json.id as string;
}

const settled = (h: Harness, id: string) => h.service.waitForSignRequest(id, ['signed', 'failed', 'rejected'], 10_000);

describe('pool over the REST API', () => {
  let h: Harness;
  let backend: ReturnType<typeof fakeBackend>;
  beforeAll(async () => {
    backend = fakeBackend();
    h = await makeHarness({ backend, pools: [SPEC] });
    await h.readyKey('k1');
  });
  afterAll(async () => {
    await h?.close();
  });

  const submit = (nonce: number) => post(h, `pool-${nonce}`, nonce);

  it('fills to the target; 50 concurrent requests all sign, no presignature twice; the pool refills', async () => {
    await h.pools?.refill(SPEC);
    expect(await h.store.countPresignatures('k1', PATH, 'available')).toBe(20);
    const ids = await Promise.all(Array.from({ length: 50 }, (_, i) => submit(i)));
    const states = await Promise.all(
      ids.map((id) => h.service.waitForSignRequest(id, ['signed', 'failed', 'rejected'], 20_000)),
    );
    expect(states.every((s) => s.state === 'signed')).toBe(true);
    expect(new Set(backend.used).size).toBe(50);
    const pooled = await Promise.all(ids.map((id) => h.store.presignaturesOf(id)));
    // every pooled presignature went to one request and ended used
    const pooledIds = pooled.flat();
    expect(pooledIds.length).toBeGreaterThanOrEqual(20);
    expect(new Set(pooledIds.map((p) => p.id)).size).toBe(pooledIds.length);
    expect(pooledIds.every((p) => p.state === 'used')).toBe(true);
    // the pool refilled behind the takers (a request finding it empty presigns on demand)
    const m = await h.metrics.registry.getSingleMetricAsString('mpc_orch_presignatures_taken_total');
    const taken = [...m.matchAll(/source="(pool|demand)"} (\d+)/g)].reduce((n, x) => n + Number(x[2]), 0);
    expect(taken).toBe(50);
    expect(backend.presigned).toBeGreaterThanOrEqual(50);
    await h.pools?.refill(SPEC);
    expect(await h.store.countPresignatures('k1', PATH, 'available')).toBeGreaterThanOrEqual(SPEC.lowWater);
    // below the low-water mark the pool refills to its target
    while ((await h.store.countPresignatures('k1', PATH, 'available')) >= SPEC.lowWater) {
      await h.store.reservePresignature('k1', PATH, 'drain', Date.now());
    }
    await h.pools?.refill(SPEC);
    expect(await h.store.countPresignatures('k1', PATH, 'available')).toBe(20);
  });

  it('a presignature a party no longer holds is burnt and the request signs with a fresh one', async () => {
    const next = await h.store.reservePresignature('k1', PATH, 'probe', Date.now());
    expect(next).toBeDefined();
    await h.store.movePresignatures([next?.id as string], ['reserved'], 'available', Date.now());
    // every available one is "lost" at a party
    const all = await h.store.db.selectFrom('presignatures').select('id').where('state', '=', 'available').execute();
    for (const r of all) backend.lose.add(r.id);
    const id = await submit(1000);
    const done = await h.service.waitForSignRequest(id, ['signed', 'failed'], 10_000);
    expect(done.state).toBe('signed');
    const mine = await h.store.presignaturesOf(id);
    expect(mine.length).toBe(1);
    expect(mine[0]?.state).toBe('burnt');
  });
});

describe('signer sets: pools spread over every t-subset and steer around a party that timed out', () => {
  let h: Harness;
  let backend: ReturnType<typeof fakeBackend>;
  let clock = Date.now();
  const health = new SignerHealth({ suspectMs: 60_000, now: () => clock });
  const spec = { keyId: 'k1', path: PATH, target: 12, lowWater: 12 };
  beforeAll(async () => {
    backend = fakeBackend();
    h = await makeHarness({ backend, pools: [spec], health });
    await h.readyKey('k1'); // 2-of-3: sets {0,1}, {0,2}, {1,2}
  });
  afterAll(async () => {
    await h?.close();
  });
  const bySet = async () => Object.fromEntries(await h.store.countAvailableBySigners('k1', PATH));

  const sign = async (nonce: number) => settled(h, await post(h, `sets-${nonce}`, nonce));

  it('a refill fills every signer set evenly', async () => {
    await h.pools?.refill(spec);
    expect(await bySet()).toEqual({ '0,1': 4, '0,2': 4, '1,2': 4 });
  });

  it('party 1 down: the request times out once, signs with {0,2}; later ones and refills avoid party 1 until it is back', async () => {
    // leave only presignatures that need party 1 in the pool
    while (await h.store.reservePresignature('k1', PATH, 'drain', Date.now(), (s) => s.join(',') === '0,2')) {}
    backend.down.add(1);
    const first = await sign(1);
    expect(first.state).toBe('signed');
    expect(backend.timeouts).toBe(1);
    expect(backend.signedBy.at(-1)).toBe('0,2');
    // suspect now: the pool's {0,1} and {1,2} presignatures are not taken, on-demand picks {0,2}
    for (let i = 2; i <= 4; i++) expect((await sign(i)).state).toBe('signed');
    expect(backend.timeouts).toBe(1);
    expect(backend.signedBy.slice(-3)).toEqual(['0,2', '0,2', '0,2']);
    // a refill counts only what healthy sets hold and tops up {0,2}
    await h.pools?.refill(spec);
    const during = await bySet();
    expect(during['0,2']).toBe(12);
    expect(backend.timeouts).toBe(1);
    // party 1 answers again once the suspicion lapses: every set is used again
    backend.down.clear();
    clock += 61_000;
    expect(health.isHealthy([1, 2])).toBe(true);
    const seen = new Set<string>();
    for (let i = 5; i <= 10; i++) {
      expect((await sign(i)).state).toBe('signed');
      seen.add(backend.signedBy.at(-1) as string);
    }
    expect(seen.has('0,1') || seen.has('1,2')).toBe(true);
  });
});

describe('signer sets on demand (no pools): round robin over the healthy sets', () => {
  let h: Harness;
  let backend: ReturnType<typeof fakeBackend>;
  beforeAll(async () => {
    backend = fakeBackend();
    h = await makeHarness({ backend });
    await h.readyKey('k1');
  });
  afterAll(async () => {
    await h?.close();
  });

  const sign = async (nonce: number) => settled(h, await post(h, `demand-${nonce}`, nonce));

  it('three requests use the three sets; with party 0 down one times out and then only {1,2} signs', async () => {
    for (let i = 0; i < 3; i++) expect((await sign(i)).state).toBe('signed');
    expect(new Set(backend.signedBy)).toEqual(new Set(['0,1', '0,2', '1,2']));
    backend.down.add(0);
    for (let i = 3; i < 6; i++) expect((await sign(i)).state).toBe('signed');
    expect(backend.timeouts).toBeLessThanOrEqual(1);
    expect(backend.signedBy.slice(-3)).toEqual(['1,2', '1,2', '1,2']);
    backend.down.clear();
  });

  it('with no healthy set left, the request fails with the timeout after one attempt', async () => {
    for (const p of [0, 1, 2]) backend.down.add(p);
    const before = backend.timeouts;
    const r = await sign(100);
    expect(r.state).toBe('failed');
    expect(r.error?.code).toBe('ERR_DAEMON_SESSION_TIMEOUT');
    expect(backend.timeouts - before).toBe(1);
    backend.down.clear();
  });
});

describe('a crash while signing (the process abandoned mid-sign, a new one on the same database)', () => {
  it('the request ends failed, its pooled presignature burnt, nothing signed twice', async () => {
    const backend = fakeBackend();
    let hang = true;
    const sign = backend.signPayload.bind(backend);
    // the first process never gets its signature back (it "died" during the sign session)
    backend.signPayload = (o) => (hang ? new Promise(() => undefined) : sign(o));
    const h = await makeHarness({ backend, pools: [SPEC] });
    try {
      await h.readyKey('k1');
      await h.pools?.refill(SPEC);
      const payload = tx(7);
      const signedRequest = await h.signedRequest({ payload, idempotencyKey: 'crash', path: PATH });
      const r = await h.call('ian', 'POST', '/v1/sign-requests', {
        keyId: 'k1',
        kind: 'eth.transaction',
        payload: hex0x(payload),
        signedRequest,
        idempotencyKey: 'crash',
      });
      const id = r.json.id as string;
      expect((await h.service.waitForSignRequest(id, ['signing'], 5000)).state).toBe('signing');
      // signing: the pooled presignature is reserved for it, the sign session never answers
      for (let i = 0; i < 100 && (await h.store.presignaturesOf(id)).length === 0; i++) {
        await new Promise((res) => setTimeout(res, 10));
      }
      expect((await h.store.presignaturesOf(id))[0]?.state).toBe('reserved');
      // restart: same replica, same database, a working backend
      hang = false;
      const pools = new PresignaturePools({ store: h.store, backend, specs: [SPEC], intervalMs: 60_000 });
      const again = new OrchestratorService({
        store: h.store,
        backend,
        pools,
        config: {
          bootstrapAdmin: { id: 'root', publicKey: h.keys.root?.publicJwk as never },
          policy: { admins: { threshold: 1, admins: [{ id: 'a1', publicKey: h.admin.publicJwk as never }] } },
          signers: { parties: 3 },
          requestTtlSeconds: 3600,
        },
      });
      await again.init();
      const after = await again.getSignRequest(id);
      expect([after.state, after.error?.code]).toEqual(['failed', 'ERR_ORCH_INTERRUPTED']);
      expect((await h.store.presignaturesOf(id))[0]?.state).toBe('burnt');
      expect(backend.signed).toBe(0);
      // the same idempotency key returns the failed request; it is never signed again
      const retry = await h.call('ian', 'POST', '/v1/sign-requests', {
        keyId: 'k1',
        kind: 'eth.transaction',
        payload: hex0x(payload),
        signedRequest,
        idempotencyKey: 'crash',
      });
      expect([retry.status, retry.json.state]).toEqual([200, 'failed']);
      await again.drain(1000);
    } finally {
      await h.close();
    }
  });
});

function reservationSuite(name: string, config: () => Promise<{ cfg: StateConfig; cleanup(): Promise<void> }>) {
  describe(`pool reservations on ${name}`, () => {
    let a: OrchestratorStore;
    let b: OrchestratorStore;
    let cleanup: () => Promise<void>;
    beforeAll(async () => {
      const c = await config();
      cleanup = c.cleanup;
      a = await OrchestratorStore.open(c.cfg);
      b = await OrchestratorStore.open(c.cfg);
      await a.insertKey({ id: 'k1', threshold: 2, parties: 3, createdBy: 'root' }, 1);
      await a.updateKey('k1', { state: 'ready', progress: 'done', publicKey: '02', chainCode: '00' }, 1);
    });
    afterAll(async () => {
      await a?.close();
      await b?.close();
      await cleanup?.();
    });

    it('two connections (replicas) racing 50 takers over 20 presignatures: 20 distinct winners', async () => {
      const backend = fakeBackend();
      const pools = new PresignaturePools({ store: a, backend, specs: [SPEC], intervalMs: 60_000, concurrency: 4 });
      await pools.refill(SPEC);
      expect(await a.countPresignatures('k1', PATH, 'available')).toBe(20);
      const got = await Promise.all(
        Array.from({ length: 50 }, (_, i) => (i % 2 ? a : b).reservePresignature('k1', PATH, `r${i}`, Date.now())),
      );
      const ids = got.filter((g) => g !== undefined).map((g) => g.id);
      expect(ids.length).toBe(20);
      expect(new Set(ids).size).toBe(20);
      await pools.stop();
    });

    it('a restart burns what was reserved; the TTL burns what is old', async () => {
      const backend = fakeBackend();
      const spec = { ...SPEC, path: [1], target: 3, lowWater: 1 };
      const first = new PresignaturePools({ store: a, backend, specs: [spec], intervalMs: 60_000 });
      await first.refill(spec);
      const taken = await first.take('k1', [1], 'req');
      expect(taken).toBeDefined();
      await first.stop();
      const second = new PresignaturePools({ store: a, backend, specs: [spec], intervalMs: 60_000, ttlSeconds: 3600 });
      await second.start();
      const rows = await a.db
        .selectFrom('presignatures')
        .select(['id', 'state'])
        .where('id', '=', taken?.id as string)
        .execute();
      expect(rows[0]?.state).toBe('burnt');
      await second.stop();
      expect(await a.burnOldPresignatures(Date.now() + 1, Date.now())).toBeGreaterThan(0);
      expect(await a.countPresignatures('k1', [1], 'available')).toBe(0);
    });
  });
}

reservationSuite('SQLite', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'orch-pool-'));
  return {
    cfg: { kind: 'sqlite', path: join(dir, 'orch.db') },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});
reservationSuite('PostgreSQL', async () => {
  const db = await createTestDatabase('pool');
  return { cfg: { kind: 'postgres', url: db.url }, cleanup: () => db.drop() };
});

describe('audit records travel while the store commits (receipt with the insert, decision with the claim)', () => {
  let h: Harness;
  let backend: ReturnType<typeof fakeBackend>;
  const spec = { keyId: 'k1', path: PATH, target: 4, lowWater: 0 };
  // an audit log that acknowledges everything but the record type `refuse` names
  let refuse: string | undefined;
  const written: string[] = [];
  const audit = {
    ready: true,
    async write(e: { type: string }) {
      if (e.type === refuse) throw new MpcError('ERR_AUDIT_SINK_UNAVAILABLE', 'not acknowledged');
      written.push(e.type);
    },
    async enqueue(e: { type: string }) {
      written.push(e.type);
    },
  };
  beforeAll(async () => {
    backend = fakeBackend();
    h = await makeHarness({ backend, pools: [spec], audit: audit as never });
    await h.readyKey('k1');
    await h.pools?.refill(spec);
  });
  afterAll(async () => {
    await h?.close();
  });

  it('a decision JetStream refused: the claimed request fails, its reserved presignature burnt, no party asked; a refused receipt fails the POST', async () => {
    refuse = 'request.evaluated';
    const id = await post(h, 'decision-refused', 1);
    const done = await settled(h, id);
    expect(done).toMatchObject({ state: 'failed', artifact: null, error: { code: 'ERR_AUDIT_SINK_UNAVAILABLE' } });
    expect(backend.signed).toBe(0);
    expect(await h.store.presignaturesOf(id)).toEqual([{ id: expect.any(String), state: 'burnt' }]);
    expect(written).not.toContain('request.evaluated');
    // a receipt refused (sent while the insert commits): the POST is refused, the request failed
    refuse = 'request.received';
    const payload = tx(3);
    const idempotencyKey = 'receipt-refused';
    const signedRequest = await h.signedRequest({ payload, idempotencyKey, path: PATH });
    const body = { keyId: 'k1', kind: 'eth.transaction', payload: hex0x(payload), signedRequest, idempotencyKey };
    const refused = await h.call('ian', 'POST', '/v1/sign-requests', body);
    expect([refused.status, refused.json.code]).toEqual([503, 'ERR_AUDIT_SINK_UNAVAILABLE']);
    const stored = await h.store.getSignRequestByIdempotencyKey(idempotencyKey);
    expect(stored).toMatchObject({ state: 'failed', error: { code: 'ERR_AUDIT_SINK_UNAVAILABLE' } });
    expect(backend.signed).toBe(0);
    // acknowledged again: the next request signs with a pooled presignature
    refuse = undefined;
    const next = await post(h, 'decision-acked', 2);
    expect((await settled(h, next)).state).toBe('signed');
    expect(backend.signed).toBe(1);
    expect(await h.store.presignaturesOf(next)).toEqual([{ id: expect.any(String), state: 'used' }]);
  });
});
