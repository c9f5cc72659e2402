import { randomBytes } from 'node:crypto';
import { MpcError } from '../errors/index.js';
import { KEY_SHARE_MAX_BYTES } from '../protocol/key-share-codec.js';

/**
 * The sealed-blob format (version 1), big-endian, no trailing bytes:
 *
 *   magic "MPCS" (4) | format u8 = 1 | sealer u8 | party id u32 | share version u32
 *   | key id len u8 | key id (1..128, [A-Za-z0-9._-]) | key ref len u8 | key ref (1..64, printable ASCII)
 *   | iv (12) | ciphertext‖tag len u32 (16..KEY_SHARE_MAX_BYTES+16) | ciphertext‖tag
 *
 * The associated data of the AEAD is the whole header up to and including the IV, rebuilt with the
 * party id and key id the *caller expects* (not the ones read from disk): a blob moved to another
 * party or key, or with any header byte changed (version, sealer, key ref), fails authentication
 * (SECURITY.md A33). The tag is 128 bits; the IV is 96 random bits per seal.
 */
export const BLOB_MAGIC = Buffer.from('MPCS', 'ascii');
export const BLOB_FORMAT_VERSION = 1;
export const IV_BYTES = 12;
export const TAG_BYTES = 16;
export const MAX_PLAINTEXT_BYTES = KEY_SHARE_MAX_BYTES;
const MAX_KEY_ID = 128;
const MAX_KEY_REF = 64;
const KEY_ID_RE = /^[A-Za-z0-9._-]+$/;
const KEY_REF_RE = /^[\x21-\x7e]+$/;

/** Which sealer produced a blob. */
export const SealerKind = { software: 1, pkcs11: 2 } as const;
export type SealerKind = (typeof SealerKind)[keyof typeof SealerKind];

/**
 * Seals and unseals with AES-GCM under a key the caller never sees in the clear (the HSM) or holds
 * privately (the file store). `unseal` rejects with ERR_STORAGE_SEAL_AUTH on any authentication
 * failure. Both are asynchronous (issue 17 item 7): a token call runs on libuv's thread pool
 * (pkcs11js C_EncryptAsync / C_DecryptAsync), so a slow or hung HSM does not stall the event loop.
 */
export interface Sealer {
  readonly kind: SealerKind;
  /** A public name of the sealing key (KEK label, key fingerprint) stored in every blob. */
  readonly keyRef: string;
  seal(iv: Buffer, aad: Buffer, plaintext: Uint8Array): Promise<Buffer>;
  unseal(iv: Buffer, aad: Buffer, sealed: Buffer): Promise<Buffer>;
  close(): void;
  /** The device's state, for sealers that can lose it (PKCS#11); absent means always available. */
  health?(): SealerHealth;
  /** Checks the device with one cheap operation, then reports health (readiness probes). */
  probe?(): Promise<SealerHealth>;
  /** Calls `fn` on every change of health; returns the unsubscribe function. */
  onHealthChange?(fn: (h: SealerHealth) => void): () => void;
}

/** What a sealer reports about the device behind it (readiness, metrics); software sealers are always up. */
export interface SealerHealth {
  /** True while the session is open and logged in. */
  readonly available: boolean;
  /** 'up', 'reopening' (backoff running) or 'failed' (a refused PIN: no retry, an operator must act). */
  readonly state: 'up' | 'reopening' | 'failed' | 'closed';
  /** Why it is down: the Cryptoki return value or error code that ended the session or the last attempt. */
  readonly reason?: string;
  /** Reopen attempts since the session was lost. */
  readonly attempts: number;
}

export interface ShareId {
  readonly partyId: number;
  readonly keyId: string;
}

export interface BlobHeader extends ShareId {
  readonly format: number;
  readonly sealer: SealerKind;
  readonly version: number;
  readonly keyRef: string;
  readonly iv: Buffer;
}

