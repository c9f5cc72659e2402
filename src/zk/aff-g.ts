/**
 * Πaff-g — Paillier affine operation with group commitment, in range (CGGMP24 ePrint 2021/060,
 * "Paillier Affine Operation with Group Commitment in Range ZK"; CGGMP spec §"Πaff-g";
 * PROTOCOL.md §2.3).
 *
 * Proves, to a verifier with ring-Pedersen parameters (N̂, s, t), knowledge of x ∈ ±2^ℓ,
 * y ∈ ±2^ℓ', ρ ∈ Z*_{N0} and ρ_y ∈ Z*_{N1} with
 *   D = C^x · (1 + N0)^y · ρ^{N0} mod N0²   (D = (x ⊙ C) ⊕ enc_{N0}(y; ρ)),
 *   Y = enc_{N1}(y; ρ_y),
 *   X = x·G.
 * Used twice per peer in presigning round 2 (PROTOCOL.md §5): ψ_{j,i} (label "not hat", x = γ_i,
 * X = Γ_i) and ψ̂_{j,i} (label "hat", x = x_i, X = X_i), both with y = −β and the verifier's
 * N0 = N_j, N̂ = N_j; N1 = N_i is the prover's own key.
 *
 * Naming: N0 = verifier's Paillier modulus (C, D live mod N0²); N1 = prover's modulus (Y lives
 * mod N1²); (A, B_x, B_y, E, S, F, T) commitments; e challenge; (z1, z2, z3, z4, w, w_y) responses.
 * In code B_x, B_y, w_y are spelled Bx, By, wy.
 */
import { MpcError } from '../errors/index.js';
import type { MathBackend } from '../math/backend.js';
import { mod } from '../math/bits.js';
import type { Rng } from '../math/random.js';
import {
  CURVE_ORDER,
  decodePoint,
  encodePoint,
  G,
  isValidNonIdentity,
  mulBase,
  mulPublic,
  POINT_BYTES,
  type Point,
} from '../primitives/curve.js';
import type { PaillierPublicKey, PaillierSecretKey } from '../primitives/paillier.js';
import { commit, powSigned, type RingPedersenParams } from '../primitives/ring-pedersen.js';
import { WireReader, WireWriter } from '../util/wire.js';
import {
  auxTranscript,
  inScaledRange,
  inSignedRange,
  isUnit,
  isUnitModSquare,
  type ProofContext,
  reject,
} from './common.js';
import { CHALLENGE_BOUND, MAX_MODULUS_BITS, SECURITY } from './params.js';

const PROOF = 'pi-aff-g';
/** Wire tags follow the PROTOCOL.md §2 numbering: Πaff-g = §2.3. */
const WIRE_TAG = 0x03;
const WIRE_VERSION = 1;

export interface AffGStatement {
  /** N0: the VERIFIER's Paillier public key (C and D are ciphertexts under it). */
  readonly pk0: PaillierPublicKey;
  /** N1: the PROVER's Paillier public key (Y is a ciphertext under it). */
  readonly pk1: PaillierPublicKey;
  /** C ∈ Z*_{N0²} (in presigning: the verifier's K_j). */
  readonly C: bigint;
  /** D = C^x · (1 + N0)^y · ρ^{N0} mod N0². */
  readonly D: bigint;
  /** Y = enc_{N1}(y; ρ_y). */
  readonly Y: bigint;
  /** X = x·G. */
  readonly X: Point;
}

export interface AffGWitness {
  /** x ∈ ±2^ℓ */
  readonly x: bigint;
  /** y ∈ ±2^ℓ' (in presigning y = −β) */
  readonly y: bigint;
  /** ρ ∈ Z*_{N0}: nonce of the enc_{N0}(y) inside D. */
  readonly rho: bigint;
  /** ρ_y ∈ Z*_{N1}: nonce of Y. */
  readonly rhoY: bigint;
}

export interface AffGProof {
  readonly A: bigint;
  readonly Bx: Point;
  readonly By: bigint;
  readonly E: bigint;
  readonly S: bigint;
  readonly F: bigint;
  readonly T: bigint;
  readonly z1: bigint;
  readonly z2: bigint;
  readonly z3: bigint;
  readonly z4: bigint;
  readonly w: bigint;
  readonly wy: bigint;
}

