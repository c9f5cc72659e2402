import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { MpcError } from '../errors/index.js';
import type { MathBackend } from '../math/backend.js';
import { MathPool } from '../math/pool.js';
import type { RawMath } from '../math/raw.js';
import { loadBackend } from '../math/select.js';
import { PrimePool } from '../primitives/prime-pool.js';
import { ephemeralSealer } from '../storage/ephemeral-sealer.js';
import { openFileSecretStore } from '../storage/file-store.js';
import { PartyLedger } from '../storage/party-ledger.js';
import { openPkcs11SecretStore } from '../storage/pkcs11-store.js';
import { FilePrimeStore, migratePlaintextPrimeCache, primeCachePath } from '../storage/prime-cache-file.js';
import type { SealedSecretStore } from '../storage/secret-store.js';
import type { PartyKeys, RosterEntry } from '../transport/frame.js';
import { loadPartyNatsConfig, NatsTransport } from '../transport/nats.js';
import { SECURITY } from '../zk/params.js';
import { streamAnchor } from './audit-anchor.js';
import {
  assertPrivateFile,
  configWarnings,
  IDENTITY_KEY_ID,
  loadIdentity,
  loadPartyConfig,
  loadRoster,
  type PartyConfig,
  parseIdentity,
} from './config.js';
import { type HealthServer, startHealthServer } from './http.js';
import { createLogger, type Logger, safeError } from './logger.js';
import { DaemonMetrics } from './metrics.js';
import { partyAuditEmitter, startAuditShipping } from './party-audit.js';
import { PartyDaemon } from './party-daemon.js';
import { loadPartyPolicy } from './policy-config.js';

/**
 * Process wiring of one party daemon: config → logger → roster + identity → math backend → sealed
 * store + ledger → worker pool + safe-prime stock → NATS transport → daemon → health/metrics server.
 * `shutdown` drains (running sessions finish, new ones are refused), then closes everything in
 * reverse order. The CLI (`mpc-custody party --config FILE`) adds the signal handlers.
 */
export interface RunningParty {
  readonly config: PartyConfig;
  readonly daemon: PartyDaemon;
  readonly http: HealthServer | undefined;
  readonly log: Logger;
  shutdown(reason: string, drainMs?: number): Promise<void>;
}

/**
 * The math backend for secret arithmetic. `auto` takes a constant-time core (native GMP with
 * mpz_powm_sec, else wasm) and never falls back to BigInt on its own: BigInt arithmetic is not
 * constant time, so running it on secrets must be a choice written in the config (`"math": "js"`).
 */
export function pickBackend(
  choice: PartyConfig['math'],
  loaders: Partial<Record<'native' | 'wasm', () => RawMath>> = {},
): MathBackend {
  if (choice !== 'auto') return loadBackend(choice);
  const why: string[] = [];
  for (const name of ['native', 'wasm'] as const) {
    try {
      return loadBackend(name, loaders[name]);
    } catch (e) {
      why.push(`${name}: ${e instanceof MpcError ? e.code : 'failed'}`);
    }
  }
  throw new MpcError(
    'ERR_MATH_BACKEND_UNAVAILABLE',
    'no constant-time math backend loaded (native, wasm); the BigInt backend is not constant time: set "math": "js" in the config to run it anyway',
    { details: { tried: why.join(', ') } },
  );
}

/**
 * Reads a secret from the environment and removes it there, so it does not stay in process.env for
 * the process's lifetime (child processes, diagnostics and heap dumps would see it).
 */
export function takeEnvSecret(name: string): string | undefined {
  const v = process.env[name];
  delete process.env[name];
  return v;
}