const corrupt = (what: string): never => {
  throw new MpcError('ERR_STORAGE_CORRUPT', `sealed blob is malformed: ${what}`);
};

export function assertShareId(id: ShareId): void {
  if (!Number.isInteger(id.partyId) || id.partyId < 0 || id.partyId > 0xffffffff) {
    throw new MpcError('ERR_STORAGE_KEY_INVALID', 'party id must be an integer in [0, 2^32)');
  }
  if (
    typeof id.keyId !== 'string' ||
    id.keyId.length < 1 ||
    id.keyId.length > MAX_KEY_ID ||
    !KEY_ID_RE.test(id.keyId)
  ) {
    throw new MpcError('ERR_STORAGE_KEY_INVALID', `key id must be 1..${MAX_KEY_ID} characters of [A-Za-z0-9._-]`);
  }
  if (id.keyId === '.' || id.keyId === '..') throw new MpcError('ERR_STORAGE_KEY_INVALID', 'key id is reserved');
}

export function assertVersion(version: number): void {
  if (!Number.isInteger(version) || version < 1 || version > 0xffffffff) {
    throw new MpcError('ERR_STORAGE_KEY_INVALID', 'share version must be an integer in [1, 2^32)');
  }
}

function encodeHeader(h: BlobHeader): Buffer {
  const keyId = Buffer.from(h.keyId, 'ascii');
  const keyRef = Buffer.from(h.keyRef, 'ascii');
  const out = Buffer.alloc(4 + 1 + 1 + 4 + 4 + 1 + keyId.length + 1 + keyRef.length + IV_BYTES);
  let o = BLOB_MAGIC.copy(out, 0);
  o = out.writeUInt8(h.format, o);
  o = out.writeUInt8(h.sealer, o);
  o = out.writeUInt32BE(h.partyId, o);
  o = out.writeUInt32BE(h.version, o);
  o = out.writeUInt8(keyId.length, o);
  o += keyId.copy(out, o);
  o = out.writeUInt8(keyRef.length, o);
  o += keyRef.copy(out, o);
  h.iv.copy(out, o);
  return out;
}

/** Seals `plaintext` (an encoded key share) for (partyId, keyId, version). */
export async function sealBlob(sealer: Sealer, id: ShareId, version: number, plaintext: Uint8Array): Promise<Buffer> {
  assertShareId(id);
  assertVersion(version);
  if (plaintext.length < 1 || plaintext.length > MAX_PLAINTEXT_BYTES) {
    throw new MpcError('ERR_STORAGE_KEY_INVALID', `plaintext must be 1..${MAX_PLAINTEXT_BYTES} bytes`);
  }
  if (sealer.keyRef.length > MAX_KEY_REF || !KEY_REF_RE.test(sealer.keyRef)) {
    throw new MpcError('ERR_STORAGE_KEY_INVALID', 'sealer key ref is not printable ASCII of at most 64 bytes');
  }
  const header = encodeHeader({
    format: BLOB_FORMAT_VERSION,
    sealer: sealer.kind,
    partyId: id.partyId,
    keyId: id.keyId,
    version,
    keyRef: sealer.keyRef,
    iv: randomBytes(IV_BYTES),
  });
  const iv = header.subarray(header.length - IV_BYTES);
  const sealed = await sealer.seal(iv, header, plaintext);
  if (sealed.length !== plaintext.length + TAG_BYTES) {
    throw new MpcError('ERR_STORAGE_SEAL_AUTH', 'sealer returned a ciphertext of unexpected length');
  }
  const len = Buffer.alloc(4);
  len.writeUInt32BE(sealed.length);
  return Buffer.concat([header, len, sealed]);
}

