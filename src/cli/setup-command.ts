import { resolve } from 'node:path';
import { setupPartySet } from '../daemon/setup.js';
import { isMpcError } from '../errors/index.js';

const USAGE =
  'usage: mpc-custody setup --dir DIR [--parties N] [--nats-port P] [--http-base-port P]\n' +
  '  writes a NATS server config (TLS, private CA, one nkey per party + coordinator, permissions),\n' +
  '  the roster, and per-party configs, identities and store keys for a party set on this machine';

function flag(args: readonly string[], name: string): string | undefined {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : undefined;
}

export async function setupCommand(args: readonly string[], out: (line: string) => void): Promise<number> {
  const dir = flag(args, '--dir');
  const parties = Number(flag(args, '--parties') ?? 3);
  const natsPort = Number(flag(args, '--nats-port') ?? 4443);
  const httpBase = Number(flag(args, '--http-base-port') ?? 0);
  if (dir === undefined || !Number.isInteger(parties) || !Number.isInteger(natsPort) || !Number.isInteger(httpBase)) {
    out(USAGE);
    return 2;
  }
  try {
    const r = await setupPartySet({ dir: resolve(dir), parties, natsPort, httpBasePort: httpBase });
    out(`setup: ${parties} parties in ${r.dir}`);
    out(`  nats-server -c ${r.nats.serverConfigFile}`);
    for (const c of r.partyConfigs) out(`  mpc-custody party --config ${c}`);
    out(`  coordinator: ${r.coordinatorConfig}`);
    out('  note: on one machine for demos and tests; in production each party makes its own identity');
    out('        and store key on its own host and only public keys are exchanged');
    return 0;
  } catch (e) {
    out(`setup: ${isMpcError(e) ? `${e.code}: ${e.message}` : 'failed'}`);
    return 1;
  }
}
