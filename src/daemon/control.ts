import { randomBytes } from 'node:crypto';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import {
  BTC_NETWORKS,
  BTC_PSBT_MAX_INPUTS,
  type BtcNetwork,
  PAYLOAD_CODECS,
  PAYLOAD_KINDS,
  type PayloadKind,
} from '../chains/index.js';
import { MpcError } from '../errors/index.js';
import { MAX_APPROVAL_BYTES, MAX_SIGN_REQUEST_BYTES } from '../policy/index.js';
import { decodePoint, encodePoint, type Point } from '../primitives/curve.js';
import { Ed25519Signer, ed25519Verify } from '../primitives/ed25519.js';
import { assertDerivationPath, MAX_PATH_LENGTH } from '../protocol/hd.js';
import type { PresignaturePublic } from '../protocol/sign.js';
import { ALL } from '../protocol/types.js';
import {
  DEFAULT_LIMITS,
  decodeFrame,
  encodeFrame,
  FRAME_VERSION,
  frameSignedBytes,
  type RosterEntry,
} from '../transport/frame.js';
import { CONTROL_ROUND_PREFIX } from '../transport/session.js';
import { WireReader, WireWriter } from '../util/wire.js';

/**
 * The daemon's control plane (issue #5): how a coordinator starts a session and how parties answer.
 *
 * Coordinator → parties, on `mpc.{sid}.control.coord`: a transport frame (frame.ts wire form) with
 * `from = COORDINATOR_FROM`, signed with the coordinator's Ed25519 key, round `ctl.start` (payload:
 * the StartCommand below), `ctl.go` (every member announced ready: run) or `ctl.abort`. Each party
 * knows the coordinator's public key from its roster file and verifies before acting; the NATS
 * server additionally lets only the coordinator credential publish there.
 *
 * Parties → coordinator, on `mpc.{sid}.control.{i}`: ordinary roster-signed control frames
 * (`ctl.ready`, `ctl.result`, `ctl.partial`) that peers in the session also see and ignore.
 *
 * The coordinator holds no secret share and cannot make a party sign alone: a party signs only with
 * a presignature it holds for the named key, after consuming it in its own ledger, and (when the
 * party enforces policy, policy-guard.ts) only for a request an initiator signed that the party's
 * own copy of the policy allows (issue #14). `policy` / `registry` commands carry admin-quorum-signed
 * documents; the coordinator only relays them, each party verifies the quorum itself.
 */

export const COORDINATOR_FROM = 0xfffffffe;
const MAX_KEY_ID = 120;
const KEY_ID_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,119}$/; // no leading '_': reserved for the party's own records
const MAX_MEMBERS = 1024;
const MAX_TEXT = 512;
/** The largest chain payload (btc.psbt, 256 KiB) plus the command's other fields. */
const MAX_PAYLOAD_BYTES = Math.max(...Object.values(PAYLOAD_CODECS).map((c) => c.maxBytes));
/** Approval statements a sign command may carry (each at most MAX_APPROVAL_BYTES). */
export const MAX_APPROVALS = 32;
/** A policy version or operator registry as relayed to the parties (general JWS JSON bytes). */
export const MAX_DOCUMENT_BYTES = 512 * 1024;
const MAX_COMMAND_BYTES =
  Math.max(MAX_PAYLOAD_BYTES, MAX_DOCUMENT_BYTES) +
  MAX_SIGN_REQUEST_BYTES +
  MAX_APPROVALS * MAX_APPROVAL_BYTES +
  64 * 1024;
const MAX_RESULT_BYTES = 64 * 1024;
/** A reshare's key record: flags, Y, chain code, epoch, t, n, count, then n public shares (33 bytes). */
const MAX_RECORD_BYTES = 3 + 33 + 32 + 16 + MAX_MEMBERS * 33;
/** A commit's acknowledgements: sid, epoch, digest, then (holder, Ed25519 signature) per holder. */
const MAX_COMMIT_BYTES = 64 + 4 + 32 + 4 + MAX_MEMBERS * (4 + 64) + 4 + MAX_RECORD_BYTES;
const MAX_SKEW_MS = 5 * 60_000;

