/**
 * The schemas of the party config and the coordinator config (issue 20): one TypeBox schema each is
 * the validation (config.ts checks it first and names the failing field), the type of the file as
 * written, and the config reference (`mpc-custody config-reference` → docs/config-reference.md).
 * Relative paths resolve against the config file's directory; secrets never live in a config (PINs
 * and passphrases come from the environment variables it names).
 */
import Type, { type Static } from 'typebox';
import { Compile } from 'typebox/compile';
import { MpcError } from '../errors/index.js';
import { AuditSectionSchema } from './audit-config.js';

const Path = (description: string) => Type.String({ minLength: 1, maxLength: 4096, description });
const EnvName = (description: string) => Type.String({ pattern: '^[A-Z_][A-Z0-9_]{0,63}$', description });
const Int = (minimum: number, maximum: number, description: string, fallback?: number) =>
  Type.Integer({ minimum, maximum, description, ...(fallback === undefined ? {} : { default: fallback }) });

export const StoreConfigSchema = Type.Union(
  [
    Type.Object(
      { kind: Type.Literal('file'), keyFile: Path('AES-256 key file of the software sealer (0600)') },
      { additionalProperties: false, description: 'file store sealed with a key file' },
    ),
    Type.Object(
      {
        kind: Type.Literal('file'),
        passphraseEnv: EnvName('environment variable holding the passphrase (scrypt)'),
      },
      { additionalProperties: false, description: 'file store sealed with a passphrase' },
    ),
    Type.Object(
      {
        kind: Type.Literal('pkcs11'),
        module: Path('PKCS#11 module, e.g. /usr/lib/softhsm/libsofthsm2.so'),
        token: Type.String({ minLength: 1, maxLength: 4096, description: 'token label' }),
        pinEnv: EnvName('environment variable holding the user PIN'),
        keyLabel: Type.String({ minLength: 1, maxLength: 4096, description: 'label of the sealing key (hsm-init)' }),
      },
      { additionalProperties: false, description: 'store sealed by a non-extractable key in a PKCS#11 token' },
    ),
  ],
  { description: 'where the sealed shares live and what seals them' },
);

/** The co-signer check's trust root (src/daemon/policy-config.ts, issue 14). */
export const PolicySectionSchema = Type.Union(
  [
    Type.Object(
      { mode: Type.Literal('enforce'), admins: Path('admin set file (k of m public JWKs): the trust root') },
      { additionalProperties: false, description: 'check every sign request against the party’s own policy' },
    ),
    Type.Object(
      { mode: Type.Literal('off') },
      { additionalProperties: false, description: 'explicit opt-out: the party signs what the coordinator asks' },
    ),
  ],
  { description: 'co-signer check; absent: the party refuses every sign (fails closed)' },
);

