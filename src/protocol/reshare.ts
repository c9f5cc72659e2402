/**
 * Verifiable re-dealing of a t-of-n key to a new committee, keeping the public key Y and the chain
 * code: reshare (t, n) → (t', n') with parties joining and leaving, and — as its special case with
 * the same committee and a zero constant term — the share refresh of CGGMP24's "auxiliary info and
 * key refresh" figure (ePrint 2021/060, Fig. 6 / PROTOCOL.md §4; refresh.ts adds the fresh aux info).
 *
 * Roles. A session runs over the union of both committees; party u of the session has an old index
 * oldIndex[u] (a dealer: it holds a share of the current epoch) and/or a new index newIndex[u] (a
 * receiver of the next epoch). Every party gets the same public `KeyRecord` (Y, chain code, epoch,
 * t, n and the old public shares X_d) — joiners from the coordinator — and every message of round 1
 * carries a digest of (mode, record, roles), so a party with another key, epoch or roster is named
 * and refused before any share is used.
 *
 * Dealing (D = the dealers' old indices, λ_d = Lagrange coefficient of d in D at 0):
 *   reshare  g_d(z) = λ_d·x_d + Σ_{k=1}^{t'−1} a_{d,k}·z^k       commitments S_{d,k} = a_{d,k}·G, k = 0..t'−1
 *            public check: S_{d,0} = λ_d·X_d (the dealt constant is the dealer's real weighted share,
 *            so Σ_d S_{d,0} = Y and no dealer can shift the key; it replaces a Πsch on the constant)
 *   refresh  g_d(z) = Σ_{k=1}^{t−1} a_{d,k}·z^k  (a sharing of zero)  commitments S_{d,1..t−1} only
 *   σ_{d,r} = g_d(r + 1) to the receiver with new index r (point to point), Feldman-checked:
 *            σ_{d,r}·G = Σ_k (r+1)^k·S_{d,k}
 *   new share        x'_r = [x_r if refresh] + Σ_d σ_{d,r}
 *   new public share X'_r = [X_r if refresh] + Σ_d Σ_k (r+1)^k·S_{d,k}
 * Each receiver then proves knowledge of x'_r for X'_r with Πsch (commit-early: A_r in round 1), so
 * everyone knows every new holder holds a consistent share before the new epoch may be committed.
 *
 * Rounds:
 *   r1   broadcast, reliable  (record digest, S_d (dealers; empty otherwise), A_r (receivers; none otherwise))
 *   r1p  p2p                  σ_{d,r} (dealer → receiver), or "no share"
 *   r2   broadcast            Πsch response z_r (receivers), or "no proof"
 * A faulty σ is a point-to-point fault: its recipient blames the dealer, and `judge` re-runs the
 * Feldman check on public data (the echoed S_d, the recipient's new index) for the abort notice.
 *
 * Additive n-of-n keys (a tss-lib import, tss-lib-import.ts: Σ_d X_d = Y, λ_d = 1). The dealers must be
 * all n holders. 'reshare' deals g_d(0) = x_d as above. 'refresh' cannot add a sharing of zero to
 * additive shares and keep a Feldman-checkable result, so for an additive key it re-deals the shares
 * the way 'reshare' does, onto the same committee with t = n: Y and the chain code stay, the new
 * shares are Feldman shares at the canonical points 1..n (additive: false), and the old additive
 * shares — and the tss-lib shares behind them — say nothing about the new ones.
 *
 * Output: the receiver's new CoreKeyShare (epoch + 1, no aux info yet: the new committee runs
 * aux-info, refresh.ts does it in the same session), or null for a party that only deals. The old
 * share stays valid until the caller commits the new epoch (two-phase: prepare = this protocol and
 * the sealing of every new share, commit = the old shares are deleted); a leaving party's old share
 * is useless with the new shares since the new sharing polynomial is independent of the old one.
 */
