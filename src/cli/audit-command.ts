import { readFile, writeFile } from 'node:fs/promises';
import { connect } from '@nats-io/transport-node';
import { type AuditReport, type AuditTrust, verifyAuditLog } from '../audit/index.js';
import { loadRoster } from '../daemon/config.js';
import { MpcError } from '../errors/index.js';
import { readAuditHeads, readAuditStream } from '../transport/audit-sink.js';

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
const USAGE = `usage:
  mpc-custody audit verify --roster FILE --deployment D (--from FILE.jsonl [--anchors FILE.jsonl] | --nats URL)
  mpc-custody audit export --roster FILE --deployment D --nats URL --out FILE.jsonl [--heads FILE.jsonl]`;

function flag(args: readonly string[], name: string): string | undefined {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const v = args[i + 1];
  if (v === undefined || v.startsWith('--')) throw new MpcError('ERR_CONFIG_INVALID', `${name} needs a value`);
  return v;
}

function need(args: readonly string[], name: string): string {
  const v = flag(args, name);
  if (v === undefined) throw new MpcError('ERR_CONFIG_INVALID', `${name} is required\n${USAGE}`);
  return v;
}

/** Emitter ids and keys from the roster: `party-{i}` for each party, `orchestrator` for the coordinator. */
export async function auditTrust(rosterFile: string, deployment: string): Promise<AuditTrust> {
  const roster = await loadRoster(rosterFile);
  const emitters = new Map<string, Uint8Array>(roster.parties.map((p, i) => [`party-${i}`, p.ed25519]));
  emitters.set('orchestrator', roster.coordinator);
  return { deployment, emitters };
}

const MAX_EXPORT_BYTES = 1 << 30;

async function readJsonl(file: string): Promise<string[]> {
  const text = await readFile(file, 'utf8');
  if (text.length > MAX_EXPORT_BYTES) throw new MpcError('ERR_CONFIG_INVALID', 'audit export larger than 1 GiB');
  return text.split('\n').filter((l) => l.length > 0);
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

export async function auditCommand(args: readonly string[], out: (line: string) => void): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== 'verify' && sub !== 'export') {
    out(USAGE);
    return sub === undefined || sub === '--help' ? 0 : 2;
  }
  const deployment = need(rest, '--deployment');
  const trust = await auditTrust(need(rest, '--roster'), deployment);
  const emitters = [...trust.emitters.keys()];
  const from = flag(rest, '--from');
  const url = flag(rest, '--nats');
  let lines: string[];
  let anchors: string[] = [];
  if (sub === 'verify' && from !== undefined) {
    lines = await readJsonl(from);
    const a = flag(rest, '--anchors');
    if (a !== undefined) anchors = await readJsonl(a);
  } else {
    if (url === undefined) throw new MpcError('ERR_CONFIG_INVALID', `--from or --nats is required\n${USAGE}`);
    const nc = await connect({ servers: url, maxReconnectAttempts: 3 });
    try {
      lines = await readAuditStream(nc, deployment);
      anchors = await readAuditHeads(nc, deployment, emitters);
    } finally {
      await nc.close();
    }
  }
  if (sub === 'export') {
    await writeFile(need(rest, '--out'), lines.map((l) => `${l}\n`).join(''), { mode: 0o640 });
    const heads = flag(rest, '--heads');
    if (heads !== undefined) await writeFile(heads, anchors.map((l) => `${l}\n`).join(''), { mode: 0o640 });
    out(JSON.stringify({ exported: lines.length, heads: anchors.length }));
    return 0;
  }
  const rep = verifyAuditLog(lines, { ...trust, anchors });
  out(JSON.stringify(auditSummary(rep)));
  return rep.ok ? 0 : 1;
}
