import Type from 'typebox';
import { MpcError } from '../errors/index.js';
import { assertWritableFile } from './boundary.js';
import { defineCommand, EXIT } from './command.js';
import { FileFlag } from './flags.js';

/** `mpc-custody primes --fixture FILE`: regenerates the committed test-prime fixture, with progress. */
export const primesCommand = defineCommand({
  name: 'primes',
  summary: 'regenerate the committed test-prime fixture (minutes on 2 cores)',
  flags: Type.Object({ fixture: FileFlag('fixture file to write (test/fixtures/primes.json)') }),
  async run(f, io) {
    await assertWritableFile(f.fixture, 'fixture file');
    const { MathPool } = await import('../math/pool.js');
    const { selectBackend } = await import('../math/select.js');
    const { FIXTURE_PLAN, fixtureSetName, writePrimeFixture } = await import('./fixture-primes.js');
    const math = selectBackend({ log: io.out });
    const pool = new MathPool({ backend: math.name });
    const started = Date.now();
    try {
      await pool.warmUp();
      io.out(`primes: generating test fixture with the ${math.name} backend on ${pool.threads} workers`);
      const sets: Record<string, string[]> = {};
      for (const { kind, bits, count } of FIXTURE_PLAN) {
        const name = fixtureSetName(kind, bits);
        const found: string[] = [];
        await Promise.all(
          Array.from({ length: count }, async () => {
            const p = await pool.generatePrime(bits, kind);
            found.push(p.toString(16));
            io.out(`primes: ${name} ${found.length}/${count} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
          }),
        );
        if (new Set(found).size !== found.length) throw new MpcError('ERR_INTERNAL', `duplicate prime in ${name}`);
        sets[name] = found.sort();
      }
      await writePrimeFixture(f.fixture, {
        format: 'mpc-custody.test-primes.v1',
        warning: 'TEST ONLY: these primes are public. Never use them for real keys.',
        generator: 'mpc-custody generatePrime (src/math/primes.ts) via `npm run gen:primes`',
        backend: math.name,
        sets,
      });
      io.out(`primes: wrote ${f.fixture} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      return EXIT.ok;
    } finally {
      await pool.close();
    }
  },
});
