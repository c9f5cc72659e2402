/**
 * Πaff-p — Paillier affine operation with Paillier commitment, in range (CGGMP ePrint 2021/060,
 * App. C.3 "Paillier Affine Operation with Paillier Commitment in Range", Fig. 26 in the 2021–2023
 * revisions; PROTOCOL.md §2.3 last bullet and §2.8; identification only).
 *
 * Like Πaff-g (PROTOCOL.md §2.3) but x is committed by a Paillier ciphertext under the prover's key
 * instead of a curve point. Proves, to a verifier with ring-Pedersen parameters (N̂, s, t), knowledge
 * of x ∈ ±2^ℓ, y ∈ ±2^ℓ', ρ ∈ Z*_{N0}, ρ_x, ρ_y ∈ Z*_{N1} with
 *   D = (x ⊙ C) ⊕ enc_{N0}(y; ρ) = C^x · (1 + N0)^y · ρ^{N0}  (mod N0²)
 *   X = enc_{N1}(x; ρ_x),   Y = enc_{N1}(y; ρ_y)
 * N0 is the modulus of C and D (the verifier's key in presigning's MtA), N1 the prover's own key.
 * Same sign convention as this project's Πaff-g (PROTOCOL.md §5): the caller passes y = −β and
 * Y = F = enc_{N1}(−β), so D and Y carry the same y.
 *
 * Definition followed (cross-checked): taurusgroup/multi-party-sig pkg/zk/affp/affp.go,
 * circlefin/robust-tss-lib crypto/zkproofs/aff_p_proof.go; equations and ranges as for Πaff-g in
 * LFDT-Lockness/paillier-zk src/paillier_affine_operation_in_range.rs, plus the B_x / w_x pair.
 * Ranges are the paper's: γ, δ ← ±2^(ℓ+ε)·N̂ and m, μ ← ±2^ℓ·N̂ (circlefin widens δ, μ to ℓ'; not
 * needed: t^μ hides y for any y, and δ ≫ Q·μ). The challenge is e ∈ ±Q with Q = 2^128 like every
 * proof of this project (the paper draws e ← ±q).
 *
 * Naming: (A, B_x, B_y, E, S, F, T) commitments; e challenge; (z1, z2, z3, z4, w, w_x, w_y) responses.
 */
import { MpcError } from '../errors/index.js';
import type { MathBackend } from '../math/backend.js';
import { mod } from '../math/bits.js';
import type { Rng } from '../math/random.js';
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

const PROOF = 'pi-aff-p';
const WIRE_TAG = 0x23;
const WIRE_VERSION = 1;

export interface AffPStatement {
  /** N0: Paillier key of C and D. */
  readonly pk0: PaillierPublicKey;
  /** N1: the prover's own Paillier key (X and Y). */
  readonly pk1: PaillierPublicKey;
  /** C ∈ Z*_{N0²}. */
  readonly C: bigint;
  /** D = C^x · (1 + N0)^y · ρ^{N0} mod N0². */
  readonly D: bigint;
  /** Y = enc_{N1}(y; ρ_y). */
  readonly Y: bigint;
  /** X = enc_{N1}(x; ρ_x). */
  readonly X: bigint;
}

export interface AffPWitness {
  /** x ∈ ±2^ℓ. */
  readonly x: bigint;
  /** y ∈ ±2^ℓ'. */
  readonly y: bigint;
  /** Nonce of D under N0. */
  readonly rho: bigint;
  /** Nonce of X under N1. */
  readonly rhoX: bigint;
  /** Nonce of Y under N1. */
  readonly rhoY: bigint;
}

export interface AffPProof {
  readonly A: bigint;
  readonly Bx: bigint;
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
  readonly wx: bigint;
  readonly wy: bigint;
}

/** The prover's first message (A, B_x, B_y, E, S, F, T). */
type AffPCommitment = Pick<AffPProof, 'A' | 'Bx' | 'By' | 'E' | 'S' | 'F' | 'T'>;

