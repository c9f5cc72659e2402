/**
 * The audit verifier (pure): reads a sequence of stored records in any interleaving of emitters
 * and checks, record by record, the format, the deployment, the emitter's signature (key from the
 * roster), the emitter's sequence and hash chain, and every checkpoint; then that each anchor (a
 * signed checkpoint or head kept elsewhere: an earlier export, the JetStream stream's last
 * message per subject) is reached with the same hash. It stops at the first break and names it.
 *
 * Then the cross-checks between emitters (issue 15): every signature the orchestrator recorded
 * (`request.signed`) follows, in its own chain, the request's `request.received`, and its latest
 * `request.evaluated` allows it; a request that once needed approvals has at least one
 * `request.approved`; and each signer's chain (`party-<i>`) holds the `presignature.consumed`
 * record of that presignature, for the same digest. The parties ship their records on their own
 * schedule: verify a settled log (after the parties shipped, e.g. stopped or caught up).
 */

import { isMpcError } from '../errors/index.js';
import { GENESIS_HASH, type ParsedRecord, parseRecord, type StoredRecord, verifyRecordSignature } from './record.js';
import type { AuditEventType } from './schema.js';

export type AuditBreakKind =
  | 'malformed' // not a record of format v1 (size, JSON, schema)
  | 'foreign_deployment' // a record of another deployment (replayed here)
  | 'unknown_emitter' // an emitter the roster does not know
  | 'bad_signature' // content modified, or signed by nobody the roster knows
  | 'signed_by_other_emitter' // a valid signature, by another emitter's key (forgery)
  | 'missing_record' // a sequence number skipped: a record was deleted
  | 'reordered' // a record appears before one of its predecessors
  | 'duplicate' // a sequence number seen twice
  | 'chain_break' // prev does not hash the previous record (a fork or a substitution)
  | 'checkpoint_mismatch' // a checkpoint (or anchor) disagrees with the chain
  | 'truncated' // the log ends before an anchor: its tail was removed
  | 'presignature_reused' // a party consumed one presignature twice (two consume records)
  | 'unbacked_signature'; // the orchestrator signed without a request, an allowing decision, approvals or a consume at a signer

export interface AuditBreak {
  readonly kind: AuditBreakKind;
  /** Index (0-based) of the offending record in the input; the input length for a truncation. */
  readonly index: number;
  readonly emitter?: string;
  readonly seq?: number;
  readonly message: string;
}

export interface EmitterSummary {
  readonly records: number;
  readonly head: { readonly seq: number; readonly hash: string };
  readonly lastCheckpoint: number | null;
  readonly events: Partial<Record<AuditEventType, number>>;
}

export interface AuditReport {
  readonly ok: boolean;
  readonly records: number;
  readonly firstBreak?: AuditBreak;
  /** Per emitter, over the records read before the first break. */
  readonly emitters: Readonly<Record<string, EmitterSummary>>;
}

export interface AuditTrust {
  readonly deployment: string;
  /** Emitter id → Ed25519 public key (32 bytes), from the roster. */
  readonly emitters: ReadonlyMap<string, Uint8Array>;
  /** Records known to belong to the log (checkpoints kept by the auditor, stream heads). */
  readonly anchors?: readonly (string | StoredRecord)[];
  /** The cross-checks between the orchestrator's and the parties' records (default true). */
  readonly crossCheck?: boolean;
}

/** The party emitter id of roster index i (as the party daemons write it). */
const partyEmitter = (i: number) => `party-${i}`;

interface ChainState {
  seq: number;
  hash: string;
  lastCheckpoint: number | null;
  events: Partial<Record<AuditEventType, number>>;
}

interface Anchor {
  readonly emitter: string;
  readonly seq: number;
  readonly hash: string;
}

const describe = (e: unknown) => (isMpcError(e) ? e.message : 'unreadable record');

