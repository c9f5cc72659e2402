/**
 * An orchestrator (service + REST API) in process for the API tests: SQLite in a temp dir, one
 * operator per role (plus one with two roles), a policy admin set with a signed registry and policy,
 * and a signing backend (a fake by default; the integration test passes the real coordinator).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { getBytes } from 'ethers';
import type { FastifyInstance } from 'fastify';
import { serializeTransaction } from 'viem';
import { MpcError } from '../../src/errors/index.js';
import { buildApi } from '../../src/orchestrator/api/server.js';
import type { AuditLog } from '../../src/orchestrator/audit.js';
import { signApiToken } from '../../src/orchestrator/auth.js';
import type { SigningBackend } from '../../src/orchestrator/backend.js';
import type { StateConfig } from '../../src/orchestrator/config.js';
import { OrchestratorMetrics } from '../../src/orchestrator/metrics.js';
import { type PoolSpec, PresignaturePools } from '../../src/orchestrator/pool.js';
import { OrchestratorService } from '../../src/orchestrator/service.js';
import type { SignerHealth } from '../../src/orchestrator/signer-sets.js';
import { OrchestratorStore } from '../../src/orchestrator/store/store.js';
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
import type { Role } from '../../src/policy/registry.js';
import { decodePoint } from '../../src/primitives/curve.js';
import { makeKey, type OperatorKey } from '../helpers/operator-keys.js';

export const bytes = (o: unknown) => new TextEncoder().encode(JSON.stringify(o));
export const hex0x = (b: Uint8Array) => `0x${Buffer.from(b).toString('hex')}`;
/** A canonical EIP-1559 transfer with the given nonce (distinct payloads for distinct requests). */
export const tx = (nonce: number) =>
  getBytes(
    serializeTransaction({
      type: 'eip1559',
      chainId: 1,
      nonce,
      to: '0x3333333333333333333333333333333333333333',
      value: 1n,
      gas: 21_000n,
      maxFeePerGas: 2n,
      maxPriorityFeePerGas: 1n,
    }),
  );
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** A key the fake backend "generates": a fixed public key and chain code. */
export const FAKE_KEY = {
  publicKey: decodePoint(secp256k1.getPublicKey(new Uint8Array(32).fill(7), true)),
  chainCode: new Uint8Array(32).fill(3),
};

export function fakeBackend(): SigningBackend & {
  signed: number;
  presigned: number;
  used: string[];
  lose: Set<string>;
  down: Set<number>;
  timeouts: number;
  signedBy: string[];
} {
  const b = {
    signed: 0,
    presigned: 0,
    /** Presignature ids of every signature made. */
    used: [] as string[],
    /** Ids a party "no longer holds": a sign with one fails as the daemon would. */
    lose: new Set<string>(),
    /** Parties that do not answer: a session with one of them times out as the coordinator's would. */
    down: new Set<number>(),
    timeouts: 0,
    /** The signer set (`0,2`) of every presignature signed with. */
    signedBy: [] as string[],
    async keygen() {
      return FAKE_KEY.publicKey;
    },
    async auxInfo() {},
    async keyInfo() {
      return FAKE_KEY;
    },
    async presign(o: { signers: readonly number[]; path: readonly number[] }) {
      timeoutIfDown(o.signers);
      b.presigned++;
      return {
        id: randomBytes(32).toString('hex'),
        R: FAKE_KEY.publicKey,
        publicKey: FAKE_KEY.publicKey,
        path: [...o.path],
        signers: [...o.signers],
      };
    },
    async signPayload(o: { kind: string; presignatures: readonly { id: string; signers: readonly number[] }[] }) {
      for (const p of o.presignatures) timeoutIfDown(p.signers);
      for (const p of o.presignatures) {
        if (b.lose.has(p.id)) {
          throw new MpcError('ERR_DAEMON_SESSION_FAILED', 'sign failed at 1: ERR_DAEMON_PRESIGNATURE_UNKNOWN');
        }
      }
      b.used.push(...o.presignatures.map((p) => p.id));
      b.signedBy.push(...o.presignatures.map((p) => p.signers.join(',')));
      b.signed++;
      return { artifact: { kind: o.kind as never, hex: '0x00', fields: { fake: true } } };
    },
  };
  const timeoutIfDown = (signers: readonly number[]) => {
    const missing = signers.filter((p) => b.down.has(p));
    if (missing.length === 0) return;
    b.timeouts++;
    throw new MpcError('ERR_DAEMON_SESSION_TIMEOUT', `no answer from ${missing.join(', ')} in time`, {
      details: { sid: 'fake', missing: missing.join(',') },
    });
  };
  return b;
}

