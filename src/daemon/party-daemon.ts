import type { AuditEvent } from '../audit/index.js';
import { type ChainKey, decodePayload, digestAt } from '../chains/index.js';
import { MpcError } from '../errors/index.js';
import type { MathBackend } from '../math/backend.js';
import { systemRng } from '../math/random.js';
import { encodePoint } from '../primitives/curve.js';
import { Ed25519Signer } from '../primitives/ed25519.js';
import { auxInfo } from '../protocol/aux-info.js';
import { type IdentifyOutput, identifyDelta, identifySignature } from '../protocol/identify.js';
import type { AuxInfo, CoreKeyShare, KeyShare } from '../protocol/key-share.js';
import { validateKeyShare } from '../protocol/key-share-validate.js';
import { decodeCoreKeyShare, encodeCoreKeyShare, keygen } from '../protocol/keygen.js';
import { type Presignature, type PresignInput, type PresignState, presign } from '../protocol/presign.js';
import { decodePresignature, encodePresignature } from '../protocol/presignature-codec.js';
import { refresh, reshareSession } from '../protocol/refresh.js';
import { decodeKeyRecord, encodeKeyRecord, keyRecordOf } from '../protocol/reshare.js';
import { acknowledgeRotation, commitRotation, epochDigest, type RotationTarget } from '../protocol/rotation.js';
import {
  assertSignable,
  decodePartialSignature,
  encodePartialSignature,
  issuePartialSignature,
  type PartialSignature,
  type PresignaturePublic,
} from '../protocol/sign.js';
import { ed25519Authenticator } from '../protocol/simulation.js';
import { tssLibImport } from '../protocol/tss-lib-import.js';
import type { ProtocolDef, RoundCtx } from '../protocol/types.js';
import type { KeyMeta, PartyLedger } from '../storage/party-ledger.js';
import { getKeyShare, putKeyShare, type SecretStore } from '../storage/secret-store.js';
import type { PartyKeys, RosterEntry } from '../transport/frame.js';
import { decodeSessionKeys } from '../transport/session-keys.js';
import { COORDINATOR, controlSubject, SUBJECT_ROOT, sessionToken } from '../transport/subjects.js';
import type { Transport, TransportSession } from '../transport/types.js';
import { ConsumeGroup, consumedOnce } from './consume-group.js';
import {
  type CoordinatorMessage,
  decodeRotationCommit,
  decodeStartCommand,
  encodePresignaturePublic,
  encodeRotationReport,
  encodeRotationStatus,
  encodeSessionResult,
  openCoordinatorMessage,
  openPartyMessage,
  type RotationCommit,
  type RotationStatus,
  type SessionResult,
  type StartCommand,
  sealControlFrame,
} from './control.js';
import {
  decodeRelayedPartials,
  decodeStoredEvidence,
  encodeStoredPresignature,
  evidenceEnvelopes,
  type IdentificationKind,
  identificationSid,
  needsDeltaIdentification,
  type PresignEvidence,
  RetainingPresignRunner,
  splitStoredPresignature,
} from './identification.js';
import { type PartyPolicy, PolicyGuard, type SignPermit } from './policy-guard.js';
import { RemoteRunner, SessionThreads } from './remote-runner.js';
import {
  assertInboxLimits,
  DEFAULT_INBOX_LIMITS,
  type InboxLimits,
  type InboxPeaks,
  newInboxPeaks,
} from './session-inbox.js';
import { type JoinedSession, joinSession, runSession } from './session-runner.js';
import { loadStagedImport, stagedShareId } from './tss-lib-staging.js';

/**
 * The party daemon (issue #5): one custodian's long-running process. It listens for coordinator
 * commands on `mpc.*.control.coord`, verifies each (coordinator signature, strict decoding, fresh
 * sid), and runs the requested session with its own share:
 *
 *   keygen   join → ready → wait for go → run keygen → seal the core share → report the public key
 *   aux      join → ready → go → run aux-info with two fresh safe primes → seal the full key share
 *            (validated) and record the key in the ledger → report
 *   presign  join → ready → go → run presigning with the sealed share → seal the presignature in the
 *            ledger → report its public part (id, R, key, path, signers)
 *   sign     decode the payload → the co-signer check (policy-guard.ts: the initiator's signed
 *            request, the party's own policy, registry, approvals and velocity record) → load the
 *            named presignature → consume it, with the request's spend record, in one ledger
 *            transaction (fsynced) → only then publish the partial signature. No session join.
 *   policy / registry  verify an admin-quorum-signed document against the configured admin set,
 *            store it if it moves forward, answer with the held version.
 *
 * Every failure is reported to the coordinator as a typed result (code, message, blame as roster
 * ids), never with secret content, and never crashes the daemon. While draining, new commands are
 * answered with ERR_DAEMON_DRAINING and running sessions finish.
 */

/** pino-compatible logger subset. */
export interface DaemonLog {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

/** What the daemon reports to metrics (DaemonMetrics implements it). */
export interface DaemonMetricsSink {
  sessionStarted(protocol: string): void;
  sessionEnded(protocol: string, outcome: 'ok' | 'abort' | 'timeout' | 'error', seconds: number): void;
  frameRefused(code: string): void;
  blamed(protocol: string, n: number): void;
  partialIssued(seconds: number): void;
  setPresignaturesAvailable(key: string, n: number): void;
  setPolicyEnforced?(enforced: boolean): void;
  policyRefused?(code: string): void;
  policyChecked?(seconds: number, cpuSeconds?: number): void;
  setPolicyVersion?(document: 'policy' | 'registry', version: number): void;
  /** One ledger transaction of the signing path committed `size` consumes (group commit). */
  consumeGroupCommitted?(size: number): void;
}

/** Where aux-info gets its two fresh safe primes (a PrimePool in production). */
export interface PrimeSource {
  take(n: number): Promise<bigint[]>;
}

export interface PartyDaemonOptions {
  readonly self: number;
  readonly transport: Transport;
  readonly keys: PartyKeys;
  readonly roster: readonly RosterEntry[];
  /** The coordinator's Ed25519 public key (commands signed by anything else are refused). */
  readonly coordinatorKey: Uint8Array;
  readonly store: SecretStore;
  readonly ledger: PartyLedger;
  readonly math: MathBackend;
  readonly primes: PrimeSource;
  /**
   * The co-signer check (policy-guard.ts): `enforce` with the admin set from the party's own
   * config, or an explicit `off` (logged as a warning at every start, mpc_policy_enforced 0).
   * Required: there is no default.
   */
  readonly policy: PartyPolicy;
  readonly log?: DaemonLog;
  readonly metrics?: DaemonMetricsSink;
  /**
   * Run protocol rounds on a worker thread per session (default true): the event loop stays free
   * for the transport, health checks and signing while aux info or presigning compute.
   */
  readonly sessionThreads?: boolean;
  /** How long a party waits for `go` after announcing ready (default 60 s). */
  readonly readyTimeoutMs?: number;
  /**
   * Sessions (keygen, aux, presign, sign) running at once (default DEFAULT_MAX_SESSIONS); a start
   * beyond it is answered with ERR_DAEMON_BUSY at once.
   */
  readonly maxSessions?: number;
  /** Bounds of each session's pending inbound frames (default DEFAULT_INBOX_LIMITS). */
  readonly inbox?: InboxLimits;
  /** Heap limit of each session thread in MiB (default DEFAULT_SESSION_HEAP_MB). */
  readonly sessionHeapMb?: number;
  readonly now?: () => number;
  /**
   * Test hook (malicious-party tests): the presigning definition this party runs instead of
   * presign.ts. Honoured only with `sessionThreads: false`. Never set in production.
   */
  readonly testPresign?: ProtocolDef<PresignInput, PresignState, Presignature>;
  /** Test hook (malicious-party tests): rewrites the partial signature as published. Never set in production. */
  readonly testPartial?: (p: PartialSignature) => PartialSignature;
  /**
   * Test hook (crash tests): called right after the ledger committed a rotation, before the store
   * step that puts the new share in place; a crash test exits the process there. Never set in
   * production (main.ts sets it only from MPC_TEST_CRASH_AT=rotation-commit).
   */
  readonly testAfterRotationCommit?: () => void;
  /**
   * Test hook (crash tests): called as a leaver's commit of a reshare arrives, before the party checks
   * or retires anything; a crash test exits the process there, so the leaver misses its step. Never
   * set in production (main.ts sets it only from MPC_TEST_CRASH_AT=leave-commit).
   */
  readonly testBeforeRetire?: () => void;
}

/** What a session needs before its rounds run: the protocol, its input and how its output is kept. */
interface PreparedSession {
  def: ProtocolDef<never, unknown, unknown>;
  input: unknown;
  persist: (output: unknown, ctx: RoundCtx) => Promise<Uint8Array>;
}

/** A presigning run's identification evidence, kept until it expires (identification.ts). */
interface KeptEvidence {
  /**
   * Decoded (presign) or, for a sign, still in its stored encoding (SECRET bytes, zeroed when
   * dropped): decoding costs a large share of a sign's CPU and is needed only by identification.
   */
  readonly evidence: PresignEvidence | Uint8Array;
  readonly members: readonly number[];
  readonly roundTimeoutMs: number;
  readonly expires: number;
  /** Signing only: what was signed, and this party's partial signature as it computed it. */
  readonly signed?: {
    readonly presignature: PresignaturePublic;
    readonly digest: Uint8Array;
    readonly partial: PartialSignature;
  };
}

interface Pending {
  readonly joined: JoinedSession;
  /** `payload`: the members' signed session keys, relayed by the coordinator. */
  go: (payload: Uint8Array) => void;
  abort: (why: string) => void;
}

const NULL_LOG: DaemonLog = { info() {}, warn() {}, error() {}, debug() {} };
/** Each session holds a thread, a joined subscription set and its bounded inbox: 16 is plenty for a custodian. */
export const DEFAULT_MAX_SESSIONS = 16;
const SEEN_LIMIT = 100_000;
/** Presign runs whose identification evidence is kept at once (oldest dropped first). */
const EVIDENCE_LIMIT = 256;
/** How long evidence of a presign run is kept for a `ctl.identify` (PROTOCOL.md §7.4). */
const EVIDENCE_TTL_MS = 10 * 60_000;

export class PartyDaemon {
  readonly self: number;
  readonly #o: PartyDaemonOptions;
  readonly #log: DaemonLog;
  /** sids already started here: a replayed start is ignored (never run twice). */
  readonly #seen = new Set<string>();
  readonly #pending = new Map<string, Pending>();
  /** Sessions that succeeded here, with what to undo if the coordinator aborts them afterwards. */
  readonly #recent = new Map<string, () => void>();
  /** Sessions the coordinator aborted while they were still running here. */
  readonly #abortedWhileRunning = new Set<string>();
  readonly #active = new Map<string, Promise<void>>();
  /** Decoded key shares by key id (in memory only; sealed at rest). */
  readonly #shares = new Map<string, KeyShare>();
  /** SECRET: presign runs' identification evidence by session token (memory only, bounded). */
  readonly #evidence = new Map<string, KeptEvidence>();
  /** `ctl.identify` that arrived while the session was still running here. */
  readonly #identifyRequested = new Map<string, { sid: Uint8Array; payload: Uint8Array }>();
  #unsubscribe: (() => void) | undefined;
  readonly #threads: SessionThreads | undefined;
  /** The identity key as a key object, for the one-off frames of the signing path. */
  readonly #signer: Ed25519Signer;
  #draining = false;
  #stats = { commandsRefused: 0, sessionsOk: 0, sessionsFailed: 0, busyRefused: 0, peakSessions: 0 };
  readonly #maxSessions: number;
  readonly #inboxLimits: InboxLimits;
  /** Largest pending inbound amounts any session of this daemon saw (bounded by the inbox limits). */
  readonly #inboxPeaks: InboxPeaks = newInboxPeaks();
  readonly #guard: PolicyGuard;
  /**
   * Keys with a refresh, reshare or commit running here (one at a time per key), with the session
   * holding the key: a rotation session lets go of it once its output is persisted, before it
   * reports (see #releaseRotation).
   */
  readonly #rotating = new Map<string, string>();
  /** The signing path's consumes, committed in groups (one fsync per group; see #sign). */
  readonly #consumes: ConsumeGroup;