/** Verifies `records` (objects or JSONL lines) against `trust`; never throws on bad input. */
export function verifyAuditLog(records: readonly (string | StoredRecord)[], trust: AuditTrust): AuditReport {
  const chains = new Map<string, ChainState>();
  const summary = (): Record<string, EmitterSummary> =>
    Object.fromEntries(
      [...chains].map(([id, c]) => [
        id,
        {
          records: c.seq,
          head: { seq: c.seq, hash: c.hash },
          lastCheckpoint: c.lastCheckpoint,
          events: { ...c.events },
        },
      ]),
    );
  const fail = (b: AuditBreak): AuditReport => ({
    ok: false,
    records: records.length,
    firstBreak: b,
    emitters: summary(),
  });

  // Anchors first: each must be a well-formed, correctly signed record of this deployment.
  const anchors = new Map<string, Anchor[]>();
  for (const [i, a] of (trust.anchors ?? []).entries()) {
    let r: ParsedRecord;
    try {
      r = parseRecord(a);
    } catch (e) {
      return fail({ kind: 'malformed', index: -1, message: `anchor ${i}: ${describe(e)}` });
    }
    const key = trust.emitters.get(r.parsed.emitter);
    if (r.parsed.deployment !== trust.deployment || key === undefined || !verifyRecordSignature(key, r)) {
      return fail({
        kind: 'bad_signature',
        index: -1,
        emitter: r.parsed.emitter,
        seq: r.parsed.seq,
        message: `anchor ${i} is not a record signed by emitter ${r.parsed.emitter} of deployment ${trust.deployment}`,
      });
    }
    const list = anchors.get(r.parsed.emitter) ?? [];
    list.push({ emitter: r.parsed.emitter, seq: r.parsed.seq, hash: r.hash });
    anchors.set(r.parsed.emitter, list);
  }

  // Where each (emitter, seq) appears first, to tell a reordering from a deletion.
  const positions = new Map<string, number>();
  const parsed: (ParsedRecord | Error)[] = records.map((line, index) => {
    try {
      const r = parseRecord(line);
      const k = `${r.parsed.emitter}\u0000${r.parsed.seq}`;
      if (!positions.has(k)) positions.set(k, index);
      return r;
    } catch (e) {
      return e instanceof Error ? e : new Error('unreadable record');
    }
  });

  for (const [index, r] of parsed.entries()) {
    if (r instanceof Error) return fail({ kind: 'malformed', index, message: `record ${index}: ${describe(r)}` });
    const { deployment, emitter, seq, prev, event } = r.parsed;
    const at = `record ${index} (emitter ${emitter}, seq ${seq})`;
    if (deployment !== trust.deployment) {
      return fail({
        kind: 'foreign_deployment',
        index,
        emitter,
        seq,
        message: `${at} belongs to deployment ${deployment}, not ${trust.deployment}`,
      });
    }
    const key = trust.emitters.get(emitter);
    if (key === undefined) {
      return fail({ kind: 'unknown_emitter', index, emitter, seq, message: `${at}: emitter not in the roster` });
    }
    if (!verifyRecordSignature(key, r)) {
      const signer = [...trust.emitters].find(([id, k]) => id !== emitter && verifyRecordSignature(k, r))?.[0];
      return signer === undefined
        ? fail({
            kind: 'bad_signature',
            index,
            emitter,
            seq,
            message: `${at}: signature does not verify with the emitter's key (record modified or forged)`,
          })
        : fail({
            kind: 'signed_by_other_emitter',
            index,
            emitter,
            seq,
            message: `${at}: signed by emitter ${signer}, not by ${emitter} (forged record)`,
          });
    }
    const chain = chains.get(emitter) ?? { seq: 0, hash: GENESIS_HASH, lastCheckpoint: null, events: {} };
    chains.set(emitter, chain);
    const expected = chain.seq + 1;
    if (seq < expected) {
      return fail({
        kind: 'duplicate',
        index,
        emitter,
        seq,
        message: `${at}: seq ${seq} already seen (expected ${expected})`,
      });
    }
    if (seq > expected) {
      const later = positions.get(`${emitter}\u0000${expected}`);
      return later !== undefined && later > index
        ? fail({
            kind: 'reordered',
            index,
            emitter,
            seq,
            message: `${at}: comes before seq ${expected} (record ${later}): records reordered`,
          })
        : fail({
            kind: 'missing_record',
            index,
            emitter,
            seq,
            message: `${at}: seq ${expected}${seq - 1 > expected ? `..${seq - 1}` : ''} missing (record deleted)`,
          });
    }
    if (prev !== chain.hash) {
      return fail({
        kind: 'chain_break',
        index,
        emitter,
        seq,
        message: `${at}: prev ${prev.slice(0, 16)}… is not the hash of seq ${chain.seq} (${chain.hash.slice(0, 16)}…)`,
      });
    }
    if (event.type === 'checkpoint') {
      if (event.count !== chain.seq || event.head !== chain.hash) {
        return fail({
          kind: 'checkpoint_mismatch',
          index,
          emitter,
          seq,
          message: `${at}: checkpoint (count ${event.count}) does not match the chain (count ${chain.seq})`,
        });
      }
      chain.lastCheckpoint = seq;
    }
    for (const a of anchors.get(emitter) ?? []) {
      if (a.seq === seq && a.hash !== r.hash) {
        return fail({
          kind: 'checkpoint_mismatch',
          index,
          emitter,
          seq,
          message: `${at}: differs from the anchored record of the same seq`,
        });
      }
    }
    chain.seq = seq;
    chain.hash = r.hash;
    chain.events[event.type] = (chain.events[event.type] ?? 0) + 1;
  }

  for (const [emitter, list] of anchors) {
    const reached = chains.get(emitter)?.seq ?? 0;
    const beyond = list.filter((a) => a.seq > reached).sort((x, y) => y.seq - x.seq)[0];
    if (beyond !== undefined) {
      return fail({
        kind: 'truncated',
        index: records.length,
        emitter,
        seq: reached + 1,
        message: `emitter ${emitter} ends at seq ${reached} but an anchor reaches seq ${beyond.seq}: tail truncated`,
      });
    }
  }
  if (trust.crossCheck !== false) {
    const b = crossCheck(parsed as ParsedRecord[]);
    if (b !== undefined) return fail(b);
  }
  return { ok: true, records: records.length, emitters: summary() };
}

