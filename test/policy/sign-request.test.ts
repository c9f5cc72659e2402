/**
 * `verifySignRequest` on its own (issue 21: each check of the initiator's signed request has a
 * test that fails when the check is removed or its bound moves): size, shape, type, initiator,
 * role, signature, JSON, schema, network, validity window at its boundaries, payload binding.
 * The co-signer's use of it is tested in cosigner.test.ts.
 */
import { CompactSign } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { MpcError } from '../../src/errors/index.js';
import {
  MAX_CLOCK_SKEW_SECONDS,
  MAX_REQUEST_LIFETIME_SECONDS,
  MAX_SIGN_REQUEST_BYTES,
  type OperatorRegistry,
  parseRegistry,
  payloadDigest,
  requestDigest,
  SIGN_REQUEST_TYP,
  type SignRequestPayload,
  signSignRequest,
  verifySignRequest,
} from '../../src/policy/index.js';
import { makeKey, type OperatorKey } from '../helpers/operator-keys.js';

const NOW = 1_800_000_000;
const PAYLOAD = new TextEncoder().encode('a transaction');
let alice: OperatorKey; // initiator
let vic: OperatorKey; // viewer
let dan: OperatorKey; // initiator, disabled
let mallory: OperatorKey; // not registered
let registry: OperatorRegistry;

beforeAll(async () => {
  [alice, vic, dan, mallory] = (await Promise.all(['alice', 'vic', 'dan', 'mallory'].map((id) => makeKey(id)))) as [
    OperatorKey,
    OperatorKey,
    OperatorKey,
    OperatorKey,
  ];
  registry = await parseRegistry({
    schema: 'mpc-custody/operators@1',
    version: 1,
    operators: [
      { id: 'alice', roles: ['initiator'], publicKey: alice.publicJwk },
      { id: 'vic', roles: ['viewer'], publicKey: vic.publicJwk },
      { id: 'dan', roles: ['initiator'], publicKey: dan.publicJwk, disabled: true },
    ],
  });
});

const claims = (o: Partial<SignRequestPayload> = {}): SignRequestPayload => ({
  v: 1,
  keyId: 'hot',
  kind: 'eth.transaction',
  payloadSha256: payloadDigest(PAYLOAD),
  path: [0, 7],
  idempotencyKey: 'withdrawal-1',
  iat: NOW - 10,
  exp: NOW + 600,
  ...o,
});

/** A compact JWS over raw `body` bytes with `header` (what a broken or hostile client could send). */
const raw = (body: Uint8Array, header: Record<string, unknown>, by: OperatorKey = alice) =>
  new CompactSign(body).setProtectedHeader({ alg: by.alg, ...header }).sign(by.privateKey);

async function refused(jws: unknown, payload = PAYLOAD, now = NOW): Promise<{ code: string; message: string }> {
  try {
    await verifySignRequest(jws as string, payload, registry, now);
  } catch (e) {
    expect(e).toBeInstanceOf(MpcError);
    return { code: (e as MpcError).code, message: (e as MpcError).reason };
  }
  return { code: 'verified', message: '' };
}
const invalid = (message: string) => ({ code: 'ERR_POLICY_REQUEST_INVALID', message });

