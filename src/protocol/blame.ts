import { type Blame, MpcError } from '../errors/index.js';
import type { Judgement } from './types.js';

/**
 * Collects faults while a round checks every peer, so the abort names ALL faulty parties, not only
 * the first (STYLE.md §3). Messages never contain secret values.
 */
export class BlameCollector {
  readonly #protocol: string;
  readonly #round: string;
  readonly #faults = new Map<number, string[]>();
  readonly #msgIds: ReadonlyMap<number, string>;

  constructor(protocol: string, round: string, msgIds: ReadonlyMap<number, string> = new Map()) {
    this.#protocol = protocol;
    this.#round = round;
    this.#msgIds = msgIds;
  }

  /** Records that `party` failed `reason`. */
  blame(party: number, reason: string): void {
    const list = this.#faults.get(party) ?? [];
    list.push(reason);
    this.#faults.set(party, list);
  }

  /** Runs `check` for `party`; an MpcError thrown by it (failed proof, bad encoding) blames the party. */
  guard(party: number, what: string, check: () => void): void {
    try {
      check();
    } catch (e) {
      if (!(e instanceof MpcError)) throw e;
      const detail = typeof e.details.check === 'string' ? `: ${e.details.check}` : '';
      this.blame(party, `${what} (${e.code}${detail})`);
    }
  }

  /** The reasons recorded for `party`, joined as in the abort ('; '), or undefined if none. */
  reasonsOf(party: number): string | undefined {
    return this.#faults.get(party)?.join('; ');
  }

  get empty(): boolean {
    return this.#faults.size === 0;
  }

  /** Throws the abort if any fault was recorded. */
  throwIfAny(): void {
    if (this.#faults.size === 0) return;
    throw protocolAbort(
      this.#protocol,
      this.#round,
      [...this.#faults.entries()]
        .sort(([a], [b]) => a - b)
        .map(([party, reasons]) => ({
          party,
          msgIds: this.#msgIds.has(party) ? [this.#msgIds.get(party) as string] : [],
          reason: reasons.join('; '),
        })),
    );
  }
}

/** The typed abort: ERR_PROTOCOL_ABORT with the blamed parties (empty when nobody can be identified). */
export function protocolAbort(protocol: string, round: string, blame: readonly Blame[], why?: string): MpcError {
  const who = blame.length === 0 ? 'no party identified' : `blamed ${blame.map((b) => b.party).join(', ')}`;
  return new MpcError('ERR_PROTOCOL_ABORT', `${protocol} aborted in ${round}: ${why ?? who}`, {
    blame,
    details: { protocol, round },
  });
}

/**
 * The judgement of one party's message by the same checks a round runs (a `ProtocolDef.judge`
 * helper): `check` records faults of `party` in a BlameCollector exactly as the round does, so a
 * 'faulty' verdict carries the very reason the recipient's own abort gave.
 *
 * @example return judgeWith(j, (blame) => checkShare(blame, state, j, msg));
 */
export function judgeWith(party: number, check: (blame: BlameCollector) => void): Judgement {
  const blame = new BlameCollector('judge', 'judge');
  check(blame);
  const reason = blame.reasonsOf(party);
  return reason === undefined ? { verdict: 'valid' } : { verdict: 'faulty', reason };
}

/** Judgement of a party whose state does not yet hold the public data a check needs. */
export const PENDING: Judgement = Object.freeze({ verdict: 'pending' });