export type SessionOp =
  | 'keygen'
  | 'aux'
  | 'presign'
  | 'sign'
  | 'keyinfo'
  | 'policy'
  | 'registry'
  | 'import'
  | 'refresh'
  | 'commit'
  | 'rotation'
  | 'record'
  | 'reshare';
/**
 * `import` (issue #19): the staged tss-lib shares' agreement and conversion (tss-lib-import.ts).
 * `refresh` (issue #16): the key refresh session (refresh.ts); each holder seals its next-epoch share
 * beside the active one (prepare) and reports its signed acknowledgement. `commit`: carries every
 * holder's acknowledgement (payload, `encodeRotationCommit`); each holder checks all of them itself
 * and only then moves the key to the new epoch (rotation.ts). `rotation`: each holder reports the key's
 * last rotation (none, prepared or committed, with its acknowledgement), so a coordinator can finish a
 * commit that reached only some holders (`encodeRotationStatus`). `record`: each holder reports the
 * key's public record (reshare.ts `encodeKeyRecord`), which the coordinator hands to joining parties.
 * `reshare`: the key re-dealt to holders 0..n′−1 with threshold `threshold` (parties n..n′−1 join;
 * or, n′ < n, parties n′..n−1 leave and are not members; payload: the old key record), then aux info
 * of the new committee, prepared like a refresh and committed with `commit`; the leavers then get a
 * `commit` naming only them, with the new epoch's key record, and retire.
 */
const OPS: readonly SessionOp[] = [
  'keygen',
  'aux',
  'presign',
  'sign',
  'keyinfo',
  'policy',
  'registry',
  'import',
  'refresh',
  'commit',
  'rotation',
  'record',
  'reshare',
];
/** Ops that carry an admin-signed document and name no key. */
const DOCUMENT_OPS: readonly SessionOp[] = ['policy', 'registry'];
/**
 * Version 2: sign commands carry a chain payload (kind, bytes, digest index, network), not a digest.
 * Version 3: sign commands may carry the initiator's authorization (signed request, policy version,
 * approvals); `policy` and `registry` commands carry an admin-quorum-signed document.
 */
const COMMAND_VERSION = 3;

/** What a sign command carries for the party's co-signer check (src/policy/cosigner.ts). */
export interface SignAuthorization {
  /** The initiator's compact JWS sign request (src/policy/sign-request.ts). */
  readonly signedRequest: string;
  /** The policy version the request was evaluated under. */
  readonly policyVersion: number;
  /** Approval statements (compact JWS), possibly none. */
  readonly approvals: readonly string[];
}

/** What a coordinator asks the members of a session to do. */
export interface StartCommand {
  readonly op: SessionOp;
  /** Key id ([A-Za-z0-9_-], 1..120, starting with a letter or digit): the key generated or used. */
  readonly keyId: string;
  /**
   * Roster ids of the execution's parties in execution order. keygen, import and aux: [0, 1, …, n−1]
   * (key-share index = roster id); presign and sign: the t signers' roster ids, ascending.
   */
  readonly members: readonly number[];
  /** keygen only: signers needed (t). */
  readonly threshold: number;
  /** presign only: the BIP32 non-hardened path the presignature is bound to. */
  readonly path: readonly number[];
  /** sign only: the presignature to use (64 hex). */
  readonly presignatureId: string;
  /**
   * sign only: the chain payload (issue #12). Each party decodes it with src/chains and computes the
   * digest at `digestIndex` itself before it touches the presignature; a `raw.digest` payload is the
   * 32-byte digest, signed as it is.
   */
  readonly payload: Uint8Array;
  /** sign only: the payload's kind (default raw.digest). */
  readonly kind?: PayloadKind;
  /** sign only: which of the payload's digests this presignature signs (a PSBT input; default 0). */
  readonly digestIndex?: number;
  /** sign only: the Bitcoin network of a btc.psbt payload (default mainnet). */
  readonly network?: BtcNetwork;
  /** sign only: the initiator's authorization; a party that enforces policy refuses a sign without it. */
  readonly authorization?: SignAuthorization;
  /** policy / registry only: the signed document (general JWS JSON, as the admins produced it). */
  readonly document?: Uint8Array;
  /** Per-round deadline the parties apply (ms). */
  readonly roundTimeoutMs: number;
}

