import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { Packr, Unpackr } from 'msgpackr';
import { type ErrorCode, MpcError } from '../errors/index.js';
import { Ed25519Signer, ed25519Verify } from '../primitives/ed25519.js';
import { MAX_BODY_BYTES } from '../protocol/runner.js';
import { ALL } from '../protocol/types.js';
import { WireWriter } from '../util/wire.js';
import {
  announceSessionKey,
  ephemeralPublicKey,
  newEphemeralSecret,
  openSessionKey,
  sessionPairwiseKey,
} from './session-keys.js';

/**
 * Transport frames (ARCHITECTURE.md "Frames", SECURITY.md A11, A12, A24–A26, A35, A36).
 *
 * Wire form: a msgpack map with exactly the keys {v, sid, round, from, to, seq, ts, payload, sig}.
 * - `sig` is the sender's Ed25519 signature over a canonical (WireWriter) encoding of every other
 *   field, so the signature does not depend on msgpack's encoding choices;
 * - P2P payloads (to ≠ ALL) are ChaCha20-Poly1305 ciphertexts `nonce(12) ‖ ct ‖ tag(16)` under a
 *   per-session pairwise key derived from per-session ephemeral X25519 keys that each party signs
 *   with its identity key (session-keys.ts: forward secrecy, a stolen identity key decrypts no
 *   recorded session); the canonical header is the associated data; broadcast payloads are signed
 *   only. P2P frames flow only once the peers' signed session keys were accepted;
 * - decoding checks the raw size before parsing, pre-scans the msgpack structure (flat map, scalar
 *   values, declared lengths in bounds, no trailing bytes) before msgpackr sees it, copies into a
 *   null-prototype object and rejects `__proto__` / `constructor` / `prototype` and unknown keys;
 * - a frame is checked in the order: size → structure → session → sender → signature; every later
 *   failure (payload size, decryption, equivocation) is provably the sender's and carries blame.
 *   Frames that fail before the signature verifies are refused (`attributable = false`).
 */

export const FRAME_VERSION = 1;
const SIGN_TAG = 'mpc-custody.transport.v1.frame';
const AD_TAG = 'mpc-custody.transport.v1.ad';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const SIG_BYTES = 64;
const MAX_SID_BYTES = 256;
const MAX_ROUND_CHARS = 64;
const ROUND_RE = /^[\x21-\x7e]{1,64}$/;
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
const FRAME_KEYS = ['v', 'sid', 'round', 'from', 'to', 'seq', 'ts', 'payload', 'sig'] as const;
const FRAME_KEY_SET: ReadonlySet<string> = new Set(FRAME_KEYS);

export type FrameKind = 'p2p' | 'broadcast';

/** Size limits, all checked before the bytes they guard are parsed, hashed or decrypted. */
export interface FrameLimits {
  /** Largest raw frame per kind, checked before msgpack decoding. */
  readonly maxFrameBytes: Readonly<Record<FrameKind, number>>;
  /** Largest payload (ciphertext for p2p) for a round, checked before decryption or use. */
  maxPayloadBytes(round: string, kind: FrameKind): number;
}

/** Payload ceiling: a protocol envelope (runner MAX_BODY_BYTES + routing) plus AEAD overhead. */
export const DEFAULT_MAX_PAYLOAD = MAX_BODY_BYTES + 2048;
const FRAME_OVERHEAD = 1024;

export const DEFAULT_LIMITS: FrameLimits = {
  maxFrameBytes: { p2p: DEFAULT_MAX_PAYLOAD + FRAME_OVERHEAD, broadcast: DEFAULT_MAX_PAYLOAD + FRAME_OVERHEAD },
  maxPayloadBytes: () => DEFAULT_MAX_PAYLOAD,
};

