import { MpcError } from '../errors/index.js';
import { bitLength } from '../math/bits.js';
import type { MathPool } from '../math/pool.js';
import type { PrimeKind } from '../math/primes.js';

/**
 * Durable storage for pregenerated primes (see storage/prime-cache-file.ts). `take` must remove the
 * prime durably BEFORE returning it: a prime handed out once is never handed out again, even after
 * a crash, so no two Paillier keys ever share a factor.
 */
export interface PrimeStore {
  count(): Promise<number>;
  add(primes: readonly bigint[]): Promise<void>;
  /** Removes and returns up to `n` primes (durably removed before the promise resolves). */
  take(n: number): Promise<bigint[]>;
}

export interface PrimePoolOptions {
  readonly pool: MathPool;
  readonly store: PrimeStore;
  readonly bits: number;
  readonly kind: PrimeKind;
  /** fill() tops the store up to this many primes. */
  readonly target: number;
  /** Progress line per prime found in fill(). */
  readonly onProgress?: (have: number, target: number) => void;
  /** A cached value was refused by take() (not a prime of the kind, or handed out before). */
  readonly onRejected?: (reason: string) => void;
}

/**
 * Keeps a stock of primes, generated in the background on the worker pool and cached to disk, so
 * that aux-info generation does not wait seconds per safe prime. Taken primes are checked again
 * (the cache file is outside the process: a composite read from it is refused and never used) and
 * never reused.
 */
export class PrimePool {
  readonly #opts: PrimePoolOptions;
  #filling: Promise<void> | undefined;
  #stopped = false;
  /** Primes handed out by this process: a second line of defence against a cache restored from backup. */
  readonly #issued = new Set<string>();

  constructor(opts: PrimePoolOptions) {
    if (!Number.isInteger(opts.target) || opts.target < 0)
      throw new MpcError('ERR_CONFIG_INVALID', 'target must be >= 0');
    this.#opts = opts;
  }

  /** Generates primes on the pool until the store holds `target`. Concurrent calls share one fill. */
  fill(): Promise<void> {
    this.#filling ??= this.#fill().finally(() => {
      this.#filling = undefined;
    });
    return this.#filling;
  }

  async #fill(): Promise<void> {
    const { pool, store, bits, kind, target } = this.#opts;
    let have = await store.count();
    while (!this.#stopped && have < target) {
      // One search per worker thread at a time; each result is saved as soon as it arrives.
      const want = Math.min(pool.threads, target - have);
      await Promise.all(
        Array.from({ length: want }, async () => {
          const p = await pool.generatePrime(bits, kind);
          await store.add([p]);
          have++;
          this.#opts.onProgress?.(have, target);
        }),
      );
    }
  }

  /** Stops background filling after the primes in flight. */
  stop(): void {
    this.#stopped = true;
  }

  /**
   * `n` distinct fresh primes: from the store when it has them, else generated now. Every cached
   * value is re-verified (a `kind` prime of `bits` bits, never handed out before by this process)
   * before use; one that fails is dropped (it is already gone from the store), reported through
   * `onRejected`, and replaced by the next cached or a freshly generated prime.
   */
  async take(n: number): Promise<bigint[]> {
    const { pool, store, bits, kind } = this.#opts;
    const out: bigint[] = [];
    for (;;) {
      const want = n - out.length;
      if (want <= 0) break;
      const cached = await store.take(want);
      if (cached.length === 0) break;
      for (const p of cached) {
        if (bitLength(p) !== bits || !(await pool.checkPrime(p, kind))) {
          this.#opts.onRejected?.(`cached value is not a ${bits}-bit ${kind} prime`);
        } else if (this.#issued.has(p.toString(16)) || out.includes(p)) {
          this.#opts.onRejected?.('cached prime was handed out before (a restored cache?)');
        } else {
          out.push(p);
        }
      }
    }
    while (out.length < n) {
      const p = await pool.generatePrime(bits, kind);
      if (!out.includes(p) && !this.#issued.has(p.toString(16))) out.push(p);
    }
    for (const p of out) this.#issued.add(p.toString(16));
    return out;
  }
}
