/**
 * The orchestrator's audit log (issue #15): its own hash chain (emitter `orchestrator`, signed with
 * the coordinator's Ed25519 key, which the roster publishes and `audit verify` trusts), published
 * straight to the deployment's JetStream stream on subject `audit.{deployment}.orchestrator` with
 * expected-last-subject-sequence. The stream is the orchestrator's only copy: no local table.
 *
 * Two ways to write, one ordered queue:
 *
 * - `write(event)` fails closed (HashiCorp Vault's rule): it resolves only once JetStream
 *   acknowledged the record and throws ERR_AUDIT_SINK_UNAVAILABLE otherwise, the event dropped —
 *   the caller must not do what the record describes (decision before signing, result before
 *   answering). While the sink is known to be down it throws at once.
 * - `enqueue(event)` records an outcome that already happened and needs no protection (a refusal,
 *   a failure, an admin change): the event stays queued until acknowledged, ahead of any later
 *   record, so the chain keeps the order things happened in. The returned promise settles with the
 *   first attempt. The queue is in memory: a crash while JetStream is down loses the events queued.
 *
 * A failed publish marks the log unready (`ready` false, /readyz says so) and a probe retries
 * with backoff; so does a NATS disconnect. On recovery the head is read back from the stream
 * (checked to be signed by this emitter's key): a record whose ack was lost but which landed is
 * adopted, so the chain stays continuous. The log may therefore hold a record for an operation
 * that was then refused (more than happened, never less).
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { AuditEmitter, type AuditEvent, EMPTY_HEAD, parseRecord, verifyRecordSignature } from '../audit/index.js';
import { MpcError } from '../errors/index.js';
import type { Ed25519Signer } from '../primitives/ed25519.js';
import {
  type AuditPage,
  AuditPublisher,
  ensureAuditStream,
  readAuditHeads,
  readAuditPage,
} from '../transport/audit-sink.js';

export const ORCHESTRATOR_EMITTER = 'orchestrator';

/** What the service needs: `ready` for readiness, `write` fail-closed, `enqueue` kept until acked. */
export interface AuditLog {
  readonly ready: boolean;
  write(event: AuditEvent): Promise<void>;
  enqueue(event: AuditEvent): Promise<void>;
  /** A page of the deployment's whole stream (every emitter), for `GET /v1/audit`. */
  read?(o: Parameters<typeof readAuditPage>[2]): Promise<AuditPage>;
}

export interface OrchestratorAuditOptions {
  readonly nc: NatsConnection;
  readonly deployment: string;
  readonly signer: Ed25519Signer;
  /** The signer's public key: a head read back from the stream must verify with it. */
  readonly publicKey: Uint8Array;
  readonly checkpointEvery?: number;
  /** Create the stream when missing (needs stream-create rights). */
  readonly createStream?: boolean;
  readonly replicas?: number;
  /** How long a publish waits for JetStream's acknowledgement. Default 2 s. */
  readonly ackTimeoutMs?: number;
  readonly retryMinMs?: number;
  readonly retryMaxMs?: number;
  readonly onError?: (e: unknown) => void;
}

const unavailable = (cause?: unknown) =>
  new MpcError(
    'ERR_AUDIT_SINK_UNAVAILABLE',
    'the audit log is unavailable (JetStream did not acknowledge): refused',
    cause === undefined ? {} : { cause },
  );

interface Queued {
  readonly event: AuditEvent;
  readonly settle: (e?: unknown) => void;
}

export class OrchestratorAudit implements AuditLog {
  readonly #o: OrchestratorAuditOptions;
  readonly #publisher: AuditPublisher;
  #emitter: AuditEmitter | undefined;
  #ready = false;
  #closed = false;
  #tail: Promise<void> = Promise.resolve();
  readonly #kept: Queued[] = [];
  #probe: NodeJS.Timeout | undefined;
  #delay: number;

  private constructor(o: OrchestratorAuditOptions, publisher: AuditPublisher) {
    this.#o = o;
    this.#publisher = publisher;
    this.#delay = o.retryMinMs ?? 100;
  }

  /** Opens the log: reads the chain head from the stream (or starts probing when JetStream is away). */
  static async open(o: OrchestratorAuditOptions): Promise<OrchestratorAudit> {
    const publisher = await AuditPublisher.open(o.nc, o.deployment, ORCHESTRATOR_EMITTER, o.ackTimeoutMs ?? 2_000);
    const a = new OrchestratorAudit(o, publisher);
    await a.#exclusive(() => a.#recover()).catch(() => a.#schedule());
    a.#watch();
    return a;
  }

  get ready(): boolean {
    return this.#ready && !this.#closed;
  }

  /** The chain head this emitter holds (seq 0 before it synced with the stream). */
  get head(): { seq: number; hash: string } {
    return this.#emitter?.head ?? EMPTY_HEAD;
  }