/** Opens the secret store the config names (file: key file or passphrase; PKCS#11: PIN from the env). */
export async function openConfiguredStore(cfg: PartyConfig): Promise<SealedSecretStore> {
  let store: SealedSecretStore;
  if (cfg.store.kind === 'pkcs11') {
    const pin = takeEnvSecret(cfg.store.pinEnv);
    if (pin === undefined || pin.length === 0) {
      throw new MpcError('ERR_CONFIG_INVALID', `the HSM PIN variable ${cfg.store.pinEnv} is not set`);
    }
    store = openPkcs11SecretStore({
      dir: cfg.dataDir,
      library: cfg.store.module,
      tokenLabel: cfg.store.token,
      pin,
      keyLabel: cfg.store.keyLabel,
    });
  } else if ('keyFile' in cfg.store) {
    await assertPrivateFile(cfg.store.keyFile, 'store key file');
    store = await openFileSecretStore({ dir: cfg.dataDir, keyFile: cfg.store.keyFile });
  } else {
    const passphrase = takeEnvSecret(cfg.store.passphraseEnv);
    if (passphrase === undefined || passphrase.length < 12) {
      throw new MpcError('ERR_CONFIG_INVALID', `set a passphrase of 12+ characters in ${cfg.store.passphraseEnv}`);
    }
    store = await openFileSecretStore({ dir: cfg.dataDir, passphrase });
  }
  return store;
}

/** The party's sealed cache of safe primes for aux info, sealed by its store. */
export function partyPrimeCache(
  cfg: PartyConfig,
  store: SealedSecretStore,
  onDropped?: (n: number) => void,
): FilePrimeStore {
  return new FilePrimeStore({
    path: primeCachePath(cfg.dataDir, 'safe', SECURITY.primeBits),
    sealer: store.sealer,
    partyId: cfg.party,
    kind: 'safe',
    bits: SECURITY.primeBits,
    ...(onDropped ? { onDropped } : {}),
  });
}

/**
 * Adds safe primes to a (stopped) party's sealed cache: setup tooling, benchmarks and tests that
 * hand a party pregenerated primes. Opens the store the config names (PIN/passphrase from the env).
 */
export async function addCachedPrimes(configFile: string, primes: readonly bigint[]): Promise<void> {
  const cfg = await loadPartyConfig(configFile);
  const store = await openConfiguredStore(cfg);
  try {
    await partyPrimeCache(cfg, store).add(primes);
  } finally {
    await store.close();
  }
}

/**
 * Why the party's storage keeps it from being ready (issue 17 item 7), empty when it is fine: the
 * store's HSM session is down (reopening with backoff, or failed on a refused PIN; one cheap token
 * operation per call finds a session lost while idle), or the ledger
 * could not commit its last write (while it is faulted, each call probes it with one small write,
 * so readiness comes back once the disk does). Also sets mpc_storage_available.
 */
export async function storageNotReady(
  store: SealedSecretStore,
  ledger: PartyLedger,
  metrics?: DaemonMetrics,
): Promise<string[]> {
  const reasons: string[] = [];
  const s = await store.probe();
  metrics?.setStorageAvailable('store', s.available);
  if (!s.available) reasons.push(`store ${s.state}${s.reason === undefined ? '' : `: ${s.reason}`}`);
  let l = ledger.writeHealth();
  if (!l.writable && l.reason !== 'closed') {
    ledger.probeWrite();
    l = ledger.writeHealth();
  }
  metrics?.setStorageAvailable('ledger', l.writable);
  if (!l.writable) reasons.push(`ledger unwritable: ${l.reason ?? 'unknown'}`);
  return reasons;
}

/**
 * Follows the store's HSM session: logs and counts each change, and when a lost session is back,
 * burns every available presignature. They were sealed under the lost session's key, which died
 * with the session: none can be unsealed again (a load would burn it anyway), and the available
 * gauge must not count them. The coordinator's pool refill replaces them. Returns the unsubscribe.
 */