/**
 * `identify` (on a failed session's sid): the members run the identification protocol of
 * identify.ts in the session `identificationSid(sid, kind)` (ready / go / result as for any session).
 */
export type CoordinatorRound = 'start' | 'go' | 'abort' | 'identify';

export interface CoordinatorMessage {
  readonly sid: Uint8Array;
  readonly round: CoordinatorRound;
  readonly seq: number;
  readonly ts: number;
  readonly payload: Uint8Array;
}

const invalid = (why: string) => new MpcError('ERR_DAEMON_COMMAND_INVALID', `control message rejected: ${why}`);

function assertMembers(members: readonly number[]): void {
  if (!Array.isArray(members) || members.length < 1 || members.length > MAX_MEMBERS) throw invalid('members');
  if (!members.every((m) => Number.isInteger(m) && m >= 0 && m < 0xfffffffe)) throw invalid('member id');
  if (new Set(members).size !== members.length) throw invalid('duplicate member');
}

/** Checks a command's fields for its op (the coordinator before sending, the party after decoding). */
export function assertStartCommand(c: StartCommand): void {
  if (!OPS.includes(c.op)) throw invalid('unknown op');
  const documentOp = DOCUMENT_OPS.includes(c.op);
  if (documentOp ? c.keyId !== '' : typeof c.keyId !== 'string' || !KEY_ID_RE.test(c.keyId)) throw invalid('key id');
  assertMembers(c.members);
  if (!Number.isInteger(c.roundTimeoutMs) || c.roundTimeoutMs < 10 || c.roundTimeoutMs > 3_600_000) {
    throw invalid('round timeout');
  }
  const ascending = c.members.every((m, j) => j === 0 || m > (c.members[j - 1] as number));
  if (c.op === 'commit') {
    // every holder 0..n′−1 of the new epoch, or (a reshare's second step) the parties leaving
    if (!ascending) throw invalid('commit members must be ascending');
  } else if (
    c.op === 'keygen' ||
    c.op === 'aux' ||
    c.op === 'import' ||
    c.op === 'refresh' ||
    c.op === 'rotation' ||
    c.op === 'record' ||
    c.op === 'reshare'
  ) {
    if (!c.members.every((m, j) => m === j) || c.members.length < 2) {
      throw invalid('keygen/aux/import/refresh members must be 0..n-1');
    }
  } else if (documentOp) {
    if (!ascending) throw invalid('members must be ascending');
  } else if (!ascending || c.members.length < 2) {
    throw invalid('signers must be ascending and at least two');
  }
  if (documentOp) {
    if (!(c.document instanceof Uint8Array) || c.document.length < 1 || c.document.length > MAX_DOCUMENT_BYTES) {
      throw invalid('document missing or too large');
    }
  } else if (c.document !== undefined) throw invalid('document is for policy/registry only');
  if (c.authorization !== undefined) {
    if (c.op !== 'sign') throw invalid('authorization is for sign only');
    assertAuthorization(c.authorization);
  }
  if (c.op === 'keygen' || c.op === 'reshare') {
    if (!Number.isInteger(c.threshold) || c.threshold < 2 || c.threshold > c.members.length) throw invalid('threshold');
  } else if (c.threshold !== 0) throw invalid('threshold is for keygen and reshare only');
  if (c.op === 'presign') {
    try {
      assertDerivationPath(c.path);
    } catch {
      throw invalid('derivation path');
    }
  } else if (c.path.length !== 0) throw invalid('path is for presign only');
  if (c.op === 'sign') {
    if (!/^[0-9a-f]{64}$/.test(c.presignatureId)) throw invalid('presignature id');
    const kind = c.kind ?? 'raw.digest';
    if (!PAYLOAD_KINDS.includes(kind)) throw invalid('payload kind');
    // the kind's size limit, before any party decodes a byte of it
    if (!(c.payload instanceof Uint8Array) || c.payload.length > PAYLOAD_CODECS[kind].maxBytes) {
      throw invalid('payload too large for its kind');
    }
    const index = c.digestIndex ?? 0;
    if (!Number.isInteger(index) || index < 0 || index >= BTC_PSBT_MAX_INPUTS) throw invalid('digest index');
    if (!BTC_NETWORKS.includes(c.network ?? 'mainnet')) throw invalid('network');
  } else if (c.op === 'commit' || c.op === 'reshare') {
    const max = c.op === 'commit' ? MAX_COMMIT_BYTES : MAX_RECORD_BYTES;
    if (!(c.payload instanceof Uint8Array) || c.payload.length < 1 || c.payload.length > max) {
      throw invalid(`${c.op} payload missing or too large`);
    }
    if (c.presignatureId !== '' || c.kind !== undefined || (c.digestIndex ?? 0) !== 0 || c.network !== undefined) {
      throw invalid('presignature is for sign only');
    }
  } else if (
    c.presignatureId !== '' ||
    c.payload.length !== 0 ||
    c.kind !== undefined ||
    (c.digestIndex ?? 0) !== 0 ||
    c.network !== undefined
  ) {
    throw invalid('presignature/payload are for sign only');
  }
}

