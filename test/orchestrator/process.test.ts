import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hexToBytes } from '@noble/hashes/utils.js';
import Database from 'better-sqlite3';
import { Transaction as BtcTransaction, Psbt } from 'bitcoinjs-lib';
import * as ecc from 'tiny-secp256k1';
import { type Hex, recoverTransactionAddress, serializeTransaction } from 'viem';
import { publicKeyToAddress } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { btcNetwork } from '../../src/chains/btc-network.js';
import { demoPsbt } from '../../src/cli/demo-payloads.js';
import { addCachedPrimes } from '../../src/daemon/main.js';
import { findNatsServer, type NatsServerProcess, runNatsServer } from '../../src/daemon/nats-server-process.js';
import { type SetupResult, setupPartySet } from '../../src/daemon/setup.js';
import { freePort, type SpawnedParty, spawnParty } from '../../src/daemon/spawn-party.js';
import { callApi, generateOperatorKey, loadOperatorKey } from '../../src/orchestrator/client.js';
import { type SpawnedOrchestrator, spawnOrchestrator } from '../../src/orchestrator/spawn.js';
import { OrchestratorStore } from '../../src/orchestrator/store/store.js';
import { POLICY_TYP, payloadDigest, type Signer, signDocument, signSignRequest } from '../../src/policy/index.js';
import { decodePoint } from '../../src/primitives/curve.js';
import { bip32 } from '../chains/helpers.js';
import { testPrimes } from '../helpers/primes.js';
import { required } from '../helpers/requirements.js';

/**
 * Issue 13 acceptance with real processes: a nats-server (TLS, nkeys and permissions from
 * `mpc-custody setup`), three party daemons (`mpc-custody party`, each enforcing the co-signer
 * check) and the orchestrator as its own process (`mpc-custody orchestrator --config`), driven only
 * through its REST API with operator tokens. An admin creates a 2-of-3 key (keygen + aux info job),
 * the presignature pool fills, an initiator's EIP-1559 transaction is signed with the pooled
 * presignature and viem recovers the address bip32 derives from the xpub; a PSBT signed through the
 * API finalizes with the xpub-derived key (bitcoinjs + tiny-secp256k1). Then the orchestrator is
 * killed (-9) while one request is signing and another was just accepted, and restarted on the same
 * SQLite store: each ends signed once or failed with a typed code, none lost, none signed twice.
 * Then SIGTERM drains: a request in flight still ends signed, readiness says "draining", new
 * requests are refused, the process exits 0. Last, restarted with `http.tls` (setup's CA-signed
 * server certificate): a request signs over HTTPS; plain HTTP and an untrusting client get nothing.
 * Then killed (-9) while its pool refills: restarted, the pool fills to its target and four requests
 * sign once each with distinct presignatures (the store and the parties' partial counters agree).
 * Last, a party is down while an admin publishes policy v2: the PUT answers without waiting for it
 * (delivered: false), the others hold v2; restarted, the orchestrator's sweep relays v2 to it.
 * No timing is asserted.
 */
const CLI = join(import.meta.dirname, '..', '..', 'dist', 'src', 'cli', 'main.js');
const canRun =
  required(existsSync(CLI), `the built CLI (${CLI}; npm run build)`) &&
  required(findNatsServer() !== undefined, 'nats-server');

const KEY = 'hot';
const PATH = [0, 7];
const FINAL = ['signed', 'rejected', 'failed', 'expired'];

let dir: string;
let setup: SetupResult;
let nats: NatsServerProcess;
const daemons: SpawnedParty[] = [];
let orch: SpawnedOrchestrator;
let orchConfig: string;
let admin: Signer;
let initiator: Signer;
let address: string;
let xpubNode: ReturnType<typeof bip32.fromBase58>;
let nonce = 0;

const start = () => spawnOrchestrator(CLI, orchConfig, { timeoutMs: 60_000, drainMs: 60_000 });

