/**
 * The API and the sign-request lifecycle on PostgreSQL (own database on 127.0.0.1:5432, dropped
 * after): the same query layer as SQLite, checked end to end through the REST API.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, hex0x, makeHarness, tx } from './harness.js';
import { createTestDatabase } from './pg.js';

let h: Harness;
let db: Awaited<ReturnType<typeof createTestDatabase>>;

beforeAll(async () => {
  db = await createTestDatabase('api');
  h = await makeHarness({ state: { kind: 'postgres', url: db.url } });
  await h.readyKey('k1');
});
afterAll(async () => {
  await h?.close();
  await db?.drop();
});

describe('REST API on PostgreSQL', () => {
  it('signs, waits for approvals, refuses idempotency reuse, pages, and refuses a replayed token', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const idempotencyKey = `pg-${i}`;
      const payload = tx(i);
      const signedRequest = await h.signedRequest({ payload, idempotencyKey });
      const body = { keyId: 'k1', kind: 'eth.transaction', payload: hex0x(payload), signedRequest, idempotencyKey };
      const r = await h.call('ian', 'POST', '/v1/sign-requests', body);
      expect(r.status).toBe(201);
      ids.push(r.json.id as string);
      if (i === 0) {
        const conflict = await h.call('ian', 'POST', '/v1/sign-requests', { ...body, payloadEncoding: 'hex' });
        expect(conflict.json.code).toBe('ERR_API_IDEMPOTENCY_CONFLICT');
      }
    }
    for (const id of ids) {
      expect((await h.call('vic', 'GET', `/v1/sign-requests/${id}?waitFor=final`)).json.state).toBe('signed');
    }
    const msg = new TextEncoder().encode('pg message');
    const signedRequest = await h.signedRequest({ payload: msg, kind: 'eth.message', idempotencyKey: 'pg-msg' });
    const m = await h.call('ian', 'POST', '/v1/sign-requests', {
      keyId: 'k1',
      kind: 'eth.message',
      payload: hex0x(msg),
      signedRequest,
      idempotencyKey: 'pg-msg',
    });
    const id = m.json.id as string;
    expect((await h.call('vic', 'GET', `/v1/sign-requests/${id}?waitFor=pending_approval`)).json.state).toBe(
      'pending_approval',
    );
    const a = await h.call('amy', 'POST', `/v1/sign-requests/${id}/approvals`, {
      approval: await h.approval('amy', signedRequest),
    });
    expect(a.status).toBe(200);
    expect((await h.call('vic', 'GET', `/v1/sign-requests/${id}?waitFor=final`)).json.state).toBe('signed');
    const page = await h.call('aud', 'GET', '/v1/sign-requests?limit=2');
    const next = await h.call('aud', 'GET', `/v1/sign-requests?limit=2&cursor=${page.json.nextCursor}`);
    expect(
      [...(page.json.items as { id: string }[]), ...(next.json.items as { id: string }[])].map((x) => x.id),
    ).toEqual([id, ...ids.reverse()]);
    const token = await h.token('vic', 'GET', '/v1/keys');
    expect((await h.call(undefined, 'GET', '/v1/keys', undefined, { token })).status).toBe(200);
    expect((await h.call(undefined, 'GET', '/v1/keys', undefined, { token })).json.code).toBe('ERR_API_NONCE_REPLAYED');
  });
});