export function watchStorage(o: {
  readonly store: SealedSecretStore;
  readonly ledger: PartyLedger;
  readonly log: Logger;
  readonly metrics?: DaemonMetrics;
}): () => void {
  return o.store.onHealthChange((h) => {
    o.metrics?.setStorageAvailable('store', h.available);
    if (!h.available) {
      if (h.attempts > 0) o.metrics?.storeReopenAttempt('failed');
      const level = h.state === 'failed' ? 'error' : 'warn';
      o.log[level]({ state: h.state, reason: h.reason, attempts: h.attempts }, 'HSM session down');
      return;
    }
    o.metrics?.storeReopenAttempt('ok');
    let burnt = 0;
    try {
      burnt = o.ledger.burnAvailable();
      for (const k of o.ledger.listKeys())
        o.metrics?.setPresignaturesAvailable(k.keyId, o.ledger.countAvailable(k.keyId));
    } catch (e) {
      o.log.warn({ err: safeError(e) }, 'burning the presignatures of the lost HSM session failed');
    }
    o.metrics?.presignaturesBurnt(burnt);
    o.log.info({ burnt }, 'HSM session reopened; presignatures sealed under the lost session key burnt');
  });
}

/** The identity keys: from the plaintext file the config names, else sealed in the store. */
export async function loadConfiguredIdentity(
  cfg: PartyConfig,
  store: SealedSecretStore,
  me: RosterEntry,
): Promise<PartyKeys> {
  if (cfg.identityFile !== undefined) return loadIdentity(cfg.identityFile, me);
  let plaintext: Buffer;
  try {
    ({ plaintext } = await store.getShare({ partyId: cfg.party, keyId: IDENTITY_KEY_ID }, 1));
  } catch (e) {
    throw new MpcError('ERR_CONFIG_INVALID', 'no identityFile in the config and no identity sealed in the store', {
      cause: e,
    });
  }
  try {
    return parseIdentity(JSON.parse(plaintext.toString('utf8')) as Record<string, unknown>, me);
  } catch (e) {
    if (e instanceof MpcError) throw e;
    throw new MpcError('ERR_CONFIG_INVALID', 'the sealed identity is malformed');
  } finally {
    plaintext.fill(0);
  }
}

/**
 * A startup failure as a typed error that names the file or directory it concerns: an MpcError
 * keeps its code and gets the path of the step when it names none; anything else (a file system
 * or SQLite error) becomes ERR_DAEMON_STARTUP with the path and the system's error code.
 */
export function startupError(e: unknown, path: string): MpcError {
  if (e instanceof MpcError) {
    if (e.details.path !== undefined) return e;
    return new MpcError(e.code, bareMessage(e), { details: { ...e.details, path }, blame: e.blame, cause: e });
  }
  const sys = e as { code?: unknown; path?: unknown };
  return new MpcError('ERR_DAEMON_STARTUP', 'party daemon could not start', {
    details: {
      path: typeof sys?.path === 'string' ? sys.path : path,
      reason: typeof sys?.code === 'string' ? sys.code : e instanceof Error ? e.name : 'unknown',
    },
    cause: e,
  });
}

/** An MpcError's message without the `CODE: ` prefix its constructor added. */
function bareMessage(e: MpcError): string {
  return e.message.startsWith(`${e.code}: `) ? e.message.slice(e.code.length + 2) : e.message;
}