export const ROLE_OPERATORS: Record<string, Role[]> = {
  root: ['admin'],
  ian: ['initiator'],
  amy: ['approver'],
  aud: ['auditor'],
  vic: ['viewer'],
  ivy: ['initiator', 'approver'],
};

/** Allow transactions and PSBTs; eth.message needs one approval from the treasury group; the rest is denied. */
export const policyDoc = (version: number) => ({
  schema: 'mpc-custody/policy@1',
  version,
  rules: [
    { id: 'eth-tx', match: { kinds: ['eth.transaction'] }, action: 'allow' },
    { id: 'psbt', match: { kinds: ['btc.psbt'] }, action: 'allow' },
    {
      id: 'messages',
      match: { kinds: ['eth.message'] },
      action: 'require_approvals',
      approvals: {
        groups: [{ name: 'treasury', members: { groups: ['treasury'] }, threshold: 1 }],
        combine: 'all',
        timeoutSeconds: 3600,
      },
    },
  ],
});

export interface Harness {
  app: FastifyInstance;
  pools: PresignaturePools | undefined;
  service: OrchestratorService;
  store: OrchestratorStore;
  metrics: OrchestratorMetrics;
  keys: Record<string, OperatorKey>;
  admin: OperatorKey;
  backend: SigningBackend;
  /** Signs a token for `who` and injects the request. */
  call(
    who: string | undefined,
    method: string,
    url: string,
    body?: unknown,
    o?: { token?: string; raw?: string; contentType?: string },
  ): Promise<{ status: number; json: Record<string, unknown> & { code?: string } }>;
  token(
    who: string,
    method: string,
    url: string,
    body?: Uint8Array,
    o?: Parameters<typeof signApiToken>[2],
  ): Promise<string>;
  signedRequest(claims: Partial<SignRequestPayload> & { payload: Uint8Array }, by?: string): Promise<string>;
  approval(by: string, signedRequest: string, policyVersion?: number): Promise<string>;
  readyKey(id: string, threshold?: number): Promise<void>;
  close(): Promise<void>;
}

