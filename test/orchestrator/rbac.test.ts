/**
 * The RBAC matrix (issue 13 acceptance): every route × every role, and every authenticated route ×
 * (no token, expired token, token for another body, replayed nonce, unknown operator, disabled
 * operator) gives the documented answer (src/orchestrator/README.md). fastify.inject, no sockets.
 */
import { getBytes } from 'ethers';
import { serializeTransaction } from 'viem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROUTE_ACCESS } from '../../src/orchestrator/rbac.js';
import { POLICY_TYP, REGISTRY_TYP, signDocument } from '../../src/policy/index.js';
import { makeKey } from '../helpers/operator-keys.js';
import { bytes, type Harness, makeHarness, policyDoc, ROLE_OPERATORS } from './harness.js';

let h: Harness;
let seq = 0;
const TX = getBytes(
  serializeTransaction({
    type: 'eip1559',
    chainId: 1,
    nonce: 0,
    to: '0x3333333333333333333333333333333333333333',
    value: 1n,
    gas: 21_000n,
    maxFeePerGas: 2n,
    maxPriorityFeePerGas: 1n,
  }),
);
const MSG = new TextEncoder().encode('hello');
const hex0x = (b: Uint8Array) => `0x${Buffer.from(b).toString('hex')}`;

async function signRequestBody(kind: 'eth.transaction' | 'eth.message') {
  const idempotencyKey = `rbac-${++seq}`;
  const payload = kind === 'eth.transaction' ? TX : MSG;
  const signedRequest = await h.signedRequest({ payload, kind, idempotencyKey });
  return { keyId: 'k1', kind, payload: hex0x(payload), signedRequest, idempotencyKey };
}

/** A request waiting for approval, and an approval statement for it. */
async function pendingApproval(): Promise<{ id: string; approval: string }> {
  const body = await signRequestBody('eth.message');
  const r = await h.call('ian', 'POST', '/v1/sign-requests', body);
  const id = r.json.id as string;
  await h.service.waitForSignRequest(id, ['pending_approval'], 5000);
  return { id, approval: await h.approval('amy', body.signedRequest) };
}

let signedPolicy: unknown;
let signedRegistry: unknown;
let someRequest: string;

/** A concrete, valid call for each route: url, body, and the success status. */
async function callFor(method: string, path: string): Promise<{ url: string; body?: unknown; ok: number }> {
  const jwk = (await makeKey('x')).publicJwk;
  switch (`${method} ${path}`) {
    case 'POST /v1/operators':
      return { url: path, body: { id: `new-${++seq}`, roles: ['viewer'], publicKey: jwk }, ok: 201 };
    case 'GET /v1/operators/:id':
      return { url: '/v1/operators/vic', ok: 200 };
    case 'PATCH /v1/operators/:id':
      return { url: '/v1/operators/dummy', body: { roles: ['viewer'] }, ok: 200 };
    case 'PUT /v1/policy':
      return { url: path, body: signedPolicy, ok: 200 };
    case 'PUT /v1/registry':
      return { url: path, body: signedRegistry, ok: 200 };
    case 'POST /v1/keys':
      return { url: path, body: { id: `key-${++seq}`, threshold: 2, parties: 3 }, ok: 202 };
    case 'GET /v1/keys/:id':
      return { url: '/v1/keys/k1', ok: 200 };
    case 'GET /v1/keys/:id/addresses':
      return { url: '/v1/keys/k1/addresses?path=m/0/1&chain=ethereum', ok: 200 };
    case 'POST /v1/sign-requests':
      return { url: path, body: await signRequestBody('eth.transaction'), ok: 201 };
    case 'GET /v1/sign-requests/:id':
      return { url: `/v1/sign-requests/${someRequest}`, ok: 200 };
    case 'GET /v1/sign-requests/:id/events':
      return { url: `/v1/sign-requests/${someRequest}/events`, ok: 200 };
    case 'POST /v1/sign-requests/:id/approvals': {
      const p = await pendingApproval();
      return { url: `/v1/sign-requests/${p.id}/approvals`, body: { approval: p.approval }, ok: 200 };
    }
    case 'GET /v1/audit':
      return { url: path, ok: 404 }; // no audit log in this harness: ERR_API_NOT_FOUND, after RBAC
    default:
      return { url: path, ok: 200 };
  }
}

