import type { MathBackend } from '../../src/math/backend.js';
import type { PowmTask } from '../../src/math/raw.js';

/**
 * `m` with a cache of exponentiation and primality results (pure functions of their arguments; TEST
 * ONLY: the cache keeps secret exponents in memory). Repeated work is looked up, new work is
 * computed by `m`. Every protocol check still runs on every call; only the arithmetic is reused.
 *
 * Where it saves: several parties simulated in one process verify the same broadcast proof (Πprm,
 * Πmod of aux info: every verifier raises the same bases to the same exponents), and reruns with the
 * same sid, inputs and DRBG seeds (test/protocol/aux-info.test.ts) compute what the first run did up
 * to the point they differ.
 */
export function memoMath(m: MathBackend): MathBackend {
  const cache = new Map<string, bigint>();
  const key = (tag: string, xs: readonly bigint[]): string => `${tag}:${xs.map((x) => x.toString(36)).join(':')}`;
  const once = (k: string, f: () => bigint): bigint => {
    const hit = cache.get(k);
    if (hit !== undefined) return hit;
    const v = f();
    cache.set(k, v);
    return v;
  };
  const primes = new Map<bigint, boolean>();
  return Object.freeze({
    ...m,
    powm: (b, e, n) => once(key('p', [b, e, n]), () => m.powm(b, e, n)),
    powmSec: (b, e, n) => once(key('s', [b, e, n]), () => m.powmSec(b, e, n)),
    powmCrt: (b, e, crt) => once(key('c', [b, e, crt.p, crt.q, BigInt(crt.power)]), () => m.powmCrt(b, e, crt)),
    multiExp: (bs, es, n) => once(key('m', [...bs, -1n, ...es, n]), () => m.multiExp(bs, es, n)),
    multiExpSec: (bs, es, n) => once(key('M', [...bs, -1n, ...es, n]), () => m.multiExpSec(bs, es, n)),
    powmBatch(tasks: readonly PowmTask[]): bigint[] {
      const keys = tasks.map((t) => key(t.secret ? 'S' : 'P', [t.base, t.exp, t.mod]));
      const missing = keys.flatMap((k, idx) => (cache.has(k) ? [] : [idx]));
      if (missing.length > 0) {
        const fresh = m.powmBatch(missing.map((idx) => tasks[idx] as PowmTask));
        missing.forEach((idx, f) => {
          cache.set(keys[idx] as string, fresh[f] as bigint);
        });
      }
      return keys.map((k) => cache.get(k) as bigint);
    },
    isProbablePrime(n, rng) {
      const hit = primes.get(n);
      if (hit !== undefined) return hit;
      const v = m.isProbablePrime(n, rng);
      primes.set(n, v);
      return v;
    },
  } satisfies MathBackend);
}
