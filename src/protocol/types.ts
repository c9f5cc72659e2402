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

/**
 * One message a party received, as an abort notice presents it for re-checking: the sender (the
 * accused), the recipient (the accuser, whose public parameters the message was made for) and the
 * body as the round's strict decoder returned it.
 */
export interface Evidence<B = unknown> {
  readonly from: number;
  readonly to: number;
  readonly body: B;
}

/**
 * A judge's finding on one message: 'faulty' (a public check fails; `reason` is the blame reason the
 * recipient itself recorded for it), 'valid' (every public check passes, or the round has nothing a
 * third party can check), or 'pending' (this party's state does not hold the public data the check
 * needs yet; the runner asks again as the session advances).
 */
export type Judgement =
  | { readonly verdict: 'faulty'; readonly reason: string }
  | { readonly verdict: 'valid' }
  | { readonly verdict: 'pending' };

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
  /**
   * Optional: re-runs, at any party, the PUBLIC checks the recipient `evidence.to` ran on one message
   * of `round` from `evidence.from` (identifiable abort of point-to-point faults: the runner calls it
   * for abort notices, PROTOCOL.md §7.1). Uses only public data in `state` — commitments, public
   * shares, every party's Paillier / ring-Pedersen parameters, K_j, Γ — and the verifier's index
   * `evidence.to`, never `ctx.self`'s secrets, so every honest party that holds the same public data
   * returns the same judgement. Must be pure and deterministic (no `ctx.rng`), and must report a failed
   * check as 'faulty' (not throw). Checks that need the recipient's secrets (decrypting MtA values)
   * are out of scope: presigning's §7.2/§7.3 identification (identify.ts) covers them.
   */
  judge?(round: string, state: S, evidence: Evidence, ctx: RoundCtx): Judgement;
}