function tx(): Uint8Array {
  const hex = serializeTransaction({
    type: 'eip1559',
    chainId: 1,
    nonce: nonce++,
    to: '0x52908400098527886E0F7030069857D2E4169EE7',
    value: 10n ** 15n,
    gas: 21_000n,
    maxFeePerGas: 20_000_000_000n,
    maxPriorityFeePerGas: 1_000_000_000n,
  });
  return hexToBytes(hex.slice(2));
}

/**
 * The POST body of a sign request for `payload` (an EIP-1559 transaction at `path`, or a PSBT whose
 * inputs name their paths, with its network), with the initiator's signed request.
 */
async function signRequestBody(
  payload: Uint8Array,
  idempotencyKey: string,
  path: number[] = PATH,
  psbtNetwork?: 'regtest',
) {
  const now = Math.floor(Date.now() / 1000);
  const kind = psbtNetwork === undefined ? 'eth.transaction' : 'btc.psbt';
  const where = psbtNetwork === undefined ? { path } : { network: psbtNetwork };
  const signedRequest = await signSignRequest(
    {
      v: 1,
      keyId: KEY,
      kind,
      payloadSha256: payloadDigest(payload),
      ...where,
      idempotencyKey,
      iat: now - 5,
      exp: now + 600,
    },
    initiator,
  );
  return {
    keyId: KEY,
    kind,
    payload: `0x${Buffer.from(payload).toString('hex')}`,
    ...(psbtNetwork === undefined ? {} : { network: psbtNetwork }),
    signedRequest,
    idempotencyKey,
  };
}

/** Long-polls (as the admin) until the request is final (a request stuck for 2 minutes fails the test). */
async function final(id: string): Promise<Record<string, unknown>> {
  let r = { status: 0, body: {} as Record<string, unknown> };
  for (let i = 0; i < 4; i++) {
    r = await callApi(orch.url, admin, 'GET', `/v1/sign-requests/${id}?waitFor=final&timeoutSeconds=30`);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    if (FINAL.includes(String(r.body.state))) return r.body;
  }
  throw new Error(`sign request ${id} is still ${String(r.body.state)}`);
}

/** The Ethereum address at `path` as viem computes it from what bip32 derives from the key's xpub. */
const addressAt = (path: readonly number[]) => {
  const child = path.reduce((n, i) => n.derive(i), xpubNode);
  return publicKeyToAddress(`0x${Buffer.from(decodePoint(child.publicKey).toBytes(false)).toString('hex')}` as Hex);
};

/** The sender viem recovers from a signed request's artifact (a signed raw transaction). */
const sender = (r: Record<string, unknown>) =>
  recoverTransactionAddress({ serializedTransaction: (r.artifact as { hex: string }).hex as never });

async function metric(url: string, re: RegExp): Promise<number> {
  const m = (await (await fetch(`${url}/metrics`)).text()).match(re);
  return m ? Number(m[1]) : 0;
}
const partials = () => Promise.all(daemons.map((d) => metric(d.url, /^mpc_partial_signatures_total (\d+)/m)));
const pooled = () => metric(orch.url, /^mpc_orch_presignatures_pooled_total (\d+)/m);