export const PartyConfigSchema = Type.Object(
  {
    party: Int(0, 0xfffffffd, 'this party’s index in the roster'),
    roster: Path('roster: public keys of every party and of the coordinator'),
    identityFile: Type.Optional(
      Path('Ed25519 + X25519 identity secrets (0600); absent once identity-seal moved them into the store'),
    ),
    nats: Path('NATS connection file written by setup (servers, CA, nkey seed file)'),
    dataDir: Type.Optional(Type.String({ ...Path('shares/, ledger.db, prime cache'), default: '.' })),
    store: StoreConfigSchema,
    http: Type.Optional(
      Type.Object(
        {
          host: Type.Optional(
            Type.String({ minLength: 1, maxLength: 4096, default: '127.0.0.1', description: 'listen address' }),
          ),
          port: Int(0, 65535, 'listen port (0: ephemeral)'),
        },
        { additionalProperties: false, description: 'health and Prometheus metrics endpoints' },
      ),
    ),
    math: Type.Optional(
      Type.Union([Type.Literal('auto'), Type.Literal('native'), Type.Literal('wasm'), Type.Literal('js')], {
        default: 'auto',
        description: 'math backend (js is not constant time on secrets)',
      }),
    ),
    logLevel: Type.Optional(
      Type.Union(
        ['fatal', 'error', 'warn', 'info', 'debug', 'trace'].map((l) => Type.Literal(l)),
        { default: 'info', description: 'pino log level' },
      ),
    ),
    readyTimeoutMs: Type.Optional(Int(100, 3_600_000, 'how long a session waits for the coordinator’s go', 60_000)),
    primes: Type.Optional(
      Type.Object(
        {
          target: Type.Optional(Int(0, 1000, 'safe-prime stock kept for aux info', 4)),
          workers: Type.Optional(Int(1, 64, 'worker threads searching for primes', 1)),
        },
        { additionalProperties: false, description: 'background safe-prime search' },
      ),
    ),
    maxSessions: Type.Optional(Int(1, 1024, 'sessions at once; more starts get ERR_DAEMON_BUSY', 16)),
    sessionHeapMb: Type.Optional(Int(64, 16384, 'heap cap of each session thread in MiB', 512)),
    policy: Type.Optional(PolicySectionSchema),
    audit: Type.Optional(AuditSectionSchema),
  },
  { additionalProperties: false, description: 'party daemon (`mpc-custody party --config FILE`)' },
);
export type PartyConfigFile = Static<typeof PartyConfigSchema>;

/** coordinator.json as `mpc-custody setup` writes it (read by connectCoordinator and `coord`). */
export const CoordinatorConfigSchema = Type.Object(
  {
    roster: Path('roster (the parties’ public keys)'),
    secretFile: Path('the coordinator’s Ed25519 secret, 64 hex digits (0600)'),
    nats: Path('NATS connection file written by setup'),
    roundTimeoutMs: Type.Optional(Int(100, 3_600_000, 'deadline of each protocol round', 30_000)),
  },
  { additionalProperties: false, description: 'session coordinator (`mpc-custody coord --config FILE`)' },
);
export type CoordinatorConfigFile = Static<typeof CoordinatorConfigSchema>;

let partyValidator: ReturnType<typeof Compile> | undefined;

/**
 * Refuses a party config that does not match its schema: ERR_CONFIG_INVALID naming the JSON pointer
 * of the field and the rule, never the value.
 */
export function assertPartyConfigSchema(raw: unknown): asserts raw is PartyConfigFile {
  partyValidator ??= Compile(PartyConfigSchema);
  if (partyValidator.Check(raw)) return;
  const errors = [...partyValidator.Errors(raw)];
  // a union reports every variant's complaint: take the deepest specific one (never the union's own
  // "anyOf", a variant's "const" or a "schema is false"), and for a bare choice list the choices
  const specific = errors.filter((e) => !['anyOf', 'const', 'boolean'].includes(e.keyword));
  const first = specific.reduce<(typeof errors)[number] | undefined>(
    (best, e) => (best === undefined || e.instancePath.length > best.instancePath.length ? e : best),
    undefined,
  );
  const at = first?.instancePath ?? errors[0]?.instancePath ?? '';
  const field = at === '' ? '(document)' : at;
  const params = (first?.params ?? {}) as { requiredProperties?: string[]; additionalProperties?: string[] };
  const choices = errors
    .filter((e) => e.keyword === 'const' && e.instancePath === at)
    .map((e) => String((e.params as { allowedValue?: unknown }).allowedValue));
  const rule =
    first === undefined
      ? choices.length > 0
        ? `must be one of ${choices.join(', ')}`
        : 'does not match the schema'
      : first.keyword === 'required'
        ? `missing ${params.requiredProperties?.join(', ')}`
        : first.keyword === 'additionalProperties'
          ? `unknown field ${params.additionalProperties?.join(', ')}`
          : first.message;
  throw new MpcError('ERR_CONFIG_INVALID', `party config field ${field}: ${rule}`, { details: { field } });
}