/** e ∈ ±Q from the verifier's aux, the whole statement and the commitments (PROTOCOL.md §0.3). */
function challenge(ctx: ProofContext, aux: RingPedersenParams, st: AffPStatement, p: AffPCommitment): bigint {
  return auxTranscript(PROOF, ctx, aux)
    .uint('N0', st.pk0.n)
    .uint('N1', st.pk1.n)
    .uint('C', st.C)
    .uint('D', st.D)
    .uint('Y', st.Y)
    .uint('X', st.X)
    .uint('A', p.A)
    .uint('Bx', p.Bx)
    .uint('By', p.By)
    .uint('E', p.E)
    .uint('S', p.S)
    .uint('F', p.F)
    .uint('T', p.T)
    .challengeRng('e')
    .signed(CHALLENGE_BOUND);
}

/**
 * Proves Πaff-p towards the owner of `aux`. `proverSk` (the prover's own key, whose public part must
 * be `st.pk1`) enables the CRT path for the exponentiations under N1; those under N0 (a peer's key)
 * always take the constant-time public-key path. The witness is not range-checked here: x ∉ ±2^ℓ or
 * y ∉ ±2^ℓ' yields a proof the verifier rejects.
 *
 * @throws MpcError ERR_ZK_STATEMENT_INVALID when `proverSk` is not the key of `st.pk1`
 * @throws MpcError ERR_MATH_NOT_INVERTIBLE when C or a nonce is not a unit and its exponent is negative
 * @example
 * const st = { pk0: pkOfJ, pk1: pk, C: K_j, D, Y: F, X };
 * const psi = proveAffP(math, ctx, auxOfJ, st, { x, y: -beta, rho: s, rhoX, rhoY: r }, rng, sk);
 */
export function proveAffP(
  math: MathBackend,
  ctx: ProofContext,
  aux: RingPedersenParams,
  st: AffPStatement,
  wit: AffPWitness,
  rng?: Rng,
  proverSk?: PaillierSecretKey,
): AffPProof {
  if (proverSk !== undefined && proverSk.pub.n !== st.pk1.n) {
    throw new MpcError('ERR_ZK_STATEMENT_INVALID', `${PROOF}: proverSk is not the key of pk1`);
  }
  const { ell, ellPrime, epsilon } = SECURITY;
  const n0 = st.pk0.n;
  const n0sq = st.pk0.n2;
  const n1 = st.pk1.n;
  const n1sq = st.pk1.n2;
  const pm = (bound: bigint): bigint => math.randBelow(2n * bound, rng) - bound; // uniform in [−bound, bound)
  // ρ^{N1} mod N1² for a secret ρ: CRT with the own key, else constant time.
  const nthPowN1 = (r: bigint): bigint =>
    proverSk === undefined ? math.powmSec(r, n1, n1sq) : math.powmCrt(r, n1, proverSk.crtN2);
  // ρ^e mod N1 for a secret ρ and the signed public e.
  const powEN1 = (r: bigint, e: bigint): bigint =>
    proverSk === undefined
      ? powSigned(math, r, e, n1, true)
      : math.powmCrt(e < 0n ? math.invMod(r, n1) : r, e < 0n ? -e : e, proverSk.crtN);
  // Fig. 26, step 1: α ← ±2^(ℓ+ε); β ← ±2^(ℓ'+ε); r ← Z*_{N0}; r_x, r_y ← Z*_{N1};
  //                  γ, δ ← ±2^(ℓ+ε)·N̂; m, μ ← ±2^ℓ·N̂
  const alpha = pm(1n << BigInt(ell + epsilon));
  const beta = pm(1n << BigInt(ellPrime + epsilon));
  const r = math.randUnit(n0, rng);
  const rx = math.randUnit(n1, rng);
  const ry = math.randUnit(n1, rng);
  const gamma = pm((1n << BigInt(ell + epsilon)) * aux.n);
  const m = pm((1n << BigInt(ell)) * aux.n);
  const delta = pm((1n << BigInt(ell + epsilon)) * aux.n);
  const mu = pm((1n << BigInt(ell)) * aux.n);
  // A = C^α · (1 + N0)^β · r^{N0}  (mod N0²)     ((α ⊙ C) ⊕ enc_{N0}(β; r))
  const A = math.mulMod(
    powSigned(math, st.C, alpha, n0sq, true),
    math.mulMod(1n + mod(beta, n0) * n0, math.powmSec(r, n0, n0sq), n0sq),
    n0sq,
  );
  // B_x = enc_{N1}(α; r_x) = (1 + α·N1) · r_x^{N1};  B_y = enc_{N1}(β; r_y)  (mod N1²)
  const Bx = math.mulMod(1n + mod(alpha, n1) * n1, nthPowN1(rx), n1sq);
  const By = math.mulMod(1n + mod(beta, n1) * n1, nthPowN1(ry), n1sq);
  // E = s^α t^γ;  S = s^x t^m;  F = s^β t^δ;  T = s^y t^μ  (mod N̂)
  const E = commit(math, aux, alpha, gamma, true);
  const S = commit(math, aux, wit.x, m, true);
  const F = commit(math, aux, beta, delta, true);
  const T = commit(math, aux, wit.y, mu, true);
  // Step 2: e ← ±Q (Fiat–Shamir)
  const e = challenge(ctx, aux, st, { A, Bx, By, E, S, F, T });
  // Step 3: z1 = α + e·x; z2 = β + e·y; z3 = γ + e·m; z4 = δ + e·μ;
  //         w = r·ρ^e mod N0; w_x = r_x·ρ_x^e mod N1; w_y = r_y·ρ_y^e mod N1
  return {
    A,
    Bx,
    By,
    E,
    S,
    F,
    T,
    z1: alpha + e * wit.x,
    z2: beta + e * wit.y,
    z3: gamma + e * m,
    z4: delta + e * mu,
    w: math.mulMod(r, powSigned(math, wit.rho, e, n0, true), n0),
    wx: math.mulMod(rx, powEN1(wit.rhoX, e), n1),
    wy: math.mulMod(ry, powEN1(wit.rhoY, e), n1),
  };
}

