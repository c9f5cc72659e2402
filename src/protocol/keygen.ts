/**
 * Key generation: t-of-n with Feldman VSS, and n-of-n additive (PROTOCOL.md §3; CGGMP24 ePrint
 * 2021/060 key-generation figure — Fig. 5 per PROTOCOL.md Sources — for the additive variant;
 * cggmp21-keygen threshold.rs / non_threshold.rs for the VSS variant, the echo round and the chain code).
 *
 * Naming (spec → code):
 *
 *   i, j                      party indices, 0-based; party j's evaluation point is I(j) = j + 1
 *   f_i(z) = Σ_k s_{i,k}·z^k  party i's secret polynomial `poly`, degree t − 1 (degree 0 when additive)
 *   S_{i,k} = s_{i,k}·G       its VSS commitment vector `S`: exactly t points (1 when additive)
 *   σ_{i,j} = f_i(j + 1)      share dealt by i to j (`sigma`), sent point-to-point
 *   rid_i, c_i, u_i           rid contribution (κ/8 = 48 bytes), chain-code share (32), commitment nonce (48)
 *   A_i = α_i·G               Πsch commitment (the spec's τ_i is `alpha`)
 *   V_i                       hash commitment to (rid_i, S_i, A_i, c_i, u_i)
 *   ψ_i = α_i + e_i·x_i       Πsch response `z`
 *   x_i, X_j, Y               own secret share, public shares, public key
 *
 * Round layout (each round has one kind; the framework adds the echo round of `r1`, §3.4):
 *
 *   r1   broadcast, reliable   V_i
 *   r2   broadcast             decommitment (rid_i, S_i, A_i, c_i, u_i)
 *   r2p  p2p                   σ_{i,j} (VSS) or an explicit "no share" marker (additive)
 *   r3   broadcast             ψ_i, or a complaint naming the dealers whose σ failed the Feldman check
 *
 * r2 and r2p are sent together after r1; r2 is processed first (decommitments, public data), then r2p
 * (shares), so the protocol has the spec's 3 message rounds + 1 echo round.
 * r2 is not echoed (as in cggmp21): its content is bound by the echoed V_i, so a party sending
 * different decommitments fails the decommitment check at every recipient of a wrong one.
 *
 * A faulty σ_{j,i} is a point-to-point fault: only its recipient can see it. The recipient blames the
 * dealer (as cggmp21 does; it holds the dealer's signed message as evidence) and, instead of a Πsch
 * response, broadcasts a complaint in r3, so every other party aborts at once rather than waiting for a
 * response that never comes. A complaint alone proves nothing (a complaining receiver could be lying,
 * PROTOCOL.md §3.2), so the others first abort without blame; then the recipient's abort notice
 * (runner.ts) hands them the dealer's signed σ_{j,i}, and `keygen.judge` re-runs the Feldman check
 * σ_{j,i}·G =? Σ_k (i+1)^k·S_{j,k} on public data (the dealer's committed S_j, the complainer's
 * evaluation point). Every honest party thus blames the dealer — or the complainer, when the share
 * it published is fine. The published share is worthless afterwards: the keygen aborts.
 */
import { equalBytes } from '@noble/curves/utils.js';
import { MpcError } from '../errors/index.js';
import { fromBytesBE, mod, toBytesBE } from '../math/bits.js';
import { type Rng, randBelow } from '../math/random.js';
import {
  CURVE_ORDER,
  decodePoint,
  encodePoint,
  isValidNonIdentity,
  mulBase,
  mulPublic,
  POINT_BYTES,
  Point,
} from '../primitives/curve.js';
import { Transcript } from '../primitives/transcript.js';
import { WireReader, WireWriter } from '../util/wire.js';
import { TAG_PREFIX } from '../zk/common.js';
import { SECURITY } from '../zk/params.js';
import { proveSch, verifySch } from '../zk/sch.js';
import { BlameCollector, judgeWith, PENDING, protocolAbort } from './blame.js';
import type { CoreKeyShare } from './key-share.js';
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

const PROTOCOL = 'keygen';
/** Most parties a keygen (and a stored share) may have; matches the runner's evidence bound. */
export const KEYGEN_MAX_PARTIES = 64;
/** Bytes of rid_i and of the commitment nonce u_i (κ/8). */
const RID_BYTES = SECURITY.kappaBytes;
/** Bytes of the chain-code share c_i and of the chain code (BIP32). */
export const CHAIN_CODE_BYTES = 32;
const SCALAR_BYTES = 32;
const HASH_BYTES = 32;
/** Fiat–Shamir label of the keygen Πsch: a keygen proof never verifies in another protocol. */
const SCH_LABEL = 'keygen';

const WIRE_VERSION = 1;
const TAG_R1 = 0x31;
const TAG_R2 = 0x32;
const TAG_R2P = 0x33;
const TAG_R3 = 0x34;
const SHARE_TAG = 0x4b;
/**
 * Storage versions: 1 has no epoch field (epoch 0: every share stored before epochs existed, and
 * every fresh keygen share, so their bytes stay unchanged); 2 adds a u32 epoch ≥ 1 after the version.
 * One encoding per share: a version-2 blob with epoch 0 is refused.
 */
const SHARE_VERSION = 2;
const SHARE_VERSION_NO_EPOCH = 1;
/** Largest key epoch (stored as a u32). */
export const MAX_KEY_EPOCH = 0xffffffff;

// --- public types -----------------------------------------------------------------------------

/** Keygen input: the threshold t (signers needed) and, for n-of-n, the additive variant. */
export interface KeygenInput {
  readonly t: number;
  /** n-of-n additive sharing (the paper's keygen, PROTOCOL.md §3.1); requires t = n. */
  readonly additive?: boolean;
}

