#!/usr/bin/env node
/**
 * `mpc-custody <command>`: the commands are in commands.ts, the framework in command.ts. Each
 * command's heavy modules load only when it runs, so `--help` and usage errors are fast.
 */
import { runCli } from './command.js';
import { COMMANDS } from './commands.js';

runCli(COMMANDS, process.argv.slice(2), {
  out: (line) => console.log(line),
  err: (line) => console.error(line),
}).then((code) => {
  process.exitCode = code;
});
