import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hexToBytes } from '@noble/hashes/utils.js';
import Database from 'better-sqlite3';
import { importJWK } from 'jose';
import { serializeTransaction } from 'viem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPartyConfig } from '../../src/daemon/config.js';
import {
  decodeStartCommand,
  encodeStartCommand,
  MAX_APPROVALS,
  type SignAuthorization,
  type StartCommand,
} from '../../src/daemon/control.js';
import { loadPartyPolicy } from '../../src/daemon/policy-config.js';
import { KEEP_SUPERSEDED_SECONDS, PolicyGuard, type SignCheck } from '../../src/daemon/policy-guard.js';
import { setupPartySet } from '../../src/daemon/setup.js';
import { MpcError } from '../../src/errors/index.js';
import {
  type AdminSet,
  loadAdminSet,
  POLICY_TYP,
  payloadDigest,
  REGISTRY_TYP,
  type SignRequestPayload,
  signDocument,
  signSignRequest,
} from '../../src/policy/index.js';
import { MAX_SPENDS_READ, PartyLedger } from '../../src/storage/party-ledger.js';
import { WireWriter } from '../../src/util/wire.js';
import { makeKey, type OperatorKey } from '../helpers/operator-keys.js';

/**
 * The party's co-signer guard on its own (policy-guard.ts) over a real ledger, and the v3 sign
 * command's bounds: each check attacked directly (fast; the process-level attacks are in
 * cosign-process.test.ts).
 */
const ETH = 10n ** 18n;
const TO = '0x1111111111111111111111111111111111111111';
const bytes = (o: unknown) => new TextEncoder().encode(JSON.stringify(o));
const NOW = Math.floor(Date.now() / 1000);
let nonce = 0;
const tx = (wei: bigint) =>
  hexToBytes(
    serializeTransaction({
      type: 'eip1559',
      chainId: 1,
      nonce: nonce++,
      to: TO,
      value: wei,
      gas: 21_000n,
      maxFeePerGas: 1n,
      maxPriorityFeePerGas: 1n,
    }).slice(2),
  );

const policy = (version: number, capEth: bigint) => ({
  schema: 'mpc-custody/policy@1',
  version,
  rules: [
    {
      id: 'daily-cap',
      match: {
        assets: ['ETH'],
        velocity: { windowSeconds: 86_400, currency: 'native', above: (capEth * ETH).toString(), aggregate: 'key' },
      },
      action: 'block',
    },
    { id: 'eth', match: { kinds: ['eth.transaction'] }, action: 'allow' },
  ],
});

let dir: string;
let admins: OperatorKey[];
let adminSet: AdminSet;
let alice: OperatorKey;
let ledger: PartyLedger;
let guard: PolicyGuard;