import { equalBytes } from '@noble/curves/utils.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { MpcError } from '../errors/index.js';
import { fromBytesBE, mod, toBytesBE } from '../math/bits.js';
import { randBelow } from '../math/random.js';
import { CURVE_ORDER, decodePoint, encodePoint, mulBase, mulPublic, POINT_BYTES, Point } from '../primitives/curve.js';
import { WireReader, WireWriter } from '../util/wire.js';
import { TAG_PREFIX } from '../zk/common.js';
import { proveSch, verifySch } from '../zk/sch.js';
import { BlameCollector, judgeWith, PENDING, protocolAbort } from './blame.js';
import { CHAIN_CODE_BYTES } from './hd.js';
import type { CoreKeyShare } from './key-share.js';
import { KEYGEN_MAX_PARTIES, MAX_KEY_EPOCH, validateCoreKeyShare } from './keygen.js';
import { evaluationPoint, interpolatePoints, lagrangeCoefficient } from './lagrange.js';
import {
  ALL,
  type Evidence,
  type Judgement,
  type Outgoing,
  type ProtocolDef,
  type RoundCtx,
  type RoundDef,
  type RoundResult,
} from './types.js';

const SCALAR_BYTES = 32;
const DIGEST_BYTES = 32;
const WIRE_VERSION = 1;
const TAG_R1 = 0x61;
const TAG_R1P = 0x62;
const TAG_R2 = 0x63;

/** 'reshare': dealers share their weighted shares; 'refresh': dealers share zero (same committee). */
export type DealingMode = 'reshare' | 'refresh';

/** The public data of the key before the change: identical at every party of the session. */
export interface KeyRecord {
  readonly publicKey: Point;
  readonly chainCode: Uint8Array;
  readonly epoch: number;
  readonly t: number;
  readonly n: number;
  /** X_d of every old party d. */
  readonly publicShares: readonly Point[];
  /** true for an n-of-n additive key (Σ_d X_d = Y, t = n); absent or false for Feldman t-of-n. */
  readonly additive?: boolean;
}

/** Who deals and who receives, by session party index u (identical at every party). */
export interface ReshareRoles {
  /** Old key-share index of party u, or null for a joining party. */
  readonly oldIndex: readonly (number | null)[];
  /** New key-share index of party u, or null for a leaving party. */
  readonly newIndex: readonly (number | null)[];
  /** Threshold t' of the new sharing. */
  readonly newT: number;
}

export interface ReshareInput {
  readonly key: KeyRecord;
  readonly roles: ReshareRoles;
  /** The party's current share: required for a dealer (an old member), absent for a joiner. */
  readonly share?: CoreKeyShare;
}

export interface ReshareOutput {
  /** The new epoch's share (no aux info yet), or null for a party that left the committee. */
  readonly share: CoreKeyShare | null;
}

export interface DealingR1 {
  readonly record: Uint8Array;
  /** S_{d,k} (reshare: k = 0..t'−1; refresh: k = 1..t−1); empty for a non-dealer. */
  readonly S: readonly Point[];
  /** Πsch commitment A_r of a receiver; null for a party that receives nothing. */
  readonly A: Point | null;
}

export interface DealingShare {
  readonly sigma: bigint | null;
}

export interface DealingProof {
  readonly z: bigint | null;
}

/** Plain-data state between rounds. Secrets: `poly`, `alpha`, `x`, `share`. */
export interface ReshareState {
  readonly step: 'r1' | 'r1p' | 'r2';
  readonly input: ReshareInput;
  readonly record: Uint8Array;
  /** g_d's coefficients a_{d,0..} (dealers; a_0 = 0 in refresh). Secret. */
  readonly poly: readonly bigint[];
  readonly alpha: bigint | null;
  readonly mine: DealingR1;
  /** Round-1 messages of every party, own included (from r1 on). */
  readonly r1?: readonly DealingR1[];
  /** X'_r of every new index r. */
  readonly newPublicShares?: readonly Point[];
  readonly x?: bigint;
}

// --- record and roles --------------------------------------------------------------------------

/** The KeyRecord of a share (what the coordinator hands to joining parties). */
export function keyRecordOf(share: CoreKeyShare): KeyRecord {
  return {
    publicKey: share.publicKey,
    chainCode: share.chainCode,
    epoch: share.epoch ?? 0,
    t: share.t,
    n: share.n,
    publicShares: share.publicShares,
    additive: share.additive,
  };
}

const RECORD_TAG = 0x6b;
const RECORD_VERSION = 1;
const RECORD_MAX_BYTES = 2 + 1 + POINT_BYTES + CHAIN_CODE_BYTES + 12 + 4 + POINT_BYTES * KEYGEN_MAX_PARTIES;

