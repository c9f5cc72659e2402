import type { MathBackend } from '../../src/math/backend.js';
import { type PaillierSecretKey, paillierSecretKey } from '../../src/primitives/paillier.js';
import { generateRingPedersen, type RingPedersenSecret } from '../../src/primitives/ring-pedersen.js';
import { SECURITY } from '../../src/zk/params.js';
import { backend } from './backends.js';
import { TestDrbg } from './drbg.js';
import { testPrimes } from './primes.js';

/** The math backend protocol-level tests use (GMP: the production path, and fast). */
export const math: MathBackend = backend('native');

const cache = new Map<number, { sk: PaillierSecretKey; rp: RingPedersenSecret }>();

/**
 * Party `i`'s 3072-bit Paillier key (fixture safe primes 2i and 2i+1) and ring-Pedersen parameters
 * on it. At most 20 parties (40 committed primes). Test-only: the primes are public.
 */
export async function partyKeys(i: number): Promise<{ sk: PaillierSecretKey; rp: RingPedersenSecret }> {
  const hit = cache.get(i);
  if (hit !== undefined) return hit;
  const primes = await testPrimes('safe', 1536);
  const p = primes[2 * i];
  const q = primes[2 * i + 1];
  if (p === undefined || q === undefined) throw new Error(`no fixture primes for party ${i}`);
  const sk = paillierSecretKey(math, p, q, SECURITY.minModulusBits);
  const rp = generateRingPedersen(math, sk, new TestDrbg(`ring-pedersen-${i}`));
  const keys = { sk, rp };
  cache.set(i, keys);
  return keys;
}

export const sid = (s: string): Uint8Array => new TextEncoder().encode(s);
