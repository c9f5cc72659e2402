import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/**
 * The party daemon's Prometheus metrics, on a registry of its own (never prom-client's global
 * one, so two daemons or a test in one process never share or clash).
 *
 * Names and labels are a stable interface (dashboards and alerts depend on them): add, never
 * rename.
 *
 * | metric                              | type      | labels             | meaning                                                         |
 * |-------------------------------------|-----------|--------------------|-----------------------------------------------------------------|
 * | mpc_sessions_total                  | counter   | protocol, outcome  | sessions ended; outcome = ok, abort, timeout or error            |
 * | mpc_session_duration_seconds        | histogram | protocol           | wall time of ended sessions; buckets 1 ms .. 120 s               |
 * | mpc_sessions_active                 | gauge     | protocol           | sessions started and not yet ended                              |
 * | mpc_frames_refused_total            | counter   | code               | inbound frames/messages refused, by error code                  |
 * | mpc_blame_total                     | counter   | protocol           | parties named as faulty by aborted sessions (one per party)     |
 * | mpc_partial_signatures_total        | counter   |                    | partial signatures released (each after its ledger consume)     |
 * | mpc_sign_duration_seconds           | histogram |                    | party time per partial: load, consume (fsync), compute, publish |
 * | mpc_presignatures_available         | gauge     | key                | available presignatures in the ledger, per key id               |
 * | mpc_presignatures_burnt_total       | counter   |                    | presignatures of an earlier run burnt (restart, restore)        |
 * | mpc_nats_connected                  | gauge     |                    | 1 while connected to NATS, else 0                               |
 * | mpc_nats_events_total               | counter   | type               | NATS client status events (disconnect, reconnect, error, …)     |
 * | mpc_storage_available               | gauge     | component          | 1 while `store` (HSM session) / `ledger` (writes commit) is up   |
 * | mpc_store_reopen_attempts_total     | counter   | outcome            | reopen attempts of a lost HSM session; outcome = ok or failed   |
 * | mpc_policy_check_seconds            | histogram |                    | co-signer check per signed partial: authorize + re-check        |
 * | mpc_policy_check_cpu_seconds        | histogram |                    | the same check's CPU time (this process; wall time less waits)  |
 * | mpc_ledger_consume_group_size       | histogram |                    | consumes per signing-path ledger commit (group commit, 1 fsync) |
 *
 * plus Node's default process metrics with the `mpc_` prefix (`mpc_process_cpu_seconds_total`,
 * `mpc_nodejs_eventloop_lag_seconds`, …) unless `defaultMetrics: false`.
 *
 * Recording never throws: a metric must not be the reason a session fails. Label values are
 * bounded (1..64 characters of [A-Za-z0-9_.:-], anything else is recorded as `invalid`) so a
 * hostile or buggy string cannot inject exposition syntax or blow up cardinality; a negative,
 * NaN or infinite amount is ignored.
 */

export type SessionOutcome = 'ok' | 'abort' | 'timeout' | 'error';
export const SESSION_OUTCOMES: readonly SessionOutcome[] = Object.freeze(['ok', 'abort', 'timeout', 'error']);

/** 1 ms .. 120 s: a sign session takes milliseconds, keygen with aux-info can take a minute. */
export const SESSION_BUCKETS: readonly number[] = Object.freeze([
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120,
]);
/** 25 µs .. 100 ms: the co-signer check's goal is ≤ 0.3 ms per partial (issue #14). */
export const POLICY_CHECK_BUCKETS: readonly number[] = Object.freeze([
  0.000025, 0.00005, 0.0001, 0.0002, 0.0003, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.1,
]);
/** 0.25 ms .. 1 s: one partial signature is a few scalar operations plus the ledger's fsync. */
export const SIGN_BUCKETS: readonly number[] = Object.freeze([
  0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
]);

const LABEL_RE = /^[A-Za-z0-9_.:-]{1,64}$/;
export const INVALID_LABEL = 'invalid';

function label(v: unknown): string {
  return typeof v === 'string' && LABEL_RE.test(v) ? v : INVALID_LABEL;
}

function amount(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined;
}

export interface DaemonMetricsOptions {
  /** Also collect Node's process metrics (prefixed `mpc_`); default true. */
  readonly defaultMetrics?: boolean;
}

/**
 * @example
 * const metrics = new DaemonMetrics();
 * metrics.sessionStarted('sign');
 * metrics.sessionEnded('sign', 'ok', 0.012);
 * res.setHeader('content-type', metrics.contentType).end(await metrics.render());
 */
