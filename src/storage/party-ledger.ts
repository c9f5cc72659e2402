import { chmodSync, closeSync, copyFileSync, existsSync, fsyncSync, mkdirSync, openSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import {
  AuditEmitter,
  type AuditEmitterOptions,
  type AuditEvent,
  type ChainHead,
  EMPTY_HEAD,
  recordHash,
  type StoredRecord,
} from '../audit/index.js';
import { MpcError } from '../errors/index.js';
import type { PresignatureLedger } from '../protocol/sign.js';
import { MAX_PLAINTEXT_BYTES, parseBlob, type Sealer, sealBlob, unsealBlob } from './sealed-blob.js';

/**
 * The party ledger: key metadata and the presignature ledger, in one embedded SQLite database
 * (better-sqlite3). Why SQLite in WAL mode with synchronous = FULL:
 *
 * - A presignature must be marked consumed *durably* before the partial signature leaves the party
 *   (SECURITY.md A18/A19). With synchronous = FULL every COMMIT fsyncs the WAL before it returns,
 *   so a committed consume survives a process crash *and* a power loss. (WAL + NORMAL would only
 *   survive a process crash: a power cut could roll the last commits back and resurrect a
 *   presignature. That is the one setting we must not use.)
 * - WAL lets readers (metrics, listing) run while a writer commits, and a commit is one sequential
 *   append + fsync instead of the rollback journal's two fsyncs, so FULL stays cheap (~one fsync).
 * - SQLite gives atomic multi-row transactions and crash recovery we do not have to write
 *   ourselves; `BEGIN IMMEDIATE` + busy_timeout makes two processes racing for one presignature
 *   serialize, and exactly one sees it available.
 * - secure_delete = ON overwrites freed content, so a consumed presignature's sealed payload
 *   (set to NULL in the consuming transaction) does not linger in free pages.
 *
 * Presignature payloads are sealed (sealed-blob format, key id "p.<presignature id>", version =
 * ledger epoch) by the ledger's sealer. A consumed entry keeps only a tombstone. Backups never carry
 * available presignatures, and a restore deletes every available one and bumps the epoch (a payload
 * sealed under an old epoch cannot be unsealed any more): restore never brings a presignature back.
 *
 * Rollback by snapshot (issue 17 item 1): a filesystem or VM snapshot restored under the party
 * brings consumed presignatures back as available rows, and two signatures from one presignature
 * reveal the key. The daemon therefore seals presignatures under an *ephemeral* sealer whose key
 * dies with the process (ephemeral-sealer.ts): nothing stored by an earlier run can be unsealed.
 * At open, every available row not sealed under the current sealer's key (or of another epoch) is
 * burnt: marked consumed with `burnt_at` set, payload dropped, counted in `burntAtOpen`, so the
 * available count stays honest. A row that still fails to unseal later is burnt the same way and
 * refused with ERR_PRESIGNATURE_BURNT.
 */
export type ConsumeStep = 'begin' | 'updated' | 'committed';

export interface LedgerOptions {
  /** Seals presignature payloads; required to add or load payloads. */
  readonly sealer?: Sealer;
  /**
   * Hold SQLite's lock for the connection's lifetime (locking_mode = EXCLUSIVE): a second process
   * opening the same ledger (two daemons configured with one data directory) fails with
   * ERR_LEDGER_BUSY instead of sharing it. The OS releases the lock when the process dies.
   */
  readonly exclusive?: boolean;
  /** How long a transaction waits for another connection's write lock; default 1 s exclusive, else 5 s. */
  readonly busyTimeoutMs?: number;
  /** Test hook: called at each step of consume (crash tests die here). Never set in production. */
  readonly onConsumeStep?: (step: ConsumeStep) => void;
  /**
   * When set, every ledger change appends its signed audit record (src/audit) to the
   * `audit_records` table inside the same transaction: no extra fsync, and no change without its
   * record. The chain head is read back from the table at open.
   *
   * `anchor`: the emitter's last record already in the audit stream (sequence and record hash), for
   * a ledger that starts over while its chain goes on — a party rebuilt from a backup kit after its
   * data directory was lost. Taken only by a ledger holding no audit record and no anchor yet; kept
   * in the ledger, so the next record extends the stream instead of forking the chain at seq 1.
   */
  readonly audit?: Omit<AuditEmitterOptions, 'head'> & { readonly anchor?: ChainHead };
}

/** A key recorded before this party holds a full share of it (restored from a kit, or joining). */
export type PendingKey = Omit<KeyMeta, 'shareVersion' | 'epoch'> & { readonly epoch: number };

export interface KeyMeta {
  readonly keyId: string;
  /** Compressed public key, hex. */
  readonly publicKey: string;
  readonly threshold: number;
  readonly parties: number;
  /** The current share version in the SecretStore (anti-rollback check on load). */
  readonly shareVersion: number;
  /**
   * The key epoch of the active share (0 after keygen; +1 per committed refresh, issue #16). Set
   * only by `commitRotation`; `putKey` keeps it.
   */
  readonly epoch?: number;
  /**
   * Set when this party left the key's committee by a reshare (issue #16, `retireKey`): the epoch
   * of the new committee it is not part of. A retired key holds no share here and serves nothing.
   */
  readonly retired?: number;
}

/** A key's last rotation (refresh) at this party: prepared (next share sealed) or committed. */
export interface RotationRecord {
  readonly keyId: string;
  /** The refresh session's id (hex). */
  readonly sid: string;
  /** The new epoch. */
  readonly epoch: number;
  /** rotation.ts epochDigest of the new epoch's public data (hex). */
  readonly digest: string;
  /** The store version the new share is sealed under (`<key>.next`, then `<key>` once committed). */
  readonly shareVersion: number;
  readonly state: 'prepared' | 'committed';
}

/**
 * 2: presignatures.burnt_at (a v1 ledger is migrated at open).
 * 3: spends (velocity history, written with the consume) and policy_documents (issue #14); the
 *    tables are created at open, so a v1 or v2 ledger is migrated by the CREATE IF NOT EXISTS.
 * 4: keys.epoch, presignatures.key_epoch and rotations (key refresh, issue #16): an older ledger
 *    gets the columns (default 0: every key and presignature of epoch 0) at open. Still 4 with
 *    superseded_policies (in-flight requests keep their policy version, issue #14): a table created
 *    at open, which an older build ignores.
 * 5: keys.retired_epoch (a party that left the key's committee by a reshare, issue #16): an older
 *    ledger gets the column (NULL: a holder) at open; an older build refuses a v5 ledger, so it never
 *    serves a key this party left.
 */
const SCHEMA_VERSION = 5;
const ID_RE = /^[A-Za-z0-9._-]{1,120}$/;
const HEX_RE = /^[0-9a-f]{2,256}$/;
/** SQLite errors that say the database cannot be written now (disk full, I/O error, lock, damage). */
const WRITE_FAULT_RE = /^SQLITE_(FULL|IOERR|READONLY|CANTOPEN|BUSY|LOCKED|CORRUPT|NOTADB|PROTOCOL)/;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL) STRICT;
CREATE TABLE IF NOT EXISTS keys (
  key_id TEXT PRIMARY KEY, public_key TEXT NOT NULL, threshold INTEGER NOT NULL, parties INTEGER NOT NULL,
  share_version INTEGER NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
  epoch INTEGER NOT NULL DEFAULT 0, retired_epoch INTEGER) STRICT;
CREATE TABLE IF NOT EXISTS presignatures (
  id TEXT PRIMARY KEY, key_id TEXT, epoch INTEGER NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('available', 'consumed')),
  payload BLOB, created_at INTEGER NOT NULL, consumed_at INTEGER, burnt_at INTEGER,
  key_epoch INTEGER NOT NULL DEFAULT 0,
  CHECK ((status = 'consumed') = (payload IS NULL))) STRICT;
CREATE TABLE IF NOT EXISTS rotations (
  key_id TEXT PRIMARY KEY, sid TEXT NOT NULL, epoch INTEGER NOT NULL, digest TEXT NOT NULL,
  share_version INTEGER NOT NULL, state TEXT NOT NULL CHECK (state IN ('prepared', 'committed')),
  at INTEGER NOT NULL) STRICT;
