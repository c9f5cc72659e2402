/**
 * CGGMP24 presigning: 3 rounds + the echo round of round 1 (ePrint 2021/060, 3-round presigning
 * figure, as corrected in LFDT-Lockness/cggmp21 spec/main.tex; PROTOCOL.md §5; cggmp21
 * cggmp21/src/signing.rs). Runs among the t signers of a key share with the framework of
 * `types.ts`: ctx.n = t and ctx.self = the party's position in `signers`.
 *
 * Rounds (message names are the `RoundDef` names):
 *   'r1'     broadcast, reliable  (ctx, K_i, G_i)                                 §5 Round 1
 *   'r1-enc' p2p                  ψ0_{j,i} = Πenc(K_i) with P_j's ring-Pedersen   §5 Round 1
 *   'r2'     p2p                  (Γ_i, D_{j,i}, F_{j,i}, D̂_{j,i}, F̂_{j,i}, ψ, ψ̂, ψ')  §5 Round 2
 *   'r3'     p2p                  (δ_i, Δ_i, ψ'')                                 §5 Round 3
 * Output: verify ψ'', δ·G = Σ Δ_j, R = δ⁻¹·Γ (= k⁻¹·G).                        §5 Output
 *
 * Naming table (paper → code): K_i → K, G_i → G, k_i → k, γ_i → gamma, ρ_i → rho, ν_i → nu,
 * Γ_i → Gamma, Γ → GammaSum, β_{i,j} → beta, β̂_{i,j} → hatBeta, s_{i,j} → s, ŝ_{i,j} → hatS,
 * r_{i,j} → r, r̂_{i,j} → hatR, D_{j,i} → D, F_{j,i} → F, D̂ → hatD, F̂ → hatF, ψ → psi,
 * ψ̂ → hatPsi, ψ' → psiPrime, ψ'' → psiPrimePrime, δ_i → delta, Δ_i → Delta, χ_i → chi.
 * Subscripts: D_{j,i} is "for j, from i" (a ciphertext under N_j that P_i sends to P_j).
 *
 * Input mapping (§5.0): t-of-n shares become additive shares of the signing set with Lagrange
 * coefficients, x_i := λ_i·x'_{S(i)}, X_j := λ_j·X'_{S(j)} (Σ_j X_j = Y). The BIP32 shift δ_HD of
 * `path` is added to signer 0's share and public share, so Σ_j X_j = Y' = Y + δ_HD·G: the
 * presignature can only ever sign for the derived key it was made for (§8.2, CVE-2025-66017).
 *
 * Every check is run for every peer and every faulty peer is blamed (BlameCollector); a failed
 * δ check aborts with `details.reason = 'delta-mismatch'` and no blame (identification, §7.2, is a
 * separate step: the state passed to the last round keeps everything it needs).
 *
 * Point-to-point faults (ψ0, the round-2 ciphertexts and ψ, ψ̂, ψ', ψ'') are seen only by their
 * recipient; its abort notice (runner.ts) carries the sender's signed message, and `presign.judge`
 * re-runs the recipient's checks at every other party with the recipient's public data (its
 * ring-Pedersen parameters and Paillier key, its K_i, the agreed K_j, G_j, X_j and Γ). Faults that
 * only the recipient's Paillier secret key can show (a D_{i,j} that decrypts to a wrong value) are
 * not judged this way: §7.2 identification (identify.ts) covers them.
 */

import { equalBytes } from '@noble/curves/utils.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { MpcError } from '../errors/index.js';
import type { MathBackend } from '../math/backend.js';
import { mod } from '../math/bits.js';
import {
  CURVE_ORDER,
  decodePoint,
  encodePoint,
  G,
  mulBase,
  mulPublic,
  mulSecret,
  POINT_BYTES,
  Point,
} from '../primitives/curve.js';
import {
  assertCiphertext,
  decrypt,
  encrypt,
  encryptCrt,
  type PaillierPublicKey,
  type PaillierSecretKey,
  paillierPublicKey,
  paillierSecretKey,
  scalarMul,
} from '../primitives/paillier.js';
import { type RingPedersenParams, ringPedersenParams } from '../primitives/ring-pedersen.js';
import { WireReader, WireWriter } from '../util/wire.js';
import {
  AFF_G_PROOF_MAX_BYTES,
  type AffGProof,
  decodeAffGProof,
  encodeAffGProof,
  proveAffG,
  verifyAffG,
} from '../zk/aff-g.js';
import { TAG_PREFIX } from '../zk/common.js';
import { decodeEncProof, ENC_PROOF_MAX_BYTES, type EncProof, encodeEncProof, proveEnc, verifyEnc } from '../zk/enc.js';
import {
  decodeLogStarProof,
  encodeLogStarProof,
  LOG_STAR_PROOF_MAX_BYTES,
  type LogStarProof,
  proveLogStar,
  verifyLogStar,
} from '../zk/log-star.js';
import { MAX_MODULUS_BITS, SECURITY } from '../zk/params.js';
import { BlameCollector, judgeWith, PENDING } from './blame.js';
import { assertDerivationPath, derivePath } from './hd.js';
import type { KeyShare } from './key-share.js';
import { validateKeyShare } from './key-share-validate.js';
import { evaluationPoint, lagrangeCoefficient } from './lagrange.js';
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

export const PRESIGN_PROTOCOL = 'presign';