/** The prover's first message (A, B_x, B_y, E, S, F, T). */
type AffGCommitment = Pick<AffGProof, 'A' | 'Bx' | 'By' | 'E' | 'S' | 'F' | 'T'>;

/** e ∈ ±Q from the verifier's aux, the whole statement and all seven commitments (PROTOCOL.md §0.3). */
function challenge(ctx: ProofContext, aux: RingPedersenParams, st: AffGStatement, c: AffGCommitment): bigint {
  return auxTranscript(PROOF, ctx, aux)
    .uint('N0', st.pk0.n)
    .uint('N1', st.pk1.n)
    .uint('C', st.C)
    .uint('D', st.D)
    .uint('Y', st.Y)
    .point('X', encodePoint(st.X))
    .uint('A', c.A)
    .point('Bx', encodePoint(c.Bx))
    .uint('By', c.By)
    .uint('E', c.E)
    .uint('S', c.S)
    .uint('F', c.F)
    .uint('T', c.T)
    .challengeRng('e')
    .signed(CHALLENGE_BOUND);
}

/**
 * Proves Πaff-g towards the owner of `aux` (and of `st.pk0`). `proverSk`, the prover's own key
 * (public part `st.pk1`), enables the CRT path for r_y^{N1} and ρ_y^e; without it the constant-time
 * public-key path is used. The witness is not range-checked here: a witness outside the ranges
 * yields a proof the verifier rejects.
 *
 * @throws MpcError ERR_ZK_STATEMENT_INVALID when X is the identity or `proverSk` is not the key of `st.pk1`;
 *   ERR_MATH_NOT_INVERTIBLE when C is not a unit mod N0²
 * @example const psi = proveAffG(math, { sid, prover: i, label: 'not-hat' }, auxOfJ,
 *   { pk0: pkOfJ, pk1: pk, C: K_j, D, Y: F, X: Gamma_i }, { x: gamma_i, y: -beta, rho: s_ij, rhoY: r_ij }, rng, sk);
 */