/** Round-1 message: the hash commitment V_i. */
export interface KeygenCommitmentMsg {
  readonly V: Uint8Array;
}

/** Round-2 broadcast: the decommitment of V_i (PROTOCOL.md §3.1–3.2). */
export interface KeygenDecommitment {
  /** rid_i, 48 bytes. */
  readonly rid: Uint8Array;
  /** S_{i,0..t−1} (VSS), or [X_i] (additive). */
  readonly S: readonly Point[];
  /** A_i = α_i·G, the Πsch commitment. */
  readonly A: Point;
  /** c_i, 32 bytes. */
  readonly c: Uint8Array;
  /** u_i, 48 bytes. */
  readonly u: Uint8Array;
}

/** Round-2 p2p message: σ_{i,j} ∈ [1, q), or null in the additive variant. */
export interface KeygenShareMsg {
  readonly sigma: bigint | null;
}

/** Round-3 message: the Πsch response ψ_i, or a complaint naming dealers whose σ failed (sorted). */
export type KeygenRound3Msg =
  | { readonly kind: 'proof'; readonly z: bigint }
  | { readonly kind: 'complaint'; readonly accused: readonly number[] };

/** Per-party state between rounds (plain data; secrets: `poly`, `alpha`, `x`). */
export interface KeygenState {
  readonly step: 'r1' | 'r2' | 'r2p' | 'r3';
  readonly t: number;
  readonly additive: boolean;
  /** s_{i,0..t−1}: coefficients of f_i (additive: [x_i]). Secret. */
  readonly poly: readonly bigint[];
  /** α_i, the Πsch nonce. Secret; used for exactly one response. */
  readonly alpha: bigint;
  readonly mine: KeygenDecommitment;
  /** V_j of every party (own included), from r1 on. */
  readonly commitments?: readonly Uint8Array[];
  /** Decommitments of every party (own included), from r2 on. */
  readonly decommitments?: readonly KeygenDecommitment[];
  readonly rid?: Uint8Array;
  readonly chainCode?: Uint8Array;
  readonly publicShares?: readonly Point[];
  readonly publicKey?: Point;
  /** x_i, once every share verified. Secret. */
  readonly x?: bigint;
  /** Dealers whose share to this party failed the check (this party complained in r3). */
  readonly accused?: readonly number[];
}

// --- hash commitment --------------------------------------------------------------------------

/** The public parameters bound into V_j besides the decommitment. */
export interface KeygenCommitmentParams {
  readonly sid: Uint8Array;
  readonly n: number;
  /** Index of the committing party. */
  readonly i: number;
  readonly t: number;
  readonly additive: boolean;
}

/**
 * V_i = H(Encode_hash_com(sid, n, i, t, additive, rid_i, S_i, A_i, c_i, u_i)) (PROTOCOL.md §3.2,
 * SECURITY.md A9): every field typed and length-prefixed by the Fiat–Shamir Transcript under its
 * own domain tag; V_i is the first 32 bytes of the transcript's SHA-256 output stream.
 *
 * @throws MpcError ERR_WIRE_POINT_INVALID when a point is the identity (it has no encoding)
 * @example const V = keygenCommitment({ sid, n: 3, i: 0, t: 2, additive: false }, decommitment);
 */
export function keygenCommitment(p: KeygenCommitmentParams, d: KeygenDecommitment): Uint8Array {
  const tr = new Transcript(`${TAG_PREFIX}.keygen.commitment`)
    .bytes('sid', p.sid)
    .u32('n', p.n)
    .u32('i', p.i)
    .u32('t', p.t)
    .u32('additive', p.additive ? 1 : 0)
    .bytes('rid', d.rid)
    .u32('S#', d.S.length);
  d.S.forEach((P, k) => {
    tr.point(`S[${k}]`, encodePoint(P));
  });
  tr.point('A', encodePoint(d.A)).bytes('c', d.c).bytes('u', d.u);
  const V = new Uint8Array(HASH_BYTES);
  tr.challengeRng('V').fill(V);
  return V;
}

// --- wire codecs --------------------------------------------------------------------------------

function head(w: WireWriter, tag: number): WireWriter {
  return w.u8(tag).u8(WIRE_VERSION);
}

function readHead(r: WireReader, path: string, tag: number): void {
  r.tag(`${path}.tag`, tag);
  r.tag(`${path}.version`, WIRE_VERSION);
}

/** A canonical non-zero scalar in [1, q) from 32 fixed bytes (SECURITY.md A16 analogue for σ). */
function readNonZeroScalar(r: WireReader, path: string): bigint {
  const x = fromBytesBE(r.fixed(path, SCALAR_BYTES));
  if (x >= CURVE_ORDER)
    throw new MpcError('ERR_WIRE_NON_CANONICAL', `${path} is not reduced mod q`, { details: { path } });
  if (x === 0n) throw new MpcError('ERR_WIRE_TYPE', `${path} must be non-zero`, { details: { path } });
  return x;
}

const round1: RoundDef<KeygenCommitmentMsg> = {
  name: 'r1',
  kind: 'broadcast',
  reliable: true,
  encode: (m) => {
    if (m.V.length !== HASH_BYTES) throw new MpcError('ERR_WIRE_BAD_LENGTH', 'keygen.r1.V must be 32 bytes');
    return head(new WireWriter(), TAG_R1).fixed(m.V).finish();
  },
  decode: (bytes) => {
    const r = new WireReader(bytes, 2 + HASH_BYTES);
    readHead(r, 'keygen.r1', TAG_R1);
    const V = r.fixed('keygen.r1.V', HASH_BYTES);
    r.end();
    return { V };
  },
};