/** Proof-context labels: the two Πaff-g and the two Πlog* of one run are distinct statements. */
const LABEL = Object.freeze({
  psi0: 'psi0',
  psi: 'not-hat',
  hatPsi: 'hat',
  psiPrime: 'psi-prime',
  psiPrimePrime: 'psi-prime-prime',
});

// --- input and output ----------------------------------------------------------------------------

export interface PresignInput {
  readonly share: KeyShare;
  /** Key-share indices of the t signers: sorted, distinct, each < n, including the own index. */
  readonly signers: readonly number[];
  /** BIP32 non-hardened path (indices < 2^31), possibly empty: the key this presignature signs for. */
  readonly path: readonly number[];
}

/**
 * One party's presignature. Use it for exactly one signature (sign.ts consumes it in a ledger
 * first) and erase it afterwards. `k` and `chi` are SECRET; everything else is public and
 * identical at every signer.
 */
export interface Presignature {
  readonly version: 1;
  /** hex SHA-256 over (sid, R, signers, path): the ledger key. */
  readonly id: string;
  /** Execution id of the presigning run. */
  readonly sid: Uint8Array;
  /** Key-share indices of the signers (the set the presignature was made with). */
  readonly signers: readonly number[];
  /** This party's position in `signers`. */
  readonly self: number;
  /** The derivation path the presignature is bound to. */
  readonly path: readonly number[];
  /** The (derived) public key Y' = Y + δ_HD·G that the signature will verify under. */
  readonly publicKey: Point;
  /** R = δ⁻¹·Γ = k⁻¹·G, where k = Σ k_j. */
  readonly R: Point;
  /** SECRET: k_i, this party's additive share of k. */
  readonly k: bigint;
  /** SECRET: χ_i, this party's additive share of k·x' (x' = derived secret key). */
  readonly chi: bigint;
  /** Epoch of the key shares it was made from (absent = 0); sign.ts refuses it under another epoch. */
  readonly epoch?: number;
}

// --- state ---------------------------------------------------------------------------------------

/** Public Paillier / ring-Pedersen data and adjusted public share of one signer (by position). */
export interface PresignPeer {
  readonly pk: PaillierPublicKey;
  readonly rp: RingPedersenParams;
  /** X_j after Lagrange weighting (and the HD shift for position 0). */
  readonly X: Point;
}

/** What P_i sent to P_j in round 2, with every secret it used (kept for identification, §7.2). */
export interface MtaSent {
  /** SECRET masks β_{i,j}, β̂_{i,j} ∈ ±2^ℓ'. */
  readonly beta: bigint;
  readonly hatBeta: bigint;
  /** SECRET nonces s_{i,j}, ŝ_{i,j} ∈ Z*_{N_j} (inside D, D̂) and r_{i,j}, r̂_{i,j} ∈ Z*_{N_i} (F, F̂). */
  readonly s: bigint;
  readonly hatS: bigint;
  readonly r: bigint;
  readonly hatR: bigint;
  /** D_{j,i}, F_{j,i}, D̂_{j,i}, F̂_{j,i} as sent. */
  readonly D: bigint;
  readonly F: bigint;
  readonly hatD: bigint;
  readonly hatF: bigint;
}

/** What P_i received from P_j in round 2 (public, all proofs verified). */
export interface MtaReceived {
  readonly Gamma: Point;
  /** D_{i,j}, F_{i,j}, D̂_{i,j}, F̂_{i,j} */
  readonly D: bigint;
  readonly F: bigint;
  readonly hatD: bigint;
  readonly hatF: bigint;
}

interface StateBase {
  readonly version: 1;
  /** Proof context id: SHA-256 of (sid, signers, path, Y', every signer's aux data). */
  readonly psid: Uint8Array;
  readonly sid: Uint8Array;
  readonly signers: readonly number[];
  readonly path: readonly number[];
  readonly publicKey: Point;
  /** SECRET: additive share x_i (Lagrange-weighted, HD-shifted for position 0). */
  readonly x: bigint;
  /** Key epoch of the shares (bound into psid: shares of two epochs never presign together). */
  readonly epoch?: number;
  /** SECRET: own Paillier key. */
  readonly sk: PaillierSecretKey;
  /** Indexed by position in `signers`, own entry included. */
  readonly peers: readonly PresignPeer[];
  /** SECRET: k_i, γ_i ∈ Z_q and the nonces ρ_i, ν_i ∈ Z*_{N_i} of K_i, G_i. */
  readonly k: bigint;
  readonly gamma: bigint;
  readonly rho: bigint;
  readonly nu: bigint;
  /** K_i = enc_i(k_i; ρ_i), G_i = enc_i(γ_i; ν_i). */
  readonly K: bigint;
  readonly G: bigint;
}

interface StateR1 extends StateBase {
  readonly step: 'r1';
}
interface StateR1Enc extends StateBase {
  readonly step: 'r1-enc';
  /** K_j, G_j of every signer (own included), by position; reliable-broadcast agreed. */
  readonly Ks: readonly bigint[];
  readonly Gs: readonly bigint[];
}
interface StateR2 extends Omit<StateR1Enc, 'step'> {
  readonly step: 'r2';
  readonly Gamma: Point;
  /** By position; null at the own position. */
  readonly sent: ReadonlyArray<MtaSent | null>;
}
/** The state the output step runs on: everything §7.2 identification needs. */
interface StateR3 extends Omit<StateR2, 'step'> {
  readonly step: 'r3';
  readonly received: ReadonlyArray<MtaReceived | null>;
  /** Γ = Σ_j Γ_j */
  readonly GammaSum: Point;
  /** Δ_i = k_i·Γ */
  readonly Delta: Point;
  /** δ_i (public once sent) and χ_i (SECRET). */
  readonly delta: bigint;
  readonly chi: bigint;
}

