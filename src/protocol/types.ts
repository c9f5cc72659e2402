import type { MathBackend } from '../math/backend.js';
import type { Rng } from '../math/random.js';

/**
 * The round-based model (cggmp21's `round-based` crate, STYLE.md §1–2): a protocol is a list of
 * rounds declared as data, and one pure function per round from (state, inbox, ctx) to
 * (state, outbox) or an output. No I/O, no clock, no environment: randomness and arithmetic come
 * in through `ctx`. State is plain data, so a daemon can persist it or move it to a worker.
 */

/** Recipient of a message: a party index, or ALL for a broadcast. */
export const ALL = -1;

export interface Outgoing {
  readonly round: string;
  /** Party index, or ALL. */
  readonly to: number;
  readonly body: unknown;
}

export interface RoundCtx {
  /** This party's index, 0-based. */
  readonly self: number;
  /** Number of parties in this execution. */
  readonly n: number;
  /** Execution id: unique per run, identical for all parties, bound into every hash and proof. */
  readonly sid: Uint8Array;
  readonly math: MathBackend;
  readonly rng: Rng;
}

/** What a round function returns: the next state and messages, or the protocol's output. */
export type RoundResult<S, O> =
  | { readonly state: S; readonly outbox: readonly Outgoing[] }
  | { readonly output: O; readonly outbox?: readonly Outgoing[] };

/** One round as data: message kind, reliability, and the strict codec of its messages. */
export interface RoundDef<B = unknown> {
  readonly name: string;
  /** 'broadcast': one message to all; 'p2p': one private message to each peer. */
  readonly kind: 'broadcast' | 'p2p';
  /** Broadcast rounds that need reliable broadcast get an echo check before they are processed. */
  readonly reliable?: boolean;
  encode(body: B): Uint8Array;
  /** Strict decoder (sizes, ranges, group membership). Throws MpcError; the sender is blamed. */
  decode(bytes: Uint8Array, from: number, ctx: RoundCtx): B;
}

export interface ProtocolDef<I, S, O> {
  /** Domain name, e.g. "keygen", bound into message signatures and echo hashes. */
  readonly name: string;
  readonly rounds: readonly RoundDef[];
  /** Validates the input and produces the first round's messages. */
  init(input: I, ctx: RoundCtx): { readonly state: S; readonly outbox: readonly Outgoing[] };
  /**
   * Processes the messages of round `round` (one per other party, already decoded, keyed by
   * sender) and produces the next round's messages or the output. Throws a ProtocolAbort
   * (MpcError ERR_PROTOCOL_ABORT) naming every faulty party it found.
   */
  process(round: string, state: S, inbox: ReadonlyMap<number, unknown>, ctx: RoundCtx): RoundResult<S, O>;
}
