import { readFile, stat } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { MpcError } from '../errors/index.js';
import type { PartyKeys, RosterEntry } from '../transport/frame.js';
import { auditConfig, type PartyAuditConfig } from './audit-config.js';
import { assertPartyConfigSchema, type PartyConfigFile } from './config-schema.js';
import { type PolicyConfig, parsePolicyConfig } from './policy-config.js';

/**
 * Party daemon configuration (`mpc-custody party --config FILE`): one JSON file, validated by its
 * schema (config-schema.ts, also the config reference), frozen, paths resolved against the file's
 * directory. Secrets never live in it: the identity keys, the store key and the NATS seed are
 * separate 0600 files, PINs and passphrases come from environment variables named in the config.
 *
 * {
 *   "party": 0,
 *   "roster": "../roster.json",          public keys of every party and of the coordinator
 *   "identityFile": "identity.key",      this party's Ed25519 + X25519 secrets (0600); omit it once
 *                                        `mpc-custody identity-seal` moved them into the store
 *   "nats": "../nats/party-0.json",      written by `mpc-custody setup` (servers, CA, nkey seed file)
 *   "dataDir": ".",                      shares/, ledger.db, prime cache
 *   "store": { "kind": "file", "keyFile": "store.key" }
 *          | { "kind": "file", "passphraseEnv": "MPC_STORE_PASSPHRASE" }
 *          | { "kind": "pkcs11", "module": "/usr/lib/softhsm/libsofthsm2.so", "token": "party-0",
 *              "pinEnv": "MPC_HSM_PIN", "keyLabel": "mpc-custody-party-0-kek" },
 *   "http": { "host": "127.0.0.1", "port": 9100 },   health + Prometheus metrics (port 0: ephemeral)
 *   "math": "auto" | "native" | "wasm" | "js",
 *   "logLevel": "info",
 *   "readyTimeoutMs": 60000,
 *   "primes": { "target": 4, "workers": 1 },        background safe-prime stock for aux info
 *   "maxSessions": 16,                   sessions at once; more starts get ERR_DAEMON_BUSY
 *   "sessionHeapMb": 512,                heap cap of each session thread (resourceLimits)
 *   "policy": { "mode": "enforce", "admins": "admins.json" } | { "mode": "off" }   policy-config.ts
 *   "audit": { "deployment": "dep-a" }   optional: ship the signed audit log to JetStream (audit-config.ts)
 * }
 */

export type StoreConfig =
  | { readonly kind: 'file'; readonly keyFile: string }
  | { readonly kind: 'file'; readonly passphraseEnv: string }
  | {
      readonly kind: 'pkcs11';
      readonly module: string;
      readonly token: string;
      readonly pinEnv: string;
      readonly keyLabel: string;
    };

export interface PartyConfig {
  readonly party: number;
  readonly roster: string;
  /** Plaintext identity file; undefined when the identity is sealed in the store (key id "identity"). */
  readonly identityFile: string | undefined;
  readonly nats: string;
  readonly dataDir: string;
  readonly store: StoreConfig;
  readonly http: { readonly host: string; readonly port: number } | undefined;
  readonly math: 'auto' | 'native' | 'wasm' | 'js';
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
  readonly readyTimeoutMs: number;
  readonly primes: { readonly target: number; readonly workers: number };
  /** Sessions run at once (default 16); starts beyond it are answered ERR_DAEMON_BUSY. */
  readonly maxSessions: number;
  /** Heap cap of each session thread in MiB (default 512). */
  readonly sessionHeapMb: number;
  /** The co-signer check's trust root or the explicit opt-out (policy-config.ts). */
  readonly policy: PolicyConfig;
  /** The audit log's deployment and stream options (audit-config.ts); undefined: no audit. */
  readonly audit: PartyAuditConfig | undefined;
}

export interface Roster {
  readonly parties: readonly RosterEntry[];
  readonly coordinator: Uint8Array;
}

async function readJson(path: string, what: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new MpcError('ERR_CONFIG_INVALID', `${what} is unreadable`, { details: { path } });
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new MpcError('ERR_CONFIG_INVALID', `${what} is not valid JSON`, { details: { path } });
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw new MpcError('ERR_CONFIG_INVALID', `${what} must be a JSON object`, { details: { path } });
  }
  return v as Record<string, unknown>;
}

/**
 * Parses and validates a config object: the schema (config-schema.ts) is the whole check and names
 * the failing field; then relative paths resolve against `baseDir` and defaults are filled in.
 */
export function parsePartyConfig(raw: Record<string, unknown>, baseDir: string): PartyConfig {
  assertPartyConfigSchema(raw);
  const c: PartyConfigFile = raw;
  const at = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));
  const s = c.store;
  const store: StoreConfig =
    s.kind === 'pkcs11'
      ? { kind: 'pkcs11', module: at(s.module), token: s.token, pinEnv: s.pinEnv, keyLabel: s.keyLabel }
      : 'keyFile' in s
        ? { kind: 'file', keyFile: at(s.keyFile) }
        : { kind: 'file', passphraseEnv: s.passphraseEnv };
  const cfg: PartyConfig = {
    party: c.party,
    roster: at(c.roster),
    identityFile: c.identityFile === undefined ? undefined : at(c.identityFile),
    nats: at(c.nats),
    dataDir: at(c.dataDir ?? '.'),
    store,
    http: c.http === undefined ? undefined : { host: c.http.host ?? '127.0.0.1', port: c.http.port },
    math: c.math ?? 'auto',
    logLevel: (c.logLevel ?? 'info') as PartyConfig['logLevel'],
    readyTimeoutMs: c.readyTimeoutMs ?? 60_000,
    primes: { target: c.primes?.target ?? 4, workers: c.primes?.workers ?? 1 },
    maxSessions: c.maxSessions ?? 16,
    sessionHeapMb: c.sessionHeapMb ?? 512,
    policy: parsePolicyConfig(raw.policy, baseDir),
    audit: auditConfig(c.audit),
  };
  return Object.freeze(cfg);
}

