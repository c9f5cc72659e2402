import { MpcError } from '../errors/index.js';
import { ALL } from '../protocol/types.js';
import { FrameCodec, type FrameCodecOptions, FrameRejected } from './frame.js';
import { broadcastSubject, COORDINATOR, controlSubject, p2pSubject, parseSubject, sessionToken } from './subjects.js';
import type { Channel, TransportHandler, TransportSession } from './types.js';

/** Control frames use this round prefix (the codec treats them as signed broadcast frames). */
export const CONTROL_ROUND_PREFIX = 'ctl.';

/**
 * P2P frames that arrive before the session keys were accepted are held, at most this many per
 * sender: a peer that received `go` first may already send its first round while our `go` is still
 * on its way. An honest peer cannot get further ahead than one round before it needs our messages,
 * so a few frames per sender are plenty; more are refused.
 */
const MAX_EARLY_P2P_PER_SENDER = 4;

/**
 * Transport-independent session logic shared by the NATS and in-memory transports: builds the
 * subject of each outgoing frame and turns inbound (subject, bytes) into handler calls. Never throws
 * for inbound data.
 */
export class CodecSession implements TransportSession {
  readonly sid: Uint8Array;
  readonly session: string;
  readonly #codec: FrameCodec;
  readonly #handler: TransportHandler;
  readonly #publish: (subject: string, bytes: Uint8Array) => Promise<void>;
  readonly #onLeave: () => Promise<void>;
  /** P2P frames received before `acceptSessionKeys`, by sender, in arrival order. */
  #early = new Map<number, Array<{ subject: string; bytes: Uint8Array }>>();
  #left = false;

  constructor(
    codec: FrameCodecOptions,
    handler: TransportHandler,
    publish: (subject: string, bytes: Uint8Array) => Promise<void>,
    onLeave: () => Promise<void>,
  ) {
    this.#codec = new FrameCodec(codec);
    this.sid = this.#codec.sid;
    this.session = sessionToken(this.sid);
    this.#handler = handler;
    this.#publish = publish;
    this.#onLeave = onLeave;
  }

  get self(): number {
    return this.#codec.self;
  }

  get sessionKey(): Uint8Array {
    return this.#codec.sessionKey;
  }

  acceptSessionKeys(keys: ReadonlyMap<number, Uint8Array>, peers: readonly number[]): void {
    if (this.#left) throw new MpcError('ERR_TRANSPORT_CLOSED', 'session was left');
    this.#codec.acceptSessionKeys(keys, peers);
    const early = [...this.#early.values()].flat();
    this.#early = new Map();
    for (const e of early) this.inbound(e.subject, e.bytes);
  }

  async send(to: number, round: string, payload: Uint8Array): Promise<void> {
    if (this.#left) throw new MpcError('ERR_TRANSPORT_CLOSED', 'session was left');
    if (round.startsWith(CONTROL_ROUND_PREFIX)) throw new MpcError('ERR_TRANSPORT_ARGS', 'reserved round prefix');
    const bytes = this.#codec.seal(to, round, payload);
    const subject = to === ALL ? broadcastSubject(this.session, this.self) : p2pSubject(this.session, to, this.self);
    await this.#publish(subject, bytes);
  }

  async sendControl(round: string, payload: Uint8Array): Promise<void> {
    if (this.#left) throw new MpcError('ERR_TRANSPORT_CLOSED', 'session was left');
    const bytes = this.#codec.seal(ALL, `${CONTROL_ROUND_PREFIX}${round}`, payload);
    await this.#publish(controlSubject(this.session, this.self), bytes);
  }

  /** Inbound path: subject routing checks, then the codec, then the handler. */
  inbound(subject: string, bytes: Uint8Array): void {
    if (this.#left) return;
    const s = parseSubject(subject);
    let channel: Channel | undefined;
    const subjectSender =
      s !== undefined && s.session === this.session && typeof s.from === 'number' ? s.from : undefined;
    try {
      if (s?.from === COORDINATOR) return; // coordinator commands: the daemon's control plane reads them (bus.ts)
      if (!s || s.session !== this.session) {
        throw new FrameRejected('ERR_TRANSPORT_MISROUTED', 'frame arrived on an unexpected subject', undefined, false);
      }
      channel = s.kind;
      if (s.from === this.self) return; // own broadcast / control echoed back by the server
      if (s.kind === 'p2p' && s.to !== this.self) {
        throw new FrameRejected('ERR_TRANSPORT_MISROUTED', 'frame arrived on another inbox', s.from, false);
      }
      const refusal = this.#admit(s.from, bytes.length);
      if (refusal !== undefined) throw new FrameRejected(refusal.code, refusal.message, s.from, false);
      if (s.kind === 'p2p' && !this.#codec.sessionKeysAccepted && (s.from as number) < this.#codec.n) {
        this.#holdEarly(s.from as number, subject, bytes);
        return;
      }
      const res = this.#codec.open(bytes, { kind: s.kind === 'p2p' ? 'p2p' : 'broadcast', from: s.from });
      if (res.status === 'duplicate') return;
      const isControl = res.frame.round.startsWith(CONTROL_ROUND_PREFIX);
      if (isControl !== (s.kind === 'control')) {
        throw new FrameRejected(
          'ERR_TRANSPORT_MISROUTED',
          'control frame on a data subject or vice versa',
          s.from,
          false,
        );
      }
      try {
        this.#handler.onFrame(res.frame, s.kind);
      } catch {
        // the handler's own failure is not the sender's fault; report it without the frame content
        this.#reject(
          new FrameRejected('ERR_TRANSPORT_FRAME_MALFORMED', 'frame handler threw', res.frame.from, false),
          channel,
          undefined, // our handler's failure: never the sender's
        );
      }
    } catch (e) {
      this.#reject(
        e instanceof FrameRejected
          ? e
          : new FrameRejected('ERR_TRANSPORT_FRAME_MALFORMED', 'frame could not be processed', undefined, false),
        channel,
        subjectSender,
      );
    }
  }

  #holdEarly(from: number, subject: string, bytes: Uint8Array): void {
    const held = this.#early.get(from) ?? [];
    if (held.length >= MAX_EARLY_P2P_PER_SENDER) {
      throw new FrameRejected(
        'ERR_TRANSPORT_SESSION_KEY_MISSING',
        'too many P2P frames before the session keys were set',
        from,
        false,
      );
    }
    held.push({ subject, bytes });
    this.#early.set(from, held);
  }

  /** The handler's early admission; its own failure admits the frame (the codec still checks it). */
  #admit(from: number, bytes: number): MpcError | undefined {
    try {
      return this.#handler.admit?.(from, bytes);
    } catch {
      return undefined;
    }
  }

  #reject(err: FrameRejected, channel: Channel | undefined, subjectSender?: number): void {
    try {
      this.#handler.onReject?.(err, channel, subjectSender);
    } catch {
      // never let a handler failure escape into the transport's read loop
    }
  }

  async leave(): Promise<void> {
    if (this.#left) return;
    this.#left = true;
    this.#early = new Map();
    this.#codec.dispose();
    await this.#onLeave();
  }
}