export function encodeStartCommand(c: StartCommand): Uint8Array {
  assertStartCommand(c);
  const w = new WireWriter()
    .u8(0x43)
    .u8(COMMAND_VERSION)
    .u8(OPS.indexOf(c.op))
    .bytes(new TextEncoder().encode(c.keyId))
    .u32(c.members.length);
  for (const m of c.members) w.u32(m);
  w.u32(c.threshold).u32(c.path.length);
  for (const p of c.path) w.u32(p);
  const sign = c.op === 'sign';
  w.bytes(c.presignatureId === '' ? new Uint8Array(0) : hexToBytes(c.presignatureId))
    .u8(sign ? PAYLOAD_KINDS.indexOf(c.kind ?? 'raw.digest') : 0xff)
    .bytes(c.payload)
    .u32(c.digestIndex ?? 0)
    .u8(sign ? BTC_NETWORKS.indexOf(c.network ?? 'mainnet') : 0xff)
    .u32(c.roundTimeoutMs);
  const te = new TextEncoder();
  const a = c.authorization;
  if (a === undefined) w.u8(0);
  else {
    w.u8(1)
      .bytes(te.encode(a.signedRequest))
      .u32(Math.floor(a.policyVersion / 2 ** 32))
      .u32(a.policyVersion % 2 ** 32)
      .u32(a.approvals.length);
    for (const x of a.approvals) w.bytes(te.encode(x));
  }
  return w.bytes(c.document ?? new Uint8Array(0)).finish();
}

