import { readFile } from 'node:fs/promises';
import { MpcError } from '../errors/index.js';
import type { PrimeKind } from '../math/primes.js';
import { writeFileAtomic } from '../storage/atomic-file.js';

/**
 * The committed test-prime fixture: primes made by this project's own generator so tests never
 * wait on prime search. They are PUBLIC, so they are for tests only and never for real keys.
 */
export interface PrimeFixture {
  readonly format: 'mpc-custody.test-primes.v1';
  readonly warning: string;
  readonly generator: string;
  readonly backend: string;
  readonly sets: Readonly<Record<string, readonly string[]>>;
}

/** What `npm run gen:primes` makes: name → (kind, bits, count). */
export const FIXTURE_PLAN: ReadonlyArray<{ kind: PrimeKind; bits: number; count: number }> = [
  { kind: 'safe', bits: 1536, count: 60 },
  { kind: 'blum', bits: 1536, count: 8 },
  { kind: 'safe', bits: 1024, count: 4 },
  { kind: 'safe', bits: 512, count: 8 },
  { kind: 'blum', bits: 512, count: 8 },
];

export const fixtureSetName = (kind: PrimeKind, bits: number): string => `${kind}-${bits}`;

export async function readPrimeFixture(path: string): Promise<PrimeFixture> {
  const parsed = JSON.parse(await readFile(path, 'utf8')) as PrimeFixture;
  if (parsed.format !== 'mpc-custody.test-primes.v1' || typeof parsed.sets !== 'object') {
    throw new MpcError('ERR_PRIME_FIXTURE_INVALID', `${path} is not a test-prime fixture`);
  }
  return parsed;
}

export async function writePrimeFixture(path: string, fixture: PrimeFixture): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(fixture, null, 1)}\n`, 0o644);
}
