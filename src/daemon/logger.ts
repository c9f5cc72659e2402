import pino from 'pino';
import { MpcError } from '../errors/index.js';

/**
 * The party daemon's logger: pino, one JSON object per line, base fields `{ party, name }` (no pid
 * or hostname: the supervisor knows those). Levels are written as labels (`"level":"info"`).
 *
 * Logging must never be the way a secret leaves the party, so redaction is fixed in code (never
 * built from input: pino's own warning) and layered:
 *
 * 1. `sanitize` (pino's `formatters.log` / `formatters.bindings`, and the `logMethod` hook for
 *    `%s`-style arguments) rebuilds every logged value before pino serializes it:
 *    - a bigint becomes `'[bigint]'`. Our secrets (shares x_i, nonces k_i, chi_i, Paillier p, q,
 *      lambda) are bigints, and pino's fallback serializer would print a bigint's digits; JSON.stringify
 *      alone would throw. No bigint value is ever logged, secret or not.
 *    - bytes (Buffer, any TypedArray, ArrayBuffer, DataView) become `'[bytes N]'`: raw bytes in a log
 *      are far more often key material or a payload than anything an operator needs.
 *    - an Error becomes `safeError(e)` (below), wherever it sits.
 *    - a property whose name is in SECRET_KEYS is censored at any depth (case-insensitive).
 *    - cycles become `'[circular]'`, nesting deeper than 8 becomes `'[depth]'`, Maps/Sets a summary.
 * 2. pino `redact` with the same names, for the top level and two levels below it (`share`,
 *    `*.share`, `*.*.share`): pino's own, fixed-path mechanism, kept as a second net in case a
 *    value reaches pino by a path `sanitize` does not see.
 * 3. The `err` serializer keeps only `{ code, category, message, blame, details }` of an MpcError
 *    (details: string/number/boolean values only), and `{ type, code, message }` of any other
 *    error. Never `cause` (a cause is a lower layer's error, which may quote a value), never a stack
 *    (a stack's first line is the message again, e.g. `SyntaxError: Cannot convert 0x… to a BigInt`).
 *    Error messages also pass through `scrubMessage`, which replaces long hex/decimal/base64-like
 *    runs: MpcError messages promise not to contain values, other libraries' messages do not.
 *
 * The free-text message (`msg`) is not scrubbed: identifiers belong in fields, and code that
 * interpolates a secret into a message is a bug this layer cannot tell from an id. `%s`/`%j`/`%o`
 * arguments are sanitized like fields.
 *
 * Why these names (SECRET_KEYS): they are the field names that hold secret material in this code
 * base and its dependencies' conventions: key shares and share sets (`share`, `shares`, `x`, `xi`),
 * protocol nonces and masks (`k`, `gamma`, `chi`, `alpha`, `beta`, `rho`, `nu`), Paillier and
 * ring-Pedersen trapdoors (`p`, `q`, `lambda`, `phi`, `mu`), sealing and transport secrets (`key`,
 * `privateKey`, `secretKey`, `sk`, `seed`, `nkeySeed`, `ed25519Secret`, `x25519Secret`,
 * `sealingKey`), operator secrets (`pin`, `soPin`, `passphrase`, `password`, `authorization`,
 * `token` is deliberately absent: it names the PKCS#11 token label), and the unsealed or wire
 * bytes we promise never to log (`plaintext`, `payload`, `state`). Short names like `x`, `k`, `p`
 * also censor harmless values of the same name; that is the price of failing closed. Identifiers
 * go under unambiguous names (`keyId`, `sessionId`, `presignatureId`), which are never censored.
 */

export type Logger = pino.Logger;

export interface LoggerOptions {
  /** pino level name: fatal, error, warn, info (default), debug, trace, silent. */
  readonly level?: string;
  /** This daemon's party index, a base field of every line. */
  readonly party?: number;
  /** A stream (tests capture lines here) or a file descriptor (default: stdout, fd 1). */
  readonly destination?: pino.DestinationStream | number;
  /** The `name` base field; default 'mpc-custody'. */
  readonly name?: string;
}

export const REDACTED = '[redacted]';

/** Property names whose values are never logged (see the module comment for why each is here). */
export const SECRET_KEYS: readonly string[] = Object.freeze([
  'share',
  'shares',
  'secret',
  'secrets',
  'seed',
  'pin',
  'soPin',
  'passphrase',
  'password',
  'authorization',
  'key',
  'privateKey',
  'secretKey',
  'sk',
  'sealingKey',
  'k',
  'gamma',
  'chi',
  'x',
  'xi',
  'alpha',
  'beta',
  'rho',
  'nu',
  'p',
  'q',
  'lambda',
  'phi',
  'mu',
  'plaintext',
  'payload',
  'state',
  'nkeySeed',
  'ed25519Secret',
  'x25519Secret',
]);

