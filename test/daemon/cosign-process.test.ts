import { execFile } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hexToBytes } from '@noble/hashes/utils.js';
import { serializeTransaction } from 'viem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { presignatureToJson } from '../../src/cli/presignature-file.js';
import type { SignAuthorization } from '../../src/daemon/control.js';
import type { Coordinator, PushResult } from '../../src/daemon/coordinator.js';
import { connectCoordinator } from '../../src/daemon/coordinator-client.js';
import { addCachedPrimes } from '../../src/daemon/main.js';
import { findNatsServer, type NatsServerProcess, runNatsServer } from '../../src/daemon/nats-server-process.js';
import { type SetupResult, setupPartySet } from '../../src/daemon/setup.js';
import { freePort, type SpawnedParty, spawnParty } from '../../src/daemon/spawn-party.js';
import {
  POLICY_TYP,
  payloadDigest,
  REGISTRY_TYP,
  requestDigest,
  type SignRequestPayload,
  signApproval,
  signDocument,
  signSignRequest,
} from '../../src/policy/index.js';
import type { PresignaturePublic } from '../../src/protocol/sign.js';
import { makeKey, type OperatorKey } from '../helpers/operator-keys.js';
import { testPrimes } from '../helpers/primes.js';
import { required } from '../helpers/requirements.js';

/**
 * Issue #14 acceptance, the co-signer check at every party: three party daemons as OS processes
 * over a real nats-server, each configured with a 3-of-5 admin set. Whoever holds the coordinator
 * key gets nothing signed without an initiator's request that each party's own copy of the policy
 * allows. Every attack ends with a typed refusal at every signer, no partial signature, and the
 * presignature still usable (it signs afterwards).
 */
const CLI = join(import.meta.dirname, '..', '..', 'dist', 'src', 'cli', 'main.js');
const canRun =
  required(existsSync(CLI), `the built CLI (${CLI}; npm run build)`) &&
  required(findNatsServer() !== undefined, 'nats-server');

const KEY = 'cosign';
const PATH = [0, 1];
const SIGNERS = [0, 1];
const EXCHANGE = '0x1111111111111111111111111111111111111111';
const ETH = 10n ** 18n;
const bytes = (o: unknown) => new TextEncoder().encode(JSON.stringify(o));
const now = () => Math.floor(Date.now() / 1000);

let dir: string;
let setup: SetupResult;
let nats: NatsServerProcess;
const daemons: SpawnedParty[] = [];
let coord: Awaited<ReturnType<typeof connectCoordinator>>;
let c: Coordinator;
let admins: OperatorKey[];
let alice: OperatorKey; // initiator
let vic: OperatorKey; // viewer: registered, but not an initiator
let tom: OperatorKey; // treasury approvers
let tina: OperatorKey;
let inFlight: { payload: Uint8Array; request: string } | undefined; // a request issued under policy version 1
let mallory: OperatorKey; // not registered (forges as alice / tom)
let nonce = 0;

/** Policy: a daily cap over everything signed with the key, small transfers allowed, large ones need two treasury approvals. */
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
    {
      id: 'small',
      match: { kinds: ['eth.transaction'], assets: ['ETH'], amount: { currency: 'native', atMost: ETH.toString() } },
      action: 'allow',
    },
    {
      id: 'large',
      match: { kinds: ['eth.transaction'], assets: ['ETH'], amount: { currency: 'native', above: ETH.toString() } },
      action: 'require_approvals',
      approvals: {
        groups: [{ name: 'treasury', members: { groups: ['treasury'] }, threshold: 2 }],
        combine: 'all',
        timeoutSeconds: 3600,
      },
    },
  ],
});

function tx(wei: bigint): Uint8Array {
  const hex = serializeTransaction({
    type: 'eip1559',
    chainId: 1,
    nonce: nonce++,
    to: EXCHANGE,
    value: wei,
    gas: 21_000n,
    maxFeePerGas: 20_000_000_000n,
    maxPriorityFeePerGas: 1_000_000_000n,
  });
  return hexToBytes(hex.slice(2));
}

async function request(
  payload: Uint8Array,
  o: { by?: OperatorKey; claims?: Partial<SignRequestPayload> } = {},
): Promise<string> {
  return signSignRequest(
    {
      v: 1,
      keyId: KEY,
      kind: 'eth.transaction',
      payloadSha256: payloadDigest(payload),
      path: PATH,
      idempotencyKey: `req-${nonce}-${Math.random()}`,
      iat: now() - 5,
      exp: now() + 600,
      ...o.claims,
    },
    o.by ?? alice,
  );
}

