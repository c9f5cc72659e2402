/**
 * The co-signer check every party runs before a partial signature leaves: each attack from the
 * policy issue must end in a typed refusal (and the caller then consumes nothing).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { MpcError } from '../../src/errors/index.js';
import {
  authorizeSignRequest,
  type CosignRequest,
  type CosignTrust,
  type DecodedIntent,
  loadAdminSet,
  type OperatorRegistry,
  POLICY_TYP,
  type PolicyVersion,
  parseRegistry,
  payloadDigest,
  REGISTRY_TYP,
  requestDigest,
  type SignRequestPayload,
  type SpendRecord,
  signApproval,
  signDocument,
  signSignRequest,
  verifySignedPolicy,
  verifySignedRegistry,
} from '../../src/policy/index.js';
import { makeKey, type OperatorKey } from '../helpers/operator-keys.js';

type Key = OperatorKey;
const bytes = (o: unknown) => new TextEncoder().encode(JSON.stringify(o));

const NOW = Math.floor(Date.now() / 1000);
const EXCHANGE = '0x1111111111111111111111111111111111111111';
const OTHER = '0x4444444444444444444444444444444444444444';

// A test payload format: JSON {to, wei}; the real decoders live in src/chains.
const payloadOf = (to: string, wei: bigint) => bytes({ to, wei: wei.toString() });
const decode = (_kind: string, payload: Uint8Array, path: readonly number[] | undefined): DecodedIntent => {
  const p = JSON.parse(new TextDecoder().decode(payload)) as { to: string; wei: string };
  return {
    kind: 'eth.transaction',
    operation: 'transfer',
    chain: 'eth',
    chainId: 1,
    paths: [path ?? []],
    transfers: [{ asset: 'ETH', destination: p.to, amount: BigInt(p.wei) }],
  };
};
const ETH = 10n ** 18n;

const policyDoc = (version: number) => ({
  schema: 'mpc-custody/policy@1',
  version,
  addressBook: { exchanges: { chain: 'eth', addresses: [EXCHANGE] } },
  prices: { ETH: { decimals: 18, usd: '2000' } },
  rules: [
    {
      id: 'hourly-cap',
      match: { velocity: { windowSeconds: 3600, currency: 'USD', above: '100000', aggregate: 'key' } },
      action: 'block',
    },
    { id: 'whitelist', match: { destinations: { addressBook: ['exchanges'] } }, action: 'allow' },
    {
      id: 'one-time',
      match: { operations: ['transfer'] },
      action: 'require_approvals',
      approvals: {
        groups: [{ name: 'treasury', members: { groups: ['treasury'] }, threshold: 2 }],
        combine: 'all',
        timeoutSeconds: 3600,
      },
    },
  ],
});

let alice: Key; // initiator
let vic: Key; // viewer
let tom: Key; // approvers
let tina: Key;
let registry: OperatorRegistry;
let policies: Map<number, PolicyVersion>;

beforeAll(async () => {
  const admins = await Promise.all(['a1', 'a2', 'a3'].map((id) => makeKey(id)));
  const adminSet = await loadAdminSet({
    threshold: 2,
    admins: admins.map((a) => ({ id: a.kid, publicKey: a.publicJwk })),
  });
  [alice, vic, tom, tina] = (await Promise.all(['alice', 'vic', 'tom', 'tina'].map((id) => makeKey(id)))) as [
    Key,
    Key,
    Key,
    Key,
  ];
  const reg = {
    schema: 'mpc-custody/operators@1',
    version: 1,
    operators: [
      { id: 'alice', roles: ['initiator'], publicKey: alice.publicJwk },
      { id: 'vic', roles: ['viewer'], publicKey: vic.publicJwk },
      { id: 'tom', roles: ['approver'], groups: ['treasury'], publicKey: tom.publicJwk },
      { id: 'tina', roles: ['approver'], groups: ['treasury'], publicKey: tina.publicJwk },
    ],
  };
  registry = (await verifySignedRegistry(await signDocument(bytes(reg), REGISTRY_TYP, admins.slice(0, 2)), adminSet))
    .registry;
  const v3 = await verifySignedPolicy(
    await signDocument(bytes(policyDoc(3)), POLICY_TYP, admins.slice(1, 3)),
    adminSet,
  );
  policies = new Map([[3, v3]]);
  expect(await parseRegistry(reg)).toBeDefined();
});

async function request(
  o: { payload?: Uint8Array; by?: Key; claims?: Partial<SignRequestPayload>; signedPayload?: Uint8Array } = {},
) {
  const payload = o.payload ?? payloadOf(OTHER, ETH);
  const claims: SignRequestPayload = {
    v: 1,
    keyId: 'hot',
    kind: 'eth.transaction',
    payloadSha256: payloadDigest(o.signedPayload ?? payload),
    path: [0, 7],
    idempotencyKey: 'withdrawal-1',
    iat: NOW - 10,
    exp: NOW + 600,
    ...o.claims,
  };
  return { signedRequest: await signSignRequest(claims, o.by ?? alice), payload };
}
const approve = (by: Key, signedRequest: string, o: Record<string, unknown> = {}) =>
  signApproval(
    {
      request: requestDigest(signedRequest),
      decision: 'approve',
      policyVersion: 3,
      iat: NOW - 5,
      exp: NOW + 600,
      ...o,
    } as never,
    by,
  );

const trust = (o: Partial<CosignTrust> = {}): CosignTrust => ({
  policies,
  registry,
  history: [],
  decode,
  now: NOW,
  ...o,
});
const cmd = (r: { signedRequest: string; payload: Uint8Array }, o: Partial<CosignRequest> = {}): CosignRequest => ({
  ...r,
  keyId: 'hot',
  policyVersion: 3,
  approvals: [],
  ...o,
});
async function refusal(c: CosignRequest, t = trust()): Promise<{ code: string; rule?: unknown; message: string }> {
  try {
    await authorizeSignRequest(c, t);
  } catch (e) {
    expect(e).toBeInstanceOf(MpcError);
    const m = e as MpcError;
    return { code: m.code, rule: m.details.rule, message: m.message };
  }
  return { code: 'authorized', message: '' };
}

describe('authorizeSignRequest', () => {
  it('authorizes a whitelisted transfer and returns the spend to record', async () => {
    const r = await request({ payload: payloadOf(EXCHANGE, 2n * ETH) });
    const a = await authorizeSignRequest(cmd(r), trust());
    expect(a.decision.ruleId).toBe('whitelist');
    expect(a.intent.initiator.id).toBe('alice');
    expect(a.intent.paths).toEqual([[0, 7]]);
    expect(a.spend).toEqual({
      at: NOW,
      keyId: 'hot',
      initiator: 'alice',
      transfers: [{ asset: 'ETH', destination: EXCHANGE, amount: 2n * ETH }],
    });
  });

  it('authorizes a transfer that needs approvals once two treasury approvers signed', async () => {
    const r = await request();
    const a = await authorizeSignRequest(
      cmd(r, { approvals: [await approve(tom, r.signedRequest), await approve(tina, r.signedRequest)] }),
      trust(),
    );
    expect(a.decision.ruleId).toBe('one-time');
  });

  it('refuses a command that carries no initiator request', async () => {
    const r = await request();
    expect((await refusal(cmd({ ...r, signedRequest: '' }))).code).toBe('ERR_POLICY_REQUEST_INVALID');
  });

  it('refuses a request signed by someone else under the initiator’s name', async () => {
    const r = await request({ by: { ...vic, kid: 'alice' } });
    expect(await refusal(cmd(r))).toMatchObject({
      code: 'ERR_POLICY_REQUEST_INVALID',
      message: expect.stringContaining('does not verify'),
    });
  });

  it('refuses a request by an operator without the initiator role', async () => {
    const r = await request({ by: vic });
    expect(await refusal(cmd(r))).toMatchObject({
      code: 'ERR_POLICY_REQUEST_INVALID',
      message: expect.stringContaining('initiator role'),
    });
  });

  it('refuses a payload other than the one the initiator signed', async () => {
    const r = await request({ payload: payloadOf(EXCHANGE, ETH) });
    expect((await refusal(cmd({ ...r, payload: payloadOf(OTHER, 1000n * ETH) }))).code).toBe(
      'ERR_POLICY_PAYLOAD_MISMATCH',
    );
  });

  it('refuses a request made for another key', async () => {
    const r = await request({ payload: payloadOf(EXCHANGE, ETH) });
    expect((await refusal(cmd(r, { keyId: 'cold' }))).code).toBe('ERR_POLICY_REQUEST_INVALID');
  });

  it('holds a PSBT to the network the initiator signed (default mainnet), never the relayed one', async () => {
    const psbt = { kind: 'btc.psbt' as const, path: undefined };
    const onTestnet = await request({ payload: payloadOf(EXCHANGE, ETH), claims: { ...psbt, network: 'testnet' } });
    expect((await authorizeSignRequest(cmd(onTestnet, { network: 'testnet' }), trust())).decision.ruleId).toBe(
      'whitelist',
    );
    for (const relayed of ['mainnet', 'regtest', undefined] as const) {
      expect(await refusal(cmd(onTestnet, relayed ? { network: relayed } : {}))).toMatchObject({
        code: 'ERR_POLICY_REQUEST_INVALID',
        message: expect.stringContaining('network'),
      });
    }
    const unnamed = await request({ payload: payloadOf(EXCHANGE, ETH), claims: psbt });
    expect((await refusal(cmd(unnamed, { network: 'regtest' }))).code).toBe('ERR_POLICY_REQUEST_INVALID');
    expect((await authorizeSignRequest(cmd(unnamed, { network: 'mainnet' }), trust())).decision.ruleId).toBe(
      'whitelist',
    );
    // a network named on another kind is a malformed request, not something to ignore
    const ethWithNetwork = await request({ payload: payloadOf(EXCHANGE, ETH), claims: { network: 'testnet' } });
    expect(await refusal(cmd(ethWithNetwork))).toMatchObject({
      code: 'ERR_POLICY_REQUEST_INVALID',
      message: expect.stringContaining('names a network'),
    });
  });

  it('refuses an expired request and one issued in the future', async () => {
    const old = await request({ payload: payloadOf(EXCHANGE, ETH), claims: { iat: NOW - 700, exp: NOW - 1 } });
    expect((await refusal(cmd(old))).message).toContain('expired');
    const future = await request({ payload: payloadOf(EXCHANGE, ETH), claims: { iat: NOW + 3600, exp: NOW + 7200 } });
    expect((await refusal(cmd(future))).message).toContain('future');
  });

  it('refuses a policy version this holder does not hold', async () => {
    const r = await request({ payload: payloadOf(EXCHANGE, ETH) });
    expect((await refusal(cmd(r, { policyVersion: 2 }))).code).toBe('ERR_POLICY_VERSION_UNKNOWN');
    expect((await refusal(cmd(r, { policyVersion: 4 }))).code).toBe('ERR_POLICY_VERSION_UNKNOWN');
  });

  it('evaluates a replaced version only for a request issued before its replacement', async () => {
    const r = await request({ payload: payloadOf(EXCHANGE, ETH) }); // iat NOW - 10
    // version 3 replaced at NOW - 5 (after the request was issued): the request keeps it
    const before = trust({ supersededAt: new Map([[3, NOW - 5]]) });
    expect((await authorizeSignRequest(cmd(r), before)).decision.policyVersion).toBe(3);
    // replaced at the second the request was issued, or before: refused, naming the version
    for (const at of [NOW - 10, NOW - 60]) {
      expect(await refusal(cmd(r), trust({ supersededAt: new Map([[3, at]]) }))).toMatchObject({
        code: 'ERR_POLICY_VERSION_OLD',
        rule: 'policy-held',
      });
    }
    // another version's replacement time does not bear on this one
    expect(
      (await authorizeSignRequest(cmd(r), trust({ supersededAt: new Map([[2, NOW - 60]]) }))).decision.ruleId,
    ).toBe('whitelist');
  });

  it('refuses without approvals, naming the rule', async () => {
    const r = await request();
    expect(await refusal(cmd(r))).toMatchObject({ code: 'ERR_POLICY_APPROVALS_MISSING', rule: 'one-time' });
  });

  it('refuses with one approval too few', async () => {
    const r = await request();
    expect((await refusal(cmd(r, { approvals: [await approve(tom, r.signedRequest)] }))).code).toBe(
      'ERR_POLICY_APPROVALS_MISSING',
    );
  });

  it('does not count a forged approval (an approver’s name, another key)', async () => {
    const r = await request();
    const forged = await approve({ ...vic, kid: 'tina' }, r.signedRequest);
    expect((await refusal(cmd(r, { approvals: [await approve(tom, r.signedRequest), forged] }))).code).toBe(
      'ERR_POLICY_APPROVALS_MISSING',
    );
  });

  it('does not count approvals replayed from another request', async () => {
    const other = await request({ claims: { idempotencyKey: 'withdrawal-2' } });
    const r = await request();
    const replayed = [await approve(tom, other.signedRequest), await approve(tina, other.signedRequest)];
    expect((await refusal(cmd(r, { approvals: replayed }))).code).toBe('ERR_POLICY_APPROVALS_MISSING');
  });

  it('does not count expired approvals or approvals given under another policy version', async () => {
    const r = await request();
    const expired = [
      await approve(tom, r.signedRequest, { iat: NOW - 700, exp: NOW }),
      await approve(tina, r.signedRequest),
    ];
    expect((await refusal(cmd(r, { approvals: expired }))).code).toBe('ERR_POLICY_APPROVALS_MISSING');
    const otherVersion = [
      await approve(tom, r.signedRequest, { policyVersion: 2 }),
      await approve(tina, r.signedRequest),
    ];
    expect((await refusal(cmd(r, { approvals: otherVersion }))).code).toBe('ERR_POLICY_APPROVALS_MISSING');
  });

  it('a rejection ends the request', async () => {
    const r = await request();
    const approvals = [
      await approve(tom, r.signedRequest),
      await approve(tina, r.signedRequest, { decision: 'reject' }),
    ];
    expect((await refusal(cmd(r, { approvals }))).code).toBe('ERR_POLICY_REJECTED');
  });

  it('an unapproved request expires with the rule’s timeout', async () => {
    const r = await request({ claims: { iat: NOW - 3600, exp: NOW + 600 } });
    expect((await refusal(cmd(r, { approvals: [await approve(tom, r.signedRequest)] }))).code).toBe(
      'ERR_POLICY_EXPIRED',
    );
  });

  it('refuses by its own velocity record even when the orchestrator forgot what it signed', async () => {
    const r = await request({ payload: payloadOf(EXCHANGE, 20n * ETH) });
    const history: SpendRecord[] = [
      {
        at: NOW - 60,
        keyId: 'hot',
        initiator: 'bob',
        transfers: [{ asset: 'ETH', destination: OTHER, amount: 31n * ETH }],
      },
    ];
    expect(await refusal(cmd(r), trust({ history }))).toMatchObject({ code: 'ERR_POLICY_BLOCKED', rule: 'hourly-cap' });
    expect((await refusal(cmd(r), trust({ history: [] }))).code).toBe('authorized');
  });

  it('passes the decoder’s own refusal through and decodes nothing for a bad request', async () => {
    const r = await request({ payload: payloadOf(EXCHANGE, ETH) });
    let decoded = 0;
    const failing = trust({
      decode: () => {
        decoded++;
        throw new MpcError('ERR_POLICY_INTENT_INVALID', 'payload does not decode');
      },
    });
    expect((await refusal(cmd(r), failing)).code).toBe('ERR_POLICY_INTENT_INVALID');
    expect((await refusal(cmd({ ...r, signedRequest: r.signedRequest.slice(0, -4) }), failing)).code).toBe(
      'ERR_POLICY_REQUEST_INVALID',
    );
    expect(decoded).toBe(1);
  });
});