  constructor(o: PartyDaemonOptions) {
    if (o.roster[o.self] === undefined) throw new MpcError('ERR_CONFIG_INVALID', 'self is not in the roster');
    if (!(o.coordinatorKey instanceof Uint8Array) || o.coordinatorKey.length !== 32) {
      throw new MpcError('ERR_CONFIG_INVALID', 'coordinator key must be a 32-byte Ed25519 public key');
    }
    this.self = o.self;
    this.#o = o;
    this.#log = o.log ?? NULL_LOG;
    this.#signer = new Ed25519Signer(o.keys.ed25519Secret);
    this.#maxSessions = o.maxSessions ?? DEFAULT_MAX_SESSIONS;
    if (!Number.isInteger(this.#maxSessions) || this.#maxSessions < 1) {
      throw new MpcError('ERR_CONFIG_INVALID', 'maxSessions must be a positive integer');
    }
    if (o.policy?.mode !== 'enforce' && o.policy?.mode !== 'off') {
      throw new MpcError('ERR_CONFIG_INVALID', 'policy must be {mode: "enforce", admins} or {mode: "off"}');
    }
    this.#guard = new PolicyGuard(o.policy, o.ledger);
    this.#consumes = new ConsumeGroup(o.ledger, {
      onCommit: (size) => o.metrics?.consumeGroupCommitted?.(size),
    });
    this.#inboxLimits = o.inbox ?? DEFAULT_INBOX_LIMITS;
    assertInboxLimits(this.#inboxLimits);
    this.#threads =
      o.sessionThreads === false
        ? undefined
        : new SessionThreads({ maxIdle: 2, ...(o.sessionHeapMb !== undefined ? { heapMb: o.sessionHeapMb } : {}) });
  }

  /** Subscribes to coordinator commands; the daemon is ready when this resolves. */
  async start(): Promise<void> {
    await this.#loadPolicy();
    const bus = this.#o.transport.bus();
    this.#unsubscribe = await bus.subscribe(`${SUBJECT_ROOT}.*.control.${COORDINATOR}`, (_subject, bytes) =>
      this.#onCommand(bytes),
    );
    for (const k of this.#o.ledger.listKeys()) {
      this.#o.metrics?.setPresignaturesAvailable(k.keyId, this.#o.ledger.countAvailable(k.keyId));
    }
    this.#threads?.prewarm();
    this.#auditEvent({ type: 'daemon.started', party: this.self });
    this.#log.info({ party: this.self }, 'party daemon listening for coordinator commands');
  }