export function proveAffG(
  math: MathBackend,
  ctx: ProofContext,
  aux: RingPedersenParams,
  st: AffGStatement,
  w: AffGWitness,
  rng?: Rng,
  proverSk?: PaillierSecretKey,
): AffGProof {
  if (!isValidNonIdentity(st.X))
    throw new MpcError('ERR_ZK_STATEMENT_INVALID', `${PROOF}: X must be a non-identity point`);
  if (proverSk !== undefined && proverSk.pub.n !== st.pk1.n) {
    throw new MpcError('ERR_ZK_STATEMENT_INVALID', `${PROOF}: proverSk is not the key of N1`);
  }
  const { ell, ellPrime, epsilon } = SECURITY;
  const n0 = st.pk0.n;
  const n0sq = st.pk0.n2;
  const n1 = st.pk1.n;
  const n1sq = st.pk1.n2;
  const signed = (bound: bigint): bigint => math.randBelow(2n * bound, rng) - bound;
  // α ← ±2^(ℓ+ε), redrawn in the negligible case α ≡ 0 (mod q), where B_x = α·G would be the identity.
  let alpha: bigint;
  do {
    alpha = signed(1n << BigInt(ell + epsilon));
  } while (mod(alpha, CURVE_ORDER) === 0n);
  // β ← ±2^(ℓ'+ε); r ← Z*_{N0}; r_y ← Z*_{N1}
  const beta = signed(1n << BigInt(ellPrime + epsilon));
  const r = math.randUnit(n0, rng);
  const rY = math.randUnit(n1, rng);
  // γ, δ ← ±2^(ℓ+ε)·N̂; m, μ ← ±2^ℓ·N̂
  const gamma = signed((1n << BigInt(ell + epsilon)) * aux.n);
  const delta = signed((1n << BigInt(ell + epsilon)) * aux.n);
  const m = signed((1n << BigInt(ell)) * aux.n);
  const mu = signed((1n << BigInt(ell)) * aux.n);

  // A = C^α · (1+N0)^β · r^{N0} mod N0²: one secret multi-exponentiation for C^α · r^{N0}.
  // C⁻¹ is computed whatever the sign of α, so the work done does not depend on it.
  const cInv = math.invMod(st.C, n0sq);
  const cAlphaRN = math.multiExpSec([alpha < 0n ? cInv : st.C, r], [alpha < 0n ? -alpha : alpha, n0], n0sq);
  const A = math.mulMod(1n + mod(beta, n0) * n0, cAlphaRN, n0sq); // (1+N0)^β = 1 + β·N0 mod N0²
  // B_x = α·G (secret scalar, constant-time ladder)
  const Bx = mulBase(alpha);
  // B_y = (1+N1)^β · r_y^{N1} mod N1²
  const rYN = proverSk === undefined ? math.powmSec(rY, n1, n1sq) : math.powmCrt(rY, n1, proverSk.crtN2);
  const By = math.mulMod(1n + mod(beta, n1) * n1, rYN, n1sq);
  // E = s^α t^γ; S = s^x t^m; F = s^β t^δ; T = s^y t^μ  (mod N̂)
  const E = commit(math, aux, alpha, gamma, true);
  const S = commit(math, aux, w.x, m, true);
  const F = commit(math, aux, beta, delta, true);
  const T = commit(math, aux, w.y, mu, true);

  const e = challenge(ctx, aux, st, { A, Bx, By, E, S, F, T });

  // w = r · ρ^e mod N0
  const wResp = math.mulMod(r, powSigned(math, w.rho, e, n0, true), n0);
  // w_y = r_y · ρ_y^e mod N1 (CRT when the prover passes its key)
  const rhoYE =
    proverSk === undefined
      ? powSigned(math, w.rhoY, e, n1, true)
      : math.powmCrt(e < 0n ? math.invMod(w.rhoY, n1) : w.rhoY, e < 0n ? -e : e, proverSk.crtN);
  return {
    A,
    Bx,
    By,
    E,
    S,
    F,
    T,
    z1: alpha + e * w.x, // z1 = α + e·x
    z2: beta + e * w.y, // z2 = β + e·y
    z3: gamma + e * m, // z3 = γ + e·m
    z4: delta + e * mu, // z4 = δ + e·μ
    w: wResp,
    wy: math.mulMod(rY, rhoYE, n1),
  };
}

/**
 * Verifies the seven checks of Πaff-g (PROTOCOL.md §2.3); throws ERR_ZK_PROOF_INVALID naming the
 * first failed one. Cheap checks (membership, identity, ranges) run before any exponentiation.
 *
 * @throws MpcError ERR_ZK_PROOF_INVALID with details.check one of: 'C is not in Z*_{N0²}',
 *   'D is not in Z*_{N0²}', 'Y is not in Z*_{N1²}', 'X is the identity', 'A is not in Z*_{N0²}',
 *   'Bx is the identity', 'By is not in Z*_{N1²}', 'E|S|F|T is not in Z*_N̂', 'w is not in Z*_{N0}',
 *   'wy is not in Z*_{N1}', 'z1 out of range', 'z2 out of range', 'z3 out of range', 'z4 out of range',
 *   'Paillier equation (N0)', 'curve equation', 'Paillier equation (N1)',
 *   'ring-Pedersen equation (E, S)', 'ring-Pedersen equation (F, T)'
 * @example verifyAffG(math, { sid, prover: j, label: 'not-hat' }, ownAux,
 *   { pk0: pk, pk1: pkOfJ, C: K_i, D: D_ij, Y: F_ij, X: Gamma_j }, decodeAffGProof(bytes));
 */
