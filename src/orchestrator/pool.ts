/**
 * Presignature pools per (key, path): a target and a low-water mark. When a pool holds fewer than
 * `lowWater` available presignatures it is refilled up to `target` in the background, at most
 * `concurrency` presign sessions at once across all pools. Which presignatures exist, are reserved,
 * used or burnt is in the store, and a reservation is a compare-and-set, so neither a second taker
 * nor a second replica nor a restarted orchestrator ever hands one out twice:
 *
 *   available → reserved (a request took it) → used (its signature was made) | burnt
 *   available → burnt (older than the TTL);  reserved → burnt (a restart or a stale claim: consumed or
 *   not is unknown; a replica's start leaves the reservations of requests others are signing now)
 *
 * Pools spread over the key's signer sets (signer-sets.ts): a refill tops up the healthy set with
 * the fewest available presignatures first, and a take reserves only a presignature whose signers
 * are all healthy, so a party that just timed out is steered around until it answers again.
 */
import { hexToBytes } from '@noble/hashes/utils.js';
import { MpcError } from '../errors/index.js';
import { decodePoint } from '../primitives/curve.js';
import type { PresignaturePublic } from '../protocol/sign.js';
import type { SigningBackend } from './backend.js';
import type { OrchestratorMetrics } from './metrics.js';
import type { ServiceLog } from './service.js';
import { missingParties, SignerHealth, signerSetsOf } from './signer-sets.js';
import { DEFAULT_SIGNING_LEASE_MS, type OrchestratorStore, signerSetKey } from './store/store.js';

export interface PoolSpec {
  readonly keyId: string;
  readonly path: readonly number[];
  readonly target: number;
  readonly lowWater: number;
  /** The signer sets to spread over (default: signerSetsOf(n, t)). */
  readonly signerSets?: readonly (readonly number[])[];
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
  /** Parties that recently timed out (shared with on-demand signing). */
  readonly health?: SignerHealth;
  /**
   * This replica (several on one PostgreSQL database): at start it burns the reservations of its
   * own earlier run and of stale claims, not those of requests another replica is signing now.
   * Without it every reservation is burnt at start (a single orchestrator).
   */
  readonly replica?: { readonly id: string; readonly signingLeaseMs?: number };
}

const specKey = (keyId: string, path: readonly number[]) => `${keyId}/${path.join('/')}`;

export class PresignaturePools {
  readonly #o: PoolOptions;
  readonly #filling = new Map<string, Promise<void>>();
  #slots: number;
  readonly #queue: (() => void)[] = [];
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  readonly health: SignerHealth;

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
    this.health = o.health ?? new SignerHealth();
  }

  #now(): number {
    return this.#o.now?.() ?? Date.now();
  }

  /** Burns what a previous run left reserved and what is too old, then starts refilling. */
  async start(): Promise<void> {
    const now = this.#now();
    const r = this.#o.replica;
    const burnt = await this.#o.store.burnReservedPresignatures(
      now,
      r === undefined
        ? undefined
        : { replica: r.id, claimedSince: now - (r.signingLeaseMs ?? DEFAULT_SIGNING_LEASE_MS) },
    );
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
    // only presignatures of healthy sets count: the others cannot be taken now
    const sets = this.health.healthy(signerSetsOf(key.parties, key.threshold, spec.signerSets));
    const bySet = await s.countAvailableBySigners(spec.keyId, spec.path);
    const count = sets.map((set) => bySet.get(signerSetKey(set)) ?? 0);
    const available = count.reduce((a, b) => a + b, 0);
    if (available >= spec.lowWater && available > 0) return;
    // the set with the fewest available first, so the sets stay even
    const plan: (readonly number[])[] = [];
    for (let i = available; i < spec.target; i++) {
      const j = count.indexOf(Math.min(...count));
      plan.push(sets[j] as readonly number[]);
      count[j] = (count[j] ?? 0) + 1;
    }
    await Promise.all(
      plan.map(async (signers) => {
        await this.#slot();
        try {
          if (this.#stopped) return;
          const p = await this.#o.backend.presign({ keyId: spec.keyId, signers, path: spec.path }).catch((e) => {
            this.health.suspect(missingParties(e));
            throw e;
          });
          this.health.answered(signers);
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

  /** The signer sets configured for a key's pools (the first pool of the key that names some). */
  signerSets(keyId: string): readonly (readonly number[])[] | undefined {
    return this.#o.specs.find((s) => s.keyId === keyId && s.signerSets !== undefined)?.signerSets;
  }

  /**
   * Reserves a pooled presignature of (key, path) for `requestId` whose signers are all healthy,
   * or undefined (none left), and starts the pool's refill. With `store` bound to a transaction the
   * reservation is part of it, and the caller starts the refill (`refillAfterTake`) once it committed.
   */
  async take(
    keyId: string,
    path: readonly number[],
    requestId: string,
    store?: OrchestratorStore,
  ): Promise<PresignaturePublic | undefined> {
    const spec = this.#spec(keyId, path);
    if (spec === undefined) return undefined;
    const row = await (store ?? this.#o.store).reservePresignature(keyId, path, requestId, this.#now(), (signers) =>
      this.health.isHealthy(signers),
    );
    if (store === undefined) void this.refill(spec);
    if (row === undefined) return undefined;
    return {
      id: row.id,
      R: decodePoint(hexToBytes(row.R), 'presignature.R'),
      publicKey: decodePoint(hexToBytes(row.publicKey), 'presignature.publicKey'),
      path: [...row.path],
      signers: [...row.signers],
    };
  }

  /** Starts the refill of (key, path)'s pool, if there is one (after a take inside a transaction). */
  refillAfterTake(keyId: string, path: readonly number[]): void {
    const spec = this.#spec(keyId, path);
    if (spec !== undefined) void this.refill(spec);
  }

  #spec(keyId: string, path: readonly number[]): PoolSpec | undefined {
    return this.#o.specs.find((s) => s.keyId === keyId && specKey(s.keyId, s.path) === specKey(keyId, path));
  }

  async used(ids: readonly string[]): Promise<void> {
    await this.#o.store.movePresignatures(ids, ['reserved'], 'used', this.#now());
  }

  /** After a failed sign: consumed or not at the parties, a reserved presignature is never offered again. */
  async burn(ids: readonly string[]): Promise<void> {
    await this.#o.store.movePresignatures(ids, ['reserved', 'available'], 'burnt', this.#now());
  }
}
