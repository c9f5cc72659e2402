import { open, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { MpcError } from '../errors/index.js';
import { bitLength } from '../math/bits.js';
import type { PrimeKind } from '../math/primes.js';
import type { PrimeStore } from '../primitives/prime-pool.js';
import { readFileIfExists, writeFileAtomic } from './atomic-file.js';
import { MAX_PLAINTEXT_BYTES, parseBlob, type Sealer, sealBlob, unsealBlob } from './sealed-blob.js';

/**
 * The prime cache on disk, sealed (issue 17 item 2). Cached safe primes become Paillier factors,
 * which are worth a key share, so the cache is one sealed blob (sealed-blob.ts, AAD binding the
 * party, `primes.<kind>.<bits>` and a version that grows with every write) under the party's store
 * sealer: AES-GCM in the HSM with a PKCS#11 store, under the store key with the file store. No
 * prime is ever on disk in the clear (hex, decimal or bytes).
 *
 * Plaintext: count u32 | count × prime, big-endian, bits/8 bytes each; zeroized after use.
 * Every change rewrites the blob atomically; `take` writes the shortened cache before it returns
 * the primes, so a crash can lose primes but never hand one out twice. Entries that fail the cheap
 * checks (size, p ≡ 3 mod 4) are dropped when read; PrimePool re-verifies (safe) primality of
 * everything it takes before use, since a blob on disk is outside the process.
 */
export interface PrimeCacheOptions {
  readonly path: string;
  readonly sealer: Sealer;
  readonly partyId: number;
  readonly kind: PrimeKind;
  readonly bits: number;
  /** Called with how many entries were dropped by the cheap checks on a read. */
  readonly onDropped?: (n: number) => void;
}

const MAX_CACHED = 10_000;

/** Where a party keeps its sealed cache of `kind` primes of `bits` bits. */
export function primeCachePath(dataDir: string, kind: PrimeKind, bits: number): string {
  return join(dataDir, `primes-${kind}-${bits}.sealed`);
}

export class FilePrimeStore implements PrimeStore {
  readonly #o: PrimeCacheOptions;
  readonly #bytes: number;
  readonly #max: number;
  /** Serializes read-modify-write cycles within this process. */
  #chain: Promise<unknown> = Promise.resolve();

  constructor(o: PrimeCacheOptions) {
    if (!Number.isInteger(o.bits) || o.bits < 16 || o.bits % 8 !== 0) {
      throw new MpcError('ERR_CONFIG_INVALID', 'prime cache bits must be a multiple of 8');
    }
    this.#o = o;
    this.#bytes = o.bits / 8;
    this.#max = Math.min(MAX_CACHED, Math.floor((MAX_PLAINTEXT_BYTES - 4) / this.#bytes));
  }

  get #keyId(): string {
    return `primes.${this.#o.kind}.${this.#o.bits}`;
  }

  async count(): Promise<number> {
    return (await this.#read()).primes.length;
  }

  add(primes: readonly bigint[]): Promise<void> {
    return this.#locked(async () => {
      const have = await this.#read();
      const next = [...have.primes, ...primes];
      if (next.length > this.#max) throw new MpcError('ERR_PRIME_CACHE_IO', `prime cache is full (${this.#max})`);
      await this.#write(next, have.version + 1);
    });
  }

  take(n: number): Promise<bigint[]> {
    return this.#locked(async () => {
      const have = await this.#read();
      const taken = have.primes.slice(0, n);
      if (taken.length > 0 || have.dropped > 0) await this.#write(have.primes.slice(taken.length), have.version + 1);
      return taken;
    });
  }

  #locked<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#chain.then(fn, fn);
    this.#chain = run.catch(() => undefined);
    return run;
  }

  async #read(): Promise<{ primes: bigint[]; version: number; dropped: number }> {
    const blob = await readFileIfExists(this.#o.path);
    if (blob === undefined) return { primes: [], version: 0, dropped: 0 };
    if (blob.length > MAX_PLAINTEXT_BYTES + 512) throw new MpcError('ERR_PRIME_CACHE_CORRUPT', 'prime cache too large');
    let plain: { version: number; plaintext: Buffer };
    try {
      plain = await unsealBlob(this.#o.sealer, { partyId: this.#o.partyId, keyId: this.#keyId }, blob);
    } catch (e) {
      throw new MpcError('ERR_PRIME_CACHE_CORRUPT', 'prime cache does not unseal for this party and kind', {
        cause: e,
      });
    }
    const pt = plain.plaintext;
    try {
      const count = pt.length >= 4 ? pt.readUInt32BE(0) : -1;
      if (count < 0 || count > this.#max || pt.length !== 4 + count * this.#bytes) {
        throw new MpcError('ERR_PRIME_CACHE_CORRUPT', `prime cache has the wrong length for ${this.#keyId}`);
      }
      const primes: bigint[] = [];
      let dropped = 0;
      for (let i = 0; i < count; i++) {
        const at = 4 + i * this.#bytes;
        const p = BigInt(`0x${pt.toString('hex', at, at + this.#bytes)}`);
        if (bitLength(p) === this.#o.bits && (p & 3n) === 3n) primes.push(p);
        else dropped++;
      }
      if (dropped > 0) this.#o.onDropped?.(dropped);
      return { primes, version: plain.version, dropped };
    } finally {
      pt.fill(0);
    }
  }

  async #write(primes: readonly bigint[], version: number): Promise<void> {
    const pt = Buffer.alloc(4 + primes.length * this.#bytes);
    try {
      pt.writeUInt32BE(primes.length, 0);
      primes.forEach((p, i) => {
        const hex = p.toString(16);
        if (p <= 0n || hex.length > 2 * this.#bytes)
          throw new MpcError('ERR_PRIME_CACHE_IO', 'prime of the wrong size');
        pt.write(hex.padStart(2 * this.#bytes, '0'), 4 + i * this.#bytes, 'hex');
      });
      const blob = await sealBlob(this.#o.sealer, { partyId: this.#o.partyId, keyId: this.#keyId }, version, pt);
      await writeFileAtomic(this.#o.path, blob, 0o600);
    } finally {
      pt.fill(0);
    }
  }

  /** The version of the blob on disk (0 when there is none); for tests and diagnostics. */
  async version(): Promise<number> {
    const blob = await readFileIfExists(this.#o.path);
    return blob === undefined ? 0 : parseBlob(blob).header.version;
  }
}

/**
 * Moves a plaintext JSON prime cache of an earlier version (`{version: 1, kind, bits, primes: [hex]}`)
 * into `store`, then overwrites the old file with zeros, fsyncs and removes it. Entries are only
 * cheaply checked here; PrimePool re-verifies primality before use. Returns how many moved.
 */
export async function migratePlaintextPrimeCache(
  legacyPath: string,
  store: FilePrimeStore,
  kind: PrimeKind,
  bits: number,
): Promise<number> {
  const raw = await readFileIfExists(legacyPath);
  if (raw === undefined) return 0;
  let moved: bigint[] = [];
  try {
    const f = JSON.parse(raw.toString('utf8')) as {
      version?: unknown;
      kind?: unknown;
      bits?: unknown;
      primes?: unknown;
    };
    if (f?.version === 1 && f.kind === kind && f.bits === bits && Array.isArray(f.primes)) {
      moved = f.primes
        .filter((h): h is string => typeof h === 'string' && /^[0-9a-f]{1,2048}$/.test(h))
        .map((h) => BigInt(`0x${h}`))
        .filter((p) => bitLength(p) === bits && (p & 3n) === 3n)
        .slice(0, MAX_CACHED);
    }
  } catch {
    moved = []; // unreadable: nothing to keep, but it is still wiped
  }
  if (moved.length > 0) await store.add(moved);
  const size = (await stat(legacyPath)).size;
  const fh = await open(legacyPath, 'r+');
  try {
    await fh.write(Buffer.alloc(size), 0, size, 0);
    await fh.sync();
  } finally {
    await fh.close();
  }
  raw.fill(0);
  await unlink(legacyPath);
  return moved.length;
}
