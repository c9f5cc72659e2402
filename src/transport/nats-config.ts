import { execFile } from 'node:child_process';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { nkeys } from '@nats-io/transport-node';
import { ID_PATTERN } from '../audit/index.js';
import { MpcError } from '../errors/index.js';
import { auditCreatorPermissions, auditorPermissions, mergePermissions } from './audit-permissions.js';
import { DEFAULT_LIMITS } from './frame.js';
import { COORDINATOR, coordinatorPermissions, partyPermissions } from './subjects.js';

/**
 * NATS security configuration for a party set (SECURITY.md A12, A28; ARCHITECTURE.md "NATS"):
 * - a private CA (EC P-256) and a server certificate for 127.0.0.1 / localhost (or `hosts`),
 *   generated with the `openssl` CLI; private keys are written 0600;
 * - one nkey user per party (and optionally a coordinator): the server config holds only public
 *   keys, each party gets its own seed file (0600) and a JSON party config;
 * - per-user permissions from `partyPermissions`: publish only with the own id as the sender
 *   token, subscribe only to the own P2P inbox plus broadcast/control;
 * - resource limits (issue 17 item 3). nats-server 2.9 has no per-user limit block in a config
 *   file (user limits exist only in JWT user claims; `authorization.users[]` refuses unknown fields),
 *   so the limits are set where 2.9 enforces them: `max_payload`, `max_subscriptions` (per
 *   connection) and `max_pending` (bytes buffered for one connection before the server cuts it as
 *   a slow consumer) apply to every connection, and every credential is one connection;
 *   `max_connections` bounds the connections of the whole server, so a leaked credential cannot
 *   open thousands.
 */

const run = promisify(execFile);

export interface NatsSecurityOptions {
  /** Output directory (created, mode 0700). */
  readonly dir: string;
  readonly parties: number;
  readonly port: number;
  readonly host?: string;
  /** Extra SANs (IP addresses or DNS names); 127.0.0.1 and localhost are always included. */
  readonly hosts?: readonly string[];
  readonly coordinator?: boolean;
  /** Server max_payload (default: the largest frame plus slack). */
  readonly maxPayload?: number;
  /** Subscriptions one connection may hold (default DEFAULT_MAX_SUBSCRIPTIONS). */
  readonly maxSubscriptions?: number;
  /** Bytes the server buffers for one connection before cutting it (default DEFAULT_MAX_PENDING). */
  readonly maxPending?: number;
  /** Client connections the server accepts in all (default: 4 per credential, at least 16). */
  readonly maxConnections?: number;
  readonly days?: number;
  readonly openssl?: string;
  /**
   * The audit log (issue 15): JetStream on (file store under `dir`/jetstream) and each party may
   * publish its own audit subject and create the deployment's stream (audit-permissions.ts); an
   * `auditor` user (auditor.nk + auditor.json) may only read that stream (`auditorPermissions`).
   */
  readonly audit?: { readonly deployment: string };
}

export interface PartyNatsConfig {
  readonly party: number | typeof COORDINATOR;
  readonly servers: readonly string[];
  readonly caFile: string;
  readonly nkeySeedFile: string;
  readonly nkeyPublic: string;
  /** The JSON file holding this object (without secrets: the seed stays in its own file). */
  readonly configFile: string;
}

/** The auditor's credential (`audit verify|export --nats-config`): reads one deployment's stream. */
export interface AuditorNatsConfig {
  readonly auditor: string;
  readonly servers: readonly string[];
  readonly caFile: string;
  readonly nkeySeedFile: string;
  readonly nkeyPublic: string;
  readonly configFile: string;
}

export interface NatsSecurityBundle {
  readonly dir: string;
  readonly port: number;
  readonly serverConfigFile: string;
  readonly caCertFile: string;
  readonly serverCertFile: string;
  readonly serverKeyFile: string;
  readonly parties: readonly PartyNatsConfig[];
  readonly coordinator?: PartyNatsConfig;
  /** With `audit`: the read-only auditor credential. */
  readonly auditor?: AuditorNatsConfig;
}

interface UserEntry {
  nkey: string;
  permissions: ReturnType<typeof partyPermissions>;
}