/**
 * The public record as bytes: what a coordinator hands to the parties joining a reshare (each old
 * holder compares it with its own share's; the dealing's record digest catches any difference).
 */
export function encodeKeyRecord(key: KeyRecord): Uint8Array {
  const w = new WireWriter()
    .u8(RECORD_TAG)
    .u8(RECORD_VERSION)
    .u8(key.additive === true ? 1 : 0)
    .fixed(encodePoint(key.publicKey))
    .fixed(key.chainCode)
    .u32(key.epoch)
    .u32(key.t)
    .u32(key.n)
    .u32(key.publicShares.length);
  for (const X of key.publicShares) w.fixed(encodePoint(X));
  return w.finish();
}

/**
 * Decodes a key record strictly (size bound first, every point on the curve, counts in range).
 * @throws MpcError ERR_WIRE_* for malformed bytes; ERR_PROTOCOL_INPUT for counts out of range
 */
export function decodeKeyRecord(bytes: Uint8Array): KeyRecord {
  const r = new WireReader(bytes, RECORD_MAX_BYTES);
  r.tag('keyRecord.tag', RECORD_TAG);
  r.tag('keyRecord.version', RECORD_VERSION);
  const flag = r.u8('keyRecord.additive');
  if (flag > 1) throw new MpcError('ERR_WIRE_BAD_TAG', 'keyRecord.additive must be 0 or 1');
  const publicKey = decodePoint(r.fixed('keyRecord.publicKey', POINT_BYTES), 'keyRecord.publicKey');
  const chainCode = r.fixed('keyRecord.chainCode', CHAIN_CODE_BYTES);
  const epoch = r.u32('keyRecord.epoch');
  const t = r.u32('keyRecord.t');
  const n = r.u32('keyRecord.n');
  const count = r.u32('keyRecord.publicShares.count');
  if (n < 2 || n > KEYGEN_MAX_PARTIES || t < 2 || t > n || count !== n || epoch >= MAX_KEY_EPOCH) {
    throw new MpcError('ERR_PROTOCOL_INPUT', 'key record: threshold, party count or epoch out of range');
  }
  const publicShares = Array.from({ length: n }, (_, j) =>
    decodePoint(r.fixed(`keyRecord.publicShares[${j}]`, POINT_BYTES), `keyRecord.publicShares[${j}]`),
  );
  r.end();
  return { publicKey, chainCode: Uint8Array.from(chainCode), epoch, t, n, publicShares, additive: flag === 1 };
}

/** Whether this session deals a sharing of zero (refresh of a Feldman key) rather than the shares. */
function dealsZero(mode: DealingMode, key: KeyRecord): boolean {
  return mode === 'refresh' && key.additive !== true;
}

function recordDigest(mode: DealingMode, key: KeyRecord, roles: ReshareRoles): Uint8Array {
  const w = new WireWriter()
    .bytes(new TextEncoder().encode(`${TAG_PREFIX}.${mode}.record`))
    .u32(key.epoch)
    .u32(key.t)
    .u32(key.n)
    .u8(key.additive === true ? 1 : 0)
    .fixed(encodePoint(key.publicKey))
    .fixed(key.chainCode);
  for (const X of key.publicShares) w.fixed(encodePoint(X));
  w.u32(roles.newT).u32(roles.oldIndex.length);
  for (let u = 0; u < roles.oldIndex.length; u++) {
    const o = roles.oldIndex[u];
    const nw = roles.newIndex[u];
    w.u32(o === null || o === undefined ? 0xffffffff : o).u32(nw === null || nw === undefined ? 0xffffffff : nw);
  }
  return sha256(w.finish());
}

function inputError(mode: DealingMode, why: string): never {
  throw new MpcError('ERR_PROTOCOL_INPUT', `${mode}: ${why}`);
}

function checkIndexList(mode: DealingMode, list: readonly (number | null)[], bound: number, what: string): number[] {
  const present = list.filter((x): x is number => x !== null);
  for (const x of present) {
    if (!Number.isInteger(x) || x < 0 || x >= bound) inputError(mode, `${what} out of range`);
  }
  if (new Set(present).size !== present.length) inputError(mode, `${what} repeats`);
  return present;
}

