import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  randomBytes,
  scryptSync,
  timingSafeEqual,
} from 'node:crypto';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { MpcError } from '../errors/index.js';
import { readFileIfExists, writeFileAtomic } from './atomic-file.js';
import { type Sealer, SealerKind, TAG_BYTES } from './sealed-blob.js';

export const AES_KEY_BYTES = 32;

/**
 * AES-256-GCM in software (node:crypto / OpenSSL) under a 32-byte key held in a Buffer this object
 * owns and zeroizes on close(). The key comes from a key file or from a passphrase through scrypt.
 */
export class SoftwareSealer implements Sealer {
  readonly kind = SealerKind.software;
  readonly keyRef: string;
  readonly #key: Buffer;
  #closed = false;

  /** Takes ownership of `key` (it is zeroized on close). */
  constructor(key: Buffer) {
    if (key.length !== AES_KEY_BYTES) throw new MpcError('ERR_STORAGE_KEY_INVALID', 'sealing key must be 32 bytes');
    this.#key = key;
    // A public fingerprint (64 bits of a domain-separated hash): tells keys apart, reveals nothing.
    this.keyRef = `sw:${createHash('sha256').update('mpc-custody key ref v1').update(key).digest('hex').slice(0, 16)}`;
  }

  /** In-process AES-GCM of a few KiB: microseconds, so it runs inline (no thread pool hop). */
  async seal(iv: Buffer, aad: Buffer, plaintext: Uint8Array): Promise<Buffer> {
    this.#open();
    const c = createCipheriv('aes-256-gcm', this.#key, iv, { authTagLength: TAG_BYTES });
    c.setAAD(aad);
    return Buffer.concat([c.update(plaintext), c.final(), c.getAuthTag()]);
  }

  async unseal(iv: Buffer, aad: Buffer, sealed: Buffer): Promise<Buffer> {
    this.#open();
    if (sealed.length < TAG_BYTES) throw new MpcError('ERR_STORAGE_SEAL_AUTH', 'sealed data shorter than the tag');
    const d = createDecipheriv('aes-256-gcm', this.#key, iv, { authTagLength: TAG_BYTES });
    d.setAAD(aad);
    d.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    const out = d.update(sealed.subarray(0, sealed.length - TAG_BYTES));
    try {
      d.final();
    } catch (e) {
      out.fill(0);
      throw new MpcError(
        'ERR_STORAGE_SEAL_AUTH',
        'sealed blob failed authentication (tampered, swapped or wrong key)',
        {
          cause: e,
        },
      );
    }
    return out;
  }

  close(): void {
    this.#key.fill(0);
    this.#closed = true;
  }

  #open(): void {
    if (this.#closed) throw new MpcError('ERR_STORAGE_CLOSED', 'sealer is closed');
  }
}

/** Writes a fresh random 32-byte key file, mode 0600, atomically; refuses to overwrite one. */
export async function createKeyFile(path: string): Promise<void> {
  if ((await readFileIfExists(path, 'ERR_STORAGE_IO')) !== undefined) {
    throw new MpcError('ERR_STORAGE_KEY_INVALID', `key file ${basename(path)} already exists`);
  }
  const key = randomBytes(AES_KEY_BYTES);
  try {
    await writeFileAtomic(path, key, 0o600, { errorCode: 'ERR_STORAGE_IO' });
  } finally {
    key.fill(0);
  }
}

/** Loads a key file: exactly 32 bytes, a regular file not readable by group or others. */
export async function sealerFromKeyFile(path: string): Promise<SoftwareSealer> {
  let st: Awaited<ReturnType<typeof stat>>;
  try {
    st = await stat(path);
  } catch (e) {
    throw new MpcError('ERR_STORAGE_KEY_INVALID', `key file ${basename(path)} cannot be read`, { cause: e });
  }
  if (!st.isFile()) throw new MpcError('ERR_STORAGE_KEY_INVALID', `key file ${basename(path)} is not a regular file`);
  if ((st.mode & 0o077) !== 0) {
    throw new MpcError('ERR_STORAGE_KEY_INVALID', `key file ${basename(path)} is accessible by group or others`, {
      details: { mode: (st.mode & 0o777).toString(8) },
    });
  }
  const key = await readFileIfExists(path, 'ERR_STORAGE_IO');
  if (key === undefined || key.length !== AES_KEY_BYTES) {
    key?.fill(0);
    throw new MpcError('ERR_STORAGE_KEY_INVALID', `key file ${basename(path)} must hold exactly 32 bytes`);
  }
  return new SoftwareSealer(key);
}

/**
 * Passphrase mode: scrypt (memory-hard, node:crypto). Default N = 2^17, r = 8, p = 1 (128 MiB,
 * ~0.3–0.5 s on one core; OWASP's scrypt minimum); tests may lower N to 2^14, nothing lower is
 * accepted, neither from options nor from a parameter file on disk. Salt (32 random bytes), the
 * parameters and a key-check value (HMAC of a constant, not the key) live in a 0600 parameter file:
 *
 *   magic "MPCK" | version u8 = 1 | log2 N u8 | r u8 | p u8 | salt (32) | check (32)   = 72 bytes
 */
export interface ScryptParams {
  readonly log2N: number;
  readonly r: number;
  readonly p: number;
}
export const DEFAULT_SCRYPT: ScryptParams = { log2N: 17, r: 8, p: 1 };
const KDF_MAGIC = Buffer.from('MPCK', 'ascii');
const KDF_FILE_BYTES = 72;

function assertScrypt(p: ScryptParams, code: 'ERR_STORAGE_KEY_INVALID' | 'ERR_STORAGE_CORRUPT'): void {
  const ok =
    Number.isInteger(p.log2N) &&
    p.log2N >= 14 &&
    p.log2N <= 22 &&
    Number.isInteger(p.r) &&
    p.r >= 8 &&
    p.r <= 32 &&
    Number.isInteger(p.p) &&
    p.p >= 1 &&
    p.p <= 4;
  if (!ok) throw new MpcError(code, 'scrypt parameters out of range (log2 N 14..22, r 8..32, p 1..4)');
}

const checkValue = (key: Buffer): Buffer => createHmac('sha256', key).update('mpc-custody kdf check v1').digest();

export async function sealerFromPassphrase(
  paramFile: string,
  passphrase: string | Buffer,
  params: ScryptParams = DEFAULT_SCRYPT,
): Promise<SoftwareSealer> {
  if (passphrase.length < 12)
    throw new MpcError('ERR_STORAGE_KEY_INVALID', 'passphrase must be at least 12 characters');
  const existing = await readFileIfExists(paramFile, 'ERR_STORAGE_IO');
  let use: ScryptParams;
  let salt: Buffer;
  let check: Buffer | undefined;
  if (existing === undefined) {
    assertScrypt(params, 'ERR_STORAGE_KEY_INVALID');
    use = params;
    salt = randomBytes(32);
  } else {
    if (existing.length !== KDF_FILE_BYTES || !existing.subarray(0, 4).equals(KDF_MAGIC) || existing[4] !== 1) {
      throw new MpcError('ERR_STORAGE_CORRUPT', `kdf parameter file ${basename(paramFile)} is malformed`);
    }
    use = { log2N: existing[5] as number, r: existing[6] as number, p: existing[7] as number };
    assertScrypt(use, 'ERR_STORAGE_CORRUPT');
    salt = existing.subarray(8, 40);
    check = existing.subarray(40, 72);
  }
  const N = 2 ** use.log2N;
  const key = scryptSync(passphrase, salt, AES_KEY_BYTES, {
    N,
    r: use.r,
    p: use.p,
    maxmem: 128 * N * use.r * use.p + 64 * 1024 * 1024,
  });
  const cv = checkValue(key);
  if (check !== undefined) {
    if (!timingSafeEqual(cv, check)) {
      key.fill(0);
      throw new MpcError('ERR_STORAGE_WRONG_KEY', 'passphrase does not match this store');
    }
  } else {
    const file = Buffer.concat([KDF_MAGIC, Buffer.from([1, use.log2N, use.r, use.p]), salt, cv]);
    await writeFileAtomic(paramFile, file, 0o600, { errorCode: 'ERR_STORAGE_IO' });
  }
  return new SoftwareSealer(key);
}
