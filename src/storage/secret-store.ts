import { mkdir, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { MpcError } from '../errors/index.js';
import type { MathBackend } from '../math/backend.js';
import type { KeyShare } from '../protocol/key-share.js';
import { decodeKeyShare, encodeKeyShare } from '../protocol/key-share-codec.js';
import { type AtomicWriteStep, readFileIfExists, writeFileAtomic } from './atomic-file.js';
import {
  assertShareId,
  assertVersion,
  MAX_PLAINTEXT_BYTES,
  parseBlob,
  type Sealer,
  type SealerHealth,
  type ShareId,
  sealBlob,
  unsealBlob,
} from './sealed-blob.js';

export interface ShareInfo extends ShareId {
  readonly version: number;
}

/**
 * The design document's SecretStore: sealed key shares, one current version per (party, key).
 * Plaintext buffers returned by getShare are owned by the caller, who zeroizes them after use.
 */
export interface SecretStore {
  /** Seals and durably stores `plaintext`; `version` must be greater than the stored one. */
  putShare(id: ShareId, version: number, plaintext: Uint8Array): Promise<void>;
  /**
   * @param expectedVersion when given, a blob of any other version is refused (anti-rollback: the
   *   ledger's key metadata holds the current version).
   * @throws ERR_STORAGE_NOT_FOUND, ERR_STORAGE_CORRUPT, ERR_STORAGE_SEAL_AUTH, ERR_STORAGE_VERSION_CONFLICT
   */
  getShare(id: ShareId, expectedVersion?: number): Promise<{ version: number; plaintext: Buffer }>;
  /** Removes the share; true when there was one. */
  deleteShare(id: ShareId): Promise<boolean>;
  /** Every stored share's identity and version (headers only, nothing is decrypted). */
  listShares(): Promise<ShareInfo[]>;
  close(): Promise<void>;
}

export interface SealedStoreOptions {
  /** Test hook forwarded to the atomic write (crash and fault injection). */
  readonly onWriteStep?: (step: AtomicWriteStep) => void;
}

const SUFFIX = '.share';
const MAX_BLOB_BYTES = MAX_PLAINTEXT_BYTES + 512;

/**
 * A SecretStore of sealed blobs in a directory: `<dir>/shares/<party id>/<key id>.share`, files
 * 0600, directories 0700, each write atomic (temp + fsync + rename + fsync dir) and verified by
 * reading it back. The sealer decides where the key lives (software key or HSM token).
 */
export class SealedSecretStore implements SecretStore {
  readonly #dir: string;
  readonly #sealer: Sealer;
  readonly #opts: SealedStoreOptions;
  #chain: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(dir: string, sealer: Sealer, opts: SealedStoreOptions = {}) {
    this.#dir = dir;
    this.#sealer = sealer;
    this.#opts = opts;
  }

  get sealer(): Sealer {
    return this.#sealer;
  }

  /**
   * Whether the store can seal and unseal now (no token call): a PKCS#11 store whose session was
   * lost reports 'reopening' until its backoff reopened it, and refuses operations meanwhile with
   * ERR_STORE_UNAVAILABLE. Readiness (/readyz) follows this.
   */
  health(): SealerHealth {
    if (this.#closed) return { available: false, state: 'closed', attempts: 0 };
    return this.#sealer.health?.() ?? { available: true, state: 'up', attempts: 0 };
  }

  /** Like health(), after one cheap token operation that finds a session lost while idle. */
  async probe(): Promise<SealerHealth> {
    if (this.#closed || this.#sealer.probe === undefined) return this.health();
    return this.#sealer.probe();
  }

  /** Calls `fn` on every health change of the sealer (never for a software sealer). */
  onHealthChange(fn: (h: SealerHealth) => void): () => void {
    return this.#sealer.onHealthChange?.(fn) ?? (() => undefined);
  }

  #path(id: ShareId): string {
    return join(this.#dir, 'shares', String(id.partyId), `${id.keyId}${SUFFIX}`);
  }

  #locked<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new MpcError('ERR_STORAGE_CLOSED', 'secret store is closed'));
    const next = this.#chain.then(fn, fn);
    this.#chain = next.catch(() => undefined);
    return next;
  }

  async #readBlob(id: ShareId): Promise<Buffer | undefined> {
    const blob = await readFileIfExists(this.#path(id), 'ERR_STORAGE_IO');
    if (blob !== undefined && blob.length > MAX_BLOB_BYTES) {
      throw new MpcError('ERR_STORAGE_CORRUPT', 'sealed blob exceeds the maximum size');
    }
    return blob;
  }

  async putShare(id: ShareId, version: number, plaintext: Uint8Array): Promise<void> {
    assertShareId(id);
    assertVersion(version);
    return this.#locked(async () => {
      const old = await this.#readBlob(id);
      if (old !== undefined) {
        const { header } = parseBlob(old);
        if (version <= header.version) {
          throw new MpcError('ERR_STORAGE_VERSION_CONFLICT', 'share version must increase', {
            details: { stored: header.version, requested: version },
          });
        }
      }
      const blob = await sealBlob(this.#sealer, id, version, plaintext);
      await mkdir(join(this.#dir, 'shares', String(id.partyId)), { recursive: true, mode: 0o700 });
      await writeFileAtomic(this.#path(id), blob, 0o600, {
        errorCode: 'ERR_STORAGE_IO',
        ...(this.#opts.onWriteStep ? { onStep: this.#opts.onWriteStep } : {}),
      });
      // Verify after write (A31): the bytes on disk are the bytes we sealed.
      const back = await this.#readBlob(id);
      if (back === undefined || !back.equals(blob)) {
        throw new MpcError('ERR_STORAGE_IO', 'share file differs from what was written');
      }
    });
  }

  async getShare(id: ShareId, expectedVersion?: number): Promise<{ version: number; plaintext: Buffer }> {
    assertShareId(id);
    if (expectedVersion !== undefined) assertVersion(expectedVersion);
    return this.#locked(async () => {
      const blob = await this.#readBlob(id);
      if (blob === undefined) {
        throw new MpcError('ERR_STORAGE_NOT_FOUND', 'no share stored for this party and key', {
          details: { partyId: id.partyId, keyId: id.keyId },
        });
      }
      const out = await unsealBlob(this.#sealer, id, blob);
      if (expectedVersion !== undefined && out.version !== expectedVersion) {
        out.plaintext.fill(0);
        throw new MpcError('ERR_STORAGE_VERSION_CONFLICT', 'stored share is not the expected version', {
          details: { stored: out.version, expected: expectedVersion },
        });
      }
      return out;
    });
  }

  async deleteShare(id: ShareId): Promise<boolean> {
    assertShareId(id);
    return this.#locked(async () => {
      try {
        await unlink(this.#path(id));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
        throw new MpcError('ERR_STORAGE_IO', 'deleting a share failed', { cause: e });
      }
      return true;
    });
  }

  listShares(): Promise<ShareInfo[]> {
    return this.#locked(async () => {
      const out: ShareInfo[] = [];
      const root = join(this.#dir, 'shares');
      const parties = await readdir(root).catch((e: NodeJS.ErrnoException) => {
        if (e.code === 'ENOENT') return [] as string[];
        throw new MpcError('ERR_STORAGE_IO', 'listing shares failed', { cause: e });
      });
      for (const p of parties) {
        if (!/^(0|[1-9][0-9]{0,9})$/.test(p)) continue;
        const files = await readdir(join(root, p)).catch((e: unknown) => {
          throw new MpcError('ERR_STORAGE_IO', 'listing shares failed', { cause: e });
        });
        for (const f of files) {
          if (!f.endsWith(SUFFIX) || f.startsWith('.')) continue; // temp files of interrupted writes
          const blob = await this.#readBlob({ partyId: Number(p), keyId: f.slice(0, -SUFFIX.length) });
          if (blob === undefined) continue;
          const { header } = parseBlob(blob);
          if (String(header.partyId) !== p || `${header.keyId}${SUFFIX}` !== f) {
            throw new MpcError('ERR_STORAGE_CORRUPT', 'share file is not where its header says it belongs');
          }
          out.push({ partyId: header.partyId, keyId: header.keyId, version: header.version });
        }
      }
      return out.sort((a, b) => a.partyId - b.partyId || a.keyId.localeCompare(b.keyId));
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#chain;
    this.#closed = true;
    this.#sealer.close();
  }
}

/** Encodes, seals and stores a key share; the encoded plaintext is zeroized afterwards. */
export async function putKeyShare(store: SecretStore, id: ShareId, version: number, share: KeyShare): Promise<void> {
  const bytes = encodeKeyShare(share);
  try {
    await store.putShare(id, version, bytes);
  } finally {
    bytes.fill(0);
  }
}

/** Loads, unseals, decodes and validates a key share; the plaintext is zeroized afterwards. */
export async function getKeyShare(
  store: SecretStore,
  math: MathBackend,
  id: ShareId,
  expectedVersion?: number,
): Promise<{ version: number; share: KeyShare }> {
  const { version, plaintext } = await store.getShare(id, expectedVersion);
  try {
    return { version, share: decodeKeyShare(math, plaintext) };
  } finally {
    plaintext.fill(0);
  }
}