/** Strict decoder: every field bounded before use, then `assertStartCommand`. */
export function decodeStartCommand(bytes: Uint8Array): StartCommand {
  try {
    const r = new WireReader(bytes, MAX_COMMAND_BYTES);
    r.tag('command.tag', 0x43);
    r.tag('command.version', COMMAND_VERSION);
    const op = OPS[r.u8('command.op')];
    if (op === undefined) throw invalid('unknown op');
    const keyId = new TextDecoder('utf-8', { fatal: true }).decode(r.bytes('command.keyId', MAX_KEY_ID));
    const members = Array.from({ length: bounded(r.u32('command.members'), MAX_MEMBERS) }, () =>
      r.u32('command.member'),
    );
    const threshold = r.u32('command.threshold');
    const path = Array.from({ length: bounded(r.u32('command.path'), MAX_PATH_LENGTH) }, () => r.u32('command.path'));
    const id = r.bytes('command.presignatureId', 32);
    const kindByte = r.u8('command.kind');
    const payload = r.bytes('command.payload', MAX_PAYLOAD_BYTES);
    const digestIndex = r.u32('command.digestIndex');
    const networkByte = r.u8('command.network');
    const roundTimeoutMs = r.u32('command.roundTimeoutMs');
    // every length is bounded before anything is decoded or allocated (count first, then each size)
    const hasAuth = r.u8('command.authorization');
    if (hasAuth > 1) throw invalid('authorization flag');
    let authorization: SignAuthorization | undefined;
    if (hasAuth === 1) {
      const td = new TextDecoder('utf-8', { fatal: true });
      const signedRequest = td.decode(r.bytes('command.signedRequest', MAX_SIGN_REQUEST_BYTES));
      const hi = r.u32('command.policyVersion.hi');
      const lo = r.u32('command.policyVersion.lo');
      const policyVersion = hi * 2 ** 32 + lo;
      const approvals = Array.from({ length: bounded(r.u32('command.approvals'), MAX_APPROVALS) }, () =>
        td.decode(r.bytes('command.approval', MAX_APPROVAL_BYTES)),
      );
      authorization = { signedRequest, policyVersion, approvals };
    }
    const document = r.bytes('command.document', MAX_DOCUMENT_BYTES);
    r.end();
    const sign = op === 'sign';
    const kind = sign ? PAYLOAD_KINDS[kindByte] : undefined;
    const network = sign ? BTC_NETWORKS[networkByte] : undefined;
    if (sign ? kind === undefined || network === undefined : kindByte !== 0xff || networkByte !== 0xff) {
      throw invalid('payload kind or network');
    }
    const c: StartCommand = {
      op,
      keyId,
      members,
      threshold,
      path,
      presignatureId: id.length === 0 ? '' : bytesToHex(id),
      payload,
      ...(kind === undefined ? {} : { kind }),
      ...(sign ? { digestIndex } : digestIndex === 0 ? {} : { digestIndex }),
      ...(network === undefined ? {} : { network }),
      ...(authorization === undefined ? {} : { authorization }),
      ...(DOCUMENT_OPS.includes(op) || document.length > 0 ? { document } : {}),
      roundTimeoutMs,
    };
    assertStartCommand(c);
    return c;
  } catch (e) {
    if (e instanceof MpcError && e.code === 'ERR_DAEMON_COMMAND_INVALID') throw e;
    throw new MpcError('ERR_DAEMON_COMMAND_INVALID', 'control message rejected: malformed start command', {
      cause: e,
    });
  }
}

function assertAuthorization(a: SignAuthorization): void {
  if (
    typeof a.signedRequest !== 'string' ||
    a.signedRequest.length < 1 ||
    a.signedRequest.length > MAX_SIGN_REQUEST_BYTES
  )
    throw invalid('signed request missing or too large');
  if (!/^[\x21-\x7e]+$/.test(a.signedRequest)) throw invalid('signed request is not compact JWS text');
  if (!Number.isSafeInteger(a.policyVersion) || a.policyVersion < 1) throw invalid('policy version');
  if (!Array.isArray(a.approvals) || a.approvals.length > MAX_APPROVALS) throw invalid('too many approvals');
  for (const x of a.approvals) {
    if (typeof x !== 'string' || x.length < 1 || x.length > MAX_APPROVAL_BYTES || !/^[\x21-\x7e]+$/.test(x))
      throw invalid('approval statement too large or not compact JWS text');
  }
}

function bounded(n: number, max: number): number {
  if (n > max) throw invalid('list too long');
  return n;
}

// --- coordinator frames ----------------------------------------------------------------------------

/** A fresh random session id (16 bytes). */
export function newSid(): Uint8Array {
  return new Uint8Array(randomBytes(16));
}

/** Builds a signed coordinator frame (`signer`: the coordinator's key, kept as a key object). */
export function sealCoordinatorMessage(
  signer: Ed25519Signer | Uint8Array,
  m: { sid: Uint8Array; round: CoordinatorRound; seq: number; payload: Uint8Array; ts?: number },
): Uint8Array {
  return sealControlFrame(signer, { ...m, from: COORDINATOR_FROM });
}

/**
 * A signed broadcast control frame (`ctl.<round>`) outside a joined session: the coordinator's
 * commands, and a party's one-off answers (its partial signature) in sessions it never joins.
 */