export async function startParty(configFile: string, o: { log?: Logger } = {}): Promise<RunningParty> {
  let cfg: PartyConfig;
  try {
    cfg = await loadPartyConfig(configFile);
  } catch (e) {
    throw startupError(e, configFile);
  }
  /** The file or directory the current startup step reads (named in a startup error). */
  let at = cfg.roster;
  const log = o.log ?? createLogger({ level: cfg.logLevel, party: cfg.party });
  for (const warning of configWarnings(cfg)) log.warn({ path: configFile }, warning);
  const closers: Array<[string, () => Promise<unknown> | unknown]> = [];
  const closeAll = async () => {
    for (const [what, close] of closers.reverse()) {
      try {
        await close();
      } catch (e) {
        log.warn({ err: safeError(e), what }, 'close failed');
      }
    }
  };
  try {
    at = cfg.roster;
    const roster = await loadRoster(cfg.roster);
    const me = roster.parties[cfg.party];
    if (me === undefined) throw new MpcError('ERR_CONFIG_INVALID', 'party index is not in the roster');
    // every file the config names is read before anything is opened or connected (issue 20)
    at = cfg.policy.mode === 'enforce' ? cfg.policy.admins : configFile;
    const policy = await loadPartyPolicy(cfg.policy);
    at = configFile;
    const math = pickBackend(cfg.math);
    log.info({ backend: math.name }, 'math backend selected');

    at = cfg.store.kind === 'pkcs11' ? cfg.store.module : 'keyFile' in cfg.store ? cfg.store.keyFile : cfg.dataDir;
    const store = await openConfiguredStore(cfg);
    closers.push(['store', () => store.close()]);
    at = cfg.identityFile ?? cfg.dataDir;
    const keys = await loadConfiguredIdentity(cfg, store, me);
    // Presignatures are sealed under a key that dies with this process: after a restart or a
    // restored snapshot nothing stored before can be used, and open burns it (issue 17 item 1).
    const presignatureSealer = ephemeralSealer(store.sealer);
    closers.push(['presignature key', () => presignatureSealer.close()]);
    const ledgerPath = join(cfg.dataDir, 'ledger.db');
    at = ledgerPath;
    // A new ledger while the stream already holds this party's chain (the data directory was lost
    // and not restored through `recovery restore`, which anchors itself): continue the chain from
    // its last record, else everything recorded from now on is refused by the stream as a fork.
    const anchor = cfg.audit !== undefined && !existsSync(ledgerPath) ? await streamAnchor(cfg, me.ed25519) : undefined;
    if (anchor !== undefined) log.warn({ seq: anchor.seq }, 'new ledger: the audit chain continues from the stream');
    const ledger = PartyLedger.open(ledgerPath, cfg.party, {
      sealer: presignatureSealer,
      exclusive: true,
      // each ledger change carries its signed audit record, in the same transaction (issue #15)
      ...(cfg.audit
        ? { audit: { ...partyAuditEmitter(cfg.audit, cfg.party, keys.ed25519Secret), ...(anchor ? { anchor } : {}) } }
        : {}),
    });
    closers.push(['ledger', () => ledger.close()]);
    log.info({ burnt: ledger.burntAtOpen }, 'presignatures of earlier runs burnt');

    at = cfg.dataDir;
    const pool = new MathPool({ backend: math.name, threads: cfg.primes.workers });
    closers.push(['pool', () => pool.close()]);
    // safe primes become Paillier factors: the cache is sealed by the store (issue 17 item 2)
    const primeCache = partyPrimeCache(cfg, store, (n) => log.warn({ dropped: n }, 'prime cache entries dropped'));
    const migrated = await migratePlaintextPrimeCache(
      join(cfg.dataDir, `primes-safe-${SECURITY.primeBits}.json`),
      primeCache,
      'safe',
      SECURITY.primeBits,
    );
    if (migrated > 0) log.info({ migrated }, 'plaintext prime cache sealed and wiped');
    const primes = new PrimePool({
      pool,
      store: primeCache,
      bits: SECURITY.primeBits,
      kind: 'safe',
      target: cfg.primes.target,
      onProgress: (have, target) => log.info({ have, target }, 'safe prime stock'),
      onRejected: (reason) => log.warn({ reason }, 'cached prime refused'),
    });
    closers.push(['primes', () => primes.stop()]);

    const metrics = new DaemonMetrics();
    metrics.presignaturesBurnt(ledger.burntAtOpen);
    metrics.setStorageAvailable('store', store.health().available);
    metrics.setStorageAvailable('ledger', ledger.writeHealth().writable);
    closers.push(['storage watch', watchStorage({ store, ledger, log, metrics })]);
    let connected = true;
    at = cfg.nats;
    const nats = await loadPartyNatsConfig(cfg.nats);
    if (nats.party !== cfg.party) throw new MpcError('ERR_CONFIG_INVALID', 'NATS credentials belong to another party');
    const transport = await NatsTransport.connect({
      ...nats,
      self: cfg.party,
      keys,
      roster: roster.parties,
      onEvent: (e) => {
        metrics.natsEvent(e.type);
        if (e.type === 'disconnect') connected = false;
        if (e.type === 'reconnect') connected = true;
        metrics.setNatsConnected(connected);
        const level = e.type === 'reconnect' ? 'info' : 'warn';
        log[level]({ event: e.type, ...('error' in e ? { err: safeError(e.error) } : {}) }, 'nats event');
      },
    });
    nats.nkeySeed.fill(0);
    metrics.setNatsConnected(true);
    closers.push(['transport', () => transport.close()]);
    if (cfg.audit !== undefined) {
      const shipping = await startAuditShipping({
        nc: transport.connection,
        ledger,
        party: cfg.party,
        config: cfg.audit,
        onError: (e) => log.warn({ err: safeError(e) }, 'audit shipping to JetStream failed; retrying'),
      });
      // runs before the transport closes: what the drain recorded (daemon.stopped) is shipped first
      closers.push(['audit shipper', () => shipping.stop()]);
    }

    const daemon = new PartyDaemon({
      policy,
      self: cfg.party,
      transport,
      keys,
      roster: roster.parties,
      coordinatorKey: roster.coordinator,
      store,
      ledger,
      math,
      primes,
      log,
      metrics,
      readyTimeoutMs: cfg.readyTimeoutMs,
      maxSessions: cfg.maxSessions,
      sessionHeapMb: cfg.sessionHeapMb,
      // crash tests only (test/daemon/refresh-process.test.ts): die between the ledger's commit and the
      // store step, or as a leaver's commit arrives (before it checks or retires anything)
      ...(process.env.MPC_TEST_CRASH_AT === 'rotation-commit'
        ? { testAfterRotationCommit: () => process.kill(process.pid, 'SIGKILL') }
        : {}),
      ...(process.env.MPC_TEST_CRASH_AT === 'leave-commit'
        ? { testBeforeRetire: () => process.kill(process.pid, 'SIGKILL') }
        : {}),
    });
    // the daemon signs with the identity keys for its whole life: wiped when it stops
    closers.unshift([
      'identity',
      () => {
        keys.ed25519Secret.fill(0);
        keys.x25519Secret.fill(0);
      },
    ]);
    await daemon.start();
    // background top-up of the safe-prime stock (aux info takes two per run)
    void primes.fill().catch((e) => log.warn({ err: safeError(e) }, 'safe prime generation failed'));

    const http = cfg.http
      ? await startHealthServer({
          host: cfg.http.host,
          port: cfg.http.port,
          metrics,
          log,
          health: async () => {
            const reasons: string[] = [];
            if (!connected) reasons.push('nats disconnected');
            if (daemon.draining) reasons.push('draining');
            reasons.push(...(await storageNotReady(store, ledger, metrics)));
            return {
              live: true,
              ready: reasons.length === 0,
              reasons,
              party: cfg.party,
              sessions: daemon.activeSessions,
            };
          },
        })
      : undefined;
    if (http) closers.push(['http', () => http.close()]);
    log.info({ party: cfg.party, http: http?.url ?? null }, 'party daemon ready');

    let stopping: Promise<void> | undefined;
    return {
      config: cfg,
      daemon,
      http,
      log,
      shutdown(reason, drainMs = 30_000) {
        stopping ??= (async () => {
          log.info({ reason, active: daemon.activeSessions }, 'draining');
          const finished = await daemon.drain(drainMs);
          log.info({ finished }, 'drained; closing');
          await closeAll();
          log.info({}, 'stopped');
        })();
        return stopping;
      },
    };
  } catch (e) {
    await closeAll();
    throw startupError(e, at);
  }
}