export async function makeHarness(
  o: {
    backend?: SigningBackend;
    parties?: number;
    state?: StateConfig;
    pools?: readonly PoolSpec[];
    /** The policy admin (1-of-1 set); a fresh one by default. */
    admin?: OperatorKey;
    /** The orchestrator's audit log (issue 15); none by default. */
    audit?: AuditLog;
    /** Parties that recently timed out (shared by pools and on-demand signing). */
    health?: SignerHealth;
    /** The API operators' keys (another replica's harness shares them); fresh ones by default. */
    keys?: Record<string, OperatorKey>;
    /** This replica's id and signing lease (several replicas on one PostgreSQL database). */
    replicaId?: string;
    signingLeaseMs?: number;
    /** The service's clock (Unix ms). */
    now?: () => number;
    /** The service's background sweep period (default 5 s). */
    sweepMs?: number;
  } = {},
): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), 'orch-api-'));
  const store = await OrchestratorStore.open(o.state ?? { kind: 'sqlite', path: join(dir, 'orch.db') });
  const keys: Record<string, OperatorKey> = { ...o.keys };
  for (const id of Object.keys(ROLE_OPERATORS)) keys[id] ??= await makeKey(id, id === 'amy' ? 'ES256' : 'EdDSA');
  const admin = o.admin ?? (await makeKey('a1'));
  const backend = o.backend ?? fakeBackend();
  const metrics = new OrchestratorMetrics({ defaultMetrics: false });
  const pools = o.pools
    ? new PresignaturePools({
        store,
        backend,
        specs: o.pools,
        metrics,
        intervalMs: 60_000,
        concurrency: 4,
        ...(o.health ? { health: o.health } : {}),
        ...(o.replicaId !== undefined
          ? { replica: { id: o.replicaId, ...(o.signingLeaseMs ? { signingLeaseMs: o.signingLeaseMs } : {}) } }
          : {}),
        ...(o.now ? { now: o.now } : {}),
      })
    : undefined;
  const service = new OrchestratorService({
    store,
    backend,
    metrics,
    ...(pools ? { pools } : {}),
    ...(o.health ? { health: o.health } : {}),
    ...(o.audit ? { audit: o.audit } : {}),
    ...(o.replicaId !== undefined ? { replicaId: o.replicaId } : {}),
    ...(o.signingLeaseMs !== undefined ? { signingLeaseMs: o.signingLeaseMs } : {}),
    ...(o.now ? { now: o.now } : {}),
    ...(o.sweepMs !== undefined ? { sweepMs: o.sweepMs } : {}),
    config: {
      bootstrapAdmin: { id: 'root', publicKey: (keys.root as OperatorKey).publicJwk as never },
      policy: { admins: { threshold: 1, admins: [{ id: 'a1', publicKey: admin.publicJwk as never }] } },
      signers: { parties: o.parties ?? 3 },
      requestTtlSeconds: 3600,
    },
  });
  await service.init();
  for (const [id, roles] of Object.entries(ROLE_OPERATORS)) {
    if (id !== 'root')
      await store.insertOperator({ id, publicKey: (keys[id] as OperatorKey).publicJwk as never, roles }, Date.now());
  }
  const registry = {
    schema: 'mpc-custody/operators@1',
    version: 1,
    operators: [
      { id: 'ian', roles: ['initiator'], publicKey: (keys.ian as OperatorKey).publicJwk },
      {
        id: 'ivy',
        roles: ['initiator', 'approver'],
        groups: ['treasury'],
        publicKey: (keys.ivy as OperatorKey).publicJwk,
      },
      { id: 'amy', roles: ['approver'], groups: ['treasury'], publicKey: (keys.amy as OperatorKey).publicJwk },
    ],
  };
  // a replica joining a database that already holds them (init loaded them) signs none again
  if (service.registry() === undefined) {
    await service.putRegistry((await signDocument(bytes(registry), REGISTRY_TYP, [admin])) as object);
  }
  if (service.latestPolicy() === undefined) {
    await service.putPolicy((await signDocument(bytes(policyDoc(1)), POLICY_TYP, [admin])) as object);
  }
  const app = await buildApi({ service, metrics, bodyLimitBytes: 64 * 1024 });

  const token: Harness['token'] = (who, method, url, body, opts) =>
    signApiToken(keys[who] as OperatorKey, { method, url, ...(body ? { body } : {}) }, opts);
  return {
    app,
    pools,
    service,
    store,
    metrics,
    keys,
    admin,
    backend,
    token,
    async call(who, method, url, body, opts = {}) {
      const payload = opts.raw ?? (body === undefined ? undefined : JSON.stringify(body));
      const buf = payload === undefined ? undefined : new TextEncoder().encode(payload);
      const auth = opts.token ?? (who === undefined ? undefined : await token(who, method, url, buf));
      const res = await app.inject({
        method: method as never,
        url,
        headers: {
          ...(auth ? { authorization: `Bearer ${auth}` } : {}),
          ...(payload !== undefined ? { 'content-type': opts.contentType ?? 'application/json' } : {}),
        },
        ...(payload !== undefined ? { payload } : {}),
      });
      let json: Record<string, unknown> = {};
      try {
        json = res.json();
      } catch {
        json = { text: res.body };
      }
      return { status: res.statusCode, json };
    },
    async signedRequest(c, by = 'ian') {
      const now = Math.floor(Date.now() / 1000);
      const { payload, ...claims } = c;
      return signSignRequest(
        {
          v: 1,
          keyId: 'k1',
          kind: 'eth.transaction',
          payloadSha256: payloadDigest(payload),
          idempotencyKey: 'idem',
          iat: now - 5,
          exp: now + 600,
          ...claims,
        },
        keys[by] as OperatorKey,
      );
    },
    async approval(by, signedRequest, policyVersion = 1) {
      const now = Math.floor(Date.now() / 1000);
      return signApproval(
        { request: requestDigest(signedRequest), decision: 'approve', policyVersion, iat: now - 5, exp: now + 600 },
        keys[by] as OperatorKey,
      );
    },
    async readyKey(id, threshold = 2) {
      await store.insertKey({ id, threshold, parties: 3, createdBy: 'root' }, Date.now());
      await store.updateKey(
        id,
        {
          state: 'ready',
          progress: 'done',
          publicKey: hex(FAKE_KEY.publicKey.toBytes(true)),
          chainCode: hex(FAKE_KEY.chainCode),
        },
        Date.now(),
      );
    },
    async close() {
      await service.drain(1000);
      await app.close();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