export function sealControlFrame(
  signer: Ed25519Signer | Uint8Array,
  m: { sid: Uint8Array; from: number; round: string; seq: number; payload: Uint8Array; ts?: number },
): Uint8Array {
  const head = {
    v: FRAME_VERSION,
    sid: m.sid,
    round: `${CONTROL_ROUND_PREFIX}${m.round}`,
    from: m.from,
    to: ALL,
    seq: m.seq,
    ts: m.ts ?? Date.now(),
  };
  const s = signer instanceof Ed25519Signer ? signer : new Ed25519Signer(signer);
  const sig = s.sign(frameSignedBytes({ ...head, payload: m.payload }));
  return encodeFrame({ ...head, payload: m.payload, sig });
}

/**
 * Verifies a coordinator frame: strict frame decoding, sender, broadcast, round, signature under
 * the coordinator's key, clock skew. Replays of a valid frame are the caller's to de-duplicate
 * (the daemon remembers the sids it has started).
 * @throws MpcError ERR_DAEMON_COMMAND_INVALID (never with payload content)
 */
export function openCoordinatorMessage(
  bytes: Uint8Array,
  coordinatorKey: Uint8Array,
  now: number = Date.now(),
): CoordinatorMessage {
  let f: ReturnType<typeof decodeFrame>;
  try {
    f = decodeFrame(bytes, DEFAULT_LIMITS.maxFrameBytes.broadcast);
  } catch {
    throw invalid('malformed frame');
  }
  if (f.from !== COORDINATOR_FROM || f.to !== ALL) throw invalid('not a coordinator broadcast');
  const round = f.round.startsWith(CONTROL_ROUND_PREFIX) ? f.round.slice(CONTROL_ROUND_PREFIX.length) : '';
  if (round !== 'start' && round !== 'go' && round !== 'abort' && round !== 'identify') {
    throw invalid('unknown control round');
  }
  if (!ed25519Verify(coordinatorKey, frameSignedBytes(f), f.sig))
    throw invalid('coordinator signature does not verify');
  if (Math.abs(now - f.ts) > MAX_SKEW_MS) throw invalid('timestamp outside the accepted clock skew');
  return { sid: f.sid, round, seq: f.seq, ts: f.ts, payload: f.payload };
}

// --- party reports ---------------------------------------------------------------------------------

export type PartyRound = 'ready' | 'result' | 'partial';

export interface PartyMessage {
  readonly sid: Uint8Array;
  readonly from: number;
  readonly round: PartyRound;
  readonly payload: Uint8Array;
}

/** Verifies a party's control frame for an observer outside the roster (the coordinator). */
export function openPartyMessage(bytes: Uint8Array, roster: readonly RosterEntry[]): PartyMessage {
  let f: ReturnType<typeof decodeFrame>;
  try {
    f = decodeFrame(bytes, DEFAULT_LIMITS.maxFrameBytes.broadcast);
  } catch {
    throw invalid('malformed frame');
  }
  const entry = roster[f.from];
  if (entry === undefined || f.to !== ALL) throw invalid('not a roster party broadcast');
  const round = f.round.startsWith(CONTROL_ROUND_PREFIX) ? f.round.slice(CONTROL_ROUND_PREFIX.length) : '';
  if (round !== 'ready' && round !== 'result' && round !== 'partial') throw invalid('unknown party round');
  if (!ed25519Verify(entry.ed25519, frameSignedBytes(f), f.sig)) throw invalid('party signature does not verify');
  return { sid: f.sid, from: f.from, round, payload: f.payload };
}

/** A party's outcome of one session, as reported to the coordinator (public data only). */
export interface SessionResult {
  readonly ok: boolean;
  /** Error code on failure ('' on success). */
  readonly code: string;
  /** Error message on failure: names and sizes only, never secret values. */
  readonly message: string;
  /**
   * Blamed parties as roster ids, with reasons. `verified`: the verdict rests on signed messages of
   * the blamed party that every honest member re-checked (a timeout or a missing message is not).
   */
  readonly blame: ReadonlyArray<{ readonly party: number; readonly reason: string; readonly verified?: boolean }>;
  /** keygen: compressed public key; presign: encodePresignaturePublic; otherwise empty. */
  readonly summary: Uint8Array;
  /**
   * The abort's machine-readable reason (MpcError details.reason), e.g. 'delta-mismatch': a failure
   * the coordinator answers with identification (`ctl.identify`). Empty or absent otherwise.
   */
  readonly reason?: string;
}

