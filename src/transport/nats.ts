import { readFile, stat } from 'node:fs/promises';
import {
  connect,
  type NatsConnection,
  nkeyAuthenticator,
  PermissionViolationError,
  type Subscription,
} from '@nats-io/transport-node';
import { MpcError } from '../errors/index.js';
import { type Bus, natsBus } from './bus.js';
import type { FrameLimits, PartyKeys, RosterEntry } from './frame.js';
import type { AuditorNatsConfig, PartyNatsConfig } from './nats-config.js';
import { CodecSession } from './session.js';
import { COORDINATOR, sessionSubscriptions, sessionToken } from './subjects.js';
import type { Transport, TransportEvent, TransportHandler, TransportSession } from './types.js';

/**
 * Transport over NATS (v3 client) with TLS (private CA) and an nkey credential per party.
 * - `join` subscribes to the session's own inbox, broadcast and control subjects and flushes, so
 *   the server has registered the subscriptions before it resolves (readiness barrier, A28);
 *   a permission violation on subscribe makes `join` fail with ERR_TRANSPORT_PERMISSION;
 * - reconnection is unbounded; the client re-sends its subscriptions on reconnect, and the
 *   transport flushes before reporting `reconnect`, after which frames flow again;
 * - server errors (permission violations on publish) are reported as events, never thrown into
 *   the read loop.
 */

export interface NatsConnectionSettings {
  readonly servers: string | readonly string[];
  readonly caFile: string;
  /** nkey user seed ("SU..."), copied and zeroized on close. */
  readonly nkeySeed: Uint8Array;
  readonly name?: string;
  readonly reconnectTimeWaitMs?: number;
  readonly timeoutMs?: number;
}

export interface NatsTransportOptions extends NatsConnectionSettings {
  readonly self: number;
  readonly keys: PartyKeys;
  readonly roster: readonly RosterEntry[];
  readonly limits?: FrameLimits;
  readonly maxSkewMs?: number;
  readonly onEvent?: (e: TransportEvent) => void;
}

/** Reads a party config written by `generateNatsSecurity` and its seed file. */
export async function loadPartyNatsConfig(configFile: string): Promise<NatsConnectionSettings & { party: number }> {
  const cfg = await loadNatsConfigFile(configFile);
  if (typeof cfg.party !== 'number') throw new MpcError('ERR_CONFIG_INVALID', 'NATS config is not a party config');
  return { ...cfg, party: cfg.party };
}

/** Reads any config written by `generateNatsSecurity` (a party's or the coordinator's). */
export async function loadNatsConfigFile(
  configFile: string,
): Promise<NatsConnectionSettings & { party: number | typeof COORDINATOR }> {
  let cfg: PartyNatsConfig;
  try {
    cfg = JSON.parse(await readFile(configFile, 'utf8')) as PartyNatsConfig;
  } catch {
    throw new MpcError('ERR_CONFIG_INVALID', 'NATS party config is unreadable or not JSON');
  }
  if (
    typeof cfg !== 'object' ||
    cfg === null ||
    (typeof cfg.party !== 'number' && cfg.party !== COORDINATOR) ||
    !Array.isArray(cfg.servers) ||
    !cfg.servers.every((s) => typeof s === 'string') ||
    typeof cfg.caFile !== 'string' ||
    typeof cfg.nkeySeedFile !== 'string'
  ) {
    throw new MpcError('ERR_CONFIG_INVALID', 'NATS party config has missing or invalid fields');
  }
  const nkeySeed = await readSeedFile(cfg.nkeySeedFile);
  await assertCaFile(cfg.caFile, nkeySeed);
  return { party: cfg.party, servers: cfg.servers, caFile: cfg.caFile, nkeySeed };
}

/**
 * Reads the auditor's config written by `generateNatsSecurity` with `audit` (nats/auditor.json):
 * a credential that may only read `deployment`'s audit stream.
 */
