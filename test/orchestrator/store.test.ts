import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StateConfig } from '../../src/orchestrator/config.js';
import { type NewSignRequest, OrchestratorStore } from '../../src/orchestrator/store/store.js';
import { createTestDatabase } from './pg.js';

/** The same store tests on SQLite and on the real PostgreSQL server (own database, dropped after). */
const JWK = { kty: 'OKP', crv: 'Ed25519', x: 'A'.repeat(43) } as const;

const req = (over: Partial<NewSignRequest> = {}): NewSignRequest => ({
  idempotencyKey: 'idem-1',
  bodyHash: 'aa'.repeat(32),
  keyId: 'k1',
  kind: 'eth.transaction',
  payload: Uint8Array.of(1, 2, 3),
  network: null,
  signedRequest: 'h.p.s',
  requestDigest: 'bb'.repeat(32),
  initiator: 'alice',
  createdBy: 'alice',
  expiresAt: 2_000_000_000_000,
  ...over,
});

function storeSuite(name: string, config: () => Promise<{ cfg: StateConfig; cleanup(): Promise<void> }>) {
  describe(`orchestrator store on ${name}`, () => {
    let store: OrchestratorStore;
    let cleanup: () => Promise<void>;
    let cfg: StateConfig;
    beforeAll(async () => {
      ({ cfg, cleanup } = await config());
      store = await OrchestratorStore.open(cfg);
    });
    afterAll(async () => {
      await store?.close();
      await cleanup?.();
    });

    it('migrates idempotently (a second open finds the schema current)', async () => {
      const again = await OrchestratorStore.open(cfg);
      expect(await again.ping()).toBe(true);
      await again.close();
    });

    it('operators: insert once, update roles and disabled flag', async () => {
      expect(await store.insertOperator({ id: 'alice', publicKey: JWK, roles: ['initiator'] }, 1000)).toBe(true);
      expect(await store.insertOperator({ id: 'alice', publicKey: JWK, roles: ['admin'] }, 1001)).toBe(false);
      expect((await store.getOperator('alice'))?.roles).toEqual(['initiator']);
      expect(await store.hasEnabledAdmin()).toBe(false);
      expect(await store.updateOperator('alice', { roles: ['admin', 'viewer'], disabled: true }, 1002)).toBe(true);
      const a = await store.getOperator('alice');
      expect(a).toMatchObject({ roles: ['admin', 'viewer'], disabled: true, createdAt: 1000, updatedAt: 1002 });
      expect(a?.publicKey).toEqual(JWK);
      expect(await store.hasEnabledAdmin()).toBe(false);
      expect(await store.updateOperator('nobody', { disabled: true }, 1003)).toBe(false);
    });

    it('nonces: a nonce is accepted once per operator, purged after its expiry', async () => {
      expect(await store.useNonce('alice', 'n1', 5000)).toBe(true);
      expect(await store.useNonce('alice', 'n1', 5000)).toBe(false);
      expect(await store.useNonce('bob', 'n1', 5000)).toBe(true);
      expect(await store.purgeNonces(4999)).toBe(0);
      expect(await store.purgeNonces(5001)).toBe(2);
      expect(await store.useNonce('alice', 'n1', 9000)).toBe(true);
    });

    it('keys: generating → ready with the public key', async () => {
      expect(await store.insertKey({ id: 'k1', threshold: 2, parties: 3, createdBy: 'root' }, 10)).toBe(true);
      expect(await store.insertKey({ id: 'k1', threshold: 2, parties: 3, createdBy: 'root' }, 11)).toBe(false);
      await store.updateKey('k1', { state: 'ready', progress: 'done', publicKey: '02ab', chainCode: 'cc' }, 12);
      expect(await store.getKey('k1')).toMatchObject({ state: 'ready', progress: 'done', publicKey: '02ab' });
      expect((await store.listKeys()).map((k) => k.id)).toEqual(['k1']);
    });

    it('sign requests: idempotent insert, compare-and-set transitions, filters and cursor pages', async () => {
      const a = await store.insertSignRequest(req(), 100);
      expect(a.created).toBe(true);
      expect(a.record.state).toBe('received');
      expect([...a.record.payload]).toEqual([1, 2, 3]);
      const again = await store.insertSignRequest(req({ bodyHash: 'cc'.repeat(32) }), 101);
      expect(again.created).toBe(false);
      expect(again.record.id).toBe(a.record.id);
      expect(again.record.bodyHash).toBe('aa'.repeat(32));

      expect(await store.transition(a.record.id, ['received'], 'pending_policy', {}, 102)).toBe(true);
      // a second replica racing for the same transition loses
      expect(await store.transition(a.record.id, ['received'], 'pending_policy', {}, 102)).toBe(false);
      const spend = {
        at: 5,
        keyId: 'k1',
        initiator: 'alice',
        transfers: [{ asset: 'ETH', destination: '0x1', amount: 10n ** 30n }],
      };
      expect(
        await store.transition(
          a.record.id,
          ['pending_policy'],
          'signed',
          {
            policyVersion: 3,
            approvals: ['x.y.z'],
            artifact: { kind: 'eth.transaction', hex: '0x01', fields: { a: '1' } },
            spend,
          },
          103,
        ),
      ).toBe(true);
      const got = await store.getSignRequest(a.record.id);
      expect(got).toMatchObject({ state: 'signed', policyVersion: 3, approvals: ['x.y.z'], updatedAt: 103 });
      expect(got?.artifact?.hex).toBe('0x01');
      expect(got?.spend?.transfers[0]?.amount).toBe(10n ** 30n);
      expect(await store.spendsSince(0)).toHaveLength(1);
      // a request counts from the moment it goes to the parties (signing), not only once signed;
      // one that failed before signing never counts
      const b = await store.insertSignRequest(req({ idempotencyKey: 'idem-signing' }), 104);
      expect(await store.transition(b.record.id, ['received'], 'signing', { spend }, 104)).toBe(true);
      const c = await store.insertSignRequest(req({ idempotencyKey: 'idem-failed' }), 104);
      const error = { code: 'ERR_X', message: 'x' };
      expect(await store.transition(c.record.id, ['received'], 'failed', { spend, error }, 104)).toBe(true);
      expect(await store.spendsSince(0)).toHaveLength(2);
      expect(await store.spendsSince(105)).toHaveLength(0);
      // (ends it: the claims test below counts the requests left signing)
      expect(await store.transition(b.record.id, ['signing'], 'failed', { error }, 104)).toBe(true);

      const ids = [a.record.id];
      for (let i = 2; i <= 5; i++)
        ids.push(
          (await store.insertSignRequest(req({ idempotencyKey: `idem-${i}`, keyId: i % 2 ? 'k1' : 'k2' }), 100 + i))
            .record.id,
        );
      const page1 = await store.listSignRequests({ limit: 2 });
      expect(page1.map((r) => r.id)).toEqual([ids[4], ids[3]]);
      const page2 = await store.listSignRequests({ limit: 2, before: page1[1]?.id as string });
      expect(page2.map((r) => r.id)).toEqual([ids[2], ids[1]]);
      expect((await store.listSignRequests({ limit: 10, keyId: 'k2' })).map((r) => r.id)).toEqual([ids[3], ids[1]]);
      expect((await store.listSignRequests({ limit: 10, state: 'signed' })).map((r) => r.id)).toEqual([ids[0]]);
      expect((await store.signRequestIdsIn(['received'])).sort()).toEqual(ids.slice(1).sort());
    });

    it('signing claims: a replica recovers its own and stale claims, not another live one', async () => {
      const mk = async (k: string) => (await store.insertSignRequest(req({ idempotencyKey: k }), 200)).record.id;
      const mine = await mk('claim-mine');
      const theirs = await mk('claim-theirs');
      const stale = await mk('claim-stale');
      await store.transition(mine, ['received'], 'signing', { claimedBy: 'a' }, 10_000);
      await store.transition(theirs, ['received'], 'signing', { claimedBy: 'b' }, 10_000);
      await store.transition(stale, ['received'], 'signing', { claimedBy: 'b' }, 1_000);
      expect((await store.signingToRecover('a', 5_000)).sort()).toEqual([mine, stale].sort());
      expect(await store.signingToRecover('', 5_000)).toEqual([stale]);
    });

    it('insert straight into pending_policy; → signed releases its pooled presignatures in the same commit', async () => {
      const r = (await store.insertSignRequest(req({ idempotencyKey: 'idem-pp' }), 200, { policyVersion: 3 })).record;
      expect(r).toMatchObject({ state: 'pending_policy', policyVersion: 3 });
      const pre = (id: string) => ({
        id,
        keyId: 'k1',
        signers: [0, 1],
        path: [],
        R: '02'.padEnd(66, '1'),
        publicKey: '02'.padEnd(66, '2'),
      });
      await store.insertPresignature(pre('pa'), 200);
      await store.insertPresignature(pre('pb'), 200);
      expect((await store.reservePresignature('k1', [], r.id, 201))?.id).toBe('pa');
      expect(await store.transition(r.id, ['pending_policy'], 'signing', {}, 202)).toBe(true);
      // a lost compare-and-set moves nothing
      expect(await store.transition(r.id, ['received'], 'signed', { presignaturesUsed: ['pa'] }, 203)).toBe(false);
      expect(await store.presignaturesOf(r.id)).toEqual([{ id: 'pa', state: 'reserved' }]);
      // only reserved ones become used (pb is available, not this request's)
      expect(await store.transition(r.id, ['signing'], 'signed', { presignaturesUsed: ['pa', 'pb'] }, 204)).toBe(true);
      expect(await store.presignaturesOf(r.id)).toEqual([{ id: 'pa', state: 'used' }]);
      expect(await store.countPresignatures('k1', [], 'available')).toBe(1);
    });

    it('a claim and its reservation commit together, or neither when the work throws', async () => {
      const r = (await store.insertSignRequest(req({ idempotencyKey: 'idem-tx' }), 300, { policyVersion: 1 })).record;
      await store.insertPresignature(
        {
          id: 'ptx',
          keyId: 'k-tx',
          signers: [0, 1],
          path: [],
          R: '02'.padEnd(66, '3'),
          publicKey: '02'.padEnd(66, '4'),
        },
        300,
      );
      const claim = (fail: boolean) =>
        store.inTransaction(async (tx) => {
          expect(await tx.transition(r.id, ['pending_policy'], 'signing', { claimedBy: 'a' }, 301)).toBe(true);
          expect((await tx.reservePresignature('k-tx', [], r.id, 301))?.id).toBe('ptx');
          if (fail) throw new Error('the work failed after both writes');
        });
      await expect(claim(true)).rejects.toThrow('the work failed after both writes');
      expect((await store.getSignRequest(r.id))?.state).toBe('pending_policy');
      expect(await store.presignaturesOf(r.id)).toEqual([]);
      expect(await store.countPresignatures('k-tx', [], 'available')).toBe(1);
      await claim(false);
      expect((await store.getSignRequest(r.id))?.state).toBe('signing');
      expect(await store.presignaturesOf(r.id)).toEqual([{ id: 'ptx', state: 'reserved' }]);
    });

    it('documents: one per (kind, version)', async () => {
      expect(await store.putDocument('policy', 1, 'h1', '{}', 1)).toBe(true);
      expect(await store.putDocument('policy', 1, 'h2', '{}', 2)).toBe(false);
      expect(await store.putDocument('policy', 2, 'h3', '{}', 3)).toBe(true);
      expect((await store.listDocuments('policy')).map((d) => d.version)).toEqual([1, 2]);
      expect(await store.listDocuments('registry')).toEqual([]);
    });
  });
}