export function encodeSessionResult(r: SessionResult): Uint8Array {
  const te = new TextEncoder();
  const clip = (s: string) => te.encode(s).subarray(0, MAX_TEXT);
  const w = new WireWriter()
    .u8(0x52)
    .u8(r.ok ? 1 : 0)
    .bytes(clip(r.code))
    .bytes(clip(r.message))
    .u32(r.blame.length);
  for (const b of r.blame)
    w.u32(b.party)
      .bytes(clip(b.reason))
      .u8(b.verified ? 1 : 0);
  return w
    .bytes(r.summary)
    .bytes(clip(r.reason ?? ''))
    .finish();
}

export function decodeSessionResult(bytes: Uint8Array): SessionResult {
  try {
    const r = new WireReader(bytes, MAX_RESULT_BYTES);
    r.tag('result.tag', 0x52);
    const okByte = r.u8('result.ok');
    if (okByte > 1) throw invalid('ok flag');
    const td = new TextDecoder('utf-8', { fatal: false });
    const code = td.decode(r.bytes('result.code', MAX_TEXT));
    const message = td.decode(r.bytes('result.message', MAX_TEXT));
    const blame = Array.from({ length: bounded(r.u32('result.blame'), MAX_MEMBERS) }, () => {
      const party = r.u32('result.blame.party');
      const reason = td.decode(r.bytes('result.blame.reason', MAX_TEXT));
      const verified = r.u8('result.blame.verified');
      if (verified > 1) throw invalid('verified flag');
      return { party, reason, verified: verified === 1 };
    });
    const summary = r.bytes('result.summary', 4096);
    const reason = td.decode(r.bytes('result.reason', MAX_TEXT));
    r.end();
    return { ok: okByte === 1, code, message, blame, summary, reason };
  } catch (e) {
    if (e instanceof MpcError && e.code === 'ERR_DAEMON_COMMAND_INVALID') throw e;
    throw invalid('malformed session result');
  }
}

/** The public part of a presignature, as every signer reports it after presigning. */
export function encodePresignaturePublic(p: PresignaturePublic): Uint8Array {
  const w = new WireWriter()
    .fixed(hexToBytes(p.id))
    .fixed(encodePoint(p.R))
    .fixed(encodePoint(p.publicKey))
    .u32(p.signers.length);
  for (const s of p.signers) w.u32(s);
  w.u32(p.path.length);
  for (const i of p.path) w.u32(i);
  return w.finish();
}

export function decodePresignaturePublic(bytes: Uint8Array): PresignaturePublic {
  try {
    const r = new WireReader(bytes, 4096);
    const id = bytesToHex(r.fixed('presig.id', 32));
    const R: Point = decodePoint(r.fixed('presig.R', 33), 'presig.R');
    const publicKey = decodePoint(r.fixed('presig.publicKey', 33), 'presig.publicKey');
    const signers = Array.from({ length: bounded(r.u32('presig.signers'), MAX_MEMBERS) }, () => r.u32('presig.signer'));
    const path = Array.from({ length: bounded(r.u32('presig.path'), MAX_PATH_LENGTH) }, () => r.u32('presig.path'));
    r.end();
    assertDerivationPath(path);
    return { id, R, publicKey, signers, path };
  } catch {
    throw invalid('malformed presignature summary');
  }
}

// --- rotation (refresh) acknowledgements ------------------------------------------------------------

/** What a holder reports after preparing a refresh: the new epoch, its public-data digest, its ack. */
export interface RotationReport {
  readonly epoch: number;
  /** rotation.ts epochDigest of the new epoch (32 bytes). */
  readonly digest: Uint8Array;
  /** The holder's Ed25519 signature over rotation.ts ackMessage (64 bytes). */
  readonly sig: Uint8Array;
}

/** A refresh result's summary: u32 epoch ‖ digest (32) ‖ ack signature (64); the first 36 bytes agree. */
export function encodeRotationReport(r: RotationReport): Uint8Array {
  return new WireWriter().u32(r.epoch).fixed(r.digest).fixed(r.sig).finish();
}

