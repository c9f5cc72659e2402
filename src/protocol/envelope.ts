import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { MpcError } from '../errors/index.js';
import { WireReader, WireWriter } from '../util/wire.js';
import { ALL } from './types.js';

/**
 * A protocol message as it travels: who, where, which round, the encoded body, and the sender's
 * signature over all of it. The signature is what makes blame provable: a party can only be blamed
 * for a message that carries its valid signature.
 */
export interface Envelope {
  readonly protocol: string;
  readonly sid: Uint8Array;
  readonly round: string;
  readonly from: number;
  /** Recipient index or ALL (−1). */
  readonly to: number;
  readonly body: Uint8Array;
  readonly sig: Uint8Array;
}

/** Signs and verifies message bytes on behalf of parties (Ed25519 in the daemon and the simulation). */
export interface Authenticator {
  sign(bytes: Uint8Array): Uint8Array;
  verify(party: number, bytes: Uint8Array, sig: Uint8Array): boolean;
}

const SIGNED_TAG = 'mpc-custody.cggmp24.v1.msg';

/** The exact bytes a sender signs: everything in the envelope except the signature. */
export function signedBytes(e: Omit<Envelope, 'sig'>): Uint8Array {
  return new WireWriter()
    .bytes(new TextEncoder().encode(SIGNED_TAG))
    .bytes(new TextEncoder().encode(e.protocol))
    .bytes(e.sid)
    .bytes(new TextEncoder().encode(e.round))
    .u32(e.from)
    .u32(e.to === ALL ? 0xffffffff : e.to)
    .bytes(e.body)
    .finish();
}

/** Stable message id for blame records: first 16 bytes of SHA-256 over the signed bytes and signature. */
export function messageId(e: Envelope): string {
  const w = new WireWriter().bytes(signedBytes(e)).bytes(e.sig).finish();
  return bytesToHex(sha256(w).subarray(0, 16));
}

/** Digest used by the echo round: depends on the body and routing, not on the signature bytes. */
export function bodyDigest(e: Omit<Envelope, 'sig'>): Uint8Array {
  return sha256(signedBytes(e));
}

/** Wire form of an envelope (used by evidence messages and, later, by the transport). */
export function encodeEnvelope(e: Envelope): Uint8Array {
  return new WireWriter()
    .u8(0x45)
    .bytes(new TextEncoder().encode(e.protocol))
    .bytes(e.sid)
    .bytes(new TextEncoder().encode(e.round))
    .u32(e.from)
    .u32(e.to === ALL ? 0xffffffff : e.to)
    .bytes(e.body)
    .bytes(e.sig)
    .finish();
}

/**
 * Strict decoder of `encodeEnvelope` output: sizes checked before reading, UTF-8 names, no trailing
 * bytes. Structural only: the signature is the runner's check.
 * @throws MpcError ERR_WIRE_* naming the field
 * @example const env = decodeEnvelope(frame.payload, MAX_BODY_BYTES);
 */
export function decodeEnvelope(bytes: Uint8Array, maxBody: number): Envelope {
  const r = new WireReader(bytes, maxBody + 1024);
  r.tag('envelope.tag', 0x45);
  const dec = new TextDecoder('utf-8', { fatal: true });
  const text = (b: Uint8Array, path: string): string => {
    try {
      return dec.decode(b);
    } catch {
      // A typed error, like every other decoding failure (TextDecoder throws a TypeError).
      throw new MpcError('ERR_WIRE_TYPE', `${path} is not UTF-8`, { details: { path } });
    }
  };
  const protocol = text(r.bytes('envelope.protocol', 64), 'envelope.protocol');
  const sid = r.bytes('envelope.sid', 256);
  const round = text(r.bytes('envelope.round', 64), 'envelope.round');
  const from = r.u32('envelope.from');
  const toRaw = r.u32('envelope.to');
  const body = r.bytes('envelope.body', maxBody);
  const sig = r.bytes('envelope.sig', 128);
  r.end();
  return { protocol, sid, round, from, to: toRaw === 0xffffffff ? ALL : toRaw, body, sig };
}