CREATE INDEX IF NOT EXISTS presignatures_available ON presignatures (status, epoch, key_id);
CREATE TABLE IF NOT EXISTS sessions (sid TEXT PRIMARY KEY, at INTEGER NOT NULL) STRICT;
CREATE TABLE IF NOT EXISTS audit_records (seq INTEGER PRIMARY KEY, body TEXT NOT NULL, sig TEXT NOT NULL) STRICT;
CREATE TABLE IF NOT EXISTS spends (
  request TEXT PRIMARY KEY, at INTEGER NOT NULL, key_id TEXT NOT NULL, initiator TEXT NOT NULL,
  transfers TEXT NOT NULL) STRICT;
CREATE INDEX IF NOT EXISTS spends_at ON spends (at);
CREATE TABLE IF NOT EXISTS policy_documents (
  kind TEXT PRIMARY KEY CHECK (kind IN ('policy', 'registry')), version INTEGER NOT NULL, hash TEXT NOT NULL,
  document BLOB NOT NULL, stored_at INTEGER NOT NULL) STRICT;
CREATE TABLE IF NOT EXISTS superseded_policies (
  version INTEGER PRIMARY KEY, hash TEXT NOT NULL, document BLOB NOT NULL, superseded_at INTEGER NOT NULL) STRICT;
