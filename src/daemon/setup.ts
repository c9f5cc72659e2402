import { mkdir, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { MpcError } from '../errors/index.js';
import { createKeyFile } from '../storage/software-sealer.js';
import { generatePartyKeys } from '../transport/frame.js';
import { generateNatsSecurity, type NatsSecurityBundle } from '../transport/nats-config.js';
import { encodeIdentity, encodeRoster } from './config.js';
import { type PolicyDeployment, writePolicyDeployment } from './setup-policy.js';

/**
 * `mpc-custody setup`: everything a party set needs on one machine (a demo, a test, or the template
 * an operator splits across hosts):
 *
 *   <dir>/nats/            nats-server.conf, private CA, server cert, one nkey + JSON per party and
 *                          for the coordinator (permissions: publish only as oneself)
 *   <dir>/roster.json      every party's Ed25519 + X25519 public keys and the coordinator's key
 *   <dir>/party-<i>/       config.json, identity.key (0600), store.key (0600) — the data directory
 *   <dir>/coordinator/     coordinator.json, coordinator.key (0600)
 *   (audit)                with `audit: DEPLOYMENT`: JetStream in the NATS server, each party ships its
 *                          signed audit records to stream AUDIT_{DEPLOYMENT} (party-audit.ts);
 *                          nats/auditor.json + auditor.nk (0600): the read-only auditor credential
 *                          for `audit verify|export --nats-config`
 *   <dir>/policy/          (policy "enforce", the default) admin set, admin and initiator keys
 *                          (0600), signed registry and policy v1 (setup-policy.ts); every party
 *                          enforces with that admin set. `policy: "off"` writes the explicit
 *                          opt-out instead (the parties sign what the coordinator asks, and warn).
 *
 * In a real deployment each party generates its own identity and store key on its own host and
 * only public keys travel; this command is the single-machine shortcut and says so in its output.
 */

export interface SetupOptions {
  readonly dir: string;
  readonly parties: number;
  readonly natsPort: number;
  /** First party's health/metrics port; party i uses base + i (0: ephemeral ports). */
  readonly httpBasePort?: number;
  readonly math?: 'auto' | 'native' | 'wasm' | 'js';
  readonly roundTimeoutMs?: number;
  /** `enforce` (default): an admin set, keys and signed documents; `off`: the explicit opt-out. */
  readonly policy?: 'enforce' | 'off';
  /**
   * Audit log deployment id (issue 15): JetStream on in the NATS server config, each party's config
   * gets `"audit": {"deployment", "createStream": true}` and may publish its own audit subject and
   * create the stream. Absent: no audit.
   */
  readonly audit?: string;
}

export interface SetupResult {
  readonly dir: string;
  readonly nats: NatsSecurityBundle;
  readonly rosterFile: string;
  readonly partyConfigs: readonly string[];
  readonly coordinatorConfig: string;
  /** The policy deployment (absent with `policy: "off"`). */
  readonly policy?: PolicyDeployment;
}

/** Coordinator config: roster, secret key file, NATS credentials (paths relative to the file). */
export interface CoordinatorConfigFile {
  readonly roster: string;
  readonly secretFile: string;
  readonly nats: string;
  readonly roundTimeoutMs: number;
}

export async function setupPartySet(o: SetupOptions): Promise<SetupResult> {
  if (!Number.isInteger(o.parties) || o.parties < 2 || o.parties > 64) {
    throw new MpcError('ERR_CONFIG_INVALID', 'parties must be an integer in 2..64');
  }
  await mkdir(o.dir, { recursive: true, mode: 0o700 });
  const nats = await generateNatsSecurity({
    dir: join(o.dir, 'nats'),
    parties: o.parties,
    port: o.natsPort,
    coordinator: true,
    ...(o.audit === undefined ? {} : { audit: { deployment: o.audit } }),
  });
  const identities = Array.from({ length: o.parties }, () => generatePartyKeys());
  const coordinatorSecret = ed25519.utils.randomSecretKey();
  const rosterFile = join(o.dir, 'roster.json');
  await writeFile(
    rosterFile,
    encodeRoster({ parties: identities.map((k) => k.public), coordinator: ed25519.getPublicKey(coordinatorSecret) }),
  );
  const enforce = (o.policy ?? 'enforce') === 'enforce';
  const deployment = enforce ? await writePolicyDeployment(o.dir) : undefined;
  const partyConfigs: string[] = [];
  for (const [i, id] of identities.entries()) {
    const pdir = join(o.dir, `party-${i}`);
    await mkdir(pdir, { recursive: true, mode: 0o700 });
    await writeFile(join(pdir, 'identity.key'), encodeIdentity(id.secret), { mode: 0o600 });
    id.secret.ed25519Secret.fill(0);
    id.secret.x25519Secret.fill(0);
    await createKeyFile(join(pdir, 'store.key'));
    const natsCfg = nats.parties[i];
    if (natsCfg === undefined) throw new MpcError('ERR_CONFIG_INVALID', 'NATS config missing a party');
    const config = {
      party: i,
      roster: relative(pdir, rosterFile),
      identityFile: 'identity.key',
      nats: relative(pdir, natsCfg.configFile),
      dataDir: '.',
      store: { kind: 'file', keyFile: 'store.key' },
      http: { host: '127.0.0.1', port: o.httpBasePort === undefined || o.httpBasePort === 0 ? 0 : o.httpBasePort + i },
      math: o.math ?? 'auto',
      logLevel: 'info',
      readyTimeoutMs: 60_000,
      primes: { target: 2, workers: 1 },
      // the trust root (policy-config.ts), or the explicit opt-out: the party then warns at every start
      policy: deployment ? { mode: 'enforce', admins: relative(pdir, deployment.adminsFile) } : { mode: 'off' },
      // signed audit records shipped to JetStream; single machine: the first party up creates the stream
      ...(o.audit === undefined ? {} : { audit: { deployment: o.audit, createStream: true } }),
    };
    const file = join(pdir, 'config.json');
    await writeFile(file, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
    partyConfigs.push(file);
  }
  const cdir = join(o.dir, 'coordinator');
  await mkdir(cdir, { recursive: true, mode: 0o700 });
  await writeFile(join(cdir, 'coordinator.key'), `${bytesToHex(coordinatorSecret)}\n`, { mode: 0o600 });
  coordinatorSecret.fill(0);
  const coord = nats.coordinator;
  if (coord === undefined) throw new MpcError('ERR_CONFIG_INVALID', 'NATS config missing the coordinator');
  const coordinatorConfig = join(cdir, 'coordinator.json');
  const cc: CoordinatorConfigFile = {
    roster: relative(cdir, rosterFile),
    secretFile: 'coordinator.key',
    nats: relative(cdir, coord.configFile),
    roundTimeoutMs: o.roundTimeoutMs ?? 60_000,
  };
  await writeFile(coordinatorConfig, `${JSON.stringify(cc, null, 2)}\n`, { mode: 0o600 });
  return {
    dir: o.dir,
    nats,
    rosterFile,
    partyConfigs,
    coordinatorConfig,
    ...(deployment ? { policy: deployment } : {}),
  };
}
