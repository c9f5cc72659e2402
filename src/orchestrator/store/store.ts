/**
 * The orchestrator's durable state, one Kysely query layer over SQLite (better-sqlite3, the default:
 * embedded, no server) or PostgreSQL (pg; several replicas on one database). Every sign-request
 * state change is a compare-and-set (`UPDATE … WHERE id = ? AND state IN (…)`): it is committed
 * before the orchestrator acts on the new state, and when two replicas race for one transition only
 * one update matches, so only one of them goes on.
 */
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { type Dialect, type Insertable, Kysely, PostgresDialect, type Selectable, SqliteDialect, sql } from 'kysely';
import { Migrator } from 'kysely/migration';
import pg from 'pg';
import type { SignedArtifact } from '../../chains/types.js';
import { MpcError } from '../../errors/index.js';
import type { SpendRecord } from '../../policy/intent.js';
import type { PublicJwk } from '../../policy/keys.js';
import type { Role } from '../../policy/registry.js';
import type { StateConfig } from '../config.js';
import {
  type KeysTable,
  migrations,
  type OperatorsTable,
  type SignRequestsTable,
  type Database as Tables,
} from './schema.js';

export const SIGN_REQUEST_STATES = [
  'received',
  'pending_policy',
  'pending_approval',
  'signing',
  'signed',
  'rejected',
  'failed',
  'expired',
] as const;
export type SignRequestState = (typeof SIGN_REQUEST_STATES)[number];
export const FINAL_STATES: readonly SignRequestState[] = ['signed', 'rejected', 'failed', 'expired'];

/** A `signing` claim older than this is stale: its replica died and did not come back (10 min). */
export const DEFAULT_SIGNING_LEASE_MS = 600_000;

export type PresignatureState = 'available' | 'reserved' | 'used' | 'burnt';

/** A pooled presignature's public part as stored (points as compressed SEC1 hex). */
/** Spend rows one velocity check reads at most (as at the parties, src/storage/party-ledger.ts). */
export const MAX_SPENDS_READ = 100_000;

export interface PresignatureRow {
  readonly id: string;
  readonly keyId: string;
  readonly signers: readonly number[];
  readonly path: readonly number[];
  readonly R: string;
  readonly publicKey: string;
}

export interface OperatorRecord {
  readonly id: string;
  readonly publicKey: PublicJwk;
  readonly roles: readonly Role[];
  readonly disabled: boolean;
  readonly createdAt: number;
  readonly updatedAt: number;
}

export type KeyState = 'generating' | 'ready' | 'failed';
export type KeyProgress = 'keygen' | 'aux' | 'keyinfo' | 'done';

export interface KeyRecord {
  readonly id: string;
  readonly threshold: number;
  readonly parties: number;
  readonly state: KeyState;
  readonly progress: KeyProgress;
  /** Compressed SEC1 hex. */
  readonly publicKey: string | null;
  readonly chainCode: string | null;
  readonly errorCode: string | null;
  readonly createdBy: string;
  readonly createdAt: number;
  readonly updatedAt: number;
}

export interface NewSignRequest {
  readonly idempotencyKey: string;
  readonly bodyHash: string;
  readonly keyId: string;
  readonly kind: string;
  readonly payload: Uint8Array;
  readonly network: string | null;
  readonly signedRequest: string;
  readonly requestDigest: string;
  readonly initiator: string;
  readonly createdBy: string;
  readonly expiresAt: number;
}

export interface SignRequestRecord extends NewSignRequest {
  readonly id: string;
  readonly state: SignRequestState;
  readonly policyVersion: number | null;
  readonly approvals: readonly string[];
  readonly artifact: SignedArtifact | null;
  readonly error: { readonly code: string; readonly message: string } | null;
  readonly spend: SpendRecord | null;
  readonly createdAt: number;
  readonly updatedAt: number;
}