beforeAll(async () => {
  h = await makeHarness();
  await h.readyKey('k1');
  await h.store.insertOperator(
    { id: 'dummy', publicKey: (await makeKey('d')).publicJwk as never, roles: ['viewer'] },
    1,
  );
  signedPolicy = await signDocument(bytes(policyDoc(1)), POLICY_TYP, [h.admin]);
  const reg = await h.store.listDocuments('registry');
  signedRegistry = JSON.parse((reg[0] as { raw: string }).raw);
  expect(signedRegistry).toBeDefined();
  expect(REGISTRY_TYP).toBeDefined();
  const r = await h.call('ian', 'POST', '/v1/sign-requests', await signRequestBody('eth.transaction'));
  expect(r.status).toBe(201);
  someRequest = r.json.id as string;
});
afterAll(async () => {
  await h?.close();
});

const ROLES = Object.keys(ROLE_OPERATORS);

describe('RBAC: every route × every role', () => {
  for (const route of ROUTE_ACCESS) {
    it(`${route.method} ${route.path}`, async () => {
      for (const who of [undefined, ...ROLES]) {
        const c = await callFor(route.method, route.path);
        const r = await h.call(who, route.method, c.url, c.body);
        const roles = who === undefined ? [] : (ROLE_OPERATORS[who] ?? []);
        if (route.roles === 'public') {
          expect(r.status, `${who} → ${JSON.stringify(r.json)}`).toBe(200);
        } else if (who === undefined) {
          expect(r.status).toBe(401);
          expect(r.json.code).toBe('ERR_API_UNAUTHENTICATED');
        } else if (roles.some((x) => (route.roles as readonly string[]).includes(x))) {
          expect(r.status, `${who} → ${JSON.stringify(r.json)}`).toBe(c.ok);
        } else {
          expect(r.status, `${who} → ${JSON.stringify(r.json)}`).toBe(403);
          expect(r.json.code).toBe('ERR_API_FORBIDDEN');
        }
      }
    });
  }
});

describe('authentication attacks on every authenticated route', () => {
  for (const route of ROUTE_ACCESS) {
    if (route.roles === 'public') continue;
    const role = ROLES.find((w) =>
      (ROLE_OPERATORS[w] ?? []).some((x) => (route.roles as readonly string[]).includes(x)),
    );
    it(`${route.method} ${route.path} (as ${role})`, async () => {
      const who = role as string;
      const c = await callFor(route.method, route.path);
      const body = c.body === undefined ? undefined : new TextEncoder().encode(JSON.stringify(c.body));
      const refused = async (token: string, code = 'ERR_API_UNAUTHENTICATED') => {
        const r = await h.call(undefined, route.method, c.url, c.body, { token });
        expect(r.status, JSON.stringify(r.json)).toBe(401);
        expect(r.json.code).toBe(code);
      };
      // expired (issued 10 minutes ago, lived 60 s)
      await refused(await h.token(who, route.method, c.url, body, { now: Math.floor(Date.now() / 1000) - 600 }));
      // a lifetime longer than 5 minutes
      await refused(await h.token(who, route.method, c.url, body, { lifetimeSeconds: 301 }));
      // for another body
      await refused(await h.token(who, route.method, c.url, new TextEncoder().encode('{"other":1}')));
      // for another path and another method
      await refused(await h.token(who, route.method, `${c.url}x`, body));
      await refused(await h.token(who, route.method === 'GET' ? 'POST' : 'GET', c.url, body));
      // an unknown operator (a key nobody registered, under a registered id and under a new one)
      const ghost = await makeKey(who);
      const { signApiToken } = await import('../../src/orchestrator/auth.js');
      await refused(await signApiToken(ghost, { method: route.method, url: c.url, ...(body ? { body } : {}) }));
      await refused(
        await signApiToken(await makeKey('ghost'), { method: route.method, url: c.url, ...(body ? { body } : {}) }),
      );
      // replayed: the same valid token twice
      const token = await h.token(who, route.method, c.url, body);
      const first = await h.call(undefined, route.method, c.url, c.body, { token });
      expect(first.status, JSON.stringify(first.json)).toBe(c.ok);
      await refused(token, 'ERR_API_NONCE_REPLAYED');
    });
  }

  it('a disabled operator is refused; enabled again, accepted', async () => {
    expect((await h.call('root', 'PATCH', '/v1/operators/vic', { disabled: true })).status).toBe(200);
    const r = await h.call('vic', 'GET', '/v1/keys');
    expect(r.status).toBe(401);
    expect(r.json.code).toBe('ERR_API_UNAUTHENTICATED');
    expect((await h.call('root', 'PATCH', '/v1/operators/vic', { disabled: false })).status).toBe(200);
    expect((await h.call('vic', 'GET', '/v1/keys')).status).toBe(200);
  });

  it('a malformed Authorization header is refused', async () => {
    for (const token of ['', 'a.b', 'x'.repeat(5000), 'e30.e30.']) {
      const r = await h.call(undefined, 'GET', '/v1/keys', undefined, { token });
      expect(r.status).toBe(401);
    }
  });
});
