import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HDKey } from '@scure/bip32';
import { Transaction } from 'ethers';
import { addressAt, type BtcNetwork, type ChainKey, type PayloadKind } from '../chains/index.js';
import { addCachedPrimes } from '../daemon/main.js';
import { runNatsServer } from '../daemon/nats-server-process.js';
import { setupPartySet } from '../daemon/setup.js';
import { freePort, type SpawnedParty, spawnParty } from '../daemon/spawn-party.js';
import { isErrorCode, MpcError } from '../errors/index.js';
import type { BackendName } from '../math/raw.js';
import { callApi, generateOperatorKey, loadOperatorKey } from '../orchestrator/client.js';
import { type RunningOrchestrator, startOrchestrator } from '../orchestrator/main.js';
import { payloadDigest, type Signer, signSignRequest } from '../policy/index.js';
import { decodePoint } from '../primitives/curve.js';
import { verifyAuditStream } from './audit-command.js';
import { demoErc20Transfer, demoPsbt } from './demo-payloads.js';

const DEPLOYMENT = 'demo';
const KEY = 'demo';
const FINAL = ['signed', 'rejected', 'failed', 'expired'];

type Step = <T>(label: string, fn: () => T | Promise<T>) => Promise<T>;
type Json = Record<string, unknown>;

/**
 * The demo over a local nats-server, driven through the orchestrator's REST API (issue 13):
 * `mpc-custody setup` in a temp dir (TLS, nkeys, permissions, an enforcing policy: admin set,
 * signed registry and policy v1), three `mpc-custody party` processes with encrypted file stores,
 * and the orchestrator (SQLite store, signed audit log) in this process. An admin creates the 2-of-3
 * key over REST (keygen + aux info as a job); the initiator of setup's registry signs requests for an
 * ERC-20 transfer and a 2-input PSBT; every party re-checks the signed request and the policy before
 * its partial signature leaves; a raw digest is refused by the policy. At the end the auditor's
 * read-only credential reads the stream and verifies every chain and every signature's backing, as
 * `mpc-custody audit verify` does. `primes[i]` seed party i's prime cache.
 */