const R2_MAX_BYTES = 2 + RID_BYTES + 4 + POINT_BYTES * KEYGEN_MAX_PARTIES + POINT_BYTES + CHAIN_CODE_BYTES + RID_BYTES;

const round2: RoundDef<KeygenDecommitment> = {
  name: 'r2',
  kind: 'broadcast',
  encode: (d) => {
    const w = head(new WireWriter(), TAG_R2).fixed(d.rid).u32(d.S.length);
    for (const P of d.S) w.fixed(encodePoint(P));
    return w.fixed(encodePoint(d.A)).fixed(d.c).fixed(d.u).finish();
  },
  // Strict: exact sizes; every point valid and not the identity (A14). The VSS vector may not be
  // longer than n here; that it has exactly t entries (A17) is checked in `process`, which knows t.
  decode: (bytes, _from, ctx) => {
    const r = new WireReader(bytes, R2_MAX_BYTES);
    readHead(r, 'keygen.r2', TAG_R2);
    const rid = r.fixed('keygen.r2.rid', RID_BYTES);
    const count = r.u32('keygen.r2.S.count');
    if (count < 1 || count > ctx.n) {
      throw new MpcError('ERR_WIRE_BAD_LENGTH', `keygen.r2.S has ${count} entries, outside [1, ${ctx.n}]`, {
        details: { path: 'keygen.r2.S', length: count, maxLength: ctx.n },
      });
    }
    const S = Array.from({ length: count }, (_, k) =>
      decodePoint(r.fixed(`keygen.r2.S[${k}]`, POINT_BYTES), `keygen.r2.S[${k}]`),
    );
    const A = decodePoint(r.fixed('keygen.r2.A', POINT_BYTES), 'keygen.r2.A');
    const c = r.fixed('keygen.r2.c', CHAIN_CODE_BYTES);
    const u = r.fixed('keygen.r2.u', RID_BYTES);
    r.end();
    return { rid, S, A, c, u };
  },
};

const round2p: RoundDef<KeygenShareMsg> = {
  name: 'r2p',
  kind: 'p2p',
  encode: (m) => {
    const w = head(new WireWriter(), TAG_R2P);
    if (m.sigma === null) return w.u8(0).finish();
    if (m.sigma <= 0n || m.sigma >= CURVE_ORDER)
      throw new MpcError('ERR_WIRE_TYPE', 'keygen.r2p.sigma must be in [1, q)');
    return w.u8(1).fixed(toBytesBE(m.sigma, SCALAR_BYTES)).finish();
  },
  decode: (bytes) => {
    const r = new WireReader(bytes, 3 + SCALAR_BYTES);
    readHead(r, 'keygen.r2p', TAG_R2P);
    const kind = r.u8('keygen.r2p.kind');
    let sigma: bigint | null;
    if (kind === 0) sigma = null;
    else if (kind === 1) sigma = readNonZeroScalar(r, 'keygen.r2p.sigma');
    else
      throw new MpcError('ERR_WIRE_BAD_TAG', 'keygen.r2p.kind has an unexpected tag', {
        details: { path: 'keygen.r2p.kind' },
      });
    r.end();
    return { sigma };
  },
};

const round3: RoundDef<KeygenRound3Msg> = {
  name: 'r3',
  kind: 'broadcast',
  encode: (m) => {
    const w = head(new WireWriter(), TAG_R3);
    if (m.kind === 'proof') {
      if (m.z < 0n || m.z >= CURVE_ORDER) throw new MpcError('ERR_WIRE_TYPE', 'keygen.r3.z must be in [0, q)');
      return w.u8(1).fixed(toBytesBE(m.z, SCALAR_BYTES)).finish();
    }
    w.u8(2).u32(m.accused.length);
    for (const j of m.accused) w.u32(j);
    return w.finish();
  },
  decode: (bytes, from, ctx) => {
    const r = new WireReader(bytes, 3 + 4 + 4 * KEYGEN_MAX_PARTIES);
    readHead(r, 'keygen.r3', TAG_R3);
    const kind = r.u8('keygen.r3.kind');
    let msg: KeygenRound3Msg;
    if (kind === 1) {
      const z = fromBytesBE(r.fixed('keygen.r3.z', SCALAR_BYTES));
      if (z >= CURVE_ORDER) {
        throw new MpcError('ERR_WIRE_NON_CANONICAL', 'keygen.r3.z is not reduced mod q', {
          details: { path: 'keygen.r3.z' },
        });
      }
      msg = { kind: 'proof', z };
    } else if (kind === 2) {
      // A complaint names 1..n−1 other parties, strictly increasing: one encoding per complaint.
      const count = r.u32('keygen.r3.accused.count');
      if (count < 1 || count > ctx.n - 1) {
        throw new MpcError('ERR_WIRE_BAD_LENGTH', `keygen.r3.accused has ${count} entries`, {
          details: { path: 'keygen.r3.accused', length: count },
        });
      }
      const accused: number[] = [];
      for (let k = 0; k < count; k++) {
        const j = r.u32(`keygen.r3.accused[${k}]`);
        const prev = accused[k - 1];
        if (j >= ctx.n || j === from || (prev !== undefined && j <= prev)) {
          throw new MpcError(
            'ERR_WIRE_NON_CANONICAL',
            `keygen.r3.accused[${k}] is not a valid, increasing party index`,
            {
              details: { path: `keygen.r3.accused[${k}]` },
            },
          );
        }
        accused.push(j);
      }
      msg = { kind: 'complaint', accused };
    } else {
      throw new MpcError('ERR_WIRE_BAD_TAG', 'keygen.r3.kind has an unexpected tag', {
        details: { path: 'keygen.r3.kind' },
      });
    }
    r.end();
    return msg;
  },
};