/** A frame after decoding (payload still as on the wire: ciphertext for p2p). */
export interface Frame {
  readonly v: number;
  readonly sid: Uint8Array;
  readonly round: string;
  readonly from: number;
  /** Recipient index or ALL (−1). */
  readonly to: number;
  readonly seq: number;
  /** Sender's clock, ms since the epoch. */
  readonly ts: number;
  readonly payload: Uint8Array;
  readonly sig: Uint8Array;
}

/** A verified, decrypted frame handed to the layer above. */
export interface Delivered {
  readonly sid: Uint8Array;
  readonly round: string;
  readonly from: number;
  readonly to: number;
  readonly seq: number;
  readonly ts: number;
  readonly payload: Uint8Array;
  /** Stable frame id (hex) for blame records. */
  readonly id: string;
}

/**
 * A refused or faulty frame. `attributable` is true only when the sender's signature verified:
 * then `sender` is the culprit and `blame` names it. Otherwise `sender` is the claimed sender (if
 * one could be parsed) and must not be used as evidence.
 */
export class FrameRejected extends MpcError {
  readonly sender: number | undefined;
  readonly attributable: boolean;

  constructor(code: ErrorCode, message: string, sender: number | undefined, attributable: boolean, frameId?: string) {
    const details: Record<string, string | number | boolean> = { attributable };
    if (sender !== undefined) details.sender = sender;
    super(code, message, {
      details,
      blame:
        attributable && sender !== undefined
          ? [{ party: sender, msgIds: frameId ? [frameId] : [], reason: message }]
          : [],
    });
    this.name = 'FrameRejected';
    this.sender = sender;
    this.attributable = attributable;
  }
}

function refuse(code: ErrorCode, message: string, claimed?: number): FrameRejected {
  return new FrameRejected(code, message, claimed, false);
}

// --- canonical header / signing bytes ------------------------------------------------------------

function u64(w: WireWriter, x: number): WireWriter {
  return w.u32(Math.floor(x / 0x1_0000_0000)).u32(x >>> 0);
}

function header(tag: string, f: Omit<Frame, 'payload' | 'sig'>): WireWriter {
  const w = new WireWriter()
    .bytes(new TextEncoder().encode(tag))
    .u8(f.v)
    .bytes(f.sid)
    .bytes(new TextEncoder().encode(f.round))
    .u32(f.from)
    .u32(f.to === ALL ? 0xffffffff : f.to);
  u64(w, f.seq);
  return u64(w, f.ts);
}

/** Associated data of a P2P ciphertext: the canonical header. */
export function frameAd(f: Omit<Frame, 'payload' | 'sig'>): Uint8Array {
  return header(AD_TAG, f).finish();
}

/** The exact bytes the sender signs: everything but the signature. */
export function frameSignedBytes(f: Omit<Frame, 'sig'>): Uint8Array {
  return header(SIGN_TAG, f).bytes(f.payload).finish();
}

export function frameId(f: Frame): string {
  return bytesToHex(sha256(new WireWriter().bytes(frameSignedBytes(f)).bytes(f.sig).finish()).subarray(0, 16));
}

// --- msgpack encode / strict decode -----------------------------------------------------------------

const packr = new Packr({ useRecords: false, variableMapSize: true, moreTypes: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: false, moreTypes: false });