export type PresignState = StateR1 | StateR1Enc | StateR2 | StateR3;

// --- messages ------------------------------------------------------------------------------------

export interface MsgR1 {
  /** The sender's psid: parties that disagree on signers, path, key or aux data stop here. */
  readonly ctx: Uint8Array;
  readonly K: bigint;
  readonly G: bigint;
}
export interface MsgR1Enc {
  readonly psi0: EncProof;
}
export interface MsgR2 {
  readonly Gamma: Point;
  readonly D: bigint;
  readonly F: bigint;
  readonly hatD: bigint;
  readonly hatF: bigint;
  readonly psi: AffGProof;
  readonly hatPsi: AffGProof;
  readonly psiPrime: LogStarProof;
}
export interface MsgR3 {
  readonly delta: bigint;
  readonly Delta: Point;
  readonly psiPrimePrime: LogStarProof;
}

const WIRE_VERSION = 1;
/** A Paillier ciphertext of a peer: below N² with N ≤ 2^4096 (membership is checked in the round). */
const CIPHERTEXT_BITS = 2 * MAX_MODULUS_BITS;
const CT_BYTES = 5 + CIPHERTEXT_BITS / 8;

const r1Def: RoundDef<MsgR1> = {
  name: 'r1',
  kind: 'broadcast',
  reliable: true,
  encode: (m) => new WireWriter().u8(0x51).u8(WIRE_VERSION).fixed(m.ctx).biguint(m.K).biguint(m.G).finish(),
  decode(bytes) {
    const r = new WireReader(bytes, 2 + 32 + 2 * CT_BYTES);
    r.tag('presign.r1.tag', 0x51);
    r.tag('presign.r1.version', WIRE_VERSION);
    const m = {
      ctx: r.fixed('presign.r1.ctx', 32),
      K: r.biguint('presign.r1.K', CIPHERTEXT_BITS),
      G: r.biguint('presign.r1.G', CIPHERTEXT_BITS),
    };
    r.end();
    return m;
  },
};

const r1EncDef: RoundDef<MsgR1Enc> = {
  name: 'r1-enc',
  kind: 'p2p',
  encode: (m) => new WireWriter().u8(0x52).u8(WIRE_VERSION).bytes(encodeEncProof(m.psi0)).finish(),
  decode(bytes) {
    const r = new WireReader(bytes, 2 + 4 + ENC_PROOF_MAX_BYTES);
    r.tag('presign.r1-enc.tag', 0x52);
    r.tag('presign.r1-enc.version', WIRE_VERSION);
    const m = { psi0: decodeEncProof(r.bytes('presign.r1-enc.psi0', ENC_PROOF_MAX_BYTES)) };
    r.end();
    return m;
  },
};

const R2_MAX = 2 + POINT_BYTES + 4 * CT_BYTES + 2 * (4 + AFF_G_PROOF_MAX_BYTES) + 4 + LOG_STAR_PROOF_MAX_BYTES;
const r2Def: RoundDef<MsgR2> = {
  name: 'r2',
  kind: 'p2p',
  encode: (m) =>
    new WireWriter()
      .u8(0x53)
      .u8(WIRE_VERSION)
      .fixed(encodePoint(m.Gamma))
      .biguint(m.D)
      .biguint(m.F)
      .biguint(m.hatD)
      .biguint(m.hatF)
      .bytes(encodeAffGProof(m.psi))
      .bytes(encodeAffGProof(m.hatPsi))
      .bytes(encodeLogStarProof(m.psiPrime))
      .finish(),
  decode(bytes) {
    const r = new WireReader(bytes, R2_MAX);
    r.tag('presign.r2.tag', 0x53);
    r.tag('presign.r2.version', WIRE_VERSION);
    const m: MsgR2 = {
      Gamma: decodePoint(r.fixed('presign.r2.Gamma', POINT_BYTES), 'presign.r2.Gamma'),
      D: r.biguint('presign.r2.D', CIPHERTEXT_BITS),
      F: r.biguint('presign.r2.F', CIPHERTEXT_BITS),
      hatD: r.biguint('presign.r2.hatD', CIPHERTEXT_BITS),
      hatF: r.biguint('presign.r2.hatF', CIPHERTEXT_BITS),
      psi: decodeAffGProof(r.bytes('presign.r2.psi', AFF_G_PROOF_MAX_BYTES)),
      hatPsi: decodeAffGProof(r.bytes('presign.r2.hatPsi', AFF_G_PROOF_MAX_BYTES)),
      psiPrime: decodeLogStarProof(r.bytes('presign.r2.psiPrime', LOG_STAR_PROOF_MAX_BYTES)),
    };
    r.end();
    return m;
  },
};