`;

/**
 * What a party signed, for its own velocity checks (issue #14): stored in the consume's transaction,
 * so a partial signature never leaves without its spend on record (and no extra fsync).
 */
export interface LedgerSpend {
  /** The request digest (hex SHA-256 of the initiator's signed request): one record per request. */
  readonly request: string;
  /** Unix seconds. */
  readonly at: number;
  readonly keyId: string;
  readonly initiator: string;
  readonly transfers: ReadonlyArray<{ readonly asset: string; readonly destination: string; readonly amount: bigint }>;
}

/** An admin-signed document as stored (re-verified against the admin set at every load). */
export interface StoredPolicyDocument {
  readonly kind: 'policy' | 'registry';
  readonly version: number;
  readonly hash: string;
  readonly document: Uint8Array;
}

/** A policy version this party held before the current one, and when it was replaced here. */
export interface SupersededPolicy {
  readonly version: number;
  readonly hash: string;
  readonly document: Uint8Array;
  /** Unix milliseconds: when the next version was stored. */
  readonly supersededAt: number;
}

export interface PutPolicyOptions {
  /** Unix milliseconds of the change (default: now). */
  readonly nowMs?: number;
  /** Replaced policy versions are kept this long after their replacement, then deleted (default: kept). */
  readonly keepSupersededMs?: number;
}

/** Spend rows read back for one velocity check at most (older rows are outside every window anyway). */
export const MAX_SPENDS_READ = 100_000;
/** Spend records older than this are dropped with the next consume (the longest velocity window is 31 days). */
export const SPEND_RETENTION_SECONDS = 32 * 24 * 3600;
const MAX_TRANSFERS_TEXT = 256 * 1024;

function ledgerError(e: unknown, what: string): MpcError {
  if (e instanceof MpcError) return e;
  const code = (e as { code?: string }).code ?? '';
  const corrupt = code === 'SQLITE_CORRUPT' || code === 'SQLITE_NOTADB';
  // busy: another connection holds the lock (retryable; nothing was changed)
  const busy = code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED');
  return new MpcError(
    corrupt ? 'ERR_LEDGER_CORRUPT' : busy ? 'ERR_LEDGER_BUSY' : 'ERR_LEDGER_IO',
    `ledger ${what} failed`,
    {
      cause: e,
      details: { sqlite: code },
    },
  );
}

function assertId(id: string, what: string): void {
  if (typeof id !== 'string' || !ID_RE.test(id)) {
    throw new MpcError('ERR_STORAGE_KEY_INVALID', `${what} must be 1..120 characters of [A-Za-z0-9._-]`);
  }
}

function fsyncPath(path: string, flags = 'r'): void {
  const fd = openSync(path, flags);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export class PartyLedger implements PresignatureLedger {
  readonly partyId: number;
  readonly #db: Database;
  readonly #opts: LedgerOptions;
  #epoch: number;
  #burntAtOpen = 0;
  /** Spend records this connection committed (spendGeneration). */
  #spendWrites = 0;
  /** Inside `group`: each `#tx` becomes a savepoint of the group's one transaction. */
  #grouped = false;
  /** Consume steps to report once the group's commit is on disk (crash tests: 'committed'). */
  #groupCommitted: (() => void)[] = [];
  /** `PRAGMA data_version`, prepared at the first spendGeneration. */
  #dataVersion: Database.Statement | undefined;
  #audit: AuditEmitter | undefined;
  /** The audit head written by the open transaction; moved into the emitter after COMMIT. */
  #auditPending: ChainHead | undefined;
  /** Told after each COMMIT that stored audit records (the shipper ships them soon). */
  #auditListener: (() => void) | undefined;
  /** The SQLite code of the last failed write (disk full, I/O error, lock); cleared by a commit. */
  #writeFault: string | undefined;

  private constructor(db: Database, partyId: number, epoch: number, opts: LedgerOptions) {
    this.#db = db;
    this.partyId = partyId;
    this.#epoch = epoch;
    this.#opts = opts;
  }

  /** Opens (creating if needed) the ledger of `partyId` at `path`; checks schema, owner and integrity. */
  static open(path: string, partyId: number, opts: LedgerOptions = {}): PartyLedger {
    if (!Number.isInteger(partyId) || partyId < 0 || partyId > 0xffffffff) {
      throw new MpcError('ERR_STORAGE_KEY_INVALID', 'party id must be an integer in [0, 2^32)');
    }
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    let db: Database | undefined;
    try {
      // Created 0600 before SQLite opens it (SQLite gives its -wal and -shm files the same mode):
      // the ledger names keys and presignatures, and the process umask must not decide who reads it.
      closeSync(openSync(path, 'a', 0o600));
      chmodSync(path, 0o600);
      db = new Database(path, { timeout: opts.busyTimeoutMs ?? (opts.exclusive ? 1000 : 5000) });
      if (opts.exclusive) db.pragma('locking_mode = EXCLUSIVE');
      db.pragma('journal_mode = WAL');
      const mode = db.pragma('journal_mode', { simple: true });
      if (mode !== 'wal') throw new MpcError('ERR_LEDGER_IO', 'ledger could not switch to WAL mode');
      db.pragma('synchronous = FULL');
      db.pragma('secure_delete = ON');
      db.pragma('foreign_keys = ON');
      const check = db.pragma('quick_check', { simple: true });
      if (check !== 'ok') throw new MpcError('ERR_LEDGER_CORRUPT', 'ledger failed its integrity check');
      db.exec('BEGIN IMMEDIATE');
      db.exec(SCHEMA);
      const get = (k: string): string | undefined =>
        (db?.prepare('SELECT v FROM meta WHERE k = ?').get(k) as { v: string } | undefined)?.v;
      const schema = get('schema_version');
      if (schema === undefined) {
        const put = db.prepare('INSERT INTO meta (k, v) VALUES (?, ?)');
        put.run('schema_version', String(SCHEMA_VERSION));
        put.run('party_id', String(partyId));
        put.run('epoch', '1');
      } else if (!['1', '2', '3', '4', String(SCHEMA_VERSION)].includes(schema)) {
        throw new MpcError('ERR_LEDGER_CORRUPT', 'unsupported ledger schema version', { details: { schema } });
      } else if (get('party_id') !== String(partyId)) {
        throw new MpcError('ERR_LEDGER_CORRUPT', 'ledger belongs to another party');
      }
      if (schema === '1') db.exec('ALTER TABLE presignatures ADD COLUMN burnt_at INTEGER');
      if (schema === '1' || schema === '2' || schema === '3') {
        db.exec('ALTER TABLE keys ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0');
        db.exec('ALTER TABLE presignatures ADD COLUMN key_epoch INTEGER NOT NULL DEFAULT 0');
      }
      if (schema === '1' || schema === '2' || schema === '3' || schema === '4') {
        db.exec('ALTER TABLE keys ADD COLUMN retired_epoch INTEGER');
        db.prepare(`UPDATE meta SET v = ? WHERE k = 'schema_version'`).run(String(SCHEMA_VERSION));
      }
      const epoch = Number(get('epoch'));
      if (!Number.isInteger(epoch) || epoch < 1 || epoch > 0xffffffff) {
        throw new MpcError('ERR_LEDGER_CORRUPT', 'ledger epoch is invalid');
      }
      const burnt = opts.sealer === undefined ? 0 : burnForeign(db, epoch, opts.sealer.keyRef);
      let audit: AuditEmitter | undefined;
      if (opts.audit !== undefined) {
        const { anchor, ...emitter } = opts.audit;
        if (anchor !== undefined) anchorChain(db, anchor);
        audit = new AuditEmitter({ ...emitter, head: auditHead(db) });
      }
      const opened =
        audit !== undefined && burnt > 0
          ? audit.prepare({ type: 'presignatures.burnt', count: burnt, reason: 'open' })
          : undefined;
      if (opened !== undefined) insertAudit(db, opened.records);
      db.exec('COMMIT');
      if (opened !== undefined) audit?.commit(opened.head);
      const ledger = new PartyLedger(db, partyId, epoch, opts);
      ledger.#burntAtOpen = burnt;
      ledger.#audit = audit;
      return ledger;
    } catch (e) {
      if (db?.inTransaction) db.exec('ROLLBACK');
      db?.close();
      throw ledgerError(e, 'open');
    }
  }

  get epoch(): number {
    return this.#epoch;
  }

  /**
   * How many available presignatures `open` burnt because they were sealed by an earlier run (a
   * restart or a restored snapshot: their ephemeral key is gone) or under another epoch.
   */
  get burntAtOpen(): number {
    return this.#burntAtOpen;
  }

  // ---- key metadata ----

  /**
   * Records a key (or its newer share version). Its audit record is `key.generated` (a new key) or
   * `key.share_updated`, unless the caller names the event (`aux.done` when aux info completes).
   */
  putKey(meta: KeyMeta, event?: AuditEvent): void {
    assertId(meta.keyId, 'key id');
    if (!HEX_RE.test(meta.publicKey)) throw new MpcError('ERR_STORAGE_KEY_INVALID', 'public key must be hex');
    const ints = [meta.threshold, meta.parties, meta.shareVersion];
    if (!ints.every((x) => Number.isInteger(x) && x >= 1 && x <= 0xffffffff) || meta.threshold > meta.parties) {
      throw new MpcError('ERR_STORAGE_KEY_INVALID', 'key metadata has invalid threshold, parties or version');
    }
    this.#tx('putKey', () => {
      const old = this.getKey(meta.keyId);
      if (old !== undefined && (old.publicKey !== meta.publicKey || meta.shareVersion < old.shareVersion)) {
        throw new MpcError('ERR_STORAGE_VERSION_CONFLICT', 'key metadata may only move to a newer share version');
      }
      const now = Date.now();
      this.#db
        .prepare(
          `INSERT INTO keys (key_id, public_key, threshold, parties, share_version, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (key_id) DO UPDATE SET threshold = excluded.threshold, parties = excluded.parties,
             share_version = excluded.share_version, updated_at = excluded.updated_at`,
        )
        .run(meta.keyId, meta.publicKey, meta.threshold, meta.parties, meta.shareVersion, now, now);
      this.#auditInTx(
        event !== undefined
          ? event
          : old === undefined
            ? {
                type: 'key.generated',
                key: meta.keyId,
                threshold: meta.threshold,
                parties: meta.parties,
                publicKey: meta.publicKey,
              }
            : { type: 'key.share_updated', key: meta.keyId, shareVersion: meta.shareVersion },
      );
    });
  }

  /**
   * Records a key whose core share was just rebuilt from a backup kit (issue #16): share version 0
   * (no full share yet: the party has no aux info and presigns only after the refresh that follows),
   * at the kit's key epoch, so that refresh moves it to epoch + 1 like every other holder. Audit:
   * `key.restored`.
   * @throws MpcError ERR_STORAGE_VERSION_CONFLICT when the ledger already knows the key
   */
  restoreKey(meta: PendingKey): void {
    this.#insertPendingKey(meta, 'restoreKey', {
      type: 'key.restored',
      key: meta.keyId,
      epoch: meta.epoch,
      publicKey: meta.publicKey,
    });
  }

  /**
   * Records a key this party joins by a reshare (issue #16), as it prepares its first share of it:
   * share version 0 at the old epoch, so the reshare's commit moves it to epoch + 1 with every other
   * holder. `threshold` and `parties` are the new committee's. Audit: `reshare.step` joining.
   * @throws MpcError ERR_STORAGE_VERSION_CONFLICT when the ledger already knows the key
   */
  joinKey(meta: PendingKey): void {
    this.#insertPendingKey(meta, 'joinKey', {
      type: 'reshare.step',
      key: meta.keyId,
      step: 'joining',
      epoch: meta.epoch,
      parties: Array.from({ length: meta.parties }, (_, j) => j),
    });
  }

  /**
   * Replaces an unfinished join of `meta.keyId` (issue #16): a reshare this party prepared as a
   * joiner whose commit never came (the coordinator stopped, or the session was aborted) is replaced
   * by a new attempt, whose committee, threshold or key epoch may differ. In one transaction the
   * prepared rotation, if any, is dropped (refresh.step abandoned) and the key row takes the new
   * attempt's metadata (reshare.step joining). Only a row with no committed share is replaced: the
   * caller has checked that it holds no restored core of the key (the ledger cannot tell one apart).
   * @throws MpcError ERR_DAEMON_KEY_UNKNOWN when the ledger holds no such key
   * @throws MpcError ERR_STORAGE_VERSION_CONFLICT when this party holds a committed share of the key
   */
  rejoinKey(meta: PendingKey): void {
    this.#checkPendingKey(meta);
    this.#tx('rejoinKey', () => {
      const old = this.getKey(meta.keyId);
      if (old === undefined) throw new MpcError('ERR_DAEMON_KEY_UNKNOWN', 'no key for this key id');
      // a committed share is a real share: never replaced (a commit always moves the version past 0)
      if (old.shareVersion !== 0) {
        throw new MpcError('ERR_STORAGE_VERSION_CONFLICT', 'this party holds a committed share of this key');
      }
      this.#abandonInTx(meta.keyId);
      this.#db
        .prepare(
          `UPDATE keys SET public_key = ?, threshold = ?, parties = ?, epoch = ?, updated_at = ?
           WHERE key_id = ? AND share_version = 0`,
        )
        .run(meta.publicKey, meta.threshold, meta.parties, meta.epoch, Date.now(), meta.keyId);
      this.#auditInTx({
        type: 'reshare.step',
        key: meta.keyId,
        step: 'joining',
        epoch: meta.epoch,
        parties: Array.from({ length: meta.parties }, (_, j) => j),
      });
    });
  }

  #checkPendingKey(meta: PendingKey): void {
    assertId(meta.keyId, 'key id');
    if (!HEX_RE.test(meta.publicKey)) throw new MpcError('ERR_STORAGE_KEY_INVALID', 'public key must be hex');
    const ints = [meta.threshold, meta.parties];
    if (
      !ints.every((x) => Number.isInteger(x) && x >= 1 && x <= 0xffffffff) ||
      meta.threshold > meta.parties ||
      !Number.isInteger(meta.epoch) ||
      meta.epoch < 0 ||
      meta.epoch > 0xffffffff
    ) {
      throw new MpcError('ERR_STORAGE_KEY_INVALID', 'key metadata has invalid threshold, parties or epoch');
    }
  }

  #insertPendingKey(meta: PendingKey, what: string, event: AuditEvent): void {
    this.#checkPendingKey(meta);
    this.#tx(what, () => {
      if (this.getKey(meta.keyId) !== undefined) {
        throw new MpcError('ERR_STORAGE_VERSION_CONFLICT', 'the ledger already holds this key');
      }
      const now = Date.now();
      this.#db
        .prepare(
          `INSERT INTO keys (key_id, public_key, threshold, parties, share_version, created_at, updated_at, epoch)
           VALUES (?, ?, ?, ?, 0, ?, ?, ?)`,
        )
        .run(meta.keyId, meta.publicKey, meta.threshold, meta.parties, now, now, meta.epoch);
      this.#auditInTx(event);
    });
  }

  getKey(keyId: string): KeyMeta | undefined {
    assertId(keyId, 'key id');
    const row = this.#run('getKey', () => this.#db.prepare('SELECT * FROM keys WHERE key_id = ?').get(keyId));
    return row === undefined ? undefined : rowToKey(row);
  }

  listKeys(): KeyMeta[] {
    return this.#run('listKeys', () => this.#db.prepare('SELECT * FROM keys ORDER BY key_id').all()).map(rowToKey);
  }

  // ---- presignatures ----

  /**
   * Stores a fresh presignature's (secret) payload, sealed; the caller zeroizes `payload`. Async:
   * sealing may be a token call (off the event loop); the row is written in one transaction after.
   */
  async addPresignature(id: string, keyId: string, payload: Uint8Array, keyEpoch = 0): Promise<void> {
    assertId(id, 'presignature id');
    assertId(keyId, 'key id');
    if (!Number.isInteger(keyEpoch) || keyEpoch < 0 || keyEpoch > 0xffffffff) {
      throw new MpcError('ERR_STORAGE_KEY_INVALID', 'key epoch must be an integer in [0, 2^32)');
    }
    const sealer = this.#sealer();
    const sealed = await sealBlob(sealer, { partyId: this.partyId, keyId: `p.${id}` }, this.#epoch, payload);
    this.#tx('addPresignature', () => {
      const had = this.#db.prepare('SELECT status FROM presignatures WHERE id = ?').get(id);
      if (had !== undefined) {
        throw new MpcError('ERR_PRESIGNATURE_USED', 'presignature id is already in the ledger', {
          details: { presignature: id },
        });
      }
      // a presignature made from the shares of an epoch the key has left (a presign that began before
      // a refresh committed here) is never stored: the party never mixes epochs
      const current = this.#keyEpoch(keyId);
      if (keyEpoch < current) {
        throw new MpcError('ERR_PRESIGNATURE_EPOCH', 'presignature was made under an earlier key epoch; not stored', {
          details: { presignature: id, presignatureEpoch: keyEpoch, keyEpoch: current },
        });
      }
      this.#db
        .prepare(
          `INSERT INTO presignatures (id, key_id, epoch, status, payload, created_at, key_epoch) VALUES (?, ?, ?, 'available', ?, ?, ?)`,
        )
        .run(id, keyId, this.#epoch, sealed, Date.now(), keyEpoch);
      this.#auditInTx({ type: 'presignature.created', key: keyId, presignature: id });
    });
  }

  /** Ids of available (never consumed) presignatures of the current epoch. */
  listAvailable(keyId?: string): string[] {
    if (keyId !== undefined) assertId(keyId, 'key id');
    const rows = this.#run('listAvailable', () =>
      keyId === undefined
        ? this.#db
            .prepare(`SELECT id FROM presignatures WHERE status = 'available' AND epoch = ? ORDER BY created_at, id`)
            .all(this.#epoch)
        : this.#db
            .prepare(
              `SELECT id FROM presignatures WHERE status = 'available' AND epoch = ? AND key_id = ? ORDER BY created_at, id`,
            )
            .all(this.#epoch, keyId),
    );
    return rows.map((r: unknown) => {
      const id = (r as { id: unknown }).id;
      if (typeof id !== 'string' || !ID_RE.test(id)) throw new MpcError('ERR_LEDGER_CORRUPT', 'ledger row is invalid');
      return id;
    });
  }

  /**
   * Records that session `sid` (hex) was started here; false when it already was. Durable, so a
   * start command replayed after a restart cannot run a session twice. Entries older than
   * `keepMs` (longer than any command's accepted clock skew) are pruned.
   */
  recordSession(sid: string, now: number = Date.now(), keepMs = 30 * 60_000): boolean {
    if (typeof sid !== 'string' || !/^[0-9a-f]{2,512}$/.test(sid)) {
      throw new MpcError('ERR_STORAGE_KEY_INVALID', 'session id must be hex');
    }
    let fresh = false;
    this.#tx('recordSession', () => {
      this.#db.prepare('DELETE FROM sessions WHERE at < ?').run(now - keepMs);
      fresh = this.#db.prepare('INSERT OR IGNORE INTO sessions (sid, at) VALUES (?, ?)').run(sid, now).changes === 1;
    });
    return fresh;
  }

  /** How many available presignatures of the current epoch `keyId` has (an index lookup). */
  countAvailable(keyId: string): number {
    assertId(keyId, 'key id');
    const row = this.#run('countAvailable', () =>
      this.#db
        .prepare(`SELECT COUNT(*) AS n FROM presignatures WHERE status = 'available' AND epoch = ? AND key_id = ?`)
        .get(this.#epoch, keyId),
    ) as { n?: unknown } | undefined;
    return typeof row?.n === 'number' ? row.n : 0;
  }

  /**
   * The unsealed payload of an available presignature; undefined once consumed (consumed entries
   * are never loaded again). The caller owns and zeroizes the returned buffer. Async (the unseal may
   * be a token call); the consume that must precede any use of it stays one synchronous commit.
   */
  async loadPresignature(id: string): Promise<Buffer | undefined> {
    assertId(id, 'presignature id');
    const row = this.#run('loadPresignature', () =>
      this.#db.prepare(`SELECT status, epoch, payload FROM presignatures WHERE id = ?`).get(id),
    ) as { status: unknown; epoch: unknown; payload: unknown } | undefined;
    if (row === undefined || row.status === 'consumed') return undefined;
    if (row.status !== 'available' || !Buffer.isBuffer(row.payload) || row.payload.length > MAX_PLAINTEXT_BYTES + 512) {
      throw new MpcError('ERR_LEDGER_CORRUPT', 'presignature row is invalid');
    }
    if (row.epoch !== this.#epoch) return undefined; // sealed under an epoch before a restore: dead
    let out: { version: number; plaintext: Buffer };
    try {
      out = await unsealBlob(this.#sealer(), { partyId: this.partyId, keyId: `p.${id}` }, row.payload);
    } catch (e) {
      const code = (e as MpcError).code;
      if (code !== 'ERR_STORAGE_SEAL_AUTH' && code !== 'ERR_STORAGE_CORRUPT') throw e;
      // sealed by an earlier run (its ephemeral key is gone) or altered: never usable, burn it
      this.#burn(id);
      throw new MpcError('ERR_PRESIGNATURE_BURNT', 'presignature was sealed by an earlier run of this party; burnt', {
        details: { presignature: id },
      });
    }
    if (out.version !== this.#epoch) {
      out.plaintext.fill(0);
      throw new MpcError('ERR_STORAGE_SEAL_AUTH', 'presignature payload was sealed under another epoch');
    }
    return out.plaintext;
  }

  /** True when `id` was burnt (stored by an earlier run, never usable) rather than used to sign. */
  isBurnt(id: string): boolean {
    assertId(id, 'presignature id');
    const row = this.#run('isBurnt', () =>
      this.#db.prepare('SELECT burnt_at FROM presignatures WHERE id = ?').get(id),
    ) as { burnt_at?: unknown } | undefined;
    return typeof row?.burnt_at === 'number';
  }

  /**
   * Burns every available presignature (marked consumed, `burnt_at` set, payload dropped) and returns
   * how many: for when the ephemeral sealing key is lost while running (an HSM session lost).
   */
  burnAvailable(): number {
    let n = 0;
    this.#tx('burnAvailable', () => {
      const now = Date.now();
      n = this.#db
        .prepare(
          `UPDATE presignatures SET status = 'consumed', payload = NULL, consumed_at = ?, burnt_at = ? WHERE status = 'available'`,
        )
        .run(now, now).changes;
      if (n > 0) this.#auditInTx({ type: 'presignatures.burnt', count: n, reason: 'sealing-key-lost' });
    });
    return n;
  }

  /**
   * Burns an available presignature (an aborted session's output): marked consumed with `burnt_at`,
   * payload dropped, never usable; its audit record names `reason`. No-op when not available.
   */
  burn(id: string, reason: string): void {
    assertId(id, 'presignature id');
    this.#burn(id, reason);
  }

  #burn(id: string, reason = 'unsealable'): void {
    this.#tx('burn', () => {
      const now = Date.now();
      const r = this.#db
        .prepare(
          `UPDATE presignatures SET status = 'consumed', payload = NULL, consumed_at = ?, burnt_at = ? WHERE id = ? AND status = 'available'`,
        )
        .run(now, now, id);
      if (r.changes === 1) this.#auditInTx({ type: 'presignature.burnt', presignature: id, reason });
    });
  }

  /** True when any presignature (available, consumed or burnt) was ever stored for `keyId`. */
  hasPresignatures(keyId: string): boolean {
    assertId(keyId, 'key id');
    const row = this.#run('hasPresignatures', () =>
      this.#db.prepare('SELECT 1 AS one FROM presignatures WHERE key_id = ? LIMIT 1').get(keyId),
    );
    return row !== undefined;
  }

  /** The key id a presignature was stored under (available or consumed); undefined when unknown. */
  keyOfPresignature(id: string): string | undefined {
    assertId(id, 'presignature id');
    const row = this.#run('keyOfPresignature', () =>
      this.#db.prepare('SELECT key_id FROM presignatures WHERE id = ?').get(id),
    ) as { key_id?: unknown } | undefined;
    return typeof row?.key_id === 'string' ? row.key_id : undefined;
  }

  isConsumed(id: string): boolean {
    assertId(id, 'presignature id');
    const row = this.#run('isConsumed', () =>
      this.#db.prepare('SELECT status FROM presignatures WHERE id = ?').get(id),
    );
    return (row as { status?: unknown } | undefined)?.status === 'consumed';
  }

  /**
   * Marks `id` consumed and commits (WAL fsynced, synchronous = FULL) before returning, so the
   * partial signature can only leave after the consume is on stable storage. An id this ledger
   * never saw is recorded as a consumed tombstone, so it too can be used only once.
   * With `spend`, the request's spend record is written in the same transaction (velocity history:
   * a request signed here is on record exactly when its presignature is consumed); a request
   * already on record (another input of the same PSBT, a retry) keeps its first record.
   * @returns whether `spend` was recorded (false: none given, or the request was on record already)
   * @throws MpcError ERR_PRESIGNATURE_USED when `id` was consumed before
   */
  consume(id: string, digest?: string, spend?: LedgerSpend): boolean {
    assertId(id, 'presignature id');
    const spendRow = spend === undefined ? undefined : spendToRow(spend);
    const step = this.#opts.onConsumeStep ?? (() => undefined);
    let recorded = false;
    step('begin');
    this.#tx('consume', () => {
      const row = this.#db.prepare('SELECT status FROM presignatures WHERE id = ?').get(id) as
        | { status: unknown }
        | undefined;
      if (row?.status === 'consumed') {
        throw new MpcError('ERR_PRESIGNATURE_USED', 'presignature was already used; refusing to sign with it again', {
          details: { presignature: id },
        });
      }
      const now = Date.now();
      if (row === undefined) {
        this.#db
          .prepare(
            `INSERT INTO presignatures (id, key_id, epoch, status, payload, created_at, consumed_at) VALUES (?, NULL, ?, 'consumed', NULL, ?, ?)`,
          )
          .run(id, this.#epoch, now, now);
      } else {
        const r = this.#db
          .prepare(
            `UPDATE presignatures SET status = 'consumed', payload = NULL, consumed_at = ? WHERE id = ? AND status = 'available'`,
          )
          .run(now, id);
        if (r.changes !== 1) throw new MpcError('ERR_LEDGER_CORRUPT', 'presignature row changed under the ledger');
      }
      const keyRow = this.#db.prepare('SELECT key_id FROM presignatures WHERE id = ?').get(id) as
        | { key_id: unknown }
        | undefined;
      this.#auditInTx({
        type: 'presignature.consumed',
        key: typeof keyRow?.key_id === 'string' ? keyRow.key_id : null,
        presignature: id,
        ...(digest === undefined ? {} : { digest }),
      });
      if (spendRow !== undefined) {
        recorded =
          this.#db
            .prepare('INSERT OR IGNORE INTO spends (request, at, key_id, initiator, transfers) VALUES (?, ?, ?, ?, ?)')
            .run(...spendRow).changes === 1;
        // records outside every velocity window count for nothing: the table stays bounded
        this.#db.prepare('DELETE FROM spends WHERE at <= ?').run(spendRow[1] - SPEND_RETENTION_SECONDS);
      }
      step('updated');
    });
    if (recorded) this.#spendWrites++;
    // in a group the record is on disk only once the group commits
    if (this.#grouped) this.#groupCommitted.push(() => step('committed'));
    else step('committed');
    return recorded;
  }

  /**
   * Group commit (issue #18): runs each of `work` in its own savepoint of ONE IMMEDIATE transaction
   * and commits once (one fsync for all). A `work` that throws is rolled back alone (every change
   * it made through this ledger, audit records included; the others kept) and its error is returned at its position (undefined:
   * done); later work sees what earlier work wrote, so a presignature consumed by one is refused
   * to the next. Returns only after the commit, so every consume in it is durable by then. When
   * the commit itself fails, nothing of the group is written and this throws (every item failed).
   */
  group(work: readonly (() => void)[]): (unknown | undefined)[] {
    if (this.#grouped) throw new MpcError('ERR_LEDGER_CORRUPT', 'ledger groups do not nest');
    const errors: (unknown | undefined)[] = work.map(() => undefined);
    this.#groupCommitted = [];
    try {
      this.#tx('group', () => {
        this.#grouped = true;
        try {
          for (const [i, w] of work.entries()) {
            const reports = this.#groupCommitted.length;
            try {
              this.#savepoint('group member', w);
            } catch (e) {
              this.#groupCommitted.length = reports;
              errors[i] = e ?? new MpcError('ERR_LEDGER_CORRUPT', 'a grouped ledger change failed');
              // SQLite rolled the whole transaction back (a full disk, an I/O error): the group fails
              if (!this.#db.inTransaction) throw errors[i];
            }
          }
        } finally {
          this.#grouped = false;
        }
      });
    } catch (e) {
      // spends counted in memory by a holder of running totals were not written: make it reload
      this.#spendWrites++;
      this.#groupCommitted = [];
      throw e;
    }
    const committed = this.#groupCommitted;
    this.#groupCommitted = [];
    for (const f of committed) f();
    return errors;
  }

  /**
   * Changes whenever a spend record was committed since the last call that returned the same
   * value: by this connection (consume) or by another one (SQLite's data_version). A holder of
   * running totals built from `spendsSince` reloads when it changes under it.
   */
  spendGeneration(): string {
    // prepared once: `db.pragma()` prepares its statement on every call (most of a co-signer check)
    this.#dataVersion ??= this.#db.prepare('PRAGMA data_version').pluck();
    const statement = this.#dataVersion;
    const version = this.#run('spendGeneration', () => statement.get());
    return `${this.#spendWrites}:${String(version)}`;
  }

  // ---- key epochs and rotations (refresh, issue #16) ----

  /** The key epoch a presignature was made under (undefined for an id never stored here). */
  presignatureKeyEpoch(id: string): number | undefined {
    assertId(id, 'presignature id');
    const row = this.#run('presignatureKeyEpoch', () =>
      this.#db.prepare('SELECT key_id, key_epoch FROM presignatures WHERE id = ?').get(id),
    ) as { key_id?: unknown; key_epoch?: unknown } | undefined;
    return row === undefined || typeof row.key_id !== 'string' || typeof row.key_epoch !== 'number'
      ? undefined
      : row.key_epoch;
  }

  /** The key's last rotation at this party (prepared or committed), if any. */
  getRotation(keyId: string): RotationRecord | undefined {
    assertId(keyId, 'key id');
    const r = this.#run('getRotation', () => this.#db.prepare('SELECT * FROM rotations WHERE key_id = ?').get(keyId)) as
      | Record<string, unknown>
      | undefined;
    if (r === undefined) return undefined;
    if (
      typeof r.sid !== 'string' ||
      typeof r.digest !== 'string' ||
      !Number.isInteger(r.epoch) ||
      !Number.isInteger(r.share_version) ||
      (r.state !== 'prepared' && r.state !== 'committed')
    )
      throw new MpcError('ERR_LEDGER_CORRUPT', 'rotation row is invalid');
    return {
      keyId,
      sid: r.sid,
      epoch: r.epoch as number,
      digest: r.digest,
      shareVersion: r.share_version as number,
      state: r.state,
    };
  }

  /**
   * Records that this party sealed its share of the key's next epoch (`<key>.next`, version
   * `shareVersion`) in refresh session `sid`: nothing changes for signing until `commitRotation`.
   * A previous prepared (never committed) rotation of the key is replaced. Audit: refresh.step prepared.
   * @throws MpcError ERR_ROTATION_STATE when the epoch does not follow the key's
   */
  prepareRotation(r: Omit<RotationRecord, 'state'>): void {
    assertId(r.keyId, 'key id');
    if (!/^[0-9a-f]{2,128}$/.test(r.sid) || !/^[0-9a-f]{64}$/.test(r.digest)) {
      throw new MpcError('ERR_STORAGE_KEY_INVALID', 'rotation sid and digest must be hex');
    }
    this.#tx('prepareRotation', () => {
      const key = this.getKey(r.keyId);
      if (key === undefined) throw new MpcError('ERR_DAEMON_KEY_UNKNOWN', 'no key for this key id');
      if (r.epoch !== (key.epoch ?? 0) + 1 || r.shareVersion <= key.shareVersion) {
        throw new MpcError(
          'ERR_ROTATION_STATE',
          "the prepared epoch must follow the key's, with a newer share version",
        );
      }
      this.#db
        .prepare(
          `INSERT INTO rotations (key_id, sid, epoch, digest, share_version, state, at) VALUES (?, ?, ?, ?, ?, 'prepared', ?)
           ON CONFLICT (key_id) DO UPDATE SET sid = excluded.sid, epoch = excluded.epoch, digest = excluded.digest,
             share_version = excluded.share_version, state = 'prepared', at = excluded.at`,
        )
        .run(r.keyId, r.sid, r.epoch, r.digest, r.shareVersion, Date.now());
      this.#auditInTx({ type: 'refresh.step', key: r.keyId, step: 'prepared', epoch: r.epoch });
    });
  }

  /** Drops a prepared rotation (the key stays on its epoch). Audit: refresh.step abandoned. No-op otherwise. */
  abandonRotation(keyId: string): void {
    assertId(keyId, 'key id');
    this.#tx('abandonRotation', () => this.#abandonInTx(keyId));
  }

  #abandonInTx(keyId: string): void {
    const r = this.#db.prepare(`SELECT epoch FROM rotations WHERE key_id = ? AND state = 'prepared'`).get(keyId) as
      | { epoch: number }
      | undefined;
    if (r === undefined) return;
    this.#db.prepare('DELETE FROM rotations WHERE key_id = ?').run(keyId);
    this.#auditInTx({ type: 'refresh.step', key: keyId, step: 'abandoned', epoch: r.epoch });
  }

  /**
   * Commits the prepared rotation of `keyId` (the caller checked every holder's acknowledgement): in
   * ONE transaction the key moves to the new epoch and share version, every available presignature
   * of an older epoch of the key is burnt (audit presignatures.burnt, reason 'epoch'), and the
   * rotation is marked committed (audit refresh.step committed). Returns how many were burnt.
   * @throws MpcError ERR_ROTATION_STATE when no rotation of that session and epoch is prepared
   */
  commitRotation(
    keyId: string,
    sid: string,
    epoch: number,
    shape?: { readonly threshold: number; readonly parties: number },
  ): number {
    assertId(keyId, 'key id');
    let burnt = 0;
    this.#tx('commitRotation', () => {
      const r = this.getRotation(keyId);
      if (r === undefined || r.state !== 'prepared' || r.sid !== sid || r.epoch !== epoch) {
        throw new MpcError('ERR_ROTATION_STATE', 'no such rotation is prepared for this key');
      }
      const now = Date.now();
      // a reshare also moves the key to its new committee's threshold and size
      const moved = this.#db
        .prepare(
          `UPDATE keys SET share_version = ?, epoch = ?, updated_at = ?,
             threshold = coalesce(?, threshold), parties = coalesce(?, parties)
           WHERE key_id = ? AND epoch = ?`,
        )
        .run(
          r.shareVersion,
          r.epoch,
          now,
          shape?.threshold ?? null,
          shape?.parties ?? null,
          keyId,
          r.epoch - 1,
        ).changes;
      if (moved !== 1) throw new MpcError('ERR_ROTATION_STATE', 'the key is not on the epoch before the rotation');
      burnt = this.#db
        .prepare(
          `UPDATE presignatures SET status = 'consumed', payload = NULL, consumed_at = ?, burnt_at = ?
           WHERE key_id = ? AND status = 'available' AND key_epoch < ?`,
        )
        .run(now, now, keyId, r.epoch).changes;
      this.#db.prepare(`UPDATE rotations SET state = 'committed', at = ? WHERE key_id = ?`).run(now, keyId);
      if (burnt > 0) this.#auditInTx({ type: 'presignatures.burnt', count: burnt, reason: 'epoch' });
      this.#auditInTx({ type: 'refresh.step', key: keyId, step: 'committed', epoch: r.epoch });
    });
    return burnt;
  }

  /**
   * This party leaves the key's committee (issue #16: a reshare to holders 0..parties−1 that does
   * not include it; the caller checked every new holder's acknowledgement of epoch `epoch`). In ONE
   * transaction: the key is marked retired at `epoch` (it stays on its old epoch and serves nothing
   * any more), a prepared rotation of it is dropped (refresh.step abandoned), every available
   * presignature of the key is burnt (audit presignatures.burnt, reason 'retired'), and the audit
   * record reshare.step 'left' names the new committee. The caller then deletes the sealed share.
   * Returns how many presignatures were burnt.
   * @throws MpcError ERR_DAEMON_KEY_UNKNOWN for a key the ledger does not hold;
   *   ERR_ROTATION_STATE when the key is retired already or `epoch` does not follow the key's
   */
  retireKey(keyId: string, epoch: number, parties: number): number {
    assertId(keyId, 'key id');
    if (!Number.isInteger(parties) || parties < 1 || parties > 0xffffffff) {
      throw new MpcError('ERR_STORAGE_KEY_INVALID', 'the new committee size is invalid');
    }
    let burnt = 0;
    this.#tx('retireKey', () => {
      const key = this.getKey(keyId);
      if (key === undefined) throw new MpcError('ERR_DAEMON_KEY_UNKNOWN', 'no key for this key id');
      if (key.retired !== undefined || epoch !== (key.epoch ?? 0) + 1) {
        throw new MpcError('ERR_ROTATION_STATE', "the key is retired already, or the epoch does not follow the key's");
      }
      const now = Date.now();
      this.#abandonInTx(keyId);
      this.#db
        .prepare('UPDATE keys SET retired_epoch = ?, updated_at = ? WHERE key_id = ? AND retired_epoch IS NULL')
        .run(epoch, now, keyId);
      burnt = this.#db
        .prepare(
          `UPDATE presignatures SET status = 'consumed', payload = NULL, consumed_at = ?, burnt_at = ?
           WHERE key_id = ? AND status = 'available'`,
        )
        .run(now, now, keyId).changes;
      if (burnt > 0) this.#auditInTx({ type: 'presignatures.burnt', count: burnt, reason: 'retired' });
      this.#auditInTx({
        type: 'reshare.step',
        key: keyId,
        step: 'left',
        epoch,
        parties: Array.from({ length: parties }, (_, j) => j),
      });
    });
    return burnt;
  }

  /** Inside a transaction or not: the key's epoch (0 for an unknown key). */
  #keyEpoch(keyId: string): number {
    const row = this.#db.prepare('SELECT epoch FROM keys WHERE key_id = ?').get(keyId) as
      | { epoch?: unknown }
      | undefined;
    return typeof row?.epoch === 'number' ? row.epoch : 0;
  }

  // ---- policy: velocity history and admin-signed documents (issue #14) ----

  /**
   * Spend records with `at > since`, except request `exclude` (the request being checked: another
   * input of it signed before must not count twice), newest first, at most MAX_SPENDS_READ.
   */
  spendsSince(since: number, exclude?: string): LedgerSpend[] {
    const rows = this.#run('spendsSince', () =>
      this.#db
        .prepare(
          'SELECT request, at, key_id, initiator, transfers FROM spends WHERE at > ? AND request != ? ORDER BY at DESC LIMIT ?',
        )
        .all(Math.floor(since), exclude ?? '', MAX_SPENDS_READ),
    ) as Array<Record<string, unknown>>;
    return rows.map(rowToSpend);
  }

  /**
   * Stores the held version of an admin-signed document (the caller verified quorum and order). A
   * policy version it replaces is kept in superseded_policies with the moment of its replacement
   * (requests issued before then may still be signed under it), for `keepSupersededMs`.
   */
  putPolicyDocument(d: StoredPolicyDocument, opts: PutPolicyOptions = {}): void {
    if ((d.kind !== 'policy' && d.kind !== 'registry') || !Number.isSafeInteger(d.version) || d.version < 1)
      throw new MpcError('ERR_STORAGE_KEY_INVALID', 'policy document kind or version is invalid');
    if (!/^[0-9a-f]{64}$/.test(d.hash)) throw new MpcError('ERR_STORAGE_KEY_INVALID', 'document hash must be hex');
    const now = opts.nowMs ?? Date.now();
    this.#tx('putPolicyDocument', () => {
      const old = this.#db.prepare('SELECT version, hash, document FROM policy_documents WHERE kind = ?').get(d.kind) as
        | { version: number; hash: string; document: Buffer }
        | undefined;
      // defence in depth below the caller's acceptUpdate: the stored version never moves back
      if (old !== undefined && old.version > d.version)
        throw new MpcError('ERR_STORAGE_VERSION_CONFLICT', `${d.kind} may only move to a newer version`);
      if (d.kind === 'policy' && old !== undefined && old.version < d.version) {
        this.#db
          .prepare(
            'INSERT OR IGNORE INTO superseded_policies (version, hash, document, superseded_at) VALUES (?, ?, ?, ?)',
          )
          .run(old.version, old.hash, old.document, now);
      }
      if (opts.keepSupersededMs !== undefined) {
        this.#db.prepare('DELETE FROM superseded_policies WHERE superseded_at < ?').run(now - opts.keepSupersededMs);
      }
      this.#db
        .prepare(
          `INSERT INTO policy_documents (kind, version, hash, document, stored_at) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (kind) DO UPDATE SET version = excluded.version, hash = excluded.hash,
             document = excluded.document, stored_at = excluded.stored_at`,
        )
        .run(d.kind, d.version, d.hash, Buffer.from(d.document), now);
      this.#auditInTx({
        type: 'policy.changed',
        version: d.version,
        hash: d.hash,
        by: 'admin-quorum',
        document: d.kind,
      });
    });
  }

  /** The held admin-signed documents (at most one per kind). */
  policyDocuments(): StoredPolicyDocument[] {
    const rows = this.#run('policyDocuments', () =>
      this.#db.prepare('SELECT kind, version, hash, document FROM policy_documents ORDER BY kind').all(),
    ) as Array<Record<string, unknown>>;
    return rows.map((r) => {
      if (
        (r.kind !== 'policy' && r.kind !== 'registry') ||
        typeof r.version !== 'number' ||
        typeof r.hash !== 'string' ||
        !Buffer.isBuffer(r.document)
      )
        throw new MpcError('ERR_LEDGER_CORRUPT', 'policy document row is invalid');
      return { kind: r.kind, version: r.version, hash: r.hash, document: new Uint8Array(r.document) };
    });
  }

  /** Policy versions replaced here and still kept, oldest first. */
  supersededPolicies(): SupersededPolicy[] {
    const rows = this.#run('supersededPolicies', () =>
      this.#db.prepare('SELECT version, hash, document, superseded_at FROM superseded_policies ORDER BY version').all(),
    ) as Array<Record<string, unknown>>;
    return rows.map((r) => {
      if (
        typeof r.version !== 'number' ||
        typeof r.hash !== 'string' ||
        !Buffer.isBuffer(r.document) ||
        typeof r.superseded_at !== 'number'
      )
        throw new MpcError('ERR_LEDGER_CORRUPT', 'superseded policy row is invalid');
      return {
        version: r.version,
        hash: r.hash,
        document: new Uint8Array(r.document),
        supersededAt: r.superseded_at,
      };
    });
  }

  // ---- backup and restore ----

  /**
   * A consistent online backup to `path` (must not exist) with every available presignature removed
   * (consumed tombstones are kept): a backup never carries a usable presignature.
   */
  async backupTo(path: string): Promise<void> {
    if (existsSync(path)) throw new MpcError('ERR_STORAGE_KEY_INVALID', 'backup target already exists');
    try {
      await this.#db.backup(path);
      const b = new Database(path);
      try {
        b.pragma('secure_delete = ON');
        b.exec(`DELETE FROM presignatures WHERE status = 'available'`);
        b.pragma('journal_mode = DELETE');
        b.exec('VACUUM');
      } finally {
        b.close();
      }
      fsyncPath(path);
      fsyncPath(dirname(path));
    } catch (e) {
      rmSync(path, { force: true });
      throw ledgerError(e, 'backup');
    }
  }

  /**
   * Replaces the (closed) ledger at `livePath` with `backupPath`, then deletes every available
   * presignature and bumps the epoch, so nothing sealed before the restore can be used again.
   */
  static restore(backupPath: string, livePath: string, partyId: number, opts: LedgerOptions = {}): PartyLedger {
    try {
      for (const suffix of ['', '-wal', '-shm']) rmSync(`${livePath}${suffix}`, { force: true });
      copyFileSync(backupPath, livePath);
      fsyncPath(livePath);
      fsyncPath(dirname(livePath));
    } catch (e) {
      throw ledgerError(e, 'restore');
    }
    const ledger = PartyLedger.open(livePath, partyId, opts);
    ledger.#tx('restore', () => {
      ledger.#db.exec(`DELETE FROM presignatures WHERE status = 'available'`);
      const epoch = ledger.#epoch + 1;
      ledger.#db.prepare(`UPDATE meta SET v = ? WHERE k = 'epoch'`).run(String(epoch));
      ledger.#epoch = epoch;
    });
    return ledger;
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }

  /**
   * Whether the last write committed (readiness, issue 17 item 7): after a write failed with a
   * SQLite error (SQLITE_FULL, SQLITE_IOERR, a lock not obtained, …) the ledger reports itself
   * unwritable until a later write commits; `probeWrite` makes such a write.
   */
  writeHealth(): { writable: boolean; reason?: string } {
    if (!this.#db.open) return { writable: false, reason: 'closed' };
    return this.#writeFault === undefined ? { writable: true } : { writable: false, reason: this.#writeFault };
  }

  /** One small durable write (meta row `probe`); true when it committed. */
  probeWrite(): boolean {
    try {
      this.#tx('probe', () => {
        this.#db
          .prepare(`INSERT INTO meta (k, v) VALUES ('probe', ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v`)
          .run(String(Date.now()));
      });
    } catch {
      // recorded in #writeFault
    }
    return this.writeHealth().writable;
  }

  // ---- audit records ----

  /** Appends an audit record that describes no ledger row (daemon start/stop, refusals), durably. */
  appendAudit(event: AuditEvent): void {
    if (this.#audit === undefined) throw new MpcError('ERR_CONFIG_INVALID', 'the ledger was opened without audit');
    this.#tx('appendAudit', () => this.#auditInTx(event));
  }

  /** `fn` runs after each COMMIT that stored audit records; one listener (the shipper). */
  onAuditCommitted(fn: (() => void) | undefined): void {
    this.#auditListener = fn;
  }

  /** True when the ledger was opened with `audit` (its changes carry audit records). */
  get auditing(): boolean {
    return this.#audit !== undefined;
  }

  /** The audit chain head stored here (seq 0 when none or audit is off). */
  get auditHead(): ChainHead {
    return this.#audit?.head ?? EMPTY_HEAD;
  }

  /** Up to `limit` stored audit records with seq > `afterSeq`, in order (the shipper's source). */
  recordsAfter(afterSeq: number, limit: number): StoredRecord[] {
    const rows = this.#run('recordsAfter', () =>
      this.#db.prepare('SELECT body, sig FROM audit_records WHERE seq > ? ORDER BY seq LIMIT ?').all(afterSeq, limit),
    ) as Array<{ body: unknown; sig: unknown }>;
    return rows.map((r) => {
      if (typeof r.body !== 'string' || typeof r.sig !== 'string')
        throw new MpcError('ERR_LEDGER_CORRUPT', 'audit row is invalid');
      return { body: r.body, sig: r.sig };
    });
  }

  /**
   * Inside an open transaction: stores the event's records (chained onto any records this
   * transaction stored already); the head moves after COMMIT.
   */
  #auditInTx(event: AuditEvent): void {
    if (this.#audit === undefined) return;
    const out = this.#audit.prepare(event, this.#auditPending);
    insertAudit(this.#db, out.records);
    this.#auditPending = out.head;
  }

  #sealer(): Sealer {
    if (this.#opts.sealer === undefined) {
      throw new MpcError('ERR_CONFIG_INVALID', 'the ledger needs a sealer to store presignature payloads');
    }
    return this.#opts.sealer;
  }

  #run<T>(what: string, fn: () => T): T {
    if (!this.#db.open) throw new MpcError('ERR_STORAGE_CLOSED', 'ledger is closed');
    try {
      return fn();
    } catch (e) {
      throw ledgerError(e, what);
    }
  }

  /** One IMMEDIATE transaction (takes the write lock first: racing consumers serialize). */
  #tx(what: string, fn: () => void): void {
    if (this.#grouped) {
      this.#savepoint(what, fn);
      return;
    }
    this.#run(what, () => {
      try {
        this.#db.exec('BEGIN IMMEDIATE');
        this.#auditPending = undefined;
        fn();
        this.#db.exec('COMMIT');
        this.#writeFault = undefined;
      } catch (e) {
        this.#auditPending = undefined;
        // the storage under the ledger failed (not a refusal of ours): readiness shows it
        const code = String((e as { code?: unknown }).code ?? '');
        if (WRITE_FAULT_RE.test(code)) this.#writeFault = code;
        if (this.#db.inTransaction) this.#db.exec('ROLLBACK');
        throw e;
      }
      const head = this.#auditPending;
      this.#auditPending = undefined;
      if (head !== undefined) {
        this.#audit?.commit(head);
        this.#auditListener?.();
      }
    });
  }

  /** One change inside a group: rolled back alone when it throws (audit records included). */
  #savepoint(what: string, fn: () => void): void {
    this.#run(what, () => {
      const pending = this.#auditPending;
      this.#db.exec('SAVEPOINT grouped');
      try {
        fn();
      } catch (e) {
        this.#auditPending = pending;
        const code = String((e as { code?: unknown }).code ?? '');
        if (WRITE_FAULT_RE.test(code)) this.#writeFault = code;
        if (this.#db.inTransaction) {
          this.#db.exec('ROLLBACK TO grouped');
          this.#db.exec('RELEASE grouped');
        }
        throw e;
      }
      this.#db.exec('RELEASE grouped');
    });
  }
}

