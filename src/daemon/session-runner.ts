import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { MpcError } from '../errors/index.js';
import { protocolAbort } from '../protocol/blame.js';
import { type Authenticator, decodeEnvelope, type Envelope, encodeEnvelope } from '../protocol/envelope.js';
import { MAX_BODY_BYTES, PartyRunner } from '../protocol/runner.js';
import { ALL, type ProtocolDef, type RoundCtx } from '../protocol/types.js';
import type { Delivered, FrameRejected } from '../transport/frame.js';
import type { Channel, Transport, TransportHandler, TransportSession } from '../transport/types.js';
import { DEFAULT_INBOX_LIMITS, InboxBudget, type InboxLimits, type InboxPeaks } from './session-inbox.js';

/**
 * One protocol session for one party over a Transport (the core of the party daemon, issue #5).
 *
 * Mapping onto the transport: every protocol Envelope travels as the payload of one frame, encoded
 * with `encodeEnvelope`, on frame round = envelope round and frame recipient = envelope recipient
 * (broadcast frames are signed, P2P frames signed and encrypted by the transport). The envelope
 * keeps its own Ed25519 signature, which is what the runner verifies and what blame rests on.
 *
 * Joining and running are split: `joinSession` subscribes and buffers everything that arrives from
 * then on, so a caller can join, wait until every party has joined (the daemon's start/ready
 * exchange, not part of this module), and only then `runSession`. A message published before a
 * peer joined is lost, and becomes timeout blame like any dropped message (SECURITY.md A23).
 */

/** What a joined session hands its frames to; a returned promise keeps the frame pending until it settles. */
export interface InboxTarget {
  onFrame(frame: Delivered, channel: Channel): Promise<unknown> | undefined;
  onReject?(err: FrameRejected, channel: Channel | undefined, subjectSender?: number): void;
}

export interface JoinOptions {
  /** Roster ids allowed to send in this session; frames from other roster parties are refused unread. */
  readonly members?: readonly number[];
  /** Bounds of pending inbound frames (default DEFAULT_INBOX_LIMITS). */
  readonly limits?: InboxLimits;
  /** Largest pending amounts seen, updated in place (may be shared by many sessions). */
  readonly peaks?: InboxPeaks;
  /** Frames refused by the inbox bounds or membership (never with frame content). */
  readonly onRefused?: (err: MpcError, from: number | undefined) => void;
}

/** Refusals of the inbox itself: counted when they happen, never buffered. */
const INBOX_CODES: ReadonlySet<string> = new Set([
  'ERR_DAEMON_NOT_MEMBER',
  'ERR_DAEMON_INBOX_SENDER_FULL',
  'ERR_DAEMON_INBOX_SESSION_FULL',
]);
/** Transport refusals kept before `go` (the first ones carry any blame; the rest are only counted). */
const MAX_BUFFERED_REJECTS = 64;

/**
 * A joined transport session whose inbound frames are buffered until `runSession` consumes them.
 * Every frame is pending in the session's InboxBudget from arrival until the runner is done with it.
 */
export class JoinedSession implements TransportHandler {
  #session: TransportSession | undefined;
  #target: InboxTarget | undefined;
  #buffer: Array<
    | { kind: 'frame'; frame: Delivered; channel: Channel }
    | { kind: 'reject'; err: FrameRejected; channel: Channel | undefined; subjectSender: number | undefined }
  > = [];
  #bufferedRejects = 0;
  #used = false;
  #left = false;
  readonly #budget: InboxBudget;
  readonly #onRefused: JoinOptions['onRefused'];

  constructor(o: JoinOptions = {}) {
    this.#budget = new InboxBudget(o.limits ?? DEFAULT_INBOX_LIMITS, o.members, o.peaks);
    this.#onRefused = o.onRefused;
  }

  /** @internal use `joinSession` */
  bind(session: TransportSession): void {
    this.#session = session;
  }