/** Parses and validates every field of a blob (sizes, magic, version, charset); does not decrypt. */
export function parseBlob(blob: Uint8Array): { header: BlobHeader; sealed: Buffer } {
  const b = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  let o = 0;
  const need = (n: number, what: string): void => {
    if (o + n > b.length) corrupt(`truncated at ${what}`);
  };
  need(6, 'magic');
  if (!b.subarray(0, 4).equals(BLOB_MAGIC)) corrupt('bad magic');
  o = 4;
  const format = b.readUInt8(o++);
  if (format !== BLOB_FORMAT_VERSION) corrupt(`unsupported format version ${format}`);
  const sealer = b.readUInt8(o++);
  if (sealer !== SealerKind.software && sealer !== SealerKind.pkcs11) corrupt(`unknown sealer ${sealer}`);
  need(9, 'ids');
  const partyId = b.readUInt32BE(o);
  o += 4;
  const version = b.readUInt32BE(o);
  o += 4;
  if (version < 1) corrupt('share version 0');
  const keyIdLen = b.readUInt8(o++);
  if (keyIdLen < 1 || keyIdLen > MAX_KEY_ID) corrupt('key id length');
  need(keyIdLen + 1, 'key id');
  const keyId = b.subarray(o, o + keyIdLen).toString('latin1');
  o += keyIdLen;
  if (!KEY_ID_RE.test(keyId)) corrupt('key id charset');
  const keyRefLen = b.readUInt8(o++);
  if (keyRefLen < 1 || keyRefLen > MAX_KEY_REF) corrupt('key ref length');
  need(keyRefLen + IV_BYTES + 4, 'key ref');
  const keyRef = b.subarray(o, o + keyRefLen).toString('latin1');
  o += keyRefLen;
  if (!KEY_REF_RE.test(keyRef)) corrupt('key ref charset');
  const iv = Buffer.from(b.subarray(o, o + IV_BYTES));
  o += IV_BYTES;
  const len = b.readUInt32BE(o);
  o += 4;
  if (len < TAG_BYTES + 1 || len > MAX_PLAINTEXT_BYTES + TAG_BYTES) corrupt('ciphertext length');
  if (o + len !== b.length) corrupt(o + len > b.length ? 'truncated ciphertext' : 'trailing bytes');
  const sealed = Buffer.from(b.subarray(o, o + len));
  return {
    header: { format, sealer: sealer as SealerKind, partyId, version, keyId, keyRef, iv },
    sealed,
  };
}

/**
 * Unseals a blob for the share the caller expects. The AAD is rebuilt from `expected`, so a blob of
 * another party or key fails authentication (ERR_STORAGE_SEAL_AUTH) exactly like a tampered one.
 * The caller owns (and must zeroize) the returned plaintext.
 */
export async function unsealBlob(
  sealer: Sealer,
  expected: ShareId,
  blob: Uint8Array,
): Promise<{ version: number; plaintext: Buffer }> {
  assertShareId(expected);
  const { header, sealed } = parseBlob(blob);
  if (header.sealer !== sealer.kind) {
    throw new MpcError('ERR_STORAGE_SEAL_AUTH', 'blob was sealed by another kind of store', {
      details: { blobSealer: header.sealer, storeSealer: sealer.kind },
    });
  }
  if (header.keyRef !== sealer.keyRef) {
    throw new MpcError('ERR_STORAGE_SEAL_AUTH', 'blob was sealed under another key', {
      details: { blobKey: header.keyRef, storeKey: sealer.keyRef },
    });
  }
  if (header.partyId !== expected.partyId || header.keyId !== expected.keyId) {
    throw new MpcError('ERR_STORAGE_SEAL_AUTH', 'blob belongs to another party or key; refusing to decrypt it', {
      details: { expectedParty: expected.partyId, blobParty: header.partyId },
    });
  }
  // Belt and braces: the AAD is built from the expected identity, so even a header check bypassed by
  // a future change cannot make a swapped blob decrypt.
  const aad = encodeHeader({ ...header, partyId: expected.partyId, keyId: expected.keyId });
  const plaintext = await sealer.unseal(header.iv, aad, sealed);
  return { version: header.version, plaintext };
}