export async function loadPartyConfig(file: string): Promise<PartyConfig> {
  const raw = await readJson(file, 'party config');
  try {
    return parsePartyConfig(raw, dirname(resolve(file)));
  } catch (e) {
    if (!(e instanceof MpcError)) throw e;
    throw new MpcError(e.code, e.reason, { details: { ...e.details, path: file } });
  }
}

// --- roster and identity ------------------------------------------------------------------------------

function key32(v: unknown, what: string): Uint8Array {
  if (typeof v !== 'string' || !/^[0-9a-f]{64}$/.test(v)) {
    throw new MpcError('ERR_CONFIG_INVALID', `${what} must be 64 lowercase hex digits`);
  }
  return hexToBytes(v);
}

export function encodeRoster(r: Roster): string {
  return `${JSON.stringify(
    {
      version: 1,
      parties: r.parties.map((p) => ({ ed25519: bytesToHex(p.ed25519), x25519: bytesToHex(p.x25519) })),
      coordinator: { ed25519: bytesToHex(r.coordinator) },
    },
    null,
    2,
  )}\n`;
}

export async function loadRoster(file: string): Promise<Roster> {
  const o = await readJson(file, 'roster');
  if (o.version !== 1 || !Array.isArray(o.parties) || o.parties.length < 2 || o.parties.length > 1024) {
    throw new MpcError('ERR_CONFIG_INVALID', 'roster must be version 1 with 2..1024 parties');
  }
  const parties = o.parties.map((p: unknown, i: number) => {
    const e = p as Record<string, unknown>;
    return {
      ed25519: key32(e?.ed25519, `roster party ${i} ed25519`),
      x25519: key32(e?.x25519, `roster party ${i} x25519`),
    };
  });
  const seen = new Set(parties.map((p) => bytesToHex(p.ed25519)));
  if (seen.size !== parties.length) throw new MpcError('ERR_CONFIG_INVALID', 'roster keys must be distinct');
  const c = o.coordinator as Record<string, unknown> | undefined;
  const coordinator = key32(c?.ed25519, 'roster coordinator ed25519');
  // one key in two roles would let a party's identity sign coordinator commands (or the reverse)
  if (seen.has(bytesToHex(coordinator))) {
    throw new MpcError('ERR_CONFIG_INVALID', 'the coordinator key must differ from every party key', {
      details: { path: file },
    });
  }
  return { parties, coordinator };
}

/**
 * Refuses a secret file (identity, store key, NATS seed, coordinator key) that is missing, not a
 * regular file, or readable or writable by group or others.
 */
export async function assertPrivateFile(path: string, what: string): Promise<void> {
  const st = await stat(path).catch(() => undefined);
  if (st === undefined) throw new MpcError('ERR_CONFIG_INVALID', `${what} is missing`, { details: { path } });
  if (!st.isFile()) throw new MpcError('ERR_CONFIG_INVALID', `${what} is not a regular file`, { details: { path } });
  if ((st.mode & 0o077) !== 0) {
    throw new MpcError('ERR_CONFIG_INVALID', `${what} must not be accessible by group or others (chmod 600)`, {
      details: { path },
    });
  }
}

/** Loopback hosts: a health/metrics server bound elsewhere is reachable from the network. */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** Things a valid config does that an operator should know about (logged as warnings at startup). */
export function configWarnings(cfg: PartyConfig): string[] {
  const w: string[] = [];
  if (cfg.http !== undefined && !isLoopbackHost(cfg.http.host)) {
    w.push(`metrics and health endpoints listen on ${cfg.http.host}, not on loopback: restrict access to them`);
  }
  if (cfg.math === 'js') w.push('math backend "js" (BigInt) is not constant time on secrets');
  if (cfg.policy.mode === 'off') w.push('policy enforcement is off: this party signs whatever the coordinator asks');
  return w;
}

/** Identity file: `{"ed25519": hex, "x25519": hex}` secrets, mode 0600, matching the roster entry. */
export async function loadIdentity(file: string, expect: RosterEntry): Promise<PartyKeys> {
  await assertPrivateFile(file, 'identity file');
  return parseIdentity(await readJson(file, 'identity file'), expect);
}

/** The store key id of a sealed identity (never a valid protocol key id: those have no leading underscore). */
export const IDENTITY_KEY_ID = '_identity';

/** Validates identity secrets against the party's roster entry. */
export function parseIdentity(o: Record<string, unknown>, expect: RosterEntry): PartyKeys {
  const keys: PartyKeys = {
    ed25519Secret: key32(o.ed25519, 'identity ed25519'),
    x25519Secret: key32(o.x25519, 'identity x25519'),
  };
  const ok =
    bytesToHex(ed25519.getPublicKey(keys.ed25519Secret)) === bytesToHex(expect.ed25519) &&
    bytesToHex(x25519.getPublicKey(keys.x25519Secret)) === bytesToHex(expect.x25519);
  if (!ok) throw new MpcError('ERR_CONFIG_INVALID', 'identity keys do not match this party in the roster');
  return keys;
}

export function encodeIdentity(k: PartyKeys): string {
  return `${JSON.stringify({ ed25519: bytesToHex(k.ed25519Secret), x25519: bytesToHex(k.x25519Secret) })}\n`;
}