  get session(): TransportSession {
    if (this.#session === undefined) throw new MpcError('ERR_DAEMON_SESSION_REUSED', 'session is not joined');
    return this.#session;
  }

  get sid(): Uint8Array {
    return this.session.sid;
  }

  /** Frames and payload bytes pending now (buffered or queued for the runner). */
  get pending(): { frames: number; bytes: number } {
    return this.#budget.pending;
  }

  admit(from: number, bytes: number): MpcError | undefined {
    return this.#left ? undefined : this.#budget.refusal(from, bytes);
  }

  onFrame(frame: Delivered, channel: Channel): void {
    if (this.#left) return;
    const size = frame.payload.length;
    const no = this.#budget.take(frame.from, size);
    if (no !== undefined) {
      this.#refused(no, frame.from);
      return;
    }
    if (this.#target) this.#deliver(this.#target, frame, channel);
    else this.#buffer.push({ kind: 'frame', frame, channel });
  }

  onReject(err: FrameRejected, channel: Channel | undefined, subjectSender?: number): void {
    if (this.#left) return;
    if (INBOX_CODES.has(err.code)) {
      this.#refused(err, err.sender);
      return;
    }
    if (this.#target) this.#target.onReject?.(err, channel, subjectSender);
    else if (this.#bufferedRejects < MAX_BUFFERED_REJECTS) {
      this.#bufferedRejects++;
      this.#buffer.push({ kind: 'reject', err, channel, subjectSender });
    } else this.#refused(err, err.sender);
  }

  #refused(err: MpcError, from: number | undefined): void {
    try {
      this.#onRefused?.(err, from);
    } catch {
      // an observer's failure is not the session's
    }
  }

  /** Hands one frame on; it stays pending until the target is done with it. */
  #deliver(target: InboxTarget, frame: Delivered, channel: Channel): void {
    const size = frame.payload.length;
    let released = false;
    const release = () => {
      if (released || this.#left) return;
      released = true;
      this.#budget.release(frame.from, size);
    };
    let r: Promise<unknown> | undefined;
    try {
      r = target.onFrame(frame, channel);
    } catch (e) {
      release();
      throw e;
    }
    if (r instanceof Promise) r.then(release, release);
    else release();
  }

  /** @internal Hands the buffered and all later inbound frames to `target` (once per session). */
  attach(target: InboxTarget): void {
    if (this.#used || this.#left) throw new MpcError('ERR_DAEMON_SESSION_REUSED', 'session was already run or left');
    this.#used = true;
    this.#target = target;
    const buffered = this.#buffer;
    this.#buffer = [];
    for (const b of buffered) {
      if (b.kind === 'frame') this.#deliver(target, b.frame, b.channel);
      else target.onReject?.(b.err, b.channel, b.subjectSender);
    }
  }

  /** Unsubscribes (idempotent); nothing is delivered afterwards. */
  async leave(): Promise<void> {
    if (this.#left) return;
    this.#left = true;
    this.#target = undefined;
    this.#buffer = [];
    this.#budget.clear();
    await this.#session?.leave();
  }
}

/** Joins `sid` on `transport`; subscriptions are active (and buffering) when this resolves. */
export async function joinSession(transport: Transport, sid: Uint8Array, o: JoinOptions = {}): Promise<JoinedSession> {
  const joined = new JoinedSession(o);
  joined.bind(await transport.join(sid, joined));
  return joined;
}

/** Counters a caller may pass in to observe a session (mutated in place). */
export interface SessionStats {
  /** Envelopes handed to the runner and accepted. */
  delivered: number;
  /** Envelopes sent. */
  sent: number;
  /** Inbound messages refused without aborting (transport-level or runner-level). */
  refused: number;
  /** Timeout deadlines armed (one per round reached). */
  rounds: number;
}

/**
 * What runSession drives: PartyRunner itself (synchronous, on this thread) or a RemoteRunner whose
 * rounds run on a worker thread. Fields reflect the state after the last start/receive.
 */
export interface SessionRunnerLike<O> {
  start(input: unknown): Envelope[] | Promise<Envelope[]>;
  /** Throws (or rejects) for a refused message; the session goes on. */
  receive(env: Envelope): Envelope[] | Promise<Envelope[]>;
  readonly status: 'idle' | 'running' | 'done' | 'aborted';
  readonly round: string | undefined;
  missing(): number[];
  readonly output: O | undefined;
  readonly error: MpcError | undefined;
  /** After an abort with evidence: the signed abort notice to broadcast (PartyRunner.abortNotice). */
  abortNotice?(): Envelope | undefined;
}

export interface RunSessionOptions {
  /** The joined session (from `joinSession`); runSession consumes it and leaves it at the end. */
  readonly session: JoinedSession;
  /** The party's round context; `ctx.sid` must equal the transport session's sid. */
  readonly ctx: RoundCtx;
  /** Signs this party's envelopes and verifies its peers' (Ed25519 roster). */
  readonly auth: Authenticator;
  /** How long the runner may wait for the messages of one round before the session aborts. */
  readonly roundTimeoutMs: number;
  /** Clock (ms); defaults to Date.now. Deadlines are measured with it. */
  readonly now?: () => number;
  readonly stats?: SessionStats;
  /** Called for each refused inbound message (never with secret content). */
  readonly onRefused?: (err: MpcError, from: number | undefined) => void;
  /**
   * Transport (roster) id of each execution party, by execution index: presigning runs among t of
   * the n parties, so execution index j is roster party `members[j]`. Defaults to the identity
   * (execution index = roster id). Frames from roster parties outside `members` are refused.
   */
  readonly members?: readonly number[];
  /**
   * Keep the subscriptions (and the session's frame codec) after the run, so the caller can still
   * send control frames (the daemon's result report) under the same sequence numbers; the caller
   * then leaves. Inbound frames after the run are ignored.
   */
  readonly keepJoined?: boolean;
  /**
   * Abort naming the sender on a signed transport fault or a corrupted frame on the sender's own
   * subject (default false: counted as refused). The daemon turns it on over NATS.
   */
  readonly blameTransportFaults?: boolean;
  /**
   * After the protocol finished, keep listening this long for a peer's abort notice (a fault in a
   * final-round P2P message only that peer saw) before reporting success; a confirmed notice turns
   * the success into the same abort every honest party reaches. Default 0 (no wait).
   */
  readonly noticeGraceMs?: number;
  /**
   * When the protocol aborts without naming anyone (e.g. keygen: a peer complained about a P2P
   * share only it saw), wait this long for the complainer's abort notice, whose re-checked evidence
   * names the culprit (or the complainer). Default 0: fail at once, without blame.
   */
  readonly evidenceWaitMs?: number;
  /** The runner to drive (default: a PartyRunner for `def` on this thread). */
  readonly runner?: SessionRunnerLike<unknown>;
}

/**
 * Runs `def` for this party to completion over the joined session: starts the PartyRunner, sends
 * what it produces, feeds it inbound envelopes, and enforces a per-round deadline. When the runner
 * is still waiting in round R after `roundTimeoutMs` (measured from when it entered R; the echo
 * phase of a reliable round shares R's deadline), the session aborts with ERR_PROTOCOL_ABORT blaming
 * every party whose round-R message is missing (reason starting with 'timeout').
 *
 * Messages the runner refuses (another session, bad signature, wrong recipient) and frames the
 * transport refuses are counted in `stats.refused` and reported to `onRefused`; they never abort.
 *
 * Resolves with the protocol output once every outgoing message was handed to the transport;
 * rejects with the runner's typed abort, the timeout abort, or a transport error. Timers are
 * cleared and the session left either way.
 *
 * @throws MpcError ERR_PROTOCOL_INPUT (bad roundTimeoutMs or sid mismatch), ERR_DAEMON_SESSION_REUSED
 * @example const out = await runSession(keygen, { t: 2 }, { session: await joinSession(t, sid), ctx, auth, roundTimeoutMs: 30_000 });
 */
export async function runSession<I, S, O>(def: ProtocolDef<I, S, O>, input: I, opts: RunSessionOptions): Promise<O> {
  const { session: joined, ctx, auth, roundTimeoutMs } = opts;
  const now = opts.now ?? Date.now;
  const stats = opts.stats;
  if (!Number.isFinite(roundTimeoutMs) || roundTimeoutMs <= 0) {
    await joined.leave();
    throw new MpcError('ERR_PROTOCOL_INPUT', 'roundTimeoutMs must be a positive number');
  }
  if (!sameBytes(joined.sid, ctx.sid)) {
    await joined.leave();
    throw new MpcError('ERR_PROTOCOL_INPUT', 'ctx.sid differs from the transport session id');
  }
  const transport = joined.session;
  const members = opts.members;
  if (
    members !== undefined &&
    (members.length !== ctx.n ||
      new Set(members).size !== members.length ||
      !members.every((m) => Number.isInteger(m) && m >= 0))
  ) {
    await joined.leave();
    throw new MpcError('ERR_PROTOCOL_INPUT', 'members must list ctx.n distinct roster ids');
  }
  /** execution index → roster id (ALL stays ALL) */
  const toRoster = (x: number): number => (x === ALL || members === undefined ? x : (members[x] as number));
  /** roster id → execution index, −1 for a party outside this execution */
  const toExec = (x: number): number => (x === ALL || members === undefined ? x : members.indexOf(x));
  const runner: SessionRunnerLike<O> =
    (opts.runner as SessionRunnerLike<O> | undefined) ?? new PartyRunner(def, ctx, auth);
  /** Inbound envelopes are processed one at a time, in arrival order (the runner may be async). */
  let inbound: Promise<void> = Promise.resolve();

  let settled = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let roundName: string | undefined;
  let roundStart = 0;
  let sendChain: Promise<void> = Promise.resolve();
  let resolveFn!: (o: O) => void;
  let rejectFn!: (e: unknown) => void;
  const done = new Promise<O>((res, rej) => {
    resolveFn = res;
    rejectFn = rej;
  });

  const clearTimer = () => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
  };

  const fail = (e: unknown) => {
    if (settled) return;
    settled = true;
    clearTimer();
    rejectFn(e);
  };

  const refuse = (err: MpcError, from: number | undefined) => {
    if (stats) stats.refused++;
    try {
      opts.onRefused?.(err, from);
    } catch {
      // an observer's failure is not the session's
    }
  };

  const send = (envs: readonly Envelope[]) => {
    for (const env of envs) {
      const payload = encodeEnvelope(env);
      sendChain = sendChain.then(async () => {
        if (settled) return;
        await transport.send(toRoster(env.to), env.round, payload);
        if (stats) stats.sent++;
      });
    }
    sendChain = sendChain.catch((e) => fail(e));
  };

  const onTimer = () => {
    timer = undefined;
    if (settled || runner.status !== 'running') return;
    const left = roundStart + roundTimeoutMs - now();
    if (left > 0) {
      timer = setTimeout(onTimer, left);
      return;
    }
    const round = runner.round ?? 'end';
    const blame = runner.missing().map((party) => ({
      party, // execution index, like the runner's own blame (the daemon maps both to roster ids)
      msgIds: [],
      reason: `timeout: no ${round} message within ${roundTimeoutMs} ms`,
    }));
    fail(protocolAbort(def.name, round, blame, `timeout in ${round}`));
  };

  /** After every runner step: finish, or re-arm the deadline when the round changed. */
  let noticeSent = false;
  let graceTimer: ReturnType<typeof setTimeout> | undefined;
  let evidenceTimer: ReturnType<typeof setTimeout> | undefined;
  /** Broadcasts this party's abort notice once (not through `send`: the session is settled by then). */
  const sendNotice = () => {
    if (noticeSent) return;
    noticeSent = true;
    const notice = runner.abortNotice?.();
    if (notice === undefined) return;
    const payload = encodeEnvelope(notice);
    sendChain = sendChain
      .then(() => transport.send(ALL, notice.round, payload))
      .then(() => {
        if (stats) stats.sent++;
      })
      .catch(() => undefined); // best effort: the peers' deadlines name us otherwise
  };

  /** After every runner step: finish, or re-arm the deadline when the round changed. */
  const check = () => {
    if (settled) return;
    if (runner.status === 'aborted') {
      if (graceTimer !== undefined) clearTimeout(graceTimer);
      sendNotice();
      const unblamed = (runner.error?.blame.length ?? 0) === 0;
      if (unblamed && evidenceTimer === undefined && (opts.evidenceWaitMs ?? 0) > 0) {
        clearTimer();
        const first = runner.error;
        evidenceTimer = setTimeout(
          () => fail(runner.error ?? first ?? new MpcError('ERR_PROTOCOL_ABORT', `${def.name} aborted`)),
          opts.evidenceWaitMs,
        );
        return;
      }
      if (unblamed && evidenceTimer !== undefined) return; // still waiting for the evidence
      fail(runner.error ?? new MpcError('ERR_PROTOCOL_ABORT', `${def.name} aborted`));
      return;
    }
    if (runner.status === 'done') {
      clearTimer();
      if (graceTimer !== undefined) return; // already waiting out the notice grace period
      const output = runner.output as O;
      const finish = () => {
        // every message (including a last outbox) must be handed to the transport before we report success
        void sendChain.then(() => {
          if (settled || runner.status !== 'done') return;
          settled = true;
          resolveFn(output);
        });
      };
      const grace = opts.noticeGraceMs ?? 0;
      if (grace > 0) graceTimer = setTimeout(finish, grace);
      else finish();
      return;
    }
    if (runner.round !== roundName || timer === undefined) {
      if (runner.round !== roundName) {
        roundName = runner.round;
        roundStart = now();
        if (stats) stats.rounds++;
      }
      clearTimer();
      timer = setTimeout(onTimer, Math.max(0, roundStart + roundTimeoutMs - now()));
    }
  };

  /** Digests of the envelopes each sender got accepted: the same envelope in a second frame is a fault. */
  const accepted = new Map<number, Set<string>>();

  /** Returns the frame's place in the inbound queue: the frame stays pending (InboxBudget) until it settles. */
  const onFrame = (frame: Delivered, channel: Channel): Promise<void> | undefined => {
    if (settled || channel === 'control') return undefined; // control frames belong to the daemon's coordinator layer
    let env: Envelope;
    try {
      env = decodeEnvelope(frame.payload, MAX_BODY_BYTES);
    } catch (e) {
      refuse(asMpc(e, 'frame payload is not an envelope'), frame.from);
      return undefined;
    }
    if (toExec(frame.from) < 0) {
      refuse(new MpcError('ERR_MSG_UNEXPECTED', 'frame from a party outside this execution'), frame.from);
      return undefined;
    }
    if (toRoster(env.from) !== frame.from || toRoster(env.to) !== frame.to || env.round !== frame.round) {
      refuse(new MpcError('ERR_MSG_UNEXPECTED', 'envelope routing differs from its frame'), frame.from);
      return undefined;
    }
    const digest = bytesToHex(sha256(frame.payload));
    inbound = inbound
      .then(async () => {
        if (settled) return;
        const seen = accepted.get(frame.from) ?? new Set<string>();
        accepted.set(frame.from, seen);
        if (seen.has(digest)) {
          // The codec drops a replayed frame (same sequence number); the same envelope signed into a
          // new frame is the sender's own doing, and each copy costs every recipient a verification.
          if (stats) stats.refused++;
          fail(
            protocolAbort(
              def.name,
              runner.round ?? 'start',
              [
                {
                  party: toExec(frame.from),
                  msgIds: [frame.id],
                  reason: 're-sent envelope under a new sequence number',
                },
              ],
              `party ${frame.from} re-sent an envelope`,
            ),
          );
          return;
        }
        let out: Envelope[];
        try {
          out = await runner.receive(env);
        } catch (e) {
          if (e instanceof MpcError && e.code === 'ERR_DAEMON_SESSION_FAILED') throw e; // the runner itself is gone
          refuse(asMpc(e, 'message refused'), frame.from);
          return;
        }
        seen.add(digest);
        if (stats) stats.delivered++;
        send(out);
        check();
      })
      .catch((e) => fail(e));
    return inbound;
  };

  /**
   * A frame the transport refused. Signed faults (bad ciphertext, equivocation) and corrupted,
   * truncated or re-signed frames on a sender's own subject end the session naming that sender
   * (with NATS publish permissions nobody else can publish there; the message it owed is lost
   * anyway, so waiting would only turn the same verdict into a timeout). Frames from other
   * sessions, replays and stale frames are only refused: they are not this session's fault.
   */
  const onReject = (err: FrameRejected, subjectSender: number | undefined) => {
    const culprit = err.attributable ? err.sender : BLAMED_ON_SUBJECT.has(err.code) ? subjectSender : undefined;
    const exec = culprit === undefined ? -1 : toExec(culprit);
    if (!opts.blameTransportFaults || exec < 0 || exec === ctx.self) {
      refuse(err, err.sender);
      return;
    }
    if (stats) stats.refused++;
    const round = runner.round ?? 'start';
    fail(
      protocolAbort(
        def.name,
        round,
        [{ party: exec, msgIds: [], reason: `transport fault: ${err.code} (${err.message})` }],
        `transport fault from party ${culprit}`,
      ),
    );
  };

  try {
    // start before attaching: the runner ignores messages while idle, and buffered ones must count
    send(await runner.start(input));
    joined.attach({
      onFrame: (frame, channel) => {
        try {
          return onFrame(frame, channel);
        } catch (e) {
          fail(e);
          return undefined;
        }
      },
      onReject: (err, _channel, subjectSender) => onReject(err, subjectSender),
    });
    check();
    return await done;
  } catch (e) {
    fail(e);
    throw e;
  } finally {
    settled = true;
    clearTimer();
    if (graceTimer !== undefined) clearTimeout(graceTimer);
    if (evidenceTimer !== undefined) clearTimeout(evidenceTimer);
    await sendChain.catch(() => undefined);
    if (!opts.keepJoined) await joined.leave().catch(() => undefined);
  }
}

const BLAMED_ON_SUBJECT: ReadonlySet<string> = new Set([
  'ERR_TRANSPORT_FRAME_MALFORMED',
  'ERR_TRANSPORT_FRAME_TOO_LARGE',
  'ERR_TRANSPORT_SIGNATURE',
  'ERR_TRANSPORT_MISROUTED',
  'ERR_TRANSPORT_FAULT',
]);

function asMpc(e: unknown, message: string): MpcError {
  return e instanceof MpcError ? e : new MpcError('ERR_MSG_UNEXPECTED', message, { cause: e });
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
