/**
 * The API's request decoders fuzzed (fast-check): arbitrary JSON values, near-valid bodies with one
 * field mutated, and raw byte strings, sent authenticated to every state-changing route. Every
 * answer must be a 4xx with a catalogue code and the `{code, message}` shape (never a 5xx, never a
 * crash), and a refused sign request stores nothing.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../src/errors/codes.js';
import { type Harness, makeHarness } from './harness.js';

let h: Harness;
const RUNS = 60;

beforeAll(async () => {
  h = await makeHarness();
  await h.readyKey('k1');
});
afterAll(async () => {
  await h?.close();
});

const ROUTES: [string, string, string][] = [
  ['ian', 'POST', '/v1/sign-requests'],
  ['root', 'POST', '/v1/operators'],
  ['root', 'PATCH', '/v1/operators/vic'],
  ['root', 'POST', '/v1/keys'],
  ['root', 'PUT', '/v1/policy'],
  ['root', 'PUT', '/v1/registry'],
  ['amy', 'POST', `/v1/sign-requests/sr_${'0'.repeat(28)}/approvals`],
];

function expectRefusal(r: { status: number; json: Record<string, unknown> }, what: string) {
  expect(r.status, `${what} → ${JSON.stringify(r.json)}`).toBeGreaterThanOrEqual(400);
  expect(r.status, `${what} → ${JSON.stringify(r.json)}`).toBeLessThan(500);
  expect(Object.keys(r.json).sort()).toEqual(['code', 'message']);
  expect(Object.hasOwn(ERROR_CODES, r.json.code as string)).toBe(true);
}

describe('API decoders under fuzzing', () => {
  it('arbitrary JSON values and raw strings are refused with 4xx catalogue codes', async () => {
    const before = (await h.store.listSignRequests({ limit: 100 })).length;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...ROUTES),
        fc.oneof(
          fc.jsonValue().map((v) => JSON.stringify(v)),
          fc.string({ maxLength: 300 }),
          fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b).toString('latin1')),
        ),
        async ([who, method, url], raw) => {
          const r = await h.call(who, method, url, undefined, { raw });
          // an arbitrary value can happen to be a valid empty patch or document only in theory
          expectRefusal(r, `${method} ${url} ${raw.slice(0, 80)}`);
        },
      ),
      { numRuns: RUNS },
    );
    expect((await h.store.listSignRequests({ limit: 100 })).length).toBe(before);
  });

  it('near-valid sign requests (one field replaced by an arbitrary value) never crash the decoders', async () => {
    const payload = new Uint8Array(32).fill(1);
    const signedRequest = await h.signedRequest({ payload, kind: 'raw.digest', idempotencyKey: 'fuzz' });
    const good: Record<string, unknown> = {
      keyId: 'k1',
      kind: 'raw.digest',
      payload: `0x${Buffer.from(payload).toString('hex')}`,
      signedRequest,
      idempotencyKey: 'fuzz',
    };
    const before = (await h.store.listSignRequests({ limit: 100 })).length;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...Object.keys(good), 'network', 'payloadEncoding', 'extra'),
        fc.oneof(fc.jsonValue(), fc.string({ maxLength: 200 }), fc.constantFrom('0x', '', 'AAAA', 'regtest', 'base64')),
        async (field, value) => {
          const body = { ...good, [field]: value };
          const r = await h.call('ian', 'POST', '/v1/sign-requests', body);
          if (r.status < 400) {
            // only values that leave the body valid and the same request may pass (e.g. network)
            expect([200, 201]).toContain(r.status);
          } else {
            expectRefusal(r, `${field}=${JSON.stringify(value).slice(0, 80)}`);
          }
        },
      ),
      { numRuns: RUNS },
    );
    // at most the one valid request was stored
    expect((await h.store.listSignRequests({ limit: 100 })).length - before).toBeLessThanOrEqual(1);
  });
});
