/**
 * The REST API's input handling and the sign-request lifecycle, over a fake signing backend:
 * refused input gets a 4xx with a stable code and stores nothing; accepted requests move through
 * the documented states; OpenAPI covers every route.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROUTE_ACCESS } from '../../src/orchestrator/rbac.js';
import { OrchestratorService } from '../../src/orchestrator/service.js';
import { fakeBackend, type Harness, hex0x, makeHarness, tx } from './harness.js';

let h: Harness;
let seq = 0;

async function body(o: { kind?: 'eth.transaction' | 'eth.message' | 'raw.digest'; payload?: Uint8Array } = {}) {
  const kind = o.kind ?? 'eth.transaction';
  const payload = o.payload ?? tx(++seq);
  const idempotencyKey = `api-${++seq}`;
  const signedRequest = await h.signedRequest({ payload, kind, idempotencyKey });
  return { keyId: 'k1', kind, payload: hex0x(payload), signedRequest, idempotencyKey };
}
const count = async () => (await h.store.listSignRequests({ limit: 100 })).length;

beforeAll(async () => {
  h = await makeHarness();
  await h.readyKey('k1');
});
afterAll(async () => {
  await h?.close();
});

describe('bad input: 4xx with a stable code, nothing stored', () => {
  it('malformed JSON, unknown fields, wrong types, oversize, wrong media type', async () => {
    const before = await count();
    const good = await body();
    const cases: { raw?: string; json?: unknown; contentType?: string; status: number; code: string }[] = [
      { raw: '{"keyId":', status: 400, code: 'ERR_API_MALFORMED_JSON' },
      { raw: '\xff\xfe', status: 400, code: 'ERR_API_MALFORMED_JSON' },
      { json: { ...good, extra: 1 }, status: 400, code: 'ERR_API_BAD_REQUEST' },
      { json: { ...good, __proto__: { x: 1 }, ['__proto__' as string]: 1 }, status: 400, code: 'ERR_API_BAD_REQUEST' },
      { json: { ...good, keyId: 7 }, status: 400, code: 'ERR_API_BAD_REQUEST' },
      { json: { ...good, kind: 'btc.rune' }, status: 400, code: 'ERR_API_BAD_REQUEST' },
      { json: { ...good, payload: '0xabc' }, status: 400, code: 'ERR_API_BAD_REQUEST' },
      { json: { ...good, payload: 'zz' }, status: 400, code: 'ERR_API_BAD_REQUEST' },
      { json: [good], status: 400, code: 'ERR_API_BAD_REQUEST' },
      { json: null, status: 400, code: 'ERR_API_BAD_REQUEST' },
      {
        raw: JSON.stringify({ ...good, payload: `0x${'00'.repeat(40_000)}` }),
        status: 413,
        code: 'ERR_API_BODY_TOO_LARGE',
      },
      { raw: JSON.stringify(good), contentType: 'text/plain', status: 415, code: 'ERR_API_UNSUPPORTED_MEDIA_TYPE' },
    ];
    for (const c of cases) {
      const raw = c.raw ?? JSON.stringify(c.json);
      const r = await h.call('ian', 'POST', '/v1/sign-requests', undefined, {
        raw,
        ...(c.contentType ? { contentType: c.contentType } : {}),
      });
      expect(r.status, `${raw.slice(0, 60)} → ${JSON.stringify(r.json)}`).toBe(c.status);
      expect(r.json.code).toBe(c.code);
      expect(Object.keys(r.json).sort()).toEqual(['code', 'message']);
    }
    expect(await count()).toBe(before);
  });

  it('an unknown key, a payload that does not decode, a signed request for other bytes or another key', async () => {
    const before = await count();
    const unknownKey = await body();
    let r = await h.call('ian', 'POST', '/v1/sign-requests', { ...unknownKey, keyId: 'nope' });
    expect([r.status, r.json.code]).toEqual([404, 'ERR_API_KEY_UNKNOWN']);
    const junk = await body({ payload: Uint8Array.of(2, 0xc0) });
    r = await h.call('ian', 'POST', '/v1/sign-requests', junk);
    expect(r.status).toBe(400);
    expect(String(r.json.code)).toMatch(/^ERR_CHAIN_/);
    const swapped = await body();
    r = await h.call('ian', 'POST', '/v1/sign-requests', { ...swapped, payload: hex0x(tx(999)) });
    expect([r.status, r.json.code]).toEqual([422, 'ERR_POLICY_PAYLOAD_MISMATCH']);
    const otherIdem = await body();
    r = await h.call('ian', 'POST', '/v1/sign-requests', { ...otherIdem, idempotencyKey: 'not-the-signed-one' });
    expect([r.status, r.json.code]).toEqual([422, 'ERR_POLICY_REQUEST_INVALID']);
    // signed by an operator outside the registry's initiators
    const p = tx(1234);
    const byApprover = await h.signedRequest({ payload: p, idempotencyKey: 'by-amy' }, 'amy');
    r = await h.call('ian', 'POST', '/v1/sign-requests', {
      keyId: 'k1',
      kind: 'eth.transaction',
      payload: hex0x(p),
      signedRequest: byApprover,
      idempotencyKey: 'by-amy',
    });
    expect([r.status, r.json.code]).toEqual([422, 'ERR_POLICY_REQUEST_INVALID']);
    expect(await count()).toBe(before);
  });

  it('idempotency: the same body returns the stored request, another body is a conflict', async () => {
    const b = await body();
    const first = await h.call('ian', 'POST', '/v1/sign-requests', b);
    expect(first.status).toBe(201);
    const again = await h.call('ian', 'POST', '/v1/sign-requests', b);
    expect(again.status).toBe(200);
    expect(again.json.id).toBe(first.json.id);
    const before = await count();
    const other = await h.call('ian', 'POST', '/v1/sign-requests', { ...b, payloadEncoding: 'hex' });
    expect([other.status, other.json.code]).toEqual([409, 'ERR_API_IDEMPOTENCY_CONFLICT']);
    expect(await count()).toBe(before);
  });

  it('bad query strings and ids, unknown routes', async () => {
    for (const url of [
      '/v1/keys/k1/addresses?path=m/0h&chain=ethereum',
      '/v1/keys/k1/addresses?path=0&chain=dogecoin',
      '/v1/keys/k1/addresses?path=0&chain=ethereum&x=1',
      '/v1/keys/k1/addresses?path=4294967295&chain=ethereum',
      '/v1/sign-requests?limit=0',
      '/v1/sign-requests?limit=abc',
      '/v1/sign-requests/sr_123',
    ]) {
      const r = await h.call('vic', 'GET', url);
      expect([r.status, r.json.code], url).toEqual([400, 'ERR_API_BAD_REQUEST']);
    }
    expect((await h.call('vic', 'GET', `/v1/sign-requests/sr_${'0'.repeat(28)}`)).json.code).toBe(
      'ERR_API_REQUEST_UNKNOWN',
    );
    expect((await h.call('vic', 'GET', '/v1/keys/nope')).json.code).toBe('ERR_API_KEY_UNKNOWN');
    const r = await h.call('vic', 'GET', '/v1/nothing');
    expect([r.status, r.json.code]).toEqual([404, 'ERR_API_NOT_FOUND']);
  });
});

describe('sign-request lifecycle', () => {
  it('an allowed transaction is signed; the artifact is returned (long poll)', async () => {
    const r = await h.call('ian', 'POST', '/v1/sign-requests', await body());
    expect(r.status).toBe(201);
    const done = await h.call('vic', 'GET', `/v1/sign-requests/${r.json.id}?waitFor=final&timeoutSeconds=10`);
    expect(done.json).toMatchObject({ state: 'signed', policyVersion: 1, initiator: 'ian', createdBy: 'ian' });
    expect((done.json.artifact as { hex: string }).hex).toBe('0x00');
  });

  it('a message waits for an approval, then is signed; an approval for another request is refused', async () => {
    const b = await body({ kind: 'eth.message', payload: new TextEncoder().encode(`msg ${seq}`) });
    const r = await h.call('ian', 'POST', '/v1/sign-requests', b);
    const id = r.json.id as string;
    const waiting = await h.call('vic', 'GET', `/v1/sign-requests/${id}?waitFor=pending_approval,final`);
    expect(waiting.json.state).toBe('pending_approval');
    const other = await body();
    const wrong = await h.call('amy', 'POST', `/v1/sign-requests/${id}/approvals`, {
      approval: await h.approval('amy', other.signedRequest),
    });
    expect([wrong.status, wrong.json.code]).toEqual([422, 'ERR_POLICY_APPROVAL_INVALID']);
    const ok = await h.call('amy', 'POST', `/v1/sign-requests/${id}/approvals`, {
      approval: await h.approval('amy', b.signedRequest),
    });
    expect(ok.status).toBe(200);
    const done = await h.call('vic', 'GET', `/v1/sign-requests/${id}?waitFor=final`);
    expect(done.json).toMatchObject({ state: 'signed', approvals: 1 });
    const late = await h.call('amy', 'POST', `/v1/sign-requests/${id}/approvals`, {
      approval: await h.approval('amy', b.signedRequest),
    });
    expect([late.status, late.json.code]).toEqual([409, 'ERR_API_REQUEST_FINAL']);
  });

  it('streams state changes as server-sent events until a final state', async () => {
    const r = await h.call('ian', 'POST', '/v1/sign-requests', await body());
    const url = `/v1/sign-requests/${r.json.id}/events`;
    const res = await h.app.inject({
      method: 'GET',
      url,
      headers: { authorization: `Bearer ${await h.token('vic', 'GET', url)}` },
    });
    expect(res.headers['content-type']).toBe('text/event-stream');
    const states = [...res.body.matchAll(/^data: (.*)$/gm)].map(
      (m) => (JSON.parse(m[1] as string) as { state: string }).state,
    );
    expect(states.at(-1)).toBe('signed');
    expect(new Set(states).size).toBe(states.length);
    const unknown = await h.call('vic', 'GET', `/v1/sign-requests/sr_${'0'.repeat(28)}/events`);
    expect([unknown.status, unknown.json.code]).toEqual([404, 'ERR_API_REQUEST_UNKNOWN']);
  });

  it('a kind no rule allows is rejected with the policy code', async () => {
    const b = await body({ kind: 'raw.digest', payload: new Uint8Array(32).fill(1) });
    const r = await h.call('ian', 'POST', '/v1/sign-requests', b);
    const done = await h.call('vic', 'GET', `/v1/sign-requests/${r.json.id}?waitFor=final`);
    expect(done.json).toMatchObject({ state: 'rejected', error: { code: 'ERR_POLICY_BLOCKED' } });
  });

  it('lists with filters and cursor pagination, newest first', async () => {
    const all = await h.call('aud', 'GET', '/v1/sign-requests?limit=100');
    const items = all.json.items as { id: string; state: string }[];
    expect(items.length).toBeGreaterThan(3);
    const ids: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { json: Record<string, unknown> } = await h.call(
        'aud',
        'GET',
        `/v1/sign-requests?limit=2${cursor ? `&cursor=${cursor}` : ''}`,
      );
      ids.push(...(page.json.items as { id: string }[]).map((x) => x.id));
      cursor = page.json.nextCursor as string | null;
    } while (cursor !== null);
    expect(ids).toEqual(items.map((x) => x.id));
    expect([...ids].sort().reverse()).toEqual(ids);
    const signed = await h.call('aud', 'GET', '/v1/sign-requests?state=signed&initiator=ian&keyId=k1');
    expect((signed.json.items as { state: string }[]).every((x) => x.state === 'signed')).toBe(true);
  });

  it('a restart fails a request caught signing (never signs it twice) and resumes the others', async () => {
    const b = await body();
    const r = await h.call('ian', 'POST', '/v1/sign-requests', b);
    await h.call('vic', 'GET', `/v1/sign-requests/${r.json.id}?waitFor=final`);
    // forge a crash: one request left in `signing`, one in `received`
    const stuck = (
      await h.store.insertSignRequest(
        { ...(await h.store.getSignRequest(r.json.id as string))!, idempotencyKey: 'stuck' } as never,
        Date.now(),
      )
    ).record;
    await h.store.transition(stuck.id, ['received'], 'signing', { claimedBy: 'orchestrator' }, Date.now());
    // another replica's request, signing now: left to it; another one's, claimed long ago: stale
    const copy = async (k: string) =>
      (
        await h.store.insertSignRequest(
          { ...(await h.store.getSignRequest(r.json.id as string))!, idempotencyKey: k } as never,
          Date.now(),
        )
      ).record;
    const theirs = await copy('theirs');
    await h.store.transition(theirs.id, ['received'], 'signing', { claimedBy: 'orch-b' }, Date.now());
    const stale = await copy('stale');
    await h.store.transition(stale.id, ['received'], 'signing', { claimedBy: 'orch-b' }, Date.now() - 3_600_000);
    const fresh = (
      await h.store.insertSignRequest(
        { ...(await h.store.getSignRequest(r.json.id as string))!, idempotencyKey: 'fresh' } as never,
        Date.now(),
      )
    ).record;
    const backend = fakeBackend();
    const restarted = new OrchestratorService({
      store: h.store,
      backend,
      config: {
        bootstrapAdmin: { id: 'root', publicKey: h.keys.root?.publicJwk as never },
        policy: { admins: { threshold: 1, admins: [{ id: 'a1', publicKey: h.admin.publicJwk as never }] } },
        signers: { parties: 3 },
        requestTtlSeconds: 3600,
      },
    });
    await restarted.init();
    expect((await restarted.getSignRequest(stuck.id)).error?.code).toBe('ERR_ORCH_INTERRUPTED');
    expect((await restarted.getSignRequest(stuck.id)).state).toBe('failed');
    expect((await restarted.waitForSignRequest(fresh.id, ['signed'], 5000)).state).toBe('signed');
    expect((await restarted.getSignRequest(theirs.id)).state).toBe('signing');
    expect((await restarted.getSignRequest(stale.id)).error?.code).toBe('ERR_ORCH_INTERRUPTED');
    expect(backend.signed).toBe(1);
    await restarted.drain(1000);
  });
});

describe('keys, documents, health and OpenAPI', () => {
  it('POST /v1/keys runs keygen + aux as a job; the key is readable with its xpub and addresses', async () => {
    const r = await h.call('root', 'POST', '/v1/keys', { id: 'hot', threshold: 2, parties: 3 });
    expect(r.status).toBe(202);
    expect(r.json).toMatchObject({ id: 'hot', state: 'generating', parties: [0, 1, 2] });
    let k = r.json;
    for (let i = 0; i < 50 && k.state === 'generating'; i++) {
      await new Promise((res) => setTimeout(res, 20));
      k = (await h.call('vic', 'GET', '/v1/keys/hot')).json;
    }
    expect(k).toMatchObject({ state: 'ready', progress: 'done' });
    expect(String(k.xpub)).toMatch(/^xpub/);
    const a = await h.call('vic', 'GET', '/v1/keys/hot/addresses?path=m/0/1&chain=bitcoin&network=testnet');
    expect(a.json).toMatchObject({ path: [0, 1], chain: 'bitcoin', network: 'testnet' });
    expect(String(a.json.address)).toMatch(/^tb1q/);
    const dup = await h.call('root', 'POST', '/v1/keys', { id: 'hot', threshold: 2, parties: 3 });
    expect([dup.status, dup.json.code]).toEqual([409, 'ERR_API_CONFLICT']);
    const tooMany = await h.call('root', 'POST', '/v1/keys', { id: 'big', threshold: 2, parties: 9 });
    expect([tooMany.status, tooMany.json.code]).toEqual([400, 'ERR_API_BAD_REQUEST']);
  });

  it('policy documents: an unsigned or older one is refused', async () => {
    const r = await h.call('root', 'PUT', '/v1/policy', {
      payload: 'e30',
      signatures: [{ protected: 'e30', signature: 'AA' }],
    });
    expect(r.status).toBe(422);
    expect(String(r.json.code)).toMatch(/^ERR_POLICY_/);
    expect((await h.call('vic', 'GET', '/v1/policy')).json).toMatchObject({
      policy: { version: 1 },
      registry: { version: 1 },
    });
  });

  it('health, readiness, metrics, and an OpenAPI 3.1 document naming every route', async () => {
    expect((await h.call(undefined, 'GET', '/healthz')).json).toEqual({ status: 'ok' });
    expect((await h.call(undefined, 'GET', '/readyz')).json).toEqual({ ready: true, reasons: [] });
    const m = await h.app.inject({ method: 'GET', url: '/metrics' });
    expect(m.body).toContain('mpc_orch_http_requests_total');
    expect(m.body).toContain('mpc_orch_auth_refused_total');
    const doc = (await h.call(undefined, 'GET', '/v1/openapi.json')).json as {
      openapi: string;
      paths: Record<string, Record<string, { requestBody?: unknown; responses: Record<string, unknown> }>>;
    };
    expect(doc.openapi).toBe('3.1.0');
    for (const r of ROUTE_ACCESS) {
      const path = r.path.replace(/:(\w+)/g, '{$1}');
      const op = doc.paths[path]?.[r.method.toLowerCase()];
      expect(op, `${r.method} ${path}`).toBeDefined();
      expect(Object.keys(op?.responses ?? {}).length).toBeGreaterThan(0);
    }
    expect(doc.paths['/v1/sign-requests']?.post?.requestBody).toBeDefined();
  });
});
