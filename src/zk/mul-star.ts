/**
 * Πmul* — multiplication, Paillier vs group (CGGMP ePrint 2021/060, App. C.6 "Multiplication
 * Paillier vs Group", Fig. 31 in the 2021–2023 revisions; PROTOCOL.md §2.8, used only by
 * identification §7.3).
 *
 * Proves, to a verifier with ring-Pedersen parameters (N̂, s, t), knowledge of x ∈ ±2^ℓ and
 * ρ ∈ Z*_{N0} with
 *   D = (x ⊙ C) ⊕ enc_{N0}(0; ρ) = C^x · ρ^{N0}  (mod N0²)   and   X = x·G.
 * In §7.3, P_i proves Ĥ_i = enc_{N_i}(x_i·k_i) with C = K_i, D = Ĥ_i = K_i^{x_i}·ρ^{N_i}, X = X_i.
 *
 * Definition followed (cross-checked): entropyxyz/synedrion synedrion/src/cggmp21/sigma/mul_star.rs,
 * circlefin/robust-tss-lib crypto/zkproofs/mulstar_proof.go, taurusgroup/multi-party-sig
 * pkg/zk/mulstar/mulstar.go. Paper typos fixed as those sources do: A = C^α·r^{N0} (the figure's extra
 * (1 + N0)^β factor is never defined nor checked), the unused r_y is dropped, and B = B_x.
 * m ← ±2^ℓ·N̂ as in the paper (taurus samples it from ±2^(ℓ+ε)·N̂). The challenge is e ∈ ±Q with
 * Q = 2^128 like every proof of this project (the paper draws e ← ±q).
 *
 * Naming: N0 modulus of C and D (the prover's own key in §7.3); (A, B_x, E, S) commitments;
 * e challenge; (z1, z2, w) responses.
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

const PROOF = 'pi-mul-star';
const WIRE_TAG = 0x21;
const WIRE_VERSION = 1;

export interface MulStarStatement {
  /** Paillier public key N0 of C and D (in §7.3 the prover's own key, which then knows ρ). */
  readonly pk: PaillierPublicKey;
  /** C: any ciphertext under N0. */
  readonly C: bigint;
  /** D = C^x · ρ^{N0} mod N0². */
  readonly D: bigint;
  /** X = x·G. */
  readonly X: Point;
}

export interface MulStarWitness {
  /** x ∈ ±2^ℓ (in §7.3 the signer's share x_i ∈ [0, q)). */
  readonly x: bigint;
  /** Nonce of D. */
  readonly rho: bigint;
}

export interface MulStarProof {
  readonly A: bigint;
  readonly Bx: Point;
  readonly E: bigint;
  readonly S: bigint;
  readonly z1: bigint;
  readonly z2: bigint;
  readonly w: bigint;
}

/** The prover's first message (A, B_x, E, S). */
type MulStarCommitment = Pick<MulStarProof, 'A' | 'Bx' | 'E' | 'S'>;

/** e ∈ ±Q from the verifier's aux, the whole statement and the commitments (PROTOCOL.md §0.3). */
function challenge(ctx: ProofContext, aux: RingPedersenParams, st: MulStarStatement, p: MulStarCommitment): bigint {
  return auxTranscript(PROOF, ctx, aux)
    .uint('N0', st.pk.n)
    .uint('C', st.C)
    .uint('D', st.D)
    .point('X', encodePoint(st.X))
    .uint('A', p.A)
    .point('Bx', encodePoint(p.Bx))
    .uint('E', p.E)
    .uint('S', p.S)
    .challengeRng('e')
    .signed(CHALLENGE_BOUND);
}

/**
 * Proves Πmul* towards the owner of `aux`. `proverSk` (whose public part must be `st.pk`) enables the
 * CRT path for r^{N0} and ρ^e; without it the constant-time public-key path is used. The witness is
 * not range-checked here: a witness outside ±2^ℓ yields a proof the verifier rejects.
 *
 * @throws MpcError ERR_ZK_STATEMENT_INVALID when X is the identity or `proverSk` is not the key of `st.pk`
 * @throws MpcError ERR_MATH_NOT_INVERTIBLE when C or ρ is not a unit and its exponent is negative
 * @example const psi = proveMulStar(math, ctx, auxOfJ, { pk, C: K_i, D: Hhat_i, X: X_i }, { x: x_i, rho }, rng, sk);
 */