export function verifyAffG(
  math: MathBackend,
  ctx: ProofContext,
  aux: RingPedersenParams,
  st: AffGStatement,
  p: AffGProof,
): void {
  const { ell, ellPrime, epsilon } = SECURITY;
  const n0 = st.pk0.n;
  const n0sq = st.pk0.n2;
  const n1 = st.pk1.n;
  const n1sq = st.pk1.n2;
  // Statement membership (SECURITY.md A14, A15).
  if (!isUnitModSquare(math, st.C, n0, n0sq)) reject(PROOF, 'C is not in Z*_{N0²}');
  if (!isUnitModSquare(math, st.D, n0, n0sq)) reject(PROOF, 'D is not in Z*_{N0²}');
  if (!isUnitModSquare(math, st.Y, n1, n1sq)) reject(PROOF, 'Y is not in Z*_{N1²}');
  if (!isValidNonIdentity(st.X)) reject(PROOF, 'X is the identity');
  // Commitments and responses in their groups (SECURITY.md A6).
  if (!isUnitModSquare(math, p.A, n0, n0sq)) reject(PROOF, 'A is not in Z*_{N0²}');
  if (!isValidNonIdentity(p.Bx)) reject(PROOF, 'Bx is the identity');
  if (!isUnitModSquare(math, p.By, n1, n1sq)) reject(PROOF, 'By is not in Z*_{N1²}');
  if (!isUnit(math, p.E, aux.n)) reject(PROOF, 'E is not in Z*_N̂');
  if (!isUnit(math, p.S, aux.n)) reject(PROOF, 'S is not in Z*_N̂');
  if (!isUnit(math, p.F, aux.n)) reject(PROOF, 'F is not in Z*_N̂');
  if (!isUnit(math, p.T, aux.n)) reject(PROOF, 'T is not in Z*_N̂');
  if (!isUnit(math, p.w, n0)) reject(PROOF, 'w is not in Z*_{N0}');
  if (!isUnit(math, p.wy, n1)) reject(PROOF, 'wy is not in Z*_{N1}');
  // Check 6: z1 ∈ ±2^(ℓ+ε);  check 7: z2 ∈ ±2^(ℓ'+ε).
  if (!inSignedRange(p.z1, ell + epsilon)) reject(PROOF, 'z1 out of range');
  if (!inSignedRange(p.z2, ellPrime + epsilon)) reject(PROOF, 'z2 out of range');
  // |z3|, |z4| ≤ 2^(ℓ+ε)·N̂ + Q·2^ℓ·N̂ < 2^(ℓ+ε+1)·N̂ for an honest prover; larger values only cost time.
  if (!inScaledRange(p.z3, ell + epsilon + 1, aux.n)) reject(PROOF, 'z3 out of range');
  if (!inScaledRange(p.z4, ell + epsilon + 1, aux.n)) reject(PROOF, 'z4 out of range');

  const e = challenge(ctx, aux, st, p);

  // Check 1: C^z1 · (1+N0)^z2 · w^{N0} = A · D^e  (mod N0²)
  const cBase = p.z1 < 0n ? math.invMod(st.C, n0sq) : st.C;
  const cZ1wN = math.multiExp([cBase, p.w], [p.z1 < 0n ? -p.z1 : p.z1, n0], n0sq);
  const lhs1 = math.mulMod(1n + mod(p.z2, n0) * n0, cZ1wN, n0sq);
  const rhs1 = math.mulMod(p.A, powSigned(math, st.D, e, n0sq, false), n0sq);
  if (lhs1 !== rhs1) reject(PROOF, 'Paillier equation (N0)');
  // Check 2: z1·G = B_x + e·X  (z1 and e reduced mod q, signs respected)
  if (!mulPublic(G, p.z1).equals(p.Bx.add(mulPublic(st.X, e)))) reject(PROOF, 'curve equation');
  // Check 3: (1+N1)^z2 · w_y^{N1} = B_y · Y^e  (mod N1²)
  const lhs3 = math.mulMod(1n + mod(p.z2, n1) * n1, math.powm(p.wy, n1, n1sq), n1sq);
  const rhs3 = math.mulMod(p.By, powSigned(math, st.Y, e, n1sq, false), n1sq);
  if (lhs3 !== rhs3) reject(PROOF, 'Paillier equation (N1)');
  // Check 4: s^z1 · t^z3 = E · S^e  (mod N̂)
  const lhs4 = commit(math, aux, p.z1, p.z3, false);
  const rhs4 = math.mulMod(p.E, powSigned(math, p.S, e, aux.n, false), aux.n);
  if (lhs4 !== rhs4) reject(PROOF, 'ring-Pedersen equation (E, S)');
  // Check 5: s^z2 · t^z4 = F · T^e  (mod N̂)
  const lhs5 = commit(math, aux, p.z2, p.z4, false);
  const rhs5 = math.mulMod(p.F, powSigned(math, p.T, e, aux.n, false), aux.n);
  if (lhs5 !== rhs5) reject(PROOF, 'ring-Pedersen equation (F, T)');
}