export async function demoOverNats(o: {
  dir: string;
  backend: BackendName;
  primes: readonly bigint[];
  out: (line: string) => void;
  step: Step;
}): Promise<number> {
  const { dir, out, step } = o;
  const port = await freePort();
  const setup = await step('setup: private CA, TLS server cert, nkeys + permissions, admin set, signed policy', () =>
    setupPartySet({
      dir: join(dir, 'parties'),
      parties: 3,
      natsPort: port,
      httpBasePort: 0,
      math: o.backend,
      // every party and the orchestrator write signed audit records to JetStream (stream AUDIT_demo)
      audit: DEPLOYMENT,
    }),
  );
  const policy = setup.policy;
  if (policy === undefined) throw new MpcError('ERR_CONFIG_INVALID', 'setup wrote no policy');
  for (let i = 0; i < 3; i++) {
    await addCachedPrimes(setup.partyConfigs[i] as string, o.primes.slice(2 * i, 2 * i + 2));
  }
  const nats = await step(`nats-server on 127.0.0.1:${port} (TLS, per-party credentials, JetStream)`, () =>
    runNatsServer(setup.nats.serverConfigFile),
  );
  const parties: SpawnedParty[] = [];
  const cli = process.argv[1] as string;
  let orch: RunningOrchestrator | undefined;
  let code = 1;
  try {
    await step('start 3 party daemons (separate processes, encrypted file stores, policy enforced)', async () => {
      for (const c of setup.partyConfigs) parties.push(await spawnParty(cli, c, { drainMs: 5000 }));
    });
    for (const [i, p] of parties.entries()) out(`  party ${i}: pid ${p.proc.pid}, health and metrics at ${p.url}`);

    // the orchestrator: its first API admin, setup's admin set, registry and policy, a pool at m/0/0
    const adminKeyFile = join(dir, 'orchestrator-admin.key');
    const adminJwk = await generateOperatorKey(adminKeyFile, 'root', 'EdDSA');
    const admin = await loadOperatorKey(adminKeyFile);
    const initiator = await loadOperatorKey(policy.initiatorKey);
    const config = join(dir, 'orchestrator.json');
    await writeFile(
      config,
      JSON.stringify({
        coordinator: setup.coordinatorConfig,
        http: { host: '127.0.0.1', port: 0 },
        state: { kind: 'sqlite', path: join(dir, 'orchestrator.db') },
        bootstrapAdmin: { id: 'root', publicKey: adminJwk },
        policy: {
          admins: JSON.parse(await readFile(policy.adminsFile, 'utf8')),
          policyFile: policy.policyFile,
          registryFile: policy.registryFile,
        },
        signers: { parties: 3 },
        pools: [{ keyId: KEY, path: 'm/0/0', target: 2, lowWater: 1 }],
        logLevel: 'warn',
        audit: { deployment: DEPLOYMENT, createStream: true },
      }),
      { mode: 0o600 },
    );
    orch = await step(
      'start the orchestrator (REST API, SQLite, signed audit log; policy relayed to the parties)',
      () => startOrchestrator(config),
    );
    const url = orch.url;
    out(`  REST API at ${url} (OpenAPI at ${url}/v1/openapi.json)`);
    const api = async (who: Signer, method: string, path: string, body?: unknown): Promise<Json> => {
      const r = await callApi(url, who, method, path, body);
      if (r.status >= 300) {
        const code = isErrorCode(r.body.code) ? r.body.code : 'ERR_INTERNAL';
        throw new MpcError(code, `${method} ${path} answered ${r.status}: ${String(r.body.message)}`);
      }
      return r.body;
    };
    await api(admin, 'POST', '/v1/operators', {
      id: policy.initiatorId,
      roles: ['initiator'],
      publicKey: initiatorPublicJwk(await readFile(policy.initiatorKey, 'utf8')),
    });
    out(`  operator ${policy.initiatorId} registered as initiator (the key of setup's signed registry)`);

    const key = await step(
      'POST /v1/keys: keygen 2-of-3 + aux info (3072-bit Paillier) as a job over NATS',
      async () => {
        await api(admin, 'POST', '/v1/keys', { id: KEY, threshold: 2, parties: 3 });
        let last = '';
        for (;;) {
          const k = await api(admin, 'GET', `/v1/keys/${KEY}`);
          if (k.progress !== last) out(`  key ${KEY}: ${k.state} (${String(k.progress)})`);
          last = String(k.progress);
          if (k.state === 'ready') return k;
          if (k.state === 'failed')
            throw new MpcError('ERR_DAEMON_SESSION_FAILED', `key generation failed: ${String(k.errorCode)}`);
          await new Promise((r) => setTimeout(r, 500));
        }
      },
    );
    out(`  public key ${String(key.publicKey)}`);
    out(`  xpub ${String(key.xpub)}`);
    const hd = HDKey.fromExtendedKey(String(key.xpub));
    const chainKey: ChainKey = {
      publicKey: decodePoint(hd.publicKey as Uint8Array),
      chainCode: hd.chainCode as Uint8Array,
    };
    const account = await api(initiator, 'GET', `/v1/keys/${KEY}/addresses?path=m/0/0&chain=ethereum`);
    out(`  account at m/0/0: ${String(account.address)}`);

    let n = 0;
    // the initiator's signed request binds key, kind, payload hash, path (a PSBT: its network) and expiry
    const sign = async (
      kind: PayloadKind,
      payload: Uint8Array,
      where: { path: number[] } | { network: BtcNetwork },
    ): Promise<Json> => {
      const now = Math.floor(Date.now() / 1000);
      const idempotencyKey = `demo-${++n}`;
      const signedRequest = await signSignRequest(
        {
          v: 1,
          keyId: KEY,
          kind,
          ...where,
          payloadSha256: payloadDigest(payload),
          idempotencyKey,
          iat: now - 5,
          exp: now + 600,
        },
        initiator,
      );
      const network = 'network' in where ? where.network : undefined;
      const created = await api(initiator, 'POST', '/v1/sign-requests', {
        keyId: KEY,
        kind,
        payload: `0x${Buffer.from(payload).toString('hex')}`,
        ...(network ? { network } : {}),
        signedRequest,
        idempotencyKey,
      });
      let r = created;
      while (!FINAL.includes(String(r.state))) {
        r = await api(initiator, 'GET', `/v1/sign-requests/${created.id}?waitFor=final&timeoutSeconds=30`);
      }
      return r;
    };

    const eth = await step(
      'POST /v1/sign-requests: an EIP-1559 ERC-20 transfer, signed by the initiator; each party re-checks it',
      () => sign('eth.transaction', demoErc20Transfer(7), { path: [0, 0] }),
    );
    if (eth.state !== 'signed')
      throw new MpcError(
        'ERR_DAEMON_SESSION_FAILED',
        `the transfer ended ${String(eth.state)}: ${JSON.stringify(eth.error)}`,
      );
    const ethHex = (eth.artifact as { hex: string }).hex;
    const sender = Transaction.from(ethHex).from;
    const expected = addressAt(chainKey, [0, 0], 'ethereum');
    out(`  signed raw transaction ${ethHex}`);
    out(`  sender ${sender} (${sender === expected ? 'the key’s address at m/0/0' : 'WRONG'})`);
    const t0 = performance.now();
    const eth2 = await sign('eth.transaction', demoErc20Transfer(8), { path: [0, 0] });
    out(`  a second transfer (pooled presignature) took ${(performance.now() - t0).toFixed(1)} ms from POST to signed`);

    const inputs = [
      { path: [0, 1], value: 150_000n },
      { path: [1, 3], value: 80_000n },
    ];
    const psbt = demoPsbt(chainKey, inputs, [1, 9], 'regtest');
    const btc = await step('a 2-input regtest PSBT through the API (one presignature per input path), finalized', () =>
      sign('btc.psbt', psbt, { network: 'regtest' }),
    );
    if (btc.state !== 'signed')
      throw new MpcError(
        'ERR_DAEMON_SESSION_FAILED',
        `the PSBT ended ${String(btc.state)}: ${JSON.stringify(btc.error)}`,
      );
    const btcArtifact = btc.artifact as { hex: string; fields: Json };
    out(`  finalized transaction ${btcArtifact.hex} (txid ${String(btcArtifact.fields.txid)})`);

    const raw = await step('a raw 32-byte digest: the policy blocks it (the parties would too)', () =>
      sign('raw.digest', new Uint8Array(32).fill(0x42), { path: [0, 0] }),
    );
    const refusal = raw.error as { code?: string; message?: string } | null;
    out(`  ${String(raw.state)}: ${refusal?.code} ${refusal?.message ?? ''}`);

    const ok =
      sender === expected &&
      eth2.state === 'signed' &&
      (eth2.artifact as { hex: string }).hex !== ethHex &&
      raw.state === 'rejected';
    code = ok ? 0 : 1;
    await step('stop the orchestrator (drain) and the parties (each ships what its ledger holds)', async () => {
      await orch?.shutdown('demo', 10_000);
      orch = undefined;
      await Promise.all(parties.splice(0).map((p) => p.stop()));
    });
    const audit = await step('audit verify with the read-only auditor credential (TLS + nkey)', () =>
      verifyAuditStream({
        roster: setup.rosterFile,
        deployment: DEPLOYMENT,
        natsConfig: setup.nats.auditor?.configFile ?? '',
      }),
    );
    const perEmitter = Object.entries(audit.emitters)
      .map(([id, e]) => `${id} ${e.records}`)
      .join(', ');
    out(
      `  audit: records ${perEmitter}; ${audit.ok ? `chains and every signature's request, decision and consume records verified (${audit.records} records)` : `BROKEN ${JSON.stringify(audit.firstBreak)}`}`,
    );
    return audit.ok ? code : 1;
  } finally {
    await orch?.shutdown('demo', 0).catch(() => undefined);
    await Promise.all(parties.map((p) => p.stop()));
    await nats.kill();
  }
}

/** The public half of an operator key file's private JWK. */
function initiatorPublicJwk(keyFileText: string): Json {
  const { d: _d, ...pub } = (JSON.parse(keyFileText) as { privateJwk: Json }).privateJwk;
  return pub;
}