const r3Def: RoundDef<MsgR3> = {
  name: 'r3',
  kind: 'p2p',
  encode: (m) =>
    new WireWriter()
      .u8(0x54)
      .u8(WIRE_VERSION)
      .biguint(m.delta)
      .fixed(encodePoint(m.Delta))
      .bytes(encodeLogStarProof(m.psiPrimePrime))
      .finish(),
  decode(bytes) {
    const r = new WireReader(bytes, 2 + 4 + 32 + POINT_BYTES + 4 + LOG_STAR_PROOF_MAX_BYTES);
    r.tag('presign.r3.tag', 0x54);
    r.tag('presign.r3.version', WIRE_VERSION);
    const delta = r.biguint('presign.r3.delta', 256);
    // δ_j is a scalar: canonical in [0, q), so that its encoding is unique.
    if (delta >= CURVE_ORDER) {
      throw new MpcError('ERR_WIRE_BIGINT_TOO_LARGE', 'presign.r3.delta is not below q', {
        details: { path: 'presign.r3.delta' },
      });
    }
    const m: MsgR3 = {
      delta,
      Delta: decodePoint(r.fixed('presign.r3.Delta', POINT_BYTES), 'presign.r3.Delta'),
      psiPrimePrime: decodeLogStarProof(r.bytes('presign.r3.psiPrimePrime', LOG_STAR_PROOF_MAX_BYTES)),
    };
    r.end();
    return m;
  },
};

// --- helpers -------------------------------------------------------------------------------------

function inputError(why: string): never {
  throw new MpcError('ERR_PROTOCOL_INPUT', `presign input rejected: ${why}`);
}

/** Abort without blame (nobody identifiable yet): the reason is machine-readable in details. */
function unblamedAbort(round: string, reason: string, why: string): MpcError {
  return new MpcError('ERR_PROTOCOL_ABORT', `${PRESIGN_PROTOCOL} aborted in ${round}: ${why}`, {
    blame: [],
    details: { protocol: PRESIGN_PROTOCOL, round, reason },
  });
}

/** Uniform non-zero scalar in [1, q). */
function randScalar(ctx: RoundCtx): bigint {
  return 1n + ctx.math.randBelow(CURVE_ORDER - 1n, ctx.rng);
}

/** Uniform in [−B, B) (the spec's "±B"). */
function randSigned(math: MathBackend, bound: bigint, ctx: RoundCtx): bigint {
  return math.randBelow(2n * bound, ctx.rng) - bound;
}

/** blame.guard that also tells whether the check passed. */
function passes(blame: BlameCollector, party: number, what: string, check: () => void): boolean {
  let ok = true;
  blame.guard(party, what, () => {
    try {
      check();
    } catch (e) {
      ok = false;
      throw e;
    }
  });
  return ok;
}

function others(ctx: RoundCtx): number[] {
  return [...Array(ctx.n).keys()].filter((j) => j !== ctx.self);
}

function assertStep<S extends PresignState['step']>(
  state: PresignState,
  step: S,
  round: string,
): asserts state is Extract<PresignState, { step: S }> {
  if (state === undefined || state.step !== step) {
    throw new MpcError('ERR_ROUND_ORDER', `presign state is not ready for round ${round}`);
  }
}

/**
 * Proof-context id of the run: binds every proof to the execution id AND to the signing set, the
 * path, the derived key, every signer's Paillier/ring-Pedersen data (SECURITY.md A11) and the key
 * epoch (a signer holding a share of another epoch sends another psid in r1 and is refused).
 */
function presignContextId(
  sid: Uint8Array,
  signers: readonly number[],
  path: readonly number[],
  Y: Point,
  peers: readonly PresignPeer[],
  epoch: number,
): Uint8Array {
  const w = new WireWriter().bytes(new TextEncoder().encode(`${TAG_PREFIX}.presign.context`)).bytes(sid);
  w.u32(signers.length);
  for (const s of signers) w.u32(s);
  w.u32(path.length);
  for (const idx of path) w.u32(idx);
  w.fixed(encodePoint(Y));
  for (const p of peers) w.biguint(p.rp.n).biguint(p.rp.s).biguint(p.rp.t).fixed(encodePoint(p.X));
  w.u32(epoch);
  return sha256(w.finish());
}

/**
 * Presignature id: hex SHA-256 over (tag, sid, R, signers, path), length-prefixed. Public; it keys
 * the consume-once ledger, so the same (R, signers, path) can never be signed with twice.
 *
 * @throws MpcError ERR_WIRE_POINT_INVALID when R is the identity
 * @example const id = presignatureId(ctx.sid, R, [0, 2, 4], [0, 1, 7]);
 */
export function presignatureId(sid: Uint8Array, R: Point, signers: readonly number[], path: readonly number[]): string {
  const w = new WireWriter()
    .bytes(new TextEncoder().encode(`${TAG_PREFIX}.presignature.id`))
    .bytes(sid)
    .fixed(encodePoint(R));
  w.u32(signers.length);
  for (const s of signers) w.u32(s);
  w.u32(path.length);
  for (const idx of path) w.u32(idx);
  return bytesToHex(sha256(w.finish()));
}

// --- init: §5.0 input mapping and Round 1 ----------------------------------------------------------