storeSuite('SQLite', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'orch-store-'));
  return {
    cfg: { kind: 'sqlite', path: join(dir, 'orch.db') },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});

describe('SQLite durability', () => {
  it("a nonce's commit skips its own fsync, and every other commit stays synchronous = FULL", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'orch-store-'));
    const store = await OrchestratorStore.open({ kind: 'sqlite', path: join(dir, 'orch.db') });
    try {
      const level = async () =>
        (await sql<{ synchronous: number }>`PRAGMA synchronous`.execute(store.db)).rows[0]?.synchronous;
      expect(await level()).toBe(2); // FULL
      expect(await store.useNonce('alice', 'n-sync', 5000)).toBe(true);
      expect(await store.useNonce('alice', 'n-sync', 5000)).toBe(false);
      expect(await level()).toBe(2);
      // inside a transaction the nonce is part of it (its commit decides)
      await expect(
        store.inTransaction(async (tx) => {
          expect(await tx.useNonce('alice', 'n-tx', 5000)).toBe(true);
          throw new Error('rolled back');
        }),
      ).rejects.toThrow('rolled back');
      expect(await store.useNonce('alice', 'n-tx', 5000)).toBe(true);
      expect(await level()).toBe(2);
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

storeSuite('PostgreSQL', async () => {
  const db = await createTestDatabase('store');
  return { cfg: { kind: 'postgres', url: db.url }, cleanup: () => db.drop() };
});

describe('PostgreSQL close', () => {
  it('returns once every connection is closed, so dropping the database right after never fails a closing one', async () => {
    const db = await createTestDatabase('close');
    // connected before the close, so the check runs the moment close() returns
    const admin = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/postgres' });
    await admin.connect();
    try {
      const store = await OrchestratorStore.open({ kind: 'postgres', url: db.url });
      // several pooled connections at once
      await Promise.all(Array.from({ length: 8 }, () => sql`select pg_sleep(0.05)`.execute(store.db)));
      await store.close();
      const r = await admin.query('select count(*)::int as n from pg_stat_activity where datname = $1', [
        new URL(db.url).pathname.slice(1),
      ]);
      expect(r.rows[0].n).toBe(0);
    } finally {
      await admin.end();
      await db.drop();
    }
  });

  it('survives the server ending an idle connection (a restart, an admin): the next query opens a new one', async () => {
    const db = await createTestDatabase('idle');
    const admin = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/postgres' });
    await admin.connect();
    const store = await OrchestratorStore.open({ kind: 'postgres', url: db.url });
    try {
      await sql`select 1`.execute(store.db);
      const name = new URL(db.url).pathname.slice(1);
      const r = await admin.query(
        'select count(*)::int as n from (select pg_terminate_backend(pid) from pg_stat_activity where datname = $1) t',
        [name],
      );
      expect(r.rows[0].n).toBeGreaterThan(0);
      // the idle connection's error reaches the pool; unhandled it would be an uncaught exception here
      await new Promise((res) => setTimeout(res, 200));
      expect(await store.ping()).toBe(true);
    } finally {
      await store.close();
      await admin.end();
      await db.drop();
    }
  });
});