export function decodeRotationReport(bytes: Uint8Array): RotationReport {
  try {
    const r = new WireReader(bytes, 4 + 32 + 64);
    const epoch = r.u32('rotation.epoch');
    const digest = r.fixed('rotation.digest', 32);
    const sig = r.fixed('rotation.sig', 64);
    r.end();
    return { epoch, digest, sig };
  } catch {
    throw invalid('malformed rotation report');
  }
}

/** The commit command's payload: the rotation (sid, epoch, digest) and every holder's ack. */
export interface RotationCommit {
  readonly sid: Uint8Array;
  readonly epoch: number;
  readonly digest: Uint8Array;
  readonly acks: ReadonlyArray<{ readonly holder: number; readonly sig: Uint8Array }>;
  /**
   * Only in the commit sent to the parties that LEAVE by a reshare: the new epoch's key record
   * (reshare.ts encodeKeyRecord, as the committed new holders report it), whose epochDigest must be
   * `digest`; it names the new committee 0..n′−1 whose acknowledgements the leaver checks.
   */
  readonly record?: Uint8Array;
}

export function encodeRotationCommit(c: RotationCommit): Uint8Array {
  const w = new WireWriter().bytes(c.sid).u32(c.epoch).fixed(c.digest).u32(c.acks.length);
  for (const a of c.acks) w.u32(a.holder).fixed(a.sig);
  return w.bytes(c.record ?? new Uint8Array(0)).finish();
}

export function decodeRotationCommit(bytes: Uint8Array): RotationCommit {
  try {
    const r = new WireReader(bytes, MAX_COMMIT_BYTES);
    const sid = r.bytes('commit.sid', 64);
    const epoch = r.u32('commit.epoch');
    const digest = r.fixed('commit.digest', 32);
    const acks = Array.from({ length: bounded(r.u32('commit.acks'), MAX_MEMBERS) }, () => ({
      holder: r.u32('commit.holder'),
      sig: r.fixed('commit.sig', 64),
    }));
    const record = r.bytes('commit.record', MAX_RECORD_BYTES);
    r.end();
    return { sid, epoch, digest, acks, ...(record.length > 0 ? { record: Uint8Array.from(record) } : {}) };
  } catch {
    throw invalid('malformed rotation commit');
  }
}

/** A holder's answer to `rotation`: the key's epoch and its last rotation, with its acknowledgement. */
export interface RotationStatus {
  /** The key's active epoch at this holder. */
  readonly keyEpoch: number;
  readonly state: 'none' | 'prepared' | 'committed';
  /** The rotation's session id (empty when none). */
  readonly sid: Uint8Array;
  readonly epoch: number;
  readonly digest: Uint8Array;
  /** The holder's acknowledgement of (sid, epoch, digest) (rotation.ts ackMessage). */
  readonly sig: Uint8Array;
}

const ROTATION_STATES = ['none', 'prepared', 'committed'] as const;

export function encodeRotationStatus(r: RotationStatus): Uint8Array {
  return new WireWriter()
    .u32(r.keyEpoch)
    .u8(ROTATION_STATES.indexOf(r.state))
    .bytes(r.sid)
    .u32(r.epoch)
    .fixed(r.digest)
    .fixed(r.sig)
    .finish();
}

export function decodeRotationStatus(bytes: Uint8Array): RotationStatus {
  try {
    const r = new WireReader(bytes, 4 + 1 + 4 + 64 + 4 + 32 + 64);
    const keyEpoch = r.u32('rotation.keyEpoch');
    const state = ROTATION_STATES[r.u8('rotation.state')];
    if (state === undefined) throw invalid('rotation state');
    const sid = r.bytes('rotation.sid', 64);
    const epoch = r.u32('rotation.epoch');
    const digest = r.fixed('rotation.digest', 32);
    const sig = r.fixed('rotation.sig', 64);
    r.end();
    return { keyEpoch, state, sid, epoch, digest, sig };
  } catch {
    throw invalid('malformed rotation status');
  }
}
