/**
 * The audit log's JetStream sink: one stream per deployment, one subject per emitter
 * (`audit.{deployment}.{emitter}`), file storage, delete and purge denied, deduplication by
 * message id `{emitter}-{seq}`. Each publish carries the stream sequence of the emitter's last
 * message as its expected last subject sequence, so two writers of one chain cannot both append:
 * the second is refused by the server and the chain cannot fork.
 *
 * Records travel as their stored JSONL line (src/audit/record.ts): the exact signed bytes.
 */
import {
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  StorageType,
} from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { parseRecord, recordLine, type StoredRecord } from '../audit/index.js';
import { MpcError } from '../errors/index.js';

export const auditStreamName = (deployment: string): string => `AUDIT_${deployment}`;
export const auditSubject = (deployment: string, emitter: string): string => `audit.${deployment}.${emitter}`;

export interface AuditStreamOptions {
  readonly deployment: string;
  /** JetStream replicas (1 for a single server, 3 or 5 in a cluster). */
  readonly replicas?: number;
  /** Deduplication window for retried publishes. Default 2 minutes. */
  readonly duplicateWindowMs?: number;
}

/** Creates the deployment's stream (idempotent when it exists with the same configuration). */
export async function ensureAuditStream(nc: NatsConnection, o: AuditStreamOptions): Promise<void> {
  const jsm = await jetstreamManager(nc, { checkAPI: false });
  const config = {
    name: auditStreamName(o.deployment),
    subjects: [`audit.${o.deployment}.*`],
    storage: StorageType.File,
    num_replicas: o.replicas ?? 1,
    deny_delete: true,
    deny_purge: true,
    allow_rollup_hdrs: false,
    // direct get by subject: an emitter may read its own subject's head and nothing else
    allow_direct: true,
    duplicate_window: (o.duplicateWindowMs ?? 120_000) * 1_000_000,
  };
  try {
    await jsm.streams.info(config.name);
  } catch {
    await jsm.streams.add(config);
    return;
  }
  const info = await jsm.streams.info(config.name);
  if (!info.config.deny_delete || !info.config.deny_purge || info.config.storage !== StorageType.File) {
    throw new MpcError(
      'ERR_AUDIT_SINK_UNAVAILABLE',
      `stream ${config.name} exists without deny_delete/deny_purge/file storage`,
    );
  }
}

interface SubjectHead {
  /** Chain sequence of the emitter's last record in the stream (0: none). */
  readonly seq: number;
  /** Stream sequence of that message (0: none). */
  readonly streamSeq: number;
}

async function subjectHead(jsm: JetStreamManager, stream: string, subject: string): Promise<SubjectHead> {
  let m: Awaited<ReturnType<JetStreamManager['direct']['getMessage']>>;
  try {
    m = await jsm.direct.getMessage(stream, { last_by_subj: subject });
  } catch (e) {
    if (/no message found|not found/i.test(String((e as Error)?.message))) return { seq: 0, streamSeq: 0 };
    throw e;
  }
  if (m === null) return { seq: 0, streamSeq: 0 };
  return { seq: parseRecord(m.string()).parsed.seq, streamSeq: m.seq };
}

/**
 * Publishes one emitter's records in chain order. `publish` refuses a record that does not
 * extend the stream's head (ERR_AUDIT_CHAIN_FORK); a failed publish (server down, timeout)
 * throws ERR_AUDIT_SINK_UNAVAILABLE and the next call re-reads the head from the stream first.
 */
export class AuditPublisher {
  readonly subject: string;
  readonly #js: JetStreamClient;
  readonly #jsm: JetStreamManager;
  readonly #stream: string;
  readonly #emitter: string;
  readonly #timeoutMs: number;
  #head: SubjectHead | undefined;

  private constructor(
    nc: NatsConnection,
    jsm: JetStreamManager,
    deployment: string,
    emitter: string,
    timeoutMs: number,
  ) {
    this.#js = jetstream(nc, { timeout: timeoutMs });
    this.#jsm = jsm;
    this.#stream = auditStreamName(deployment);
    this.#emitter = emitter;
    this.#timeoutMs = timeoutMs;
    this.subject = auditSubject(deployment, emitter);
  }

  static async open(
    nc: NatsConnection,
    deployment: string,
    emitter: string,
    timeoutMs = 5_000,
  ): Promise<AuditPublisher> {
    // no API check: a publisher must open while JetStream is down (the shipper retries later)
    const jsm = await jetstreamManager(nc, { timeout: timeoutMs, checkAPI: false });
    return new AuditPublisher(nc, jsm, deployment, emitter, timeoutMs);
  }

  /** The chain sequence of the emitter's last record in the stream (reads the stream when unknown). */
  async streamHead(): Promise<number> {
    if (this.#head === undefined) {
      try {
        this.#head = await subjectHead(this.#jsm, this.#stream, this.subject);
      } catch (e) {
        throw new MpcError('ERR_AUDIT_SINK_UNAVAILABLE', 'cannot read the audit stream head', { cause: e });
      }
    }
    return this.#head.seq;
  }

