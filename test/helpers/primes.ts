import { join } from 'node:path';
import { fixtureSetName, readPrimeFixture } from '../../src/cli/fixture-primes.js';
import type { PrimeKind } from '../../src/math/primes.js';

export const FIXTURE_PATH = join(import.meta.dirname, '..', 'fixtures', 'primes.json');

/** Pregenerated test primes (public: tests only). */
export async function testPrimes(kind: PrimeKind, bits: number): Promise<bigint[]> {
  const f = await readPrimeFixture(FIXTURE_PATH);
  const set = f.sets[fixtureSetName(kind, bits)];
  if (set === undefined) throw new Error(`no ${kind}-${bits} primes in the fixture`);
  return set.map((h) => BigInt(`0x${h}`));
}
