#!/usr/bin/env node
import { auditCommand } from './audit-command.js';
import { backupCommand } from './backup-command.js';
import { coordCommand } from './coord-command.js';
import { demoCommand } from './demo.js';
import { hsmInitCommand } from './hsm-command.js';
import { identitySealCommand } from './identity-command.js';
import { keyRepairCommand } from './key-repair-command.js';
import { runOrchestratorCommand } from './orchestrator-command.js';
import { partyCommand } from './party-command.js';
import { primesCommand } from './primes-command.js';
import { setupCommand } from './setup-command.js';

const USAGE = `usage: mpc-custody <command>
  demo                      math backend self-test, timing summary and worker pool run
  primes --fixture FILE     regenerate the committed test-prime fixture
  setup --dir DIR [--parties N] [--nats-port P]
                            NATS server config (TLS, nkeys, permissions), roster, and per-party
                            configs, identities and store keys for a party set on one machine
  party --config FILE       run one party daemon (JSON logs on stdout; SIGTERM drains)
  coord --config FILE keygen|aux|presign|sign …
                            drive the parties through the session coordinator (see coord --help)
  identity-seal --config FILE
                            move a party's identity keys from their file into its (HSM) store
  hsm-init --token LABEL --party N [--init-token] [--module PATH] [--key-label L]
                            create (or check) a party's non-extractable AES-256 sealing key in a
                            PKCS#11 token; PINs come from MPC_HSM_PIN / MPC_HSM_SO_PIN
  key-repair --config FILE --key ID [--delete]
                            what a stopped party holds for a key; --delete removes an unfinished
                            key (keygen output, no completed aux info, no presignatures)
  backup create|verify …    a party's key share split k-of-m among recovery custodians (X25519)
  recovery restore …        rebuild a party's share from k custodians' pieces into its store
  audit verify|export …     check the signed audit log (JSONL export or JetStream) / export it
  orchestrator --config FILE | operator keygen|register … | request create|show|wait …
                            the orchestrator's REST service and its client (JSON out)`;

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  const out = (line: string): void => console.log(line);
  const orchestrator = runOrchestratorCommand(command, rest, out, (line) => console.error(line));
  if (orchestrator !== undefined) return orchestrator;
  switch (command) {
    case 'demo':
      return demoCommand(out);
    case 'primes':
      return primesCommand(rest, out);
    case 'setup':
      return setupCommand(rest, out);
    case 'coord':
      return coordCommand(rest, out, (line) => console.error(line));
    case 'party':
      return partyCommand(rest, (line) => console.error(line));
    case 'identity-seal':
      return identitySealCommand(rest, out);
    case 'hsm-init':
      return hsmInitCommand(rest, out);
    case 'audit':
      return auditCommand(rest, out);
    case 'key-repair':
      return keyRepairCommand(rest, out);
    case 'backup':
    case 'recovery':
      return backupCommand(command, rest, out);
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