/** Input checks shared by every party (the record, the roles, the own share against the record). */
function checkInput(mode: DealingMode, input: ReshareInput, ctx: RoundCtx): void {
  if (input === null || typeof input !== 'object') inputError(mode, 'input must be an object');
  const { key, roles } = input;
  const { n } = ctx;
  if (!Number.isInteger(n) || n < 2 || n > KEYGEN_MAX_PARTIES) inputError(mode, 'session party count out of range');
  if (roles.oldIndex.length !== n || roles.newIndex.length !== n) inputError(mode, 'roles must name every party');
  if (!Number.isInteger(key.n) || key.n < 2 || key.n > KEYGEN_MAX_PARTIES) inputError(mode, 'old n out of range');
  if (!Number.isInteger(key.t) || key.t < 2 || key.t > key.n) inputError(mode, 'old t out of range');
  if (!Number.isInteger(key.epoch) || key.epoch < 0 || key.epoch >= MAX_KEY_EPOCH)
    inputError(mode, 'epoch out of range');
  if (!(key.chainCode instanceof Uint8Array) || key.chainCode.length !== CHAIN_CODE_BYTES) {
    inputError(mode, 'chain code must be 32 bytes');
  }
  if (key.publicShares.length !== key.n) inputError(mode, 'the record needs n old public shares');
  if (key.additive === true) {
    // n-of-n additive: every holder deals, and the public shares sum to Y.
    if (key.t !== key.n) inputError(mode, 'an additive key has t = n');
    const sum = key.publicShares.reduce((acc, X) => acc.add(X), Point.ZERO);
    if (!sum.equals(key.publicKey)) inputError(mode, 'old public shares do not sum to Y');
  } else {
    // The old public shares lie on one polynomial of degree t − 1 through Y (a record of a real key).
    const pts = Array.from({ length: key.t }, (_, j) => evaluationPoint(j));
    const base = key.publicShares.slice(0, key.t);
    if (!interpolatePoints(pts, base, 0n).equals(key.publicKey)) inputError(mode, 'old public shares do not give Y');
    for (let j = key.t; j < key.n; j++) {
      if (!interpolatePoints(pts, base, evaluationPoint(j)).equals(key.publicShares[j] as Point)) {
        inputError(mode, `old public share ${j} is off the sharing polynomial`);
      }
    }
  }
  const dealers = checkIndexList(mode, roles.oldIndex, key.n, 'old index');
  const receivers = checkIndexList(mode, roles.newIndex, KEYGEN_MAX_PARTIES, 'new index');
  if (dealers.length < key.t) inputError(mode, 'fewer dealers than the old threshold');
  const newN = receivers.length;
  if (newN < 2 || receivers.some((r) => r >= newN)) inputError(mode, 'new indices must be exactly 0..n′−1, n′ ≥ 2');
  if (!Number.isInteger(roles.newT) || roles.newT < 2 || roles.newT > newN) inputError(mode, "t' out of range");
  if (mode === 'refresh') {
    // Same committee, same threshold, same indices: a sharing of zero is added to every share.
    const same = roles.oldIndex.every((o, u) => o === u && roles.newIndex[u] === u);
    if (!same || n !== key.n || roles.newT !== key.t) inputError(mode, 'refresh keeps the committee and threshold');
  }
  const own = roles.oldIndex[ctx.self];
  if (own === null || own === undefined) {
    if (input.share !== undefined) inputError(mode, 'a joining party has no share');
    return;
  }
  if (input.share === undefined) inputError(mode, 'a dealer needs its current share');
  const share = validateCoreKeyShare(input.share);
  const same =
    share.additive === (key.additive === true) &&
    share.i === own &&
    share.n === key.n &&
    share.t === key.t &&
    (share.epoch ?? 0) === key.epoch &&
    share.publicKey.equals(key.publicKey) &&
    equalBytes(share.chainCode, key.chainCode) &&
    share.publicShares.every((X, j) => X.equals(key.publicShares[j] as Point));
  if (!same) inputError(mode, 'the own share does not match the key record (another key, epoch or index)');
}

// --- polynomial helpers ----------------------------------------------------------------------------

