import { MpcError } from '../errors/index.js';
import { WireReader, WireWriter } from '../util/wire.js';
import { decodeEnvelope, type Envelope, encodeEnvelope } from './envelope.js';

/**
 * Abort notices: how a point-to-point fault becomes identifiable at every party (PROTOCOL.md §7.1
 * "every blame must be backed by signed transcript data so a third party can re-check it").
 *
 * A fault in a P2P message — a bad Feldman share, a bad Πfac / Πenc-elg / Πaff-g / Πelog — is seen only
 * by its recipient. When the recipient (the accuser) aborts because of such a message, its runner
 * publishes a notice: an envelope of the reserved round {@link ABORT_ROUND}, broadcast, signed by
 * the accuser and bound to the protocol and sid like every envelope, whose body names each culprit
 * and carries the culprit's own signed envelope(s) as evidence. Every other party checks the
 * signatures and routing of the evidence and re-runs the public check of the message (the
 * protocol's `judge` hook), and so reaches the accuser's verdict on its own — or, when the evidence
 * shows no fault or is not what it claims to be, blames the accuser. Either way every honest party
 * names the same culprit. (runner.ts implements both sides; this module is the strict wire codec.)
 *
 * Body layout (all lengths checked before use, no trailing bytes, one encoding per notice):
 *
 *   u8 0x4e ‖ u8 version 1 ‖ bytes round (≤ 64, UTF-8: the round the accuser aborted in)
 *   ‖ u32 count (1 ≤ count ≤ n − 1) ‖ count × accusation, culprits strictly increasing:
 *     u32 culprit ‖ bytes reason (≤ 256, UTF-8; informational: verdicts use the re-computed reason)
 *     ‖ u32 evidence count (1, or 2 for two different signed messages of one round: equivocation)
 *     ‖ evidence × bytes(encodeEnvelope(culprit's envelope))
 *
 * What a notice reveals: the culprit's messages to the accuser — ZK proofs, ciphertexts under the
 * accuser's or the culprit's Paillier key, and in keygen the share σ_{j,i} the culprit dealt to the
 * accuser. The session aborts, so that share never becomes part of a key; nothing of the accuser's
 * own secrets is in a notice.
 */

/** Reserved round name of abort notices (no protocol may use it for a round). */
export const ABORT_ROUND = 'abort';

const TAG = 0x4e; // 'N'
const VERSION = 1;
const MAX_ROUND_BYTES = 64;
/** Bound on the informational reason text of an accusation. */
export const MAX_REASON_BYTES = 256;
/** Evidence envelopes per accusation: one message, or two different ones of one round. */
export const MAX_EVIDENCE = 2;

/** One accused party and the signed envelope(s) that show its fault. */
export interface Accusation {
  readonly culprit: number;
  /** The accuser's reason, for logs; receivers re-compute the reason they blame with. */
  readonly reason: string;
  readonly evidence: readonly Envelope[];
}

/** The decoded body of an abort notice. */
export interface AbortNoticeBody {
  /** The round the accuser aborted in (a round name of the protocol). */
  readonly round: string;
  readonly accusations: readonly Accusation[];
}

const enc = new TextEncoder();

/** Truncates `s` to at most `max` UTF-8 bytes on a character boundary. */
export function clampUtf8(s: string, max: number): string {
  if (enc.encode(s).length <= max) return s;
  let out = '';
  for (const ch of s) {
    if (enc.encode(out + ch).length > max) break;
    out += ch;
  }
  return out;
}

/**
 * Encodes a notice body (the layout in the module doc).
 * @throws MpcError ERR_WIRE_BAD_LENGTH for an over-long round or reason, or an evidence count outside [1, 2]
 * @example const body = encodeAbortNotice({ round: 'r3', accusations: [{ culprit: 2, reason, evidence: [env] }] });
 */