/**
 * Verifies every check of Πaff-p; throws ERR_ZK_PROOF_INVALID naming the first failed one.
 * Cheap checks (membership, ranges) run before any exponentiation.
 *
 * @throws MpcError ERR_ZK_PROOF_INVALID with details.check one of: 'C is not in Z*_{N0²}',
 *   'D is not in Z*_{N0²}', 'Y is not in Z*_{N1²}', 'X is not in Z*_{N1²}', 'A is not in Z*_{N0²}',
 *   'Bx is not in Z*_{N1²}', 'By is not in Z*_{N1²}', 'E is not in Z*_N̂', 'S is not in Z*_N̂',
 *   'F is not in Z*_N̂', 'T is not in Z*_N̂', 'w is not in Z*_{N0}', 'wx is not in Z*_{N1}',
 *   'wy is not in Z*_{N1}', 'z1 out of range', 'z2 out of range', 'z3 out of range', 'z4 out of range',
 *   'Paillier equation (N0)', 'Paillier equation (N1, X)', 'Paillier equation (N1, Y)',
 *   'ring-Pedersen equation (E, S)', 'ring-Pedersen equation (F, T)'
 * @example
 * verifyAffP(math, ctx, ownAux, { pk0: ownPk, pk1: pkOfJ, C: K_i, D: D_ij, Y: F_ij, X }, decodeAffPProof(bytes));
 */