function init(input: PresignInput, ctx: RoundCtx): { state: PresignState; outbox: Outgoing[] } {
  const { math } = ctx;
  if (input === null || typeof input !== 'object') inputError('input must be an object');
  const share = validateKeyShare(math, input.share);
  const { core, aux } = share;
  const { signers, path } = input;
  assertDerivationPath(path);
  if (!Array.isArray(signers) || signers.length !== core.t) inputError('signers must list exactly t key-share indices');
  signers.forEach((s, j) => {
    if (!Number.isInteger(s) || s < 0 || s >= core.n) inputError('every signer must be a key-share index < n');
    if (j > 0 && s <= (signers[j - 1] as number)) inputError('signers must be sorted and distinct');
  });
  if (ctx.n !== signers.length) inputError('the run must have exactly one party per signer');
  if (signers[ctx.self] !== core.i) inputError('own position in signers does not hold the own key-share index');

  // §5.0: additive shares of the signing set. t-of-n: λ_j = Π_{m≠j} I_m / (I_m − I_j), I_m = S(m) + 1;
  // x_i := λ_i·x'_{S(i)}, X_j := λ_j·X'_{S(j)}. n-of-n: λ_j = 1.
  const points = signers.map(evaluationPoint);
  const lambda = (j: number): bigint => (core.additive ? 1n : lagrangeCoefficient(points, j, 0n));
  let x = mod(lambda(ctx.self) * core.x, CURVE_ORDER);
  const X = signers.map((s, j) => mulPublic(core.publicShares[s] as Point, lambda(j)));
  // §5.0 / §8.1 HD shift: δ_HD from (Y, c, path); signer 0 adds δ_HD to x_0 and δ_HD·G to X_0.
  const derived = derivePath(core.publicKey, core.chainCode, path);
  if (derived.shift !== 0n) {
    if (ctx.self === 0) x = mod(x + derived.shift, CURVE_ORDER);
    X[0] = (X[0] as Point).add(mulBase(derived.shift));
  }
  // Σ_j X_j = Y' (cggmp21 asserts the same): the shares really are additive shares of the derived key.
  const sum = X.reduce((a, P) => a.add(P), Point.ZERO);
  if (!sum.equals(derived.publicKey)) {
    throw new MpcError('ERR_KEY_SHARE_INVALID', 'adjusted public shares do not sum to the (derived) public key');
  }
  if (x === 0n || X.some((P) => P.is0())) {
    // Only when x_0 + δ_HD ≡ 0 (probability ~2^-256): another path index avoids it.
    inputError('the derivation path makes a signer share zero; use another index');
  }

  const sk = paillierSecretKey(math, aux.p, aux.q, SECURITY.minModulusBits);
  const peers: PresignPeer[] = signers.map((s, j) => {
    const pa = aux.parties[s] as { N: bigint; s: bigint; t: bigint };
    return {
      pk: paillierPublicKey(pa.N, SECURITY.minModulusBits),
      rp: ringPedersenParams(math, pa.N, pa.s, pa.t, SECURITY.minModulusBits),
      X: X[j] as Point,
    };
  });
  const epoch = core.epoch ?? 0;
  const psid = presignContextId(ctx.sid, signers, path, derived.publicKey, peers, epoch);

  // Round 1: k_i, γ_i ← Z_q; ρ_i, ν_i ← Z*_{N_i}; K_i = enc_i(k_i; ρ_i), G_i = enc_i(γ_i; ν_i) (CRT).
  const k = randScalar(ctx);
  const gamma = randScalar(ctx);
  const rho = math.randUnit(sk.pub.n, ctx.rng);
  const nu = math.randUnit(sk.pub.n, ctx.rng);
  const K = encryptCrt(math, sk, k, rho);
  const Gi = encryptCrt(math, sk, gamma, nu);
  const outbox: Outgoing[] = [{ round: 'r1', to: ALL, body: { ctx: psid, K, G: Gi } satisfies MsgR1 }];
  // ψ0_{j,i} = Πenc for (N_i, K_i), witness (k_i, ρ_i), with P_j's (N̂_j, s_j, t_j).
  for (const j of others(ctx)) {
    const psi0 = proveEnc(
      math,
      { sid: psid, prover: ctx.self, label: LABEL.psi0 },
      (peers[j] as PresignPeer).rp,
      { pk: sk.pub, K },
      { k, rho },
      ctx.rng,
    );
    outbox.push({ round: 'r1-enc', to: j, body: { psi0 } satisfies MsgR1Enc });
  }
  const state: StateR1 = {
    version: 1,
    step: 'r1',
    psid,
    sid: Uint8Array.from(ctx.sid),
    signers: [...signers],
    path: [...path],
    publicKey: derived.publicKey,
    x,
    epoch,
    sk,
    peers,
    k,
    gamma,
    rho,
    nu,
    K,
    G: Gi,
  };
  return { state, outbox };
}

// --- per-message checks (shared by the rounds and `judge`) ---------------------------------------
// Each takes the verifier v (the recipient of the message) and uses only public data: v's
// ring-Pedersen parameters and Paillier key, the agreed K_j, G_j, X_j and Γ. In the rounds v is
// the party itself; in `judge` it is the accuser of an abort notice.

type WithKs = Extract<PresignState, { readonly Ks: readonly bigint[] }>;

/** §5 Round 2 step 1: ψ0_{v,j} on (N_j, K_j) with R_v and shared state (sid, j). */
function checkPsi0(blame: BlameCollector, math: MathBackend, state: WithKs, v: number, j: number, m: MsgR1Enc): void {
  const peer = state.peers[j] as PresignPeer;
  blame.guard(j, 'invalid Πenc ψ0 for K_j', () =>
    verifyEnc(
      math,
      { sid: state.psid, prover: j, label: LABEL.psi0 },
      (state.peers[v] as PresignPeer).rp,
      { pk: peer.pk, K: state.Ks[j] as bigint },
      m.psi0,
    ),
  );
}

/**
 * §5 Round 3 checks of j's round-2 message to v: ciphertext membership (A15: D, D̂ under N_v; F, F̂
 * under N_j), then ψ_{v,j} on (N_v, N_j, K_v, D, F, Γ_j), ψ̂_{v,j} on (…, D̂, F̂, X_j) and ψ'_{v,j} on
 * (N_j, G_j, Γ_j, G), all with R_v. No proof work for a peer already caught on membership.
 */
