import { writeFile } from 'node:fs/promises';
import Type from 'typebox';
import type { AuditReport, AuditTrust } from '../audit/index.js';
import { MpcError } from '../errors/index.js';
import { fileError, readInputFile } from './boundary.js';
import { type CommandGroup, defineCommand, EXIT, runCli, usageError } from './command.js';
import { FileFlag } from './flags.js';

/**
 * `mpc-custody audit verify|export` (issue 15): reads the deployment's audit log from a JSONL
 * export or from the JetStream stream, checks every chain, signature and checkpoint against the
 * roster's keys (emitters `party-{i}` and `orchestrator`, the coordinator's key), and prints one
 * JSON summary line; a break exits 1 and names the record.
 *
 *   audit verify --roster FILE --deployment D (--from FILE.jsonl [--anchors FILE.jsonl] | --nats URL)
 *   audit export --roster FILE --deployment D --nats URL --out FILE.jsonl [--heads FILE.jsonl]
 *
 * `--anchors` holds records kept from an earlier read (e.g. the `--heads` of an export, or saved
 * checkpoints): a log that ends before one of them has lost its tail. With `--nats` the stream's
 * last message per emitter is the anchor. (The auditor's TLS credential is not wired yet: `--nats`
 * takes a URL.)
 */

/** Emitter ids and keys from the roster: `party-{i}` for each party, `orchestrator` for the coordinator. */
export async function auditTrust(rosterFile: string, deployment: string): Promise<AuditTrust> {
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
  f: { from?: string; anchors?: string; nats?: string },
  deployment: string,
  emitters: readonly string[],
): Promise<{ lines: string[]; anchors: string[] }> {
  if (f.from !== undefined) {
    return {
      lines: await readJsonl(f.from, 'audit export'),
      anchors: f.anchors ? await readJsonl(f.anchors, 'anchors file') : [],
    };
  }
  const { connect } = await import('@nats-io/transport-node');
  const { readAuditHeads, readAuditStream } = await import('../transport/audit-sink.js');
  const nc = await connect({ servers: f.nats, maxReconnectAttempts: 3 }).catch((e: unknown) => {
    throw new MpcError('ERR_TRANSPORT_CONNECT', `cannot connect to NATS at ${f.nats}`, {
      details: { reason: e instanceof Error ? e.name : 'unknown' },
    });
  });
  try {
    return { lines: await readAuditStream(nc, deployment), anchors: await readAuditHeads(nc, deployment, emitters) };
  } finally {
    await nc.close();
  }
}

const NatsUrl = Type.String({
  pattern: '^(nats|tls|wss?)://',
  metavar: 'URL',
  description: 'nats:// URL of the stream',
});

export const auditVerify = defineCommand({
  name: 'audit verify',
  summary: 'check every audit chain, signature and checkpoint; one JSON summary line, exit 1 naming the first break',
  flags: Type.Object({
    ...commonFlags,
    from: Type.Optional(FileFlag('JSONL export to check')),
    anchors: Type.Optional(FileFlag('records kept from an earlier read: a log ending before one lost its tail')),
    nats: Type.Optional(NatsUrl),
  }),
  help: 'Give --from (a JSONL export) or --nats (the stream; its last message per emitter is the anchor).',
  async run(f, io) {
    if ((f.from === undefined) === (f.nats === undefined))
      throw usageError('give exactly one of --from and --nats', '--from');
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
    nats: NatsUrl,
    out: FileFlag('JSONL file to write'),
    heads: Type.Optional(FileFlag('JSONL file for the last record of each emitter')),
  }),
  async run(f, io) {
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
