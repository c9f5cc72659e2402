/** Odd primes below `limit`, by the sieve of Eratosthenes (computed once per limit, numbers only). */
const cache = new Map<number, readonly number[]>();

export function oddPrimesBelow(limit: number): readonly number[] {
  const hit = cache.get(limit);
  if (hit !== undefined) return hit;
  const composite = new Uint8Array(limit);
  const out: number[] = [];
  for (let i = 3; i < limit; i += 2) {
    if (composite[i] === 1) continue;
    out.push(i);
    for (let j = i * i; j < limit; j += 2 * i) composite[j] = 1;
  }
  const frozen = Object.freeze(out);
  cache.set(limit, frozen);
  return frozen;
}

/** Trial-division bound used before Miller–Rabin: removes ~90 % of random odd candidates cheaply. */
export const TRIAL_DIVISION_LIMIT = 2000;
/** Sieve bound for prime search: candidates divisible by (or, for safe primes, making 2q+1 divisible by) these are skipped. */
export const SIEVE_LIMIT = 1 << 16;
