import { writeFile } from 'node:fs/promises';
import type { NatsConnection } from '@nats-io/transport-node';
import Type from 'typebox';
import type { AuditReport, AuditTrust } from '../audit/index.js';
import { MpcError } from '../errors/index.js';
import { assertReadableFile, assertWritableFile, fileError, nameFile, readInputFile } from './boundary.js';
import { type CommandGroup, defineCommand, EXIT, runCli, usageError } from './command.js';
import { FileFlag } from './flags.js';

/**
 * `mpc-custody audit verify|export` (issue 15): reads the deployment's audit log from a JSONL
 * export or from the JetStream stream, checks every chain, signature and checkpoint against the
 * roster's keys (emitters `party-{i}` and `orchestrator`, the coordinator's key), and prints one
 * JSON summary line; a break exits 1 and names the record.
 *
 *   audit verify --roster FILE --deployment D (--from FILE.jsonl [--anchors FILE.jsonl] | --nats URL | --nats-config FILE)
 *   audit export --roster FILE --deployment D (--nats URL | --nats-config FILE) --out FILE.jsonl [--heads FILE.jsonl]
 *
 * `--anchors` holds records kept from an earlier read (e.g. the `--heads` of an export, or saved
 * checkpoints): a log that ends before one of them has lost its tail. With `--nats` the stream's
 * last message per emitter is the anchor. `--nats-config` is the auditor's credential that
 * `setup --audit` writes (nats/auditor.json: servers, CA, nkey seed file; read-only on the stream);
 * `--nats URL` connects without credentials (a server without TLS/auth, e.g. tests).
 */

/** Emitter ids and keys from the roster: `party-{i}` for each party, `orchestrator` for the coordinator. */
export async function auditTrust(rosterFile: string, deployment: string): Promise<AuditTrust> {
  await assertReadableFile(rosterFile, 'roster');
  const { loadRoster } = await import('../daemon/config.js');
  const roster = await loadRoster(rosterFile);
  const emitters = new Map<string, Uint8Array>(roster.parties.map((p, i) => [`party-${i}`, p.ed25519]));
  emitters.set('orchestrator', roster.coordinator);
  return { deployment, emitters };
}

const MAX_EXPORT_BYTES = 1 << 30;

async function readJsonl(file: string, what: string): Promise<string[]> {
  const bytes = await readInputFile(file, what);
  if (bytes.length > MAX_EXPORT_BYTES) {
    throw new MpcError('ERR_INPUT_INVALID', `${what} is larger than 1 GiB`, { details: { path: file } });
  }
  return new TextDecoder()
    .decode(bytes)
    .split('\n')
    .filter((l) => l.length > 0);
}

/** The summary line: counts per emitter and per event type, and the first break if any. */
export function auditSummary(rep: AuditReport): Record<string, unknown> {
  const total = (type: string) =>
    Object.values(rep.emitters).reduce((n, e) => n + ((e.events as Record<string, number>)[type] ?? 0), 0);
  const consumedPerEmitter = Object.fromEntries(
    Object.entries(rep.emitters).map(([id, e]) => [id, e.events['presignature.consumed'] ?? 0]),
  );
  return {
    ok: rep.ok,
    records: rep.records,
    emitters: Object.fromEntries(
      Object.entries(rep.emitters).map(([id, e]) => [id, { records: e.records, lastCheckpoint: e.lastCheckpoint }]),
    ),
    requests: total('request.received'),
    approvals: total('request.approved'),
    signatures: total('request.signed'),
    presignaturesConsumed: consumedPerEmitter,
    ...(rep.firstBreak === undefined ? {} : { break: rep.firstBreak }),
  };
}

const commonFlags = {
  roster: FileFlag('roster (its keys identify the emitters)'),
  deployment: Type.String({ minLength: 1, maxLength: 64, metavar: 'D', description: 'deployment id' }),
};

/** Reads the log and the anchors from a JSONL export or from the stream. */
async function readLog(
  f: { from?: string; anchors?: string; nats?: string; natsConfig?: string },
  deployment: string,
  emitters: readonly string[],
): Promise<{ lines: string[]; anchors: string[] }> {
  if (f.from !== undefined) {
    return {
      lines: await readJsonl(f.from, 'audit export'),
      anchors: f.anchors ? await readJsonl(f.anchors, 'anchors file') : [],
    };
  }
  const nc = f.natsConfig !== undefined ? await connectAuditor(f.natsConfig, deployment) : await connectUrl(f.nats);
  try {
    const { readAuditHeads, readAuditStream } = await import('../transport/audit-sink.js');
    return { lines: await readAuditStream(nc, deployment), anchors: await readAuditHeads(nc, deployment, emitters) };
  } finally {
    await nc.close();
  }
}

async function connectUrl(url: string | undefined): Promise<NatsConnection> {
  const { connect } = await import('@nats-io/transport-node');
  return connect({ servers: url, maxReconnectAttempts: 3 }).catch((e: unknown) => {
    const at = String(url).replace(/\/\/[^@/]*@/, '//'); // never a user:password part
    throw new MpcError('ERR_TRANSPORT_CONNECT', `cannot connect to NATS at ${at}`, {
      details: { reason: e instanceof Error ? e.name : 'unknown' },
    });
  });
}

