import { resolve } from 'node:path';
import Type from 'typebox';
import { MpcError } from '../errors/index.js';
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
    policy: Type.Union([Type.Literal('enforce'), Type.Literal('off')], {
      default: 'enforce',
      description:
        'enforce: an admin set (2 of 3), an initiator key, signed registry and policy; every party signs only what its policy allows. off: the parties sign what the coordinator asks (explicit opt-out, warned at every start)',
    }),
    audit: Type.Optional(
      Type.String({
        pattern: '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$',
        metavar: 'DEPLOYMENT',
        description:
          'audit log deployment id: JetStream on in the NATS config, every party ships its signed audit records to stream AUDIT_{DEPLOYMENT}',
      }),
    ),
  }),
  help: 'On one machine, for demos and tests: in production each party makes its own identity and store key on its own host and only public keys are exchanged.',
  async run(f, io) {
    const dir = resolve(f.dir);
    const { stat } = await import('node:fs/promises');
    const st = await stat(dir).catch(() => undefined);
    if (st !== undefined && !st.isDirectory()) {
      throw new MpcError('ERR_FILE_UNWRITABLE', `setup directory exists and is not a directory: ${f.dir}`, {
        details: { path: f.dir },
      });
    }
    const { setupPartySet } = await import('../daemon/setup.js');
    const r = await setupPartySet({
      dir,
      parties: f.parties,
      natsPort: f.natsPort,
      httpBasePort: f.httpBasePort,
      policy: f.policy,
      ...(f.audit === undefined ? {} : { audit: f.audit }),
    });
    io.out(`setup: ${f.parties} parties in ${r.dir}`);
    io.out(`  nats-server -c ${r.nats.serverConfigFile}`);
    for (const c of r.partyConfigs) io.out(`  mpc-custody party --config ${c}`);
    io.out(`  coordinator: ${r.coordinatorConfig}`);
    if (f.audit !== undefined) {
      io.out(
        `  audit: parties ship signed records to JetStream stream AUDIT_${f.audit} (the first party up creates it)`,
      );
      if (r.nats.auditor !== undefined) {
        io.out(
          `  mpc-custody audit verify --roster ${r.rosterFile} --deployment ${f.audit} --nats-config ${r.nats.auditor.configFile}`,
        );
      }
    }
    if (r.policy !== undefined) {
      io.out(`  policy: admin set ${r.policy.adminsFile}, admin keys ${r.policy.dir}/admin-*.key (0600)`);
      io.out(`  initiator operator key: ${r.policy.initiatorKey} (id ${r.policy.initiatorId}, 0600)`);
      io.out('  the parties refuse to sign until they hold the registry and the policy; once they run:');
      io.out(`  mpc-custody coord registry-push --config ${r.coordinatorConfig} --file ${r.policy.registryFile}`);
      io.out(`  mpc-custody coord policy-push --config ${r.coordinatorConfig} --file ${r.policy.policyFile}`);
    } else {
      io.out('  policy: OFF — the parties sign whatever the coordinator key asks (explicit opt-out)');
    }
    io.out('  note: on one machine for demos and tests; in production each party makes its own identity');
    io.out('        and store key on its own host and only public keys are exchanged');
    return EXIT.ok;
  },
});