export function verifyAffP(
  math: MathBackend,
  ctx: ProofContext,
  aux: RingPedersenParams,
  st: AffPStatement,
  p: AffPProof,
): void {
  const { ell, ellPrime, epsilon } = SECURITY;
  const n0 = st.pk0.n;
  const n0sq = st.pk0.n2;
  const n1 = st.pk1.n;
  const n1sq = st.pk1.n2;
  if (!isUnitModSquare(math, st.C, n0, n0sq)) reject(PROOF, 'C is not in Z*_{N0²}');
  if (!isUnitModSquare(math, st.D, n0, n0sq)) reject(PROOF, 'D is not in Z*_{N0²}');
  if (!isUnitModSquare(math, st.Y, n1, n1sq)) reject(PROOF, 'Y is not in Z*_{N1²}');
  if (!isUnitModSquare(math, st.X, n1, n1sq)) reject(PROOF, 'X is not in Z*_{N1²}');
  if (!isUnitModSquare(math, p.A, n0, n0sq)) reject(PROOF, 'A is not in Z*_{N0²}');
  if (!isUnitModSquare(math, p.Bx, n1, n1sq)) reject(PROOF, 'Bx is not in Z*_{N1²}');
  if (!isUnitModSquare(math, p.By, n1, n1sq)) reject(PROOF, 'By is not in Z*_{N1²}');
  if (!isUnit(math, p.E, aux.n)) reject(PROOF, 'E is not in Z*_N̂');
  if (!isUnit(math, p.S, aux.n)) reject(PROOF, 'S is not in Z*_N̂');
  if (!isUnit(math, p.F, aux.n)) reject(PROOF, 'F is not in Z*_N̂');
  if (!isUnit(math, p.T, aux.n)) reject(PROOF, 'T is not in Z*_N̂');
  if (!isUnit(math, p.w, n0)) reject(PROOF, 'w is not in Z*_{N0}');
  if (!isUnit(math, p.wx, n1)) reject(PROOF, 'wx is not in Z*_{N1}');
  if (!isUnit(math, p.wy, n1)) reject(PROOF, 'wy is not in Z*_{N1}');
  // Fig. 26, range checks: z1 ∈ ±2^(ℓ+ε), z2 ∈ ±2^(ℓ'+ε).
  if (!inSignedRange(p.z1, ell + epsilon)) reject(PROOF, 'z1 out of range');
  if (!inSignedRange(p.z2, ellPrime + epsilon)) reject(PROOF, 'z2 out of range');
  // |z3|, |z4| ≤ 2^(ℓ+ε)·N̂ + Q·2^ℓ·N̂ < 2^(ℓ+ε+1)·N̂ for an honest prover; larger values only cost time.
  if (!inScaledRange(p.z3, ell + epsilon + 1, aux.n)) reject(PROOF, 'z3 out of range');
  if (!inScaledRange(p.z4, ell + epsilon + 1, aux.n)) reject(PROOF, 'z4 out of range');
  const e = challenge(ctx, aux, st, p);
  // Fig. 26 checks, cheapest first (mod N̂ before mod N²).
  // Check 4: s^z1 · t^z3 = E · S^e  (mod N̂)
  const lhs4 = commit(math, aux, p.z1, p.z3, false);
  const rhs4 = math.mulMod(p.E, powSigned(math, p.S, e, aux.n, false), aux.n);
  if (lhs4 !== rhs4) reject(PROOF, 'ring-Pedersen equation (E, S)');
  // Check 5: s^z2 · t^z4 = F · T^e  (mod N̂)
  const lhs5 = commit(math, aux, p.z2, p.z4, false);
  const rhs5 = math.mulMod(p.F, powSigned(math, p.T, e, aux.n, false), aux.n);
  if (lhs5 !== rhs5) reject(PROOF, 'ring-Pedersen equation (F, T)');
  // Check 1: C^z1 · (1 + N0)^z2 · w^{N0} = A · D^e  (mod N0²)
  const lhs1 = math.mulMod(
    powSigned(math, st.C, p.z1, n0sq, false),
    math.mulMod(1n + mod(p.z2, n0) * n0, math.powm(p.w, n0, n0sq), n0sq),
    n0sq,
  );
  const rhs1 = math.mulMod(p.A, powSigned(math, st.D, e, n0sq, false), n0sq);
  if (lhs1 !== rhs1) reject(PROOF, 'Paillier equation (N0)');
  // Check 2: (1 + N1)^z1 · w_x^{N1} = B_x · X^e  (mod N1²)     (enc_{N1}(z1; w_x) = B_x ⊕ (e ⊙ X))
  const lhs2 = math.mulMod(1n + mod(p.z1, n1) * n1, math.powm(p.wx, n1, n1sq), n1sq);
  const rhs2 = math.mulMod(p.Bx, powSigned(math, st.X, e, n1sq, false), n1sq);
  if (lhs2 !== rhs2) reject(PROOF, 'Paillier equation (N1, X)');
  // Check 3: (1 + N1)^z2 · w_y^{N1} = B_y · Y^e  (mod N1²)     (enc_{N1}(z2; w_y) = B_y ⊕ (e ⊙ Y))
  const lhs3 = math.mulMod(1n + mod(p.z2, n1) * n1, math.powm(p.wy, n1, n1sq), n1sq);
  const rhs3 = math.mulMod(p.By, powSigned(math, st.Y, e, n1sq, false), n1sq);
  if (lhs3 !== rhs3) reject(PROOF, 'Paillier equation (N1, Y)');
}