// --- arithmetic helpers -------------------------------------------------------------------------

/** Evaluation point of party index j: I(j) = j + 1 (never 0, distinct for distinct j). */
const evalPoint = (j: number): bigint => BigInt(j) + 1n;

/** Scalar in [1, q) (rejecting 0 so no commitment is the identity; off uniform by 1/q). */
const randNonZeroScalar = (rng: Rng): bigint => randBelow(CURVE_ORDER - 1n, rng) + 1n;

function randomBytes(rng: Rng, length: number): Uint8Array {
  const b = new Uint8Array(length);
  rng.fill(b);
  return b;
}

/** f(z) = Σ_k a_k·z^k mod q (Horner). Secret coefficients, public z. */
function evalPoly(coeffs: readonly bigint[], z: bigint): bigint {
  let acc = 0n;
  for (let k = coeffs.length - 1; k >= 0; k--) acc = mod(acc * z + (coeffs[k] as bigint), CURVE_ORDER);
  return acc;
}

/** F(z) = Σ_k z^k·P_k for public points P_k (Horner in the group). */
function evalPointPoly(points: readonly Point[], z: bigint): Point {
  let acc = Point.ZERO;
  for (let k = points.length - 1; k >= 0; k--) acc = mulPublic(acc, z).add(points[k] as Point);
  return acc;
}

function xorInto(acc: Uint8Array, b: Uint8Array): void {
  for (let k = 0; k < acc.length; k++) acc[k] = (acc[k] as number) ^ (b[k] as number);
}

/** λ_j at 0 for the evaluation points `pts`: Π_{m≠j} I_m / (I_m − I_j) mod q. */
function lagrangeAtZero(pts: readonly bigint[], j: number): bigint {
  const ij = pts[j] as bigint;
  let num = 1n;
  let den = 1n;
  pts.forEach((im, m) => {
    if (m === j) return;
    num = mod(num * im, CURVE_ORDER);
    den = mod(den * (im - ij), CURVE_ORDER);
  });
  return mod(num * Point.Fn.inv(den), CURVE_ORDER);
}

/** Σ_j λ_j·X_{idx_j}: the value at 0 of the polynomial in the exponent through the chosen shares. */
function interpolateAtZero(shares: readonly Point[], idx: readonly number[]): Point {
  const pts = idx.map(evalPoint);
  let acc = Point.ZERO;
  idx.forEach((j, k) => {
    acc = acc.add(mulPublic(shares[j] as Point, lagrangeAtZero(pts, k)));
  });
  return acc;
}

// --- protocol ---------------------------------------------------------------------------------

function inputError(message: string): MpcError {
  return new MpcError('ERR_PROTOCOL_INPUT', `keygen: ${message}`);
}

function need<T>(x: T | undefined, what: string): T {
  if (x === undefined) throw new MpcError('ERR_ROUND_ORDER', `keygen state lacks ${what}`);
  return x;
}

/** The other parties, ascending; checks that the inbox holds exactly one message from each. */
function peersOf<B>(inbox: ReadonlyMap<number, unknown>, ctx: RoundCtx): Array<[number, B]> {
  const out: Array<[number, B]> = [];
  for (let j = 0; j < ctx.n; j++) {
    if (j === ctx.self) continue;
    if (!inbox.has(j)) throw new MpcError('ERR_ROUND_ORDER', `keygen inbox lacks the message of party ${j}`);
    out.push([j, inbox.get(j) as B]);
  }
  if (inbox.size !== ctx.n - 1) throw new MpcError('ERR_ROUND_ORDER', 'keygen inbox has unexpected senders');
  return out;
}

/** Πsch context of party j: (sid, prover j, rid) + the keygen label (PROTOCOL.md §2.1, §3.3). */
const schContext = (ctx: RoundCtx, j: number, rid: Uint8Array) => ({ sid: ctx.sid, prover: j, rid, label: SCH_LABEL });

/** Abort that names nobody: a fault nobody can be proven responsible for (probability ≈ 1/q, or a P2P dispute). */
function unattributed(round: string, why: string): MpcError {
  return protocolAbort(PROTOCOL, round, [], why);
}

/** Round 1 (PROTOCOL.md §3.1–3.2, Round 1): sample, commit, broadcast V_i. */
function init(input: KeygenInput, ctx: RoundCtx): { state: KeygenState; outbox: Outgoing[] } {
  if (typeof input !== 'object' || input === null) throw inputError('input must be an object');
  const { t } = input;
  const additive = input.additive ?? false;
  const { n, self } = ctx;
  if (typeof additive !== 'boolean') throw inputError('additive must be a boolean');
  if (!Number.isInteger(n) || n < 2 || n > KEYGEN_MAX_PARTIES)
    throw inputError(`n must be in [2, ${KEYGEN_MAX_PARTIES}]`);
  if (!Number.isInteger(t) || t < 1 || t > n) throw inputError('t must be an integer in [1, n]');
  if (additive && t !== n) throw inputError('the additive variant needs t = n');
  if (!Number.isInteger(self) || self < 0 || self >= n) throw inputError('own index out of range');
  if (!(ctx.sid instanceof Uint8Array) || ctx.sid.length === 0) throw inputError('sid must be a non-empty byte string');

  // rid_i ← {0,1}^κ
  const rid = randomBytes(ctx.rng, RID_BYTES);
  // f_i(z) = Σ_{k<t} s_{i,k}·z^k (additive: the constant x_i); S_{i,k} = s_{i,k}·G
  const poly = Array.from({ length: additive ? 1 : t }, () => randNonZeroScalar(ctx.rng));
  const S = poly.map(mulBase);
  // Πsch commit: α_i ← Z_q \ {0}, A_i = α_i·G (commit early: hidden in V_i)
  const alpha = randNonZeroScalar(ctx.rng);
  const A = mulBase(alpha);
  // c_i ← {0,1}^256, u_i ← {0,1}^κ
  const c = randomBytes(ctx.rng, CHAIN_CODE_BYTES);
  const u = randomBytes(ctx.rng, RID_BYTES);
  const mine: KeygenDecommitment = { rid, S, A, c, u };
  // V_i = H(sid, n, i, t, rid_i, S_i, A_i, c_i, u_i)
  const V = keygenCommitment({ sid: ctx.sid, n, i: self, t, additive }, mine);
  return {
    state: { step: 'r1', t, additive, poly, alpha, mine },
    outbox: [{ round: 'r1', to: ALL, body: { V } satisfies KeygenCommitmentMsg }],
  };
}

