#!/usr/bin/env node
/**
 * `mpc-custody <command>`: the commands are in commands.ts, the framework in command.ts. Each
 * command's heavy modules load only when it runs, so `--help` and usage errors are fast.
 */
import { reportError, runCli } from './command.js';
import { COMMANDS } from './commands.js';

const argv = process.argv.slice(2);
const io = { out: (line: string) => console.log(line), err: (line: string) => console.error(line) };

/** Commands not on the framework yet (orchestrator-command.ts parses its own flags). */
const OWN_PARSER = new Set(['orchestrator', 'operator', 'request']);

async function main(): Promise<number> {
  const [command, ...rest] = argv;
  if (command !== undefined && OWN_PARSER.has(command)) {
    const { runOrchestratorCommand } = await import('./orchestrator-command.js');
    return (await runOrchestratorCommand(command, rest, io.out, io.err)) ?? 2;
  }
  const code = await runCli(COMMANDS, argv, io);
  if (command === '--help' || command === '-h') {
    io.out('  orchestrator, operator, request: the orchestrator REST service and its client (--help of each)');
  }
  return code;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    // only the commands with their own parser get here: the same one line, no stack
    process.exitCode = reportError(argv[0] ?? '', e, io, argv.includes('--json'));
  },
);