/** TLS + the auditor's nkey; its config names the deployment it may read. */
async function connectAuditor(file: string, deployment: string): Promise<NatsConnection> {
  await assertReadableFile(file, 'auditor NATS config');
  const { connectNats, loadAuditorNatsConfig } = await import('../transport/nats.js');
  const s = await loadAuditorNatsConfig(file).catch((e: unknown) => {
    throw nameFile(e, file);
  });
  if (s.deployment !== deployment) {
    s.nkeySeed.fill(0);
    throw new MpcError('ERR_CONFIG_INVALID', `the auditor config is for deployment ${s.deployment}`, {
      details: { path: file },
    });
  }
  try {
    return await connectNats({ ...s, name: 'auditor' });
  } finally {
    s.nkeySeed.fill(0); // connectNats keeps its own copy
  }
}

/** Reads the deployment's stream with the auditor's credential and verifies it (the demo's check). */
export async function verifyAuditStream(o: {
  roster: string;
  deployment: string;
  natsConfig: string;
}): Promise<AuditReport> {
  const trust = await auditTrust(o.roster, o.deployment);
  const { lines, anchors } = await readLog({ natsConfig: o.natsConfig }, o.deployment, [...trust.emitters.keys()]);
  const { verifyAuditLog } = await import('../audit/index.js');
  return verifyAuditLog(lines, { ...trust, anchors });
}

const NatsUrl = Type.String({
  pattern: '^(nats|tls|wss?)://',
  metavar: 'URL',
  description: 'nats:// URL of the stream (no credentials)',
});
const NatsConfig = FileFlag('the auditor NATS config (setup --audit: nats/auditor.json; TLS + nkey)');
const oneSource = (f: { from?: string; nats?: string; natsConfig?: string }, withFrom: boolean) => {
  const given = [f.from, f.nats, f.natsConfig].filter((x) => x !== undefined).length;
  if (given !== 1) {
    throw usageError(`give exactly one of ${withFrom ? '--from, ' : ''}--nats and --nats-config`, '--nats');
  }
};

export const auditVerify = defineCommand({
  name: 'audit verify',
  summary: 'check every audit chain, signature and checkpoint; one JSON summary line, exit 1 naming the first break',
  flags: Type.Object({
    ...commonFlags,
    from: Type.Optional(FileFlag('JSONL export to check')),
    anchors: Type.Optional(FileFlag('records kept from an earlier read: a log ending before one lost its tail')),
    nats: Type.Optional(NatsUrl),
    natsConfig: Type.Optional(NatsConfig),
  }),
  help: 'Give --from (a JSONL export), or --nats-config / --nats (the stream; its last message per emitter is the anchor).',
  async run(f, io) {
    oneSource(f, true);
    if (f.anchors !== undefined && f.from === undefined) throw usageError('--anchors goes with --from', '--anchors');
    const trust = await auditTrust(f.roster, f.deployment);
    const { lines, anchors } = await readLog(f, f.deployment, [...trust.emitters.keys()]);
    const { verifyAuditLog } = await import('../audit/index.js');
    const rep = verifyAuditLog(lines, { ...trust, anchors });
    io.out(JSON.stringify(auditSummary(rep)));
    return rep.ok ? EXIT.ok : EXIT.failed;
  },
});

export const auditExport = defineCommand({
  name: 'audit export',
  summary: 'write the audit stream (and the heads of each emitter) to JSONL files',
  flags: Type.Object({
    ...commonFlags,
    nats: Type.Optional(NatsUrl),
    natsConfig: Type.Optional(NatsConfig),
    out: FileFlag('JSONL file to write'),
    heads: Type.Optional(FileFlag('JSONL file for the last record of each emitter')),
  }),
  async run(f, io) {
    oneSource(f, false);
    await assertWritableFile(f.out, 'export file');
    if (f.heads !== undefined) await assertWritableFile(f.heads, 'heads file');
    const trust = await auditTrust(f.roster, f.deployment);
    const { lines, anchors } = await readLog(f, f.deployment, [...trust.emitters.keys()]);
    await writeFile(f.out, lines.map((l) => `${l}\n`).join(''), { mode: 0o640 }).catch((e: unknown) => {
      throw fileError(e, f.out, 'export file');
    });
    if (f.heads !== undefined) {
      const heads = f.heads;
      await writeFile(heads, anchors.map((l) => `${l}\n`).join(''), { mode: 0o640 }).catch((e: unknown) => {
        throw fileError(e, heads, 'heads file');
      });
    }
    io.out(JSON.stringify({ exported: lines.length, heads: anchors.length }));
    return EXIT.ok;
  },
});

export const auditGroup: CommandGroup = {
  name: 'audit',
  summary: 'check the signed audit log (JSONL export or JetStream) / export it',
  commands: [auditVerify, auditExport],
};

/** `audit verify|export …` with output and error line on one stream (tests holding argv). */
export const auditCommand = (args: readonly string[], out: (line: string) => void): Promise<number> =>
  runCli([auditGroup], ['audit', ...args], { out, err: out });
