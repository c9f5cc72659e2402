/**
 * Every command of `mpc-custody`, in the order `--help` lists them. To add one: define it with
 * defineCommand (command.ts), or a CommandGroup for `<group> <verb>`, and append it here.
 */
import { auditGroup } from './audit-command.js';
import { backupGroup, recoveryGroup } from './backup-command.js';
import type { Command, CommandGroup } from './command.js';
import { configReferenceCommand } from './config-reference.js';
import { coordGroup } from './coord-command.js';
import { demoCommand } from './demo-command.js';
import { hsmInit } from './hsm-command.js';
import { identitySealCommand } from './identity-command.js';
import { importGroup } from './import-command.js';
import { keyRepair } from './key-repair-command.js';
import { operatorGroup, orchestrator, requestGroup } from './orchestrator-command.js';
import { partyCommand } from './party-command.js';
import { primesCommand } from './primes-command.js';
import { setupCommand } from './setup-command.js';

export const COMMANDS: readonly (Command | CommandGroup)[] = [
  demoCommand,
  setupCommand,
  partyCommand,
  coordGroup,
  identitySealCommand,
  importGroup,
  hsmInit,
  keyRepair,
  backupGroup,
  recoveryGroup,
  auditGroup,
  orchestrator,
  operatorGroup,
  requestGroup,
  primesCommand,
  configReferenceCommand,
];
