/**
 * The orchestrator end to end, in process: three party daemons and the embedded coordinator over the
 * in-memory transport (same frames, subjects and checks as NATS), the REST API on fastify.inject.
 * Every party enforces the co-signer check (issue 14) with the registry and policy the orchestrator
 * relayed. The 2-of-3 key is dealt to the parties (fixture primes; a real keygen + aux info costs ~30 s of
 * CI and is covered by test/daemon/party-daemon.test.ts), the orchestrator reads its public key and
 * chain code from the parties (keyinfo session); its xpub is read over REST, and an EIP-1559
 * transaction and a 2-input PSBT are signed through the API (on-demand presigning, one per digest
 * at its path). viem, bip32 and tiny-secp256k1 check the artifacts independently.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bytesToHex } from '@noble/hashes/utils.js';
import { Transaction as BtcTransaction, Psbt } from 'bitcoinjs-lib';
import { getBytes } from 'ethers';
import * as ecc from 'tiny-secp256k1';
import { type Hex, recoverTransactionAddress, serializeTransaction } from 'viem';
import { publicKeyToAddress } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { btcNetwork } from '../../src/chains/btc-network.js';
import { demoPsbt } from '../../src/cli/demo-payloads.js';
import { coordinatorBackend } from '../../src/orchestrator/backend.js';
import { loadAdminSet, POLICY_TYP, signDocument } from '../../src/policy/index.js';
import { decodePoint, encodePoint } from '../../src/primitives/curve.js';
import { MemoryHub } from '../../src/transport/memory.js';
import { bip32 } from '../chains/helpers.js';
import { clusterIdentities, installDealtKey, startCluster } from '../daemon/cluster.js';
import { dealKeyShares } from '../helpers/dealer.js';
import { makeKey } from '../helpers/operator-keys.js';
import { bytes, type Harness, makeHarness } from './harness.js';

const ids = clusterIdentities(3);
const POOL = { keyId: 'hot', path: [0, 7], target: 1, lowWater: 0 };
let dir: string;
let cluster: Awaited<ReturnType<typeof startCluster>>;
let h: Harness;
let xpub: string;
const hex0x = (b: Uint8Array) => `0x${Buffer.from(b).toString('hex')}`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'orch-int-'));
  const hub = new MemoryHub();
  const transports = ids.secrets.map((k, i) => hub.transport(i, k, ids.roster));
  // every party enforces the co-signer check (issue 14) under the same 1-of-1 admin set
  const admin = await makeKey('a1');
  const admins = await loadAdminSet({ threshold: 1, admins: [{ id: 'a1', publicKey: admin.publicJwk }] });
  cluster = await startCluster({
    dir,
    ids,
    transports,
    coordinatorBus: hub.bus(),
    roundTimeoutMs: 60_000,
    options: () => ({ policy: { mode: 'enforce', admins } }),
  });
  const key = await dealKeyShares({ n: 3, t: 2, seed: 'orchestrator-integration' });
  await installDealtKey(cluster.parties, 'hot', key);
  const backend = coordinatorBackend(cluster.coordinator);
  // the harness publishes the registry and policy: the orchestrator relays them to every party
  h = await makeHarness({ backend, pools: [POOL], admin });
  const pushed = await cluster.coordinator.pushPolicy(
    JSON.parse((await h.store.listDocuments('policy'))[0]?.raw as string) as object,
  );
  expect(pushed.parties.map((p) => [p.ok, p.version])).toEqual([
    [true, 1],
    [true, 1],
    [true, 1],
  ]);
  // adopt the dealt key as the keygen job would: its public key and chain code as the parties hold them
  const info = await backend.keyInfo({ keyId: 'hot', parties: [0, 1, 2] });
  expect(info.publicKey.equals(key.publicKey)).toBe(true);
  await h.store.insertKey({ id: 'hot', threshold: 2, parties: 3, createdBy: 'root' }, Date.now());
  await h.store.updateKey(
    'hot',
    {
      state: 'ready',
      progress: 'done',
      publicKey: bytesToHex(encodePoint(info.publicKey)),
      chainCode: bytesToHex(info.chainCode),
    },
    Date.now(),
  );
  const k = (await h.call('vic', 'GET', '/v1/keys/hot')).json;
  expect(k).toMatchObject({ state: 'ready', progress: 'done', threshold: 2, parties: [0, 1, 2] });
  xpub = k.xpub as string;
  // one pooled presignature at m/0/7 for the transaction below (the PSBT presigns on demand)
  await h.pools?.refill(POOL);
  expect(await h.store.countPresignatures('hot', [0, 7], 'available')).toBe(1);
}, 120_000);

afterAll(async () => {
  await h?.close();
  await cluster?.close();
  await rm(dir, { recursive: true, force: true });
});

async function submit(kind: 'eth.transaction' | 'btc.psbt', payload: Uint8Array, extra: Record<string, unknown> = {}) {
  const idempotencyKey = `int-${kind}`;
  const signedRequest = await h.signedRequest({
    payload,
    kind,
    keyId: 'hot',
    idempotencyKey,
    ...(kind === 'eth.transaction' ? { path: [0, 7] } : {}),
    ...(typeof extra.network === 'string' ? { network: extra.network as 'regtest' } : {}),
  });
  const r = await h.call('ian', 'POST', '/v1/sign-requests', {
    keyId: 'hot',
    kind,
    payload: hex0x(payload),
    signedRequest,
    idempotencyKey,
    ...extra,
  });
  expect(r.status, JSON.stringify(r.json)).toBe(201);
  const done = await h.call('vic', 'GET', `/v1/sign-requests/${r.json.id}?waitFor=final&timeoutSeconds=60`);
  expect(done.json.state, JSON.stringify(done.json.error)).toBe('signed');
  return done.json.artifact as { hex: string };
}

describe('orchestrator over party daemons', () => {
  it('the key has an xpub every party agrees on, and addresses derived from it', async () => {
    expect(xpub).toMatch(/^xpub/);
    const a = await h.call('vic', 'GET', '/v1/keys/hot/addresses?path=m/0/7&chain=ethereum');
    const child = bip32.fromBase58(xpub).derive(0).derive(7);
    const expected = publicKeyToAddress(hex0x(decodePoint(child.publicKey).toBytes(false)) as Hex);
    expect(a.json.address).toBe(expected);
  });

  it('signs an EIP-1559 transaction through the REST API; viem recovers the key’s address at m/0/7', async () => {
    const unsigned = getBytes(
      serializeTransaction({
        type: 'eip1559',
        chainId: 1,
        nonce: 0,
        to: '0x3333333333333333333333333333333333333333',
        value: 10n ** 16n,
        gas: 21_000n,
        maxFeePerGas: 20_000_000_000n,
        maxPriorityFeePerGas: 1_000_000_000n,
      }),
    );
    const pooled = (
      await h.store.db.selectFrom('presignatures').select('id').where('state', '=', 'available').execute()
    )[0]?.id as string;
    const artifact = await submit('eth.transaction', unsigned);
    // it signed with the pooled presignature: used here, consumed in both signers' ledgers
    const row = await h.store.db.selectFrom('presignatures').selectAll().where('id', '=', pooled).executeTakeFirst();
    expect(row?.state).toBe('used');
    for (const s of [0, 1]) expect(cluster.parties[s]?.ledger.isConsumed(pooled)).toBe(true);
    const from = await recoverTransactionAddress({ serializedTransaction: artifact.hex as never });
    const address = (await h.call('vic', 'GET', '/v1/keys/hot/addresses?path=m/0/7&chain=ethereum')).json.address;
    expect(from).toBe(address);
  });

  it('signs a 2-input PSBT through the REST API; witnesses and signatures check out', async () => {
    const node = bip32.fromBase58(xpub);
    const key = { publicKey: decodePoint(node.publicKey), chainCode: new Uint8Array(node.chainCode) };
    const paths = [
      [0, 1],
      [1, 4],
    ];
    const payload = demoPsbt(
      key,
      paths.map((path, i) => ({ path, value: 60_000n + BigInt(i) * 50_000n })),
      [1, 5],
    );
    const artifact = await submit('btc.psbt', payload, { network: 'regtest' });
    const tx = BtcTransaction.fromHex(artifact.hex);
    const check = Psbt.fromBuffer(payload, { network: btcNetwork('regtest') });
    paths.forEach((path, i) => {
      const witness = tx.ins[i]?.witness as Uint8Array[];
      const pub = path.reduce((n, j) => n.derive(j), node).publicKey;
      expect(Buffer.from(witness[1] as Uint8Array).equals(Buffer.from(pub))).toBe(true);
      check.updateInput(i, { partialSig: [{ pubkey: witness[1] as Uint8Array, signature: witness[0] as Uint8Array }] });
    });
    expect(check.validateSignaturesOfAllInputs((pk, hash, sig) => ecc.verify(hash, pk, sig))).toBe(true);
  });

  it('under policy v2 (relayed to every party): a transfer over the limit waits for two treasury approvals and signs; one to an address outside the book is rejected with the rule id', async () => {
    const EXCHANGE = '0x3333333333333333333333333333333333333333';
    const treasury = { groups: [{ name: 'treasury', members: { groups: ['treasury'] }, threshold: 2 }] };
    const v2 = {
      schema: 'mpc-custody/policy@1',
      version: 2,
      addressBook: { exchanges: { chain: 'eth', addresses: [EXCHANGE] } },
      rules: [
        {
          id: 'over-1-eth',
          match: {
            destinations: { addressBook: ['exchanges'] },
            assets: ['ETH'],
            amount: { currency: 'native', above: `${10n ** 18n}` },
          },
          action: 'require_approvals',
          approvals: { ...treasury, combine: 'all', timeoutSeconds: 3600 },
        },
        { id: 'exchanges', match: { destinations: { addressBook: ['exchanges'] } }, action: 'allow' },
      ],
    };
    expect(await h.service.putPolicy((await signDocument(bytes(v2), POLICY_TYP, [h.admin])) as object)).toMatchObject({
      version: 2,
    });
    const transfer = (to: string, value: bigint, nonce: number) =>
      getBytes(
        serializeTransaction({
          type: 'eip1559',
          chainId: 1,
          nonce,
          to: to as Hex,
          value,
          gas: 21_000n,
          maxFeePerGas: 20_000_000_000n,
          maxPriorityFeePerGas: 1_000_000_000n,
        }),
      );
    const create = async (payload: Uint8Array, idempotencyKey: string) => {
      const signedRequest = await h.signedRequest({
        payload,
        kind: 'eth.transaction',
        keyId: 'hot',
        idempotencyKey,
        path: [0, 7],
      });
      const r = await h.call('ian', 'POST', '/v1/sign-requests', {
        keyId: 'hot',
        kind: 'eth.transaction',
        payload: hex0x(payload),
        signedRequest,
        idempotencyKey,
      });
      expect(r.status, JSON.stringify(r.json)).toBe(201);
      return { id: r.json.id as string, signedRequest };
    };

    const big = await create(transfer(EXCHANGE, 2n * 10n ** 18n, 1), 'int-v2-big');
    const waiting = await h.call(
      'vic',
      'GET',
      `/v1/sign-requests/${big.id}?waitFor=pending_approval,final&timeoutSeconds=30`,
    );
    expect(waiting.json).toMatchObject({ state: 'pending_approval', policyVersion: 2 });
    for (const by of ['amy', 'ivy']) {
      const a = await h.call(by, 'POST', `/v1/sign-requests/${big.id}/approvals`, {
        approval: await h.approval(by, big.signedRequest, 2),
      });
      expect(a.status, JSON.stringify(a.json)).toBe(200);
    }
    const signed = await h.call('vic', 'GET', `/v1/sign-requests/${big.id}?waitFor=final&timeoutSeconds=60`);
    expect(signed.json.state, JSON.stringify(signed.json.error)).toBe('signed');
    const from = await recoverTransactionAddress({
      serializedTransaction: (signed.json.artifact as { hex: string }).hex as never,
    });
    expect(from).toBe((await h.call('vic', 'GET', '/v1/keys/hot/addresses?path=m/0/7&chain=ethereum')).json.address);

    const stray = await create(transfer('0x4444444444444444444444444444444444444444', 1n, 2), 'int-v2-stray');
    const rejected = await h.call('vic', 'GET', `/v1/sign-requests/${stray.id}?waitFor=final&timeoutSeconds=30`);
    expect(rejected.json.state).toBe('rejected');
    expect(rejected.json.error).toMatchObject({
      code: 'ERR_POLICY_BLOCKED',
      message: expect.stringMatching(/^rule _default_deny: /),
    });
  });

  it('velocity at the parties holds under concurrency: two signs each under the cap, together over it → exactly one signs', async () => {
    const v3 = {
      schema: 'mpc-custody/policy@1',
      version: 3,
      rules: [
        {
          id: 'hourly-cap',
          // 2.01 ETH left this key above; 3 ETH an hour: one more 0.6 ETH fits, two do not
          match: {
            assets: ['ETH'],
            velocity: { windowSeconds: 3600, currency: 'native', above: `${3n * 10n ** 18n}`, aggregate: 'key' },
          },
          action: 'block',
        },
        { id: 'eth', match: { kinds: ['eth.transaction'] }, action: 'allow' },
      ],
    };
    await h.service.putPolicy((await signDocument(bytes(v3), POLICY_TYP, [h.admin])) as object);
    const c = cluster.coordinator;
    const presignatures = [
      await c.presign({ keyId: 'hot', signers: [0, 1], path: [0, 7] }),
      await c.presign({ keyId: 'hot', signers: [0, 1], path: [0, 7] }),
    ];
    const payloads = [10, 11].map((nonce) =>
      getBytes(
        serializeTransaction({
          type: 'eip1559',
          chainId: 1,
          nonce,
          to: '0x5555555555555555555555555555555555555555',
          value: 6n * 10n ** 17n,
          gas: 21_000n,
          maxFeePerGas: 20_000_000_000n,
          maxPriorityFeePerGas: 1_000_000_000n,
        }),
      ),
    );
    // the coordinator (no orchestrator store in the way) sends both at once
    const outcomes = await Promise.allSettled(
      payloads.map(async (payload, i) =>
        c.signPayload({
          keyId: 'hot',
          kind: 'eth.transaction',
          payload,
          presignatures: [presignatures[i] as never],
          authorization: {
            signedRequest: await h.signedRequest({
              payload,
              kind: 'eth.transaction',
              keyId: 'hot',
              idempotencyKey: `race-${i}`,
              path: [0, 7],
            }),
            policyVersion: 3,
            approvals: [],
          },
        }),
      ),
    );
    expect(outcomes.map((o) => o.status).sort()).toEqual(['fulfilled', 'rejected']);
    const refused = outcomes.find((o) => o.status === 'rejected') as PromiseRejectedResult;
    expect(String(refused.reason?.message ?? refused.reason)).toContain('ERR_POLICY_BLOCKED');
  });
});