/** Upper bound of |z3|, |z4| (≤ 2^(ℓ+ε)·N̂ + Q·2^ℓ·N̂): bits used by the decoder's size cap. */
const Z34_MAX_BITS = SECURITY.ell + SECURITY.epsilon + MAX_MODULUS_BITS + 2;
/** Largest encoded proof: twelve numbers of at most 8192 bits plus headers, and one point. */
export const AFF_G_PROOF_MAX_BYTES = 12 * (5 + MAX_MODULUS_BITS / 4) + POINT_BYTES + 2;

/**
 * @throws MpcError ERR_WIRE_POINT_INVALID when Bx is the identity; ERR_WIRE_TYPE when an unsigned field is negative
 * @example const bytes = encodeAffGProof(psi);
 */
export function encodeAffGProof(p: AffGProof): Uint8Array {
  return new WireWriter()
    .u8(WIRE_TAG)
    .u8(WIRE_VERSION)
    .biguint(p.A)
    .fixed(encodePoint(p.Bx))
    .biguint(p.By)
    .biguint(p.E)
    .biguint(p.S)
    .biguint(p.F)
    .biguint(p.T)
    .bigint(p.z1)
    .bigint(p.z2)
    .bigint(p.z3)
    .bigint(p.z4)
    .biguint(p.w)
    .biguint(p.wy)
    .finish();
}

/**
 * Strict decoder: sizes checked before any arithmetic, canonical encodings, B_x a valid
 * non-identity point (SECURITY.md A14), every field present (A8), no trailing bytes.
 *
 * @throws MpcError ERR_WIRE_TOO_LARGE, ERR_WIRE_TRUNCATED, ERR_WIRE_BAD_TAG, ERR_WIRE_BAD_LENGTH,
 *   ERR_WIRE_BIGINT_TOO_LARGE, ERR_WIRE_NON_CANONICAL, ERR_WIRE_POINT_INVALID, ERR_WIRE_TRAILING_BYTES
 * @example const psi = decodeAffGProof(bytes);
 */
export function decodeAffGProof(bytes: Uint8Array): AffGProof {
  const r = new WireReader(bytes, AFF_G_PROOF_MAX_BYTES);
  r.tag('pi-aff-g.tag', WIRE_TAG);
  r.tag('pi-aff-g.version', WIRE_VERSION);
  const proof: AffGProof = {
    A: r.biguint('pi-aff-g.A', 2 * MAX_MODULUS_BITS),
    Bx: decodePoint(r.fixed('pi-aff-g.Bx', POINT_BYTES), 'pi-aff-g.Bx'),
    By: r.biguint('pi-aff-g.By', 2 * MAX_MODULUS_BITS),
    E: r.biguint('pi-aff-g.E', MAX_MODULUS_BITS),
    S: r.biguint('pi-aff-g.S', MAX_MODULUS_BITS),
    F: r.biguint('pi-aff-g.F', MAX_MODULUS_BITS),
    T: r.biguint('pi-aff-g.T', MAX_MODULUS_BITS),
    z1: r.bigint('pi-aff-g.z1', SECURITY.ell + SECURITY.epsilon + 1),
    z2: r.bigint('pi-aff-g.z2', SECURITY.ellPrime + SECURITY.epsilon + 1),
    z3: r.bigint('pi-aff-g.z3', Z34_MAX_BITS),
    z4: r.bigint('pi-aff-g.z4', Z34_MAX_BITS),
    w: r.biguint('pi-aff-g.w', MAX_MODULUS_BITS),
    wy: r.biguint('pi-aff-g.wy', MAX_MODULUS_BITS),
  };
  r.end();
  return proof;
}