/** g(z) = Σ_k a_k·z^k mod q (Horner). */
function evalPoly(coeffs: readonly bigint[], z: bigint): bigint {
  let acc = 0n;
  for (let k = coeffs.length - 1; k >= 0; k--) acc = mod(acc * z + (coeffs[k] as bigint), CURVE_ORDER);
  return acc;
}

/** Σ_k z^(k + first)·S_k: the commitment of g at z (first = 1 when the constant term is omitted). */
function evalCommitment(S: readonly Point[], z: bigint, first: number): Point {
  let acc = Point.ZERO;
  for (let k = S.length - 1; k >= 0; k--) acc = mulPublic(acc, z).add(S[k] as Point);
  return first === 0 ? acc : mulPublic(acc, z); // refresh: z·Σ_k z^k·S_{k+1}
}

const randNonZero = (ctx: RoundCtx): bigint => randBelow(CURVE_ORDER - 1n, ctx.rng) + 1n;

function dealersOf(roles: ReshareRoles): number[] {
  return roles.oldIndex.filter((x): x is number => x !== null).sort((a, b) => a - b);
}

/** λ_d over the dealers' evaluation points at 0 (1 for an additive key; refresh of Feldman: unused). */
function lambdaOf(key: KeyRecord, roles: ReshareRoles, d: number): bigint {
  if (key.additive === true) return 1n;
  const ds = dealersOf(roles);
  return lagrangeCoefficient(ds.map(evaluationPoint), ds.indexOf(d), 0n);
}

// --- the protocol ------------------------------------------------------------------------------------

/**
 * The dealing protocol of a mode. `reshare` is the exported reshare protocol; refresh.ts composes
 * the 'refresh' mode with aux-info.
 */
