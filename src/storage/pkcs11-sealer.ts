import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import { type ErrorCode, MpcError } from '../errors/index.js';
import { type Sealer, SealerKind, TAG_BYTES } from './sealed-blob.js';

/**
 * Pattern A of PRODUCT.md §5: share blobs are encrypted with AES-GCM *inside* the token under a
 * non-extractable, sensitive AES-256 token key; the AAD binds the blob header (format, party id,
 * key id, version, key label, IV). Every failure is a typed MpcError and fails closed: there is no
 * software fallback, and a sealer whose session was lost refuses everything until reopened.
 *
 * Cryptoki is process-global: one PKCS11 instance per module path, C_Initialize once (tolerating
 * "already initialized"), reference-counted, C_Finalize when the last sealer closes. The login
 * state is shared by all sessions of a token, so a second open with a *different* PIN while the
 * token is logged in would otherwise succeed silently: we remember a digest of the PIN that logged
 * in and compare it (constant time) instead.
 */
export interface Pkcs11Options {
  /** Path of the PKCS#11 module, e.g. /usr/lib/softhsm/libsofthsm2.so. */
  readonly library: string;
  /** Token label (found by label, never by slot index). */
  readonly tokenLabel: string;
  /** User PIN (from configuration; never logged). */
  readonly pin: string;
  /** Label of the AES key in the token. */
  readonly keyLabel: string;
  /** Create the key when it is missing (provisioning only). Default false: missing key = error. */
  readonly createKey?: boolean;
}

const LABEL_RE = /^[A-Za-z0-9._:/-]{1,60}$/;

interface ModuleEntry {
  readonly p11: pkcs11js.PKCS11;
  refs: number;
  /** token label → digest of the PIN that logged in, and how many sealers use the login. */
  readonly logins: Map<string, { pin: Buffer; refs: number; session: Buffer }>;
}
const modules = new Map<string, ModuleEntry>();

const ckr = (e: unknown): string => {
  const m = e instanceof Error ? /CKR_[A-Z_]+/.exec(e.message) : null;
  return m?.[0] ?? 'UNKNOWN';
};
const SESSION_LOST = new Set([
  'CKR_SESSION_HANDLE_INVALID',
  'CKR_SESSION_CLOSED',
  'CKR_DEVICE_REMOVED',
  'CKR_TOKEN_NOT_PRESENT',
  'CKR_DEVICE_ERROR',
  'CKR_USER_NOT_LOGGED_IN',
  'CKR_CRYPTOKI_NOT_INITIALIZED',
  'CKR_OBJECT_HANDLE_INVALID',
  'CKR_KEY_HANDLE_INVALID',
]);

function hsmError(code: ErrorCode, message: string, e?: unknown): MpcError {
  return new MpcError(code, message, { cause: e, details: e === undefined ? {} : { ckr: ckr(e) } });
}

/** The initialized Cryptoki module for `library` (loaded and C_Initialize'd once per process). */
export function acquireModule(library: string): pkcs11js.PKCS11 {
  let entry = modules.get(library);
  if (entry === undefined) {
    const p11 = new pkcs11js.PKCS11();
    try {
      p11.load(library);
    } catch (e) {
      throw hsmError('ERR_HSM_UNAVAILABLE', 'cannot load the PKCS#11 module', e);
    }
    try {
      p11.C_Initialize();
    } catch (e) {
      if (ckr(e) !== 'CKR_CRYPTOKI_ALREADY_INITIALIZED') {
        throw hsmError('ERR_HSM_UNAVAILABLE', 'C_Initialize failed', e);
      }
    }
    entry = { p11, refs: 0, logins: new Map() };
    modules.set(library, entry);
  }
  entry.refs++;
  return entry.p11;
}

export function releaseModule(library: string): void {
  const entry = modules.get(library);
  if (entry === undefined) return;
  entry.refs--;
  if (entry.refs > 0) return;
  modules.delete(library);
  try {
    entry.p11.C_Finalize();
  } catch {
    // finalizing a dead module: nothing left to protect
  }
  try {
    entry.p11.close();
  } catch {
    // already unloaded
  }
}