export function encodeFrame(f: Frame): Uint8Array {
  const obj = {
    v: f.v,
    sid: Buffer.from(f.sid),
    round: f.round,
    from: f.from,
    to: f.to,
    seq: f.seq,
    ts: f.ts,
    payload: Buffer.from(f.payload.buffer, f.payload.byteOffset, f.payload.byteLength),
    sig: Buffer.from(f.sig),
  };
  const out = packr.pack(obj);
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/**
 * Structural pre-scan: a flat msgpack map of exactly `FRAME_KEYS.length` entries whose keys are
 * short strings and whose values are integers, float64, strings or binaries, every declared length
 * inside the buffer, nothing after the map. Nested containers, ext types, nil and booleans are
 * rejected here, so msgpackr never recurses or allocates on attacker-chosen sizes.
 */
function scanFlatMap(b: Uint8Array): void {
  const bad = (why: string) => refuse('ERR_TRANSPORT_FRAME_MALFORMED', `frame is not a flat msgpack map: ${why}`);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let pos = 0;
  const need = (n: number) => {
    if (pos + n > b.length) throw bad('truncated');
  };
  need(1);
  const h = b[pos++] as number;
  let count: number;
  if (h >= 0x80 && h <= 0x8f) count = h & 0x0f;
  else if (h === 0xde) {
    need(2);
    count = dv.getUint16(pos);
    pos += 2;
  } else throw bad('not a map');
  if (count !== FRAME_KEYS.length) throw bad('wrong number of fields');
  const skipLen = (n: number) => {
    need(n);
    pos += n;
  };
  const lenField = (width: 1 | 2 | 4): number => {
    need(width);
    const n = width === 1 ? (b[pos] as number) : width === 2 ? dv.getUint16(pos) : dv.getUint32(pos);
    pos += width;
    return n;
  };
  for (let i = 0; i < count; i++) {
    // key: short string
    need(1);
    const k = b[pos++] as number;
    if (k >= 0xa0 && k <= 0xbf) skipLen(k & 0x1f);
    else if (k === 0xd9) skipLen(lenField(1));
    else throw bad('key is not a string');
    // value: scalar only
    need(1);
    const t = b[pos++] as number;
    if (t <= 0x7f || t >= 0xe0) continue; // fixint
    if (t >= 0xa0 && t <= 0xbf) skipLen(t & 0x1f);
    else if (t === 0xcc || t === 0xd0) skipLen(1);
    else if (t === 0xcd || t === 0xd1) skipLen(2);
    else if (t === 0xce || t === 0xd2) skipLen(4);
    else if (t === 0xcf || t === 0xd3 || t === 0xcb) skipLen(8);
    else if (t === 0xd9 || t === 0xc4) skipLen(lenField(1));
    else if (t === 0xda || t === 0xc5) skipLen(lenField(2));
    else if (t === 0xdb || t === 0xc6) skipLen(lenField(4));
    else throw bad('value of an unsupported type');
  }
  if (pos !== b.length) throw bad('trailing bytes');
}

function field<T>(ok: boolean, value: T, name: string, claimed?: number): T {
  if (!ok) throw refuse('ERR_TRANSPORT_FRAME_MALFORMED', `frame field ${name} is invalid`, claimed);
  return value;
}

const isU32 = (x: unknown): x is number => typeof x === 'number' && Number.isInteger(x) && x >= 0 && x <= 0xffffffff;
const isBin = (x: unknown): x is Uint8Array => x instanceof Uint8Array;

/** Strict decoding of a raw frame; throws FrameRejected (never attributable: nothing verified yet). */
export function decodeFrame(bytes: Uint8Array, maxFrameBytes: number): Frame {
  if (!(bytes instanceof Uint8Array)) throw refuse('ERR_TRANSPORT_FRAME_MALFORMED', 'frame must be bytes');
  if (bytes.length > maxFrameBytes) {
    throw refuse('ERR_TRANSPORT_FRAME_TOO_LARGE', `frame has ${bytes.length} bytes, above ${maxFrameBytes}`);
  }
  scanFlatMap(bytes);
  let decoded: unknown;
  try {
    decoded = unpackr.unpack(bytes);
  } catch {
    throw refuse('ERR_TRANSPORT_FRAME_MALFORMED', 'frame is not valid msgpack');
  }
  if (!(decoded instanceof Map) || decoded.size !== FRAME_KEYS.length) {
    throw refuse('ERR_TRANSPORT_FRAME_MALFORMED', 'frame must be a map with unique keys');
  }
  const o: Record<string, unknown> = Object.create(null);
  for (const [k, v] of decoded) {
    if (typeof k !== 'string') throw refuse('ERR_TRANSPORT_FRAME_MALFORMED', 'frame key is not a string');
    if (FORBIDDEN_KEYS.has(k)) throw refuse('ERR_TRANSPORT_FRAME_MALFORMED', 'frame has a forbidden key');
    if (!FRAME_KEY_SET.has(k)) throw refuse('ERR_TRANSPORT_FRAME_MALFORMED', 'frame has an unknown key');
    o[k] = v;
  }
  const claimed = isU32(o.from) ? o.from : undefined;
  const v = field(o.v === FRAME_VERSION, FRAME_VERSION, 'v', claimed);
  const sid = field(isBin(o.sid) && o.sid.length > 0 && o.sid.length <= MAX_SID_BYTES, o.sid as Uint8Array, 'sid');
  const round = field(
    typeof o.round === 'string' && o.round.length <= MAX_ROUND_CHARS && ROUND_RE.test(o.round),
    o.round as string,
    'round',
    claimed,
  );
  const from = field(claimed !== undefined && claimed !== 0xffffffff, claimed as number, 'from');
  const to = field(o.to === ALL || (isU32(o.to) && o.to !== 0xffffffff), o.to as number, 'to', claimed);
  const seq = field(Number.isSafeInteger(o.seq) && (o.seq as number) >= 1, o.seq as number, 'seq', claimed);
  const ts = field(Number.isSafeInteger(o.ts) && (o.ts as number) >= 0, o.ts as number, 'ts', claimed);
  const payload = field(isBin(o.payload), o.payload as Uint8Array, 'payload', claimed);
  const sig = field(isBin(o.sig) && o.sig.length === SIG_BYTES, o.sig as Uint8Array, 'sig', claimed);
  return {
    v,
    sid: Uint8Array.from(sid),
    round,
    from,
    to,
    seq,
    ts,
    payload: Uint8Array.from(payload),
    sig: Uint8Array.from(sig),
  };
}

// --- replay window ---------------------------------------------------------------------------------

/**
 * Sliding replay window per sender: accepts each sequence number once, refuses numbers older than
 * `size` behind the highest seen. Remembers the signature per slot, so a second, different signed
 * frame under one sequence number is detected (equivocation) rather than dropped as a duplicate.
 */
export class ReplayWindow {
  readonly #size: number;
  readonly #seqs: Float64Array;
  readonly #sigs: (string | undefined)[];
  #highest = 0;

  constructor(size = 1024) {
    if (!Number.isInteger(size) || size < 1 || size > 1 << 20) {
      throw new MpcError('ERR_TRANSPORT_ARGS', 'replay window size out of range');
    }
    this.#size = size;
    this.#seqs = new Float64Array(size);
    this.#sigs = new Array(size).fill(undefined);
  }

  /** 'fresh' | 'duplicate' (same frame again) | 'conflict' (same seq, different frame) | 'stale'. */
  check(seq: number, sigHex: string): 'fresh' | 'duplicate' | 'conflict' | 'stale' {
    if (seq <= this.#highest - this.#size) return 'stale';
    const slot = seq % this.#size;
    if (this.#seqs[slot] === seq) return this.#sigs[slot] === sigHex ? 'duplicate' : 'conflict';
    return 'fresh';
  }

  commit(seq: number, sigHex: string): void {
    const slot = seq % this.#size;
    this.#seqs[slot] = seq;
    this.#sigs[slot] = sigHex;
    if (seq > this.#highest) this.#highest = seq;
  }
}

// --- keys and AEAD ---------------------------------------------------------------------------------

/**
 * A party's long-term transport identity: Ed25519 signs frames and the per-session ephemeral keys.
 * The static X25519 key stays in the roster format but no longer enters any P2P key (forward
 * secrecy: P2P keys come from per-session ephemeral keys only, session-keys.ts).
 */
export interface PartyKeys {
  readonly ed25519Secret: Uint8Array;
  readonly x25519Secret: Uint8Array;
}

/** Public keys of every party, indexed by party id. */
export interface RosterEntry {
  readonly ed25519: Uint8Array;
  readonly x25519: Uint8Array;
}

export function generatePartyKeys(): { secret: PartyKeys; public: RosterEntry } {
  const ed = ed25519.utils.randomSecretKey();
  const x = x25519.utils.randomSecretKey();
  return {
    secret: { ed25519Secret: ed, x25519Secret: x },
    public: { ed25519: ed25519.getPublicKey(ed), x25519: x25519.getPublicKey(x) },
  };
}

function seal(key: Uint8Array, ad: Uint8Array, plaintext: Uint8Array): Uint8Array {
  const nonce = randomBytes(NONCE_BYTES);
  const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG_BYTES });
  c.setAAD(ad, { plaintextLength: plaintext.length });
  const ct = Buffer.concat([c.update(plaintext), c.final()]);
  const out = new Uint8Array(NONCE_BYTES + ct.length + TAG_BYTES);
  out.set(nonce, 0);
  out.set(ct, NONCE_BYTES);
  out.set(c.getAuthTag(), NONCE_BYTES + ct.length);
  return out;
}

function open(key: Uint8Array, ad: Uint8Array, sealed: Uint8Array): Uint8Array | undefined {
  if (sealed.length < NONCE_BYTES + TAG_BYTES) return undefined;
  const nonce = sealed.subarray(0, NONCE_BYTES);
  const ct = sealed.subarray(NONCE_BYTES, sealed.length - TAG_BYTES);
  const tag = sealed.subarray(sealed.length - TAG_BYTES);
  try {
    const d = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG_BYTES });
    d.setAAD(ad, { plaintextLength: ct.length });
    d.setAuthTag(tag);
    const pt = Buffer.concat([d.update(ct), d.final()]);
    return new Uint8Array(pt.buffer, pt.byteOffset, pt.byteLength);
  } catch {
    return undefined;
  }
}