const approve = (by: OperatorKey, signedRequest: string, o: { iat?: number; exp?: number; version?: number } = {}) =>
  signApproval(
    {
      request: requestDigest(signedRequest),
      decision: 'approve',
      policyVersion: o.version ?? 2,
      iat: o.iat ?? now() - 5,
      exp: o.exp ?? now() + 600,
    },
    by,
  );

const signedPolicy = async (version: number, capEth: bigint, signers: readonly OperatorKey[]) =>
  signDocument(bytes(policy(version, capEth)), POLICY_TYP, signers);

async function metric(party: number, re: RegExp): Promise<number> {
  const text = await (await fetch(`${daemons[party]?.url}/metrics`)).text();
  const m = text.match(re);
  return m ? Number(m[1]) : 0;
}
const partials = (p: number) => metric(p, /^mpc_partial_signatures_total (\d+)/m);
const policyChecks = (p: number) => metric(p, /^mpc_policy_check_seconds_count (\d+)/m);
const policyCheckCpu = (p: number) => metric(p, /^mpc_policy_check_cpu_seconds_count (\d+)/m);
const refusals = (p: number, code: string) =>
  metric(p, new RegExp(`^mpc_policy_refusals_total\\{code="${code}"\\} (\\d+)`, 'm'));

function sign(
  pre: PresignaturePublic,
  payload: Uint8Array,
  authorization?: SignAuthorization,
  kind = 'eth.transaction',
) {
  return c.signPayload({
    keyId: KEY,
    kind: kind as 'eth.transaction',
    payload,
    presignatures: [pre],
    ...(authorization ? { authorization } : {}),
  });
}

/**
 * The attack must be refused with `code` at every signer, with no partial signature anywhere. The
 * presignature's survival is shown by signing with it afterwards.
 */