/**
 * Burns (inside the open transaction) every available presignature of another epoch or not sealed
 * under `keyRef`; returns how many. A payload that does not even parse is burnt too.
 */
function burnForeign(db: Database, epoch: number, keyRef: string): number {
  const rows = db.prepare(`SELECT id, epoch, payload FROM presignatures WHERE status = 'available'`).all() as Array<{
    id: unknown;
    epoch: unknown;
    payload: unknown;
  }>;
  const now = Date.now();
  const burn = db.prepare(
    `UPDATE presignatures SET status = 'consumed', payload = NULL, consumed_at = ?, burnt_at = ? WHERE id = ? AND status = 'available'`,
  );
  let n = 0;
  for (const r of rows) {
    let ours = false;
    if (r.epoch === epoch && Buffer.isBuffer(r.payload)) {
      try {
        ours = parseBlob(r.payload).header.keyRef === keyRef;
      } catch {
        ours = false;
      }
    }
    if (!ours) n += burn.run(now, now, r.id).changes;
  }
  return n;
}

/** The last stored audit record's seq and hash (the emitter resumes from it). */
/** Stores `anchor` as the chain's start when the ledger has no audit record and no anchor yet. */
function anchorChain(db: Database, anchor: ChainHead): void {
  if (!Number.isSafeInteger(anchor.seq) || anchor.seq < 1 || !/^[0-9a-f]{64}$/.test(anchor.hash)) {
    throw new MpcError('ERR_AUDIT_EVENT_INVALID', 'audit chain anchor is malformed');
  }
  const rows = db.prepare('SELECT count(*) AS n FROM audit_records').get() as { n: number };
  const stored = db.prepare(`SELECT v FROM meta WHERE k = 'audit_anchor'`).get();
  if (rows.n > 0 || stored !== undefined) return;
  db.prepare(`INSERT INTO meta (k, v) VALUES ('audit_anchor', ?)`).run(`${anchor.seq}:${anchor.hash}`);
}