function checkR2(blame: BlameCollector, math: MathBackend, state: WithKs, v: number, j: number, m: MsgR2): void {
  const own = state.peers[v] as PresignPeer;
  const peer = state.peers[j] as PresignPeer;
  const Kv = state.Ks[v] as bigint;
  const sc = (label: string) => ({ sid: state.psid, prover: j, label });
  const members = [
    passes(blame, j, 'D_{i,j} not in Z*_{N_i²}', () => assertCiphertext(math, own.pk, m.D, 'D')),
    passes(blame, j, 'D̂_{i,j} not in Z*_{N_i²}', () => assertCiphertext(math, own.pk, m.hatD, 'hatD')),
    passes(blame, j, 'F_{i,j} not in Z*_{N_j²}', () => assertCiphertext(math, peer.pk, m.F, 'F')),
    passes(blame, j, 'F̂_{i,j} not in Z*_{N_j²}', () => assertCiphertext(math, peer.pk, m.hatF, 'hatF')),
  ];
  if (members.includes(false)) return;
  blame.guard(j, 'invalid Πaff-g ψ', () =>
    verifyAffG(math, sc(LABEL.psi), own.rp, { pk0: own.pk, pk1: peer.pk, C: Kv, D: m.D, Y: m.F, X: m.Gamma }, m.psi),
  );
  blame.guard(j, 'invalid Πaff-g ψ̂', () =>
    verifyAffG(
      math,
      sc(LABEL.hatPsi),
      own.rp,
      { pk0: own.pk, pk1: peer.pk, C: Kv, D: m.hatD, Y: m.hatF, X: peer.X },
      m.hatPsi,
    ),
  );
  blame.guard(j, "invalid Πlog* ψ'", () =>
    verifyLogStar(
      math,
      sc(LABEL.psiPrime),
      own.rp,
      { pk: peer.pk, C: state.Gs[j] as bigint, X: m.Gamma, B: G },
      m.psiPrime,
    ),
  );
}

/** §5 Output: ψ''_{v,j} on (N_j, K_j, Δ_j, Γ) with R_v. */
function checkR3(blame: BlameCollector, math: MathBackend, state: StateR3, v: number, j: number, m: MsgR3): void {
  blame.guard(j, "invalid Πlog* ψ''", () =>
    verifyLogStar(
      math,
      { sid: state.psid, prover: j, label: LABEL.psiPrimePrime },
      (state.peers[v] as PresignPeer).rp,
      { pk: (state.peers[j] as PresignPeer).pk, C: state.Ks[j] as bigint, X: m.Delta, B: state.GammaSum },
      m.psiPrimePrime,
    ),
  );
}

/**
 * Public re-check of one presign message for abort notices (ProtocolDef.judge): ψ0 (r1-enc), the
 * round-2 message (r2) and ψ'' (r3), each verified for the recipient `ev.to`. r1 is a reliable
 * broadcast: every party checks the same K_j, G_j itself.
 */
function judge(round: string, state: PresignState, ev: Evidence, ctx: RoundCtx): Judgement {
  const j = ev.from;
  const v = ev.to;
  if (round === 'r1-enc' || round === 'r2') {
    if (state.step === 'r1') return PENDING;
    return judgeWith(j, (blame) =>
      round === 'r2'
        ? checkR2(blame, ctx.math, state, v, j, ev.body as MsgR2)
        : checkPsi0(blame, ctx.math, state, v, j, ev.body as MsgR1Enc),
    );
  }
  if (round === 'r3') {
    if (state.step !== 'r3') return PENDING;
    return judgeWith(j, (blame) => checkR3(blame, ctx.math, state, v, j, ev.body as MsgR3));
  }
  return { verdict: 'valid' };
}

// --- rounds --------------------------------------------------------------------------------------

/** Round 1 (after the echo): same context, and K_j, G_j ∈ Z*_{N_j²} (SECURITY.md A15). */
function afterR1(
  state: PresignState,
  inbox: ReadonlyMap<number, unknown>,
  ctx: RoundCtx,
): RoundResult<PresignState, Presignature> {
  assertStep(state, 'r1', 'r1');
  const blame = new BlameCollector(PRESIGN_PROTOCOL, 'r1');
  const Ks: bigint[] = [];
  const Gs: bigint[] = [];
  Ks[ctx.self] = state.K;
  Gs[ctx.self] = state.G;
  for (const j of others(ctx)) {
    const m = inbox.get(j) as MsgR1;
    const pk = (state.peers[j] as PresignPeer).pk;
    if (!equalBytes(m.ctx, state.psid)) blame.blame(j, 'session context (signers, path, key or aux data) differs');
    blame.guard(j, 'K_j not in Z*_{N_j²}', () => assertCiphertext(ctx.math, pk, m.K, 'K_j'));
    blame.guard(j, 'G_j not in Z*_{N_j²}', () => assertCiphertext(ctx.math, pk, m.G, 'G_j'));
    Ks[j] = m.K;
    Gs[j] = m.G;
  }
  blame.throwIfAny();
  return { state: { ...state, step: 'r1-enc', Ks, Gs }, outbox: [] };
}

