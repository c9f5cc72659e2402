import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MathPool } from '../../src/math/pool.js';
import { PrimePool } from '../../src/primitives/prime-pool.js';
import { FilePrimeStore } from '../../src/storage/prime-cache-file.js';
import { testPrimes } from '../helpers/primes.js';

describe('prime pool with a disk cache', () => {
  const pool = new MathPool({ backend: 'native', threads: 2 });
  afterAll(() => pool.close());
  const dir = mkdtemp(join(tmpdir(), 'mpc-primes-'));

  it('fills the cache in the background, 0600 and atomically, and hands each prime out once', async () => {
    const path = join(await dir, 'blum-256.json');
    const store = new FilePrimeStore(path, 'blum', 256);
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
    expect(await new FilePrimeStore(path, 'blum', 256).count()).toBe(2);
    const all = [...a, ...b, ...(await primes.take(4))];
    expect(new Set(all).size).toBe(all.length); // the last two were generated on demand
    expect(await store.count()).toBe(0);
  });

  it('refuses a tampered cache entry that is not a prime of the kind', async () => {
    const path = join(await dir, 'safe-512.json');
    const [good] = await testPrimes('safe', 512);
    const fake = (good as bigint) + 4n; // same size and residue mod 4, not prime
    await writeFile(path, JSON.stringify({ version: 1, kind: 'safe', bits: 512, primes: [fake.toString(16)] }));
    const primes = new PrimePool({
      pool,
      store: new FilePrimeStore(path, 'safe', 512),
      bits: 512,
      kind: 'safe',
      target: 0,
    });
    await expect(primes.take(1)).rejects.toMatchObject({ code: 'ERR_PRIME_CACHE_CORRUPT' });
  });

  it('refuses to hand out a prime twice, even if a restored cache offers it again', async () => {
    const path = join(await dir, 'safe-512b.json');
    const [p] = await testPrimes('safe', 512);
    const entry = JSON.stringify({ version: 1, kind: 'safe', bits: 512, primes: [(p as bigint).toString(16)] });
    await writeFile(path, entry);
    const primes = new PrimePool({
      pool,
      store: new FilePrimeStore(path, 'safe', 512),
      bits: 512,
      kind: 'safe',
      target: 0,
    });
    expect(await primes.take(1)).toEqual([p]);
    await writeFile(path, entry); // "restore from backup"
    await expect(primes.take(1)).rejects.toMatchObject({ code: 'ERR_PRIME_CACHE_CORRUPT' });
  });

  it.each([
    ['not JSON', '{'],
    ['wrong kind', JSON.stringify({ version: 1, kind: 'blum', bits: 512, primes: [] })],
    ['wrong version', JSON.stringify({ version: 2, kind: 'safe', bits: 512, primes: [] })],
    ['non-hex entry', JSON.stringify({ version: 1, kind: 'safe', bits: 512, primes: ['0xzz'] })],
    ['wrong size', JSON.stringify({ version: 1, kind: 'safe', bits: 512, primes: ['7'] })],
    ['__proto__ injection', '{"__proto__":{"polluted":1},"version":1,"kind":"safe","bits":512,"primes":[]}'],
  ])('rejects a corrupt cache file (%s) with a typed error and no pollution', async (_label, content) => {
    const path = join(await dir, `bad-${_label.replace(/\W/g, '')}.json`);
    await writeFile(path, content);
    const store = new FilePrimeStore(path, 'safe', 512);
    if (_label === '__proto__ injection') {
      expect(await store.count()).toBe(0);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    } else {
      await expect(store.count()).rejects.toMatchObject({ code: 'ERR_PRIME_CACHE_CORRUPT' });
    }
    expect(await readFile(path, 'utf8')).toBe(content); // a failed read never rewrites the file
  });
});
