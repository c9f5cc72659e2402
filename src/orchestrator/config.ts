/**
 * Orchestrator configuration (`mpc-custody orchestrator --config FILE`): one JSON file checked
 * against a TypeBox schema (unknown fields refused), paths resolved against the file's directory,
 * deep-frozen. It holds no secret: the coordinator key and NATS seed are the 0600 files named by
 * `coordinator` (written by `mpc-custody setup`), the PostgreSQL password (if any) comes from the
 * environment variable named by `passwordEnv`.
 *
 * {
 *   "coordinator": "../coordinator.json",        NATS + roster + coordinator key (setup's file)
 *   "http": { "host": "127.0.0.1", "port": 8080, "bodyLimitBytes": 262144 },
 *   "state": { "kind": "sqlite", "path": "orchestrator.db" }
 *          | { "kind": "postgres", "url": "postgres://user@host/db", "passwordEnv": "PGPASSWORD" },
 *   "bootstrapAdmin": { "id": "root", "publicKey": { "kty": "OKP", "crv": "Ed25519", "x": "…" } },
 *   "policy": { "admins": { "threshold": 1, "admins": [ … ] }, "policyFile": "policy.jws.json",
 *               "registryFile": "operators.jws.json" },
 *   "signers": { "parties": 3 },                    roster parties 0..n−1 the keys are made among
 *   "replicaId": "orch-a",                           stable per replica (several on one PostgreSQL)
 *   "pools": [{ "keyId": "hot", "path": "m/0/7", "target": 20, "lowWater": 5,
 *               "signerSets": [[0, 1], [1, 2]] }],     optional; default every t-subset (≤ 32)
 *   "poolConcurrency": 2, "presignatureTtlSeconds": 86400,
 *   "requestTtlSeconds": 86400, "logLevel": "info",
 *   "audit": { "deployment": "dep-a", "createStream": false, "replicas": 1, "checkpointEvery": 100,
 *              "ackTimeoutMs": 2000 }        signed audit log on the deployment's JetStream stream
 * }                                           (emitter `orchestrator`, the coordinator's key; ./audit.ts)
 */
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import Type, { type Static } from 'typebox';
import { Compile } from 'typebox/compile';
import { ID_PATTERN } from '../audit/index.js';
import { MpcError } from '../errors/index.js';
import { PublicJwk } from '../policy/keys.js';
import { assertSchema } from '../policy/schema-check.js';
import { AdminSetSchema } from '../policy/signed-document.js';

export const OPERATOR_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$';

export const StateConfigSchema = Type.Union([
  Type.Object(
    { kind: Type.Literal('sqlite'), path: Type.String({ minLength: 1, maxLength: 4096 }) },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      kind: Type.Literal('postgres'),
      url: Type.String({ pattern: '^postgres(ql)?://', maxLength: 4096 }),
      passwordEnv: Type.Optional(Type.String({ pattern: '^[A-Z_][A-Z0-9_]{0,63}$' })),
    },
    { additionalProperties: false },
  ),
]);
export type StateConfig = Static<typeof StateConfigSchema>;

