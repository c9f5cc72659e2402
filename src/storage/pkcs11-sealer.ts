import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import { type ErrorCode, MpcError } from '../errors/index.js';
import { type Sealer, type SealerHealth, SealerKind, TAG_BYTES } from './sealed-blob.js';

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
  /** Reopening a lost session (issue 17 item 7); defaults in DEFAULT_REOPEN. */
  readonly reopen?: ReopenPolicy;
}

const LABEL_RE = /^[A-Za-z0-9._:/-]{1,60}$/;

interface ModuleEntry {
  readonly p11: pkcs11js.PKCS11;
  refs: number;
  /** token label → digest of the PIN that logged in, and the sealers using the login. */
  readonly logins: Map<string, { pin: Buffer; users: Set<object> }>;
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

/** Bounded exponential backoff of the reopen attempts after a lost session. */
export interface ReopenPolicy {
  /** Delay before the first attempt; default 250 ms. */
  readonly initialMs?: number;
  /** Largest delay between attempts (doubling stops here); default 30 s. */
  readonly maxMs?: number;
  /** A token call not answered within this time counts as a lost session; default 15 s. */
  readonly opTimeoutMs?: number;
}

const PROBE_AAD = Buffer.from('mpc-custody session probe', 'ascii');
const DEFAULT_REOPEN = { initialMs: 250, maxMs: 30_000, opTimeoutMs: 15_000 } as const;
/** PIN refusals are final: retrying them would run the token's PIN counter down to a lock. */
const FINAL_CODES = new Set(['ERR_HSM_PIN_INCORRECT', 'ERR_HSM_KEY_UNSAFE', 'ERR_HSM_MECHANISM_UNSUPPORTED']);

const unavailable = (reason: string, cause?: unknown): MpcError =>
  new MpcError('ERR_STORE_UNAVAILABLE', 'the HSM session is down; the store reopens it with backoff', {
    ...(cause === undefined ? {} : { cause }),
    details: { reason },
  });

/** Opens a session on the token, logs in (or joins this process's login) and finds the key. */
function openSession(
  p11: pkcs11js.PKCS11,
  entry: ModuleEntry,
  opts: Pkcs11Options,
  user: object,
  reopen: boolean,
): { session: Buffer; key: Buffer } {
  let session: Buffer | undefined;
  let joined = false;
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
      login.users.add(user);
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
        // At open, a login by code we do not know means the PIN cannot be checked: fail closed. On a
        // reopen our PIN was checked at open, and the token kept (or regained) this process's login.
        if (!(reopen && c === 'CKR_USER_ALREADY_LOGGED_IN'))
          throw hsmError('ERR_HSM_UNAVAILABLE', 'HSM login failed', e);
      }
      entry.logins.set(opts.tokenLabel, { pin: pinDigest, users: new Set([user]) });
    }
    joined = true;
    return { session, key: findOrCreateKey(p11, session, opts) };
  } catch (e) {
    if (joined) dropLogin(p11, entry, opts.tokenLabel, user, session);
    else if (session !== undefined) closeQuietly(p11, session);
    if (e instanceof MpcError) throw e;
    throw hsmError('ERR_HSM_UNAVAILABLE', 'opening the HSM failed', e);
  }
}