async function request(payload: Uint8Array, claims: Partial<SignRequestPayload> = {}): Promise<string> {
  return signSignRequest(
    {
      v: 1,
      keyId: 'k',
      kind: 'eth.transaction',
      payloadSha256: payloadDigest(payload),
      path: [0, 1],
      idempotencyKey: `r${nonce}`,
      iat: NOW - 5,
      exp: NOW + 600,
      ...claims,
    },
    alice,
  );
}
const check = (payload: Uint8Array, authorization?: SignAuthorization, kind = 'eth.transaction'): SignCheck => ({
  keyId: 'k',
  kind: kind as 'eth.transaction',
  payload,
  network: 'mainnet',
  authorization,
  key: undefined,
});
const auth = (signedRequest: string, policyVersion = 1): SignAuthorization => ({
  signedRequest,
  policyVersion,
  approvals: [],
});
async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(MpcError);
    return `${(e as MpcError).code}:${String((e as MpcError).details.rule ?? '')}`;
  }
  return 'accepted';
}
/** An enforcing guard over `ledger` that holds a registry with alice as the initiator. */
async function guardWithRegistry(ledger: PartyLedger): Promise<PolicyGuard> {
  const g = new PolicyGuard({ mode: 'enforce', admins: adminSet }, ledger);
  const registry = {
    schema: 'mpc-custody/operators@1',
    version: 1,
    operators: [{ id: 'alice', roles: ['initiator'], publicKey: alice.publicJwk }],
  };
  await g.accept('registry', bytes(await signDocument(bytes(registry), REGISTRY_TYP, admins.slice(0, 3))));
  return g;
}
const policyDoc = async (version: number, cap: bigint, signers = admins.slice(0, 3)) =>
  new TextEncoder().encode(JSON.stringify(await signDocument(bytes(policy(version, cap)), POLICY_TYP, signers)));

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mpc-guard-'));
  admins = await Promise.all(['a1', 'a2', 'a3', 'a4', 'a5'].map((id) => makeKey(id)));
  adminSet = await loadAdminSet({ threshold: 3, admins: admins.map((a) => ({ id: a.kid, publicKey: a.publicJwk })) });
  alice = await makeKey('alice');
  ledger = PartyLedger.open(join(dir, 'ledger.db'), 0);
  guard = new PolicyGuard({ mode: 'enforce', admins: adminSet }, ledger);
  const registry = {
    schema: 'mpc-custody/operators@1',
    version: 1,
    operators: [{ id: 'alice', roles: ['initiator'], publicKey: alice.publicJwk }],
  };
  const reg = await signDocument(bytes(registry), REGISTRY_TYP, admins.slice(2, 5));
  expect((await guard.accept('registry', bytes(reg))).version).toBe(1);
  expect((await guard.accept('policy', await policyDoc(1, 3n))).version).toBe(1);
});
afterAll(() => {
  ledger?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('party policy guard', () => {
  it('refuses a sign without a signed request, and everything when no admin set is configured', async () => {
    const p = tx(1n);
    expect(await refusal(guard.authorize(check(p), NOW))).toBe('ERR_POLICY_REQUEST_INVALID:request-required');
    const closed = new PolicyGuard({ mode: 'enforce', admins: undefined }, ledger);
    expect(await refusal(closed.authorize(check(p, auth(await request(p))), NOW))).toBe(
      'ERR_POLICY_ADMIN_SET_INVALID:admin-set',
    );
    expect(await refusal(closed.accept('policy', await policyDoc(9, 3n)))).toBe('ERR_POLICY_ADMIN_SET_INVALID:');
    const off = new PolicyGuard({ mode: 'off' }, ledger);
    expect(await off.authorize(check(p), NOW)).toBeUndefined();
  });

  it('holds the command to the signed request: kind, key; returns the signed path for the presignature check', async () => {
    const p = tx(1n);
    const r = await request(p);
    expect(await refusal(guard.authorize(check(p, auth(r)), NOW))).toBe('accepted');
    expect((await guard.authorize(check(p, auth(r)), NOW))?.path).toEqual([0, 1]);
    expect(await refusal(guard.authorize(check(p, auth(r), 'eth.message'), NOW))).toBe(
      'ERR_POLICY_REQUEST_INVALID:request-kind',
    );
    expect(await refusal(guard.authorize({ ...check(p, auth(r)), keyId: 'other' }, NOW))).toBe(
      'ERR_POLICY_REQUEST_INVALID:',
    );
    // only the current version counts
    expect(await refusal(guard.authorize(check(p, auth(r, 2)), NOW))).toMatch(/^ERR_POLICY_VERSION_UNKNOWN/);
  });

  it('fails closed when the velocity window holds more spends than one read returns; a policy without velocity reads none', async () => {
    const path = join(dir, 'full.db');
    const full = PartyLedger.open(path, 0);
    try {
      const g = new PolicyGuard({ mode: 'enforce', admins: adminSet }, full);
      const registry = {
        schema: 'mpc-custody/operators@1',
        version: 1,
        operators: [{ id: 'alice', roles: ['initiator'], publicKey: alice.publicJwk }],
      };
      await g.accept('registry', bytes(await signDocument(bytes(registry), REGISTRY_TYP, admins.slice(0, 3))));
      await g.accept('policy', await policyDoc(1, 3n));
      // more 1-wei spends inside the daily window than a read returns: a truncated history would
      // undercount the window's total, so the check refuses rather than pass on a partial sum
      const db = new Database(path);
      const insert = db.prepare(
        'INSERT INTO spends (request, at, key_id, initiator, transfers) VALUES (?, ?, ?, ?, ?)',
      );
      const transfers = JSON.stringify([{ asset: 'ETH', destination: `0x${'33'.repeat(20)}`, amount: '1' }]);
      db.exec('BEGIN');
      for (let i = 0; i <= MAX_SPENDS_READ; i++)
        insert.run(i.toString(16).padStart(64, '0'), NOW - 10, 'k', 'alice', transfers);
      db.exec('COMMIT');
      db.close();
      const p = tx(1n);
      expect(await refusal(g.authorize(check(p, auth(await request(p))), NOW))).toBe(
        'ERR_POLICY_HISTORY_TRUNCATED:velocity-history',
      );
      // policy v2 has no velocity rule: no history is read, so the same ledger does not matter
      const v2 = {
        schema: 'mpc-custody/policy@1',
        version: 2,
        rules: [{ id: 'eth', match: { kinds: ['eth.transaction'] }, action: 'allow' }],
      };
      await g.accept('policy', bytes(await signDocument(bytes(v2), POLICY_TYP, admins.slice(0, 3))));
      expect(await refusal(g.authorize(check(p, auth(await request(p), 2)), NOW))).toBe('accepted');
    } finally {
      full.close();
    }
  });

  it('velocity comes from the ledger, written with the consume; a request never counts against itself', async () => {
    const first = tx(2n * ETH);
    const r1 = await request(first);
    const permit = await guard.authorize(check(first, auth(r1)), NOW);
    if (permit === undefined) throw new Error('no permit');
    // a consume that fails (already used) writes no spend: same transaction
    ledger.consume('p-used');
    expect(() => ledger.consume('p-used', undefined, permit.spend)).toThrow(/ERR_PRESIGNATURE_USED/);
    expect(ledger.spendsSince(NOW - 100)).toHaveLength(0);
    ledger.consume('p1', undefined, permit.spend);
    expect(ledger.spendsSince(NOW - 100).map((s) => s.transfers[0]?.amount)).toEqual([2n * ETH]);
    // the same request again (another PSBT input, a retry) does not count twice…
    expect(await refusal(guard.authorize(check(first, auth(r1)), NOW))).toBe('accepted');
    ledger.consume('p2', undefined, permit.spend);
    expect(ledger.spendsSince(NOW - 100)).toHaveLength(1);
    // …but another request over the cap is blocked by the rule, whatever the coordinator remembers
    const second = tx((3n * ETH) / 2n);
    expect(await refusal(guard.authorize(check(second, auth(await request(second))), NOW))).toBe(
      'ERR_POLICY_BLOCKED:daily-cap',
    );
    // records beyond the longest window are dropped by a later consume (the table stays bounded)
    ledger.consume('p-old', undefined, { ...permit.spend, request: 'f'.repeat(64), at: NOW - 40 * 86_400 });
    expect(ledger.spendsSince(0)).toHaveLength(2);
    ledger.consume('p3', undefined, permit.spend);
    expect(ledger.spendsSince(0).map((x) => x.request)).toEqual([permit.spend.request]);
    // outside the window it no longer counts
    expect(await refusal(guard.authorize(check(second, auth(await request(second))), NOW + 86_400))).not.toBe(
      'ERR_POLICY_BLOCKED:daily-cap',
    );
  });

  it('re-decides velocity in the consume step: concurrent signs cannot together pass a cap; totals equal the records, also after a restart', async () => {
    const path = join(dir, 'race.db');
    let l = PartyLedger.open(path, 0);
    let g = await guardWithRegistry(l);
    await g.accept('policy', await policyDoc(1, 3n));
    const signed = async (wei: bigint) => {
      const p = tx(wei);
      return check(p, auth(await request(p)));
    };
    try {
      // two requests of 2 ETH: each alone is under the 3 ETH daily cap, together they are over
      const [a, b] = [await signed(2n * ETH), await signed(2n * ETH)];
      const [pa, pb] = await Promise.all([g.authorize(a, NOW), g.authorize(b, NOW)]);
      g.commit(pa, (spend) => l.consume('race-a', undefined, spend));
      let consumedB = false;
      let code = 'committed';
      try {
        g.commit(pb, (spend) => {
          consumedB = true;
          return l.consume('race-b', undefined, spend);
        });
      } catch (e) {
        code = `${(e as MpcError).code}:${String((e as MpcError).details.rule ?? '')}`;
      }
      expect(code).toBe('ERR_POLICY_BLOCKED:daily-cap');
      // refused before the consume: the presignature stays unconsumed and no spend is recorded
      expect(consumedB).toBe(false);
      expect(l.isConsumed('race-b')).toBe(false);
      expect(l.spendsSince(NOW - 100)).toHaveLength(1);
      // the totals are exact: 1 ETH more reaches the cap (not above it), 1 wei past it is blocked
      expect(await refusal(g.authorize(await signed(ETH + 1n), NOW))).toBe('ERR_POLICY_BLOCKED:daily-cap');
      const one = await signed(ETH);
      const pc = await g.authorize(one, NOW);
      g.commit(pc, (spend) => l.consume('c1', undefined, spend));
      expect(await refusal(g.authorize(await signed(1n), NOW))).toBe('ERR_POLICY_BLOCKED:daily-cap');
      // the same request again (another PSBT input, a retry) is re-checked without itself and records nothing new
      g.commit(pc, (spend) => l.consume('c2', undefined, spend));
      expect(l.spendsSince(NOW - 100)).toHaveLength(2);
      // a permit checked under a policy version that was replaced since, for a request issued before
      // the replacement: the in-flight request keeps its version (policy-versions test below)
      const late = await g.authorize(await signed(0n), NOW);
      await g.accept('policy', await policyDoc(2, 3n), NOW);
      g.commit(late, (spend) => l.consume('late', undefined, spend));
      expect(l.isConsumed('late')).toBe(true);
      // restart: the totals are rebuilt from the ledger's records and decide the same
      l.close();
      l = PartyLedger.open(path, 0);
      g = new PolicyGuard({ mode: 'enforce', admins: adminSet }, l);
      expect(await g.load()).toEqual([]);
      const again = async (wei: bigint, at: number) => {
        const p = tx(wei);
        return refusal(g.authorize(check(p, auth(await request(p, { iat: at - 5, exp: at + 600 }), 2)), at));
      };
      expect(await again(1n, NOW)).toBe('ERR_POLICY_BLOCKED:daily-cap');
      expect(await again(0n, NOW)).toBe('accepted');
      // a spend written to the ledger other than through the guard is seen too (totals reloaded)
      l.consume('outside', undefined, {
        request: 'e'.repeat(64),
        at: NOW + 10,
        keyId: 'k',
        initiator: 'alice',
        transfers: [],
      });
      expect(await again(0n, NOW + 20)).toBe('accepted');
      // the window moves on: a day later the spends no longer count
      expect(await again(3n * ETH, NOW + 86_400)).toBe('accepted');
      expect(await again(3n * ETH + 1n, NOW + 86_400)).toBe('ERR_POLICY_BLOCKED:daily-cap');
    } finally {
      l.close();
    }
  });

  it('in-flight requests keep their policy version; a request issued after a replacement cannot name the old one', async () => {
    const path = join(dir, 'versions.db');
    let l = PartyLedger.open(path, 0);
    let g = await guardWithRegistry(l);
    const at = (version: number, iat: number, wei = ETH) => {
      const p = tx(wei);
      return request(p, { iat, exp: iat + 3600 }).then((r) => check(p, auth(r, version)));
    };
    try {
      await g.accept('policy', await policyDoc(1, 3n), NOW - 100);
      const inFlight = await at(1, NOW - 50); // issued (and evaluated) under version 1
      // version 2 at NOW - 10: a cap of 0 ETH blocks every transfer of value
      await g.accept('policy', await policyDoc(2, 0n), NOW - 10);
      expect((await g.authorize(inFlight, NOW))?.policyVersion).toBe(1);
      // issued after version 1 was replaced here: it may not name version 1 (a looser, older policy)
      const late = await at(1, NOW - 5);
      expect(await refusal(g.authorize(late, NOW))).toBe('ERR_POLICY_VERSION_OLD:policy-held');
      // issued at the very second of the replacement: not before it
      expect(await refusal(g.authorize(await at(1, NOW - 10), NOW))).toBe('ERR_POLICY_VERSION_OLD:policy-held');
      // under the current version it is evaluated by the current rules
      expect(await refusal(g.authorize(await at(2, NOW - 5), NOW))).toBe('ERR_POLICY_BLOCKED:daily-cap');
      // replaced again between the check and the consume: still honoured (issued before either replacement)
      const permit = await g.authorize(inFlight, NOW);
      await g.accept('policy', await policyDoc(3, 10n), NOW);
      g.commit(permit, (spend) => l.consume('in-flight', undefined, spend));
      expect(l.isConsumed('in-flight')).toBe(true);
      // a request stamped slightly in the future (clock skew) checked under the current version, which
      // is replaced before the consume at a moment earlier than its iat: refused at the consume
      const ahead = await g.authorize(await at(3, NOW + 30, 0n), NOW);
      await g.accept('policy', await policyDoc(4, 10n), NOW + 10);
      expect(() => g.commit(ahead, (spend) => l.consume('ahead', undefined, spend))).toThrow(/ERR_POLICY_VERSION_OLD/);
      expect(l.isConsumed('ahead')).toBe(false);
      // restart: the replaced versions and their replacement times come back from the ledger
      l.close();
      l = PartyLedger.open(path, 0);
      g = new PolicyGuard({ mode: 'enforce', admins: adminSet }, l);
      expect(await g.load()).toEqual([]);
      expect(g.policyVersion).toBe(4);
      expect((await g.authorize(await at(1, NOW - 50, 1n), NOW))?.policyVersion).toBe(1);
      expect(await refusal(g.authorize(await at(1, NOW - 5), NOW))).toBe('ERR_POLICY_VERSION_OLD:policy-held');
      expect(l.supersededPolicies().map((x) => [x.version, x.supersededAt / 1000])).toEqual([
        [1, NOW - 10],
        [2, NOW],
        [3, NOW + 10],
      ]);
      // kept only as long as a request issued before the replacement can be valid
      await g.accept('policy', await policyDoc(5, 0n), NOW - 10 + KEEP_SUPERSEDED_SECONDS + 1);
      expect(l.supersededPolicies().map((x) => x.version)).toEqual([2, 3, 4]);
      expect(await refusal(g.authorize(await at(1, NOW - 50, 1n), NOW))).toBe('ERR_POLICY_VERSION_UNKNOWN:');
    } finally {
      l.close();
    }
  });

  it('accepts documents only with the admin quorum and forward; stored versions are re-verified at load', async () => {
    expect(await refusal(guard.accept('policy', await policyDoc(2, 9n, admins.slice(0, 2))))).toBe(
      'ERR_POLICY_QUORUM:',
    );
    expect((await guard.accept('policy', await policyDoc(2, 9n))).version).toBe(2);
    expect(await refusal(guard.accept('policy', await policyDoc(1, 3n)))).toBe('ERR_POLICY_VERSION_OLD:');
    expect(await refusal(guard.accept('policy', await policyDoc(2, 10n)))).toBe('ERR_POLICY_VERSION_CONFLICT:');
    // a registry signature never counts for a policy
    const asRegistry = await signDocument(bytes(policy(3, 9n)), REGISTRY_TYP, admins.slice(0, 3));
    expect(await refusal(guard.accept('policy', bytes(asRegistry)))).toBe('ERR_POLICY_QUORUM:');
    const again = new PolicyGuard({ mode: 'enforce', admins: adminSet }, ledger);
    expect(await again.load()).toEqual([]);
    expect([again.policyVersion, again.registryVersion]).toEqual([2, 1]);
    const others = await Promise.all(['b1', 'b2', 'b3'].map((id) => makeKey(id)));
    const foreign = new PolicyGuard(
      {
        mode: 'enforce',
        admins: await loadAdminSet({
          threshold: 2,
          admins: others.map((a) => ({ id: a.kid, publicKey: a.publicJwk })),
        }),
      },
      ledger,
    );
    // the policy, the registry and the policy version 2 replaced: none verifies under another admin set
    expect((await foreign.load()).map((d) => d.code)).toEqual([
      'ERR_POLICY_QUORUM',
      'ERR_POLICY_QUORUM',
      'ERR_POLICY_QUORUM',
    ]);
    expect([foreign.policyVersion, foreign.registryVersion]).toEqual([0, 0]);
    // a row whose version or hash is not its document's is not held
    const db = new Database(join(dir, 'ledger.db'));
    db.prepare(`UPDATE policy_documents SET version = 7 WHERE kind = 'policy'`).run();
    db.close();
    const tampered = new PolicyGuard({ mode: 'enforce', admins: adminSet }, ledger);
    expect(await tampered.load()).toEqual([{ kind: 'policy', code: 'ERR_LEDGER_CORRUPT' }]);
    // the ledger itself never moves a document back
    expect(() =>
      ledger.putPolicyDocument({ kind: 'policy', version: 1, hash: 'a'.repeat(64), document: bytes({}) }),
    ).toThrow(/ERR_STORAGE_VERSION_CONFLICT/);
  });
});

describe('sign command v3', () => {
  const base: StartCommand = {
    op: 'sign',
    keyId: 'k',
    members: [0, 1],
    threshold: 0,
    path: [],
    presignatureId: 'ab'.repeat(32),
    payload: new Uint8Array(32),
    kind: 'raw.digest',
    digestIndex: 0,
    network: 'mainnet',
    roundTimeoutMs: 1000,
  };
  it('round-trips the authorization and policy documents', () => {
    const authorization = { signedRequest: 'a.b.c', policyVersion: 2 ** 40 + 3, approvals: ['x.y.z', 'u.v.w'] };
    expect(decodeStartCommand(encodeStartCommand({ ...base, authorization })).authorization).toEqual(authorization);
    const doc: StartCommand = {
      ...base,
      op: 'policy',
      keyId: '',
      members: [0, 1, 2],
      presignatureId: '',
      payload: new Uint8Array(0),
      kind: undefined,
      digestIndex: undefined,
      network: undefined,
      document: bytes({ a: 1 }),
    };
    const { kind: _k, digestIndex: _d, network: _n, ...clean } = doc;
    expect(decodeStartCommand(encodeStartCommand(clean)).document).toEqual(bytes({ a: 1 }));
    expect(() => encodeStartCommand({ ...clean, keyId: 'k' })).toThrow(/key id/);
    expect(() => encodeStartCommand({ ...base, document: bytes({}) })).toThrow(/document/);
  });

  it('bounds the approvals count and each size before decoding them', () => {
    const many = { signedRequest: 'a.b.c', policyVersion: 1, approvals: Array(MAX_APPROVALS + 1).fill('x.y.z') };
    expect(() => encodeStartCommand({ ...base, authorization: many })).toThrow(/too many approvals/);
    // a forged count of 2^32 − 1 with nothing behind it: refused on the count, not after allocating
    const head = encodeStartCommand(base);
    const tail = new WireWriter().u8(1).bytes(bytes('a.b.c')).u32(0).u32(1).u32(0xffffffff).finish();
    const forged = Uint8Array.from([...head.subarray(0, head.length - 5), ...tail]);
    expect(() => decodeStartCommand(forged)).toThrow(/list too long/);
    const big = new WireWriter().u8(1).bytes(new Uint8Array(9000).fill(0x61)).finish();
    const forged2 = Uint8Array.from([...head.subarray(0, head.length - 5), ...big]);
    let cause: unknown;
    try {
      decodeStartCommand(forged2);
    } catch (e) {
      cause = (e as MpcError).cause;
    }
    expect((cause as MpcError).code).toBe('ERR_WIRE_BAD_LENGTH');
  });
});

describe('mpc-custody setup writes an enforcing deployment', () => {
  it('admin set, 0600 admin and initiator keys, quorum-signed registry and policy the parties accept; the initiator can sign', async () => {
    const root = join(dir, 'setup');
    const r = await setupPartySet({ dir: root, parties: 2, natsPort: 4999, httpBasePort: 0, math: 'native' });
    const d = r.policy;
    if (d === undefined) throw new Error('no policy deployment');
    for (const f of [...d.adminKeys, d.initiatorKey]) expect(statSync(f).mode & 0o777).toBe(0o600);
    const cfg = await loadPartyConfig(r.partyConfigs[0] as string);
    expect(cfg.policy).toEqual({ mode: 'enforce', admins: d.adminsFile });
    const party = await loadPartyPolicy(cfg.policy);
    const l = PartyLedger.open(join(root, 'check.db'), 0);
    try {
      const g = new PolicyGuard(party, l);
      expect((await g.accept('registry', readFileSync(d.registryFile))).version).toBe(1);
      expect((await g.accept('policy', readFileSync(d.policyFile))).version).toBe(1);
      const k = JSON.parse(readFileSync(d.initiatorKey, 'utf8'));
      const signer = { kid: k.id, alg: k.alg, privateKey: await importJWK(k.privateJwk, 'Ed25519') } as never;
      const p = tx(ETH);
      const claims = { v: 1 as const, keyId: 'k', kind: 'eth.transaction' as const, path: [0, 1], idempotencyKey: 'x' };
      const signedRequest = await signSignRequest(
        { ...claims, payloadSha256: payloadDigest(p), iat: NOW - 5, exp: NOW + 600 },
        signer,
      );
      expect((await g.authorize(check(p, auth(signedRequest)), NOW))?.ruleId).toBe('initiators');
      const digest = new Uint8Array(32);
      const raw = await signSignRequest(
        { ...claims, kind: 'raw.digest', payloadSha256: payloadDigest(digest), iat: NOW - 5, exp: NOW + 600 },
        signer,
      );
      expect(await refusal(g.authorize({ ...check(digest, auth(raw)), kind: 'raw.digest' }, NOW))).toBe(
        'ERR_POLICY_BLOCKED:no-raw-digest',
      );
    } finally {
      l.close();
    }
    const off = await setupPartySet({ dir: join(dir, 'setup-off'), parties: 2, natsPort: 4999, policy: 'off' });
    expect(off.policy).toBeUndefined();
    expect((await loadPartyConfig(off.partyConfigs[0] as string)).policy).toEqual({ mode: 'off' });
  });
});