export function proveMulStar(
  math: MathBackend,
  ctx: ProofContext,
  aux: RingPedersenParams,
  st: MulStarStatement,
  w: MulStarWitness,
  rng?: Rng,
  proverSk?: PaillierSecretKey,
): MulStarProof {
  if (!isValidNonIdentity(st.X)) {
    throw new MpcError('ERR_ZK_STATEMENT_INVALID', `${PROOF}: X must be a non-identity point`);
  }
  if (proverSk !== undefined && proverSk.pub.n !== st.pk.n) {
    throw new MpcError('ERR_ZK_STATEMENT_INVALID', `${PROOF}: proverSk is not the key of the statement`);
  }
  const { ell, epsilon } = SECURITY;
  const n0 = st.pk.n;
  const n0sq = st.pk.n2;
  // Fig. 31, step 1: α ← ±2^(ℓ+ε), redrawn in the negligible case α ≡ 0 (mod q) (B_x would be the identity)
  let alpha: bigint;
  do {
    alpha = math.randBelow(1n << BigInt(ell + epsilon + 1), rng) - (1n << BigInt(ell + epsilon));
  } while (mod(alpha, CURVE_ORDER) === 0n);
  // r ← Z*_{N0}; γ ← ±2^(ℓ+ε)·N̂; m ← ±2^ℓ·N̂
  const r = math.randUnit(n0, rng);
  const gamma = math.randBelow((1n << BigInt(ell + epsilon + 1)) * aux.n, rng) - (1n << BigInt(ell + epsilon)) * aux.n;
  const m = math.randBelow((1n << BigInt(ell + 1)) * aux.n, rng) - (1n << BigInt(ell)) * aux.n;
  // A = C^α · r^{N0}  (mod N0²)     (α ⊙ C, re-randomised; secret signed exponent α, secret base r)
  const rN = proverSk === undefined ? math.powmSec(r, n0, n0sq) : math.powmCrt(r, n0, proverSk.crtN2);
  const A = math.mulMod(powSigned(math, st.C, alpha, n0sq, true), rN, n0sq);
  // B_x = α·G (secret scalar)
  const Bx = mulBase(alpha);
  // E = s^α · t^γ mod N̂;  S = s^x · t^m mod N̂
  const E = commit(math, aux, alpha, gamma, true);
  const S = commit(math, aux, w.x, m, true);
  // Step 2: e ← ±Q (Fiat–Shamir)
  const e = challenge(ctx, aux, st, { A, Bx, E, S });
  // ρ^e mod N0 (secret base, signed public exponent)
  const rhoE =
    proverSk === undefined
      ? powSigned(math, w.rho, e, n0, true)
      : math.powmCrt(e < 0n ? math.invMod(w.rho, n0) : w.rho, e < 0n ? -e : e, proverSk.crtN);
  // Step 3: z1 = α + e·x; z2 = γ + e·m; w = r·ρ^e mod N0
  return { A, Bx, E, S, z1: alpha + e * w.x, z2: gamma + e * m, w: math.mulMod(r, rhoE, n0) };
}

/**
 * Verifies every check of Πmul*; throws ERR_ZK_PROOF_INVALID naming the first failed one.
 * Cheap checks (membership, identity, ranges) run before any exponentiation.
 *
 * @throws MpcError ERR_ZK_PROOF_INVALID with details.check one of: 'C is not in Z*_{N0²}',
 *   'D is not in Z*_{N0²}', 'X is the identity', 'A is not in Z*_{N0²}', 'Bx is the identity',
 *   'E is not in Z*_N̂', 'S is not in Z*_N̂', 'w is not in Z*_{N0}', 'z1 out of range',
 *   'z2 out of range', 'curve equation', 'Paillier equation', 'ring-Pedersen equation'
 * @example verifyMulStar(math, ctx, ownAux, { pk: pkOfI, C: K_i, D: Hhat_i, X: X_i }, decodeMulStarProof(bytes));
 */