/** After the (echoed) r1: keep every V_j; send the decommitment (r2) and the shares (r2p). */
function afterRound1(
  state: KeygenState,
  inbox: ReadonlyMap<number, unknown>,
  ctx: RoundCtx,
): RoundResult<KeygenState, CoreKeyShare> {
  const commitments: Uint8Array[] = Array.from({ length: ctx.n }, () => new Uint8Array(0));
  commitments[ctx.self] = keygenCommitment(params(ctx, ctx.self, state), state.mine);
  // Only the encoding can be wrong in V_j, and the decoder checked it: nothing to blame here.
  for (const [j, m] of peersOf<KeygenCommitmentMsg>(inbox, ctx)) commitments[j] = m.V;
  const outbox: Outgoing[] = [{ round: 'r2', to: ALL, body: state.mine }];
  for (let j = 0; j < ctx.n; j++) {
    if (j === ctx.self) continue;
    // σ_{i,j} = f_i(j + 1); the additive variant deals no shares.
    const sigma = state.additive ? null : evalPoly(state.poly, evalPoint(j));
    outbox.push({ round: 'r2p', to: j, body: { sigma } satisfies KeygenShareMsg });
  }
  return { state: { ...state, step: 'r2', commitments }, outbox };
}

function params(ctx: RoundCtx, i: number, state: KeygenState): KeygenCommitmentParams {
  return { sid: ctx.sid, n: ctx.n, i, t: state.t, additive: state.additive };
}

/** The checks of j's r2 decommitment (round 3, first half): shared by the round and `judge`. */
function checkDecommitment(
  blame: BlameCollector,
  ctx: RoundCtx,
  state: KeygenState,
  commitments: readonly Uint8Array[],
  j: number,
  d: KeygenDecommitment,
): void {
  const expectedLength = state.additive ? 1 : state.t;
  blame.guard(j, 'decommitment check failed', () => {
    // V_j =? H(sid, n, j, t, rid_j, S_j, A_j, c_j, u_j)
    if (!equalBytes(keygenCommitment(params(ctx, j, state), d), commitments[j] as Uint8Array)) {
      blame.blame(j, 'decommitment does not open the round-1 commitment (InvalidDecommitment)');
    }
  });
  // |S_j| = t exactly: a longer vector would raise the threshold, a shorter one lower it (A17).
  if (d.S.length !== expectedLength) {
    blame.blame(j, `VSS commitment has ${d.S.length} entries, expected exactly ${expectedLength} (InvalidDataSize)`);
  }
}

/** Why the recipient of a share that fails its check blames the dealer (its own abort and `judge`). */
const SHARE_FAULT =
  'sent this party a share that fails the Feldman check or is of the wrong kind (FeldmanVerificationFailed)';

/**
 * σ_{j,i} is acceptable to recipient i: none in the additive variant; otherwise present and
 * σ_{j,i}·G = Σ_k (i+1)^k·S_{j,k} (σ is secret to i: constant-time base multiplication).
 */
function shareOk(state: KeygenState, S: readonly Point[], recipient: number, m: KeygenShareMsg): boolean {
  if (state.additive) return m.sigma === null; // the additive variant deals no shares
  return m.sigma !== null && mulBase(m.sigma).equals(evalPointPoly(S, evalPoint(recipient)));
}

/** Πsch of party j: z_j·G =? A_j + e_j·X_j with e_j = H(sid, j, rid, X_j, A_j) (InvalidSchnorrProof). */
function checkSchnorr(blame: BlameCollector, ctx: RoundCtx, rid: Uint8Array, X: Point, A: Point, j: number, z: bigint) {
  blame.guard(j, 'invalid Schnorr proof (InvalidSchnorrProof)', () => verifySch(schContext(ctx, j, rid), X, { A, z }));
}

/**
 * Public re-check of one keygen message for abort notices (ProtocolDef.judge): the r2 decommitment
 * against the echoed V_j, the r2p share against the dealer's committed S_j at the recipient's
 * evaluation point, the r3 Πsch against X_j, A_j and rid. Uses public state only.
 */
function judge(round: string, state: KeygenState, ev: Evidence, ctx: RoundCtx): Judgement {
  const j = ev.from;
  if (round === 'r2') {
    const commitments = state.commitments;
    if (commitments === undefined) return PENDING;
    return judgeWith(j, (blame) => checkDecommitment(blame, ctx, state, commitments, j, ev.body as KeygenDecommitment));
  }
  if (round === 'r2p') {
    const d = state.decommitments?.[j];
    if (d === undefined) return PENDING;
    return shareOk(state, d.S, ev.to, ev.body as KeygenShareMsg)
      ? { verdict: 'valid' }
      : { verdict: 'faulty', reason: SHARE_FAULT };
  }
  if (round === 'r3') {
    const m = ev.body as KeygenRound3Msg;
    const { decommitments, publicShares, rid } = state;
    if (decommitments?.[j] === undefined || publicShares === undefined || rid === undefined) return PENDING;
    if (m.kind === 'complaint') return { verdict: 'valid' }; // a complaint is not a fault in itself
    const A = (decommitments[j] as KeygenDecommitment).A;
    return judgeWith(j, (blame) => checkSchnorr(blame, ctx, rid, publicShares[j] as Point, A, j, m.z));
  }
  return { verdict: 'valid' }; // r1: only the encoding can be wrong, and the runner judges that
}