  async publish(record: StoredRecord): Promise<void> {
    const { parsed } = parseRecord(record);
    if (parsed.emitter !== this.#emitter) throw new MpcError('ERR_AUDIT_CHAIN_FORK', 'record of another emitter');
    await this.publishOwn(record, parsed.seq);
  }

  /**
   * `publish` for a record this process's own emitter just made (its chain sequence `seq`): not
   * parsed again. Records read back from elsewhere (a ledger, a file) go through `publish`.
   */
  async publishOwn(record: StoredRecord, seq: number): Promise<void> {
    const headSeq = await this.streamHead();
    const head = this.#head as SubjectHead;
    if (seq !== headSeq + 1) {
      throw new MpcError('ERR_AUDIT_CHAIN_FORK', `record seq ${seq} does not extend the stream head ${headSeq}`, {
        details: { seq, head: headSeq },
      });
    }
    let ack: Awaited<ReturnType<JetStreamClient['publish']>>;
    try {
      ack = await this.#js.publish(this.subject, recordLine(record), {
        msgID: `${this.#emitter}-${seq}`,
        expect: { lastSubjectSequence: head.streamSeq },
        timeout: this.#timeoutMs,
      });
    } catch (e) {
      this.#head = undefined; // the publish may have landed: re-read the head before the next one
      const msg = String((e as Error)?.message);
      if (/wrong last sequence/i.test(msg)) {
        throw new MpcError(
          'ERR_AUDIT_CHAIN_FORK',
          'the stream refused the record: another writer extended this chain',
          { cause: e },
        );
      }
      throw new MpcError('ERR_AUDIT_SINK_UNAVAILABLE', 'audit record not acknowledged by JetStream', { cause: e });
    }
    this.#head = { seq, streamSeq: ack.seq };
  }
}

/**
 * The emitter's last record in the stream as its stored line, or undefined when the emitter has
 * none: where a ledger that starts over continues the chain (party-ledger.ts `audit.anchor`).
 */
export async function emitterLastRecord(
  nc: NatsConnection,
  deployment: string,
  emitter: string,
): Promise<string | undefined> {
  const jsm = await jetstreamManager(nc, { checkAPI: false });
  try {
    const m = await jsm.direct.getMessage(auditStreamName(deployment), {
      last_by_subj: auditSubject(deployment, emitter),
    });
    return m === null ? undefined : m.string();
  } catch (e) {
    if (/no message found|not found/i.test(String((e as Error)?.message))) return undefined;
    throw new MpcError('ERR_AUDIT_SINK_UNAVAILABLE', 'cannot read the audit stream head', { cause: e });
  }
}

/** Every record of the deployment's stream, in stream order, as JSONL lines (the auditor's read). */
export async function readAuditStream(nc: NatsConnection, deployment: string): Promise<string[]> {
  const jsm = await jetstreamManager(nc, { checkAPI: false });
  const stream = auditStreamName(deployment);
  const info = await jsm.streams.info(stream);
  const out: string[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq += 1) {
    const m = await jsm.streams.getMessage(stream, { seq });
    if (m !== null) out.push(m.string());
  }
  return out;
}

/** One page of the stream: stored record lines with their stream sequence. */
export interface AuditPage {
  readonly records: readonly { readonly streamSeq: number; readonly line: string }[];
  /** Pass as `after` for the next page; null when the stream's end was reached. */
  readonly next: number | null;
}

/**
 * Reads the stream from the message after `after` (0: from the start): up to `limit` records that
 * `keep` accepts, looking at no more than `scanLimit` messages, so a selective filter over a long
 * stream answers in bounded time (the page then holds fewer records and `next` goes on).
 */
export async function readAuditPage(
  nc: NatsConnection,
  deployment: string,
  o: { after: number; limit: number; scanLimit: number; keep?: (line: string) => boolean },
): Promise<AuditPage> {
  const jsm = await jetstreamManager(nc, { checkAPI: false });
  const stream = auditStreamName(deployment);
  const info = await jsm.streams.info(stream);
  const records: { streamSeq: number; line: string }[] = [];
  if (info.state.messages === 0) return { records, next: null };
  let seq = Math.max(o.after + 1, info.state.first_seq);
  let scanned = 0;
  for (; seq <= info.state.last_seq && records.length < o.limit && scanned < o.scanLimit; seq += 1, scanned += 1) {
    const m = await jsm.streams.getMessage(stream, { seq });
    if (m === null) continue;
    const line = m.string();
    if (o.keep === undefined || o.keep(line)) records.push({ streamSeq: seq, line });
  }
  return { records, next: seq <= info.state.last_seq ? seq - 1 : null };
}

/** The last record of each emitter's subject: anchors for the verifier (a cut tail shows). */
export async function readAuditHeads(
  nc: NatsConnection,
  deployment: string,
  emitters: readonly string[],
): Promise<string[]> {
  const jsm = await jetstreamManager(nc, { checkAPI: false });
  const out: string[] = [];
  for (const e of emitters) {
    try {
      const m = await jsm.direct.getMessage(auditStreamName(deployment), {
        last_by_subj: auditSubject(deployment, e),
      });
      if (m !== null) out.push(m.string());
    } catch (err) {
      if (!/no message found|not found/i.test(String((err as Error)?.message))) throw err;
    }
  }
  return out;
}