/** The slot holding the token labelled `label` (labels are space-padded to 32 bytes). */
export function findSlotByLabel(p11: pkcs11js.PKCS11, label: string): Buffer {
  let slots: Buffer[];
  try {
    slots = p11.C_GetSlotList(true);
  } catch (e) {
    throw hsmError('ERR_HSM_UNAVAILABLE', 'C_GetSlotList failed', e);
  }
  const found = slots.filter((s) => {
    try {
      return p11.C_GetTokenInfo(s).label.replace(/[ \0]+$/, '') === label;
    } catch {
      return false;
    }
  });
  if (found.length !== 1) {
    throw new MpcError(
      'ERR_HSM_TOKEN_NOT_FOUND',
      found.length === 0 ? 'no token with this label' : 'token label is ambiguous',
      {
        details: { token: label, matches: found.length },
      },
    );
  }
  return found[0] as Buffer;
}

/** The attributes a share-sealing key must have (A34); creation uses exactly these. */
export function kekTemplate(label: string): pkcs11js.Template {
  return [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
    { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
    { type: pkcs11js.CKA_VALUE_LEN, value: 32 },
    { type: pkcs11js.CKA_LABEL, value: label },
    { type: pkcs11js.CKA_ID, value: createHash('sha256').update(label).digest().subarray(0, 16) },
    { type: pkcs11js.CKA_TOKEN, value: true },
    { type: pkcs11js.CKA_PRIVATE, value: true },
    { type: pkcs11js.CKA_SENSITIVE, value: true },
    { type: pkcs11js.CKA_EXTRACTABLE, value: false },
    { type: pkcs11js.CKA_MODIFIABLE, value: false },
    { type: pkcs11js.CKA_ENCRYPT, value: true },
    { type: pkcs11js.CKA_DECRYPT, value: true },
    { type: pkcs11js.CKA_WRAP, value: false },
    { type: pkcs11js.CKA_UNWRAP, value: false },
    { type: pkcs11js.CKA_SIGN, value: false },
    { type: pkcs11js.CKA_VERIFY, value: false },
    { type: pkcs11js.CKA_DERIVE, value: false },
  ];
}

const REQUIRED_BOOLS: ReadonlyArray<[number, boolean, string]> = [
  [pkcs11js.CKA_TOKEN, true, 'token'],
  [pkcs11js.CKA_SENSITIVE, true, 'sensitive'],
  [pkcs11js.CKA_EXTRACTABLE, false, 'extractable'],
  [pkcs11js.CKA_ALWAYS_SENSITIVE, true, 'always-sensitive'],
  [pkcs11js.CKA_NEVER_EXTRACTABLE, true, 'never-extractable'],
  [pkcs11js.CKA_ENCRYPT, true, 'encrypt'],
  [pkcs11js.CKA_DECRYPT, true, 'decrypt'],
  [pkcs11js.CKA_WRAP, false, 'wrap'],
  [pkcs11js.CKA_UNWRAP, false, 'unwrap'],
];

export class Pkcs11Sealer implements Sealer {
  readonly kind = SealerKind.pkcs11;
  readonly keyRef: string;
  readonly #opts: Pkcs11Options;
  readonly #p11: pkcs11js.PKCS11;
  #session: Buffer;
  #key: Buffer;
  #dead = false;
  #closed = false;
  /** The tail of this session's operations (PKCS#11 runs one cryptographic operation per session). */
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(opts: Pkcs11Options, p11: pkcs11js.PKCS11, session: Buffer, key: Buffer) {
    this.#opts = opts;
    this.#p11 = p11;
    this.#session = session;
    this.#key = key;
    this.keyRef = `p11:${opts.keyLabel}`;
  }

  static open(opts: Pkcs11Options): Pkcs11Sealer {
    if (!LABEL_RE.test(opts.keyLabel))
      throw new MpcError('ERR_CONFIG_INVALID', 'HSM key label must match [A-Za-z0-9._:/-]{1,60}');
    if (typeof opts.pin !== 'string' || opts.pin.length < 4)
      throw new MpcError('ERR_CONFIG_INVALID', 'HSM PIN is missing');
    const p11 = acquireModule(opts.library);
    const entry = modules.get(opts.library) as ModuleEntry;
    let session: Buffer | undefined;
    let loggedIn = false;
    try {
      const slot = findSlotByLabel(p11, opts.tokenLabel);
      if (!p11.C_GetMechanismList(slot).includes(pkcs11js.CKM_AES_GCM)) {
        throw new MpcError('ERR_HSM_MECHANISM_UNSUPPORTED', 'token does not offer CKM_AES_GCM');
      }
      session = p11.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
      const pinDigest = createHash('sha256').update('mpc-custody pin').update(opts.pin).digest();
      const login = entry.logins.get(opts.tokenLabel);
      if (login !== undefined) {
        if (!timingSafeEqual(login.pin, pinDigest)) throw new MpcError('ERR_HSM_PIN_INCORRECT', 'HSM login refused');
        login.refs++;
      } else {
        try {
          p11.C_Login(session, pkcs11js.CKU_USER, opts.pin);
        } catch (e) {
          const c = ckr(e);
          if (
            c === 'CKR_PIN_INCORRECT' ||
            c === 'CKR_PIN_LEN_RANGE' ||
            c === 'CKR_PIN_LOCKED' ||
            c === 'CKR_PIN_INVALID'
          ) {
            throw hsmError('ERR_HSM_PIN_INCORRECT', 'HSM login refused', e);
          }
          // CKR_USER_ALREADY_LOGGED_IN by code we do not know: the PIN cannot be checked, fail closed.
          throw hsmError('ERR_HSM_UNAVAILABLE', 'HSM login failed', e);
        }
        entry.logins.set(opts.tokenLabel, { pin: pinDigest, refs: 1, session });
      }
      loggedIn = true;
      const key = Pkcs11Sealer.#findOrCreateKey(p11, session, opts);
      return new Pkcs11Sealer(opts, p11, session, key);
    } catch (e) {
      if (loggedIn) Pkcs11Sealer.#dropLogin(p11, entry, opts.tokenLabel, session);
      else if (session !== undefined) p11.C_CloseSession(session);
      releaseModule(opts.library);
      if (e instanceof MpcError) throw e;
      throw hsmError('ERR_HSM_UNAVAILABLE', 'opening the HSM failed', e);
    }
  }

  static #findOrCreateKey(p11: pkcs11js.PKCS11, session: Buffer, opts: Pkcs11Options): Buffer {
    p11.C_FindObjectsInit(session, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
      { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
      { type: pkcs11js.CKA_LABEL, value: opts.keyLabel },
    ]);
    let found: Buffer[];
    try {
      found = p11.C_FindObjects(session, 2);
    } finally {
      p11.C_FindObjectsFinal(session);
    }
    if (found.length > 1) throw new MpcError('ERR_HSM_KEY_UNSAFE', 'more than one key with this label');
    let key = found[0];
    if (key === undefined) {
      if (opts.createKey !== true)
        throw new MpcError('ERR_HSM_KEY_NOT_FOUND', 'no AES key with this label in the token');
      key = p11.C_GenerateKey(session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, kekTemplate(opts.keyLabel));
    }
    const attrs = readKeyAttributes(p11, session, key);
    const bad = REQUIRED_BOOLS.filter(([, want, name]) => attrs[name] !== want).map(([, , name]) => name);
    if (bad.length > 0 || attrs.valueLen !== 32) {
      throw new MpcError('ERR_HSM_KEY_UNSAFE', 'token key does not have the required attributes', {
        details: { wrong: bad.join(','), valueLen: attrs.valueLen },
      });
    }
    return key;
  }

  static #dropLogin(p11: pkcs11js.PKCS11, entry: ModuleEntry, label: string, session: Buffer | undefined): void {
    const login = entry.logins.get(label);
    if (login !== undefined && --login.refs <= 0) {
      entry.logins.delete(label);
      try {
        p11.C_Logout(login.session);
      } catch {
        // already logged out (session lost)
      }
    }
    try {
      if (session !== undefined) p11.C_CloseSession(session);
    } catch {
      // already closed
    }
  }

  async seal(iv: Buffer, aad: Buffer, plaintext: Uint8Array): Promise<Buffer> {
    const input = Buffer.from(plaintext); // a copy we own and zeroize
    try {
      return await this.#crypt('encrypt', iv, aad, input, input.length + TAG_BYTES);
    } finally {
      input.fill(0);
    }
  }

  async unseal(iv: Buffer, aad: Buffer, sealed: Buffer): Promise<Buffer> {
    if (sealed.length <= TAG_BYTES) throw new MpcError('ERR_STORAGE_SEAL_AUTH', 'sealed data shorter than the tag');
    return this.#crypt('decrypt', iv, aad, sealed, sealed.length);
  }

  /** Runs `fn` after every earlier operation of this session settled: one operation per session. */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(fn, fn);
    this.#queue = next.catch(() => undefined);
    return next;
  }

  #crypt(op: 'encrypt' | 'decrypt', iv: Buffer, aad: Buffer, input: Buffer, outLen: number): Promise<Buffer> {
    return this.#serial(async () => {
      if (this.#closed) throw new MpcError('ERR_STORAGE_CLOSED', 'HSM sealer is closed');
      if (this.#dead) throw new MpcError('ERR_HSM_SESSION_LOST', 'HSM session was lost; reopen the store');
      try {
        return await gcmInToken(this.#p11, this.#session, this.#key, op, iv, aad, input, outLen);
      } catch (e) {
        if (isMpcSessionLost(e)) {
          this.#dead = true;
          const entry = modules.get(this.#opts.library);
          entry?.logins.delete(this.#opts.tokenLabel);
        }
        throw e;
      }
    });
  }

  /**
   * A sealer under a fresh AES-256 *session object* (CKA_TOKEN = false) generated in this sealer's
   * session: the token destroys it when the session ends (process exit or restart, session loss),
   * so whatever it sealed can never be unsealed by a later run of the party. The ledger seals
   * presignatures with it (issue 17 item 1). Closing it destroys the key.
   */
  sessionKeySealer(): Sealer {
    if (this.#closed) throw new MpcError('ERR_STORAGE_CLOSED', 'HSM sealer is closed');
    if (this.#dead) throw new MpcError('ERR_HSM_SESSION_LOST', 'HSM session was lost; reopen the store');
    const label = `mpc-eph-${randomBytes(8).toString('hex')}`;
    let key: Buffer;
    try {
      key = this.#p11.C_GenerateKey(this.#session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, sessionKeyTemplate(label));
    } catch (e) {
      throw hsmError('ERR_HSM_OPERATION_FAILED', 'generating the session key failed', e);
    }
    const parent = this;
    const session = this.#session;
    const p11 = this.#p11;
    let closed = false;
    const crypt = (op: 'encrypt' | 'decrypt', iv: Buffer, aad: Buffer, input: Buffer, outLen: number) =>
      parent.#serial(async () => {
        if (closed || parent.#closed) throw new MpcError('ERR_STORAGE_CLOSED', 'HSM session-key sealer is closed');
        if (parent.#dead || parent.#session !== session) {
          throw new MpcError('ERR_HSM_SESSION_LOST', 'the HSM session holding the session key was lost');
        }
        return gcmInToken(p11, session, key, op, iv, aad, input, outLen);
      });
    return {
      kind: SealerKind.pkcs11,
      keyRef: `p11:${label}`,
      async seal(iv, aad, plaintext) {
        const input = Buffer.from(plaintext);
        try {
          return await crypt('encrypt', iv, aad, input, input.length + TAG_BYTES);
        } finally {
          input.fill(0);
        }
      },
      async unseal(iv, aad, sealed) {
        if (sealed.length <= TAG_BYTES) throw new MpcError('ERR_STORAGE_SEAL_AUTH', 'sealed data shorter than the tag');
        return crypt('decrypt', iv, aad, sealed, sealed.length);
      },
      close() {
        if (closed) return;
        closed = true;
        if (parent.#closed || parent.#dead || parent.#session !== session) return; // gone with its session
        try {
          p11.C_DestroyObject(session, key);
        } catch {
          // the session ended first: the object died with it
        }
      },
    };
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const entry = modules.get(this.#opts.library);
    if (entry !== undefined) Pkcs11Sealer.#dropLogin(this.#p11, entry, this.#opts.tokenLabel, this.#session);
    releaseModule(this.#opts.library);
  }
}

/** A session object (CKA_TOKEN = false): sensitive, non-extractable AES-256, encrypt/decrypt only. */
export function sessionKeyTemplate(label: string): pkcs11js.Template {
  return kekTemplate(label).map((a) =>
    a.type === pkcs11js.CKA_TOKEN
      ? { type: pkcs11js.CKA_TOKEN, value: false }
      : a.type === pkcs11js.CKA_ID
        ? { type: pkcs11js.CKA_ID, value: createHash('sha256').update(label).digest().subarray(0, 16) }
        : a,
  );
}

const isMpcSessionLost = (e: unknown): boolean => e instanceof MpcError && e.code === 'ERR_HSM_SESSION_LOST';

/**
 * One AES-GCM operation inside the token under `key`; errors mapped to typed MpcErrors. The
 * C_EncryptInit/C_DecryptInit call is a cheap local call; the cipher call itself runs on libuv's
 * thread pool (C_EncryptAsync/C_DecryptAsync), so the event loop keeps turning while the token works.
 * A session runs one operation at a time (PKCS#11 §5.2): callers serialize per session.
 */
async function gcmInToken(
  p11: pkcs11js.PKCS11,
  session: Buffer,
  key: Buffer,
  op: 'encrypt' | 'decrypt',
  iv: Buffer,
  aad: Buffer,
  input: Buffer,
  outLen: number,
): Promise<Buffer> {
  const gcm: pkcs11js.AesGCM = {
    type: pkcs11js.CK_PARAMS_AES_GCM,
    iv,
    aad,
    ivBits: iv.length * 8,
    tagBits: TAG_BYTES * 8,
  };
  const mech: pkcs11js.Mechanism = { mechanism: pkcs11js.CKM_AES_GCM, parameter: gcm };
  const out = Buffer.alloc(outLen);
  try {
    if (op === 'encrypt') {
      p11.C_EncryptInit(session, mech, key);
      return Buffer.from(await p11.C_EncryptAsync(session, input, out));
    }
    p11.C_DecryptInit(session, mech, key);
    return Buffer.from(await p11.C_DecryptAsync(session, input, out)); // a copy; the work buffer is wiped below
  } catch (e) {
    const c = ckr(e);
    if (SESSION_LOST.has(c)) throw hsmError('ERR_HSM_SESSION_LOST', `HSM ${op} failed: session lost`, e);
    // SoftHSM reports a GCM tag failure as CKR_GENERAL_ERROR, others as CKR_ENCRYPTED_DATA_INVALID.
    if (op === 'decrypt') throw hsmError('ERR_STORAGE_SEAL_AUTH', 'sealed blob failed authentication in the HSM', e);
    throw hsmError('ERR_HSM_OPERATION_FAILED', `HSM ${op} failed`, e);
  } finally {
    out.fill(0);
  }
}

export interface KeyAttributes {
  readonly [name: string]: boolean | number;
  readonly valueLen: number;
}

/** Reads the security-relevant attributes of a key (never its value). */
export function readKeyAttributes(p11: pkcs11js.PKCS11, session: Buffer, key: Buffer): KeyAttributes {
  const res = p11.C_GetAttributeValue(session, key, [
    ...REQUIRED_BOOLS.map(([type]) => ({ type })),
    { type: pkcs11js.CKA_VALUE_LEN },
  ]);
  const out: Record<string, boolean | number> = {};
  REQUIRED_BOOLS.forEach(([, , name], i) => {
    const v = res[i]?.value;
    out[name] = v !== undefined && v.length === 1 && v[0] === 1;
  });
  const len = res[REQUIRED_BOOLS.length]?.value;
  out.valueLen = len !== undefined && len.length >= 4 ? len.readUInt32LE(0) : -1;
  return out as KeyAttributes;
}