export const OrchestratorConfigSchema = Type.Object(
  {
    coordinator: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
    http: Type.Optional(
      Type.Object(
        {
          host: Type.String({ minLength: 1, maxLength: 255 }),
          port: Type.Integer({ minimum: 0, maximum: 65535 }),
          bodyLimitBytes: Type.Optional(Type.Integer({ minimum: 1024, maximum: 16 << 20 })),
          tls: Type.Optional(
            Type.Object(
              { certFile: Type.String({ minLength: 1 }), keyFile: Type.String({ minLength: 1 }) },
              { additionalProperties: false },
            ),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    state: Type.Optional(StateConfigSchema),
    bootstrapAdmin: Type.Object(
      { id: Type.String({ pattern: OPERATOR_ID_PATTERN }), publicKey: PublicJwk },
      { additionalProperties: false },
    ),
    policy: Type.Optional(
      Type.Object(
        {
          admins: AdminSetSchema,
          policyFile: Type.Optional(Type.String({ minLength: 1 })),
          registryFile: Type.Optional(Type.String({ minLength: 1 })),
        },
        { additionalProperties: false },
      ),
    ),
    signers: Type.Optional(
      Type.Object({ parties: Type.Integer({ minimum: 2, maximum: 64 }) }, { additionalProperties: false }),
    ),
    requestTtlSeconds: Type.Optional(Type.Integer({ minimum: 60, maximum: 30 * 86400 })),
    /** This replica's stable name (several replicas on one PostgreSQL database need distinct ones). */
    replicaId: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' })),
    /** Presignature pools per (key, path): refilled below lowWater (or when empty) up to target. */
    pools: Type.Optional(
      Type.Array(
        Type.Object(
          {
            keyId: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' }),
            path: Type.String({ pattern: '^m(/[0-9]{1,10}){0,31}$' }),
            target: Type.Integer({ minimum: 1, maximum: 10_000 }),
            lowWater: Type.Integer({ minimum: 0, maximum: 10_000 }),
            /** Which t parties sign this pool's presignatures, spread evenly (default: all t-subsets up to 32, else n cyclic windows). */
            signerSets: Type.Optional(
              Type.Array(Type.Array(Type.Integer({ minimum: 0, maximum: 63 }), { minItems: 1, maxItems: 64 }), {
                minItems: 1,
                maxItems: 256,
              }),
            ),
          },
          { additionalProperties: false },
        ),
        { maxItems: 1000 },
      ),
    ),
    poolConcurrency: Type.Optional(Type.Integer({ minimum: 1, maximum: 64 })),
    presignatureTtlSeconds: Type.Optional(Type.Integer({ minimum: 60, maximum: 30 * 86400 })),
    logLevel: Type.Optional(Type.Union(['fatal', 'error', 'warn', 'info', 'debug'].map((l) => Type.Literal(l)))),
    audit: Type.Optional(
      Type.Object(
        {
          deployment: Type.String({ pattern: ID_PATTERN, description: 'deployment id: stream AUDIT_{id}' }),
          createStream: Type.Optional(
            Type.Boolean({
              default: false,
              description: 'create the stream when missing (needs stream-create rights)',
            }),
          ),
          replicas: Type.Optional(
            Type.Integer({ minimum: 1, maximum: 5, default: 1, description: 'replicas of a stream it creates' }),
          ),
          checkpointEvery: Type.Optional(
            Type.Integer({ minimum: 0, maximum: 1_000_000, default: 100, description: 'records between checkpoints' }),
          ),
          ackTimeoutMs: Type.Optional(
            Type.Integer({
              minimum: 100,
              maximum: 60_000,
              default: 2000,
              description: 'how long a record waits for JetStream before the operation is refused',
            }),
          ),
        },
        {
          additionalProperties: false,
          description:
            'signed audit log (emitter orchestrator, the coordinator key) on JetStream, fail closed; absent: no audit',
        },
      ),
    ),
  },
  { additionalProperties: false },
);
type RawConfig = Static<typeof OrchestratorConfigSchema>;
const checkConfig = Compile(OrchestratorConfigSchema);

export interface OrchestratorConfig {
  /** Absolute path of setup's coordinator.json; undefined only for in-process embedding (tests). */
  readonly coordinator: string | undefined;
  readonly http: {
    readonly host: string;
    readonly port: number;
    readonly bodyLimitBytes: number;
    readonly tls: { readonly certFile: string; readonly keyFile: string } | undefined;
  };
  readonly state: StateConfig;
  readonly bootstrapAdmin: RawConfig['bootstrapAdmin'];
  readonly policy: NonNullable<RawConfig['policy']> | undefined;
  readonly signers: { readonly parties: number };
  readonly requestTtlSeconds: number;
  readonly replicaId: string;
  readonly pools: readonly {
    keyId: string;
    path: readonly number[];
    target: number;
    lowWater: number;
    signerSets?: readonly (readonly number[])[];
  }[];
  readonly poolConcurrency: number;
  readonly presignatureTtlSeconds: number;
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug';
  readonly audit:
    | {
        readonly deployment: string;
        readonly createStream: boolean;
        readonly replicas: number;
        readonly checkpointEvery: number;
        readonly ackTimeoutMs: number;
      }
    | undefined;
}

export const DEFAULT_BODY_LIMIT = 256 * 1024;

function deepFreeze<T>(o: T): T {
  if (o !== null && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

/** Validates a parsed config object; relative paths resolve against `baseDir`. */
export function parseOrchestratorConfig(raw: unknown, baseDir: string): OrchestratorConfig {
  assertSchema(checkConfig, raw, 'ERR_CONFIG_INVALID', 'orchestrator config');
  const c = structuredClone(raw) as RawConfig;
  const at = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));
  const state: StateConfig = c.state ?? { kind: 'sqlite', path: 'orchestrator.db' };
  const policy = c.policy
    ? {
        admins: c.policy.admins,
        ...(c.policy.policyFile ? { policyFile: at(c.policy.policyFile) } : {}),
        ...(c.policy.registryFile ? { registryFile: at(c.policy.registryFile) } : {}),
      }
    : undefined;
  return deepFreeze({
    coordinator: c.coordinator === undefined ? undefined : at(c.coordinator),
    http: {
      host: c.http?.host ?? '127.0.0.1',
      port: c.http?.port ?? 8080,
      bodyLimitBytes: c.http?.bodyLimitBytes ?? DEFAULT_BODY_LIMIT,
      tls: c.http?.tls ? { certFile: at(c.http.tls.certFile), keyFile: at(c.http.tls.keyFile) } : undefined,
    },
    state:
      state.kind === 'sqlite'
        ? { kind: 'sqlite', path: state.path === ':memory:' ? state.path : at(state.path) }
        : state,
    bootstrapAdmin: c.bootstrapAdmin,
    policy,
    signers: { parties: c.signers?.parties ?? 3 },
    requestTtlSeconds: c.requestTtlSeconds ?? 86_400,
    replicaId: c.replicaId ?? 'orchestrator',
    pools: (c.pools ?? []).map((p) => {
      const path = p.path === 'm' ? [] : p.path.slice(2).split('/').map(Number);
      if (path.some((i) => i >= 2 ** 31) || p.lowWater > p.target) {
        throw new MpcError(
          'ERR_CONFIG_INVALID',
          `orchestrator config: pool ${p.keyId} ${p.path}: bad path or lowWater > target`,
        );
      }
      // members in range and t per set are checked against the key when it is known (signerSetsOf)
      const sets = p.signerSets?.map((set) => [...set].sort((x, y) => x - y));
      if (
        sets?.some(
          (set) => set.some((x, i) => i > 0 && x === set[i - 1]) || set.some((x) => x >= (c.signers?.parties ?? 3)),
        )
      ) {
        throw new MpcError(
          'ERR_CONFIG_INVALID',
          `orchestrator config: pool ${p.keyId} ${p.path}: a signer set repeats a party or names one beyond signers.parties`,
        );
      }
      return { keyId: p.keyId, path, target: p.target, lowWater: p.lowWater, ...(sets ? { signerSets: sets } : {}) };
    }),
    poolConcurrency: c.poolConcurrency ?? 2,
    presignatureTtlSeconds: c.presignatureTtlSeconds ?? 86_400,
    logLevel: c.logLevel ?? 'info',
    audit: c.audit
      ? {
          deployment: c.audit.deployment,
          createStream: c.audit.createStream ?? false,
          replicas: c.audit.replicas ?? 1,
          checkpointEvery: c.audit.checkpointEvery ?? 100,
          ackTimeoutMs: c.audit.ackTimeoutMs ?? 2000,
        }
      : undefined,
  } satisfies OrchestratorConfig);
}

export async function loadOrchestratorConfig(file: string): Promise<OrchestratorConfig> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch {
    throw new MpcError('ERR_CONFIG_INVALID', 'orchestrator config is unreadable or not JSON');
  }
  return parseOrchestratorConfig(raw, dirname(resolve(file)));
}