export function encodeAbortNotice(notice: AbortNoticeBody): Uint8Array {
  const round = enc.encode(notice.round);
  if (round.length === 0 || round.length > MAX_ROUND_BYTES)
    throw new MpcError('ERR_WIRE_BAD_LENGTH', 'abort notice round name has a bad length');
  const w = new WireWriter().u8(TAG).u8(VERSION).bytes(round).u32(notice.accusations.length);
  for (const a of notice.accusations) {
    const reason = enc.encode(a.reason);
    if (reason.length > MAX_REASON_BYTES) throw new MpcError('ERR_WIRE_BAD_LENGTH', 'abort notice reason too long');
    if (a.evidence.length < 1 || a.evidence.length > MAX_EVIDENCE)
      throw new MpcError('ERR_WIRE_BAD_LENGTH', 'abort notice needs one or two evidence envelopes per accusation');
    w.u32(a.culprit).bytes(reason).u32(a.evidence.length);
    for (const e of a.evidence) w.bytes(encodeEnvelope(e));
  }
  return w.finish();
}

export interface AbortNoticeLimits {
  /** Number of parties of the session. */
  readonly n: number;
  /** Index of the party that signed the notice (it cannot accuse itself). */
  readonly accuser: number;
  /** Largest notice body, and largest body of an evidence envelope. */
  readonly maxBytes: number;
}

/**
 * Strict decoder of a notice body: sizes before allocation, 1 ≤ count ≤ n − 1, culprits strictly
 * increasing, in range and not the accuser, 1–2 evidence envelopes each decoded with
 * `decodeEnvelope` (size-limited), UTF-8 text, no trailing bytes. Structural only: signatures and
 * routing of the evidence are the runner's checks.
 *
 * @throws MpcError ERR_WIRE_* (with the field path) for any malformed body
 * @example const notice = decodeAbortNotice(env.body, { n, accuser: env.from, maxBytes: MAX_BODY_BYTES });
 */
export function decodeAbortNotice(bytes: Uint8Array, limits: AbortNoticeLimits): AbortNoticeBody {
  const { n, accuser, maxBytes } = limits;
  const dec = new TextDecoder('utf-8', { fatal: true });
  const text = (b: Uint8Array, path: string): string => {
    try {
      return dec.decode(b);
    } catch {
      throw new MpcError('ERR_WIRE_TYPE', `${path} is not UTF-8`, { details: { path } });
    }
  };
  const r = new WireReader(bytes, maxBytes);
  r.tag('notice.tag', TAG);
  r.tag('notice.version', VERSION);
  const round = text(r.bytes('notice.round', MAX_ROUND_BYTES), 'notice.round');
  if (round.length === 0)
    throw new MpcError('ERR_WIRE_BAD_LENGTH', 'notice.round is empty', { details: { path: 'notice.round' } });
  const count = r.u32('notice.count');
  if (count < 1 || count > n - 1) {
    throw new MpcError('ERR_WIRE_BAD_LENGTH', `notice has ${count} accusations, outside [1, ${n - 1}]`, {
      details: { path: 'notice.count', length: count },
    });
  }
  const accusations: Accusation[] = [];
  for (let k = 0; k < count; k++) {
    const path = `notice.accusations[${k}]`;
    const culprit = r.u32(`${path}.culprit`);
    const prev = accusations[k - 1]?.culprit;
    if (culprit >= n || culprit === accuser || (prev !== undefined && culprit <= prev)) {
      throw new MpcError('ERR_WIRE_NON_CANONICAL', `${path}.culprit is not a valid, increasing party index`, {
        details: { path: `${path}.culprit` },
      });
    }
    const reason = text(r.bytes(`${path}.reason`, MAX_REASON_BYTES), `${path}.reason`);
    const m = r.u32(`${path}.evidence.count`);
    if (m < 1 || m > MAX_EVIDENCE) {
      throw new MpcError('ERR_WIRE_BAD_LENGTH', `${path} has ${m} evidence envelopes, outside [1, ${MAX_EVIDENCE}]`, {
        details: { path: `${path}.evidence`, length: m },
      });
    }
    const evidence = Array.from({ length: m }, (_, e) =>
      decodeEnvelope(r.bytes(`${path}.evidence[${e}]`, maxBytes + 2048), maxBytes),
    );
    accusations.push({ culprit, reason, evidence });
  }
  r.end();
  return { round, accusations };
}