/**
 * Round 3, first half (PROTOCOL.md §3.2 Round 3): every decommitment opens V_j (InvalidDecommitment)
 * and has exactly t VSS entries (InvalidDataSize, A17); then rid, c, the public shares and Y.
 */
function afterRound2(
  state: KeygenState,
  inbox: ReadonlyMap<number, unknown>,
  ctx: RoundCtx,
): RoundResult<KeygenState, CoreKeyShare> {
  const commitments = need(state.commitments, 'round-1 commitments');
  const blame = new BlameCollector(PROTOCOL, 'r2');
  const decommitments: KeygenDecommitment[] = [];
  decommitments[ctx.self] = state.mine;
  for (const [j, d] of peersOf<KeygenDecommitment>(inbox, ctx)) {
    checkDecommitment(blame, ctx, state, commitments, j, d);
    decommitments[j] = d;
  }
  blame.throwIfAny();

  // rid = ⊕_j rid_j; c = ⊕_j c_j
  const rid = new Uint8Array(RID_BYTES);
  const chainCode = new Uint8Array(CHAIN_CODE_BYTES);
  for (const d of decommitments) {
    xorInto(rid, d.rid);
    xorInto(chainCode, d.c);
  }

  let publicShares: Point[];
  let publicKey: Point;
  if (state.additive) {
    // §3.1 Output: X_j given directly, Y = Σ_j X_j
    publicShares = decommitments.map((d) => d.S[0] as Point);
    publicKey = publicShares.reduce((acc, X) => acc.add(X), Point.ZERO);
  } else {
    // §3.2: F(z) = Σ_j F_j(z) in the exponent (coefficient-wise sum of the S_j), X_j = F(j + 1), Y = F(0)
    const F = Array.from({ length: state.t }, (_, k) =>
      decommitments.reduce((acc, d) => acc.add(d.S[k] as Point), Point.ZERO),
    );
    publicShares = Array.from({ length: ctx.n }, (_, j) => evalPointPoly(F, evalPoint(j)));
    publicKey = F[0] as Point;
  }
  // Every S_j was committed before any was revealed, so nobody can steer these sums to ∞:
  // an identity here has probability ≈ 1/q and blames nobody.
  if (publicShares.some((X) => X.is0())) throw unattributed('r2', 'a public share is the identity');
  if (publicKey.is0()) throw unattributed('r2', 'the public key is the identity');
  return {
    state: { ...state, step: 'r2p', decommitments, rid, chainCode, publicShares, publicKey },
    outbox: [],
  };
}

/**
 * Round 3, second half: Feldman check σ_{j,i}·G = Σ_k (i+1)^k·S_{j,k} for every dealer j
 * (FeldmanVerificationFailed); x_i = Σ_j σ_{j,i} ≠ 0; then ψ_i = α_i + e_i·x_i with
 * e_i = H(sid, i, rid, X_i, A_i) — or a complaint if some share failed.
 */
function afterRound2p(
  state: KeygenState,
  inbox: ReadonlyMap<number, unknown>,
  ctx: RoundCtx,
): RoundResult<KeygenState, CoreKeyShare> {
  const decommitments = need(state.decommitments, 'decommitments');
  const publicShares = need(state.publicShares, 'public shares');
  const rid = need(state.rid, 'rid');
  const me = evalPoint(ctx.self);
  const accused: number[] = [];
  let x = state.additive ? (state.poly[0] as bigint) : evalPoly(state.poly, me); // own σ_{i,i} (or x_i)
  for (const [j, m] of peersOf<KeygenShareMsg>(inbox, ctx)) {
    // σ_{j,i}·G =? Σ_k (i+1)^k·S_{j,k}   (additive: no share at all)
    if (!shareOk(state, (decommitments[j] as KeygenDecommitment).S, ctx.self, m)) {
      accused.push(j);
      continue;
    }
    if (m.sigma !== null) x = mod(x + m.sigma, CURVE_ORDER); // x_i = Σ_j σ_{j,i}
  }
  if (accused.length > 0) {
    // P2P fault: complain in r3 (instead of ψ_i) so that every party stops; blame follows in r3.
    return {
      state: { ...state, step: 'r3', accused },
      outbox: [{ round: 'r3', to: ALL, body: { kind: 'complaint', accused } satisfies KeygenRound3Msg }],
    };
  }
  if (x === 0n) throw unattributed('r2p', 'the secret share is zero');
  const X = publicShares[ctx.self] as Point;
  // Holds whenever every Feldman check passed: X_i = F(i+1) = Σ_j F_j(i+1) = (Σ_j σ_{j,i})·G.
  if (!mulBase(x).equals(X)) throw new MpcError('ERR_ROUND_ORDER', 'keygen: own share does not match its public share');
  // ψ_i = α_i + e_i·x_i, e_i = H(sid, i, rid, X_i, A_i)
  const proof = proveSch(schContext(ctx, ctx.self, rid), X, { A: state.mine.A }, { alpha: state.alpha }, x);
  return {
    state: { ...state, step: 'r3', x },
    outbox: [{ round: 'r3', to: ALL, body: { kind: 'proof', z: proof.z } satisfies KeygenRound3Msg }],
  };
}

