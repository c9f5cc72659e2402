import { MathPool } from '../math/pool.js';
import { selectBackend } from '../math/select.js';
import { FIXTURE_PLAN, fixtureSetName, type PrimeFixture, writePrimeFixture } from './fixture-primes.js';

/** `mpc-custody primes --fixture FILE`: regenerates the committed test-prime fixture, with progress. */
export async function primesCommand(args: readonly string[], out: (line: string) => void): Promise<number> {
  const at = args.indexOf('--fixture');
  const path = at >= 0 ? args[at + 1] : undefined;
  if (path === undefined) {
    out('usage: mpc-custody primes --fixture FILE');
    return 2;
  }
  const math = selectBackend({ log: out });
  const pool = new MathPool({ backend: math.name });
  const started = Date.now();
  try {
    await pool.warmUp();
    out(`primes: generating test fixture with the ${math.name} backend on ${pool.threads} workers`);
    const sets: Record<string, string[]> = {};
    for (const { kind, bits, count } of FIXTURE_PLAN) {
      const name = fixtureSetName(kind, bits);
      const found: string[] = [];
      await Promise.all(
        Array.from({ length: count }, async () => {
          const p = await pool.generatePrime(bits, kind);
          found.push(p.toString(16));
          out(`primes: ${name} ${found.length}/${count} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
        }),
      );
      if (new Set(found).size !== found.length) throw new Error(`duplicate prime in ${name}`);
      sets[name] = found.sort();
    }
    const fixture: PrimeFixture = {
      format: 'mpc-custody.test-primes.v1',
      warning: 'TEST ONLY: these primes are public. Never use them for real keys.',
      generator: 'mpc-custody generatePrime (src/math/primes.ts) via `npm run gen:primes`',
      backend: math.name,
      sets,
    };
    await writePrimeFixture(path, fixture);
    out(`primes: wrote ${path} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return 0;
  } finally {
    await pool.close();
  }
}