/** A party holds three subscriptions per running session plus its command subscription. */
export const DEFAULT_MAX_SUBSCRIPTIONS = 512;
/** Per-connection server buffer (the server's own default, stated): sixteen of the largest frames. */
export const DEFAULT_MAX_PENDING = 64 << 20;

/** The server configuration object (NATS conf accepts JSON). Pure: used by the generator and tests. */
export function renderServerConfig(o: {
  host: string;
  port: number;
  maxPayload: number;
  maxSubscriptions?: number;
  maxPending?: number;
  maxConnections?: number;
  certFile: string;
  keyFile: string;
  users: readonly UserEntry[];
  /** JetStream file store directory (the audit stream); absent: no JetStream. */
  jetstreamDir?: string;
}): string {
  const conf = {
    host: o.host,
    port: o.port,
    max_payload: o.maxPayload,
    max_subscriptions: o.maxSubscriptions ?? DEFAULT_MAX_SUBSCRIPTIONS,
    max_pending: o.maxPending ?? DEFAULT_MAX_PENDING,
    max_connections: o.maxConnections ?? Math.max(16, 4 * o.users.length),
    tls: { cert_file: o.certFile, key_file: o.keyFile, timeout: 2 },
    authorization: { users: o.users },
    ...(o.jetstreamDir === undefined ? {} : { jetstream: { store_dir: o.jetstreamDir } }),
    // no monitoring endpoint, no leafnodes/cluster/gateway, no anonymous user
  };
  return `${JSON.stringify(conf, null, 2)}\n`;
}

async function openssl(bin: string, args: string[], cwd: string): Promise<void> {
  try {
    await run(bin, args, { cwd, timeout: 30_000 });
  } catch (e) {
    const err = e as { code?: unknown; stderr?: unknown };
    throw new MpcError('ERR_TRANSPORT_SETUP_FAILED', `openssl ${args[0]} failed`, {
      details: { step: String(args[0]), exit: String(err.code ?? 'unknown') },
    });
  }
}

function validate(o: NatsSecurityOptions): void {
  if (!Number.isInteger(o.parties) || o.parties < 1 || o.parties > 1000) {
    throw new MpcError('ERR_TRANSPORT_ARGS', 'parties must be an integer in 1..1000');
  }
  if (!Number.isInteger(o.port) || o.port < 1 || o.port > 65535) {
    throw new MpcError('ERR_TRANSPORT_ARGS', 'port must be an integer in 1..65535');
  }
  for (const h of [o.host ?? '127.0.0.1', ...(o.hosts ?? [])]) {
    if (!/^[A-Za-z0-9.:-]{1,253}$/.test(h)) throw new MpcError('ERR_TRANSPORT_ARGS', 'invalid host name');
  }
  const limit = (v: number | undefined, name: string, max: number) => {
    if (v !== undefined && (!Number.isInteger(v) || v < 1 || v > max)) {
      throw new MpcError('ERR_TRANSPORT_ARGS', `${name} must be an integer in 1..${max}`);
    }
  };
  limit(o.maxPayload, 'maxPayload', 64 << 20); // the server's own ceiling
  limit(o.maxSubscriptions, 'maxSubscriptions', 1 << 20);
  limit(o.maxPending, 'maxPending', 2 ** 31 - 1);
  limit(o.maxConnections, 'maxConnections', 1 << 20);
  if (o.audit !== undefined && !new RegExp(ID_PATTERN).test(o.audit.deployment)) {
    throw new MpcError('ERR_TRANSPORT_ARGS', 'audit deployment must match [A-Za-z0-9][A-Za-z0-9_-]{0,63}');
  }
  if ((o.maxPending ?? DEFAULT_MAX_PENDING) < (o.maxPayload ?? 0)) {
    throw new MpcError('ERR_TRANSPORT_ARGS', 'maxPending must be at least maxPayload');
  }
}

const isIp = (h: string) => /^[0-9.]+$/.test(h) || h.includes(':');