describe.runIf(canRun)('orchestrator process over party daemon processes and a real nats-server', () => {
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mpc-orch-proc-'));
    // policy "enforce": an admin set, a signed registry (initiator-1) and policy v1 allowing what an initiator signs
    setup = await setupPartySet({ dir, parties: 3, natsPort: await freePort(), httpBasePort: 0, math: 'native' });
    const policy = setup.policy;
    if (policy === undefined) throw new Error('setup wrote no policy deployment');
    // fixture primes instead of a safe-prime search: two per party for its Paillier key
    const primes = await testPrimes('safe', 1536);
    for (const [i, file] of setup.partyConfigs.entries()) {
      await addCachedPrimes(file, primes.slice(12 + 2 * i, 14 + 2 * i));
    }
    nats = await runNatsServer(setup.nats.serverConfigFile);
    daemons.push(
      ...(await Promise.all(setup.partyConfigs.map((f) => spawnParty(CLI, f, { timeoutMs: 60_000, drainMs: 3000 })))),
    );

    // the API's first admin (bootstrapAdmin) and the config; the orchestrator relays setup's registry and policy
    const adminKey = join(dir, 'root.key');
    const rootJwk = await generateOperatorKey(adminKey, 'root', 'EdDSA');
    admin = await loadOperatorKey(adminKey);
    initiator = await loadOperatorKey(policy.initiatorKey);
    orchConfig = join(dir, 'orchestrator.json');
    writeFileSync(
      orchConfig,
      JSON.stringify({
        coordinator: setup.coordinatorConfig,
        http: { host: '127.0.0.1', port: 0 },
        state: { kind: 'sqlite', path: 'orchestrator.db' },
        bootstrapAdmin: { id: 'root', publicKey: rootJwk },
        policy: {
          admins: JSON.parse(readFileSync(policy.adminsFile, 'utf8')),
          policyFile: policy.policyFile,
          registryFile: policy.registryFile,
        },
        signers: { parties: 3 },
        pools: [{ keyId: KEY, path: 'm/0/7', target: 1, lowWater: 1 }],
        poolConcurrency: 1,
        logLevel: 'info',
      }),
    );
    orch = await start();

    // the admin registers the initiator as an API operator (same key as in the signed registry)
    const { d: _d, ...initiatorPublic } = JSON.parse(readFileSync(policy.initiatorKey, 'utf8')).privateJwk;
    const reg = await callApi(orch.url, admin, 'POST', '/v1/operators', {
      id: policy.initiatorId,
      roles: ['initiator'],
      publicKey: initiatorPublic,
    });
    expect(reg.status, JSON.stringify(reg.body)).toBe(201);
    // keygen + aux info as a job; poll until it is done
    const created = await callApi(orch.url, admin, 'POST', '/v1/keys', { id: KEY, threshold: 2, parties: 3 });
    expect(created.status, JSON.stringify(created.body)).toBe(202);
    for (;;) {
      const k = await callApi(orch.url, admin, 'GET', `/v1/keys/${KEY}`);
      expect(k.body.state, JSON.stringify(k.body)).not.toBe('failed');
      if (k.body.state === 'ready') break;
      await new Promise((r) => setTimeout(r, 500));
    }
  }, 240_000);

  afterAll(async () => {
    await orch?.kill();
    for (const d of daemons) if (d.proc.exitCode === null) d.proc.kill('SIGKILL');
    await nats?.kill();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('the key has an xpub; the pool fills; an EIP-1559 transaction signs with a pooled presignature and viem recovers the address', async () => {
    const k = await callApi(orch.url, admin, 'GET', `/v1/keys/${KEY}`);
    expect(k.body).toMatchObject({ state: 'ready', threshold: 2, parties: [0, 1, 2] });
    // the wallet's view: an independent BIP32 library derives m/0/7 from the xpub
    xpubNode = bip32.fromBase58(k.body.xpub as string);
    const child = xpubNode.derive(0).derive(7);
    address = publicKeyToAddress(
      `0x${Buffer.from(decodePoint(child.publicKey).toBytes(false)).toString('hex')}` as Hex,
    );
    const a = await callApi(orch.url, admin, 'GET', `/v1/keys/${KEY}/addresses?path=m/0/7&chain=ethereum`);
    expect(a.body.address).toBe(address);

    // the background refill (every 5 s) presigns up to the target
    while ((await pooled()) < 1) await new Promise((r) => setTimeout(r, 500));
    const before = await partials();
    const payload = tx();
    const post = await callApi(orch.url, initiator, 'POST', '/v1/sign-requests', await signRequestBody(payload, 'p-1'));
    expect(post.status, JSON.stringify(post.body)).toBe(201);
    const done = await final(post.body.id as string);
    expect(done.state, JSON.stringify(done.error)).toBe('signed');
    expect(await sender(done)).toBe(address);
    expect(await metric(orch.url, /^mpc_orch_presignatures_taken_total\{source="pool"\} (\d+)/m)).toBe(1);
    expect(await metric(orch.url, /^mpc_orch_presignatures_on_demand_total (\d+)/m)).toBe(0);
    // one partial from each of the two signers of the presignature (a 2-of-3 set), none from the third
    const delta = (await partials()).map((n, i) => n - (before[i] as number));
    expect([...delta].sort()).toEqual([0, 1, 1]);
  });

  it('a PSBT through the API: the finalized transaction carries the xpub-derived key and a signature bitcoinjs and tiny-secp256k1 accept', async () => {
    const key = { publicKey: decodePoint(xpubNode.publicKey), chainCode: new Uint8Array(xpubNode.chainCode) };
    const inputPath = [0, 1];
    const payload = demoPsbt(key, [{ path: inputPath, value: 150_000n }], [1, 2]);
    const post = await callApi(
      orch.url,
      initiator,
      'POST',
      '/v1/sign-requests',
      await signRequestBody(payload, 'p-psbt', PATH, 'regtest'),
    );
    expect(post.status, JSON.stringify(post.body)).toBe(201);
    const done = await final(post.body.id as string);
    expect(done.state, JSON.stringify(done.error)).toBe('signed');
    const tx = BtcTransaction.fromHex((done.artifact as { hex: string }).hex);
    const witness = tx.ins[0]?.witness as Uint8Array[];
    const pub = inputPath.reduce((n, j) => n.derive(j), xpubNode).publicKey;
    expect(Buffer.from(witness[1] as Uint8Array).equals(Buffer.from(pub))).toBe(true);
    const check = Psbt.fromBuffer(payload, { network: btcNetwork('regtest') });
    check.updateInput(0, { partialSig: [{ pubkey: witness[1] as Uint8Array, signature: witness[0] as Uint8Array }] });
    expect(check.validateSignaturesOfAllInputs((pk, hash, sig) => ecc.verify(hash, pk, sig))).toBe(true);
  });

  it('kill -9 while one request is signing and another was just accepted; restarted on the same store each ends signed once or failed typed, none lost', async () => {
    const before = await partials();
    // A at m/0/9 presigns on demand (seconds in `signing`); B at m/0/7 takes the pooled presignature
    const bodyA = await signRequestBody(tx(), 'p-crash-a', [0, 9]);
    const a = await callApi(orch.url, initiator, 'POST', '/v1/sign-requests', bodyA);
    expect(a.status, JSON.stringify(a.body)).toBe(201);
    const bodyB = await signRequestBody(tx(), 'p-crash-b');
    const b = await callApi(orch.url, initiator, 'POST', '/v1/sign-requests', bodyB);
    expect(b.status, JSON.stringify(b.body)).toBe(201);
    const caught = await callApi(
      orch.url,
      admin,
      'GET',
      `/v1/sign-requests/${a.body.id}?waitFor=signing,final&timeoutSeconds=30`,
    );
    expect(caught.status, JSON.stringify(caught.body)).toBe(200);
    await orch.kill();
    orch = await start();
    const runs = [
      { id: a.body.id as string, body: bodyA, address: () => addressAt([0, 9]) },
      { id: b.body.id as string, body: bodyB, address: () => address },
    ];
    let signed = 0;
    for (const r of runs) {
      const done = await final(r.id);
      // signed (it had not reached `signing`, or finished before the kill), or failed as
      // interrupted (it was signing: whether its presignature was consumed is unknown)
      if (done.state === 'signed') {
        signed++;
        expect(await sender(done)).toBe(r.address());
      } else {
        expect(done).toMatchObject({ state: 'failed', error: { code: 'ERR_ORCH_INTERRUPTED' } });
      }
      // never lost or duplicated: the same body again is the same request (200) in the same final state
      const again = await callApi(orch.url, initiator, 'POST', '/v1/sign-requests', r.body);
      expect(again.status, JSON.stringify(again.body)).toBe(200);
      expect(again.body).toMatchObject({ id: r.id, state: done.state });
    }
    // never signed twice: no party released more than one partial per request (two requests), and
    // each signed request had its two partials
    const delta = (await partials()).map((n, i) => n - (before[i] as number));
    for (const d of delta) expect(d).toBeLessThanOrEqual(2);
    const total = delta.reduce((x, y) => x + y, 0);
    expect(total).toBeGreaterThanOrEqual(2 * signed);
    expect(total).toBeLessThanOrEqual(4);
    const list = await callApi(orch.url, admin, 'GET', '/v1/sign-requests?limit=50');
    const keys = (list.body.items as { idempotencyKey: string }[]).map((r) => r.idempotencyKey).sort();
    expect(keys).toEqual(['p-1', 'p-crash-a', 'p-crash-b', 'p-psbt']);
  });

  it('SIGTERM drains: a request in flight ends signed, readiness says draining, new requests are refused, exit 0', async () => {
    // m/0/9 has no pool: the request presigns on demand, so the drain has a running job to wait for
    const post = await callApi(
      orch.url,
      initiator,
      'POST',
      '/v1/sign-requests',
      await signRequestBody(tx(), 'p-3', [0, 9]),
    );
    expect(post.status, JSON.stringify(post.body)).toBe(201);
    const id = post.body.id as string;
    orch.proc.kill('SIGTERM');
    // the shutdown logs "draining" as the service starts refusing new work
    while (!orch.lines.some((l) => l.includes('"msg":"draining"')) && orch.proc.exitCode === null) {
      await new Promise((r) => setTimeout(r, 20));
    }
    // until the server closes, every readiness answer is 503 "draining" and a new request is refused
    // (fastify's own 503 while it closes, after the drain, ends the loop: it has no `reasons`)
    const readiness: { status: number; reasons: unknown }[] = [];
    const refused: { status: number; code: unknown }[] = [];
    for (;;) {
      const r = await fetch(`${orch.url}/readyz`).catch(() => undefined);
      const j = (await r?.json().catch(() => undefined)) as { reasons?: unknown } | undefined;
      if (r === undefined || j?.reasons === undefined) break;
      readiness.push({ status: r.status, reasons: j.reasons });
      const body = await signRequestBody(tx(), `p-drain-${nonce}`);
      const n = await callApi(orch.url, initiator, 'POST', '/v1/sign-requests', body).catch(() => undefined);
      if (n === undefined || n.body.code === undefined) break;
      refused.push({ status: n.status, code: n.body.code });
      await new Promise((res) => setTimeout(res, 250));
    }
    expect(await orch.exit).toBe(0);
    for (const r of readiness) expect(r).toEqual({ status: 503, reasons: ['draining'] });
    for (const r of refused) expect(r).toEqual({ status: 503, code: 'ERR_API_UNAVAILABLE' });
    // the drain let the job finish: the store (the process is gone) holds it signed, not left in
    // `signing` for a restart to fail as interrupted; the refused requests stored nothing
    const store = await OrchestratorStore.open({ kind: 'sqlite', path: join(dir, 'orchestrator.db') });
    try {
      const done = await store.getSignRequest(id);
      expect(done?.state, JSON.stringify(done?.error)).toBe('signed');
      expect(await sender({ artifact: done?.artifact })).toBe(addressAt([0, 9]));
      expect((await store.listSignRequests({ limit: 50 })).map((r) => r.idempotencyKey).sort()).toEqual([
        'p-1',
        'p-3',
        'p-crash-a',
        'p-crash-b',
        'p-psbt',
      ]);
    } finally {
      await store.close();
    }
  });

  it('over TLS (http.tls): HTTPS with the deployment CA signs; plain HTTP and a client without the CA are refused', async () => {
    // the same store, now serving HTTPS with setup's CA-signed server certificate (SAN 127.0.0.1)
    const tlsConfig = join(dir, 'orchestrator-tls.json');
    const cfg = JSON.parse(readFileSync(orchConfig, 'utf8'));
    cfg.http = {
      host: '127.0.0.1',
      port: 0,
      tls: { certFile: setup.nats.serverCertFile, keyFile: setup.nats.serverKeyFile },
    };
    writeFileSync(tlsConfig, JSON.stringify(cfg));
    const ca = readFileSync(setup.nats.caCertFile);
    orch = await spawnOrchestrator(CLI, tlsConfig, { timeoutMs: 60_000, ca });
    expect(orch.url.startsWith('https://127.0.0.1:')).toBe(true);
    const who = await callApi(orch.url, admin, 'GET', '/v1/whoami', undefined, { ca });
    expect(who.status, JSON.stringify(who.body)).toBe(200);
    expect(who.body.id).toBe('root');
    const post = await callApi(orch.url, initiator, 'POST', '/v1/sign-requests', await signRequestBody(tx(), 'p-tls'), {
      ca,
    });
    expect(post.status, JSON.stringify(post.body)).toBe(201);
    let done = post.body;
    for (let i = 0; i < 4 && !FINAL.includes(String(done.state)); i++) {
      done = (
        await callApi(
          orch.url,
          admin,
          'GET',
          `/v1/sign-requests/${post.body.id}?waitFor=final&timeoutSeconds=30`,
          undefined,
          {
            ca,
          },
        )
      ).body;
    }
    expect(done.state, JSON.stringify(done.error)).toBe('signed');
    expect(await sender(done)).toBe(address);
    // a client that does not trust the CA, and plain HTTP on the TLS port, get nothing
    const untrusted = await fetch(`${orch.url}/healthz`).then(
      () => 'answered',
      (e: Error & { cause?: { code?: string } }) => e.cause?.code ?? e.message,
    );
    expect(untrusted).toMatch(/CERT|SELF_SIGNED|UNABLE_TO_VERIFY/);
    const plain = await fetch(`${orch.url.replace('https://', 'http://')}/healthz`).then(
      (r) => r.status,
      () => 'refused',
    );
    expect(plain).not.toBe(200);
    expect(await orch.stop()).toBe(0);
  });

  it('kill -9 while the pool refills: restarted, the pool fills to its target; four requests sign once each, no presignature twice', async () => {
    // a pool at m/0/8 (target 3, one presign at a time); killed once the first presignature is stored
    const poolConfig = join(dir, 'orchestrator-pool.json');
    const cfg = JSON.parse(readFileSync(orchConfig, 'utf8'));
    cfg.pools = [{ keyId: KEY, path: 'm/0/8', target: 3, lowWater: 3 }];
    writeFileSync(poolConfig, JSON.stringify(cfg));
    const db = join(dir, 'orchestrator.db');
    const at = (state: string) => {
      const d = new Database(db, { readonly: true });
      try {
        return (
          d.prepare(`SELECT count(*) AS n FROM presignatures WHERE path = '[0,8]' AND state = ?`).get(state) as {
            n: number;
          }
        ).n;
      } finally {
        d.close();
      }
    };
    orch = await spawnOrchestrator(CLI, poolConfig, { timeoutMs: 60_000, drainMs: 60_000 });
    while (at('available') < 1) await new Promise((r) => setTimeout(r, 100));
    await orch.kill(); // the refill of the other two is cut off (a presign session may be left at the parties)
    expect(at('available')).toBeLessThan(3);

    orch = await spawnOrchestrator(CLI, poolConfig, { timeoutMs: 60_000, drainMs: 60_000 });
    while (at('available') < 3) await new Promise((r) => setTimeout(r, 200));
    const before = await partials();
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const post = await callApi(
        orch.url,
        initiator,
        'POST',
        '/v1/sign-requests',
        await signRequestBody(tx(), `p-pool-${i}`, [0, 8]),
      );
      expect(post.status, JSON.stringify(post.body)).toBe(201);
      const done = await final(post.body.id as string);
      expect(done.state, JSON.stringify(done.error)).toBe('signed');
      expect(await sender(done)).toBe(addressAt([0, 8]));
      ids.push(post.body.id as string);
    }
    // two partials per request, none more: every signature had its own presignature at its signers
    const delta = (await partials()).map((n, i) => n - (before[i] as number));
    expect(delta.reduce((x, y) => x + y, 0)).toBe(8);
    expect(await orch.stop()).toBe(0);
    // the store: each used presignature went to exactly one of the requests, at least three from the pool
    const d = new Database(db, { readonly: true });
    try {
      const used = d
        .prepare(`SELECT id, request_id FROM presignatures WHERE path = '[0,8]' AND state = 'used'`)
        .all() as { id: string; request_id: string }[];
      expect(used.length).toBeGreaterThanOrEqual(3);
      expect(new Set(used.map((u) => u.request_id)).size).toBe(used.length);
      for (const u of used) expect(ids).toContain(u.request_id);
      expect(d.prepare(`SELECT count(*) AS n FROM presignatures WHERE state = 'reserved'`).get()).toEqual({ n: 0 });
    } finally {
      d.close();
    }
  });

  it('a party down while policy v2 is published: the PUT answers delivered false at once; restarted, the sweep relays v2 to it', async () => {
    const policy = setup.policy as NonNullable<SetupResult['policy']>;
    const held = (url: string) => metric(url, /^mpc_policy_version\{document="policy"\} (\d+)/m);
    orch = await start();
    expect(await daemons[2]?.stop()).toBe(0);
    // v2: setup's v1 rules under a new version, signed by a quorum of setup's admins (2 of 3)
    const v1 = JSON.parse(readFileSync(policy.policyFile, 'utf8')) as { payload: string };
    const doc = JSON.parse(Buffer.from(v1.payload, 'base64url').toString('utf8'));
    const quorum = await Promise.all(policy.adminKeys.slice(0, 2).map((f) => loadOperatorKey(f)));
    const v2 = await signDocument(new TextEncoder().encode(JSON.stringify({ ...doc, version: 2 })), POLICY_TYP, quorum);
    // answered once the parties that are up took it (party 2's silence is not waited for to the
    // session timeout; the document push has its own short one)
    const put = await callApi(orch.url, admin, 'PUT', '/v1/policy', v2);
    expect(put.status, JSON.stringify(put.body)).toBe(200);
    expect(put.body).toMatchObject({ version: 2, delivered: false });
    for (const d of daemons.slice(0, 2)) expect(await held(d.url)).toBe(2);
    // restarted on its ledger it holds v1; a sweep (every 5 s) relays v2
    daemons[2] = await spawnParty(CLI, setup.partyConfigs[2] as string, { timeoutMs: 60_000, drainMs: 3000 });
    const restarted = daemons[2];
    expect(await held(restarted.url)).toBe(1);
    for (let i = 0; i < 300 && (await held(restarted.url)) !== 2; i++) await new Promise((r) => setTimeout(r, 200));
    expect(await held(restarted.url)).toBe(2);
    expect(restarted.lines.join('\n')).not.toMatch(/ERR_POLICY_QUORUM/);
    // the policy state the API reports is v2, and an initiator's request signs under it
    expect((await callApi(orch.url, admin, 'GET', '/v1/policy')).body).toMatchObject({ policy: { version: 2 } });
    const post = await callApi(orch.url, initiator, 'POST', '/v1/sign-requests', await signRequestBody(tx(), 'p-v2'));
    expect(post.status, JSON.stringify(post.body)).toBe(201);
    const done = await final(post.body.id as string);
    expect(done.state, JSON.stringify(done.error)).toBe('signed');
    expect(done).toMatchObject({ policyVersion: 2 });
    expect(await orch.stop()).toBe(0);
  });
});
