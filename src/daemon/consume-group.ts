import { MpcError } from '../errors/index.js';

/** What the group commits through: `PartyLedger.group` (one transaction, one fsync). */
export interface GroupLedger {
  group(work: readonly (() => void)[]): (unknown | undefined)[];
}

interface Pending {
  readonly work: () => void;
  readonly resolve: () => void;
  readonly reject: (e: unknown) => void;
}

/**
 * Ledger group commit for the signing path (issue #18). Every sign that reaches its consume in
 * the same turn of the event loop joins one ledger transaction: one fsync for all of them instead
 * of one each, while a consume still settles only once its record is on disk (its promise resolves
 * after the group's commit; the partial signature is computed after that). Each consume runs in its
 * own savepoint, in arrival order: one that is refused (the presignature was used, even by an
 * earlier member of the same group; the velocity re-check) fails alone.
 *
 * The flush runs on `setImmediate`, after the I/O callbacks of the current loop turn: the signs
 * whose sealed presignatures were read in that turn commit together. At most `maxGroup` per
 * transaction (the rest go to the next one).
 */
export class ConsumeGroup {
  readonly #ledger: GroupLedger;
  readonly #max: number;
  #queue: Pending[] = [];
  #scheduled = false;
  /** How many consumes each commit carried (the daemon's metric). */
  readonly #onCommit: ((size: number) => void) | undefined;

  constructor(ledger: GroupLedger, o: { maxGroup?: number; onCommit?: (size: number) => void } = {}) {
    this.#ledger = ledger;
    this.#max = o.maxGroup ?? 64;
    this.#onCommit = o.onCommit;
  }

  /**
   * Runs `work` (the guard's re-check and the ledger's consume) inside the next group's
   * transaction; resolves once that transaction committed, rejects with what `work` threw (or the
   * commit's failure).
   */
  run(work: () => void): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ work, resolve, reject });
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#scheduled || this.#queue.length === 0) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#flush();
    });
  }

  #flush(): void {
    const batch = this.#queue.splice(0, this.#max);
    this.#schedule();
    if (batch.length === 0) return;
    let errors: (unknown | undefined)[];
    try {
      errors = this.#ledger.group(batch.map((p) => p.work));
    } catch (e) {
      for (const p of batch) p.reject(e);
      return;
    }
    this.#onCommit?.(batch.length);
    for (const [i, p] of batch.entries()) {
      const e = errors[i];
      if (e === undefined) p.resolve();
      else p.reject(e);
    }
  }
}

/**
 * The `PresignatureLedger` handed to `issuePartialSignature` once the group committed the consume
 * of `id`: it accepts that one id, once, and refuses anything else (a second use, another id).
 */
export function consumedOnce(id: string): { consume(x: string): void } {
  let used = false;
  return {
    consume(x: string): void {
      if (used || x !== id) {
        throw new MpcError('ERR_PRESIGNATURE_USED', 'presignature was already used; refusing to sign with it again', {
          details: { presignature: x },
        });
      }
      used = true;
    },
  };
}
