import { MpcError } from '../errors/index.js';

/**
 * Memory bounds of one session's inbound frames (issue 17 item 3): a frame counts from the moment
 * it is accepted (buffered before `go`, or queued for the runner after it) until the runner is done
 * with it. A compromised roster party can sign as many frames as it likes; these bounds make what it
 * can park in another party's memory a constant, whatever it sends:
 *
 * - frames from roster parties outside the session's members are refused before anything else
 *   (before decoding and signature verification: the subject names the sender, and NATS
 *   permissions let only that party's credential publish there);
 * - per sender and per session, the number of pending frames and their payload bytes are capped;
 *   a frame beyond a cap is refused (typed code, counted in metrics) before its signature is checked.
 *
 * An honest peer never comes near the caps: it sends one message per round and recipient (plus echo
 * and evidence messages), and the runner consumes them as they arrive. A message an honest peer owed
 * and that was refused because the sender flooded is that sender's loss: its deadline names it.
 */
export interface InboxLimits {
  /** Pending frames one sender may have in this party's memory for one session. */
  readonly maxFramesPerSender: number;
  /** Pending payload bytes of one sender for one session (≥ one largest frame). */
  readonly maxBytesPerSender: number;
  /** Pending frames of one session, all senders together. */
  readonly maxFramesPerSession: number;
  /** Pending payload bytes of one session, all senders together. */
  readonly maxBytesPerSession: number;
}

/** Four largest frames per sender, sixteen per session: far above what a protocol round needs. */
export const DEFAULT_INBOX_LIMITS: InboxLimits = Object.freeze({
  maxFramesPerSender: 64,
  maxBytesPerSender: 16 << 20,
  maxFramesPerSession: 256,
  maxBytesPerSession: 64 << 20,
});

/** The largest pending amounts seen (across sessions when shared); tests and metrics read them. */
export interface InboxPeaks {
  senderFrames: number;
  senderBytes: number;
  sessionFrames: number;
  sessionBytes: number;
}

export function newInboxPeaks(): InboxPeaks {
  return { senderFrames: 0, senderBytes: 0, sessionFrames: 0, sessionBytes: 0 };
}

export function assertInboxLimits(l: InboxLimits): void {
  const ok = (x: number) => Number.isSafeInteger(x) && x >= 1;
  if (
    !ok(l.maxFramesPerSender) ||
    !ok(l.maxBytesPerSender) ||
    !ok(l.maxFramesPerSession) ||
    !ok(l.maxBytesPerSession) ||
    l.maxFramesPerSender > l.maxFramesPerSession ||
    l.maxBytesPerSender > l.maxBytesPerSession
  ) {
    throw new MpcError('ERR_CONFIG_INVALID', 'inbox limits must be positive integers, per sender ≤ per session');
  }
}

/** Pending frame accounting of one session. */
export class InboxBudget {
  readonly #limits: InboxLimits;
  readonly #members: ReadonlySet<number> | undefined;
  readonly #peaks: InboxPeaks | undefined;
  readonly #frames = new Map<number, number>();
  readonly #bytes = new Map<number, number>();
  #sessionFrames = 0;
  #sessionBytes = 0;

  /** `members`: roster ids allowed to send in this session (undefined: every roster party). */
  constructor(limits: InboxLimits, members?: readonly number[], peaks?: InboxPeaks) {
    assertInboxLimits(limits);
    this.#limits = limits;
    this.#members = members === undefined ? undefined : new Set(members);
    this.#peaks = peaks;
  }

  /** Why a frame of `bytes` from `from` may not be taken now (undefined: it may). Cheap, no side effect. */
  refusal(from: number, bytes: number): MpcError | undefined {
    if (this.#members !== undefined && !this.#members.has(from)) {
      return new MpcError('ERR_DAEMON_NOT_MEMBER', 'frame from a roster party outside this session', {
        details: { sender: from },
      });
    }
    const l = this.#limits;
    if (
      (this.#frames.get(from) ?? 0) + 1 > l.maxFramesPerSender ||
      (this.#bytes.get(from) ?? 0) + bytes > l.maxBytesPerSender
    ) {
      return new MpcError('ERR_DAEMON_INBOX_SENDER_FULL', 'sender has too many frames pending in this session', {
        details: { sender: from },
      });
    }
    if (this.#sessionFrames + 1 > l.maxFramesPerSession || this.#sessionBytes + bytes > l.maxBytesPerSession) {
      return new MpcError('ERR_DAEMON_INBOX_SESSION_FULL', 'session has too many frames pending', {
        details: { sender: from },
      });
    }
    return undefined;
  }

  /** Counts a frame as pending, or returns why it must be refused (then nothing is counted). */
  take(from: number, bytes: number): MpcError | undefined {
    const no = this.refusal(from, bytes);
    if (no !== undefined) return no;
    const f = (this.#frames.get(from) ?? 0) + 1;
    const b = (this.#bytes.get(from) ?? 0) + bytes;
    this.#frames.set(from, f);
    this.#bytes.set(from, b);
    this.#sessionFrames++;
    this.#sessionBytes += bytes;
    const p = this.#peaks;
    if (p !== undefined) {
      p.senderFrames = Math.max(p.senderFrames, f);
      p.senderBytes = Math.max(p.senderBytes, b);
      p.sessionFrames = Math.max(p.sessionFrames, this.#sessionFrames);
      p.sessionBytes = Math.max(p.sessionBytes, this.#sessionBytes);
    }
    return undefined;
  }

  /** The runner is done with a frame taken before. */
  release(from: number, bytes: number): void {
    const f = this.#frames.get(from) ?? 0;
    if (f <= 0) return;
    this.#frames.set(from, f - 1);
    this.#bytes.set(from, Math.max(0, (this.#bytes.get(from) ?? 0) - bytes));
    this.#sessionFrames = Math.max(0, this.#sessionFrames - 1);
    this.#sessionBytes = Math.max(0, this.#sessionBytes - bytes);
  }

  /** Everything pending is dropped (the session was left). */
  clear(): void {
    this.#frames.clear();
    this.#bytes.clear();
    this.#sessionFrames = 0;
    this.#sessionBytes = 0;
  }

  get pending(): { frames: number; bytes: number } {
    return { frames: this.#sessionFrames, bytes: this.#sessionBytes };
  }
}
