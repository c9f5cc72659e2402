/**
 * One emitter's hash chain: each record names its sequence number and the hash of the previous
 * record and is signed with the emitter's Ed25519 key. Every `checkpointEvery` records the
 * emitter adds a signed checkpoint (count + head hash) that auditors can keep elsewhere as an
 * anchor: a log that ends before an anchor has lost its tail.
 *
 * Pure: the caller persists the records it gets back (in the same transaction as the change they
 * describe) and only then commits the new head with `commit`.
 */
import { MpcError } from '../errors/index.js';
import type { Ed25519Signer } from '../primitives/ed25519.js';
import { assertAuditEvent, GENESIS_HASH, recordHash, type StoredRecord, signBody } from './record.js';
import { AUDIT_VERSION, type AuditBody, type AuditEvent, ID_PATTERN } from './schema.js';

export interface ChainHead {
  /** Sequence number of the last record (0: none yet). */
  readonly seq: number;
  /** Hash of the last record (GENESIS_HASH when none). */
  readonly hash: string;
}

export const EMPTY_HEAD: ChainHead = { seq: 0, hash: GENESIS_HASH };

export interface AuditEmitterOptions {
  readonly deployment: string;
  readonly emitter: string;
  readonly signer: Ed25519Signer;
  /** Where the chain stands (from the emitter's own storage); EMPTY_HEAD for a new emitter. */
  readonly head?: ChainHead;
  /** A checkpoint after every this many records (0: never). Default 100. */
  readonly checkpointEvery?: number;
  readonly now?: () => number;
}

export interface Appended {
  /** The event's record, then a checkpoint record when one is due. */
  readonly records: readonly StoredRecord[];
  readonly head: ChainHead;
}

const ID_RE = new RegExp(ID_PATTERN);

export class AuditEmitter {
  readonly deployment: string;
  readonly emitter: string;
  readonly #signer: Ed25519Signer;
  readonly #every: number;
  readonly #now: () => number;
  #head: ChainHead;

  constructor(opts: AuditEmitterOptions) {
    if (!ID_RE.test(opts.deployment) || !ID_RE.test(opts.emitter)) {
      throw new MpcError(
        'ERR_AUDIT_EVENT_INVALID',
        'audit deployment and emitter ids must match [A-Za-z0-9][A-Za-z0-9_-]{0,63}',
      );
    }
    const head = opts.head ?? EMPTY_HEAD;
    if (!Number.isSafeInteger(head.seq) || head.seq < 0 || !/^[0-9a-f]{64}$/.test(head.hash)) {
      throw new MpcError('ERR_AUDIT_EVENT_INVALID', 'audit chain head is malformed');
    }
    this.deployment = opts.deployment;
    this.emitter = opts.emitter;
    this.#signer = opts.signer;
    this.#every = opts.checkpointEvery ?? 100;
    this.#now = opts.now ?? Date.now;
    this.#head = head;
  }

  get head(): ChainHead {
    return this.#head;
  }

  /**
   * Builds (without committing) the records for `event`: the caller stores them durably, then
   * calls `commit(result.head)`. `from` chains a second event onto records prepared but not yet
   * committed (several events in one transaction). Throws ERR_AUDIT_EVENT_INVALID for an event
   * off the schema.
   */
  prepare(event: AuditEvent, from: ChainHead = this.#head): Appended {
    assertAuditEvent(event);
    if (event.type === 'checkpoint')
      throw new MpcError('ERR_AUDIT_EVENT_INVALID', 'checkpoints are added by the emitter');
    if (from.seq < this.#head.seq) throw new MpcError('ERR_AUDIT_EVENT_INVALID', 'audit chain head must move forward');
    const records: StoredRecord[] = [];
    let head = from;
    const push = (e: AuditEvent) => {
      const body: AuditBody = {
        v: AUDIT_VERSION,
        deployment: this.deployment,
        emitter: this.emitter,
        seq: head.seq + 1,
        prev: head.hash,
        time: this.#now(),
        event: e,
      };
      const text = JSON.stringify(body);
      records.push({ body: text, sig: signBody(this.#signer, text) });
      head = { seq: body.seq, hash: recordHash(text) };
    };
    push(event);
    if (this.#every > 0 && head.seq % this.#every === this.#every - 1) {
      push({ type: 'checkpoint', count: head.seq, head: head.hash });
    }
    return { records, head };
  }

  /** Moves the head after the records of `prepare` were stored. */
  commit(head: ChainHead): void {
    if (head.seq <= this.#head.seq) throw new MpcError('ERR_AUDIT_EVENT_INVALID', 'audit chain head must move forward');
    this.#head = head;
  }

  /** prepare + commit, for emitters that persist synchronously in between themselves. */
  append(event: AuditEvent): readonly StoredRecord[] {
    const out = this.prepare(event);
    this.#head = out.head;
    return out.records;
  }
}