/** Round 2: verify every ψ0, then the two MtAs per peer with Πaff-g ψ, ψ̂ and Πlog* ψ'. */
function round2(
  state: PresignState,
  inbox: ReadonlyMap<number, unknown>,
  ctx: RoundCtx,
): RoundResult<PresignState, Presignature> {
  assertStep(state, 'r1-enc', 'r1-enc');
  const { math } = ctx;
  const own = state.peers[ctx.self] as PresignPeer;
  const blame = new BlameCollector(PRESIGN_PROTOCOL, 'r1-enc');
  // §5 Round 2 step 1: ψ0_{i,j} on (N_j, K_j) with own R_i and shared state (sid, j).
  for (const j of others(ctx)) checkPsi0(blame, math, state, ctx.self, j, inbox.get(j) as MsgR1Enc);
  blame.throwIfAny();

  // Γ_i = γ_i·G
  const Gamma = mulBase(state.gamma);
  const J = 1n << BigInt(SECURITY.ellPrime);
  const sent: Array<MtaSent | null> = Array.from({ length: ctx.n }, () => null);
  const outbox: Outgoing[] = [];
  for (const j of others(ctx)) {
    const peer = state.peers[j] as PresignPeer;
    const Kj = state.Ks[j] as bigint;
    // β_{i,j}, β̂_{i,j} ← ±2^ℓ'; s, ŝ ← Z*_{N_j}; r, r̂ ← Z*_{N_i}
    const beta = randSigned(math, J, ctx);
    const hatBeta = randSigned(math, J, ctx);
    const s = math.randUnit(peer.pk.n, ctx.rng);
    const hatS = math.randUnit(peer.pk.n, ctx.rng);
    const r = math.randUnit(state.sk.pub.n, ctx.rng);
    const hatR = math.randUnit(state.sk.pub.n, ctx.rng);
    // D_{j,i} = (γ_i ⊙ K_j) ⊕ enc_j(−β_{i,j}; s_{i,j}) = K_j^{γ_i}·(1+N_j)^{−β}·s^{N_j} mod N_j²
    const D = math.mulMod(scalarMul(math, peer.pk, state.gamma, Kj), encrypt(math, peer.pk, -beta, s), peer.pk.n2);
    // F_{j,i} = enc_i(−β_{i,j}; r_{i,j})
    const F = encryptCrt(math, state.sk, -beta, r);
    // D̂_{j,i} = (x_i ⊙ K_j) ⊕ enc_j(−β̂_{i,j}; ŝ_{i,j});  F̂_{j,i} = enc_i(−β̂_{i,j}; r̂_{i,j})
    const hatD = math.mulMod(scalarMul(math, peer.pk, state.x, Kj), encrypt(math, peer.pk, -hatBeta, hatS), peer.pk.n2);
    const hatF = encryptCrt(math, state.sk, -hatBeta, hatR);
    // ψ_{j,i} = Πaff-g(N0 = N_j, N1 = N_i, C = K_j, D, Y = F, X = Γ_i; x = γ_i, y = −β), aux R_j, "not-hat"
    const psi = proveAffG(
      math,
      { sid: state.psid, prover: ctx.self, label: LABEL.psi },
      peer.rp,
      { pk0: peer.pk, pk1: state.sk.pub, C: Kj, D, Y: F, X: Gamma },
      { x: state.gamma, y: -beta, rho: s, rhoY: r },
      ctx.rng,
      state.sk,
    );
    // ψ̂_{j,i} = Πaff-g(…, D̂, F̂, X = X_i; x = x_i, y = −β̂), aux R_j, "hat"
    const hatPsi = proveAffG(
      math,
      { sid: state.psid, prover: ctx.self, label: LABEL.hatPsi },
      peer.rp,
      { pk0: peer.pk, pk1: state.sk.pub, C: Kj, D: hatD, Y: hatF, X: own.X },
      { x: state.x, y: -hatBeta, rho: hatS, rhoY: hatR },
      ctx.rng,
      state.sk,
    );
    // ψ'_{j,i} = Πlog*(N_i, C = G_i, X = Γ_i, B = G; γ_i, ν_i), aux R_j
    const psiPrime = proveLogStar(
      math,
      { sid: state.psid, prover: ctx.self, label: LABEL.psiPrime },
      peer.rp,
      { pk: state.sk.pub, C: state.G, X: Gamma, B: G },
      { x: state.gamma, rho: state.nu },
      ctx.rng,
      state.sk,
    );
    sent[j] = { beta, hatBeta, s, hatS, r, hatR, D, F, hatD, hatF };
    outbox.push({ round: 'r2', to: j, body: { Gamma, D, F, hatD, hatF, psi, hatPsi, psiPrime } satisfies MsgR2 });
  }
  const next: StateR2 = { ...state, step: 'r2', Gamma, sent };
  return { state: next, outbox };
}