function auditHead(db: Database): ChainHead {
  const row = db.prepare('SELECT seq, body FROM audit_records ORDER BY seq DESC LIMIT 1').get() as
    | { seq: unknown; body: unknown }
    | undefined;
  if (row === undefined) {
    // a chain continued from the stream (anchorChain), or a new one
    const anchor = (db.prepare(`SELECT v FROM meta WHERE k = 'audit_anchor'`).get() as { v: string } | undefined)?.v;
    const m = anchor === undefined ? null : /^([1-9][0-9]{0,15}):([0-9a-f]{64})$/.exec(anchor);
    if (anchor !== undefined && m === null) throw new MpcError('ERR_LEDGER_CORRUPT', 'audit anchor is invalid');
    return m === null ? EMPTY_HEAD : { seq: Number(m[1]), hash: m[2] as string };
  }
  if (typeof row.seq !== 'number' || typeof row.body !== 'string')
    throw new MpcError('ERR_LEDGER_CORRUPT', 'audit row is invalid');
  return { seq: row.seq, hash: recordHash(row.body) };
}

function insertAudit(db: Database, records: readonly StoredRecord[]): void {
  const put = db.prepare('INSERT INTO audit_records (seq, body, sig) VALUES (?, ?, ?)');
  for (const r of records) put.run((JSON.parse(r.body) as { seq: number }).seq, r.body, r.sig);
}