/** Upper bound of |z3|, |z4| ≤ 2^(ℓ+ε)·N̂ + Q·2^ℓ·N̂: bits used by the decoder's size cap. */
const Z34_MAX_BITS = SECURITY.ell + SECURITY.epsilon + MAX_MODULUS_BITS + 2;
/** Largest encoded proof: fourteen numbers of at most 8192 bits plus headers. */
export const AFF_P_PROOF_MAX_BYTES = 14 * (5 + MAX_MODULUS_BITS / 4) + 2;

/** @example const bytes = encodeAffPProof(proof); */
export function encodeAffPProof(p: AffPProof): Uint8Array {
  return new WireWriter()
    .u8(WIRE_TAG)
    .u8(WIRE_VERSION)
    .biguint(p.A)
    .biguint(p.Bx)
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
    .biguint(p.wx)
    .biguint(p.wy)
    .finish();
}

/**
 * Strict decoder: sizes checked before any arithmetic, canonical encodings, no trailing bytes.
 *
 * @throws MpcError ERR_WIRE_TOO_LARGE, ERR_WIRE_TRUNCATED, ERR_WIRE_BAD_TAG, ERR_WIRE_BAD_LENGTH,
 *   ERR_WIRE_BIGINT_TOO_LARGE, ERR_WIRE_NON_CANONICAL, ERR_WIRE_TRAILING_BYTES
 * @example const proof = decodeAffPProof(bytes);
 */
export function decodeAffPProof(bytes: Uint8Array): AffPProof {
  const r = new WireReader(bytes, AFF_P_PROOF_MAX_BYTES);
  r.tag('pi-aff-p.tag', WIRE_TAG);
  r.tag('pi-aff-p.version', WIRE_VERSION);
  const proof: AffPProof = {
    A: r.biguint('pi-aff-p.A', 2 * MAX_MODULUS_BITS),
    Bx: r.biguint('pi-aff-p.Bx', 2 * MAX_MODULUS_BITS),
    By: r.biguint('pi-aff-p.By', 2 * MAX_MODULUS_BITS),
    E: r.biguint('pi-aff-p.E', MAX_MODULUS_BITS),
    S: r.biguint('pi-aff-p.S', MAX_MODULUS_BITS),
    F: r.biguint('pi-aff-p.F', MAX_MODULUS_BITS),
    T: r.biguint('pi-aff-p.T', MAX_MODULUS_BITS),
    z1: r.bigint('pi-aff-p.z1', SECURITY.ell + SECURITY.epsilon + 1),
    z2: r.bigint('pi-aff-p.z2', SECURITY.ellPrime + SECURITY.epsilon + 1),
    z3: r.bigint('pi-aff-p.z3', Z34_MAX_BITS),
    z4: r.bigint('pi-aff-p.z4', Z34_MAX_BITS),
    w: r.biguint('pi-aff-p.w', MAX_MODULUS_BITS),
    wx: r.biguint('pi-aff-p.wx', MAX_MODULUS_BITS),
    wy: r.biguint('pi-aff-p.wy', MAX_MODULUS_BITS),
  };
  r.end();
  return proof;
}