// --- the per-session codec -------------------------------------------------------------------------

export interface FrameCodecOptions {
  readonly self: number;
  readonly sid: Uint8Array;
  readonly keys: PartyKeys;
  readonly roster: readonly RosterEntry[];
  readonly limits?: FrameLimits;
  readonly replayWindow?: number;
  /** Largest accepted |now − ts| in ms (default 5 minutes). */
  readonly maxSkewMs?: number;
  readonly now?: () => number;
  /**
   * This session's ephemeral X25519 secret (default: a fresh random one). The codec takes
   * ownership and zeroizes it; tests pass one to keep a copy and prove a capture decrypts.
   */
  readonly ephemeralSecret?: Uint8Array;
}

/** Where a frame came from as far as the channel can tell (e.g. the sender token of the subject). */
export interface ChannelInfo {
  readonly kind?: FrameKind;
  /** Sender authenticated by the channel (server-enforced subject permissions); must equal `from`. */
  readonly from?: number;
}

export type OpenResult =
  | { readonly status: 'deliver'; readonly frame: Delivered }
  | { readonly status: 'duplicate'; readonly frame: Delivered };

/**
 * Seals and opens frames of one session for one party: signs with the party's Ed25519 key,
 * encrypts P2P payloads under pairwise keys derived from per-session ephemeral keys, numbers
 * frames, and keeps a replay window per sender. `open` throws FrameRejected for every bad frame and
 * never anything else. P2P frames need the peers' signed session keys (`acceptSessionKeys`): until
 * then sealing one throws and opening one is refused with ERR_TRANSPORT_SESSION_KEY_MISSING.
 */