export interface SignRequestPatch {
  /** The replica taking the request into `signing`. */
  readonly claimedBy?: string;
  readonly policyVersion?: number;
  readonly approvals?: readonly string[];
  readonly artifact?: SignedArtifact;
  readonly error?: { readonly code: string; readonly message: string };
  readonly spend?: SpendRecord;
  /** Pooled presignatures this request reserved, moved reserved → used in the same transaction. */
  readonly presignaturesUsed?: readonly string[];
  /**
   * Burn, in the same transaction, every presignature still reserved for this request (a stale or
   * interrupted claim: whether the parties consumed it is unknown, so it is never offered again).
   */
  readonly burnReserved?: boolean;
}

export interface SignRequestFilter {
  readonly state?: SignRequestState;
  readonly keyId?: string;
  readonly initiator?: string;
  /** Only ids strictly below this one (the cursor: the last id of the previous page). */
  readonly before?: string;
  readonly limit: number;
}

const storeError = (what: string, cause: unknown) =>
  new MpcError('ERR_ORCH_STORE', `orchestrator store: ${what} failed`, { cause });

let lastIdMs = 0;

/**
 * A time-ordered id: 12 hex digits of milliseconds, then 16 random hex digits. Sorts by creation:
 * within this process strictly (two ids in one millisecond take the next one), across replicas by
 * their clocks.
 */
export function newId(prefix: string, now: number): string {
  lastIdMs = Math.max(now, lastIdMs + 1);
  return `${prefix}_${lastIdMs.toString(16).padStart(12, '0')}${randomBytes(8).toString('hex')}`;
}

const INT8_OID = 20;

/** Distinct statements kept prepared; the store issues a few dozen shapes, so this is never reached in use. */
const STATEMENT_CACHE_SIZE = 512;

/**
 * The database as Kysely's SQLite driver sees it, with `prepare` answered from a cache: Kysely
 * prepares every query it runs, and preparing cost more than running most of the store's statements.
 * A prepared statement is safe to reuse here: better-sqlite3 runs each to completion synchronously
 * and the store never streams (`iterate`), so no statement is in use when it is handed out again.
 */