export class DaemonMetrics {
  readonly #registry = new Registry();
  readonly #sessions: Counter<'protocol' | 'outcome'>;
  readonly #sessionDuration: Histogram<'protocol'>;
  readonly #active: Gauge<'protocol'>;
  readonly #activeCount = new Map<string, number>();
  readonly #refused: Counter<'code'>;
  readonly #blame: Counter<'protocol'>;
  readonly #partials: Counter;
  readonly #signDuration: Histogram;
  readonly #presignatures: Gauge<'key'>;
  readonly #burnt: Counter;
  readonly #natsConnected: Gauge;
  readonly #natsEvents: Counter<'type'>;
  readonly #storageAvailable: Gauge<'component'>;
  readonly #reopens: Counter<'outcome'>;
  readonly #policyEnforced: Gauge;
  readonly #policyCheck: Histogram;
  readonly #policyCheckCpu: Histogram;
  readonly #policyRefused: Counter<'code'>;
  readonly #policyVersion: Gauge<'document'>;
  readonly #consumeGroup: Histogram;

  constructor(opts: DaemonMetricsOptions = {}) {
    const registers = [this.#registry];
    this.#sessions = new Counter({
      name: 'mpc_sessions_total',
      help: 'Protocol sessions ended, by protocol and outcome (ok, abort, timeout, error).',
      labelNames: ['protocol', 'outcome'],
      registers,
    });
    this.#sessionDuration = new Histogram({
      name: 'mpc_session_duration_seconds',
      help: 'Wall time of ended protocol sessions, in seconds.',
      labelNames: ['protocol'],
      buckets: [...SESSION_BUCKETS],
      registers,
    });
    this.#active = new Gauge({
      name: 'mpc_sessions_active',
      help: 'Protocol sessions started and not yet ended.',
      labelNames: ['protocol'],
      registers,
    });
    this.#refused = new Counter({
      name: 'mpc_frames_refused_total',
      help: 'Inbound frames or messages refused, by error code.',
      labelNames: ['code'],
      registers,
    });
    this.#blame = new Counter({
      name: 'mpc_blame_total',
      help: 'Parties named as faulty by aborted sessions, by protocol.',
      labelNames: ['protocol'],
      registers,
    });
    this.#partials = new Counter({
      name: 'mpc_partial_signatures_total',
      help: 'Partial signatures released (each after its presignature was consumed in the ledger).',
      registers,
    });
    this.#signDuration = new Histogram({
      name: 'mpc_sign_duration_seconds',
      help: 'Party time per partial signature (load, ledger consume with fsync, compute, publish), in seconds.',
      buckets: [...SIGN_BUCKETS],
      registers,
    });
    this.#presignatures = new Gauge({
      name: 'mpc_presignatures_available',
      help: 'Available (unconsumed) presignatures in the ledger, by key id.',
      labelNames: ['key'],
      registers,
    });
    this.#burnt = new Counter({
      name: 'mpc_presignatures_burnt_total',
      help: 'Presignatures stored by an earlier run of the party (restart, restored snapshot) and burnt unused.',
      registers,
    });
    this.#natsConnected = new Gauge({
      name: 'mpc_nats_connected',
      help: '1 while the NATS connection is up, else 0.',
      registers,
    });
    this.#natsEvents = new Counter({
      name: 'mpc_nats_events_total',
      help: 'NATS client status events, by type.',
      labelNames: ['type'],
      registers,
    });
    this.#storageAvailable = new Gauge({
      name: 'mpc_storage_available',
      help: '1 while the storage component works (store: HSM session open; ledger: writes commit), else 0.',
      labelNames: ['component'],
      registers,
    });
    this.#reopens = new Counter({
      name: 'mpc_store_reopen_attempts_total',
      help: 'Reopen attempts of a lost HSM session, by outcome (ok, failed).',
      labelNames: ['outcome'],
      registers,
    });
    this.#policyEnforced = new Gauge({
      name: 'mpc_policy_enforced',
      help: '1 when this party runs the co-signer policy check before signing, 0 when it is configured off.',
      registers,
    });
    this.#policyRefused = new Counter({
      name: 'mpc_policy_refusals_total',
      help: 'Sign commands and policy documents refused by the co-signer check, by error code.',
      labelNames: ['code'],
      registers,
    });
    this.#policyCheck = new Histogram({
      name: 'mpc_policy_check_seconds',
      help: 'Time of the co-signer check per partial signature released (authorize, then the re-check before the consume), in seconds.',
      buckets: [...POLICY_CHECK_BUCKETS],
      registers,
    });
    // Wall time counts the moments the process is descheduled (several parties on few cores); the
    // CPU time is what the check itself costs. process.cpuUsage counts every thread of the process,
    // so it errs high when session workers run at the same time.
    this.#policyCheckCpu = new Histogram({
      name: 'mpc_policy_check_cpu_seconds',
      help: 'CPU time of the co-signer check per partial signature released (this process, all threads), in seconds.',
      buckets: [...POLICY_CHECK_BUCKETS],
      registers,
    });
    this.#policyVersion = new Gauge({
      name: 'mpc_policy_version',
      help: 'Version of the admin-signed policy and operator registry this party holds (0: none).',
      labelNames: ['document'],
      registers,
    });
    this.#consumeGroup = new Histogram({
      name: 'mpc_ledger_consume_group_size',
      help: 'Presignature consumes committed per ledger transaction on the signing path (one fsync each).',
      buckets: [1, 2, 4, 8, 16, 32, 64],
      registers,
    });
    this.#natsConnected.set(0);
    if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: this.#registry, prefix: 'mpc_' });
  }

  /** A session of `protocol` started (mpc_sessions_active +1). */
  sessionStarted(protocol: string): void {
    const p = label(protocol);
    this.#activeCount.set(p, (this.#activeCount.get(p) ?? 0) + 1);
    this.#active.set({ protocol: p }, this.#activeCount.get(p) ?? 0);
  }

  /**
   * A session of `protocol` ended after `seconds` (mpc_sessions_total +1, duration observed,
   * mpc_sessions_active −1 but never below 0). An unknown outcome is recorded as 'error'.
   */
  sessionEnded(protocol: string, outcome: SessionOutcome, seconds: number): void {
    const p = label(protocol);
    const o: SessionOutcome = SESSION_OUTCOMES.includes(outcome) ? outcome : 'error';
    this.#sessions.inc({ protocol: p, outcome: o });
    const s = amount(seconds);
    if (s !== undefined) this.#sessionDuration.observe({ protocol: p }, s);
    const active = this.#activeCount.get(p) ?? 0;
    if (active > 0) {
      this.#activeCount.set(p, active - 1);
      this.#active.set({ protocol: p }, active - 1);
    }
  }

  /** An inbound frame or message was refused with error `code` (e.g. ERR_TRANSPORT_REPLAY). */
  frameRefused(code: string): void {
    this.#refused.inc({ code: label(code) });
  }

  /** A session of `protocol` aborted naming `parties` faulty parties (mpc_blame_total += parties). */
  blamed(protocol: string, parties: number): void {
    const n = amount(parties);
    if (n !== undefined && n > 0) this.#blame.inc({ protocol: label(protocol) }, n);
  }

  /** A partial signature left the party; computing it took `seconds`. */
  partialIssued(seconds: number): void {
    this.#partials.inc();
    const s = amount(seconds);
    if (s !== undefined) this.#signDuration.observe(s);
  }

  /** The ledger holds `n` available presignatures for key `keyId`. */
  setPresignaturesAvailable(keyId: string, n: number): void {
    const v = amount(n);
    if (v !== undefined) this.#presignatures.set({ key: label(keyId) }, v);
  }

  /** `n` presignatures of an earlier run were burnt (their ephemeral sealing key is gone). */
  presignaturesBurnt(n: number): void {
    const v = amount(n);
    if (v !== undefined && v > 0) this.#burnt.inc(v);
  }

  /** A NATS client status event of `type` (disconnect, reconnect, error, …) happened. */
  natsEvent(type: string): void {
    this.#natsEvents.inc({ type: label(type) });
  }

  /** The NATS connection is up (true) or down (false). */
  setNatsConnected(connected: boolean): void {
    this.#natsConnected.set(connected === true ? 1 : 0);
  }

  /** Storage `component` ('store' or 'ledger') is up (true) or down (false). */
  setStorageAvailable(component: 'store' | 'ledger', up: boolean): void {
    this.#storageAvailable.set({ component: component === 'store' ? 'store' : 'ledger' }, up === true ? 1 : 0);
  }

  /** A reopen attempt of the lost HSM session ended (`ok` or `failed`). */
  storeReopenAttempt(outcome: 'ok' | 'failed'): void {
    this.#reopens.inc({ outcome: outcome === 'ok' ? 'ok' : 'failed' });
  }

  /** Whether the co-signer policy check runs here (a party configured `"policy": {"mode": "off"}` shows 0). */
  setPolicyEnforced(enforced: boolean): void {
    this.#policyEnforced.set(enforced === true ? 1 : 0);
  }

  /** A sign command or policy document was refused by the co-signer check with `code`. */
  policyRefused(code: string): void {
    this.#policyRefused.inc({ code: label(code) });
  }

  /** The co-signer check of a partial that was released took `seconds` (authorize + re-check), `cpuSeconds` of CPU. */
  policyChecked(seconds: number, cpuSeconds?: number): void {
    const s = amount(seconds);
    if (s !== undefined) this.#policyCheck.observe(s);
    const c = cpuSeconds === undefined ? undefined : amount(cpuSeconds);
    if (c !== undefined) this.#policyCheckCpu.observe(c);
  }

  /** The held version of `document` (policy or registry). */
  setPolicyVersion(document: 'policy' | 'registry', version: number): void {
    const v = amount(version);
    if (v !== undefined) this.#policyVersion.set({ document }, v);
  }

  /** One signing-path ledger transaction committed `size` consumes. */
  consumeGroupCommitted(size: number): void {
    const n = amount(size);
    if (n !== undefined) this.#consumeGroup.observe(n);
  }

  /** The Content-Type of `render()`'s output (Prometheus text exposition format). */
  get contentType(): string {
    return this.#registry.contentType;
  }

  /** Every metric in the Prometheus text exposition format. */
  render(): Promise<string> {
    return this.#registry.metrics();
  }
}