export async function loadAuditorNatsConfig(
  configFile: string,
): Promise<NatsConnectionSettings & { deployment: string }> {
  let cfg: AuditorNatsConfig;
  try {
    cfg = JSON.parse(await readFile(configFile, 'utf8')) as AuditorNatsConfig;
  } catch {
    throw new MpcError('ERR_CONFIG_INVALID', 'NATS auditor config is unreadable or not JSON');
  }
  if (
    typeof cfg !== 'object' ||
    cfg === null ||
    typeof cfg.auditor !== 'string' ||
    !Array.isArray(cfg.servers) ||
    !cfg.servers.every((s) => typeof s === 'string') ||
    typeof cfg.caFile !== 'string' ||
    typeof cfg.nkeySeedFile !== 'string'
  ) {
    throw new MpcError('ERR_CONFIG_INVALID', 'NATS auditor config has missing or invalid fields');
  }
  const nkeySeed = await readSeedFile(cfg.nkeySeedFile);
  await assertCaFile(cfg.caFile, nkeySeed);
  return { deployment: cfg.auditor, servers: cfg.servers, caFile: cfg.caFile, nkeySeed };
}

/** The CA certificate the TLS connection trusts: a missing one is named, not reported as a failed connect. */
async function assertCaFile(path: string, seed: Uint8Array): Promise<void> {
  const st = await stat(path).catch(() => undefined);
  if (st === undefined || !st.isFile()) {
    seed.fill(0);
    throw new MpcError(
      'ERR_CONFIG_INVALID',
      st === undefined ? 'NATS CA file is missing' : 'NATS CA file is not a file',
      {
        details: { path },
      },
    );
  }
}

/** An nkey seed is a NATS credential: refused when group or others could read it. */
async function readSeedFile(path: string): Promise<Uint8Array> {
  const st = await stat(path).catch(() => undefined);
  if (st === undefined || !st.isFile() || (st.mode & 0o077) !== 0) {
    throw new MpcError(
      'ERR_CONFIG_INVALID',
      st === undefined ? 'NATS seed file is missing' : 'NATS seed file must be a 0600 regular file',
      { details: { path } },
    );
  }
  return new Uint8Array(await readFile(path));
}

/** Opens a raw NATS connection with TLS and the party's nkey (used by the transport and tests). */
export async function connectNats(s: NatsConnectionSettings): Promise<NatsConnection> {
  const seed = Uint8Array.from(s.nkeySeed);
  const servers = [...(typeof s.servers === 'string' ? [s.servers] : s.servers)];
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers,
      tls: { caFile: s.caFile },
      authenticator: nkeyAuthenticator(() => seed),
      ...(s.name ? { name: s.name } : {}),
      maxReconnectAttempts: -1,
      reconnectTimeWait: s.reconnectTimeWaitMs ?? 250,
      timeout: s.timeoutMs ?? 5_000,
      ignoreClusterUpdates: true,
    });
  } catch (e) {
    seed.fill(0);
    // the URLs without any user:password part
    const at = servers.map((u) => u.replace(/\/\/[^@/]*@/, '//')).join(', ');
    throw new MpcError('ERR_TRANSPORT_CONNECT', `cannot connect to NATS at ${at}`, {
      details: { reason: e instanceof Error ? e.name : 'unknown', servers: at },
    });
  }
  // The seed copy is needed for every reconnect; it is zeroized once the connection is closed.
  void nc.closed().then(() => seed.fill(0));
  return nc;
}

function permissionError(e: PermissionViolationError): MpcError {
  return new MpcError('ERR_TRANSPORT_PERMISSION', `NATS refused ${e.operation} on a subject`, {
    details: { operation: e.operation, subject: e.subject },
  });
}

export class NatsTransport implements Transport {
  readonly self: number;
  readonly #nc: NatsConnection;
  readonly #o: NatsTransportOptions;
  readonly #sessions = new Set<CodecSession>();
  #closed = false;

  private constructor(nc: NatsConnection, o: NatsTransportOptions) {
    this.#nc = nc;
    this.#o = o;
    this.self = o.self;
    void this.#watch();
  }

