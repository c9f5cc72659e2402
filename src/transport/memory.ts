import { MpcError } from '../errors/index.js';
import { type Bus, subjectMatches } from './bus.js';
import type { FrameLimits, PartyKeys, RosterEntry } from './frame.js';
import { CodecSession } from './session.js';
import { parseSubject } from './subjects.js';
import type { Transport, TransportHandler, TransportSession } from './types.js';

/**
 * In-process transport with the same frames, subjects and checks as NATS (the embedded default
 * and the tests' harness). Delivery is asynchronous (microtask) and in order per publisher.
 * `intercept` lets tests drop, duplicate, reorder or tamper with raw frames.
 */
export type Intercept = (subject: string, bytes: Uint8Array) => readonly Uint8Array[];

export class MemoryHub {
  readonly #subs = new Map<number, Set<CodecSession>>();
  readonly #raw = new Set<{ pattern: string; fn: (subject: string, bytes: Uint8Array) => void }>();
  intercept: Intercept | undefined;

  /** A raw publish/subscribe view of the hub (the control plane's Bus). */
  bus(): Bus {
    return {
      publish: async (subject, bytes) => this.publish(subject, bytes),
      subscribe: async (pattern, fn) => {
        const entry = { pattern, fn };
        this.#raw.add(entry);
        return () => {
          this.#raw.delete(entry);
        };
      },
    };
  }

  transport(
    self: number,
    keys: PartyKeys,
    roster: readonly RosterEntry[],
    opts: MemoryTransportOptions = {},
  ): MemoryTransport {
    return new MemoryTransport(this, self, keys, roster, opts);
  }

  /** @internal */
  register(self: number, s: CodecSession): void {
    let set = this.#subs.get(self);
    if (!set) {
      set = new Set();
      this.#subs.set(self, set);
    }
    set.add(s);
  }

  /** @internal */
  unregister(self: number, s: CodecSession): void {
    this.#subs.get(self)?.delete(s);
  }

  /** Routes like the NATS subscriptions: own inbox, every broadcast and control of the session. */
  publish(subject: string, bytes: Uint8Array): void {
    const copies = this.intercept ? this.intercept(subject, Uint8Array.from(bytes)) : [Uint8Array.from(bytes)];
    for (const r of this.#raw) {
      if (!subjectMatches(r.pattern, subject)) continue;
      for (const c of copies)
        queueMicrotask(() => {
          try {
            r.fn(subject, Uint8Array.from(c));
          } catch {
            // a raw subscriber's failure is its own
          }
        });
    }
    const s = parseSubject(subject);
    if (!s) return;
    for (const [party, sessions] of this.#subs) {
      if (s.kind === 'p2p' && s.to !== party) continue;
      for (const sess of sessions) {
        if (sess.session !== s.session) continue;
        for (const c of copies) queueMicrotask(() => sess.inbound(subject, Uint8Array.from(c)));
      }
    }
  }
}

export interface MemoryTransportOptions {
  readonly limits?: FrameLimits;
  /**
   * Source of each session's ephemeral X25519 secret (default: fresh random). Tests only: a test
   * keeps a copy to prove that a recorded session decrypts with it and not without it.
   */
  readonly ephemeralSecret?: (sid: Uint8Array) => Uint8Array;
}

export class MemoryTransport implements Transport {
  readonly self: number;
  readonly #hub: MemoryHub;
  readonly #keys: PartyKeys;
  readonly #roster: readonly RosterEntry[];
  readonly #o: MemoryTransportOptions;
  readonly #sessions = new Set<CodecSession>();
  #closed = false;

  constructor(
    hub: MemoryHub,
    self: number,
    keys: PartyKeys,
    roster: readonly RosterEntry[],
    opts: MemoryTransportOptions = {},
  ) {
    this.#hub = hub;
    this.self = self;
    this.#keys = keys;
    this.#roster = roster;
    this.#o = opts;
  }

  async join(sid: Uint8Array, handler: TransportHandler): Promise<TransportSession> {
    if (this.#closed) throw new MpcError('ERR_TRANSPORT_CLOSED', 'transport is closed');
    const session: CodecSession = new CodecSession(
      {
        self: this.self,
        sid,
        keys: this.#keys,
        roster: this.#roster,
        ...(this.#o.limits ? { limits: this.#o.limits } : {}),
        ...(this.#o.ephemeralSecret ? { ephemeralSecret: this.#o.ephemeralSecret(sid) } : {}),
      },
      handler,
      async (subject, bytes) => {
        if (this.#closed) throw new MpcError('ERR_TRANSPORT_CLOSED', 'transport is closed');
        this.#hub.publish(subject, bytes);
      },
      async () => {
        this.#sessions.delete(session);
        this.#hub.unregister(this.self, session);
      },
    );
    this.#hub.register(this.self, session);
    this.#sessions.add(session);
    return session;
  }

  bus(): Bus {
    return this.#hub.bus();
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const s of [...this.#sessions]) await s.leave();
  }
}