async function refusedEverywhere(attempt: () => Promise<unknown>, code: string): Promise<void> {
  const before = (await Promise.all(SIGNERS.map((p) => Promise.all([partials(p), refusals(p, code)])))) as Array<
    [number, number]
  >;
  await expect(attempt()).rejects.toThrow(code);
  // the coordinator fails at the first refusal: give the other signer a moment to report its own
  for (let k = 0; k < 50; k++) {
    const after = await Promise.all(SIGNERS.map((p) => refusals(p, code)));
    if (after.every((n, j) => n === (before[j] as [number, number])[1] + 1)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  for (const [j, p] of SIGNERS.entries()) {
    expect(await refusals(p, code)).toBe((before[j] as [number, number])[1] + 1);
    expect(await partials(p)).toBe((before[j] as [number, number])[0]);
  }
}

const expectPushed = (r: PushResult, version: number) => {
  expect(r.parties.map((x) => [x.party, x.ok, x.version])).toEqual([0, 1, 2].map((p) => [p, true, version]));
};
const expectPushRefused = (r: PushResult, code: string) => {
  expect(r.ok).toBe(false);
  expect(r.parties.map((x) => [x.party, x.code])).toEqual([0, 1, 2].map((p) => [p, code]));
};

describe.runIf(canRun)('co-signer check at every party (party processes over NATS)', () => {
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mpc-cosign-'));
    setup = await setupPartySet({ dir, parties: 3, natsPort: await freePort(), httpBasePort: 0, math: 'native' });
    admins = await Promise.all(['a1', 'a2', 'a3', 'a4', 'a5'].map((id) => makeKey(id)));
    [alice, vic, tom, tina, mallory] = (await Promise.all(
      ['alice', 'vic', 'tom', 'tina', 'alice'].map((id) => makeKey(id)),
    )) as [OperatorKey, OperatorKey, OperatorKey, OperatorKey, OperatorKey];
    // the trust root: a 3-of-5 admin set in each party's own files, never from the network
    writeFileSync(
      join(dir, 'admins.json'),
      JSON.stringify({ threshold: 3, admins: admins.map((a) => ({ id: a.kid, publicKey: a.publicJwk })) }),
    );
    const primes = await testPrimes('safe', 1536);
    for (const [i, file] of setup.partyConfigs.entries()) {
      const cfg = JSON.parse(readFileSync(file, 'utf8'));
      cfg.policy = { mode: 'enforce', admins: '../admins.json' };
      writeFileSync(file, JSON.stringify(cfg));
      await addCachedPrimes(file, primes.slice(32 + 2 * i, 34 + 2 * i));
    }
    nats = await runNatsServer(setup.nats.serverConfigFile);
    for (const f of setup.partyConfigs) daemons.push(await spawnParty(CLI, f, { timeoutMs: 60_000, drainMs: 3000 }));
    coord = await connectCoordinator(setup.coordinatorConfig, { readyTimeoutMs: 30_000 });
    c = coord.coordinator;
    await c.keygen({ keyId: KEY, threshold: 2, parties: 3 });
    await c.auxInfo({ keyId: KEY, parties: 3 });
    const registry = {
      schema: 'mpc-custody/operators@1',
      version: 1,
      operators: [
        { id: 'alice', roles: ['initiator'], publicKey: alice.publicJwk },
        { id: 'vic', roles: ['viewer'], publicKey: vic.publicJwk },
        { id: 'tom', roles: ['approver'], groups: ['treasury'], publicKey: tom.publicJwk },
        { id: 'tina', roles: ['approver'], groups: ['treasury'], publicKey: tina.publicJwk },
      ],
    };
    expectPushed(await c.pushRegistry(await signDocument(bytes(registry), REGISTRY_TYP, admins.slice(0, 3))), 1);
    expectPushed(await c.pushPolicy(await signedPolicy(1, 3n, admins.slice(2, 5))), 1);
  }, 300_000);

  afterAll(async () => {
    await coord?.close();
    for (const d of daemons) if (d.proc.exitCode === null) d.proc.kill('SIGKILL');
    await nats?.kill();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('a 3-of-5 admin quorum publishes a policy; a 2-of-5 attempt and an older version are refused at every party', async () => {
    // issued (and evaluated, by a coordinator) while version 1 is current: in flight across the update
    const payload = tx(0n);
    inFlight = { payload, request: await request(payload) };
    expectPushed(await c.pushPolicy(await signedPolicy(2, 3n, [admins[0], admins[2], admins[4]] as OperatorKey[])), 2);
    // the same document again changes nothing
    expectPushed(await c.pushPolicy(await signedPolicy(2, 3n, [admins[0], admins[2], admins[4]] as OperatorKey[])), 2);
    expectPushRefused(await c.pushPolicy(await signedPolicy(3, 100n, admins.slice(0, 2))), 'ERR_POLICY_QUORUM');
    // a quorum of other keys under admin ids (the network cannot add admins)
    expectPushRefused(
      await c.pushPolicy(await signDocument(bytes(policy(3, 100n)), POLICY_TYP, [mallory, tom, tina])),
      'ERR_POLICY_QUORUM',
    );
    expectPushRefused(await c.pushPolicy(await signedPolicy(1, 3n, admins.slice(2, 5))), 'ERR_POLICY_VERSION_OLD');
    // a fork: another document under the held version
    expectPushRefused(
      await c.pushPolicy(await signedPolicy(2, 100n, admins.slice(0, 3))),
      'ERR_POLICY_VERSION_CONFLICT',
    );
    for (const p of [0, 1, 2]) expect(await metric(p, /^mpc_policy_version\{document="policy"\} (\d+)/m)).toBe(2);
  });

  it('refuses every unauthorized sign at every signer; the presignature stays unconsumed and signs afterwards', async () => {
    const pre = await c.presign({ keyId: KEY, signers: SIGNERS, path: PATH });
    const small = tx(ETH / 2n);
    const ok = await request(small);
    const auth = (signedRequest: string, approvals: string[] = [], policyVersion = 2) => ({
      signedRequest,
      policyVersion,
      approvals,
    });
    // the coordinator key alone: no signed request
    await refusedEverywhere(async () => sign(pre, small), 'ERR_POLICY_REQUEST_INVALID');
    // forged initiator: alice's id, another key
    await refusedEverywhere(
      async () => sign(pre, small, auth(await request(small, { by: mallory }))),
      'ERR_POLICY_REQUEST_INVALID',
    );
    // a registered operator without the initiator role
    await refusedEverywhere(
      async () => sign(pre, small, auth(await request(small, { by: vic }))),
      'ERR_POLICY_REQUEST_INVALID',
    );
    // the payload differs from the one alice signed
    await refusedEverywhere(async () => sign(pre, tx(ETH / 2n), auth(ok)), 'ERR_POLICY_PAYLOAD_MISMATCH');
    // the command's kind differs from the request's (same bytes), either way round
    await refusedEverywhere(async () => sign(pre, small, auth(ok), 'eth.message'), 'ERR_POLICY_REQUEST_INVALID');
    await refusedEverywhere(
      async () => sign(pre, small, auth(await request(small, { claims: { kind: 'eth.message' } }))),
      'ERR_POLICY_REQUEST_INVALID',
    );
    // the request names another path than the presignature the coordinator picked
    await refusedEverywhere(
      async () => sign(pre, small, auth(await request(small, { claims: { path: [0, 9] } }))),
      'ERR_POLICY_REQUEST_INVALID',
    );
    // another key's request
    await refusedEverywhere(
      async () => sign(pre, small, auth(await request(small, { claims: { keyId: 'other' } }))),
      'ERR_POLICY_REQUEST_INVALID',
    );
    // an expired request
    await refusedEverywhere(
      async () => sign(pre, small, auth(await request(small, { claims: { iat: now() - 7200, exp: now() - 60 } }))),
      'ERR_POLICY_REQUEST_INVALID',
    );
    // a policy version the parties do not hold (the 2-of-5 one), and, for a request issued after
    // the update, the older one they replaced
    await refusedEverywhere(async () => sign(pre, small, auth(ok, [], 3)), 'ERR_POLICY_VERSION_UNKNOWN');
    const afterUpdate = await request(small, { claims: { iat: now(), exp: now() + 600 } });
    await refusedEverywhere(async () => sign(pre, small, auth(afterUpdate, [], 1)), 'ERR_POLICY_VERSION_OLD');

    // over the single-transaction limit: approvals from the treasury group are needed
    const large = tx(ETH + 1n);
    const big = await request(large);
    const other = await request(tx(ETH + 1n));
    await refusedEverywhere(async () => sign(pre, large, auth(big)), 'ERR_POLICY_APPROVALS_MISSING');
    await refusedEverywhere(
      async () => sign(pre, large, auth(big, [await approve(tom, big)])),
      'ERR_POLICY_APPROVALS_MISSING',
    );
    // forged: tina's id, another key
    const forged = await signApproval(
      { request: requestDigest(big), decision: 'approve', policyVersion: 2, iat: now() - 5, exp: now() + 600 },
      { ...mallory, kid: 'tina' },
    );
    await refusedEverywhere(
      async () => sign(pre, large, auth(big, [await approve(tom, big), forged])),
      'ERR_POLICY_APPROVALS_MISSING',
    );
    // replayed: tina approved another request
    await refusedEverywhere(
      async () => sign(pre, large, auth(big, [await approve(tom, big), await approve(tina, other)])),
      'ERR_POLICY_APPROVALS_MISSING',
    );
    // expired approvals
    const stale = { iat: now() - 7200, exp: now() - 60 };
    await refusedEverywhere(
      async () => sign(pre, large, auth(big, [await approve(tom, big, stale), await approve(tina, big, stale)])),
      'ERR_POLICY_APPROVALS_MISSING',
    );
    // approvals given under another policy version
    await refusedEverywhere(
      async () =>
        sign(
          pre,
          large,
          auth(big, [await approve(tom, big, { version: 1 }), await approve(tina, big, { version: 1 })]),
        ),
      'ERR_POLICY_APPROVALS_MISSING',
    );

    // …and the same presignature, never consumed anywhere, signs the allowed request
    const before = await Promise.all(SIGNERS.map(partials));
    const checked = await Promise.all(SIGNERS.map(policyChecks));
    const checkedCpu = await Promise.all(SIGNERS.map(policyCheckCpu));
    const r = await sign(pre, small, auth(ok));
    expect(r.signatures).toHaveLength(1);
    expect(await Promise.all(SIGNERS.map(partials))).toEqual(before.map((n) => n + 1));
    // the check's time is reported per released partial (refusals above released none)
    expect(await Promise.all(SIGNERS.map(policyChecks))).toEqual(checked.map((n) => n + 1));
    expect(await Promise.all(SIGNERS.map(policyCheckCpu))).toEqual(checkedCpu.map((n) => n + 1));
    // the request issued before the update keeps version 1 at every party
    const held = inFlight as { payload: Uint8Array; request: string };
    const again = await c.presign({ keyId: KEY, signers: SIGNERS, path: PATH });
    expect((await sign(again, held.payload, auth(held.request, [], 1))).signatures).toHaveLength(1);
  });

  it('a transfer over the limit signs after two approvals from the right group; the party keeps velocity itself', async () => {
    const large = tx((3n * ETH) / 2n);
    const big = await request(large);
    const pre = await c.presign({ keyId: KEY, signers: SIGNERS, path: PATH });
    await sign(pre, large, {
      signedRequest: big,
      policyVersion: 2,
      approvals: [await approve(tom, big), await approve(tina, big)],
    });
    // 0.5 + 1.5 ETH signed today; 1.5 more goes over the 3 ETH daily cap at each party, although
    // the coordinator keeps no record at all (a fresh coordinator could not even know)
    const next = tx((3n * ETH) / 2n);
    const nextReq = await request(next);
    const approvals = [await approve(tom, nextReq), await approve(tina, nextReq)];
    const pre2 = await c.presign({ keyId: KEY, signers: SIGNERS, path: PATH });
    await refusedEverywhere(
      async () => sign(pre2, next, { signedRequest: nextReq, policyVersion: 2, approvals }),
      'ERR_POLICY_BLOCKED',
    );
    // the admins raise the cap (v3): the very same request, re-approved under v3, signs with the
    // presignature the refusal left unconsumed
    expectPushed(await c.pushPolicy(await signedPolicy(3, 10n, admins.slice(1, 4))), 3);
    const v3 = [await approve(tom, nextReq, { version: 3 }), await approve(tina, nextReq, { version: 3 })];
    await sign(pre2, next, { signedRequest: nextReq, policyVersion: 3, approvals: v3 });
  });

  it('held versions survive a restart (verified again at load)', async () => {
    await daemons[2]?.stop();
    daemons[2] = await spawnParty(CLI, setup.partyConfigs[2] as string, { timeoutMs: 60_000, drainMs: 3000 });
    expect(await metric(2, /^mpc_policy_version\{document="policy"\} (\d+)/m)).toBe(3);
    expect(await metric(2, /^mpc_policy_version\{document="registry"\} (\d+)/m)).toBe(1);
    expect(await metric(2, /^mpc_policy_enforced (\d+)/m)).toBe(1);
    expectPushRefused(
      await c.pushPolicy(await signedPolicy(2, 3n, [admins[0], admins[2], admins[4]] as OperatorKey[])),
      'ERR_POLICY_VERSION_OLD',
    );
  });

  it('mpc-custody coord policy-push and coord sign --request / --policy-version (the operator CLI)', async () => {
    const cli = (args: string[]) =>
      new Promise<{ code: number; out: string; err: string }>((resolve) => {
        execFile(process.execPath, [CLI, 'coord', ...args, '--config', setup.coordinatorConfig], (e, out, err) =>
          resolve({ code: e === null ? 0 : Number((e as { code?: number }).code ?? 1), out, err }),
        );
      });
    const docFile = join(dir, 'policy-4.json');
    writeFileSync(docFile, JSON.stringify(await signedPolicy(4, 100n, admins.slice(0, 3))));
    const pushed = await cli(['policy-push', '--file', docFile]);
    expect(pushed.code).toBe(0);
    expect(JSON.parse(pushed.out).parties.map((p: { version: number }) => p.version)).toEqual([4, 4, 4]);
    const pre = await c.presign({ keyId: KEY, signers: SIGNERS, path: PATH });
    const preFile = join(dir, 'pre.json');
    writeFileSync(preFile, JSON.stringify(presignatureToJson(pre)));
    const payload = tx(ETH / 4n);
    const reqFile = join(dir, 'request.jws');
    writeFileSync(reqFile, await request(payload));
    const hex = Buffer.from(payload).toString('hex');
    const base = ['sign', '--key', KEY, '--presignature', preFile, '--kind', 'eth.transaction', '--payload', hex];
    const bare = await cli(base);
    expect(bare.code).toBe(1);
    expect(bare.err).toContain('ERR_POLICY_REQUEST_INVALID');
    const signed = await cli([...base, '--request', reqFile, '--policy-version', '4']);
    expect(signed.err).toBe('');
    expect(signed.code).toBe(0);
    expect(JSON.parse(signed.out).signed).toMatch(/^0x02/);
  });
});