export function dealingProtocol(mode: DealingMode): ProtocolDef<ReshareInput, ReshareState, ReshareOutput> {
  const NAME = mode === 'reshare' ? 'reshare' : 'key-refresh';
  const schCtx = (ctx: RoundCtx, u: number) => ({ sid: ctx.sid, prover: u, label: NAME });
  // a sharing of zero omits the constant term's commitment
  const firstPower = (key: KeyRecord) => (dealsZero(mode, key) ? 1 : 0);
  const commitmentCount = (key: KeyRecord, roles: ReshareRoles) => roles.newT - firstPower(key);
  const unattributed = (round: string, why: string) => protocolAbort(NAME, round, [], why);

  const round1: RoundDef<DealingR1> = {
    name: 'r1',
    kind: 'broadcast',
    reliable: true,
    encode: (m) => {
      const w = new WireWriter().u8(TAG_R1).u8(WIRE_VERSION).fixed(m.record).u32(m.S.length);
      for (const P of m.S) w.fixed(encodePoint(P));
      if (m.A === null) return w.u8(0).finish();
      return w.u8(1).fixed(encodePoint(m.A)).finish();
    },
    decode: (bytes) => {
      const r = new WireReader(bytes, 2 + DIGEST_BYTES + 4 + POINT_BYTES * KEYGEN_MAX_PARTIES + 1 + POINT_BYTES);
      r.tag(`${NAME}.r1.tag`, TAG_R1);
      r.tag(`${NAME}.r1.version`, WIRE_VERSION);
      const record = r.fixed(`${NAME}.r1.record`, DIGEST_BYTES);
      const count = r.u32(`${NAME}.r1.S.count`);
      if (count > KEYGEN_MAX_PARTIES) {
        throw new MpcError('ERR_WIRE_BAD_LENGTH', `${NAME}.r1.S has ${count} entries`, { details: { path: 'S' } });
      }
      const S = Array.from({ length: count }, (_, k) =>
        decodePoint(r.fixed(`${NAME}.r1.S[${k}]`, POINT_BYTES), `${NAME}.r1.S[${k}]`),
      );
      const hasA = r.u8(`${NAME}.r1.hasA`);
      if (hasA > 1) throw new MpcError('ERR_WIRE_BAD_TAG', `${NAME}.r1.hasA must be 0 or 1`);
      const A = hasA === 1 ? decodePoint(r.fixed(`${NAME}.r1.A`, POINT_BYTES), `${NAME}.r1.A`) : null;
      r.end();
      return { record, S, A };
    },
  };

  const optionalScalar = (name: string, tag: number): RoundDef<{ value: bigint | null }> => ({
    name,
    kind: name === 'r1p' ? 'p2p' : 'broadcast',
    encode: (m) => {
      const w = new WireWriter().u8(tag).u8(WIRE_VERSION);
      if (m.value === null) return w.u8(0).finish();
      if (m.value < 0n || m.value >= CURVE_ORDER) throw new MpcError('ERR_WIRE_TYPE', `${NAME}.${name} out of range`);
      return w.u8(1).fixed(toBytesBE(m.value, SCALAR_BYTES)).finish();
    },
    decode: (bytes) => {
      const r = new WireReader(bytes, 3 + SCALAR_BYTES);
      r.tag(`${NAME}.${name}.tag`, tag);
      r.tag(`${NAME}.${name}.version`, WIRE_VERSION);
      const kind = r.u8(`${NAME}.${name}.kind`);
      let value: bigint | null = null;
      if (kind === 1) {
        value = fromBytesBE(r.fixed(`${NAME}.${name}.value`, SCALAR_BYTES));
        if (value >= CURVE_ORDER) {
          throw new MpcError('ERR_WIRE_NON_CANONICAL', `${NAME}.${name} is not reduced mod q`, {
            details: { path: `${NAME}.${name}` },
          });
        }
      } else if (kind !== 0) {
        throw new MpcError('ERR_WIRE_BAD_TAG', `${NAME}.${name}.kind has an unexpected tag`);
      }
      r.end();
      return { value };
    },
  });
  const sigmaCodec = optionalScalar('r1p', TAG_R1P);
  const round1p: RoundDef<DealingShare> = {
    name: 'r1p',
    kind: 'p2p',
    encode: (m) => sigmaCodec.encode({ value: m.sigma }),
    decode: (b, from, ctx) => ({ sigma: sigmaCodec.decode(b, from, ctx).value }),
  };
  const proofCodec = optionalScalar('r2', TAG_R2);
  const round2: RoundDef<DealingProof> = {
    name: 'r2',
    kind: 'broadcast',
    encode: (m) => proofCodec.encode({ value: m.z }),
    decode: (b, from, ctx) => ({ z: proofCodec.decode(b, from, ctx).value }),
  };

  function init(input: ReshareInput, ctx: RoundCtx): { state: ReshareState; outbox: Outgoing[] } {
    checkInput(mode, input, ctx);
    const { roles } = input;
    const record = recordDigest(mode, input.key, roles);
    const own = roles.oldIndex[ctx.self] ?? null;
    let poly: bigint[] = [];
    let S: Point[] = [];
    if (own !== null) {
      const share = input.share as CoreKeyShare;
      // reshare: g_d(0) = λ_d·x_d; refresh: g_d(0) = 0. Higher coefficients uniform in [1, q).
      const constant = dealsZero(mode, input.key) ? 0n : mod(lambdaOf(input.key, roles, own) * share.x, CURVE_ORDER);
      poly = [constant, ...Array.from({ length: roles.newT - 1 }, () => randNonZero(ctx))];
      S = poly.slice(firstPower(input.key)).map((a) => mulBase(a));
    }
    const receives = roles.newIndex[ctx.self] !== null;
    const alpha = receives ? randNonZero(ctx) : null;
    const mine: DealingR1 = { record, S, A: alpha === null ? null : mulBase(alpha) };
    const outbox: Outgoing[] = [{ round: 'r1', to: ALL, body: mine }];
    for (let u = 0; u < ctx.n; u++) {
      if (u === ctx.self) continue;
      const r = roles.newIndex[u] ?? null;
      const sigma = own !== null && r !== null ? evalPoly(poly, evaluationPoint(r)) : null;
      outbox.push({ round: 'r1p', to: u, body: { sigma } satisfies DealingShare });
    }
    return { state: { step: 'r1', input, record, poly, alpha, mine }, outbox };
  }

  /** Checks of one party's r1 message (shared with `judge`). */
  function checkR1(blame: BlameCollector, state: ReshareState, u: number, m: DealingR1): void {
    const { key, roles } = state.input;
    if (!equalBytes(m.record, state.record)) {
      blame.blame(u, 'key record differs (another key, epoch, committee or threshold)');
      return;
    }
    const d = roles.oldIndex[u] ?? null;
    const want = d === null ? 0 : commitmentCount(key, roles);
    if (m.S.length !== want) {
      blame.blame(u, `dealing commitment has ${m.S.length} entries, expected ${want}`);
      return;
    }
    if ((roles.newIndex[u] ?? null) === null ? m.A !== null : m.A === null) {
      blame.blame(u, 'Schnorr commitment present exactly when the party receives a share');
      return;
    }
    // reshare: S_{d,0} = λ_d·X_d — the dealt constant is the dealer's own weighted share.
    if (!dealsZero(mode, key) && d !== null) {
      const expected = mulPublic(key.publicShares[d] as Point, lambdaOf(key, roles, d));
      if (!(m.S[0] as Point).equals(expected)) blame.blame(u, 'dealt constant term is not λ_d·X_d');
    }
  }

  /** σ_{d,r}·G = Σ_k (r+1)^k·S_{d,k}, or the right "no share" marker. */
  function shareOk(state: ReshareState, S: readonly Point[], dealer: number, recipient: number, m: DealingShare) {
    const { key, roles } = state.input;
    const r = roles.newIndex[recipient] ?? null;
    const d = roles.oldIndex[dealer] ?? null;
    if (r === null || d === null) return m.sigma === null;
    if (m.sigma === null) return false;
    return mulBase(m.sigma).equals(evalCommitment(S, evaluationPoint(r), firstPower(key)));
  }

  function afterR1(state: ReshareState, inbox: ReadonlyMap<number, unknown>, ctx: RoundCtx) {
    const blame = new BlameCollector(NAME, 'r1');
    const all: DealingR1[] = [];
    for (let u = 0; u < ctx.n; u++) {
      if (u === ctx.self) {
        all.push(state.mine);
        continue;
      }
      const m = inbox.get(u) as DealingR1;
      checkR1(blame, state, u, m);
      all.push(m);
    }
    blame.throwIfAny();
    const { key, roles } = state.input;
    const newN = roles.newIndex.filter((x) => x !== null).length;
    // X'_r = [X_r] + Σ_d Σ_k (r+1)^k·S_{d,k}
    const newPublicShares = Array.from({ length: newN }, (_, r) => {
      let acc = dealsZero(mode, key) ? (key.publicShares[r] as Point) : Point.ZERO;
      for (const m of all) {
        if (m.S.length > 0) acc = acc.add(evalCommitment(m.S, evaluationPoint(r), firstPower(key)));
      }
      return acc;
    });
    if (!dealsZero(mode, key)) {
      // Σ_d S_{d,0} = Σ_d λ_d·X_d = Y (holds by the per-dealer check; asserted).
      const Y = all.reduce((acc, m) => (m.S.length > 0 ? acc.add(m.S[0] as Point) : acc), Point.ZERO);
      if (!Y.equals(key.publicKey)) throw unattributed('r1', 'dealt constants do not sum to the public key');
    }
    if (newPublicShares.some((X) => X.is0())) throw unattributed('r1', 'a new public share is the identity');
    return { state: { ...state, step: 'r1p' as const, r1: all, newPublicShares }, outbox: [] };
  }

  function afterR1p(state: ReshareState, inbox: ReadonlyMap<number, unknown>, ctx: RoundCtx) {
    const { roles } = state.input;
    const all = state.r1 as readonly DealingR1[];
    const blame = new BlameCollector(NAME, 'r1p');
    const r = roles.newIndex[ctx.self] ?? null;
    let x = 0n;
    if (r !== null) {
      if (dealsZero(mode, state.input.key)) x = (state.input.share as CoreKeyShare).x;
      if (roles.oldIndex[ctx.self] !== null) x = mod(x + evalPoly(state.poly, evaluationPoint(r)), CURVE_ORDER);
    }
    for (let u = 0; u < ctx.n; u++) {
      if (u === ctx.self) continue;
      const m = inbox.get(u) as DealingShare;
      if (!shareOk(state, (all[u] as DealingR1).S, u, ctx.self, m)) {
        blame.blame(u, SHARE_FAULT);
        continue;
      }
      if (m.sigma !== null) x = mod(x + m.sigma, CURVE_ORDER);
    }
    blame.throwIfAny();
    if (r === null) {
      return { state: { ...state, step: 'r2' as const }, outbox: [{ round: 'r2', to: ALL, body: { z: null } }] };
    }
    const X = (state.newPublicShares as readonly Point[])[r] as Point;
    if (x === 0n || !mulBase(x).equals(X)) throw unattributed('r1p', 'the new share does not match its public share');
    const proof = proveSch(schCtx(ctx, ctx.self), X, { A: state.mine.A as Point }, { alpha: state.alpha as bigint }, x);
    return {
      state: { ...state, step: 'r2' as const, x },
      outbox: [{ round: 'r2', to: ALL, body: { z: proof.z } satisfies DealingProof }],
    };
  }

  function checkR2(blame: BlameCollector, state: ReshareState, ctx: RoundCtx, u: number, m: DealingProof): void {
    const r = state.input.roles.newIndex[u] ?? null;
    if (r === null) {
      if (m.z !== null) blame.blame(u, 'a Schnorr response from a party that receives no share');
      return;
    }
    if (m.z === null) {
      blame.blame(u, 'missing Schnorr response for the new share');
      return;
    }
    const A = (state.r1 as readonly DealingR1[])[u]?.A as Point;
    const X = (state.newPublicShares as readonly Point[])[r] as Point;
    blame.guard(u, 'invalid Schnorr proof of the new share', () =>
      verifySch(schCtx(ctx, u), X, { A, z: m.z as bigint }),
    );
  }

  function afterR2(
    state: ReshareState,
    inbox: ReadonlyMap<number, unknown>,
    ctx: RoundCtx,
  ): RoundResult<ReshareState, ReshareOutput> {
    const blame = new BlameCollector(NAME, 'r2');
    for (let u = 0; u < ctx.n; u++) {
      if (u !== ctx.self) checkR2(blame, state, ctx, u, inbox.get(u) as DealingProof);
    }
    blame.throwIfAny();
    const { key, roles } = state.input;
    const r = roles.newIndex[ctx.self] ?? null;
    if (r === null) return { output: { share: null } };
    const publicShares = state.newPublicShares as readonly Point[];
    const share: CoreKeyShare = {
      version: 1,
      i: r,
      n: publicShares.length,
      t: roles.newT,
      x: state.x as bigint,
      publicShares,
      publicKey: key.publicKey,
      chainCode: key.chainCode,
      additive: false,
      epoch: key.epoch + 1,
    };
    return { output: { share: validateCoreKeyShare(share) } };
  }

  function judge(round: string, state: ReshareState, ev: Evidence, ctx: RoundCtx): Judgement {
    if (round === 'r1') return judgeWith(ev.from, (b) => checkR1(b, state, ev.from, ev.body as DealingR1));
    if (state.r1 === undefined) return PENDING;
    if (round === 'r1p') {
      const S = (state.r1[ev.from] as DealingR1).S;
      return shareOk(state, S, ev.from, ev.to, ev.body as DealingShare)
        ? { verdict: 'valid' }
        : { verdict: 'faulty', reason: SHARE_FAULT };
    }
    if (round === 'r2') return judgeWith(ev.from, (b) => checkR2(b, state, ctx, ev.from, ev.body as DealingProof));
    return { verdict: 'valid' };
  }

  return {
    name: NAME,
    rounds: [round1, round1p, round2],
    init,
    judge,
    process(round, state, inbox, ctx) {
      if (round !== state.step)
        throw new MpcError('ERR_ROUND_ORDER', `${NAME} state is at ${state.step}, not ${round}`);
      if (state.step === 'r1') return afterR1(state, inbox, ctx);
      if (state.step === 'r1p') return afterR1p(state, inbox, ctx);
      return afterR2(state, inbox, ctx);
    },
  };
}

const SHARE_FAULT = 'dealt share fails the Feldman check (or a share where none is due)';

/**
 * Reshare (t, n) → (t', n') with the same public key and chain code (see the module doc).
 * @example const r = simulate(reshare, inputs, { sid, math, rngs }); // then aux-info among the new committee
 */
export const reshare = dealingProtocol('reshare');