  static async connect(o: NatsTransportOptions): Promise<NatsTransport> {
    if (!Number.isInteger(o.self) || o.self < 0 || o.self >= o.roster.length) {
      throw new MpcError('ERR_TRANSPORT_ARGS', 'self is not in the roster');
    }
    const nc = await connectNats({ ...o, name: o.name ?? `mpc-party-${o.self}` });
    return new NatsTransport(nc, o);
  }

  /** The underlying connection (for diagnostics and tests). */
  get connection(): NatsConnection {
    return this.#nc;
  }

  #emit(e: TransportEvent): void {
    try {
      this.#o.onEvent?.(e);
    } catch {
      // observer failures never affect the transport
    }
  }

  async #watch(): Promise<void> {
    try {
      for await (const s of this.#nc.status()) {
        if (s.type === 'disconnect') this.#emit({ type: 'disconnect' });
        else if (s.type === 'reconnect') {
          // subscriptions were re-sent by the client; make sure the server has them before reporting
          try {
            await this.#nc.flush();
          } catch {
            continue;
          }
          this.#emit({ type: 'reconnect' });
        } else if (s.type === 'error') {
          if (s.error instanceof PermissionViolationError) {
            this.#emit({ type: 'permission', error: permissionError(s.error) });
          } else {
            this.#emit({
              type: 'error',
              error: new MpcError('ERR_TRANSPORT_CONNECT', 'NATS reported an error', {
                details: { reason: s.error.name },
              }),
            });
          }
        }
      }
    } catch {
      // status iterator ends on close
    }
  }

  async join(sid: Uint8Array, handler: TransportHandler): Promise<TransportSession> {
    if (this.#closed) throw new MpcError('ERR_TRANSPORT_CLOSED', 'transport is closed');
    const subs: Subscription[] = [];
    const failures: MpcError[] = [];
    const session = new CodecSession(
      {
        self: this.self,
        sid,
        keys: this.#o.keys,
        roster: this.#o.roster,
        ...(this.#o.limits ? { limits: this.#o.limits } : {}),
        ...(this.#o.maxSkewMs !== undefined ? { maxSkewMs: this.#o.maxSkewMs } : {}),
      },
      handler,
      async (subject, bytes) => {
        if (this.#closed) throw new MpcError('ERR_TRANSPORT_CLOSED', 'transport is closed');
        try {
          this.#nc.publish(subject, bytes);
        } catch (e) {
          throw new MpcError('ERR_TRANSPORT_CONNECT', 'NATS publish failed', {
            details: { reason: e instanceof Error ? e.name : 'unknown' },
          });
        }
      },
      async () => {
        this.#sessions.delete(session);
        for (const s of subs) s.unsubscribe();
      },
    );
    const subjects = sessionSubscriptions(sessionToken(sid), this.self);
    for (const subject of Object.values(subjects)) {
      subs.push(
        this.#nc.subscribe(subject, {
          callback: (err, msg) => {
            if (err) {
              const me =
                err instanceof PermissionViolationError
                  ? permissionError(err)
                  : new MpcError('ERR_TRANSPORT_CONNECT', 'subscription failed');
              failures.push(me);
              this.#emit({ type: me.code === 'ERR_TRANSPORT_PERMISSION' ? 'permission' : 'error', error: me });
              return;
            }
            session.inbound(msg.subject, msg.data);
          },
        }),
      );
    }
    try {
      await this.#nc.flush();
    } catch {
      await session.leave();
      throw new MpcError('ERR_TRANSPORT_CONNECT', 'NATS flush failed while joining');
    }
    if (failures.length > 0) {
      await session.leave();
      throw failures[0] as MpcError;
    }
    this.#sessions.add(session);
    return session;
  }

  /** Raw subjects on the same connection (the daemon's control plane). */
  bus(): Bus {
    return natsBus(this.#nc);
  }

  /** Waits until the server has processed everything published so far. */
  async flush(): Promise<void> {
    await this.#nc.flush();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const s of [...this.#sessions]) await s.leave();
    try {
      await this.#nc.drain();
    } catch {
      await this.#nc.close().catch(() => undefined);
    }
  }
}
