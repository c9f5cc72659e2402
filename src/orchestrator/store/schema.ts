/**
 * The orchestrator's tables, as Kysely sees them, and their migrations. The same migrations run on
 * SQLite and PostgreSQL: only portable column types (text, integer, bigint), no autoincrement, no
 * JSON column type (JSON is stored as text and decoded by the store). Times are Unix milliseconds.
 * A migration, once landed, is never edited: add a new one.
 */
import type { Kysely } from 'kysely';
import type { Migration, MigrationProvider } from 'kysely/migration';

export interface OperatorsTable {
  id: string;
  /** The operator's public JWK (JSON). */
  public_jwk: string;
  /** JSON array of roles. */
  roles: string;
  disabled: number;
  created_at: number;
  updated_at: number;
}

export interface NoncesTable {
  operator_id: string;
  nonce: string;
  expires_at: number;
}

export interface KeysTable {
  id: string;
  threshold: number;
  parties: number;
  /** generating | ready | failed */
  state: string;
  /** keygen | aux | keyinfo | done */
  progress: string;
  public_key: string | null;
  chain_code: string | null;
  error_code: string | null;
  created_by: string;
  created_at: number;
  updated_at: number;
}

export interface SignRequestsTable {
  id: string;
  idempotency_key: string;
  /** SHA-256 (hex) of the API request body: same key, other body is a conflict. */
  body_hash: string;
  key_id: string;
  kind: string;
  /** Payload bytes, base64. */
  payload: string;
  network: string | null;
  /** The initiator's compact JWS (src/policy/sign-request.ts), kept as received. */
  signed_request: string;
  request_digest: string;
  initiator: string;
  /** The API operator who submitted it. */
  created_by: string;
  state: string;
  policy_version: number | null;
  /** JSON array of approval statements (compact JWS). */
  approvals: string;
  /** JSON of the signed artifact, when signed. */
  artifact: string | null;
  error_code: string | null;
  error_message: string | null;
  /** JSON of the spend record (for velocity), when signed. */
  spend: string | null;
  created_at: number;
  updated_at: number;
  expires_at: number;
  /** The replica that moved it to `signing`, and when (migration 0003). */
  claimed_by: string | null;
  claimed_at: number | null;
}

export interface DocumentsTable {
  /** policy | registry */
  kind: string;
  version: number;
  hash: string;
  /** The admin-quorum-signed document (General JWS JSON), as received. */
  raw: string;
  created_at: number;
}

export interface PresignaturesTable {
  /** The presignature id the parties hold it under (64 hex). */
  id: string;
  key_id: string;
  /** JSON array of roster ids. */
  signers: string;
  /** JSON array: the BIP32 path it is bound to. */
  path: string;
  /** R and the (derived) public key, compressed SEC1 hex. */
  r_point: string;
  public_key: string;
  /** available | reserved | used | burnt */
  state: string;
  request_id: string | null;
  created_at: number;
  updated_at: number;
}

export interface Database {
  presignatures: PresignaturesTable;
  operators: OperatorsTable;
  nonces: NoncesTable;
  keys: KeysTable;
  sign_requests: SignRequestsTable;
  documents: DocumentsTable;
}

const m0001: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('operators')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('public_jwk', 'text', (c) => c.notNull())
      .addColumn('roles', 'text', (c) => c.notNull())
      .addColumn('disabled', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('nonces')
      .addColumn('operator_id', 'text', (c) => c.notNull())
      .addColumn('nonce', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('nonces_pk', ['operator_id', 'nonce'])
      .execute();
    await db.schema.createIndex('nonces_expiry').on('nonces').column('expires_at').execute();
    await db.schema
      .createTable('keys')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('threshold', 'integer', (c) => c.notNull())
      .addColumn('parties', 'integer', (c) => c.notNull())
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('progress', 'text', (c) => c.notNull())
      .addColumn('public_key', 'text')
      .addColumn('chain_code', 'text')
      .addColumn('error_code', 'text')
      .addColumn('created_by', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('sign_requests')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('idempotency_key', 'text', (c) => c.notNull().unique())
      .addColumn('body_hash', 'text', (c) => c.notNull())
      .addColumn('key_id', 'text', (c) => c.notNull())
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('payload', 'text', (c) => c.notNull())
      .addColumn('network', 'text')
      .addColumn('signed_request', 'text', (c) => c.notNull())
      .addColumn('request_digest', 'text', (c) => c.notNull())
      .addColumn('initiator', 'text', (c) => c.notNull())
      .addColumn('created_by', 'text', (c) => c.notNull())
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('policy_version', 'integer')
      .addColumn('approvals', 'text', (c) => c.notNull())
      .addColumn('artifact', 'text')
      .addColumn('error_code', 'text')
      .addColumn('error_message', 'text')
      .addColumn('spend', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('sign_requests_state').on('sign_requests').columns(['state', 'id']).execute();
    await db.schema.createIndex('sign_requests_key').on('sign_requests').columns(['key_id', 'id']).execute();
    await db.schema
      .createTable('documents')
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('version', 'integer', (c) => c.notNull())
      .addColumn('hash', 'text', (c) => c.notNull())
      .addColumn('raw', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('documents_pk', ['kind', 'version'])
      .execute();
  },
};

/** Presignature pools: which presignatures exist, are reserved, used or burnt (issue 13). */
const m0002: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('presignatures')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('key_id', 'text', (c) => c.notNull())
      .addColumn('signers', 'text', (c) => c.notNull())
      .addColumn('path', 'text', (c) => c.notNull())
      .addColumn('r_point', 'text', (c) => c.notNull())
      .addColumn('public_key', 'text', (c) => c.notNull())
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('request_id', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('presignatures_pool')
      .on('presignatures')
      .columns(['key_id', 'path', 'state', 'created_at'])
      .execute();
  },
};

/** Which replica is signing a request (a restarted replica fails only its own, or stale ones). */
const m0003: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.alterTable('sign_requests').addColumn('claimed_by', 'text').execute();
    await db.schema.alterTable('sign_requests').addColumn('claimed_at', 'bigint').execute();
  },
};

export const migrations: MigrationProvider = {
  async getMigrations() {
    return { '0001_initial': m0001, '0002_presignatures': m0002, '0003_signing_claims': m0003 };
  },
};