  /** Loads the held policy documents (re-verified) and says loudly when enforcement is off. */
  async #loadPolicy(): Promise<void> {
    const m = this.#o.metrics;
    m?.setPolicyEnforced?.(this.#guard.enforcing);
    if (!this.#guard.enforcing) {
      this.#log.warn(
        { party: this.self, policy: 'off' },
        'POLICY ENFORCEMENT IS OFF: this party signs whatever the coordinator key asks (config "policy": {"mode": "off"})',
      );
      return;
    }
    if (this.#guard.unconfigured) {
      this.#log.error(
        { party: this.self },
        'no admin set configured (no "policy" section in the config): every sign is refused; set "policy": {"mode": "enforce", "admins": FILE}',
      );
    }
    for (const d of await this.#guard.load()) {
      this.#log.error({ document: d.kind, code: d.code }, 'a stored policy document no longer verifies; not held');
    }
    m?.setPolicyVersion?.('policy', this.#guard.policyVersion);
    m?.setPolicyVersion?.('registry', this.#guard.registryVersion);
    this.#log.info(
      { policyVersion: this.#guard.policyVersion, registryVersion: this.#guard.registryVersion },
      'policy enforced: signing needs a request the held policy allows',
    );
  }

  get activeSessions(): number {
    return this.#active.size;
  }

  get draining(): boolean {
    return this.#draining;
  }

  get stats(): Readonly<{
    commandsRefused: number;
    sessionsOk: number;
    sessionsFailed: number;
    busyRefused: number;
    peakSessions: number;
  }> {
    return { ...this.#stats };
  }

  /** The largest pending inbound frames and bytes (per sender, per session) any session saw. */
  get inboxPeaks(): Readonly<InboxPeaks> {
    return { ...this.#inboxPeaks };
  }

  /** Stops accepting commands, lets running sessions finish (up to `timeoutMs`), then unsubscribes. */
  async drain(timeoutMs = 30_000): Promise<boolean> {
    this.#draining = true;
    const all = Promise.allSettled([...this.#active.values()]).then(() => true);
    const timeout = new Promise<boolean>((res) => setTimeout(() => res(false), timeoutMs).unref());
    const finished = await Promise.race([all, timeout]);
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    for (const p of this.#pending.values()) p.abort('daemon is shutting down');
    await this.#threads?.close();
    for (const token of [...this.#evidence.keys()]) this.#dropEvidence(token);
    this.#auditEvent({ type: 'daemon.stopped', reason: finished ? 'drained' : 'drain-timeout' });
    return finished;
  }

  /**
   * Records (issue #15) an event that changes nothing in the ledger: start/stop, a refused command.
   * Its own transaction; a failure is logged, not thrown (the refusal or stop happens anyway).
   */
  #auditEvent(event: AuditEvent): void {
    if (!this.#o.ledger.auditing) return;
    try {
      this.#o.ledger.appendAudit(event);
    } catch (e) {
      this.#log.error({ code: asMpc(e).code, event: event.type }, 'audit record not written');
    }
  }

  // --- command intake ------------------------------------------------------------------------------

  #onCommand(bytes: Uint8Array): void {
    let msg: CoordinatorMessage;
    try {
      msg = openCoordinatorMessage(bytes, this.#o.coordinatorKey, (this.#o.now ?? Date.now)());
    } catch (e) {
      this.#stats.commandsRefused++;
      const err = asMpc(e);
      this.#o.metrics?.frameRefused(err.code);
      // the reason names what failed (signature, clock skew, round), never payload content
      this.#log.warn({ code: err.code, reason: err.message }, 'refused a control message');
      return;
    }
    const token = sessionToken(msg.sid);
    if (msg.round === 'identify') {
      if (!this.#seen.has(token) || this.#draining) return; // not a member of that session
      const request = { sid: msg.sid, payload: msg.payload };
      if (this.#active.has(token)) this.#identifyRequested.set(token, request);
      else this.#startIdentification(request, token);
      return;
    }
    if (msg.round === 'go' || msg.round === 'abort') {
      const p = this.#pending.get(token);
      if (p !== undefined) {
        if (msg.round === 'go') p.go(msg.payload);
        else p.abort('the coordinator aborted the session');
        return;
      }
      if (msg.round === 'abort' && this.#active.has(token) && !this.#recent.has(token)) {
        // still running here: whatever it produces must be discarded as soon as it exists
        this.#abortedWhileRunning.add(token);
        return;
      }
      const undo = msg.round === 'abort' ? this.#recent.get(token) : undefined;
      if (undo !== undefined) {
        // another member failed after we finished: our output must never be used
        this.#recent.delete(token);
        try {
          undo();
          this.#log.warn({ sid: token }, 'session aborted by the coordinator after success here; output discarded');
        } catch (e) {
          this.#log.error({ sid: token, code: asMpc(e).code }, 'discarding an aborted session output failed');
        }
      }
      return;
    }
    if (this.#seen.has(token)) return; // replayed or duplicated start: run a session at most once
    let cmd: StartCommand;
    try {
      cmd = decodeStartCommand(msg.payload);
    } catch (e) {
      this.#stats.commandsRefused++;
      const err = asMpc(e);
      this.#log.warn({ code: err.code, reason: err.message, sid: token }, 'refused a start command');
      return;
    }
    if (!cmd.members.includes(this.self)) return; // a session among other parties
    this.#remember(this.#seen, token);
    // Refusals that need no session: answered at once on a one-off control frame, so the
    // coordinator fails fast with the reason instead of waiting for a ready that never comes.
    const refusal = this.#draining
      ? new MpcError('ERR_DAEMON_DRAINING', 'party is shutting down')
      : this.#active.size >= this.#maxSessions
        ? new MpcError('ERR_DAEMON_BUSY', `party runs ${this.#active.size} sessions, its limit`)
        : undefined;
    if (refusal !== undefined) {
      this.#stats.commandsRefused++;
      if (refusal.code === 'ERR_DAEMON_BUSY') this.#stats.busyRefused++;
      this.#o.metrics?.frameRefused(refusal.code);
      this.#auditEvent({ type: 'command.refused', command: cmd.op, code: refusal.code, session: token });
      this.#log.warn(
        { sid: token, op: cmd.op, code: refusal.code, reason: refusal.message },
        'refused a start command',
      );
      void this.#publishControl(msg.sid, 'result', encodeSessionResult(failure(refusal, cmd.members))).catch((e) =>
        this.#log.warn({ sid: token, code: asMpc(e).code }, 'could not report a refusal'),
      );
      return;
    }
    // Presigning is the one session a replay could repeat after a restart (keygen and aux refuse an
    // existing key, sign refuses a consumed presignature): its sids are recorded durably.
    if (cmd.op === 'presign') {
      let fresh: boolean;
      try {
        fresh = this.#o.ledger.recordSession(token);
      } catch (e) {
        this.#log.error({ sid: token, code: asMpc(e).code }, 'cannot record the session; not running it');
        return;
      }
      if (!fresh) {
        this.#stats.commandsRefused++;
        this.#log.warn({ sid: token }, 'refused a replayed start: this session already ran here');
        return;
      }
    }
    const run = this.#run(msg.sid, token, cmd).finally(() => {
      this.#active.delete(token);
      this.#abortedWhileRunning.delete(token);
      const request = this.#identifyRequested.get(token);
      this.#identifyRequested.delete(token);
      if (request !== undefined) this.#startIdentification(request, token);
    });
    this.#active.set(token, run);
    this.#stats.peakSessions = Math.max(this.#stats.peakSessions, this.#active.size);
  }

  #remember<V>(into: Set<string> | Map<string, V>, token: string, value?: V): void {
    if (into instanceof Set) into.add(token);
    else into.set(token, value as V);
    if (into.size > SEEN_LIMIT) {
      const first = into.keys().next().value;
      if (first !== undefined) into.delete(first);
    }
  }

  async #run(sid: Uint8Array, token: string, cmd: StartCommand): Promise<void> {
    const t0 = performance.now();
    const protocol = cmd.op;
    this.#o.metrics?.sessionStarted(protocol);
    const log = { sid: token, op: cmd.op, keyId: cmd.keyId };
    this.#log.info(log, 'session requested');
    let outcome: 'ok' | 'abort' | 'timeout' | 'error' = 'ok';
    const rotation = cmd.op === 'refresh' || cmd.op === 'reshare' || cmd.op === 'commit';
    let locked = false;
    try {
      if (this.#draining) throw new MpcError('ERR_DAEMON_DRAINING', 'party is shutting down');
      if (rotation) {
        if (this.#rotating.has(cmd.keyId)) {
          throw new MpcError('ERR_ROTATION_STATE', 'a refresh or commit of this key is running at this party');
        }
        this.#rotating.set(cmd.keyId, token);
        locked = true;
      }
      if (cmd.op === 'sign' || cmd.op === 'keyinfo' || cmd.op === 'rotation' || cmd.op === 'record') {
        await this.#refuseRetired(cmd.keyId);
      }
      if (cmd.op === 'sign') {
        await this.#sign(sid, cmd);
      } else if (cmd.op === 'policy' || cmd.op === 'registry') {
        await this.#acceptDocument(sid, cmd);
      } else if (cmd.op === 'keyinfo') {
        await this.#keyInfo(sid, cmd);
      } else if (cmd.op === 'commit') {
        await this.#commit(sid, cmd);
      } else if (cmd.op === 'rotation') {
        await this.#rotationStatus(sid, cmd);
      } else if (cmd.op === 'record') {
        await this.#keyRecord(sid, cmd);
      } else {
        await this.#protocolSession(sid, token, cmd);
      }
      this.#stats.sessionsOk++;
      this.#log.info({ ...log, ms: Math.round(performance.now() - t0) }, 'session done');
    } catch (e) {
      this.#stats.sessionsFailed++;
      const err = asMpc(e);
      outcome = err.code === 'ERR_DAEMON_SESSION_TIMEOUT' || /timeout/.test(err.message) ? 'timeout' : 'abort';
      if (err.blame.length > 0) this.#o.metrics?.blamed(protocol, err.blame.length);
      if (err.code.startsWith('ERR_POLICY_')) this.#o.metrics?.policyRefused?.(err.code);
      this.#log.warn(
        {
          ...log,
          code: err.code,
          ...(typeof err.details.rule === 'string' ? { rule: err.details.rule } : {}),
          blame: err.blame.map((b) => b.party),
          // the protocol's public reasons (which check failed), never message contents
          ...(err.blame.length > 0 ? { reasons: err.blame.map((b) => b.reason) } : {}),
          ms: Math.round(performance.now() - t0),
        },
        'session failed',
      );
      if (cmd.op === 'sign' || cmd.op === 'policy' || cmd.op === 'registry') {
        this.#auditEvent({ type: 'command.refused', command: cmd.op, code: err.code, session: token });
      }
      if (
        cmd.op === 'sign' ||
        cmd.op === 'keyinfo' ||
        cmd.op === 'policy' ||
        cmd.op === 'registry' ||
        cmd.op === 'commit' ||
        cmd.op === 'rotation' ||
        cmd.op === 'record'
      ) {
        // these have no joined session: answer on a one-off control frame
        await this.#publishControl(sid, 'result', encodeSessionResult(failure(err, cmd.members))).catch(
          () => undefined,
        );
      }
    } finally {
      if (locked) this.#releaseRotation(cmd.keyId, token);
      this.#o.metrics?.sessionEnded(protocol, outcome, (performance.now() - t0) / 1000);
    }
  }

  // --- keygen / aux / presign -----------------------------------------------------------------------

  async #protocolSession(sid: Uint8Array, token: string, cmd: StartCommand): Promise<void> {
    const joined = await joinSession(this.#o.transport, sid, {
      members: cmd.members,
      limits: this.#inboxLimits,
      peaks: this.#inboxPeaks,
      onRefused: (err) => this.#o.metrics?.frameRefused(err.code),
    });
    const session = joined.session;
    let reported = false;
    const report = async (r: SessionResult) => {
      reported = true;
      await session.sendControl('result', encodeSessionResult(r));
    };
    try {
      const prepared = await this.#prepare(cmd, token);
      await this.#awaitGo(token, joined, session, cmd.members);
      const ctx: RoundCtx = {
        self: cmd.members.indexOf(this.self),
        n: cmd.members.length,
        sid,
        math: this.#o.math,
        rng: systemRng,
      };
      const roster = cmd.members.map((m) => (this.#o.roster[m] as RosterEntry).ed25519);
      const auth = ed25519Authenticator(this.#o.keys.ed25519Secret, roster);
      const local =
        this.#threads === undefined && cmd.op === 'presign'
          ? new RetainingPresignRunner(ctx, auth, this.#o.testPresign ?? presign)
          : undefined;
      // import is one cheap round (a few point operations): it runs here, not on a session thread
      const remote =
        this.#threads === undefined || cmd.op === 'import'
          ? undefined
          : new RemoteRunner<unknown>(
              {
                protocol: cmd.op as 'keygen' | 'aux' | 'presign' | 'refresh' | 'reshare',
                backend: this.#o.math.name,
                self: ctx.self,
                n: ctx.n,
                sid,
                secret: this.#o.keys.ed25519Secret,
                roster,
              },
              this.#threads,
            );
      let output: unknown;
      try {
        output = await runSession(prepared.def as ProtocolDef<unknown, unknown, unknown>, prepared.input, {
          session: joined,
          ctx,
          auth,
          roundTimeoutMs: cmd.roundTimeoutMs,
          members: cmd.members,
          keepJoined: true,
          blameTransportFaults: true,
          // aux info ends with P2P proofs: wait briefly for a peer's abort notice before sealing
          noticeGraceMs:
            cmd.op === 'aux' || cmd.op === 'refresh' || cmd.op === 'reshare' ? Math.min(cmd.roundTimeoutMs, 1000) : 0,
          evidenceWaitMs: Math.min(cmd.roundTimeoutMs, 5000),
          ...(remote ? { runner: remote } : local ? { runner: local } : {}),
          onRefused: (err) => this.#o.metrics?.frameRefused(err.code),
        });
      } finally {
        await remote?.close();
        const evidence = remote?.evidence ?? local?.evidence();
        if (evidence !== undefined) this.#keepEvidence(token, evidence, cmd);
      }
      const summary = await prepared.persist(output, ctx);
      // The coordinator sends the commit as soon as every member reported: a refresh or reshare lets
      // go of the key before its report, or the commit could find it still held (the session leaves
      // its subjects after the report) and be refused here while the other holders commit.
      this.#releaseRotation(cmd.keyId, token);
      await report({ ok: true, code: '', message: '', blame: [], summary });
    } catch (e) {
      if (!reported) await report(failure(asMpc(e), cmd.members)).catch(() => undefined);
      throw e;
    } finally {
      await joined.leave().catch(() => undefined);
    }
  }

  /** Lets go of `keyId` if session `token` holds it (a later commit may hold it already). */
  #releaseRotation(keyId: string, token: string): void {
    if (this.#rotating.get(keyId) === token) this.#rotating.delete(keyId);
  }

  // --- identifiable abort (PROTOCOL.md §7.2, issue 17 item 5) ------------------------------------------

  #keepEvidence(
    token: string,
    evidence: KeptEvidence['evidence'],
    cmd: StartCommand,
    signed?: KeptEvidence['signed'],
  ): void {
    const now = (this.#o.now ?? Date.now)();
    for (const [t, k] of [...this.#evidence]) if (k.expires <= now) this.#dropEvidence(t);
    while (this.#evidence.size >= EVIDENCE_LIMIT) {
      const first = this.#evidence.keys().next().value;
      if (first === undefined) break;
      this.#dropEvidence(first);
    }
    this.#dropEvidence(token); // a replaced record is dropped too (never happens: tokens are unique)
    this.#evidence.set(token, {
      evidence,
      members: cmd.members,
      roundTimeoutMs: cmd.roundTimeoutMs,
      expires: now + EVIDENCE_TTL_MS,
      ...(signed ? { signed } : {}),
    });
  }

  /** Forgets the evidence of `token`, zeroing it when it is still encoded (SECRET bytes this party owns). */
  #dropEvidence(token: string): void {
    const kept = this.#evidence.get(token);
    this.#evidence.delete(token);
    if (kept?.evidence instanceof Uint8Array) kept.evidence.fill(0);
  }

  /**
   * Runs the identification of the failed session `sid` once (after `ctl.identify`): §7.2 after a
   * presign δ mismatch, §7.3 after an invalid signature (the payload then relays the signers' own
   * signed partial-signature frames).
   */
  #startIdentification(request: { sid: Uint8Array; payload: Uint8Array }, token: string): void {
    const kind: IdentificationKind | undefined =
      request.payload[0] === 0 ? 'delta' : request.payload[0] === 1 ? 'signature' : undefined;
    if (kind === undefined) return;
    const idSid = identificationSid(request.sid, kind);
    const idToken = sessionToken(idSid);
    if (this.#seen.has(idToken) || this.#draining) return;
    this.#remember(this.#seen, idToken);
    const kept = this.#evidence.get(token);
    this.#evidence.delete(token);
    const fresh =
      kept !== undefined &&
      kept.expires > (this.#o.now ?? Date.now)() &&
      (kind === 'signature') === (kept.signed !== undefined);
    if (!fresh && kept?.evidence instanceof Uint8Array) kept.evidence.fill(0);
    const run = this.#identify(idSid, idToken, token, kind, request, fresh ? kept : undefined)
      .catch((e) => this.#log.error({ sid: idToken, code: asMpc(e).code }, 'identification failed to run'))
      .finally(() => this.#active.delete(idToken));
    this.#active.set(idToken, run);
  }

  async #identify(
    idSid: Uint8Array,
    idToken: string,
    of: string,
    kind: IdentificationKind,
    request: { sid: Uint8Array; payload: Uint8Array },
    kept: KeptEvidence | undefined,
  ): Promise<void> {
    const protocol = kind === 'delta' ? 'identify-delta' : 'identify-signature';
    const t0 = performance.now();
    this.#o.metrics?.sessionStarted(protocol);
    const joined = await joinSession(this.#o.transport, idSid);
    const session = joined.session;
    let outcome: 'ok' | 'abort' | 'timeout' | 'error' = 'ok';
    try {
      if (kept === undefined) {
        outcome = 'error';
        const err = new MpcError('ERR_DAEMON_SESSION_FAILED', 'no identification evidence held for this session');
        await session.sendControl('result', encodeSessionResult(failure(err, [])));
        return;
      }
      const { members } = kept;
      let evidence: PresignEvidence;
      try {
        evidence = kept.evidence instanceof Uint8Array ? decodeStoredEvidence(kept.evidence) : kept.evidence;
      } catch (e) {
        // malformed stored evidence: the same typed failure (ERR_PRESIGNATURE_INVALID) signing gave before #18
        outcome = 'error';
        await session.sendControl('result', encodeSessionResult(failure(asMpc(e), [])));
        return;
      } finally {
        if (kept.evidence instanceof Uint8Array) kept.evidence.fill(0);
      }
      const roster = members.map((m) => (this.#o.roster[m] as RosterEntry).ed25519);
      const base = { retained: evidence.retained, received: evidenceEnvelopes(evidence), roster };
      let input: unknown = base;
      if (kept.signed !== undefined) {
        try {
          input = { ...base, ...kept.signed, partials: this.#relayedPartials(request, members, kept.signed.partial) };
        } catch (e) {
          outcome = 'error';
          await session.sendControl('result', encodeSessionResult(failure(asMpc(e), [])));
          return;
        }
      }
      await this.#awaitGo(idToken, joined, session, members);
      const ctx: RoundCtx = {
        self: members.indexOf(this.self),
        n: members.length,
        sid: idSid,
        math: this.#o.math,
        rng: systemRng,
      };
      const remote =
        this.#threads === undefined
          ? undefined
          : new RemoteRunner<IdentifyOutput>(
              {
                protocol,
                backend: this.#o.math.name,
                self: ctx.self,
                n: ctx.n,
                sid: idSid,
                secret: this.#o.keys.ed25519Secret,
                roster,
              },
              this.#threads,
            );
      let result: SessionResult;
      try {
        const def = (kind === 'delta' ? identifyDelta : identifySignature) as ProtocolDef<
          unknown,
          unknown,
          IdentifyOutput
        >;
        const out = await runSession(def, input, {
          session: joined,
          ctx,
          auth: ed25519Authenticator(this.#o.keys.ed25519Secret, roster),
          roundTimeoutMs: kept.roundTimeoutMs,
          members,
          keepJoined: true,
          blameTransportFaults: true,
          ...(remote ? { runner: remote as never } : {}),
          onRefused: (err) => this.#o.metrics?.frameRefused(err.code),
        });
        result = {
          ok: true,
          code: '',
          message: `nobody cheated (${out.culprits.length})`,
          blame: [],
          summary: new Uint8Array(0),
        };
      } catch (e) {
        const err = asMpc(e);
        outcome = /timeout/.test(err.message) ? 'timeout' : 'abort';
        result = failure(err, members);
        const verified = result.blame.filter((b) => b.verified).length;
        if (verified > 0) this.#o.metrics?.blamed(protocol, verified);
        this.#log.warn(
          { sid: idToken, of, protocol, code: err.code, blame: result.blame.map((b) => b.party), verified },
          'identification named culprits',
        );
      } finally {
        await remote?.close();
      }
      await session.sendControl('result', encodeSessionResult(result));
    } finally {
      this.#o.metrics?.sessionEnded(protocol, outcome, (performance.now() - t0) / 1000);
      await joined.leave().catch(() => undefined);
    }
  }

  /**
   * The partial signatures the coordinator failed to combine, each checked to be its signer's own
   * signed `ctl.partial` frame of this signing session (the coordinator relays, it cannot forge);
   * this party's position holds its partial as it computed it. §7.3 blames a signer whose
   * identification message carries another σ_i than the partial it signed.
   */
  #relayedPartials(
    request: { sid: Uint8Array; payload: Uint8Array },
    members: readonly number[],
    own: PartialSignature,
  ): PartialSignature[] {
    const frames = decodeRelayedPartials(request.payload.subarray(1));
    if (frames.length !== members.length) {
      throw new MpcError('ERR_DAEMON_COMMAND_INVALID', 'relayed partials do not match the signers');
    }
    return frames.map((f, j) => {
      if (members[j] === this.self) return own;
      let m: ReturnType<typeof openPartyMessage>;
      try {
        m = openPartyMessage(f, this.#o.roster);
      } catch (e) {
        throw new MpcError('ERR_DAEMON_COMMAND_INVALID', 'a relayed partial is not a signer-signed frame', {
          cause: e,
        });
      }
      if (m.from !== members[j] || m.round !== 'partial' || sessionToken(m.sid) !== sessionToken(request.sid)) {
        throw new MpcError('ERR_DAEMON_COMMAND_INVALID', 'a relayed partial is from another signer or session');
      }
      const p = decodePartialSignature(m.payload);
      if (p.signer !== j) throw new MpcError('ERR_DAEMON_COMMAND_INVALID', 'a relayed partial claims another position');
      return p;
    });
  }

  /**
   * Announces ready and waits for the coordinator's go (or abort / timeout), then accepts the
   * members' session keys carried by the go.
   *
   * Forward secrecy without a round trip: `ready` carries this party's ephemeral X25519 key signed
   * with its identity key for this sid, and the coordinator's `go` (sent once every member is ready
   * anyway) relays every member's signed key. Each party checks each signature against the roster
   * itself, so the coordinator can withhold keys (the session is refused) but cannot substitute
   * one. A peer broadcast of the keys would need its own barrier (a key published before a peer
   * subscribed is lost), which is exactly what ready/go already is.
   */
  async #awaitGo(
    token: string,
    joined: JoinedSession,
    session: TransportSession,
    members: readonly number[],
  ): Promise<void> {
    const wait = new Promise<Uint8Array>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new MpcError('ERR_DAEMON_SESSION_TIMEOUT', 'no go from the coordinator in time')),
        this.#o.readyTimeoutMs ?? 60_000,
      );
      this.#pending.set(token, {
        joined,
        go: (payload) => {
          clearTimeout(timer);
          resolve(payload);
        },
        abort: (why) => {
          clearTimeout(timer);
          reject(new MpcError('ERR_DAEMON_SESSION_FAILED', why));
        },
      });
    });
    // a failed ready send must settle `wait` too, or its later timeout would be an unhandled rejection
    wait.catch(() => undefined);
    let keys: Uint8Array;
    try {
      await session.sendControl('ready', session.sessionKey);
      keys = await wait;
    } catch (e) {
      this.#pending.get(token)?.abort('ready could not be sent');
      throw e;
    } finally {
      this.#pending.delete(token);
    }
    // a missing key or one not signed by that member's roster identity refuses the session here,
    // before any protocol message exists (no blame: the relay, not the member, may be at fault)
    session.acceptSessionKeys(decodeSessionKeys(keys), members);
  }

  /** Checks preconditions and loads inputs before announcing ready (a party that cannot run says so). */
  async #prepare(cmd: StartCommand, token: string): Promise<PreparedSession> {
    const { ledger, store } = this.#o;
    // a key this party left (a reshare without it): no keygen, presign, refresh or reshare of it here
    await this.#refuseRetired(cmd.keyId);
    if (cmd.op === 'refresh') return this.#prepareRefresh(cmd, token);
    if (cmd.op === 'reshare') return this.#prepareReshare(cmd, token);
    if (cmd.op === 'keygen') {
      if (
        ledger.getKey(cmd.keyId) !== undefined ||
        (await this.#hasCore(cmd.keyId)) ||
        (await this.#fullShareVersion(cmd.keyId)) > 0
      ) {
        throw new MpcError('ERR_DAEMON_COMMAND_INVALID', 'a key with this id exists already');
      }
      return {
        def: keygen as never,
        input: { t: cmd.threshold, additive: false },
        persist: async (out) => {
          const core = out as CoreKeyShare;
          const bytes = encodeCoreKeyShare(core);
          try {
            await store.putShare(this.#coreId(cmd.keyId), 1, bytes);
          } finally {
            bytes.fill(0);
          }
          // the key row comes with aux info; the keygen's record goes in after the core is sealed
          if (ledger.auditing) {
            ledger.appendAudit({
              type: 'key.generated',
              key: cmd.keyId,
              threshold: core.t,
              parties: core.n,
              publicKey: Buffer.from(encodePoint(core.publicKey)).toString('hex'),
            });
          }
          return encodePoint(core.publicKey);
        },
      };
    }
    if (cmd.op === 'import') {
      // issue #19: the share staged by `mpc-custody import tss-lib`; the session checks that every
      // importer staged the same key (public data and chain code) and converts it into the additive
      // n-of-n key among them, sealed as the core share aux info then reads (like keygen's output).
      if (
        ledger.getKey(cmd.keyId) !== undefined ||
        (await this.#hasCore(cmd.keyId)) ||
        (await this.#fullShareVersion(cmd.keyId)) > 0
      ) {
        throw new MpcError('ERR_DAEMON_COMMAND_INVALID', 'a key with this id exists already');
      }
      const staged = await loadStagedImport(store, this.self, cmd.keyId);
      return {
        def: tssLibImport as never,
        input: staged,
        persist: async (out) => {
          const core = out as CoreKeyShare;
          const bytes = encodeCoreKeyShare(core);
          try {
            await store.putShare(this.#coreId(cmd.keyId), 1, bytes);
          } finally {
            bytes.fill(0);
          }
          // the tss-lib share itself is gone from the store; only the converted one stays
          await store.deleteShare(stagedShareId(this.self, cmd.keyId));
          if (ledger.auditing) {
            ledger.appendAudit({
              type: 'key.imported',
              key: cmd.keyId,
              source: 'tss-lib',
              parties: core.n,
              publicKey: Buffer.from(encodePoint(core.publicKey)).toString('hex'),
            });
          }
          return encodePoint(core.publicKey);
        },
      };
    }
    if (cmd.op === 'aux') {
      // Resumable (issue 17 item 7): aux info may run again for a key that never presigned, so a
      // crash between sealing the full share and recording it in the ledger (here or at another
      // member) does not block the key forever. The core share comes from the keygen output or,
      // once an aux run completed here, from the full share; the new share gets the next version.
      const meta = ledger.getKey(cmd.keyId);
      if (meta !== undefined && ledger.hasPresignatures(cmd.keyId)) {
        throw new MpcError('ERR_DAEMON_COMMAND_INVALID', 'aux info exists and the key has presigned');
      }
      const core =
        meta !== undefined && !(await this.#hasCore(cmd.keyId))
          ? (await this.#loadShare(cmd.keyId)).core
          : await this.#loadCore(cmd.keyId);
      if (core.n !== cmd.members.length) throw new MpcError('ERR_DAEMON_COMMAND_INVALID', 'members differ from keygen');
      let primes: bigint[];
      try {
        primes = await this.#o.primes.take(2);
      } catch (e) {
        throw new MpcError('ERR_DAEMON_PRIMES_EXHAUSTED', 'no fresh safe primes available', { cause: asMpc(e) });
      }
      return {
        def: auxInfo as never,
        input: { p: primes[0], q: primes[1] },
        persist: async (out) => {
          const share = validateKeyShare(this.#o.math, { core, aux: out as AuxInfo });
          // the next version, read now: an earlier run for this key may have finished meanwhile
          const current = ledger.getKey(cmd.keyId)?.shareVersion ?? 0;
          const version = Math.max(await this.#fullShareVersion(cmd.keyId), current) + 1;
          await putKeyShare(store, { partyId: this.self, keyId: cmd.keyId }, version, share);
          ledger.putKey(
            {
              keyId: cmd.keyId,
              publicKey: Buffer.from(encodePoint(core.publicKey)).toString('hex'),
              threshold: core.t,
              parties: core.n,
              shareVersion: version,
            },
            { type: 'aux.done', key: cmd.keyId, parties: [...cmd.members] },
          );
          await store.deleteShare(this.#coreId(cmd.keyId));
          this.#shares.set(cmd.keyId, share);
          return new Uint8Array(0);
        },
      };
    }
    // presign
    const share = await this.#loadShare(cmd.keyId);
    if (cmd.members.length !== share.core.t || cmd.members.some((m) => m >= share.core.n)) {
      throw new MpcError('ERR_DAEMON_COMMAND_INVALID', 'presign needs exactly t signers among the key holders');
    }
    return {
      def: presign as never,
      input: { share, signers: cmd.members, path: cmd.path },
      persist: async (out) => {
        const p = out as Presignature;
        const raw = encodePresignature(p);
        const kept = this.#evidence.get(token)?.evidence; // a presign run keeps it decoded
        const bytes = encodeStoredPresignature(raw, kept instanceof Uint8Array ? undefined : kept);
        raw.fill(0);
        try {
          await ledger.addPresignature(p.id, cmd.keyId, bytes, p.epoch ?? 0);
        } finally {
          bytes.fill(0);
        }
        this.#o.metrics?.setPresignaturesAvailable(cmd.keyId, ledger.countAvailable(cmd.keyId));
        const burn = () => {
          ledger.burn(p.id, 'session-aborted'); // never signs anything (audit: presignature.burnt)
          this.#o.metrics?.setPresignaturesAvailable(cmd.keyId, ledger.countAvailable(cmd.keyId));
        };
        if (this.#abortedWhileRunning.delete(token)) burn();
        else this.#remember(this.#recent, token, burn);
        return encodePresignaturePublic(p);
      },
    };
  }

  // --- refresh (issue #16): prepare in the session, commit on every holder's acknowledgement ---------

  /**
   * refresh: the CGGMP24 key refresh (refresh.ts) among every holder of the key, with two fresh safe
   * primes. The output (the next epoch's share and aux info) is sealed as `<key>.next` beside the
   * active share and recorded as a prepared rotation; the active share still signs. The report
   * carries the new epoch, the digest of its public data and this holder's signed acknowledgement.
   */
  async #prepareRefresh(cmd: StartCommand, token: string): Promise<PreparedSession> {
    const { ledger } = this.#o;
    if (ledger.getKey(cmd.keyId) === undefined) {
      throw new MpcError('ERR_DAEMON_KEY_UNKNOWN', 'no key share for this key id');
    }
    // a share restored from a backup kit has no aux info yet: the refresh gives it some
    const share = { core: await this.#activeCore(cmd.keyId) };
    if (share.core.n !== cmd.members.length) {
      throw new MpcError('ERR_DAEMON_COMMAND_INVALID', 'refresh needs every holder of the key (0..n-1)');
    }
    const primes = await this.#takePrimes();
    return {
      def: refresh as never,
      input: { core: share.core, primes: { p: primes[0], q: primes[1] } },
      persist: async (out, ctx) => {
        const next = validateKeyShare(this.#o.math, out as KeyShare);
        const old = share.core;
        const epoch = (old.epoch ?? 0) + 1;
        if (
          (next.core.epoch ?? 0) !== epoch ||
          next.core.i !== old.i ||
          next.core.t !== old.t ||
          next.core.n !== old.n ||
          !sameBytes(encodePoint(next.core.publicKey), encodePoint(old.publicKey)) ||
          !sameBytes(next.core.chainCode, old.chainCode)
        ) {
          throw new MpcError(
            'ERR_ROTATION_STATE',
            'the refresh output does not continue the key (Y, chain code, epoch)',
          );
        }
        return this.#sealPrepared(cmd, token, next, ctx, 'refresh');
      },
    };
  }

  /**
   * reshare: the key re-dealt from holders 0..n−1 to holders 0..n′−1 with threshold t′ =
   * cmd.threshold, then aux info of the new committee (refresh.ts reshareSession). The session's
   * members are the new committee: n′ ≥ n, parties n..n′−1 join and every old holder deals; n′ < n,
   * parties n′..n−1 leave, take no part in the session, and the staying holders 0..n′−1 deal (at least
   * the old threshold t of them: the dealing interpolates their shares; an additive n-of-n key needs
   * every holder). A leaver retires at the commit (#retire). An old holder checks the coordinator's key
   * record against its own share; a joining party takes it as given (the dealing's record digest,
   * compared with every old holder's, refuses a wrong one before any share is used). Prepared and
   * committed like a refresh.
   */
  async #prepareReshare(cmd: StartCommand, token: string): Promise<PreparedSession> {
    const { ledger } = this.#o;
    const record = decodeKeyRecord(cmd.payload);
    const newN = cmd.members.length;
    if (newN < record.t) {
      throw new MpcError(
        'ERR_DAEMON_COMMAND_INVALID',
        'a reshare that removes holders keeps at least the old threshold of them (they deal the key)',
      );
    }
    const holder = this.self < record.n;
    let core: CoreKeyShare | undefined;
    if (holder) {
      core = await this.#activeCore(cmd.keyId);
      if (!sameBytes(encodeKeyRecord(keyRecordOf(core)), encodeKeyRecord(record))) {
        throw new MpcError('ERR_ROTATION_STATE', "the coordinator's key record differs from this holder's share");
      }
    } else if (await this.#holdsShareOf(cmd.keyId)) {
      // a joiner never deals from, nor overwrites, a share it holds (an unfinished join is no share)
      throw new MpcError('ERR_DAEMON_COMMAND_INVALID', 'a joining party already holds a key with this id');
    }
    const primes = await this.#takePrimes();
    const roles = {
      oldIndex: cmd.members.map((m) => (m < record.n ? m : null)),
      newIndex: cmd.members.map((m) => m),
      newT: cmd.threshold,
    };
    return {
      def: reshareSession as never,
      input: {
        dealing: { key: record, roles, ...(core === undefined ? {} : { share: core }) },
        primes: { p: primes[0], q: primes[1] },
      },
      persist: async (out, ctx) => {
        const next = validateKeyShare(this.#o.math, out as KeyShare);
        const epoch = record.epoch + 1;
        if (
          (next.core.epoch ?? 0) !== epoch ||
          next.core.i !== this.self ||
          next.core.t !== cmd.threshold ||
          next.core.n !== newN ||
          !sameBytes(encodePoint(next.core.publicKey), encodePoint(record.publicKey)) ||
          !sameBytes(next.core.chainCode, record.chainCode)
        ) {
          throw new MpcError(
            'ERR_ROTATION_STATE',
            'the reshare output does not continue the key (Y, chain code, epoch)',
          );
        }
        if (!holder) {
          const joining = {
            keyId: cmd.keyId,
            publicKey: Buffer.from(encodePoint(record.publicKey)).toString('hex'),
            threshold: cmd.threshold,
            parties: newN,
            epoch: record.epoch,
          };
          // an earlier attempt this party prepared and never committed is replaced by this one
          if (ledger.getKey(cmd.keyId) === undefined) ledger.joinKey(joining);
          else ledger.rejoinKey(joining);
        }
        return this.#sealPrepared(cmd, token, next, ctx, 'reshare');
      },
    };
  }

  /**
   * The prepare step shared by refresh and reshare: the next epoch's share sealed as `<key>.next`
   * beside the active one, the rotation recorded as prepared, and this holder's acknowledgement
   * signed over (session, epoch, public-data digest) for the coordinator to relay at the commit.
   */
  async #sealPrepared(
    cmd: StartCommand,
    token: string,
    next: KeyShare,
    ctx: RoundCtx,
    what: 'refresh' | 'reshare',
  ): Promise<Uint8Array> {
    const { ledger, store } = this.#o;
    const meta = ledger.getKey(cmd.keyId);
    if (meta === undefined) throw new MpcError('ERR_DAEMON_KEY_UNKNOWN', 'no key share for this key id');
    const epoch = next.core.epoch ?? 0;
    // an earlier prepared, never committed rotation of this key is dropped (its `.next` is replaced)
    if (ledger.getRotation(cmd.keyId)?.state === 'prepared') ledger.abandonRotation(cmd.keyId);
    // the store's version rule: every version only moves forward
    const version =
      Math.max(
        await this.#fullShareVersion(cmd.keyId),
        meta.shareVersion,
        await this.#fullShareVersion(this.#nextKeyId(cmd.keyId)),
      ) + 1;
    await putKeyShare(store, { partyId: this.self, keyId: this.#nextKeyId(cmd.keyId) }, version, next);
    const digest = epochDigest(next.core);
    const sid = ctx.sid;
    ledger.prepareRotation({
      keyId: cmd.keyId,
      sid: token,
      epoch,
      digest: Buffer.from(digest).toString('hex'),
      shareVersion: version,
    });
    const undo = () => {
      // the coordinator aborted after this party prepared: the key stays on its epoch
      if (ledger.getRotation(cmd.keyId)?.sid === token) ledger.abandonRotation(cmd.keyId);
    };
    if (this.#abortedWhileRunning.delete(token)) {
      undo();
      throw new MpcError('ERR_DAEMON_SESSION_FAILED', `the coordinator aborted the ${what}`);
    }
    this.#remember(this.#recent, token, undo);
    const holders = cmd.members.map((m) => (this.#o.roster[m] as RosterEntry).ed25519);
    const ack = acknowledgeRotation(this.#signer, { sid, epoch, digest, holders }, ctx.self);
    this.#log.info({ keyId: cmd.keyId, epoch, version }, `${what} prepared: next epoch sealed, waiting for commit`);
    return encodeRotationReport({ epoch, digest, sig: ack.sig });
  }

  /**
   * commit: every holder's acknowledgement of the prepared refresh, relayed by the coordinator. Each
   * is checked here against the roster (rotation.ts commitRotation); only then, in one ledger
   * transaction, the key moves to the new epoch and share version and every presignature of an older
   * epoch is burnt; the new share then replaces the old one in the store. A repeated commit of a
   * rotation already committed here finishes an interrupted store step and answers ok.
   */
  async #commit(sid: Uint8Array, cmd: StartCommand): Promise<void> {
    const { ledger, store } = this.#o;
    const c = decodeRotationCommit(cmd.payload);
    const meta = ledger.getKey(cmd.keyId);
    if (meta === undefined) throw new MpcError('ERR_DAEMON_KEY_UNKNOWN', 'no key share for this key id');
    if (c.record !== undefined) {
      await this.#retire(sid, cmd, c, meta);
      return;
    }
    const everyHolder = (n: number) => {
      if (cmd.members.length !== n || cmd.members.some((m, j) => m !== j)) {
        throw new MpcError('ERR_DAEMON_COMMAND_INVALID', 'commit needs every holder of the key (0..n-1)');
      }
    };
    const sidHex = Buffer.from(c.sid).toString('hex');
    const digestHex = Buffer.from(c.digest).toString('hex');
    const rot = ledger.getRotation(cmd.keyId);
    const same = rot !== undefined && rot.sid === sidHex && rot.epoch === c.epoch && rot.digest === digestHex;
    const summary = encodeRotationReport({ epoch: c.epoch, digest: c.digest, sig: new Uint8Array(64) }).subarray(0, 36);
    if (same && rot.state === 'committed') {
      everyHolder(meta.parties);
      await this.#finishCommit(cmd.keyId, rot.shareVersion);
      await this.#publishControl(
        sid,
        'result',
        encodeSessionResult({ ok: true, code: '', message: '', blame: [], summary }),
      );
      return;
    }
    if (!same || rot.state !== 'prepared') {
      throw new MpcError('ERR_ROTATION_STATE', 'no such refresh or reshare is prepared at this party');
    }
    // a party joining by a reshare has no active share yet (share version 0 and no restored core)
    const joining = meta.shareVersion === 0 && !(await this.#hasCore(cmd.keyId));
    const active = joining ? null : ({ core: await this.#activeCore(cmd.keyId) } as KeyShare);
    const { share: next } = await getKeyShare(
      store,
      this.#o.math,
      { partyId: this.self, keyId: this.#nextKeyId(cmd.keyId) },
      rot.shareVersion,
    );
    // the new committee: the key's holders for a refresh, more of them after a reshare that adds some
    everyHolder(next.core.n);
    const target: RotationTarget = {
      sid: c.sid,
      epoch: c.epoch,
      digest: c.digest,
      holders: cmd.members.map((m) => (this.#o.roster[m] as RosterEntry).ed25519),
    };
    // the coordinator relays the acknowledgements; it cannot forge one (each is checked against the roster)
    commitRotation({ phase: 'prepared', active, next, target }, c.acks);
    const burnt = ledger.commitRotation(cmd.keyId, sidHex, c.epoch, { threshold: next.core.t, parties: next.core.n });
    this.#o.testAfterRotationCommit?.();
    this.#shares.set(cmd.keyId, next);
    await this.#finishCommit(cmd.keyId, rot.shareVersion);
    this.#o.metrics?.setPresignaturesAvailable(cmd.keyId, ledger.countAvailable(cmd.keyId));
    this.#log.info({ keyId: cmd.keyId, epoch: c.epoch, burnt }, 'rotation committed: the key is on its new epoch');
    await this.#publishControl(
      sid,
      'result',
      encodeSessionResult({ ok: true, code: '', message: '', blame: [], summary }),
    );
  }

  /**
   * The commit of a reshare at a party that LEAVES the committee (issue #16): it took no part in the
   * session (the staying holders dealt), so it checks what the coordinator relays against its own
   * share before giving it up: the new epoch's key record continues its key (same Y and chain code,
   * epoch + 1), its epochDigest is the committed digest, the new committee 0..n′−1 does not include
   * this party, and every new holder's acknowledgement of (sid, epoch, digest) verifies against the
   * roster (rotation.ts commitRotation → retired). Only then, in one ledger transaction, the key is
   * marked retired and its presignatures burnt (audit reshare.step left), and the sealed share is
   * deleted. A repeated commit of the same epoch finishes the deletion and answers ok.
   */
  async #retire(sid: Uint8Array, cmd: StartCommand, c: RotationCommit, meta: KeyMeta): Promise<void> {
    this.#o.testBeforeRetire?.();
    const { ledger } = this.#o;
    const summary = encodeRotationReport({ epoch: c.epoch, digest: c.digest, sig: new Uint8Array(64) }).subarray(0, 36);
    const ok = () =>
      this.#publishControl(sid, 'result', encodeSessionResult({ ok: true, code: '', message: '', blame: [], summary }));
    if (meta.retired !== undefined) {
      if (meta.retired !== c.epoch) {
        throw new MpcError('ERR_DAEMON_KEY_RETIRED', 'this party left the committee of this key at another epoch');
      }
      await this.#dropShares(cmd.keyId);
      await ok();
      return;
    }
    const record = decodeKeyRecord(c.record as Uint8Array);
    const own = await this.#activeCore(cmd.keyId);
    const epoch = (own.epoch ?? 0) + 1;
    if (
      record.epoch !== epoch ||
      c.epoch !== epoch ||
      !sameBytes(encodePoint(record.publicKey), encodePoint(own.publicKey)) ||
      !sameBytes(record.chainCode, own.chainCode)
    ) {
      throw new MpcError(
        'ERR_ROTATION_STATE',
        "the new key record does not continue this party's key (Y, chain code, epoch)",
      );
    }
    if (!sameBytes(epochDigest(record), c.digest)) {
      throw new MpcError('ERR_ROTATION_STATE', 'the new key record is not the one the new holders acknowledged');
    }
    if (this.self < record.n) {
      throw new MpcError('ERR_ROTATION_STATE', 'this party is in the new committee: it does not leave');
    }
    const target: RotationTarget = {
      sid: c.sid,
      epoch: c.epoch,
      digest: c.digest,
      holders: Array.from({ length: record.n }, (_, r) => (this.#o.roster[r] as RosterEntry).ed25519),
    };
    // every new holder sealed its share of epoch + 1 and said so; the coordinator cannot forge that
    const state = commitRotation({ phase: 'prepared', active: null, next: null, target }, c.acks);
    if (state.phase !== 'retired') throw new MpcError('ERR_ROTATION_STATE', 'a leaving party must retire');
    const burnt = ledger.retireKey(cmd.keyId, c.epoch, record.n);
    await this.#dropShares(cmd.keyId);
    this.#o.metrics?.setPresignaturesAvailable(cmd.keyId, 0);
    this.#log.info({ keyId: cmd.keyId, epoch: c.epoch, burnt }, 'reshare committed: this party left the key');
    await ok();
  }

  /** Refuses any use of a key this party left; finishes deleting its shares (a crash after the ledger). */
  async #refuseRetired(keyId: string): Promise<void> {
    if (this.#o.ledger.getKey(keyId)?.retired === undefined) return;
    await this.#dropShares(keyId);
    throw new MpcError('ERR_DAEMON_KEY_RETIRED', 'this party left the committee of this key: it holds no share');
  }

  /** Deletes every sealed share of `keyId` here (active, prepared next epoch, core) and the cached one. */
  async #dropShares(keyId: string): Promise<void> {
    this.#shares.delete(keyId);
    const mine = new Set([keyId, this.#nextKeyId(keyId), `${keyId}.core`]);
    for (const s of await this.#o.store.listShares()) {
      if (s.partyId === this.self && mine.has(s.keyId))
        await this.#o.store.deleteShare({ partyId: this.self, keyId: s.keyId });
    }
  }

  /**
   * rotation: the key's epoch and last rotation here, with this holder's acknowledgement of it (the
   * same Ed25519 signature it reported after preparing), so that a coordinator that lost the commit
   * half way (a holder killed, the coordinator restarted) can relay every ack again.
   */
  async #rotationStatus(sid: Uint8Array, cmd: StartCommand): Promise<void> {
    const { ledger } = this.#o;
    const meta = ledger.getKey(cmd.keyId);
    if (meta === undefined) throw new MpcError('ERR_DAEMON_KEY_UNKNOWN', 'no key share for this key id');
    const rot = ledger.getRotation(cmd.keyId);
    const none = { sid: new Uint8Array(0), epoch: 0, digest: new Uint8Array(32), sig: new Uint8Array(64) };
    let status: RotationStatus = { keyEpoch: meta.epoch ?? 0, state: 'none', ...none };
    if (rot !== undefined) {
      const target = {
        sid: Buffer.from(rot.sid, 'hex'),
        epoch: rot.epoch,
        digest: Buffer.from(rot.digest, 'hex'),
        holders: [] as Uint8Array[],
      };
      const ack = acknowledgeRotation(this.#signer, target, this.self);
      status = { ...status, state: rot.state, sid: target.sid, epoch: rot.epoch, digest: target.digest, sig: ack.sig };
    }
    await this.#publishControl(
      sid,
      'result',
      encodeSessionResult({ ok: true, code: '', message: '', blame: [], summary: encodeRotationStatus(status) }),
    );
  }

  /** The committed share moves from `<key>.next` to `<key>` (replacing the old one), then `.next` goes. */
  async #finishCommit(keyId: string, version: number): Promise<void> {
    const { store } = this.#o;
    const nextId = { partyId: this.self, keyId: this.#nextKeyId(keyId) };
    if ((await this.#fullShareVersion(keyId)) < version) {
      const got = await store.getShare(nextId, version);
      try {
        await store.putShare({ partyId: this.self, keyId }, version, got.plaintext);
      } finally {
        got.plaintext.fill(0);
      }
    }
    if ((await this.#fullShareVersion(this.#nextKeyId(keyId))) > 0) await store.deleteShare(nextId);
    // a core restored from a backup kit is of the old epoch: the committed full share replaces it
    if (await this.#hasCore(keyId)) await store.deleteShare(this.#coreId(keyId));
  }

  #nextKeyId(keyId: string): string {
    return `${keyId}.next`;
  }

  #coreId(keyId: string) {
    return { partyId: this.self, keyId: `${keyId}.core` };
  }

  /** The version of the sealed full share of `keyId` (0 when there is none); headers only. */
  async #fullShareVersion(keyId: string): Promise<number> {
    const s = (await this.#o.store.listShares()).find((x) => x.partyId === this.self && x.keyId === keyId);
    return s?.version ?? 0;
  }

  /**
   * Whether this party holds a share of `keyId`: a committed one (ledger share version > 0, or a
   * sealed full share) or a core (from keygen before aux info, or restored from a backup kit). A
   * reshare it joined and never committed (share version 0, only `<key>.next`) is none.
   */
  async #holdsShareOf(keyId: string): Promise<boolean> {
    const meta = this.#o.ledger.getKey(keyId);
    return (
      (meta !== undefined && meta.shareVersion > 0) ||
      (await this.#fullShareVersion(keyId)) > 0 ||
      (await this.#hasCore(keyId))
    );
  }

  async #hasCore(keyId: string): Promise<boolean> {
    return (await this.#o.store.listShares()).some((s) => s.partyId === this.self && s.keyId === `${keyId}.core`);
  }

  async #loadCore(keyId: string): Promise<CoreKeyShare> {
    let got: { plaintext: Buffer };
    try {
      got = await this.#o.store.getShare(this.#coreId(keyId), 1);
    } catch (e) {
      throw new MpcError('ERR_DAEMON_KEY_UNKNOWN', 'no key generation output for this key id', { cause: asMpc(e) });
    }
    try {
      return decodeCoreKeyShare(got.plaintext);
    } finally {
      got.plaintext.fill(0);
    }
  }

  /** Two fresh safe primes for a new Paillier key (aux info, refresh, reshare). */
  async #takePrimes(): Promise<bigint[]> {
    try {
      return await this.#o.primes.take(2);
    } catch (e) {
      throw new MpcError('ERR_DAEMON_PRIMES_EXHAUSTED', 'no fresh safe primes available', { cause: asMpc(e) });
    }
  }

  /** The core share of a key on its current epoch: the full share's, or a restored core (share version 0). */
  async #activeCore(keyId: string): Promise<CoreKeyShare> {
    const meta = this.#o.ledger.getKey(keyId);
    if (meta?.shareVersion === 0) return this.#loadCore(keyId);
    return (await this.#loadShare(keyId)).core;
  }

  async #loadShare(keyId: string): Promise<KeyShare> {
    const cached = this.#shares.get(keyId);
    if (cached) return cached;
    const meta = this.#o.ledger.getKey(keyId);
    if (meta === undefined) throw new MpcError('ERR_DAEMON_KEY_UNKNOWN', 'no key share for this key id');
    if (meta.shareVersion === 0) {
      throw new MpcError(
        'ERR_DAEMON_KEY_RESTORED',
        'this party restored its share of the key from a backup kit: it has no aux info until a refresh (coord refresh)',
      );
    }
    const rot = this.#o.ledger.getRotation(keyId);
    if (rot?.state === 'committed' && rot.shareVersion === meta.shareVersion) {
      // a crash between the ledger's commit and the store step: finish it (idempotent)
      await this.#finishCommit(keyId, rot.shareVersion);
    }
    const { share } = await getKeyShare(this.#o.store, this.#o.math, { partyId: this.self, keyId }, meta.shareVersion);
    this.#shares.set(keyId, share);
    return share;
  }

  // --- sign ----------------------------------------------------------------------------------------

  /** The key's root public key and chain code (after keygen, before or after aux info). */
  async #chainKey(keyId: string): Promise<ChainKey> {
    // before aux info, and after a restore from a backup kit (share version 0), only the core share exists
    const version = this.#o.ledger.getKey(keyId)?.shareVersion ?? 0;
    const core = version === 0 ? await this.#loadCore(keyId) : (await this.#loadShare(keyId)).core;
    return { publicKey: core.publicKey, chainCode: core.chainCode };
  }

  /** keyinfo: report the key's public key and chain code (public data: the coordinator's xpub). */
  /** record: the key's public record (Y, chain code, epoch, t, n, public shares), for a reshare's joiners. */
  async #keyRecord(sid: Uint8Array, cmd: StartCommand): Promise<void> {
    const summary = encodeKeyRecord(keyRecordOf(await this.#activeCore(cmd.keyId)));
    await this.#publishControl(
      sid,
      'result',
      encodeSessionResult({ ok: true, code: '', message: '', blame: [], summary }),
    );
  }

  async #keyInfo(sid: Uint8Array, cmd: StartCommand): Promise<void> {
    const key = await this.#chainKey(cmd.keyId);
    const summary = new Uint8Array(65);
    summary.set(encodePoint(key.publicKey));
    summary.set(key.chainCode, 33);
    await this.#publishControl(
      sid,
      'result',
      encodeSessionResult({ ok: true, code: '', message: '', blame: [], summary }),
    );
  }

  async #sign(sid: Uint8Array, cmd: StartCommand): Promise<void> {
    const t0 = performance.now();
    const { ledger } = this.#o;
    // Decode the payload and compute the digest here, before the presignature is even loaded: a
    // malformed payload is refused with ERR_CHAIN_* and never reaches the ledger (issue #12).
    const kind = cmd.kind ?? 'raw.digest';
    const key = kind === 'btc.psbt' ? await this.#chainKey(cmd.keyId) : undefined;
    const network = cmd.network ?? 'mainnet';
    // decoded once: the co-signer check below builds its intent from the same decoding
    const decoded = decodePayload(kind, cmd.payload, { ...(key ? { key } : {}), network });
    const target = digestAt(decoded, cmd.digestIndex ?? 0);
    // Each cause its own code (issue 20): an unknown key before the policy check and anything about
    // the presignature, then a presignature of another key, then one this party does not hold.
    if (ledger.getKey(cmd.keyId) === undefined) throw new MpcError('ERR_DAEMON_KEY_UNKNOWN', 'no key for this key id');
    // Velocity: the guard re-decides against its running totals in the consume's synchronous step
    // (PolicyGuard.commit), so concurrent signs cannot both pass a limit that together they exceed.
    let partial: PartialSignature;
    let presig: Presignature;
    /** SECRET, still encoded (decoded only if identification runs, issue #18); zeroed unless kept. */
    let evidence: Uint8Array | undefined;
    // The co-signer check (issue #14), before the presignature is even loaded: a refusal names the
    // rule and leaves the ledger untouched.
    const checkStart = performance.now();
    const cpuStart = process.cpuUsage();
    const permit = await this.#guard.authorize(
      { keyId: cmd.keyId, kind, payload: cmd.payload, network, authorization: cmd.authorization, key, decoded },
      Math.floor((this.#o.now ?? Date.now)() / 1000),
    );
    /** Time of the check (authorize, then the re-check before the consume): mpc_policy_check_seconds. */
    let checkMs = performance.now() - checkStart;
    /** Its CPU time (µs): mpc_policy_check_cpu_seconds. */
    let checkCpuUs = cpuMicros(process.cpuUsage(cpuStart));
    const owner = ledger.keyOfPresignature(cmd.presignatureId);
    if (owner !== undefined && owner !== cmd.keyId) {
      throw new MpcError('ERR_DAEMON_PRESIGNATURE_OTHER_KEY', 'the presignature belongs to another key');
    }
    // a presignature of an earlier key epoch (made before a refresh) never signs, burnt or not:
    // its nonce shares belong to shares this party no longer holds (issue #16)
    const keyEpoch = ledger.getKey(cmd.keyId)?.epoch ?? 0;
    const presignatureEpoch = ledger.presignatureKeyEpoch(cmd.presignatureId);
    if (presignatureEpoch !== undefined && presignatureEpoch !== keyEpoch) {
      throw new MpcError(
        'ERR_PRESIGNATURE_EPOCH',
        `the presignature was made under key epoch ${presignatureEpoch}, the key is on epoch ${keyEpoch} (refreshed): refusing to sign with it`,
        { details: { presignature: cmd.presignatureId, presignatureEpoch, keyEpoch } },
      );
    }
    const payload = await ledger.loadPresignature(cmd.presignatureId);
    if (payload === undefined) {
      // burnt: stored by an earlier run of this party (restart, restored snapshot), never usable
      const burnt = ledger.isBurnt(cmd.presignatureId);
      throw new MpcError(
        burnt
          ? 'ERR_PRESIGNATURE_BURNT'
          : ledger.isConsumed(cmd.presignatureId)
            ? 'ERR_PRESIGNATURE_USED'
            : 'ERR_DAEMON_PRESIGNATURE_UNKNOWN',
        burnt ? 'presignature was burnt at a restart of this party' : 'presignature is not available at this party',
      );
    }
    try {
      const stored = splitStoredPresignature(payload);
      evidence = stored.evidence;
      try {
        presig = decodePresignature(stored.presignature);
      } finally {
        stored.presignature.fill(0);
      }
    } catch (e) {
      evidence?.fill(0);
      throw e;
    } finally {
      payload.fill(0);
    }
    try {
      if (
        presig.id !== cmd.presignatureId ||
        presig.signers.length !== cmd.members.length ||
        presig.signers.some((s, j) => s !== cmd.members[j])
      ) {
        throw new MpcError('ERR_DAEMON_COMMAND_INVALID', 'signers differ from the presignature');
      }
      const meta = ledger.getKey(cmd.keyId);
      if (meta === undefined) throw new MpcError('ERR_DAEMON_KEY_UNKNOWN', 'no key for this key id');
      // a PSBT input fixes its path: the presignature must have been made for exactly that path
      if (target.path !== undefined && !samePath(target.path, presig.path)) {
        throw new MpcError('ERR_CHAIN_PATH_MISMATCH', 'the presignature is bound to another path than the input');
      }
      // the path the initiator signed for must be the presignature's (a PSBT input's path was checked above)
      if (permit?.path !== undefined && !samePath(permit.path, presig.path)) {
        throw new MpcError(
          'ERR_POLICY_REQUEST_INVALID',
          'the presignature is bound to another path than the signed request',
          {
            details: { rule: 'request-path' },
          },
        );
      }
      // The consume (fsynced) before the partial exists; only then does it leave. The velocity
      // re-check runs right before it, and the request's spend record is written in the consume's
      // transaction (velocity history). Signs that reach this point in the same loop turn share
      // one transaction (group commit); this one goes on only once that transaction is on disk.
      const signing = { epoch: meta.epoch ?? 0 };
      assertSignable(presig, target.digest, signing);
      const consume = consumer(ledger, this.#guard, permit, target.digest, (ms, cpuUs) => {
        checkMs += ms;
        checkCpuUs += cpuUs;
      });
      const id = presig.id;
      await this.#consumes.run(() => consume.consume(id));
      partial = issuePartialSignature(presig, target.digest, consumedOnce(id), signing);
      // kept until the coordinator's verdict (or expiry): §7.3 attributes an invalid signature
      if (evidence !== undefined) {
        const { id, R, publicKey, signers, path } = presig;
        this.#keepEvidence(sessionToken(sid), evidence, cmd, {
          presignature: { id, R, publicKey, signers, path },
          digest: Uint8Array.from(target.digest),
          partial,
        });
      }
    } catch (e) {
      evidence?.fill(0); // not kept: this party's secret bytes are zeroed
      throw e;
    }
    const published = this.#o.testPartial?.(partial) ?? partial;
    await this.#publishControl(sid, 'partial', encodePartialSignature(published));
    this.#o.metrics?.partialIssued((performance.now() - t0) / 1000);
    if (permit !== undefined) this.#o.metrics?.policyChecked?.(checkMs / 1000, checkCpuUs / 1e6);
    this.#o.metrics?.setPresignaturesAvailable(cmd.keyId, ledger.countAvailable(cmd.keyId));
  }

  /** policy / registry: verify the admin quorum and the order, store, answer with the held version. */
  async #acceptDocument(sid: Uint8Array, cmd: StartCommand): Promise<void> {
    const kind = cmd.op === 'policy' ? 'policy' : 'registry';
    const held = await this.#guard.accept(kind, cmd.document ?? new Uint8Array(0));
    this.#o.metrics?.setPolicyVersion?.(kind, held.version);
    this.#log.info({ document: kind, version: held.version, hash: held.hash }, 'admin-signed document held');
    await this.#publishControl(
      sid,
      'result',
      encodeSessionResult({ ok: true, code: '', message: '', blame: [], summary: encodeHeld(held) }),
    );
  }

  /** A one-off signed control frame for a session this party has not joined (sign). */
  async #publishControl(sid: Uint8Array, round: 'partial' | 'result', payload: Uint8Array): Promise<void> {
    const bytes = sealControlFrame(this.#signer, { sid, from: this.self, round, seq: 1, payload });
    await this.#o.transport.bus().publish(controlSubject(sessionToken(sid), this.self), bytes);
  }
}

/**
 * The ledger as the signing step sees it: the consume carries the digest signed (its audit record
 * names it) and the request's spend, when there is one; the guard's synchronous re-check runs
 * right before it (PolicyGuard.commit).
 */
function consumer(
  ledger: PartyLedger,
  guard: PolicyGuard,
  permit: SignPermit | undefined,
  digest: Uint8Array,
  onChecked: (ms: number, cpuUs: number) => void,
): { consume(id: string): void } {
  const hex = Buffer.from(digest).toString('hex');
  return {
    consume: (id) => {
      const start = performance.now();
      const cpuStart = process.cpuUsage();
      guard.commit(permit, (spend) => {
        onChecked(performance.now() - start, cpuMicros(process.cpuUsage(cpuStart)));
        return ledger.consume(id, hex, spend);
      });
    },
  };
}

const cpuMicros = (u: NodeJS.CpuUsage): number => u.user + u.system;

/** A held document's version (u32 hi, u32 lo) and hash, as a policy / registry result summary. */
export function encodeHeld(h: { version: number; hash: string }): Uint8Array {
  const out = new Uint8Array(40);
  const v = new DataView(out.buffer);
  v.setUint32(0, Math.floor(h.version / 2 ** 32));
  v.setUint32(4, h.version % 2 ** 32);
  out.set(Buffer.from(h.hash, 'hex'), 8);
  return out;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, k) => x === b[k]);
}

function samePath(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, k) => x === b[k]);
}

function asMpc(e: unknown): MpcError {
  return e instanceof MpcError ? e : new MpcError('ERR_DAEMON_SESSION_FAILED', 'session failed unexpectedly');
}

/** A failure report: execution-index blame mapped to roster ids. */
function failure(err: MpcError, members: readonly number[]): SessionResult {
  return {
    ok: false,
    code: err.code,
    message: err.message,
    // verified: the verdict rests on the blamed party's own signed messages (the runner lists their ids)
    blame: err.blame.map((b) => ({
      party: members[b.party] ?? b.party,
      reason: b.reason,
      verified: b.msgIds.length > 0,
    })),
    summary: new Uint8Array(0),
    reason: needsDeltaIdentification(err)
      ? 'delta-mismatch'
      : typeof err.details.reason === 'string'
        ? err.details.reason
        : '',
  };
}