export function verifyMulStar(
  math: MathBackend,
  ctx: ProofContext,
  aux: RingPedersenParams,
  st: MulStarStatement,
  p: MulStarProof,
): void {
  const { ell, epsilon } = SECURITY;
  const n0 = st.pk.n;
  const n0sq = st.pk.n2;
  if (!isUnitModSquare(math, st.C, n0, n0sq)) reject(PROOF, 'C is not in Z*_{N0²}');
  if (!isUnitModSquare(math, st.D, n0, n0sq)) reject(PROOF, 'D is not in Z*_{N0²}');
  if (!isValidNonIdentity(st.X)) reject(PROOF, 'X is the identity');
  if (!isUnitModSquare(math, p.A, n0, n0sq)) reject(PROOF, 'A is not in Z*_{N0²}');
  if (!isValidNonIdentity(p.Bx)) reject(PROOF, 'Bx is the identity');
  if (!isUnit(math, p.E, aux.n)) reject(PROOF, 'E is not in Z*_N̂');
  if (!isUnit(math, p.S, aux.n)) reject(PROOF, 'S is not in Z*_N̂');
  if (!isUnit(math, p.w, n0)) reject(PROOF, 'w is not in Z*_{N0}');
  // Fig. 31, range check: z1 ∈ ±2^(ℓ+ε) — what ties D's integer multiplier to x = log X (mod q).
  if (!inSignedRange(p.z1, ell + epsilon)) reject(PROOF, 'z1 out of range');
  // |z2| ≤ 2^(ℓ+ε)·N̂ + Q·2^ℓ·N̂ < 2^(ℓ+ε+1)·N̂ for an honest prover; larger values only cost time.
  if (!inScaledRange(p.z2, ell + epsilon + 1, aux.n)) reject(PROOF, 'z2 out of range');
  const e = challenge(ctx, aux, st, p);
  // Fig. 31 checks, cheapest first (curve, then mod N̂, then mod N0²).
  // Check 2: z1·G = B_x + e·X  (scalars reduced mod q, signs respected)
  if (!mulPublic(G, p.z1).equals(p.Bx.add(mulPublic(st.X, e)))) reject(PROOF, 'curve equation');
  // Check 3: s^z1 · t^z2 = E · S^e  (mod N̂)
  const lhs3 = commit(math, aux, p.z1, p.z2, false);
  const rhs3 = math.mulMod(p.E, powSigned(math, p.S, e, aux.n, false), aux.n);
  if (lhs3 !== rhs3) reject(PROOF, 'ring-Pedersen equation');
  // Check 1: C^z1 · w^{N0} = A · D^e  (mod N0²)
  const lhs1 = math.mulMod(powSigned(math, st.C, p.z1, n0sq, false), math.powm(p.w, n0, n0sq), n0sq);
  const rhs1 = math.mulMod(p.A, powSigned(math, st.D, e, n0sq, false), n0sq);
  if (lhs1 !== rhs1) reject(PROOF, 'Paillier equation');
}

/** Upper bound of |z2| = |γ + e·m| ≤ 2^(ℓ+ε)·N̂ + Q·2^ℓ·N̂: bits used by the decoder's size cap. */
const Z2_MAX_BITS = SECURITY.ell + SECURITY.epsilon + MAX_MODULUS_BITS + 2;
/** Largest encoded proof: six numbers of at most 8192 bits plus headers, and one point. */
export const MUL_STAR_PROOF_MAX_BYTES = 6 * (5 + MAX_MODULUS_BITS / 4) + POINT_BYTES + 2;

/**
 * @throws MpcError ERR_WIRE_POINT_INVALID when B_x is the identity
 * @example const bytes = encodeMulStarProof(proof);
 */
export function encodeMulStarProof(p: MulStarProof): Uint8Array {
  return new WireWriter()
    .u8(WIRE_TAG)
    .u8(WIRE_VERSION)
    .biguint(p.A)
    .fixed(encodePoint(p.Bx))
    .biguint(p.E)
    .biguint(p.S)
    .bigint(p.z1)
    .bigint(p.z2)
    .biguint(p.w)
    .finish();
}

/**
 * Strict decoder: sizes checked before any arithmetic, canonical encodings, B_x a valid
 * non-identity point (SECURITY.md A14), no trailing bytes.
 *
 * @throws MpcError ERR_WIRE_TOO_LARGE, ERR_WIRE_TRUNCATED, ERR_WIRE_BAD_TAG, ERR_WIRE_BAD_LENGTH,
 *   ERR_WIRE_BIGINT_TOO_LARGE, ERR_WIRE_NON_CANONICAL, ERR_WIRE_POINT_INVALID, ERR_WIRE_TRAILING_BYTES
 * @example const proof = decodeMulStarProof(bytes);
 */
export function decodeMulStarProof(bytes: Uint8Array): MulStarProof {
  const r = new WireReader(bytes, MUL_STAR_PROOF_MAX_BYTES);
  r.tag('pi-mul-star.tag', WIRE_TAG);
  r.tag('pi-mul-star.version', WIRE_VERSION);
  const proof: MulStarProof = {
    A: r.biguint('pi-mul-star.A', 2 * MAX_MODULUS_BITS),
    Bx: decodePoint(r.fixed('pi-mul-star.Bx', POINT_BYTES), 'pi-mul-star.Bx'),
    E: r.biguint('pi-mul-star.E', MAX_MODULUS_BITS),
    S: r.biguint('pi-mul-star.S', MAX_MODULUS_BITS),
    z1: r.bigint('pi-mul-star.z1', SECURITY.ell + SECURITY.epsilon + 1),
    z2: r.bigint('pi-mul-star.z2', Z2_MAX_BITS),
    w: r.biguint('pi-mul-star.w', MAX_MODULUS_BITS),
  };
  r.end();
  return proof;
}