/** Round 3: verify ψ, ψ̂, ψ' of every peer; decrypt; δ_i, χ_i, Δ_i and Πlog* ψ''. */
function round3(
  state: PresignState,
  inbox: ReadonlyMap<number, unknown>,
  ctx: RoundCtx,
): RoundResult<PresignState, Presignature> {
  assertStep(state, 'r2', 'r2');
  const { math } = ctx;
  const blame = new BlameCollector(PRESIGN_PROTOCOL, 'r2');
  const received: Array<MtaReceived | null> = Array.from({ length: ctx.n }, () => null);
  for (const j of others(ctx)) {
    const m = inbox.get(j) as MsgR2;
    checkR2(blame, math, state, ctx.self, j, m);
    received[j] = { Gamma: m.Gamma, D: m.D, F: m.F, hatD: m.hatD, hatF: m.hatF };
  }
  blame.throwIfAny();

  // Γ = Σ_j Γ_j (own included); Δ_i = k_i·Γ
  let GammaSum = state.Gamma;
  for (const j of others(ctx)) GammaSum = GammaSum.add((received[j] as MtaReceived).Gamma);
  if (GammaSum.is0()) {
    // Σ γ_j ≡ 0: every Γ_j was committed (G_j) before any was revealed, so this is chance (2^-256).
    throw unblamedAbort('r2', 'gamma-identity', 'Γ is the point at infinity');
  }
  const Delta = mulSecret(GammaSum, state.k);
  // α_{i,j} = dec_i(D_{i,j}), α̂_{i,j} = dec_i(D̂_{i,j}) (signed, no wrap thanks to the range proofs)
  // δ_i = γ_i·k_i + Σ_{j≠i} (α_{i,j} + β_{i,j});  χ_i = x_i·k_i + Σ_{j≠i} (α̂_{i,j} + β̂_{i,j})  (mod q)
  let delta = state.gamma * state.k;
  let chi = state.x * state.k;
  for (const j of others(ctx)) {
    const rec = received[j] as MtaReceived;
    const mine = state.sent[j] as MtaSent;
    delta += decrypt(math, state.sk, rec.D) + mine.beta;
    chi += decrypt(math, state.sk, rec.hatD) + mine.hatBeta;
  }
  delta = mod(delta, CURVE_ORDER);
  chi = mod(chi, CURVE_ORDER);
  const outbox: Outgoing[] = [];
  for (const j of others(ctx)) {
    // ψ''_{j,i} = Πlog*(N_i, C = K_i, X = Δ_i, B = Γ; k_i, ρ_i), aux R_j
    const psiPrimePrime = proveLogStar(
      math,
      { sid: state.psid, prover: ctx.self, label: LABEL.psiPrimePrime },
      (state.peers[j] as PresignPeer).rp,
      { pk: state.sk.pub, C: state.K, X: Delta, B: GammaSum },
      { x: state.k, rho: state.rho },
      ctx.rng,
      state.sk,
    );
    outbox.push({ round: 'r3', to: j, body: { delta, Delta, psiPrimePrime } satisfies MsgR3 });
  }
  const next: StateR3 = { ...state, step: 'r3', received, GammaSum, Delta, delta, chi };
  return { state: next, outbox };
}

/** Output: verify ψ'', δ·G = Σ Δ_j, δ ≠ 0, R = δ⁻¹·Γ ≠ ∞. */
function output(
  state: PresignState,
  inbox: ReadonlyMap<number, unknown>,
  ctx: RoundCtx,
): RoundResult<PresignState, Presignature> {
  assertStep(state, 'r3', 'r3');
  const { math } = ctx;
  const blame = new BlameCollector(PRESIGN_PROTOCOL, 'r3');
  let deltaSum = state.delta;
  let DeltaSum = state.Delta;
  for (const j of others(ctx)) {
    const m = inbox.get(j) as MsgR3;
    // ψ''_{i,j} on (N_j, K_j, Δ_j, Γ)
    checkR3(blame, math, state, ctx.self, j, m);
    deltaSum += m.delta;
    DeltaSum = DeltaSum.add(m.Delta);
  }
  blame.throwIfAny();
  // δ = Σ δ_j mod q; δ·G = Σ_j Δ_j (= k·γ·G). A mismatch means somebody lied about δ_j: §7.2.
  const delta = mod(deltaSum, CURVE_ORDER);
  if (!mulPublic(G, delta).equals(DeltaSum)) {
    throw unblamedAbort('r3', 'delta-mismatch', 'δ·G differs from Σ Δ_j (identification required)');
  }
  if (delta === 0n) throw unblamedAbort('r3', 'delta-zero', 'δ = 0');
  // R = δ⁻¹·Γ = (k·γ)⁻¹·γ·G = k⁻¹·G
  const R = mulPublic(state.GammaSum, Point.Fn.inv(delta));
  if (R.is0()) throw unblamedAbort('r3', 'r-identity', 'R is the point at infinity');
  const presig: Presignature = {
    version: 1,
    id: presignatureId(state.sid, R, state.signers, state.path),
    sid: state.sid,
    signers: state.signers,
    self: ctx.self,
    path: state.path,
    publicKey: state.publicKey,
    R,
    k: state.k,
    chi: state.chi,
    epoch: state.epoch ?? 0,
  };
  return { output: presig };
}

/**
 * The presigning protocol. Inputs per party: its key share, the signing set and the path.
 *
 * @throws (init) MpcError ERR_PROTOCOL_INPUT for a bad signing set / path / run size, ERR_KEY_SHARE_INVALID
 * @throws (rounds) MpcError ERR_PROTOCOL_ABORT with blame naming every faulty peer, or with
 *   details.reason 'delta-mismatch' and no blame when only the δ check fails
 * @example const { outputs } = simulate(presign, signers.map((s) => ({ share: shares[s], signers, path })), { sid, math, rngs });
 */
export const presign: ProtocolDef<PresignInput, PresignState, Presignature> = {
  name: PRESIGN_PROTOCOL,
  rounds: [r1Def, r1EncDef, r2Def, r3Def] as readonly RoundDef[],
  init,
  judge,
  process(round, state, inbox, ctx) {
    switch (round) {
      case 'r1':
        return afterR1(state, inbox, ctx);
      case 'r1-enc':
        return round2(state, inbox, ctx);
      case 'r2':
        return round3(state, inbox, ctx);
      case 'r3':
        return output(state, inbox, ctx);
      default:
        throw new MpcError('ERR_ROUND_ORDER', `presign has no round ${round}`);
    }
  },
};