/** The cross-checks of every orchestrator signature (all chains already verified). */
function crossCheck(records: readonly ParsedRecord[]): AuditBreak | undefined {
  // presignature → digests consumed, per party emitter
  const consumed = new Map<string, Map<string, (string | undefined)[]>>();
  for (const [index, r] of records.entries()) {
    const e = r.parsed.event;
    if (e.type !== 'presignature.consumed') continue;
    const m = consumed.get(r.parsed.emitter) ?? new Map<string, (string | undefined)[]>();
    consumed.set(r.parsed.emitter, m);
    // a party's ledger consumes a presignature (or tombstones an unknown id) once: a second record is reuse
    if (m.has(e.presignature)) {
      return {
        kind: 'presignature_reused',
        index,
        emitter: r.parsed.emitter,
        seq: r.parsed.seq,
        message: `record ${index} (emitter ${r.parsed.emitter}, seq ${r.parsed.seq}): presignature ${e.presignature} consumed a second time`,
      };
    }
    m.set(e.presignature, [e.digest]);
  }
  const received = new Set<string>();
  const decision = new Map<string, string>();
  const neededApprovals = new Set<string>();
  const approved = new Set<string>();
  for (const [index, r] of records.entries()) {
    const { emitter, seq, event: e } = r.parsed;
    if (emitter !== 'orchestrator') continue;
    if (e.type === 'request.received') received.add(e.request);
    else if (e.type === 'request.evaluated') {
      decision.set(e.request, e.action);
      if (e.action === 'require_approvals') neededApprovals.add(e.request);
    } else if (e.type === 'request.approved') approved.add(e.request);
    else if (e.type === 'request.signed') {
      const at = `record ${index} (orchestrator, seq ${seq}): signature of request ${e.request}`;
      const bad = (why: string): AuditBreak => ({
        kind: 'unbacked_signature',
        index,
        emitter,
        seq,
        message: `${at} ${why}`,
      });
      if (!received.has(e.request)) return bad('has no request.received before it');
      const d = decision.get(e.request);
      if (d !== 'allow') return bad(`was not allowed by its latest evaluation (${d ?? 'none'})`);
      if (neededApprovals.has(e.request) && !approved.has(e.request)) {
        return bad('needed approvals and has no request.approved');
      }
      for (const i of e.signers) {
        const digests = consumed.get(partyEmitter(i))?.get(e.presignature);
        if (digests === undefined) {
          return bad(`has no presignature.consumed of ${e.presignature} at signer ${partyEmitter(i)}`);
        }
        if (!digests.some((x) => x === undefined || x === e.digest)) {
          return bad(`but signer ${partyEmitter(i)} consumed ${e.presignature} for another digest`);
        }
      }
    }
  }
  return undefined;
}
