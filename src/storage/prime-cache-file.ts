import { MpcError } from '../errors/index.js';
import { bitLength } from '../math/bits.js';
import type { PrimeKind } from '../math/primes.js';
import type { PrimeStore } from '../primitives/prime-pool.js';
import { readFileIfExists, writeFileAtomic } from './atomic-file.js';

/**
 * Prime cache on disk: one JSON file per (kind, bits), mode 0600 (unused primes are future key
 * material), rewritten atomically on every change. `take` writes the shortened list before it
 * returns the primes, so a crash can lose primes but never hand one out twice.
 */
interface CacheFile {
  readonly version: 1;
  readonly kind: PrimeKind;
  readonly bits: number;
  readonly primes: readonly string[];
}

const MAX_CACHED = 10_000;

export class FilePrimeStore implements PrimeStore {
  readonly #path: string;
  readonly #kind: PrimeKind;
  readonly #bits: number;
  /** Serializes read-modify-write cycles within this process. */
  #chain: Promise<unknown> = Promise.resolve();

  constructor(path: string, kind: PrimeKind, bits: number) {
    this.#path = path;
    this.#kind = kind;
    this.#bits = bits;
  }

  async count(): Promise<number> {
    return (await this.#read()).length;
  }

  add(primes: readonly bigint[]): Promise<void> {
    return this.#locked(async () => {
      const have = await this.#read();
      const next = [...have, ...primes];
      if (next.length > MAX_CACHED) throw new MpcError('ERR_PRIME_CACHE_IO', `prime cache is full (${MAX_CACHED})`);
      await this.#write(next);
    });
  }

  take(n: number): Promise<bigint[]> {
    return this.#locked(async () => {
      const have = await this.#read();
      const taken = have.slice(0, n);
      if (taken.length > 0) await this.#write(have.slice(taken.length));
      return taken;
    });
  }

  #locked<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#chain.then(fn, fn);
    this.#chain = run.catch(() => undefined);
    return run;
  }

  async #read(): Promise<bigint[]> {
    const raw = await readFileIfExists(this.#path);
    if (raw === undefined) return [];
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw.toString('utf8'));
    } catch (e) {
      throw new MpcError('ERR_PRIME_CACHE_CORRUPT', 'prime cache is not valid JSON', { cause: e });
    }
    const f = parsed as Partial<CacheFile> | null;
    if (
      f === null ||
      typeof f !== 'object' ||
      f.version !== 1 ||
      f.kind !== this.#kind ||
      f.bits !== this.#bits ||
      !Array.isArray(f.primes) ||
      f.primes.length > MAX_CACHED
    ) {
      throw new MpcError('ERR_PRIME_CACHE_CORRUPT', `prime cache header does not match ${this.#kind}/${this.#bits}`);
    }
    return f.primes.map((h) => {
      if (typeof h !== 'string' || !/^[0-9a-f]+$/.test(h)) {
        throw new MpcError('ERR_PRIME_CACHE_CORRUPT', 'prime cache entry is not lowercase hex');
      }
      const p = BigInt(`0x${h}`);
      if (bitLength(p) !== this.#bits || (p & 3n) !== 3n) {
        throw new MpcError('ERR_PRIME_CACHE_CORRUPT', 'prime cache entry has the wrong size or residue');
      }
      return p;
    });
  }

  async #write(primes: readonly bigint[]): Promise<void> {
    const file: CacheFile = {
      version: 1,
      kind: this.#kind,
      bits: this.#bits,
      primes: primes.map((p) => p.toString(16)),
    };
    await writeFileAtomic(this.#path, `${JSON.stringify(file)}\n`);
  }
}
