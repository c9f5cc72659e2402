/**
 * Ships an emitter's records from its durable local store to JetStream, in order, exactly once:
 * the stream's head (per subject) says what already arrived, the store supplies what follows,
 * and the publisher refuses anything that would not extend the chain. While JetStream is down
 * records stay in the local store; the shipper retries with backoff and catches up afterwards.
 */
import type { StoredRecord } from '../audit/index.js';
import type { AuditPublisher } from './audit-sink.js';

export interface AuditSource {
  /** Up to `limit` stored records with seq > `afterSeq`, in seq order. */
  recordsAfter(afterSeq: number, limit: number): readonly StoredRecord[];
}

export interface AuditShipperOptions {
  readonly batch?: number;
  readonly retryMinMs?: number;
  readonly retryMaxMs?: number;
  readonly onError?: (e: unknown) => void;
}

export class AuditShipper {
  readonly #source: AuditSource;
  readonly #publisher: AuditPublisher;
  readonly #o: Required<Omit<AuditShipperOptions, 'onError'>> & Pick<AuditShipperOptions, 'onError'>;
  #running = false;
  #stopped = false;
  #wake: (() => void) | undefined;
  #again = false;
  #shipped = 0;
  #loop: Promise<void> | undefined;

  constructor(source: AuditSource, publisher: AuditPublisher, o: AuditShipperOptions = {}) {
    this.#source = source;
    this.#publisher = publisher;
    this.#o = {
      batch: o.batch ?? 256,
      retryMinMs: o.retryMinMs ?? 100,
      retryMaxMs: o.retryMaxMs ?? 5_000,
      onError: o.onError,
    };
  }

  /** Records published by this shipper so far. */
  get shipped(): number {
    return this.#shipped;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#loop = this.#run();
  }

  /** New records were stored: ship them soon. */
  notify(): void {
    this.#again = true;
    this.#wake?.();
  }

  /** Ships everything stored now; resolves when the stream holds it (retrying meanwhile). */
  async flush(): Promise<void> {
    for (let delay = this.#o.retryMinMs; ; delay = Math.min(delay * 2, this.#o.retryMaxMs)) {
      try {
        if ((await this.#shipOnce()) === 'idle') return;
        delay = this.#o.retryMinMs;
      } catch (e) {
        this.#o.onError?.(e);
        if (this.#stopped) return;
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#wake?.();
    await this.#loop;
  }

  /** Ships one batch; 'idle' when nothing was left. */
  async #shipOnce(): Promise<'idle' | 'more'> {
    const head = await this.#publisher.streamHead();
    const batch = this.#source.recordsAfter(head, this.#o.batch);
    if (batch.length === 0) return 'idle';
    for (const r of batch) {
      await this.#publisher.publish(r);
      this.#shipped += 1;
    }
    return 'more';
  }

  async #run(): Promise<void> {
    let delay = this.#o.retryMinMs;
    while (!this.#stopped) {
      this.#again = false;
      let wait = 1_000;
      try {
        if ((await this.#shipOnce()) === 'more') continue;
        delay = this.#o.retryMinMs;
      } catch (e) {
        this.#o.onError?.(e);
        wait = delay;
        delay = Math.min(delay * 2, this.#o.retryMaxMs);
      }
      if (this.#again || this.#stopped) continue;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, wait);
        this.#wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.#wake = undefined;
    }
  }
}
