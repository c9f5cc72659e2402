import { resolve } from 'node:path';
import Type from 'typebox';
import { defineCommand, EXIT } from './command.js';
import { PortFlag } from './flags.js';

export const setupCommand = defineCommand({
  name: 'setup',
  summary:
    'NATS server config (TLS, private CA, one nkey per party and the coordinator, permissions), roster, and per-party configs, identities and store keys for a party set on this machine',
  flags: Type.Object({
    dir: Type.String({ minLength: 1, metavar: 'DIR', description: 'directory to write (created)' }),
    parties: Type.Integer({ minimum: 2, maximum: 64, default: 3, description: 'number of parties' }),
    natsPort: PortFlag('nats-server client port', 4443),
    httpBasePort: PortFlag('party i serves health/metrics on this port + i (0: ephemeral)', 0),
  }),
  help: 'On one machine, for demos and tests: in production each party makes its own identity and store key on its own host and only public keys are exchanged.',
  async run(f, io) {
    const { setupPartySet } = await import('../daemon/setup.js');
    const r = await setupPartySet({
      dir: resolve(f.dir),
      parties: f.parties,
      natsPort: f.natsPort,
      httpBasePort: f.httpBasePort,
    });
    io.out(`setup: ${f.parties} parties in ${r.dir}`);
    io.out(`  nats-server -c ${r.nats.serverConfigFile}`);
    for (const c of r.partyConfigs) io.out(`  mpc-custody party --config ${c}`);
    io.out(`  coordinator: ${r.coordinatorConfig}`);
    io.out('  note: on one machine for demos and tests; in production each party makes its own identity');
    io.out('        and store key on its own host and only public keys are exchanged');
    return EXIT.ok;
  },
});
