import { cpSync } from 'node:fs';
import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MathPool } from '../../src/math/pool.js';
import type { PrimeKind } from '../../src/math/primes.js';
import { PrimePool } from '../../src/primitives/prime-pool.js';
import { FilePrimeStore, migratePlaintextPrimeCache } from '../../src/storage/prime-cache-file.js';
import { sealBlob } from '../../src/storage/sealed-blob.js';
import { SoftwareSealer } from '../../src/storage/software-sealer.js';
import { testPrimes } from '../helpers/primes.js';
import { primeEncodings, scanForPlaintext, walk } from '../storage/helpers.js';

const sealer = new SoftwareSealer(Buffer.alloc(32, 0x5a));
const cache = (path: string, kind: PrimeKind, bits: number, partyId = 1) =>
  new FilePrimeStore({ path, sealer, partyId, kind, bits });

describe('prime pool with a sealed disk cache', () => {
  const pool = new MathPool({ backend: 'native', threads: 2 });
  afterAll(() => pool.close());
  const dir = mkdtemp(join(tmpdir(), 'mpc-primes-'));

  it('fills the cache in the background, 0600 and atomically, and hands each prime out once', async () => {
    const path = join(await dir, 'blum-256.sealed');
    const store = cache(path, 'blum', 256);
    const progress: number[] = [];
    const primes = new PrimePool({
      pool,
      store,
      bits: 256,
      kind: 'blum',
      target: 6,
      onProgress: (h) => progress.push(h),
    });
    await Promise.all([primes.fill(), primes.fill()]); // concurrent fills share one run
    expect(await store.count()).toBe(6);
    expect(progress.at(-1)).toBe(6);
    expect((await stat(path)).mode & 0o777).toBe(0o600);

    const a = await primes.take(2);
    const b = await primes.take(2);
    // A fresh reader sees the shortened cache: the taken primes are gone from disk.
    expect(await cache(path, 'blum', 256).count()).toBe(2);
    const all = [...a, ...b, ...(await primes.take(4))];
    expect(new Set(all).size).toBe(all.length); // the last two were generated on demand
    expect(await store.count()).toBe(0);
  });

  it('no cached prime is on disk in the clear: not as hex, decimal or big-endian bytes (issue 17.2)', async () => {
    const root = join(await dir, 'scan');
    const path = join(root, 'data', 'safe-256.sealed');
    const store = cache(path, 'safe', 256);
    const primes = new PrimePool({ pool, store, bits: 256, kind: 'safe', target: 4 });
    await primes.fill();
    cpSync(join(root, 'data'), join(root, 'snapshot'), { recursive: true }); // the disk as it was, full
    const cached = await primes.take(4); // the very primes the cache held
    expect(cached).toHaveLength(4);
    expect(walk(join(root, 'snapshot'))).toHaveLength(1);
    const needles = cached.flatMap((p) => primeEncodings(p, 256));
    expect(scanForPlaintext(root, needles)).toEqual([]);
    // the blob belongs to this party and this kind: another party or kind cannot read it
    await expect(cache(join(root, 'snapshot', 'safe-256.sealed'), 'safe', 256, 2).count()).rejects.toMatchObject({
      code: 'ERR_PRIME_CACHE_CORRUPT',
    });
    await expect(cache(join(root, 'snapshot', 'safe-256.sealed'), 'blum', 256).count()).rejects.toMatchObject({
      code: 'ERR_PRIME_CACHE_CORRUPT',
    });
  });

  it('a tampered cache entry (a composite of the right size and residue) is refused and never used', async () => {
    const path = join(await dir, 'safe-512.sealed');
    const [good, good2] = (await testPrimes('safe', 512)) as [bigint, bigint];
    const fake = good + 4n; // same size and residue mod 4, not prime
    const store = cache(path, 'safe', 512);
    await store.add([fake, good, good2 + 4n, good2]); // two composites among two primes
    const rejected: string[] = [];
    const primes = new PrimePool({
      pool,
      store,
      bits: 512,
      kind: 'safe',
      target: 0,
      onRejected: (r) => rejected.push(r),
    });
    const got = await primes.take(2);
    expect(got).toEqual([good, good2]);
    expect(rejected).toHaveLength(2);
    expect(await store.count()).toBe(0); // the composites are gone from the cache as well
  });

  it('refuses to hand out a prime twice, even if a restored cache offers it again', async () => {
    const path = join(await dir, 'safe-512b.sealed');
    const [p, q] = (await testPrimes('safe', 512)).slice(2) as [bigint, bigint];
    await cache(path, 'safe', 512).add([p]);
    const before = await readFile(path);
    const rejected: string[] = [];
    const primes = new PrimePool({
      pool,
      store: cache(path, 'safe', 512),
      bits: 512,
      kind: 'safe',
      target: 0,
      onRejected: (r) => rejected.push(r),
    });
    expect(await primes.take(1)).toEqual([p]);
    await writeFile(path, before); // "restore from backup"
    await cache(path, 'safe', 512).add([q]);
    expect(await primes.take(1)).toEqual([q]); // p is offered again and refused
    expect(rejected).toEqual(['cached prime was handed out before (a restored cache?)']);
  });

  it('rejects a corrupt or foreign cache file with a typed error and never rewrites it', async () => {
    const root = await dir;
    const junk = (name: string) => join(root, `bad-${name}.sealed`);
    const other = new SoftwareSealer(Buffer.alloc(32, 0x11));
    const files: Array<[string, Buffer]> = [
      ['not a blob', Buffer.from('{"version":1,"kind":"safe","bits":512,"primes":[]}')],
      ['other key', await sealBlob(other, { partyId: 1, keyId: 'primes.safe.512' }, 1, Buffer.alloc(4))],
      [
        'wrong length',
        await sealBlob(sealer, { partyId: 1, keyId: 'primes.safe.512' }, 1, Buffer.from([0, 0, 0, 1, 7])),
      ],
    ];
    for (const [name, content] of files) {
      await writeFile(junk(name), content);
      await expect(cache(junk(name), 'safe', 512).count()).rejects.toMatchObject({ code: 'ERR_PRIME_CACHE_CORRUPT' });
      expect((await readFile(junk(name))).equals(content)).toBe(true);
    }
  });

  it('moves a plaintext cache of an earlier version into the sealed cache and wipes the old file', async () => {
    const root = join(await dir, 'legacy');
    const legacy = join(root, 'primes-safe-512.json');
    const [p] = (await testPrimes('safe', 512)).slice(4) as [bigint];
    const { mkdir } = await import('node:fs/promises');
    await mkdir(root, { recursive: true });
    await writeFile(legacy, JSON.stringify({ version: 1, kind: 'safe', bits: 512, primes: [p.toString(16)] }), {
      mode: 0o600,
    });
    const store = cache(join(root, 'primes-safe-512.sealed'), 'safe', 512);
    expect(await migratePlaintextPrimeCache(legacy, store, 'safe', 512)).toBe(1);
    expect(walk(root).map((f) => f.slice(root.length + 1))).toEqual(['primes-safe-512.sealed']);
    expect(scanForPlaintext(root, primeEncodings(p, 512))).toEqual([]);
    expect(await store.take(1)).toEqual([p]);
  });
});