/** Output (PROTOCOL.md §3.2 Output): verify every ψ_j against X_j, A_j (InvalidSchnorrProof). */
function afterRound3(
  state: KeygenState,
  inbox: ReadonlyMap<number, unknown>,
  ctx: RoundCtx,
): RoundResult<KeygenState, CoreKeyShare> {
  const decommitments = need(state.decommitments, 'decommitments');
  const publicShares = need(state.publicShares, 'public shares');
  const rid = need(state.rid, 'rid');
  const blame = new BlameCollector(PROTOCOL, 'r3');
  // Own finding from r2p: this party holds the dealer's signed share, so it can stand by the blame
  // (and the runner's abort notice lets every other party re-check it).
  for (const j of state.accused ?? []) blame.blame(j, SHARE_FAULT);
  const complaints: string[] = [];
  for (const [j, m] of peersOf<KeygenRound3Msg>(inbox, ctx)) {
    if (m.kind === 'complaint') {
      complaints.push(
        `party ${j} reports an invalid share from part${m.accused.length > 1 ? 'ies' : 'y'} ${m.accused.join(', ')}`,
      );
      continue;
    }
    // z_j·G =? A_j + e_j·X_j with e_j = H(sid, j, rid, X_j, A_j)
    checkSchnorr(blame, ctx, rid, publicShares[j] as Point, (decommitments[j] as KeygenDecommitment).A, j, m.z);
  }
  blame.throwIfAny();
  if (complaints.length > 0) {
    // Nobody else can check a P2P share from a complaint alone (PROTOCOL.md §3.2 caveat): abort
    // without blaming on hearsay. The complainer's abort notice then settles it (see the module doc).
    throw unattributed('r3', `${complaints.join('; ')} (point-to-point fault: awaiting the evidence)`);
  }
  const share: CoreKeyShare = {
    version: 1,
    i: ctx.self,
    n: ctx.n,
    t: state.t,
    x: need(state.x, 'secret share'),
    publicShares,
    publicKey: need(state.publicKey, 'public key'),
    chainCode: need(state.chainCode, 'chain code'),
    additive: state.additive,
  };
  return { output: validateCoreKeyShare(share) };
}

/**
 * Key generation as a round-based protocol (PROTOCOL.md §3): `t`-of-n Feldman VSS, or n-of-n
 * additive with `additive: true` (t = n). n and the own index come from the round context.
 *
 * @throws MpcError ERR_PROTOCOL_INPUT from `init` for t ∉ [1, n], n < 2, additive with t ≠ n
 * @example const r = simulate(keygen, [{ t: 2 }, { t: 2 }, { t: 2 }], { sid, math, rngs });
 */
export const keygen: ProtocolDef<KeygenInput, KeygenState, CoreKeyShare> = {
  name: PROTOCOL,
  rounds: [round1, round2, round2p, round3],
  init,
  judge,
  process(round, state, inbox, ctx) {
    if (round !== state.step) throw new MpcError('ERR_ROUND_ORDER', `keygen state is at ${state.step}, not ${round}`);
    switch (state.step) {
      case 'r1':
        return afterRound1(state, inbox, ctx);
      case 'r2':
        return afterRound2(state, inbox, ctx);
      case 'r2p':
        return afterRound2p(state, inbox, ctx);
      case 'r3':
        return afterRound3(state, inbox, ctx);
    }
  },
};

// --- key share validation and storage codec ----------------------------------------------------

function invalid(message: string, cause?: unknown): MpcError {
  return new MpcError('ERR_KEY_SHARE_INVALID', `core key share: ${message}`, cause === undefined ? {} : { cause });
}

/**
 * Validates a core key share (PROTOCOL.md §3.2 "Key-share validation"; cggmp21 key-share valid.rs):
 * sizes and indices in range; every public share and Y a valid non-identity point; evaluation points
 * I(j) = j + 1 distinct and non-zero; x_i ∈ [1, q) with x_i·G = X_i; for t-of-n the first t and the
 * last t public shares both interpolate to Y at 0 (Lagrange), for n-of-n Σ_j X_j = Y; a 32-byte chain code.
 * Returns the share itself (parse, don't validate).
 *
 * @throws MpcError ERR_KEY_SHARE_INVALID naming the failed check (never a value)
 * @example const share = validateCoreKeyShare(decodeCoreKeyShare(bytes));
 */