export async function generateNatsSecurity(o: NatsSecurityOptions): Promise<NatsSecurityBundle> {
  validate(o);
  const bin = o.openssl ?? 'openssl';
  const host = o.host ?? '127.0.0.1';
  const days = String(o.days ?? 825);
  const dir = o.dir;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const p = (f: string) => join(dir, f);

  // --- PKI --------------------------------------------------------------------------------------
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  await openssl(
    bin,
    ['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', days, '-subj', '/CN=mpc-custody NATS CA'],
    dir,
  );
  const sans = new Set(['127.0.0.1', 'localhost', host, ...(o.hosts ?? [])]);
  const san = [...sans].map((h) => (isIp(h) ? `IP:${h}` : `DNS:${h}`)).join(',');
  await writeFile(
    p('server.ext'),
    `basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=${san}\n`,
  );
  await openssl(
    bin,
    ['req', '-new', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost'],
    dir,
  );
  await openssl(
    bin,
    [
      'x509',
      '-req',
      '-in',
      'server.csr',
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      'server.crt',
      '-days',
      days,
      '-extfile',
      'server.ext',
    ],
    dir,
  );
  await chmod(p('ca.key'), 0o600);
  await chmod(p('server.key'), 0o600);
  await rm(p('server.csr'), { force: true });

  // --- users ------------------------------------------------------------------------------------
  const servers = [`tls://${host.includes(':') ? `[${host}]` : host}:${o.port}`];
  const users: UserEntry[] = [];
  /** One nkey user: seed file (0600) and a JSON config naming it; the server config gets the public key. */
  const writeUser = async <T extends object>(
    name: string,
    who: T,
    perms: UserEntry['permissions'],
  ): Promise<T & Omit<PartyNatsConfig, 'party'>> => {
    const kp = nkeys.createUser();
    const seed = kp.getSeed();
    const nkeyPublic = kp.getPublicKey();
    const nkeySeedFile = p(`${name}.nk`);
    try {
      await writeFile(nkeySeedFile, seed, { mode: 0o600 });
    } finally {
      seed.fill(0);
      kp.clear();
    }
    const configFile = p(`${name}.json`);
    const cfg = { ...who, servers, caFile: p('ca.crt'), nkeySeedFile, nkeyPublic, configFile };
    await writeFile(configFile, `${JSON.stringify(cfg, null, 2)}\n`, { mode: 0o600 });
    users.push({ nkey: nkeyPublic, permissions: perms });
    return cfg;
  };
  const parties: PartyNatsConfig[] = [];
  const audit = o.audit;
  const permsOf = (i: number) =>
    audit === undefined
      ? partyPermissions(i)
      : mergePermissions(partyPermissions(i), auditCreatorPermissions(audit.deployment, `party-${i}`));
  for (let i = 0; i < o.parties; i++) parties.push(await writeUser(`party-${i}`, { party: i }, permsOf(i)));
  const coordinator = o.coordinator
    ? await writeUser(
        'coordinator',
        { party: COORDINATOR } as const,
        audit === undefined
          ? coordinatorPermissions()
          : // the orchestrator's own audit subject (emitter `orchestrator`), and reading the stream (GET /v1/audit)
            mergePermissions(
              coordinatorPermissions(),
              auditCreatorPermissions(audit.deployment, 'orchestrator'),
              auditorPermissions(audit.deployment),
            ),
      )
    : undefined;
  const auditor =
    audit === undefined
      ? undefined
      : await writeUser('auditor', { auditor: audit.deployment }, auditorPermissions(audit.deployment));

  const serverConfigFile = p('nats-server.conf');
  const maxFrame = Math.max(DEFAULT_LIMITS.maxFrameBytes.p2p, DEFAULT_LIMITS.maxFrameBytes.broadcast);
  await writeFile(
    serverConfigFile,
    renderServerConfig({
      host,
      port: o.port,
      maxPayload: o.maxPayload ?? maxFrame + 64 * 1024,
      ...(o.maxSubscriptions !== undefined ? { maxSubscriptions: o.maxSubscriptions } : {}),
      ...(o.maxPending !== undefined ? { maxPending: o.maxPending } : {}),
      ...(o.maxConnections !== undefined ? { maxConnections: o.maxConnections } : {}),
      certFile: p('server.crt'),
      keyFile: p('server.key'),
      users,
      ...(audit === undefined ? {} : { jetstreamDir: p('jetstream') }),
    }),
    { mode: 0o600 },
  );
  return {
    dir,
    port: o.port,
    serverConfigFile,
    caCertFile: p('ca.crt'),
    serverCertFile: p('server.crt'),
    serverKeyFile: p('server.key'),
    parties,
    ...(coordinator ? { coordinator } : {}),
    ...(auditor ? { auditor } : {}),
  };
}