function spendToRow(s: LedgerSpend): [string, number, string, string, string] {
  if (!/^[0-9a-f]{64}$/.test(s.request) || !Number.isSafeInteger(s.at) || s.at < 0)
    throw new MpcError('ERR_STORAGE_KEY_INVALID', 'spend record has an invalid request digest or time');
  const transfers = JSON.stringify(
    s.transfers.map((t) => ({ asset: t.asset, destination: t.destination, amount: t.amount.toString() })),
  );
  if (transfers.length > MAX_TRANSFERS_TEXT) throw new MpcError('ERR_STORAGE_KEY_INVALID', 'spend record too large');
  return [s.request, s.at, s.keyId, s.initiator, transfers];
}

function rowToSpend(r: Record<string, unknown>): LedgerSpend {
  const bad = () => new MpcError('ERR_LEDGER_CORRUPT', 'spend row is invalid');
  if (
    typeof r.request !== 'string' ||
    typeof r.at !== 'number' ||
    typeof r.key_id !== 'string' ||
    typeof r.initiator !== 'string' ||
    typeof r.transfers !== 'string'
  )
    throw bad();
  let list: unknown;
  try {
    list = JSON.parse(r.transfers);
  } catch {
    throw bad();
  }
  if (!Array.isArray(list)) throw bad();
  const transfers = list.map((t: Record<string, unknown>) => {
    if (typeof t?.asset !== 'string' || typeof t.destination !== 'string' || typeof t.amount !== 'string') throw bad();
    if (!/^(0|[1-9][0-9]*)$/.test(t.amount)) throw bad();
    return { asset: t.asset, destination: t.destination, amount: BigInt(t.amount) };
  });
  return { request: r.request, at: r.at, keyId: r.key_id, initiator: r.initiator, transfers };
}

function rowToKey(row: unknown): KeyMeta {
  const r = row as Record<string, unknown>;
  const ok =
    typeof r.key_id === 'string' &&
    ID_RE.test(r.key_id) &&
    typeof r.public_key === 'string' &&
    HEX_RE.test(r.public_key) &&
    [r.threshold, r.parties].every((x) => Number.isInteger(x) && (x as number) >= 1) &&
    // share version 0: restored from a backup kit, no full share yet (restoreKey)
    Number.isInteger(r.share_version) &&
    (r.share_version as number) >= 0;
  if (!ok) throw new MpcError('ERR_LEDGER_CORRUPT', 'key metadata row is invalid');
  return {
    keyId: r.key_id as string,
    publicKey: r.public_key as string,
    threshold: r.threshold as number,
    parties: r.parties as number,
    shareVersion: r.share_version as number,
    // epoch 0 (every key before its first refresh) is left out, as in KeyMeta written by putKey
    ...(Number.isInteger(r.epoch) && (r.epoch as number) > 0 ? { epoch: r.epoch as number } : {}),
    ...(Number.isInteger(r.retired_epoch) ? { retired: r.retired_epoch as number } : {}),
  };
}