export class FrameCodec {
  readonly self: number;
  readonly sid: Uint8Array;
  readonly #edSecret: Uint8Array;
  readonly #signer: Ed25519Signer;
  /** Ephemeral X25519 secret; zeroized once the pairwise keys exist (or on dispose). */
  readonly #eSecret: Uint8Array;
  readonly #ePublic: Uint8Array;
  /** This party's signed ephemeral public key for this session (announce it to the peers). */
  readonly sessionKey: Uint8Array;
  #keysAccepted = false;
  readonly #roster: readonly RosterEntry[];
  readonly #limits: FrameLimits;
  readonly #maxSkew: number;
  readonly #now: () => number;
  readonly #windowSize: number;
  readonly #keys = new Map<number, Uint8Array>();
  readonly #windows = new Map<number, ReplayWindow>();
  #seq = 0;
  #disposed = false;

  constructor(o: FrameCodecOptions) {
    if (!isU32(o.self) || o.self >= o.roster.length)
      throw new MpcError('ERR_TRANSPORT_ARGS', 'self is not in the roster');
    if (!(o.sid instanceof Uint8Array) || o.sid.length === 0 || o.sid.length > MAX_SID_BYTES) {
      throw new MpcError('ERR_TRANSPORT_ARGS', 'sid must be 1..256 bytes');
    }
    for (const r of o.roster) {
      if (r.ed25519?.length !== 32 || r.x25519?.length !== 32) {
        throw new MpcError('ERR_TRANSPORT_KEY_INVALID', 'roster keys must be 32 bytes');
      }
    }
    if (o.keys.ed25519Secret.length !== 32 || o.keys.x25519Secret.length !== 32) {
      throw new MpcError('ERR_TRANSPORT_KEY_INVALID', 'party secret keys must be 32 bytes');
    }
    this.self = o.self;
    this.sid = Uint8Array.from(o.sid);
    this.#edSecret = Uint8Array.from(o.keys.ed25519Secret);
    this.#signer = new Ed25519Signer(this.#edSecret);
    if (o.ephemeralSecret !== undefined && o.ephemeralSecret.length !== 32) {
      throw new MpcError('ERR_TRANSPORT_KEY_INVALID', 'ephemeral secret must be 32 bytes');
    }
    this.#eSecret = o.ephemeralSecret ?? newEphemeralSecret();
    this.#ePublic = ephemeralPublicKey(this.#eSecret);
    this.sessionKey = announceSessionKey(this.#signer, this.sid, this.self, this.#ePublic);
    this.#roster = o.roster.map((r) => ({ ed25519: Uint8Array.from(r.ed25519), x25519: Uint8Array.from(r.x25519) }));
    this.#limits = o.limits ?? DEFAULT_LIMITS;
    this.#maxSkew = o.maxSkewMs ?? 5 * 60_000;
    this.#now = o.now ?? Date.now;
    this.#windowSize = o.replayWindow ?? 1024;
  }

  get n(): number {
    return this.#roster.length;
  }

  /** Whether the peers' session keys were accepted (P2P frames can flow). */
  get sessionKeysAccepted(): boolean {
    return this.#keysAccepted;
  }

  /**
   * Accepts the signed session keys of `peers` (roster ids; when this party is among them, `keys`
   * must hold its own announcement unchanged), derives
   * a pairwise key with each and zeroizes the ephemeral secret. All or nothing, at most once: a
   * missing key or one not signed by that peer's roster identity for this sid refuses the session.
   * @throws MpcError ERR_TRANSPORT_SESSION_KEY_MISSING, ERR_TRANSPORT_SESSION_KEY_INVALID,
   * ERR_TRANSPORT_KEY_INVALID (low-order key), ERR_TRANSPORT_ARGS (called twice, unknown peer)
   */
  acceptSessionKeys(keys: ReadonlyMap<number, Uint8Array>, peers: readonly number[]): void {
    this.#live();
    if (this.#keysAccepted) throw new MpcError('ERR_TRANSPORT_ARGS', 'session keys were already accepted');
    const publics = new Map<number, Uint8Array>();
    for (const peer of peers) {
      if (peer === this.self) {
        // the relayed copy of our own key must be ours: anything else means the relay tampered
        const own = keys.get(peer);
        if (own === undefined || !equalBytes(own, this.sessionKey)) {
          throw new MpcError('ERR_TRANSPORT_SESSION_KEY_INVALID', 'the relayed copy of our own session key differs');
        }
        continue;
      }
      const identity = this.#roster[peer]?.ed25519;
      if (!isU32(peer) || identity === undefined) throw new MpcError('ERR_TRANSPORT_ARGS', 'peer is not in the roster');
      const announcement = keys.get(peer);
      if (announcement === undefined) {
        throw new MpcError('ERR_TRANSPORT_SESSION_KEY_MISSING', `no session key for party ${peer}`, {
          details: { peer },
        });
      }
      publics.set(peer, openSessionKey(announcement, this.sid, peer, identity));
    }
    const derived = new Map<number, Uint8Array>();
    try {
      for (const [peer, peerPublic] of publics) {
        derived.set(
          peer,
          sessionPairwiseKey({
            sid: this.sid,
            self: this.self,
            selfSecret: this.#eSecret,
            selfPublic: this.#ePublic,
            selfIdentity: (this.#roster[this.self] as RosterEntry).ed25519,
            peer,
            peerPublic,
            peerIdentity: (this.#roster[peer] as RosterEntry).ed25519,
          }),
        );
      }
    } catch (e) {
      for (const k of derived.values()) k.fill(0);
      throw e;
    }
    for (const [peer, k] of derived) this.#keys.set(peer, k);
    this.#keysAccepted = true;
    this.#eSecret.fill(0); // forward secrecy: nothing left that could re-derive the keys
  }

  #key(peer: number): Uint8Array | undefined {
    return this.#keys.get(peer);
  }

  #live(): void {
    if (this.#disposed) throw new MpcError('ERR_TRANSPORT_CLOSED', 'frame codec was disposed');
  }

  /** Builds the signed (and for P2P, encrypted) wire frame of one message. */
  seal(to: number, round: string, payload: Uint8Array): Uint8Array {
    this.#live();
    if (to !== ALL && (!isU32(to) || to >= this.n || to === this.self)) {
      throw new MpcError('ERR_TRANSPORT_ARGS', 'recipient is not another roster party');
    }
    if (typeof round !== 'string' || !ROUND_RE.test(round)) throw new MpcError('ERR_TRANSPORT_ARGS', 'invalid round');
    const kind: FrameKind = to === ALL ? 'broadcast' : 'p2p';
    const key = kind === 'p2p' ? this.#key(to) : undefined;
    if (kind === 'p2p' && key === undefined) {
      throw new MpcError('ERR_TRANSPORT_SESSION_KEY_MISSING', 'no session key with this recipient', {
        details: { peer: to },
      });
    }
    const head = { v: FRAME_VERSION, sid: this.sid, round, from: this.self, to, seq: ++this.#seq, ts: this.#now() };
    const body = key !== undefined ? seal(key, frameAd(head), payload) : payload;
    if (body.length > this.#limits.maxPayloadBytes(round, kind)) {
      throw new MpcError('ERR_TRANSPORT_FRAME_TOO_LARGE', 'payload exceeds the limit of its round');
    }
    const sig = this.#signer.sign(frameSignedBytes({ ...head, payload: body }));
    const bytes = encodeFrame({ ...head, payload: body, sig });
    if (bytes.length > this.#limits.maxFrameBytes[kind]) {
      throw new MpcError('ERR_TRANSPORT_FRAME_TOO_LARGE', 'frame exceeds the limit of its kind');
    }
    return bytes;
  }

  /** Verifies, de-duplicates and decrypts a received frame. Throws FrameRejected only. */
  open(bytes: Uint8Array, channel: ChannelInfo = {}): OpenResult {
    try {
      return this.#open(bytes, channel);
    } catch (e) {
      if (e instanceof FrameRejected) throw e;
      if (e instanceof MpcError && e.code === 'ERR_TRANSPORT_CLOSED') throw refuse(e.code, e.message);
      // Defensive: nothing below should throw anything else; never let a frame crash the caller.
      throw refuse('ERR_TRANSPORT_FRAME_MALFORMED', 'frame could not be processed');
    }
  }

  #open(bytes: Uint8Array, channel: ChannelInfo): OpenResult {
    this.#live();
    const maxRaw = channel.kind
      ? this.#limits.maxFrameBytes[channel.kind]
      : Math.max(this.#limits.maxFrameBytes.p2p, this.#limits.maxFrameBytes.broadcast);
    const f = decodeFrame(bytes, maxRaw);
    const kind: FrameKind = f.to === ALL ? 'broadcast' : 'p2p';
    if (!equalBytes(f.sid, this.sid)) throw refuse('ERR_TRANSPORT_SESSION', 'frame belongs to another session', f.from);
    if (f.from >= this.n || f.from === this.self) {
      throw refuse('ERR_TRANSPORT_FRAME_MALFORMED', 'frame has an invalid sender', f.from);
    }
    if (channel.from !== undefined && channel.from !== f.from) {
      throw refuse('ERR_TRANSPORT_MISROUTED', 'frame sender differs from the channel sender', f.from);
    }
    if (channel.kind !== undefined && channel.kind !== kind) {
      throw refuse('ERR_TRANSPORT_MISROUTED', 'frame kind differs from the channel kind', f.from);
    }
    const signed = frameSignedBytes(f);
    const ok = ed25519Verify((this.#roster[f.from] as RosterEntry).ed25519, signed, f.sig);
    if (!ok) throw refuse('ERR_TRANSPORT_SIGNATURE', 'frame signature does not verify', f.from);
    // From here on the frame provably comes from f.from.
    const id = frameId(f);
    const blame = (code: ErrorCode, why: string) => new FrameRejected(code, why, f.from, true, id);
    if (f.to !== ALL && f.to !== this.self) {
      throw refuse('ERR_TRANSPORT_MISROUTED', 'frame is addressed to another party', f.from);
    }
    const sigHex = bytesToHex(f.sig);
    let win = this.#windows.get(f.from);
    if (!win) {
      win = new ReplayWindow(this.#windowSize);
      this.#windows.set(f.from, win);
    }
    const state = win.check(f.seq, sigHex);
    if (state === 'stale') throw refuse('ERR_TRANSPORT_REPLAY', 'frame sequence number is outside the window', f.from);
    if (state === 'conflict') throw blame('ERR_TRANSPORT_FAULT', 'two different frames with one sequence number');
    if (Math.abs(this.#now() - f.ts) > this.#maxSkew) {
      throw refuse('ERR_TRANSPORT_REPLAY', 'frame timestamp is outside the accepted clock skew', f.from);
    }
    if (f.payload.length > this.#limits.maxPayloadBytes(f.round, kind)) {
      throw blame('ERR_TRANSPORT_FAULT', 'frame payload exceeds the limit of its round');
    }
    let payload = f.payload;
    if (kind === 'p2p') {
      const key = this.#key(f.from);
      if (key === undefined) {
        throw refuse('ERR_TRANSPORT_SESSION_KEY_MISSING', 'no session key with the sender', f.from);
      }
      const pt = open(key, frameAd(f), f.payload);
      if (!pt) throw blame('ERR_TRANSPORT_FAULT', 'frame payload does not decrypt');
      payload = pt;
    }
    const frame: Delivered = { sid: f.sid, round: f.round, from: f.from, to: f.to, seq: f.seq, ts: f.ts, payload, id };
    if (state === 'duplicate') return { status: 'duplicate', frame };
    win.commit(f.seq, sigHex);
    return { status: 'deliver', frame };
  }

  /** Zeroizes the secret and derived keys this codec owns. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#edSecret.fill(0);
    this.#eSecret.fill(0);
    for (const k of this.#keys.values()) k.fill(0);
    this.#keys.clear();
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= (a[i] as number) ^ (b[i] as number);
  return d === 0;
}
