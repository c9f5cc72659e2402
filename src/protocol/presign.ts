/**
 * CGGMP24 presigning: 3 rounds + the echo round of round 1, in the form of the 2024 revision of
 * ePrint 2021/060 (Fig. 8 "Presigning", 2024-10-21 revision; proofs of Appendix A: Πenc-elg Fig. 24,
 * Πelog Fig. 23, Πaff-g Fig. 25). The revision commits k_i and γ_i twice: in Paillier (K_i, G_i, for
 * the MtAs) and in ElGamal on the curve (A_i, B_i under an ephemeral key Y_i), and proves with
 * Πenc-elg that both hold the same short value; Γ_i and Δ_i are then tied to B_i and A_i by the
 * curve-only Πelog, which replaces the CGGMP21-era Πlog* on G_i and K_i (PROTOCOL.md §5 describes
 * that older form; entropyxyz/synedrion implements this one). Runs among the t signers of a key
 * share with the framework of `types.ts`: ctx.n = t and ctx.self = the party's position in `signers`.
 *
 * Rounds (message names are the `RoundDef` names; "Fig. 8 R1.2" = Round 1, step 2):
 *   'r1'     broadcast, reliable  (ctx, K_i, G_i, Y_i, A_i, B_i)                    Fig. 8 Round 1
 *   'r1-enc' p2p                  ψ0 = Πenc-elg(K_i, A_i), ψ1 = Πenc-elg(G_i, B_i)
 *                                 with P_j's ring-Pedersen                          Fig. 8 Round 1
 *   'r2'     p2p                  (Γ_i, D_{j,i}, F_{j,i}, D̂_{j,i}, F̂_{j,i}, ψ, ψ̂, ψ' = Πelog)  Fig. 8 Round 2
 *   'r3'     p2p                  (δ_i, Δ_i, ψ'' = Πelog)                            Fig. 8 Round 3
 * Output: verify ψ'', δ·G = Σ Δ_j, R = δ⁻¹·Γ (= k⁻¹·G).                            Fig. 8 Output
 * ψ' and ψ'' have no verifier parameters: one proof per party, sent to every peer in its p2p message
 * (the figure broadcasts them). The revision's S_i = χ_i·Γ of round 3 (for its signing-failure
 * identification, Section 4.3.1) is not sent: invalid signatures are identified by identify.ts (§7.3).
 *
 * Naming table (paper → code): K_i → K, G_i → G, k_i → k, γ_i → gamma, ρ_i → rho, ν_i → nu,
 * Y_i → elg.Y, (A_{i,1}, A_{i,2}) → elg.A1, elg.A2, (B_{i,1}, B_{i,2}) → elg.B1, elg.B2, a_i → a, b_i → b,
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
 * Point-to-point faults (ψ0, ψ1, the round-2 ciphertexts and ψ, ψ̂, ψ', ψ'') are seen only by their
 * recipient; its abort notice (runner.ts) carries the sender's signed message, and `presign.judge`
 * re-runs the recipient's checks at every other party with the recipient's public data (its
 * ring-Pedersen parameters and Paillier key, its K_i, the agreed K_j, G_j, Y_j, A_j, B_j, X_j and Γ). Faults that
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
import {
  decodeElogProof,
  ELOG_PROOF_BYTES,
  type ElogProof,
  encodeElogProof,
  proveElog,
  verifyElog,
} from '../zk/elog.js';
import {
  decodeEncElgProof,
  ENC_ELG_PROOF_MAX_BYTES,
  type EncElgProof,
  encodeEncElgProof,
  proveEncElg,
  verifyEncElg,
} from '../zk/enc-elg.js';
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

/** Proof-context labels: the two Πenc-elg, the two Πaff-g and the two Πelog of one run are distinct statements. */
const LABEL = Object.freeze({
  psi0: 'psi0',
  psi1: 'psi1',
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

/**
 * Fig. 8 Round 1: the ElGamal commitments of k_i and γ_i under the party's ephemeral key Y_i = y_i·G:
 * A_i = (a_i·G, a_i·Y_i + k_i·G), B_i = (b_i·G, b_i·Y_i + γ_i·G). Public (reliable broadcast).
 */
export interface ElgCommitments {
  readonly Y: Point;
  readonly A1: Point;
  readonly A2: Point;
  readonly B1: Point;
  readonly B2: Point;
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
  /** SECRET: the ElGamal nonces a_i (of A_i) and b_i (of B_i); y_i is not kept (never used again). */
  readonly a: bigint;
  readonly b: bigint;
  /** Own Y_i, A_i, B_i. */
  readonly elg: ElgCommitments;
}

interface StateR1 extends StateBase {
  readonly step: 'r1';
}
interface StateR1Enc extends StateBase {
  readonly step: 'r1-enc';
  /** K_j, G_j and Y_j, A_j, B_j of every signer (own included), by position; reliable-broadcast agreed. */
  readonly Ks: readonly bigint[];
  readonly Gs: readonly bigint[];
  readonly Elgs: readonly ElgCommitments[];
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
  readonly elg: ElgCommitments;
}
export interface MsgR1Enc {
  /** Πenc-elg: K_i and A_i hold the same k_i ∈ ±2^ℓ. */
  readonly psi0: EncElgProof;
  /** Πenc-elg: G_i and B_i hold the same γ_i ∈ ±2^ℓ. */
  readonly psi1: EncElgProof;
}
export interface MsgR2 {
  readonly Gamma: Point;
  readonly D: bigint;
  readonly F: bigint;
  readonly hatD: bigint;
  readonly hatF: bigint;
  readonly psi: AffGProof;
  readonly hatPsi: AffGProof;
  /** Πelog: Γ_i = γ_i·G with γ_i the value inside B_i. */
  readonly psiPrime: ElogProof;
}
export interface MsgR3 {
  readonly delta: bigint;
  readonly Delta: Point;
  /** Πelog: Δ_i = k_i·Γ with k_i the value inside A_i. */
  readonly psiPrimePrime: ElogProof;
}

/** 2: the CGGMP24-revision messages (ElGamal commitments, Πenc-elg, Πelog); version 1 was the Πenc/Πlog* form. */
const WIRE_VERSION = 2;
/** A Paillier ciphertext of a peer: below N² with N ≤ 2^4096 (membership is checked in the round). */
const CIPHERTEXT_BITS = 2 * MAX_MODULUS_BITS;
const CT_BYTES = 5 + CIPHERTEXT_BITS / 8;
/** Wire order of the ElGamal commitments in round 1. */
const ELG_FIELDS = ['Y', 'A1', 'A2', 'B1', 'B2'] as const;

const r1Def: RoundDef<MsgR1> = {
  name: 'r1',
  kind: 'broadcast',
  reliable: true,
  encode(m) {
    const w = new WireWriter().u8(0x51).u8(WIRE_VERSION).fixed(m.ctx).biguint(m.K).biguint(m.G);
    for (const k of ELG_FIELDS) w.fixed(encodePoint(m.elg[k]));
    return w.finish();
  },
  decode(bytes) {
    const r = new WireReader(bytes, 2 + 32 + 2 * CT_BYTES + ELG_FIELDS.length * POINT_BYTES);
    r.tag('presign.r1.tag', 0x51);
    r.tag('presign.r1.version', WIRE_VERSION);
    const ctx = r.fixed('presign.r1.ctx', 32);
    const K = r.biguint('presign.r1.K', CIPHERTEXT_BITS);
    const G = r.biguint('presign.r1.G', CIPHERTEXT_BITS);
    // Y_j, A_j, B_j: valid non-identity points (SECURITY.md A14), as Πenc-elg and Πelog require.
    const pt = (k: (typeof ELG_FIELDS)[number]): Point =>
      decodePoint(r.fixed(`presign.r1.${k}`, POINT_BYTES), `presign.r1.${k}`);
    const elg: ElgCommitments = { Y: pt('Y'), A1: pt('A1'), A2: pt('A2'), B1: pt('B1'), B2: pt('B2') };
    r.end();
    return { ctx, K, G, elg };
  },
};

const r1EncDef: RoundDef<MsgR1Enc> = {
  name: 'r1-enc',
  kind: 'p2p',
  encode: (m) =>
    new WireWriter()
      .u8(0x52)
      .u8(WIRE_VERSION)
      .bytes(encodeEncElgProof(m.psi0))
      .bytes(encodeEncElgProof(m.psi1))
      .finish(),
  decode(bytes) {
    const r = new WireReader(bytes, 2 + 2 * (4 + ENC_ELG_PROOF_MAX_BYTES));
    r.tag('presign.r1-enc.tag', 0x52);
    r.tag('presign.r1-enc.version', WIRE_VERSION);
    const m = {
      psi0: decodeEncElgProof(r.bytes('presign.r1-enc.psi0', ENC_ELG_PROOF_MAX_BYTES)),
      psi1: decodeEncElgProof(r.bytes('presign.r1-enc.psi1', ENC_ELG_PROOF_MAX_BYTES)),
    };
    r.end();
    return m;
  },
};

/** Largest round-2 body: Γ, four ciphertexts, two Πaff-g, one Πelog (identify.ts sizes its evidence with it). */
export const PRESIGN_R2_MAX_BYTES =
  2 + POINT_BYTES + 4 * CT_BYTES + 2 * (4 + AFF_G_PROOF_MAX_BYTES) + 4 + ELOG_PROOF_BYTES;
const R2_MAX = PRESIGN_R2_MAX_BYTES;
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
      .bytes(encodeElogProof(m.psiPrime))
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
      psiPrime: decodeElogProof(r.bytes('presign.r2.psiPrime', ELOG_PROOF_BYTES)),
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
      .bytes(encodeElogProof(m.psiPrimePrime))
      .finish(),
  decode(bytes) {
    const r = new WireReader(bytes, 2 + 4 + 32 + POINT_BYTES + 4 + ELOG_PROOF_BYTES);
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
      psiPrimePrime: decodeElogProof(r.bytes('presign.r3.psiPrimePrime', ELOG_PROOF_BYTES)),
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

  // Fig. 8 R1.1: k_i, γ_i ← F_q; ρ_i, ν_i ← Z*_{N_i}; K_i = enc_i(k_i; ρ_i), G_i = enc_i(γ_i; ν_i) (CRT).
  const k = randScalar(ctx);
  const gamma = randScalar(ctx);
  const rho = math.randUnit(sk.pub.n, ctx.rng);
  const nu = math.randUnit(sk.pub.n, ctx.rng);
  const K = encryptCrt(math, sk, k, rho);
  const Gi = encryptCrt(math, sk, gamma, nu);
  // Fig. 8 R1.1: y_i, a_i, b_i ← F_q; Y_i = y_i·G; A_i = (a_i·G, a_i·Y_i + k_i·G); B_i = (b_i·G, b_i·Y_i + γ_i·G).
  // y_i is dropped at once: nothing later uses it (it only makes (A_i, B_i) hiding).
  const Yi = mulBase(randScalar(ctx));
  const elgamal = (v: bigint): { nonce: bigint; C1: Point; C2: Point } => {
    for (;;) {
      const nonce = randScalar(ctx);
      const C2 = mulSecret(Yi, nonce).add(mulBase(v));
      // C2 = ∞ only when nonce·y_i ≡ −v (probability 1/q); it has no encoding, so draw again.
      if (!C2.is0()) return { nonce, C1: mulBase(nonce), C2 };
    }
  };
  const ea = elgamal(k);
  const eb = elgamal(gamma);
  const elg: ElgCommitments = { Y: Yi, A1: ea.C1, A2: ea.C2, B1: eb.C1, B2: eb.C2 };
  const outbox: Outgoing[] = [{ round: 'r1', to: ALL, body: { ctx: psid, K, G: Gi, elg } satisfies MsgR1 }];
  // Fig. 8 R1.2: for every j ≠ i, with P_j's (N̂_j, s_j, t_j):
  //   ψ0_{j,i} = Πenc-elg(N_i, K_i, Y_i, A_{i,1}, A_{i,2}; k_i, ρ_i, a_i)
  //   ψ1_{j,i} = Πenc-elg(N_i, G_i, Y_i, B_{i,1}, B_{i,2}; γ_i, ν_i, b_i)
  for (const j of others(ctx)) {
    const rp = (peers[j] as PresignPeer).rp;
    const prove = (label: string, C: bigint, B: Point, X: Point, x: bigint, r: bigint, b: bigint): EncElgProof =>
      proveEncElg(
        math,
        { sid: psid, prover: ctx.self, label },
        rp,
        { pk: sk.pub, C, A: Yi, B, X },
        { x, rho: r, b },
        ctx.rng,
        sk,
      );
    const psi0 = prove(LABEL.psi0, K, elg.A1, elg.A2, k, rho, ea.nonce);
    const psi1 = prove(LABEL.psi1, Gi, elg.B1, elg.B2, gamma, nu, eb.nonce);
    outbox.push({ round: 'r1-enc', to: j, body: { psi0, psi1 } satisfies MsgR1Enc });
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
    a: ea.nonce,
    b: eb.nonce,
    elg,
  };
  return { state, outbox };
}

// --- per-message checks (shared by the rounds and `judge`) ---------------------------------------
// Each takes the verifier v (the recipient of the message) and uses only public data: v's
// ring-Pedersen parameters and Paillier key, the agreed K_j, G_j, X_j and Γ. In the rounds v is
// the party itself; in `judge` it is the accuser of an abort notice.

type WithKs = Extract<PresignState, { readonly Ks: readonly bigint[] }>;

/**
 * Fig. 8 R2.1: ψ0_{v,j} on (N_j, K_j, Y_j, A_{j,1}, A_{j,2}) and ψ1_{v,j} on (N_j, G_j, Y_j, B_{j,1}, B_{j,2}),
 * with R_v and shared state (sid, j).
 */
function checkR1Enc(blame: BlameCollector, math: MathBackend, state: WithKs, v: number, j: number, m: MsgR1Enc): void {
  const pk = (state.peers[j] as PresignPeer).pk;
  const rp = (state.peers[v] as PresignPeer).rp;
  const e = state.Elgs[j] as ElgCommitments;
  blame.guard(j, 'invalid Πenc-elg ψ0 for (K_j, A_j)', () =>
    verifyEncElg(
      math,
      { sid: state.psid, prover: j, label: LABEL.psi0 },
      rp,
      { pk, C: state.Ks[j] as bigint, A: e.Y, B: e.A1, X: e.A2 },
      m.psi0,
    ),
  );
  blame.guard(j, 'invalid Πenc-elg ψ1 for (G_j, B_j)', () =>
    verifyEncElg(
      math,
      { sid: state.psid, prover: j, label: LABEL.psi1 },
      rp,
      { pk, C: state.Gs[j] as bigint, A: e.Y, B: e.B1, X: e.B2 },
      m.psi1,
    ),
  );
}

/**
 * Fig. 8 R3.1 checks of j's round-2 message to v: ciphertext membership (A15: D, D̂ under N_v; F, F̂
 * under N_j), then ψ_{v,j} on (N_v, N_j, K_v, D, F, Γ_j) and ψ̂_{v,j} on (…, D̂, F̂, X_j) with R_v, and
 * ψ'_j = Πelog on (B_{j,1}, B_{j,2}, Y_j, Γ_j, G). No proof work for a peer already caught on membership.
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
  const e = state.Elgs[j] as ElgCommitments;
  blame.guard(j, "invalid Πelog ψ'", () =>
    verifyElog(sc(LABEL.psiPrime), { L: e.B1, M: e.B2, X: e.Y, Y: m.Gamma, h: G }, m.psiPrime),
  );
}

/**
 * Fig. 8 Output step 1: ψ''_j = Πelog on (A_{j,1}, A_{j,2}, Y_j, Δ_j, Γ). It has no verifier
 * parameters, so the same check holds for every recipient.
 */
function checkR3(blame: BlameCollector, state: StateR3, j: number, m: MsgR3): void {
  const e = state.Elgs[j] as ElgCommitments;
  blame.guard(j, "invalid Πelog ψ''", () =>
    verifyElog(
      { sid: state.psid, prover: j, label: LABEL.psiPrimePrime },
      { L: e.A1, M: e.A2, X: e.Y, Y: m.Delta, h: state.GammaSum },
      m.psiPrimePrime,
    ),
  );
}

/**
 * Public re-check of one presign message for abort notices (ProtocolDef.judge): ψ0, ψ1 (r1-enc), the
 * round-2 message (r2) and ψ'' (r3), each verified for the recipient `ev.to`. r1 is a reliable
 * broadcast: every party checks the same K_j, G_j, Y_j, A_j, B_j itself.
 */
function judge(round: string, state: PresignState, ev: Evidence, ctx: RoundCtx): Judgement {
  const j = ev.from;
  const v = ev.to;
  if (round === 'r1-enc' || round === 'r2') {
    if (state.step === 'r1') return PENDING;
    return judgeWith(j, (blame) =>
      round === 'r2'
        ? checkR2(blame, ctx.math, state, v, j, ev.body as MsgR2)
        : checkR1Enc(blame, ctx.math, state, v, j, ev.body as MsgR1Enc),
    );
  }
  if (round === 'r3') {
    if (state.step !== 'r3') return PENDING;
    return judgeWith(j, (blame) => checkR3(blame, state, j, ev.body as MsgR3));
  }
  return { verdict: 'valid' };
}

// --- rounds --------------------------------------------------------------------------------------

/**
 * Round 1 (after the echo): same context, and K_j, G_j ∈ Z*_{N_j²} (SECURITY.md A15). Y_j, A_j, B_j
 * are non-identity points by decoding.
 */
function afterR1(
  state: PresignState,
  inbox: ReadonlyMap<number, unknown>,
  ctx: RoundCtx,
): RoundResult<PresignState, Presignature> {
  assertStep(state, 'r1', 'r1');
  const blame = new BlameCollector(PRESIGN_PROTOCOL, 'r1');
  const Ks: bigint[] = [];
  const Gs: bigint[] = [];
  const Elgs: ElgCommitments[] = [];
  Ks[ctx.self] = state.K;
  Gs[ctx.self] = state.G;
  Elgs[ctx.self] = state.elg;
  for (const j of others(ctx)) {
    const m = inbox.get(j) as MsgR1;
    const pk = (state.peers[j] as PresignPeer).pk;
    if (!equalBytes(m.ctx, state.psid)) blame.blame(j, 'session context (signers, path, key or aux data) differs');
    blame.guard(j, 'K_j not in Z*_{N_j²}', () => assertCiphertext(ctx.math, pk, m.K, 'K_j'));
    blame.guard(j, 'G_j not in Z*_{N_j²}', () => assertCiphertext(ctx.math, pk, m.G, 'G_j'));
    Ks[j] = m.K;
    Gs[j] = m.G;
    Elgs[j] = m.elg;
  }
  blame.throwIfAny();
  return { state: { ...state, step: 'r1-enc', Ks, Gs, Elgs }, outbox: [] };
}

/** Round 2: verify every ψ0, ψ1, then the two MtAs per peer with Πaff-g ψ, ψ̂, and one Πelog ψ'. */
function round2(
  state: PresignState,
  inbox: ReadonlyMap<number, unknown>,
  ctx: RoundCtx,
): RoundResult<PresignState, Presignature> {
  assertStep(state, 'r1-enc', 'r1-enc');
  const { math } = ctx;
  const own = state.peers[ctx.self] as PresignPeer;
  const blame = new BlameCollector(PRESIGN_PROTOCOL, 'r1-enc');
  // Fig. 8 R2.1: ψ0_{i,j}, ψ1_{i,j} with own R_i and shared state (sid, j).
  for (const j of others(ctx)) checkR1Enc(blame, math, state, ctx.self, j, inbox.get(j) as MsgR1Enc);
  blame.throwIfAny();

  // Fig. 8 R2.2: Γ_i = γ_i·G, and ψ'_i = Πelog(B_{i,1}, B_{i,2}, Y_i, Γ_i, G; γ_i, b_i): one proof for all
  // (Πelog has no verifier parameters). It replaces the CGGMP21 Πlog* on G_i.
  const Gamma = mulBase(state.gamma);
  const psiPrime = proveElog(
    { sid: state.psid, prover: ctx.self, label: LABEL.psiPrime },
    { L: state.elg.B1, M: state.elg.B2, X: state.elg.Y, Y: Gamma, h: G },
    { y: state.gamma, lambda: state.b },
    ctx.rng,
  );
  const J = 1n << BigInt(SECURITY.ellPrime);
  const sent: Array<MtaSent | null> = Array.from({ length: ctx.n }, () => null);
  const outbox: Outgoing[] = [];
  for (const j of others(ctx)) {
    const peer = state.peers[j] as PresignPeer;
    const Kj = state.Ks[j] as bigint;
    // Fig. 8 R2.2: β_{i,j}, β̂_{i,j} ← ±2^ℓ'; s, ŝ ← Z*_{N_j}; r, r̂ ← Z*_{N_i} (the figure's N_j for r is a typo)
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
    sent[j] = { beta, hatBeta, s, hatS, r, hatR, D, F, hatD, hatF };
    outbox.push({ round: 'r2', to: j, body: { Gamma, D, F, hatD, hatF, psi, hatPsi, psiPrime } satisfies MsgR2 });
  }
  const next: StateR2 = { ...state, step: 'r2', Gamma, sent };
  return { state: next, outbox };
}

/** Round 3: verify ψ, ψ̂, ψ' of every peer; decrypt; δ_i, χ_i, Δ_i and Πelog ψ''. */
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

  // Fig. 8 R3.2: Γ = Σ_j Γ_j (own included); Δ_i = k_i·Γ
  let GammaSum = state.Gamma;
  for (const j of others(ctx)) GammaSum = GammaSum.add((received[j] as MtaReceived).Gamma);
  if (GammaSum.is0()) {
    // Σ γ_j ≡ 0: every Γ_j was committed (G_j, B_j) before any was revealed, so this is chance (2^-256).
    throw unblamedAbort('r2', 'gamma-identity', 'Γ is the point at infinity');
  }
  const Delta = mulSecret(GammaSum, state.k);
  // Fig. 8 R3.2: α_{i,j} = dec_i(D_{i,j}), α̂_{i,j} = dec_i(D̂_{i,j}) (signed, no wrap thanks to the range proofs)
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
  // Fig. 8 R3.2: ψ''_i = Πelog(A_{i,1}, A_{i,2}, Y_i, Δ_i, Γ; k_i, a_i), one proof for all (replaces Πlog* on K_i).
  const psiPrimePrime = proveElog(
    { sid: state.psid, prover: ctx.self, label: LABEL.psiPrimePrime },
    { L: state.elg.A1, M: state.elg.A2, X: state.elg.Y, Y: Delta, h: GammaSum },
    { y: state.k, lambda: state.a },
    ctx.rng,
  );
  const outbox: Outgoing[] = others(ctx).map((j) => ({
    round: 'r3',
    to: j,
    body: { delta, Delta, psiPrimePrime } satisfies MsgR3,
  }));
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
  const blame = new BlameCollector(PRESIGN_PROTOCOL, 'r3');
  let deltaSum = state.delta;
  let DeltaSum = state.Delta;
  for (const j of others(ctx)) {
    const m = inbox.get(j) as MsgR3;
    // Fig. 8 Output 1: ψ''_j on (A_{j,1}, A_{j,2}, Y_j, Δ_j, Γ)
    checkR3(blame, state, j, m);
    deltaSum += m.delta;
    DeltaSum = DeltaSum.add(m.Delta);
  }
  blame.throwIfAny();
  // Fig. 8 Output 2: δ = Σ δ_j mod q; δ·G = Σ_j Δ_j (= k·γ·G). A mismatch means somebody lied about δ_j: §7.2.
  const delta = mod(deltaSum, CURVE_ORDER);
  if (!mulPublic(G, delta).equals(DeltaSum)) {
    throw unblamedAbort('r3', 'delta-mismatch', 'δ·G differs from Σ Δ_j (identification required)');
  }
  if (delta === 0n) throw unblamedAbort('r3', 'delta-zero', 'δ = 0');
  // Fig. 8 Output 3: R = δ⁻¹·Γ = (k·γ)⁻¹·γ·G = k⁻¹·G
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