function findOrCreateKey(p11: pkcs11js.PKCS11, session: Buffer, opts: Pkcs11Options): Buffer {
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
    if (opts.createKey !== true) throw new MpcError('ERR_HSM_KEY_NOT_FOUND', 'no AES key with this label in the token');
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

/** `user` leaves the token's login; the last one out logs out. Then `session` is closed. */
function dropLogin(
  p11: pkcs11js.PKCS11,
  entry: ModuleEntry,
  label: string,
  user: object,
  session: Buffer | undefined,
): void {
  const login = entry.logins.get(label);
  if (login?.users.delete(user) && login.users.size === 0) {
    entry.logins.delete(label);
    try {
      if (session !== undefined) p11.C_Logout(session);
    } catch {
      // already logged out (session lost)
    }
  }
  if (session !== undefined) closeQuietly(p11, session);
}

function closeQuietly(p11: pkcs11js.PKCS11, session: Buffer): void {
  try {
    p11.C_CloseSession(session);
  } catch {
    // already closed (lost with the token or the module)
  }
}

/**
 * Re-initializes the Cryptoki module: a removed and re-inserted token (or a module that lost its
 * device) is only seen again after C_Finalize + C_Initialize. Every session of the module in this
 * process ends; the other sealers see their session lost and reopen on their own.
 */
function reinitializeModule(entry: ModuleEntry): void {
  entry.logins.clear();
  try {
    entry.p11.C_Finalize();
  } catch {
    // not initialized any more
  }
  try {
    entry.p11.C_Initialize();
  } catch (e) {
    if (ckr(e) !== 'CKR_CRYPTOKI_ALREADY_INITIALIZED') throw hsmError('ERR_HSM_UNAVAILABLE', 'C_Initialize failed', e);
  }
}

/** A session-object key of a Pkcs11Sealer (see sessionKeySealer). */
interface SessionKey {
  handle: Buffer;
  label: string;
  /** The sealer's session generation the key lives in: any other generation means it is gone. */
  generation: number;
}

/**
 * A store sealer on a PKCS#11 token. Its session can be lost (token removed, HSM restarted,
 * CKR_SESSION_HANDLE_INVALID, CKR_USER_NOT_LOGGED_IN, a token call that does not answer): the
 * sealer then refuses every operation with ERR_STORE_UNAVAILABLE (nothing is written half-sealed:
 * a blob is only written after its seal returned) and reopens the session in the background,
 * attempts spaced by a doubling delay (ReopenPolicy), re-initializing the module when a plain
 * reopen fails. A refused PIN stops the attempts ('failed'). Health changes are reported to the
 * listeners of onHealthChange (readiness, metrics, burning presignatures).
 */
export class Pkcs11Sealer implements Sealer {
  readonly kind = SealerKind.pkcs11;
  readonly keyRef: string;
  readonly #opts: Pkcs11Options;
  readonly #policy: Required<ReopenPolicy>;
  readonly #p11: pkcs11js.PKCS11;
  readonly #entry: ModuleEntry;
  #session: Buffer;
  #key: Buffer;
  /** Bumped whenever the session is lost: session objects of an older generation are gone. */
  #generation = 0;
  #state: SealerHealth['state'] = 'up';
  #reason: string | undefined;
  #attempts = 0;
  #delay: number;
  #timer: NodeJS.Timeout | undefined;
  readonly #listeners = new Set<(h: SealerHealth) => void>();
  readonly #sessionKeys = new Set<SessionKey>();
  /** The tail of this session's operations (PKCS#11 runs one cryptographic operation per session). */
  #queue: Promise<unknown> = Promise.resolve();
  /** Token calls still running on the thread pool (a timed-out one may never return). */
  #inflight = 0;

  private constructor(opts: Pkcs11Options, entry: ModuleEntry, session: Buffer, key: Buffer) {
    this.#opts = opts;
    this.#policy = { ...DEFAULT_REOPEN, ...opts.reopen };
    this.#delay = this.#policy.initialMs;
    this.#entry = entry;
    this.#p11 = entry.p11;
    this.#session = session;
    this.#key = key;
    this.keyRef = `p11:${opts.keyLabel}`;
  }

  static open(opts: Pkcs11Options): Pkcs11Sealer {
    if (!LABEL_RE.test(opts.keyLabel))
      throw new MpcError('ERR_CONFIG_INVALID', 'HSM key label must match [A-Za-z0-9._:/-]{1,60}');
    if (typeof opts.pin !== 'string' || opts.pin.length < 4)
      throw new MpcError('ERR_CONFIG_INVALID', 'HSM PIN is missing');
    const r = opts.reopen ?? {};
    for (const v of [r.initialMs, r.maxMs, r.opTimeoutMs]) {
      if (v !== undefined && (!Number.isInteger(v) || v < 1 || v > 3_600_000)) {
        throw new MpcError('ERR_CONFIG_INVALID', 'HSM reopen delays must be integers in [1, 3600000] ms');
      }
    }
    acquireModule(opts.library);
    const entry = modules.get(opts.library) as ModuleEntry;
    const user = {};
    try {
      const { session, key } = openSession(entry.p11, entry, opts, user, false);
      const sealer = new Pkcs11Sealer(opts, entry, session, key);
      const login = entry.logins.get(opts.tokenLabel);
      login?.users.delete(user);
      login?.users.add(sealer);
      return sealer;
    } catch (e) {
      releaseModule(opts.library);
      throw e;
    }
  }

  /** The token session's state (readiness probes read this; it makes no token call). */
  health(): SealerHealth {
    return {
      available: this.#state === 'up',
      state: this.#state,
      ...(this.#reason === undefined ? {} : { reason: this.#reason }),
      attempts: this.#attempts,
    };
  }

  /**
   * Checks the session with one token operation (AES-GCM of one byte under the token key, random
   * IV, result dropped), queued like any other: a session lost while idle (removed token, logout,
   * closed sessions) is found here rather than by the next share or presignature.
   */
  async probe(): Promise<SealerHealth> {
    if (this.#state === 'up') {
      await this.#crypt(undefined, 'encrypt', randomBytes(12), PROBE_AAD, Buffer.alloc(1), 1 + TAG_BYTES).then(
        (out) => out.fill(0),
        () => undefined, // a loss is recorded in the state; anything else is the operation's business
      );
    }
    return this.health();
  }

  /** Calls `fn` on every change of health (lost, each failed attempt's reason, back up, failed). */
  onHealthChange(fn: (h: SealerHealth) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  async seal(iv: Buffer, aad: Buffer, plaintext: Uint8Array): Promise<Buffer> {
    const input = Buffer.from(plaintext); // a copy we own and zeroize
    try {
      return await this.#crypt(undefined, 'encrypt', iv, aad, input, input.length + TAG_BYTES);
    } finally {
      input.fill(0);
    }
  }

  async unseal(iv: Buffer, aad: Buffer, sealed: Buffer): Promise<Buffer> {
    if (sealed.length <= TAG_BYTES) throw new MpcError('ERR_STORAGE_SEAL_AUTH', 'sealed data shorter than the tag');
    return this.#crypt(undefined, 'decrypt', iv, aad, sealed, sealed.length);
  }

  /** Runs `fn` after every earlier operation of this session settled: one operation per session. */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(fn, fn);
    this.#queue = next.catch(() => undefined);
    return next;
  }

  /** One AES-GCM operation under the token key (`sk` undefined) or a session key. */
  #crypt(
    sk: SessionKey | undefined,
    op: 'encrypt' | 'decrypt',
    iv: Buffer,
    aad: Buffer,
    input: Buffer,
    outLen: number,
  ): Promise<Buffer> {
    return this.#serial(async () => {
      if (this.#state === 'closed') throw new MpcError('ERR_STORAGE_CLOSED', 'HSM sealer is closed');
      if (sk !== undefined && sk.generation !== this.#generation) {
        // the session object died with its session: what it sealed can never be unsealed again
        if (op === 'decrypt') {
          throw new MpcError('ERR_STORAGE_SEAL_AUTH', 'sealed under a session key that died with its HSM session');
        }
        if (this.#state === 'up') throw new MpcError('ERR_STORAGE_CLOSED', 'HSM session-key sealer is stale');
      }
      if (this.#state !== 'up') throw unavailable(this.#reason ?? 'session lost');
      const session = this.#session;
      const generation = this.#generation;
      try {
        this.#inflight++;
        const call = gcmInToken(this.#p11, session, sk?.handle ?? this.#key, op, iv, aad, input, outLen);
        call.then(
          () => this.#inflight--,
          () => this.#inflight--,
        );
        return await this.#withTimeout(call, op);
      } catch (e) {
        if (!isMpcSessionLost(e)) throw e;
        this.#lost(generation, e instanceof MpcError ? String(e.details.ckr ?? e.details.reason ?? e.code) : 'lost');
        throw unavailable(this.#reason ?? 'session lost', e);
      }
    });
  }

  /** A token call that does not settle in time counts as a lost session (its late answer is dropped). */
  #withTimeout(p: Promise<Buffer>, op: string): Promise<Buffer> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(new MpcError('ERR_HSM_SESSION_LOST', `HSM ${op} did not answer`, { details: { reason: 'timeout' } })),
        this.#policy.opTimeoutMs,
      );
      timer.unref();
    });
    p.then(
      (late) => {
        if (timer === undefined) late.fill(0);
      },
      () => undefined,
    );
    return Promise.race([p, timeout]).finally(() => {
      clearTimeout(timer);
      timer = undefined;
    });
  }

  /** The session of `generation` is gone: refuse everything, then reopen with backoff. */
  #lost(generation: number, reason: string): void {
    if (generation !== this.#generation || this.#state !== 'up') return;
    this.#generation++;
    this.#state = 'reopening';
    this.#reason = reason;
    this.#attempts = 0;
    this.#delay = this.#policy.initialMs;
    // the old session may still be open (a timeout, a logout elsewhere): closing it also destroys
    // the session keys in it, which is what the rest of the sealer assumes from now on
    dropLogin(this.#p11, this.#entry, this.#opts.tokenLabel, this, this.#session);
    this.#emit();
    this.#schedule();
  }

  #schedule(): void {
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#serial(async () => this.#reopen());
    }, this.#delay);
    this.#timer.unref();
    this.#delay = Math.min(this.#delay * 2, this.#policy.maxMs);
  }

  /** One reopen attempt: plain first, then with the module re-initialized. */
  #reopen(): void {
    if (this.#state !== 'reopening') return;
    this.#attempts++;
    let opened: { session: Buffer; key: Buffer } | undefined;
    let failure: unknown;
    // C_Finalize under a call still running in the module (one that timed out) could crash it:
    // re-initialize only when no call of ours is outstanding
    for (const reinit of this.#inflight === 0 ? [false, true] : [false]) {
      try {
        if (reinit) reinitializeModule(this.#entry);
        opened = openSession(this.#p11, this.#entry, this.#opts, this, true);
        for (const sk of this.#sessionKeys) {
          sk.label = sessionKeyLabel();
          sk.handle = generateSessionKey(this.#p11, opened.session, sk.label);
          sk.generation = this.#generation;
        }
        break;
      } catch (e) {
        if (opened !== undefined) dropLogin(this.#p11, this.#entry, this.#opts.tokenLabel, this, opened.session);
        opened = undefined;
        failure = e;
        if (e instanceof MpcError && FINAL_CODES.has(e.code)) break;
      }
    }
    if (opened === undefined) {
      const code = failure instanceof MpcError ? failure.code : 'ERR_HSM_UNAVAILABLE';
      this.#reason =
        failure instanceof MpcError && typeof failure.details.ckr === 'string'
          ? `${code} ${failure.details.ckr}`
          : code;
      if (FINAL_CODES.has(code)) {
        this.#state = 'failed';
        this.#emit();
        return;
      }
      this.#emit();
      this.#schedule();
      return;
    }
    this.#session = opened.session;
    this.#key = opened.key;
    this.#state = 'up';
    this.#reason = undefined;
    this.#attempts = 0;
    this.#delay = this.#policy.initialMs;
    this.#emit();
  }

  #emit(): void {
    const h = this.health();
    for (const fn of this.#listeners) {
      try {
        fn(h);
      } catch {
        // a listener must not stop the others or the reopen loop
      }
    }
  }

  /**
   * A sealer under a fresh AES-256 *session object* (CKA_TOKEN = false) generated in this sealer's
   * session: the token destroys it when the session ends (process exit or restart, session loss),
   * so whatever it sealed can never be unsealed by a later run of the party, nor after this
   * sealer reopened a lost session (unseal then fails with ERR_STORAGE_SEAL_AUTH, and the ledger
   * burns the presignature). A reopen generates a new session key (a new key ref) before the
   * store reports itself up again. The ledger seals presignatures with it (issue 17 item 1).
   * Closing it destroys the key.
   */
  sessionKeySealer(): Sealer {
    if (this.#state === 'closed') throw new MpcError('ERR_STORAGE_CLOSED', 'HSM sealer is closed');
    if (this.#state !== 'up') throw unavailable(this.#reason ?? 'session lost');
    const label = sessionKeyLabel();
    let handle: Buffer;
    try {
      handle = generateSessionKey(this.#p11, this.#session, label);
    } catch (e) {
      throw hsmError('ERR_HSM_OPERATION_FAILED', 'generating the session key failed', e);
    }
    const sk: SessionKey = { handle, label, generation: this.#generation };
    this.#sessionKeys.add(sk);
    const crypt = this.#crypt.bind(this, sk);
    let closed = false;
    const open = (): void => {
      if (closed) throw new MpcError('ERR_STORAGE_CLOSED', 'HSM session-key sealer is closed');
    };
    const parent = this;
    return {
      kind: SealerKind.pkcs11,
      get keyRef() {
        return `p11:${sk.label}`;
      },
      async seal(iv, aad, plaintext) {
        open();
        const input = Buffer.from(plaintext);
        try {
          return await crypt('encrypt', iv, aad, input, input.length + TAG_BYTES);
        } finally {
          input.fill(0);
        }
      },
      async unseal(iv, aad, sealed) {
        open();
        if (sealed.length <= TAG_BYTES) throw new MpcError('ERR_STORAGE_SEAL_AUTH', 'sealed data shorter than the tag');
        return crypt('decrypt', iv, aad, sealed, sealed.length);
      },
      close() {
        if (closed) return;
        closed = true;
        parent.#sessionKeys.delete(sk);
        if (parent.#state !== 'up' || sk.generation !== parent.#generation) return; // gone with its session
        try {
          parent.#p11.C_DestroyObject(parent.#session, sk.handle);
        } catch {
          // the session ended first: the object died with it
        }
      },
    };
  }

  close(): void {
    if (this.#state === 'closed') return;
    const wasUp = this.#state === 'up';
    this.#state = 'closed';
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#sessionKeys.clear();
    if (wasUp) dropLogin(this.#p11, this.#entry, this.#opts.tokenLabel, this, this.#session);
    releaseModule(this.#opts.library);
  }
}

const sessionKeyLabel = (): string => `mpc-eph-${randomBytes(8).toString('hex')}`;

function generateSessionKey(p11: pkcs11js.PKCS11, session: Buffer, label: string): Buffer {
  return p11.C_GenerateKey(session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, sessionKeyTemplate(label));
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