export function validateCoreKeyShare(share: CoreKeyShare): CoreKeyShare {
  if (typeof share !== 'object' || share === null) throw invalid('not an object');
  const { i, n, t, x, publicShares, publicKey, chainCode, additive } = share;
  if (share.version !== 1) throw invalid('unsupported version');
  if (!Number.isInteger(n) || n < 2 || n > KEYGEN_MAX_PARTIES) throw invalid('n out of range');
  if (!Number.isInteger(i) || i < 0 || i >= n) throw invalid('index out of range');
  if (!Number.isInteger(t) || t < 1 || t > n) throw invalid('threshold out of range');
  if (typeof additive !== 'boolean') throw invalid('additive flag is not a boolean');
  if (additive && t !== n) throw invalid('additive share with t ≠ n');
  const { epoch } = share;
  if (epoch !== undefined && (!Number.isInteger(epoch) || epoch < 0 || epoch > MAX_KEY_EPOCH)) {
    throw invalid('epoch is not an integer in [0, 2^32)');
  }
  if (!(chainCode instanceof Uint8Array) || chainCode.length !== CHAIN_CODE_BYTES)
    throw invalid('chain code must be 32 bytes');
  if (!Array.isArray(publicShares) || publicShares.length !== n) throw invalid('needs exactly n public shares');
  publicShares.forEach((X, j) => {
    if (!isValidNonIdentity(X)) throw invalid(`public share ${j} is not a valid non-identity point`);
  });
  if (!isValidNonIdentity(publicKey)) throw invalid('public key is not a valid non-identity point');
  // Evaluation points I(j) = j + 1: distinct and non-zero mod q (A16). Holds by construction for
  // n < q; asserted so a future change of the index map cannot silently break it.
  const pts = new Set(Array.from({ length: n }, (_, j) => mod(evalPoint(j), CURVE_ORDER)));
  if (pts.size !== n || pts.has(0n)) throw invalid('evaluation points are not distinct and non-zero');
  if (typeof x !== 'bigint' || x <= 0n || x >= CURVE_ORDER) throw invalid('secret share is not in [1, q)');
  if (!mulBase(x).equals(publicShares[i] as Point)) throw invalid('secret share does not match its public share');
  if (additive) {
    const sum = publicShares.reduce<Point>((acc, X) => acc.add(X), Point.ZERO);
    if (!sum.equals(publicKey)) throw invalid('public shares do not sum to the public key');
  } else {
    const first = Array.from({ length: t }, (_, k) => k);
    const last = Array.from({ length: t }, (_, k) => n - t + k);
    if (!interpolateAtZero(publicShares, first).equals(publicKey))
      throw invalid('first t public shares do not interpolate to the public key');
    if (!interpolateAtZero(publicShares, last).equals(publicKey))
      throw invalid('last t public shares do not interpolate to the public key');
  }
  return share;
}

const SHARE_MAX_BYTES = 2 + 4 + 12 + 1 + SCALAR_BYTES + CHAIN_CODE_BYTES + POINT_BYTES * (KEYGEN_MAX_PARTIES + 1);

/**
 * Storage encoding of a core key share (versioned, fixed layout):
 * tag 0x4b ‖ version (1 | 2) ‖ [u32 epoch, version 2 only] ‖ u32 i ‖ u32 n ‖ u32 t ‖ u8 additive ‖ x (32) ‖ chain code (32) ‖ X_0..X_{n−1} (33 each) ‖ Y (33).
 * The output contains the secret share: store it encrypted.
 *
 * @throws MpcError ERR_KEY_SHARE_INVALID when the share does not validate
 * @example await writeSealed(path, encodeCoreKeyShare(share));
 */
export function encodeCoreKeyShare(share: CoreKeyShare): Uint8Array {
  validateCoreKeyShare(share);
  const epoch = share.epoch ?? 0;
  const w = new WireWriter().u8(SHARE_TAG).u8(epoch === 0 ? SHARE_VERSION_NO_EPOCH : SHARE_VERSION);
  if (epoch !== 0) w.u32(epoch);
  w.u32(share.i)
    .u32(share.n)
    .u32(share.t)
    .u8(share.additive ? 1 : 0)
    .fixed(toBytesBE(share.x, SCALAR_BYTES))
    .fixed(share.chainCode);
  for (const X of share.publicShares) w.fixed(encodePoint(X));
  return w.fixed(encodePoint(share.publicKey)).finish();
}

/**
 * Strict decoder of `encodeCoreKeyShare` output: exact layout, canonical values, then
 * `validateCoreKeyShare`. Accepts version 1 (no epoch: epoch 0) and version 2.
 *
 * @throws MpcError ERR_KEY_SHARE_INVALID for any malformed or inconsistent input (the wire error is the cause)
 * @example const share = decodeCoreKeyShare(bytes);
 */
export function decodeCoreKeyShare(bytes: Uint8Array): CoreKeyShare {
  let share: CoreKeyShare;
  try {
    const r = new WireReader(bytes, SHARE_MAX_BYTES);
    r.tag('key-share.tag', SHARE_TAG);
    const version = r.u8('key-share.version');
    if (version !== SHARE_VERSION && version !== SHARE_VERSION_NO_EPOCH) throw invalid('unsupported version');
    // Version 1 shares predate epochs: they are epoch 0.
    const epoch = version === SHARE_VERSION_NO_EPOCH ? 0 : r.u32('key-share.epoch');
    if (version === SHARE_VERSION && epoch === 0) throw invalid('epoch 0 must use the version-1 encoding');
    const i = r.u32('key-share.i');
    const n = r.u32('key-share.n');
    const t = r.u32('key-share.t');
    // Bound n before reading n points (the DoS guard); the rest is checked by validation.
    if (n < 2 || n > KEYGEN_MAX_PARTIES) throw invalid('n out of range');
    const flag = r.u8('key-share.additive');
    if (flag > 1) throw invalid('additive flag is not 0 or 1');
    const x = fromBytesBE(r.fixed('key-share.x', SCALAR_BYTES));
    const chainCode = r.fixed('key-share.chainCode', CHAIN_CODE_BYTES);
    const publicShares = Array.from({ length: n }, (_, j) =>
      decodePoint(r.fixed(`key-share.X[${j}]`, POINT_BYTES), `key-share.X[${j}]`),
    );
    const publicKey = decodePoint(r.fixed('key-share.Y', POINT_BYTES), 'key-share.Y');
    r.end();
    share = { version: 1, i, n, t, x, publicShares, publicKey, chainCode, additive: flag === 1, epoch };
  } catch (e) {
    if (e instanceof MpcError && e.code === 'ERR_KEY_SHARE_INVALID') throw e;
    if (e instanceof MpcError) throw invalid(`malformed encoding (${e.code})`, e);
    throw e;
  }
  return validateCoreKeyShare(share);
}