const SECRET_KEYS_LOWER = new Set(SECRET_KEYS.map((k) => k.toLowerCase()));
const MAX_DEPTH = 8;
const MAX_MESSAGE = 1000;
/**
 * Runs that look like encoded numbers or keys: ≥ 32 hex digits (128 bits and up, optionally 0x),
 * ≥ 20 decimal digits (beyond 64 bits), or ≥ 48 characters of the base64/base64url/base32
 * alphabet (nkey seeds, base64 keys). Error codes, words and paths (split by '.', '/', ' ') are
 * shorter than that.
 */
const SECRET_RUN_RE = /(?:0x)?[0-9a-fA-F]{32,}|\d{20,}|[A-Za-z0-9+_-]{48,}={0,2}/g;

/** Replaces number-like and key-like runs in an error message, and bounds its length. */
export function scrubMessage(message: string): string {
  const m = message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE)}…` : message;
  return m.replace(SECRET_RUN_RE, REDACTED);
}

function isSecretKey(name: string): boolean {
  return SECRET_KEYS_LOWER.has(name.toLowerCase());
}

/** The loggable form of an error: see the module comment. Never includes `cause` or a stack. */
export function safeError(e: unknown): Record<string, unknown> {
  if (e instanceof MpcError) {
    const details: Record<string, string | number | boolean> = {};
    for (const [k, v] of Object.entries(e.details ?? {})) {
      if (isSecretKey(k)) details[k] = REDACTED;
      else if (typeof v === 'string') details[k] = scrubMessage(v);
      else if ((typeof v === 'number' && Number.isFinite(v)) || typeof v === 'boolean') details[k] = v;
    }
    const blame = (Array.isArray(e.blame) ? e.blame : []).map((b) => ({
      party: typeof b?.party === 'number' ? b.party : null,
      msgIds: Array.isArray(b?.msgIds)
        ? b.msgIds.filter((id: unknown): id is string => typeof id === 'string').map(scrubMessage)
        : [],
      reason: typeof b?.reason === 'string' ? scrubMessage(b.reason) : '',
    }));
    return { code: e.code, category: e.category, message: scrubMessage(e.message), blame, details };
  }
  if (e instanceof Error) {
    try {
      const out: Record<string, unknown> = {
        type: scrubMessage(String(e.name)),
        message: scrubMessage(String(e.message)),
      };
      const code = (e as { code?: unknown }).code;
      if (typeof code === 'string') out.code = scrubMessage(code);
      else if (typeof code === 'number') out.code = code;
      return out;
    } catch {
      return { type: 'Error', message: '[unreadable error]' };
    }
  }
  // Not an Error (a thrown string or object): keep only that it happened.
  return { type: typeof e, message: typeof e === 'string' ? scrubMessage(e) : '[non-error thrown]' };
}

/**
 * A copy of `value` that is safe to serialize (see the module comment). Never throws and never
 * mutates `value`.
 */
export function sanitize(value: unknown): unknown {
  return walk(value, 0, new WeakSet());
}

function walk(v: unknown, depth: number, seen: WeakSet<object>): unknown {
  switch (typeof v) {
    case 'bigint':
      return '[bigint]';
    case 'symbol':
      return '[symbol]';
    case 'function':
      return undefined;
    case 'object':
      break;
    default:
      return v;
  }
  if (v === null) return null;
  if (v instanceof Error) return safeError(v);
  if (ArrayBuffer.isView(v)) return `[bytes ${v.byteLength}]`;
  if (v instanceof ArrayBuffer || v instanceof SharedArrayBuffer) return `[bytes ${v.byteLength}]`;
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? 'Invalid Date' : v.toISOString();
  if (v instanceof Map) return `[Map ${v.size}]`;
  if (v instanceof Set) return `[Set ${v.size}]`;
  if (depth >= MAX_DEPTH) return '[depth]';
  if (seen.has(v)) return '[circular]';
  seen.add(v);
  try {
    if (Array.isArray(v)) return v.map((x) => walk(x, depth + 1, seen) ?? null);
    const out: Record<string, unknown> = {};
    for (const name of Object.keys(v)) {
      let x: unknown;
      try {
        x = (v as Record<string, unknown>)[name];
      } catch {
        x = '[unreadable]';
      }
      out[name] = isSecretKey(name) ? REDACTED : walk(x, depth + 1, seen);
    }
    return out;
  } finally {
    seen.delete(v); // a value reached twice by different paths is not a cycle
  }
}

/** pino redact paths: each secret name at the top level and one or two levels below it. */
function redactPaths(): string[] {
  return SECRET_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]);
}

function sanitizeRecord(o: Record<string, unknown>): Record<string, unknown> {
  const s = sanitize(o);
  return s !== null && typeof s === 'object' && !Array.isArray(s) ? (s as Record<string, unknown>) : {};
}

/**
 * Creates the daemon logger. Writes synchronously (a line is on its descriptor when the call
 * returns, so the last lines before a crash are not lost; the daemon logs little).
 *
 * @throws MpcError ERR_CONFIG_INVALID for an unknown level, a bad party index or destination
 * @example
 * const log = createLogger({ level: 'info', party: 2 });
 * log.child({ sessionId }).info({ round: 'r2', received: 2 }, 'round complete');
 */
export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? 'info';
  if (typeof level !== 'string' || !(Object.hasOwn(pino.levels.values, level) || level === 'silent')) {
    throw new MpcError('ERR_CONFIG_INVALID', 'log level must be one of fatal, error, warn, info, debug, trace, silent');
  }
  if (opts.party !== undefined && !(Number.isInteger(opts.party) && opts.party >= 0 && opts.party <= 0xffffffff)) {
    throw new MpcError('ERR_CONFIG_INVALID', 'logger party must be an integer in [0, 2^32)');
  }
  const name = opts.name ?? 'mpc-custody';
  if (typeof name !== 'string' || name.length === 0 || name.length > 100) {
    throw new MpcError('ERR_CONFIG_INVALID', 'logger name must be 1..100 characters');
  }
  let stream: pino.DestinationStream;
  const dest = opts.destination ?? 1;
  if (typeof dest === 'number') {
    if (!Number.isInteger(dest) || dest < 0) {
      throw new MpcError('ERR_CONFIG_INVALID', 'log destination must be a file descriptor or a stream');
    }
    stream = pino.destination({ dest, sync: true });
  } else if (dest !== null && typeof dest === 'object' && typeof dest.write === 'function') {
    stream = dest;
  } else {
    throw new MpcError('ERR_CONFIG_INVALID', 'log destination must be a file descriptor or a stream');
  }

  const logger = pino(
    {
      level,
      base: opts.party === undefined ? { name } : { party: opts.party, name },
      redact: { paths: redactPaths(), censor: REDACTED },
      serializers: { err: (e: unknown) => (e instanceof Error ? safeError(e) : e) },
      formatters: {
        level: (label) => ({ level: label }),
        bindings: (b) => sanitizeRecord(b),
        log: (o) => sanitizeRecord(o),
      },
      hooks: {
        // pino turns `log.error(err)` into `{ err }` + `msg: err.message` (raw) and formats `%s`
        // arguments itself; both happen before the formatters, so they are made safe here.
        logMethod(args, method) {
          const a = args as unknown[];
          const [first, ...rest] = a;
          if (first instanceof Error) {
            const msg = typeof rest[0] === 'string' ? rest.shift() : safeError(first).message;
            return method.apply(this, [{ err: first }, msg, ...rest.map(sanitize)] as unknown as Parameters<
              typeof method
            >);
          }
          if (first !== null && typeof first === 'object') {
            const o = first as Record<string, unknown>;
            if (rest.length === 0) {
              // pino would take the raw `err.message` as the line's message: give it the safe one.
              const msg = o.err instanceof Error && o.msg === undefined ? [safeError(o.err).message] : [];
              return method.apply(this, [o, ...msg] as unknown as Parameters<typeof method>);
            }
            return method.apply(this, [o, rest[0], ...rest.slice(1).map(sanitize)] as unknown as Parameters<
              typeof method
            >);
          }
          return method.apply(this, [first, ...rest.map(sanitize)] as unknown as Parameters<typeof method>);
        },
      },
    },
    stream,
  );
  // pino applies `formatters.bindings` to the root's bindings only (children reset it), so child
  // bindings are sanitized here; children inherit this `child` through their prototype chain.
  const child = logger.child as unknown as (this: unknown, b: pino.Bindings, o?: pino.ChildLoggerOptions) => Logger;
  const setBindings = logger.setBindings as unknown as (this: unknown, b: pino.Bindings) => void;
  Object.defineProperties(logger, {
    child: {
      value: function sanitizedChild(this: unknown, bindings: pino.Bindings, options?: pino.ChildLoggerOptions) {
        return child.call(this, sanitizeRecord(bindings), options);
      },
    },
    setBindings: {
      value: function sanitizedSetBindings(this: unknown, bindings: pino.Bindings) {
        setBindings.call(this, sanitizeRecord(bindings));
      },
    },
  });
  return logger;
}