  /** Reads the stream (with the coordinator credential's read rights on the deployment's stream). */
  read(o: Parameters<typeof readAuditPage>[2]): Promise<AuditPage> {
    return readAuditPage(this.#o.nc, this.#o.deployment, o);
  }

  write(event: AuditEvent): Promise<void> {
    return this.#exclusive(async () => {
      if (!this.ready) throw unavailable();
      try {
        await this.#flushKept();
        await this.#publish(event);
      } catch (e) {
        this.#down(e);
        throw unavailable(e);
      }
    });
  }

  enqueue(event: AuditEvent): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      this.#kept.push({
        event,
        settle: (e) => {
          if (settled) return;
          settled = true;
          if (e === undefined) resolve();
          else reject(unavailable(e));
        },
      });
      void this.#exclusive(async () => {
        if (!this.ready) {
          for (const q of this.#kept) q.settle(unavailable());
          return;
        }
        try {
          await this.#flushKept();
        } catch (e) {
          this.#down(e);
        }
      });
    });
  }

  /** Publishes what is queued (waiting at most `ms`), then stops probing. */
  async close(ms = 2_000): Promise<void> {
    if (this.ready && this.#kept.length > 0) {
      let t: NodeJS.Timeout | undefined;
      await Promise.race([
        this.#exclusive(() => this.#flushKept()).catch(() => undefined),
        new Promise((r) => {
          t = setTimeout(r, ms);
        }),
      ]);
      clearTimeout(t);
    }
    this.#closed = true;
    if (this.#probe) clearTimeout(this.#probe);
    for (const q of this.#kept) q.settle(unavailable());
  }

  #exclusive<T>(f: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(f);
    this.#tail = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  async #publish(event: AuditEvent): Promise<void> {
    const emitter = this.#emitter as AuditEmitter;
    const from = emitter.head.seq;
    const { records, head } = emitter.prepare(event);
    // made here by this emitter: record i of the event extends the chain to from + 1 + i
    for (const [i, r] of records.entries()) await this.#publisher.publishOwn(r, from + 1 + i);
    emitter.commit(head);
  }

  async #flushKept(): Promise<void> {
    while (this.#kept.length > 0) {
      const q = this.#kept[0] as Queued;
      try {
        await this.#publish(q.event);
      } catch (e) {
        q.settle(e);
        throw e;
      }
      this.#kept.shift();
      q.settle();
    }
  }

  /** Reads the head back from the stream, adopts it, publishes what is queued; ready on success. */
  async #recover(): Promise<void> {
    if (this.#o.createStream) {
      await ensureAuditStream(this.#o.nc, { deployment: this.#o.deployment, replicas: this.#o.replicas ?? 1 });
    }
    const [last] = await readAuditHeads(this.#o.nc, this.#o.deployment, [ORCHESTRATOR_EMITTER]);
    let head = EMPTY_HEAD;
    if (last !== undefined) {
      const r = parseRecord(last);
      if (r.parsed.emitter !== ORCHESTRATOR_EMITTER || !verifyRecordSignature(this.#o.publicKey, r)) {
        throw new MpcError('ERR_AUDIT_CHAIN_FORK', 'the stream head of the orchestrator is not signed by its key');
      }
      head = { seq: r.parsed.seq, hash: r.hash };
    }
    if (this.#emitter === undefined || head.seq !== this.#emitter.head.seq || head.hash !== this.#emitter.head.hash) {
      this.#emitter = new AuditEmitter({
        deployment: this.#o.deployment,
        emitter: ORCHESTRATOR_EMITTER,
        signer: this.#o.signer,
        head,
        ...(this.#o.checkpointEvery === undefined ? {} : { checkpointEvery: this.#o.checkpointEvery }),
      });
    }
    await this.#flushKept();
    this.#ready = true;
    this.#delay = this.#o.retryMinMs ?? 100;
  }

  #down(e: unknown): void {
    this.#o.onError?.(e);
    this.#ready = false;
    this.#schedule();
  }

  #schedule(): void {
    if (this.#closed || this.#probe !== undefined) return;
    const wait = this.#delay;
    this.#delay = Math.min(this.#delay * 2, this.#o.retryMaxMs ?? 2_000);
    this.#probe = setTimeout(() => {
      this.#probe = undefined;
      void this.#exclusive(() => this.#recover()).catch((e: unknown) => {
        this.#o.onError?.(e);
        this.#ready = false;
        this.#schedule();
      });
    }, wait);
    this.#probe.unref();
  }

  /** A lost NATS connection makes the log unready at once (no request waits for a publish timeout). */
  #watch(): void {
    void (async () => {
      for await (const s of this.#o.nc.status()) {
        if (this.#closed) return;
        if (s.type === 'disconnect') {
          this.#ready = false;
          this.#schedule();
        } else if (s.type === 'reconnect') {
          this.#schedule();
        }
      }
    })().catch(() => undefined);
  }
}
