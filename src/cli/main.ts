#!/usr/bin/env node
import { demoCommand } from './demo.js';
import { primesCommand } from './primes-command.js';

const USAGE = `usage: mpc-custody <command>
  demo                      math backend self-test, timing summary and worker pool run
  primes --fixture FILE     regenerate the committed test-prime fixture`;

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  const out = (line: string): void => console.log(line);
  switch (command) {
    case 'demo':
      return demoCommand(out);
    case 'primes':
      return primesCommand(rest, out);
    default:
      console.error(USAGE);
      return command === undefined || command === '--help' ? 0 : 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    // Errors carry codes and never secret values; print the message, not the stack of a bignum.
    console.error(`mpc-custody: ${(e as Error).message ?? String(e)}`);
    process.exitCode = 1;
  },
);