function withStatementCache(db: Database): Database {
  const cache = new Map<string, Database.Statement>();
  const prepare = (text: string): Database.Statement => {
    const cached = cache.get(text);
    if (cached !== undefined) return cached;
    const st = db.prepare(text);
    if (cache.size >= STATEMENT_CACHE_SIZE) cache.clear();
    cache.set(text, st);
    return st;
  };
  return new Proxy(db, {
    get(target, p) {
      if (p === 'prepare') return prepare;
      const v: unknown = Reflect.get(target, p, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

/**
 * The dialect, and for PostgreSQL a wait for the pool's connections to be closed. pg's Pool.end()
 * resolves once its clients are told to end, before their sockets close: a caller that then drops
 * or restarts the database would see those closing connections fail after close() returned.
 */
function openDialect(
  cfg: StateConfig,
  onConnectionError: (e: Error) => void,
): { dialect: Dialect; closed?: () => Promise<void> } {
  if (cfg.kind === 'sqlite') {
    const db = new Database(cfg.path);
    // WAL + FULL: a committed transition survives a crash or power loss (same as the party ledger)
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('busy_timeout = 5000');
    return { dialect: new SqliteDialect({ database: withStatementCache(db) as never }) };
  }
  const password = cfg.passwordEnv ? process.env[cfg.passwordEnv] : undefined;
  const pool = new pg.Pool({
    connectionString: cfg.url,
    ...(password !== undefined ? { password } : {}),
    max: 10,
    // times are Unix ms in bigint columns: well inside 2^53, read them as numbers
    types: {
      getTypeParser: ((oid: number, format?: string) =>
        oid === INT8_OID ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as never)) as never,
    },
  });
  // An idle connection's error (the server restarted, an admin ended the session) is emitted on the
  // pool; unhandled it would kill the process. The pool drops that connection and the next query
  // opens a new one; a failing query still rejects to its caller.
  pool.on('error', (e) => onConnectionError(e));
  const open = new Set<pg.PoolClient>();
  pool.on('connect', (c) => open.add(c));
  pool.on('remove', (c) => open.delete(c));
  const closed = async () => {
    const ends = [...open].map(
      (c) =>
        new Promise<void>((resolve) => {
          const done = () => resolve();
          c.once('end', done);
          // already closed, or a bounded wait: a peer that never answers must not hang shutdown
          if ((c as unknown as { _ended?: boolean })._ended === true) resolve();
          setTimeout(done, 5000).unref();
        }),
    );
    await Promise.all(ends);
  };
  return { dialect: new PostgresDialect({ pool }), closed };
}

const json = <T>(s: string | null): T | null => (s === null ? null : (JSON.parse(s) as T));
const bigintReplacer = (_k: string, v: unknown) => (typeof v === 'bigint' ? { $bigint: v.toString() } : v);
const bigintReviver = (_k: string, v: unknown) =>
  v !== null && typeof v === 'object' && typeof (v as { $bigint?: unknown }).$bigint === 'string'
    ? BigInt((v as { $bigint: string }).$bigint)
    : v;

function toOperator(r: Selectable<OperatorsTable>): OperatorRecord {
  return {
    id: r.id,
    publicKey: JSON.parse(r.public_jwk) as PublicJwk,
    roles: JSON.parse(r.roles) as Role[],
    disabled: Number(r.disabled) !== 0,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

function toKey(r: Selectable<KeysTable>): KeyRecord {
  return {
    id: r.id,
    threshold: Number(r.threshold),
    parties: Number(r.parties),
    state: r.state as KeyState,
    progress: r.progress as KeyProgress,
    publicKey: r.public_key,
    chainCode: r.chain_code,
    errorCode: r.error_code,
    createdBy: r.created_by,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

function toSignRequest(r: Selectable<SignRequestsTable>): SignRequestRecord {
  return {
    id: r.id,
    idempotencyKey: r.idempotency_key,
    bodyHash: r.body_hash,
    keyId: r.key_id,
    kind: r.kind,
    payload: new Uint8Array(Buffer.from(r.payload, 'base64')),
    network: r.network,
    signedRequest: r.signed_request,
    requestDigest: r.request_digest,
    initiator: r.initiator,
    createdBy: r.created_by,
    state: r.state as SignRequestState,
    policyVersion: r.policy_version === null ? null : Number(r.policy_version),
    approvals: JSON.parse(r.approvals) as string[],
    artifact: json<SignedArtifact>(r.artifact),
    error: r.error_code === null ? null : { code: r.error_code, message: r.error_message ?? '' },
    spend: r.spend === null ? null : (JSON.parse(r.spend, bigintReviver) as SpendRecord),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
    expiresAt: Number(r.expires_at),
  };
}

export class OrchestratorStore {
  readonly db: Kysely<Tables>;
  readonly kind: StateConfig['kind'];

  readonly #closed: (() => Promise<void>) | undefined;
  /** This store is bound to an open transaction (`inTransaction`'s argument). */
  readonly #inTransaction: boolean;

  private constructor(
    db: Kysely<Tables>,
    kind: StateConfig['kind'],
    closed?: () => Promise<void>,
    inTransaction = false,
  ) {
    this.db = db;
    this.kind = kind;
    this.#closed = closed;
    this.#inTransaction = inTransaction;
  }

  /**
   * Runs `work` against a store bound to one transaction: its changes commit together (one commit,
   * one fsync) or not at all when it throws. Inside a transaction, `work` runs in the open one.
   */
  async inTransaction<T>(work: (tx: OrchestratorStore) => Promise<T>): Promise<T> {
    if (this.#inTransaction) return work(this);
    return this.db.transaction().execute((trx) => work(new OrchestratorStore(trx, this.kind, undefined, true)));
  }

  /**
   * Opens the database and brings its schema up to date. `onConnectionError` hears of a PostgreSQL
   * connection the server ended while idle (logged by the service; the pool replaces it).
   */
  static async open(
    cfg: StateConfig,
    onConnectionError: (e: Error) => void = () => undefined,
  ): Promise<OrchestratorStore> {
    let db: Kysely<Tables>;
    let closed: (() => Promise<void>) | undefined;
    try {
      const opened = openDialect(cfg, onConnectionError);
      closed = opened.closed;
      db = new Kysely<Tables>({ dialect: opened.dialect });
    } catch (e) {
      throw storeError('open', e);
    }
    const { error } = await new Migrator({ db, provider: migrations }).migrateToLatest();
    if (error !== undefined) {
      await db.destroy().catch(() => undefined);
      throw storeError('migration', error);
    }
    return new OrchestratorStore(db, cfg.kind, closed);
  }

  /** Closes the database; for PostgreSQL, returns once every connection has closed. */
  async close(): Promise<void> {
    await this.db.destroy();
    await this.#closed?.();
  }

  async ping(): Promise<boolean> {
    try {
      await this.db.selectFrom('documents').select('kind').limit(1).execute();
      return true;
    } catch {
      return false;
    }
  }

  // operators -------------------------------------------------------------------------------------

  /** Inserts an operator; false when the id is taken. */
  async insertOperator(o: { id: string; publicKey: PublicJwk; roles: readonly Role[] }, now: number): Promise<boolean> {
    const r = await this.db
      .insertInto('operators')
      .values({
        id: o.id,
        public_jwk: JSON.stringify(o.publicKey),
        roles: JSON.stringify(o.roles),
        disabled: 0,
        created_at: now,
        updated_at: now,
      })
      .onConflict((c) => c.column('id').doNothing())
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0n) === 1;
  }

  async getOperator(id: string): Promise<OperatorRecord | undefined> {
    const r = await this.db.selectFrom('operators').selectAll().where('id', '=', id).executeTakeFirst();
    return r === undefined ? undefined : toOperator(r);
  }

  async listOperators(): Promise<OperatorRecord[]> {
    return (await this.db.selectFrom('operators').selectAll().orderBy('id').execute()).map(toOperator);
  }

  /** Changes roles and/or the disabled flag; false when there is no such operator. */
  async updateOperator(id: string, p: { roles?: readonly Role[]; disabled?: boolean }, now: number): Promise<boolean> {
    const r = await this.db
      .updateTable('operators')
      .set({
        updated_at: now,
        ...(p.roles ? { roles: JSON.stringify(p.roles) } : {}),
        ...(p.disabled !== undefined ? { disabled: p.disabled ? 1 : 0 } : {}),
      })
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  /** Whether any enabled admin exists (bootstrap writes the configured one only when none does). */
  async hasEnabledAdmin(): Promise<boolean> {
    return (await this.listOperators()).some((o) => !o.disabled && o.roles.includes('admin'));
  }

  // nonces ----------------------------------------------------------------------------------------

  /**
   * Records a token's nonce; false if this operator already used it (a replay). Nonces are kept
   * until their token expires, then purged: an expired token is refused on its expiry anyway.
   */
  async useNonce(operatorId: string, nonce: string, expiresAt: number): Promise<boolean> {
    const insert = async (db: Kysely<Tables>) => {
      const r = await db
        .insertInto('nonces')
        .values({ operator_id: operatorId, nonce, expires_at: expiresAt })
        .onConflict((c) => c.columns(['operator_id', 'nonce']).doNothing())
        .executeTakeFirst();
      return Number(r.numInsertedOrUpdatedRows ?? 0n) === 1;
    };
    if (this.kind !== 'sqlite' || this.#inTransaction) return insert(this.db);
    // SQLite: committed without its own fsync (WAL, synchronous NORMAL for this one commit). It
    // survives a crash of the process at once and a power loss from the next FULL commit on (WAL
    // frames are synced in order): a state-changing request's nonce is on disk with the request.
    // What a power loss can take is the nonce of a read or of a refused request, replayable only
    // within that token's lifetime, to the same operator's same answer.
    return this.db.connection().execute(async (c) => {
      await sql`PRAGMA synchronous = NORMAL`.execute(c);
      try {
        return await insert(c);
      } finally {
        await sql`PRAGMA synchronous = FULL`.execute(c);
      }
    });
  }

  async purgeNonces(now: number): Promise<number> {
    const r = await this.db.deleteFrom('nonces').where('expires_at', '<', now).executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  // keys ------------------------------------------------------------------------------------------

  async insertKey(
    k: { id: string; threshold: number; parties: number; createdBy: string },
    now: number,
  ): Promise<boolean> {
    const r = await this.db
      .insertInto('keys')
      .values({
        id: k.id,
        threshold: k.threshold,
        parties: k.parties,
        state: 'generating',
        progress: 'keygen',
        public_key: null,
        chain_code: null,
        error_code: null,
        created_by: k.createdBy,
        created_at: now,
        updated_at: now,
      })
      .onConflict((c) => c.column('id').doNothing())
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0n) === 1;
  }

  async updateKey(
    id: string,
    p: { state?: KeyState; progress?: KeyProgress; publicKey?: string; chainCode?: string; errorCode?: string },
    now: number,
  ): Promise<void> {
    await this.db
      .updateTable('keys')
      .set({
        updated_at: now,
        ...(p.state ? { state: p.state } : {}),
        ...(p.progress ? { progress: p.progress } : {}),
        ...(p.publicKey ? { public_key: p.publicKey } : {}),
        ...(p.chainCode ? { chain_code: p.chainCode } : {}),
        ...(p.errorCode ? { error_code: p.errorCode } : {}),
      })
      .where('id', '=', id)
      .execute();
  }

  async getKey(id: string): Promise<KeyRecord | undefined> {
    const r = await this.db.selectFrom('keys').selectAll().where('id', '=', id).executeTakeFirst();
    return r === undefined ? undefined : toKey(r);
  }

  async listKeys(): Promise<KeyRecord[]> {
    return (await this.db.selectFrom('keys').selectAll().orderBy('id').execute()).map(toKey);
  }

  // sign requests ---------------------------------------------------------------------------------

  /**
   * Inserts a request in state `received`, or finds the one stored under its idempotency key.
   * `created` is false when the key was already used (the caller compares body hashes).
   */
  /**
   * Stores a new request in `received`, or straight in `pending_policy` under `o.policyVersion`
   * (one commit fewer on the hot path; the service knows the policy it will evaluate under).
   */
  async insertSignRequest(
    n: NewSignRequest,
    now: number,
    o: { policyVersion?: number; id?: string } = {},
  ): Promise<{ created: boolean; record: SignRequestRecord }> {
    const row: Insertable<SignRequestsTable> = {
      id: o.id ?? newId('sr', now),
      idempotency_key: n.idempotencyKey,
      body_hash: n.bodyHash,
      key_id: n.keyId,
      kind: n.kind,
      payload: Buffer.from(n.payload).toString('base64'),
      network: n.network,
      signed_request: n.signedRequest,
      request_digest: n.requestDigest,
      initiator: n.initiator,
      created_by: n.createdBy,
      state: o.policyVersion === undefined ? 'received' : 'pending_policy',
      policy_version: o.policyVersion ?? null,
      approvals: '[]',
      artifact: null,
      error_code: null,
      error_message: null,
      spend: null,
      created_at: now,
      updated_at: now,
      expires_at: n.expiresAt,
      claimed_by: null,
      claimed_at: null,
    };
    const r = await this.db
      .insertInto('sign_requests')
      .values(row)
      .onConflict((c) => c.column('idempotency_key').doNothing())
      .executeTakeFirst();
    const created = Number(r.numInsertedOrUpdatedRows ?? 0n) === 1;
    const record = await this.getSignRequestByIdempotencyKey(n.idempotencyKey);
    if (record === undefined) throw storeError('insert sign request', undefined);
    return { created, record };
  }

  async getSignRequest(id: string): Promise<SignRequestRecord | undefined> {
    const r = await this.db.selectFrom('sign_requests').selectAll().where('id', '=', id).executeTakeFirst();
    return r === undefined ? undefined : toSignRequest(r);
  }

  async getSignRequestByIdempotencyKey(key: string): Promise<SignRequestRecord | undefined> {
    const r = await this.db
      .selectFrom('sign_requests')
      .selectAll()
      .where('idempotency_key', '=', key)
      .executeTakeFirst();
    return r === undefined ? undefined : toSignRequest(r);
  }

  /** Newest first; pass the last id of a page as `before` for the next one. */
  async listSignRequests(f: SignRequestFilter): Promise<SignRequestRecord[]> {
    let q = this.db.selectFrom('sign_requests').selectAll();
    if (f.state) q = q.where('state', '=', f.state);
    if (f.keyId) q = q.where('key_id', '=', f.keyId);
    if (f.initiator) q = q.where('initiator', '=', f.initiator);
    if (f.before) q = q.where('id', '<', f.before);
    return (await q.orderBy('id', 'desc').limit(f.limit).execute()).map(toSignRequest);
  }

  /**
   * Requests in `signing` that `replica` claimed (it restarted: its sessions are gone) or that any
   * replica claimed before `staleBefore` (a replica that died and did not come back).
   */
  async signingToRecover(replica: string, staleBefore: number): Promise<string[]> {
    const rows = await this.db
      .selectFrom('sign_requests')
      .select('id')
      .where('state', '=', 'signing')
      .where((eb) =>
        eb.or([
          eb('claimed_by', '=', replica),
          eb('claimed_by', 'is', null),
          eb('claimed_at', 'is', null),
          eb('claimed_at', '<', staleBefore),
        ]),
      )
      .execute();
    return rows.map((r) => r.id);
  }

  /** Ids of requests in any of `states` (recovery after a restart, expiry sweeps). */
  async signRequestIdsIn(states: readonly SignRequestState[]): Promise<string[]> {
    const rows = await this.db
      .selectFrom('sign_requests')
      .select('id')
      .where('state', 'in', [...states])
      .execute();
    return rows.map((r) => r.id);
  }

  /**
   * Moves a request from one of `from` to `to` with `patch`, atomically: true when this call made
   * the transition, false when the request was not in any of `from` (someone else moved it).
   */
  async transition(
    id: string,
    from: readonly SignRequestState[],
    to: SignRequestState,
    patch: SignRequestPatch,
    now: number,
  ): Promise<boolean> {
    const used = patch.presignaturesUsed ?? [];
    if (used.length === 0 && !patch.burnReserved) return this.#transition(this.db, id, from, to, patch, now);
    // the request's move and its pooled presignatures' release: one commit
    return this.inTransaction(async ({ db: trx }) => {
      if (!(await this.#transition(trx, id, from, to, patch, now))) return false;
      if (used.length > 0) {
        await trx
          .updateTable('presignatures')
          .set({ state: 'used', updated_at: now })
          .where('id', 'in', [...used])
          .where('state', '=', 'reserved')
          .execute();
      }
      if (patch.burnReserved) {
        await trx
          .updateTable('presignatures')
          .set({ state: 'burnt', updated_at: now })
          .where('request_id', '=', id)
          .where('state', '=', 'reserved')
          .execute();
      }
      return true;
    });
  }

  async #transition(
    db: Kysely<Tables>,
    id: string,
    from: readonly SignRequestState[],
    to: SignRequestState,
    patch: SignRequestPatch,
    now: number,
  ): Promise<boolean> {
    const r = await db
      .updateTable('sign_requests')
      .set({
        state: to,
        updated_at: now,
        ...(patch.claimedBy !== undefined ? { claimed_by: patch.claimedBy, claimed_at: now } : {}),
        ...(patch.policyVersion !== undefined ? { policy_version: patch.policyVersion } : {}),
        ...(patch.approvals ? { approvals: JSON.stringify(patch.approvals) } : {}),
        ...(patch.artifact ? { artifact: JSON.stringify(patch.artifact) } : {}),
        ...(patch.error ? { error_code: patch.error.code, error_message: patch.error.message.slice(0, 500) } : {}),
        ...(patch.spend ? { spend: JSON.stringify(patch.spend, bigintReplacer) } : {}),
      })
      .where('id', '=', id)
      .where('state', 'in', [...from])
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  /** Replaces the approvals list if it is still `before` and the request still in one of `states`. */
  async setApprovals(
    id: string,
    before: readonly string[],
    after: readonly string[],
    states: readonly SignRequestState[],
    now: number,
  ): Promise<boolean> {
    const r = await this.db
      .updateTable('sign_requests')
      .set({ approvals: JSON.stringify(after), updated_at: now })
      .where('id', '=', id)
      .where('approvals', '=', JSON.stringify(before))
      .where('state', 'in', [...states])
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  /** Moves requests in `states` whose expiry passed to `expired`; returns their ids. */
  async expireDue(states: readonly SignRequestState[], now: number): Promise<string[]> {
    const due = await this.db
      .selectFrom('sign_requests')
      .select('id')
      .where('state', 'in', [...states])
      .where('expires_at', '<=', now)
      .execute();
    const moved: string[] = [];
    for (const { id } of due) {
      const ok = await this.transition(
        id,
        states,
        'expired',
        {
          error: { code: 'ERR_POLICY_EXPIRED', message: 'the request expired before it was signed' },
        },
        now,
      );
      if (ok) moved.push(id);
    }
    return moved;
  }

  /**
   * Spends of requests signing or signed, changed since `since` (ms), for velocity checks: a request
   * counts from the moment it is sent to the parties (two at once must not both fit under one cap).
   * At most MAX_SPENDS_READ; a caller that gets that many must refuse (the total would be short).
   */
  async spendsSince(since: number): Promise<SpendRecord[]> {
    const rows = await this.db
      .selectFrom('sign_requests')
      .select('spend')
      .where('state', 'in', ['signing', 'signed'])
      .where('updated_at', '>=', since)
      .orderBy('updated_at', 'desc')
      .limit(MAX_SPENDS_READ)
      .execute();
    return rows.flatMap((r) => (r.spend === null ? [] : [JSON.parse(r.spend, bigintReviver) as SpendRecord]));
  }

  // presignatures (pools) ------------------------------------------------------------------------

  async insertPresignature(p: PresignatureRow, now: number): Promise<void> {
    await this.db
      .insertInto('presignatures')
      .values({
        id: p.id,
        key_id: p.keyId,
        signers: JSON.stringify(p.signers),
        path: JSON.stringify(p.path),
        r_point: p.R,
        public_key: p.publicKey,
        state: 'available',
        request_id: null,
        created_at: now,
        updated_at: now,
      })
      .execute();
  }

  async countPresignatures(keyId: string, path: readonly number[], state: PresignatureState): Promise<number> {
    const r = await this.db
      .selectFrom('presignatures')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('key_id', '=', keyId)
      .where('path', '=', JSON.stringify(path))
      .where('state', '=', state)
      .executeTakeFirst();
    return Number(r?.n ?? 0);
  }

  /** Available presignatures of (key, path) per signer set (the set as `0,2`, ascending). */
  async countAvailableBySigners(keyId: string, path: readonly number[]): Promise<Map<string, number>> {
    const rows = await this.db
      .selectFrom('presignatures')
      .select(['signers', (eb) => eb.fn.countAll<number>().as('n')])
      .where('key_id', '=', keyId)
      .where('path', '=', JSON.stringify(path))
      .where('state', '=', 'available')
      .groupBy('signers')
      .execute();
    const out = new Map<string, number>();
    for (const r of rows) {
      const k = signerSetKey(JSON.parse(r.signers) as number[]);
      out.set(k, (out.get(k) ?? 0) + Number(r.n));
    }
    return out;
  }

  /**
   * Reserves the oldest available presignature of (key, path) for `requestId` whose signers
   * `accept` takes (default: any): a compare-and-set on its state, so two takers (or two replicas)
   * never get the same one. undefined when none is left.
   */
  async reservePresignature(
    keyId: string,
    path: readonly number[],
    requestId: string,
    now: number,
    accept: (signers: readonly number[]) => boolean = () => true,
  ): Promise<PresignatureRow | undefined> {
    let skipped = 0;
    for (let attempt = 0; attempt < 16; attempt++) {
      const all = await this.db
        .selectFrom('presignatures')
        .selectAll()
        .where('key_id', '=', keyId)
        .where('path', '=', JSON.stringify(path))
        .where('state', '=', 'available')
        .orderBy('created_at')
        .orderBy('id')
        .offset(skipped)
        .limit(16)
        .execute();
      if (all.length === 0) return undefined;
      const candidates = all.filter((c) => accept(JSON.parse(c.signers) as number[]));
      // rows of refused signer sets stay available: look past them next time
      skipped += all.length - candidates.length;
      for (const c of candidates) {
        const r = await this.db
          .updateTable('presignatures')
          .set({ state: 'reserved', request_id: requestId, updated_at: now })
          .where('id', '=', c.id)
          .where('state', '=', 'available')
          .executeTakeFirst();
        if (Number(r.numUpdatedRows) === 1) {
          return {
            id: c.id,
            keyId: c.key_id,
            signers: JSON.parse(c.signers) as number[],
            path: JSON.parse(c.path) as number[],
            R: c.r_point,
            publicKey: c.public_key,
          };
        }
      }
    }
    return undefined;
  }

  /** Moves presignatures from one state to another (used, burnt); returns how many moved. */
  async movePresignatures(
    ids: readonly string[],
    from: readonly PresignatureState[],
    to: PresignatureState,
    now: number,
  ): Promise<number> {
    if (ids.length === 0) return 0;
    const r = await this.db
      .updateTable('presignatures')
      .set({ state: to, updated_at: now })
      .where('id', 'in', [...ids])
      .where('state', 'in', [...from])
      .executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  /**
   * Burns reserved presignatures (after a restart: whether they were consumed is unknown). With
   * `keep`, those of requests another replica is signing now (claimed since `claimedSince`) are
   * left to it: a replica starting must not burn another's live reservations.
   */
  async burnReservedPresignatures(now: number, keep?: { replica: string; claimedSince: number }): Promise<number> {
    let q = this.db
      .updateTable('presignatures')
      .set({ state: 'burnt', updated_at: now })
      .where('state', '=', 'reserved');
    if (keep !== undefined) {
      q = q.where((eb) =>
        eb.not(
          eb.exists(
            eb
              .selectFrom('sign_requests')
              .select('sign_requests.id')
              .whereRef('sign_requests.id', '=', 'presignatures.request_id')
              .where('sign_requests.state', '=', 'signing')
              .where('sign_requests.claimed_by', '!=', keep.replica)
              .where('sign_requests.claimed_at', '>=', keep.claimedSince),
          ),
        ),
      );
    }
    const r = await q.executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  /** Burns available presignatures made before `before` (the pool's TTL). */
  async burnOldPresignatures(before: number, now: number): Promise<number> {
    const r = await this.db
      .updateTable('presignatures')
      .set({ state: 'burnt', updated_at: now })
      .where('state', '=', 'available')
      .where('created_at', '<', before)
      .executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  async presignaturesOf(requestId: string): Promise<{ id: string; state: PresignatureState }[]> {
    const rows = await this.db
      .selectFrom('presignatures')
      .select(['id', 'state'])
      .where('request_id', '=', requestId)
      .execute();
    return rows.map((r) => ({ id: r.id, state: r.state as PresignatureState }));
  }

  // signed documents (policy versions, operator registries) --------------------------------------

  /** Stores a verified document; false when that version is already stored. */
  async putDocument(kind: 'policy' | 'registry', version: number, hash: string, raw: string, now: number) {
    const r = await this.db
      .insertInto('documents')
      .values({ kind, version, hash, raw, created_at: now })
      .onConflict((c) => c.columns(['kind', 'version']).doNothing())
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0n) === 1;
  }

  async listDocuments(kind: 'policy' | 'registry'): Promise<{ version: number; hash: string; raw: string }[]> {
    const rows = await this.db
      .selectFrom('documents')
      .select(['version', 'hash', 'raw'])
      .where('kind', '=', kind)
      .orderBy('version')
      .execute();
    return rows.map((r) => ({ version: Number(r.version), hash: r.hash, raw: r.raw }));
  }
}

/** A signer set as a map key: its roster ids ascending, comma-separated. */
export const signerSetKey = (signers: readonly number[]): string => [...signers].sort((a, b) => a - b).join(',');
