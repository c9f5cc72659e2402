/**
 * Presignature pools per (key, path): a target and a low-water mark. When a pool holds fewer than
 * `lowWater` available presignatures it is refilled up to `target` in the background, at most
 * `concurrency` presign sessions at once across all pools. Which presignatures exist, are reserved,
 * used or burnt is in the store, and a reservation is a compare-and-set, so neither a second taker
 * nor a second replica nor a restarted orchestrator ever hands one out twice:
 *
 *   available → reserved (a request took it) → used (its signature was made) | burnt
 *   available → burnt (older than the TTL);  reserved → burnt (a restart: consumed or not is unknown)
 *
 * The signers of a pooled presignature are the key's first t parties (as on-demand presigning);
 * spreading over several signer sets is not done yet.
 */
import { hexToBytes } from '@noble/hashes/utils.js';
import { MpcError } from '../errors/index.js';
import { decodePoint } from '../primitives/curve.js';
import type { PresignaturePublic } from '../protocol/sign.js';
import type { SigningBackend } from './backend.js';
import type { OrchestratorMetrics } from './metrics.js';
import type { ServiceLog } from './service.js';
import type { OrchestratorStore } from './store/store.js';

export interface PoolSpec {
  readonly keyId: string;
  readonly path: readonly number[];
  readonly target: number;
  readonly lowWater: number;
}

export interface PoolOptions {
  readonly store: OrchestratorStore;
  readonly backend: SigningBackend;
  readonly specs: readonly PoolSpec[];
  /** Presign sessions at once across all pools (default 2). */
  readonly concurrency?: number;
  /** Available presignatures older than this are burnt (default 24 h). */
  readonly ttlSeconds?: number;
  /** Background check interval (default 5 s). */
  readonly intervalMs?: number;
  readonly metrics?: OrchestratorMetrics;
  readonly log?: ServiceLog;
  readonly now?: () => number;
}

const specKey = (keyId: string, path: readonly number[]) => `${keyId}/${path.join('/')}`;

export class PresignaturePools {
  readonly #o: PoolOptions;
  readonly #filling = new Map<string, Promise<void>>();
  #slots: number;
  readonly #queue: (() => void)[] = [];
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(o: PoolOptions) {
    for (const s of o.specs) {
      if (!(Number.isInteger(s.target) && s.target >= 1 && Number.isInteger(s.lowWater) && s.lowWater <= s.target)) {
        throw new MpcError(
          'ERR_CONFIG_INVALID',
          `pool ${specKey(s.keyId, s.path)}: need 1 ≤ target and lowWater ≤ target`,
        );
      }
    }
    this.#o = o;
    this.#slots = o.concurrency ?? 2;
  }

  #now(): number {
    return this.#o.now?.() ?? Date.now();
  }

  /** Burns what a previous run left reserved and what is too old, then starts refilling. */
  async start(): Promise<void> {
    const burnt = await this.#o.store.burnReservedPresignatures(this.#now());
    if (burnt > 0) this.#o.log?.warn({ burnt }, 'presignatures reserved by an earlier run burnt');
    await this.#sweep();
    this.#timer = setInterval(() => void this.#sweep().catch(() => undefined), this.#o.intervalMs ?? 5000);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    for (const w of this.#queue.splice(0)) w();
    await Promise.allSettled([...this.#filling.values()]);
  }

  /** TTL burn, then a refill of every pool below its low-water mark. */
  async #sweep(): Promise<void> {
    const now = this.#now();
    await this.#o.store.burnOldPresignatures(now - (this.#o.ttlSeconds ?? 86_400) * 1000, now);
    for (const s of this.#o.specs) this.refill(s);
  }

  /** Starts refilling `spec` if it is below its low-water mark and not already filling. */
  refill(spec: PoolSpec): Promise<void> {
    const k = specKey(spec.keyId, spec.path);
    const running = this.#filling.get(k);
    if (running !== undefined || this.#stopped) return running ?? Promise.resolve();
    const job = this.#fill(spec)
      .catch((e: unknown) => this.#o.log?.warn({ err: e, pool: k }, 'pool refill failed'))
      .finally(() => this.#filling.delete(k));
    this.#filling.set(k, job);
    return job;
  }

  async #fill(spec: PoolSpec): Promise<void> {
    const s = this.#o.store;
    const key = await s.getKey(spec.keyId);
    if (key === undefined || key.state !== 'ready') return;
    const available = await s.countPresignatures(spec.keyId, spec.path, 'available');
    if (available >= spec.lowWater && available > 0) return;
    const signers = [...Array(key.threshold).keys()];
    const missing = spec.target - available;
    await Promise.all(
      Array.from({ length: missing }, async () => {
        await this.#slot();
        try {
          if (this.#stopped) return;
          const p = await this.#o.backend.presign({ keyId: spec.keyId, signers, path: spec.path });
          await s.insertPresignature(
            {
              id: p.id,
              keyId: spec.keyId,
              signers: p.signers,
              path: p.path,
              R: Buffer.from(p.R.toBytes(true)).toString('hex'),
              publicKey: Buffer.from(p.publicKey.toBytes(true)).toString('hex'),
            },
            this.#now(),
          );
          this.#o.metrics?.presignPooled.inc();
        } finally {
          this.#release();
        }
      }),
    );
  }

  async #slot(): Promise<void> {
    if (this.#slots > 0) {
      this.#slots--;
      return;
    }
    await new Promise<void>((resolve) => this.#queue.push(resolve));
  }

  #release(): void {
    const next = this.#queue.shift();
    if (next) next();
    else this.#slots++;
  }

  /** Reserves a pooled presignature of (key, path) for `requestId`, or undefined (pool empty). */
  async take(keyId: string, path: readonly number[], requestId: string): Promise<PresignaturePublic | undefined> {
    const spec = this.#o.specs.find((s) => s.keyId === keyId && specKey(s.keyId, s.path) === specKey(keyId, path));
    if (spec === undefined) return undefined;
    const row = await this.#o.store.reservePresignature(keyId, path, requestId, this.#now());
    void this.refill(spec);
    if (row === undefined) return undefined;
    return {
      id: row.id,
      R: decodePoint(hexToBytes(row.R), 'presignature.R'),
      publicKey: decodePoint(hexToBytes(row.publicKey), 'presignature.publicKey'),
      path: [...row.path],
      signers: [...row.signers],
    };
  }

  async used(ids: readonly string[]): Promise<void> {
    await this.#o.store.movePresignatures(ids, ['reserved'], 'used', this.#now());
  }

  /** After a failed sign: consumed or not at the parties, a reserved presignature is never offered again. */
  async burn(ids: readonly string[]): Promise<void> {
    await this.#o.store.movePresignatures(ids, ['reserved', 'available'], 'burnt', this.#now());
  }
}
