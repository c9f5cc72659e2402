import { x25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { MpcError } from '../errors/index.js';
import { type Ed25519Signer, ed25519Verify } from '../primitives/ed25519.js';
import { WireReader, WireWriter } from '../util/wire.js';

/**
 * Per-session ephemeral X25519 keys: forward secrecy of P2P payloads (issue 17, item 6).
 *
 * Each party draws a fresh X25519 key pair when it joins a session and announces the public half
 * signed with its long-term Ed25519 identity key, bound to the session id and its roster id. The
 * pairwise P2P key of parties a < b is
 *
 *   HKDF-SHA256(ikm = X25519(e_a, E_b), salt = sid,
 *               info = label ‖ a ‖ b ‖ id_a ‖ id_b ‖ E_a ‖ E_b)        (id = Ed25519 identity key)
 *
 * and the ephemeral secret is wiped as soon as the pairwise keys exist (the keys themselves when the
 * session ends). A later theft of the identity keys therefore decrypts no recorded session: the
 * identity key only ever signed the ephemeral public key, it never entered the key agreement. A
 * peer key that is missing or not signed by that peer's roster identity is refused, which is what
 * stops a relay (the coordinator, the NATS server) from substituting its own key.
 *
 * Announcement wire form: tag 0x45 ‖ version 1 ‖ E (32) ‖ Ed25519 signature (64) over
 * WireWriter(label ‖ sid ‖ party ‖ E). A list of announcements (the coordinator's `go`): tag 0x4b ‖
 * version 1 ‖ count ‖ (party ‖ announcement)*, parties strictly ascending.
 */

const ANNOUNCE_LABEL = 'mpc-custody.transport.v1.session-key';
const KEY_LABEL = 'mpc-custody.transport.v1.p2p-session-key';
const ANNOUNCE_TAG = 0x45;
const LIST_TAG = 0x4b;
const VERSION = 1;
const KEY_BYTES = 32;
const SIG_BYTES = 64;
export const SESSION_KEY_ANNOUNCEMENT_BYTES = 2 + KEY_BYTES + SIG_BYTES;
/** Largest list accepted (the control plane's member bound). */
export const MAX_SESSION_KEYS = 1024;

const te = new TextEncoder();

/** A fresh X25519 secret for one session. */
export function newEphemeralSecret(): Uint8Array {
  return x25519.utils.randomSecretKey();
}

export function ephemeralPublicKey(secret: Uint8Array): Uint8Array {
  return x25519.getPublicKey(secret);
}

function statement(sid: Uint8Array, party: number, ephemeralPublic: Uint8Array): Uint8Array {
  return new WireWriter().bytes(te.encode(ANNOUNCE_LABEL)).bytes(sid).u32(party).fixed(ephemeralPublic).finish();
}

/** `party`'s signed announcement of its ephemeral public key for session `sid`. */
export function announceSessionKey(
  signer: Ed25519Signer,
  sid: Uint8Array,
  party: number,
  ephemeralPublic: Uint8Array,
): Uint8Array {
  const sig = signer.sign(statement(sid, party, ephemeralPublic));
  return new WireWriter().u8(ANNOUNCE_TAG).u8(VERSION).fixed(ephemeralPublic).fixed(sig).finish();
}

/**
 * Checks `party`'s announcement for `sid` against its roster identity and returns the ephemeral
 * public key.
 * @throws MpcError ERR_TRANSPORT_SESSION_KEY_INVALID (malformed, or not signed by that identity)
 */
export function openSessionKey(
  announcement: Uint8Array,
  sid: Uint8Array,
  party: number,
  identity: Uint8Array,
): Uint8Array {
  const bad = (why: string) =>
    new MpcError('ERR_TRANSPORT_SESSION_KEY_INVALID', `session key of party ${party} refused: ${why}`, {
      details: { peer: party },
    });
  if (!(announcement instanceof Uint8Array) || announcement.length !== SESSION_KEY_ANNOUNCEMENT_BYTES) {
    throw bad('malformed');
  }
  if (announcement[0] !== ANNOUNCE_TAG || announcement[1] !== VERSION) throw bad('malformed');
  const epk = announcement.slice(2, 2 + KEY_BYTES);
  const sig = announcement.slice(2 + KEY_BYTES);
  if (!ed25519Verify(identity, statement(sid, party, epk), sig)) {
    throw bad('not signed by its roster identity for this session');
  }
  return epk;
}

/** The coordinator's `go` payload: every member's announcement, by roster id. */
export function encodeSessionKeys(keys: ReadonlyMap<number, Uint8Array>): Uint8Array {
  const parties = [...keys.keys()].sort((a, b) => a - b);
  if (parties.length > MAX_SESSION_KEYS) throw new MpcError('ERR_TRANSPORT_ARGS', 'too many session keys');
  const w = new WireWriter().u8(LIST_TAG).u8(VERSION).u32(parties.length);
  for (const p of parties) w.u32(p).bytes(keys.get(p) as Uint8Array);
  return w.finish();
}

/**
 * Strict decoding of a `go` payload (signatures are checked later, against the roster).
 * @throws MpcError ERR_TRANSPORT_SESSION_KEY_MISSING for an empty payload (no keys relayed),
 * ERR_TRANSPORT_SESSION_KEY_INVALID for anything malformed
 */
export function decodeSessionKeys(bytes: Uint8Array): Map<number, Uint8Array> {
  if (bytes.length === 0) {
    throw new MpcError('ERR_TRANSPORT_SESSION_KEY_MISSING', 'no session keys were relayed with go');
  }
  try {
    const r = new WireReader(bytes, 16 + MAX_SESSION_KEYS * (8 + SESSION_KEY_ANNOUNCEMENT_BYTES));
    r.tag('sessionKeys.tag', LIST_TAG);
    r.tag('sessionKeys.version', VERSION);
    const count = r.u32('sessionKeys.count');
    if (count > MAX_SESSION_KEYS) throw new Error('too many');
    const out = new Map<number, Uint8Array>();
    let last = -1;
    for (let i = 0; i < count; i++) {
      const party = r.u32('sessionKeys.party');
      if (party <= last) throw new Error('not ascending');
      last = party;
      out.set(party, r.bytes('sessionKeys.announcement', SESSION_KEY_ANNOUNCEMENT_BYTES));
    }
    r.end();
    return out;
  } catch {
    throw new MpcError('ERR_TRANSPORT_SESSION_KEY_INVALID', 'malformed session key list');
  }
}

/**
 * The pairwise key of `self` and `peer` for session `sid` from the ephemeral keys (symmetric).
 * `identities` are the parties' Ed25519 roster keys, bound into the derivation with the ephemeral
 * publics so that a key only ever serves one pair in one session.
 * @throws MpcError ERR_TRANSPORT_KEY_INVALID (invalid or low-order peer key)
 */
export function sessionPairwiseKey(o: {
  readonly sid: Uint8Array;
  readonly self: number;
  readonly selfSecret: Uint8Array;
  readonly selfPublic: Uint8Array;
  readonly selfIdentity: Uint8Array;
  readonly peer: number;
  readonly peerPublic: Uint8Array;
  readonly peerIdentity: Uint8Array;
}): Uint8Array {
  if (o.self === o.peer) throw new MpcError('ERR_TRANSPORT_ARGS', 'pairwise key needs two parties');
  let shared: Uint8Array;
  try {
    shared = x25519.getSharedSecret(o.selfSecret, o.peerPublic);
  } catch {
    throw new MpcError('ERR_TRANSPORT_KEY_INVALID', 'X25519 key agreement failed (invalid or low-order key)', {
      details: { peer: o.peer },
    });
  }
  try {
    if (shared.every((x) => x === 0)) {
      throw new MpcError('ERR_TRANSPORT_KEY_INVALID', 'X25519 shared secret is zero', { details: { peer: o.peer } });
    }
    const lo = o.self < o.peer;
    const info = new WireWriter()
      .bytes(te.encode(KEY_LABEL))
      .u32(lo ? o.self : o.peer)
      .u32(lo ? o.peer : o.self)
      .fixed(lo ? o.selfIdentity : o.peerIdentity)
      .fixed(lo ? o.peerIdentity : o.selfIdentity)
      .fixed(lo ? o.selfPublic : o.peerPublic)
      .fixed(lo ? o.peerPublic : o.selfPublic)
      .finish();
    return hkdf(sha256, shared, o.sid, info, 32);
  } finally {
    shared.fill(0);
  }
}