describe('verifySignRequest', () => {
  it('verifies an initiator’s request: the claims, the operator, the digest of the JWS text', async () => {
    const jws = await signSignRequest(claims(), alice);
    const v = await verifySignRequest(jws, PAYLOAD, registry, NOW);
    expect(v.request).toEqual(claims());
    expect(v.initiator.id).toBe('alice');
    expect(v.digest).toBe(requestDigest(jws));
    expect(v.digest).toMatch(/^[0-9a-f]{64}$/);
  });

  it('refuses what is not a bounded compact JWS before decoding it', async () => {
    const jws = await signSignRequest(claims(), alice);
    expect(await refused(`${jws}${' '.repeat(MAX_SIGN_REQUEST_BYTES + 1 - jws.length)}`)).toEqual(
      invalid('sign request is not a compact JWS of bounded size'),
    );
    expect(await refused(42)).toEqual(invalid('sign request is not a compact JWS of bounded size'));
    expect(await refused('not.a-jws')).toEqual(invalid('sign request is not a compact JWS'));
    // exactly at the bound is not refused for its size (it fails its signature instead)
    expect(await refused(`${jws}${'A'.repeat(MAX_SIGN_REQUEST_BYTES - jws.length)}`)).toEqual(
      invalid('sign request signature by alice does not verify'),
    );
  });

  it('refuses another type, no initiator, an unknown or disabled operator, and one without the initiator role', async () => {
    const body = new TextEncoder().encode(JSON.stringify(claims()));
    expect(await refused(await raw(body, { kid: 'alice', typ: 'JWT' }))).toEqual(
      invalid('sign request has the wrong type'),
    );
    expect(await refused(await raw(body, { typ: SIGN_REQUEST_TYP }))).toEqual(
      invalid('sign request names no initiator'),
    );
    expect(await refused(await signSignRequest(claims(), mallory))).toEqual(
      invalid('sign request by unknown or disabled operator mallory'),
    );
    expect(await refused(await signSignRequest(claims(), dan))).toEqual(
      invalid('sign request by unknown or disabled operator dan'),
    );
    expect(await refused(await signSignRequest(claims(), vic))).toEqual(
      invalid('operator vic does not hold the initiator role'),
    );
  });

  it('refuses a signature by another key under the initiator’s name, a body that is not JSON, and one off the schema', async () => {
    expect(await refused(await signSignRequest(claims(), { ...mallory, kid: 'alice' }))).toEqual(
      invalid('sign request signature by alice does not verify'),
    );
    const header = { kid: 'alice', typ: SIGN_REQUEST_TYP };
    expect(await refused(await raw(new TextEncoder().encode('{"v":1'), header))).toEqual(
      invalid('sign request by alice is not JSON'),
    );
    // invalid UTF-8 inside a JSON string
    expect(await refused(await raw(Uint8Array.from([0x22, 0xc3, 0x28, 0x22]), header))).toEqual(
      invalid('sign request by alice is not JSON'),
    );
    const extra = new TextEncoder().encode(JSON.stringify({ ...claims(), amount: '1' }));
    expect(await refused(await raw(extra, header))).toEqual(
      invalid('sign request by alice does not match the request schema'),
    );
  });

  it('refuses claims off the schema, each bound at one past (and accepts each at the bound)', async () => {
    const schema = invalid('sign request by alice does not match the request schema');
    const ok = { code: 'verified', message: '' };
    const at = async (c: Partial<SignRequestPayload>) => refused(await signSignRequest(claims(c), alice));
    const h = payloadDigest(PAYLOAD);
    const cases: Array<[Partial<SignRequestPayload>, typeof ok]> = [
      [{ keyId: `k${'x'.repeat(63)}` }, ok],
      [{ keyId: `k${'x'.repeat(64)}` }, schema],
      [{ keyId: '-hot' }, schema],
      [{ keyId: 'hot/1' }, schema],
      [{ payloadSha256: h.toUpperCase() }, schema],
      [{ payloadSha256: h.slice(2) }, schema],
      [{ path: [2 ** 31 - 1] }, ok],
      [{ path: [2 ** 31] }, schema],
      [{ path: [-1] }, schema],
      [{ path: Array.from({ length: 255 }, () => 0) }, ok],
      [{ path: Array.from({ length: 256 }, () => 0) }, schema],
      [{ idempotencyKey: 'k'.repeat(128) }, ok],
      [{ idempotencyKey: 'k'.repeat(129) }, schema],
      [{ idempotencyKey: '' }, schema],
      [{ idempotencyKey: 'with space' }, schema],
      [{ iat: -1, exp: 10 }, schema],
      [{ iat: 0, exp: -1 }, schema],
    ];
    for (const [c, expected] of cases) expect(await at(c), JSON.stringify(c).slice(0, 80)).toEqual(expected);
  });

  it('names a hostile operator id in at most 64 characters; the lifetime bound is 7 days', async () => {
    const body = new TextEncoder().encode(JSON.stringify(claims()));
    const kid = 'm'.repeat(500);
    expect(await refused(await raw(body, { kid, typ: SIGN_REQUEST_TYP }))).toEqual(
      invalid(`sign request by unknown or disabled operator ${'m'.repeat(64)}`),
    );
    expect(MAX_REQUEST_LIFETIME_SECONDS).toBe(604_800);
    expect(SIGN_REQUEST_TYP).toBe('mpc-custody-sign-request+json');
  });

  it('a network only on a btc.psbt request', async () => {
    expect(await refused(await signSignRequest(claims({ network: 'testnet' }), alice))).toEqual(
      invalid('only a btc.psbt request names a network'),
    );
    const psbt = claims({ kind: 'btc.psbt', network: 'testnet' });
    delete (psbt as { path?: unknown }).path;
    expect((await verifySignRequest(await signSignRequest(psbt, alice), PAYLOAD, registry, NOW)).request.network).toBe(
      'testnet',
    );
  });

  it('the validity window at its boundaries: lifetime, clock skew, expiry', async () => {
    const at = async (c: Partial<SignRequestPayload>, now = NOW) =>
      refused(await signSignRequest(claims(c), alice), PAYLOAD, now);
    const window = invalid('sign request validity window is invalid');
    expect(await at({ iat: NOW, exp: NOW })).toEqual(window);
    expect(await at({ iat: NOW, exp: NOW - 1 })).toEqual(window);
    expect(await at({ iat: NOW - 1, exp: NOW - 1 + MAX_REQUEST_LIFETIME_SECONDS })).toEqual({
      code: 'verified',
      message: '',
    });
    expect(await at({ iat: NOW - 1, exp: NOW + MAX_REQUEST_LIFETIME_SECONDS })).toEqual(window);
    // issued up to the skew in the future: accepted; one second more: refused
    expect(await at({ iat: NOW + MAX_CLOCK_SKEW_SECONDS, exp: NOW + 600 })).toEqual({ code: 'verified', message: '' });
    expect(await at({ iat: NOW + MAX_CLOCK_SKEW_SECONDS + 1, exp: NOW + 600 })).toEqual(
      invalid('sign request is issued in the future (clock skew?)'),
    );
    // valid until the second before exp
    expect(await at({ iat: NOW - 100, exp: NOW + 1 })).toEqual({ code: 'verified', message: '' });
    expect(await at({ iat: NOW - 100, exp: NOW })).toEqual(invalid('sign request has expired'));
  });

  it('binds the payload bytes by their hash', async () => {
    const jws = await signSignRequest(claims(), alice);
    expect(await refused(jws, new TextEncoder().encode('another transaction'))).toEqual({
      code: 'ERR_POLICY_PAYLOAD_MISMATCH',
      message: 'payload bytes are not the ones the initiator signed',
    });
  });
});
