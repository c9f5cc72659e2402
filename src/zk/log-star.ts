/**
 * Πlog* — knowledge of exponent vs Paillier encryption, in range (CGGMP24 ePrint 2021/060,
 * "Knowledge of Exponent vs Paillier Encryption"; CGGMP spec §"Πlog*"; PROTOCOL.md §2.4).
 *
 * Proves, to a verifier with ring-Pedersen parameters (N̂, s, t), knowledge of x ∈ ±2^ℓ and
 * ρ ∈ Z*_{N0} with C = enc_{N0}(x; ρ) and X = x·B. The base point B is part of the statement and is
 * hashed into the challenge, so the two uses in presigning are distinct statements (PROTOCOL.md §5):
 *   ψ'  (round 2): (N_i, C = G_i, X = Γ_i, B = G)
 *   ψ'' (round 3): (N_i, C = K_i, X = Δ_i, B = Γ)
 *
 * Naming: N0 = prover's Paillier modulus; (S, A, Y, D) commitments; e challenge; (z1, z2, z3) responses.
 */
import { MpcError } from '../errors/index.js';
import type { MathBackend } from '../math/backend.js';
import { mod } from '../math/bits.js';
import type { Rng } from '../math/random.js';
import {
  CURVE_ORDER,
  decodePoint,
  encodePoint,
  isValidNonIdentity,
  mulPublic,
  mulSecret,
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

const PROOF = 'pi-log-star';
/** Wire tags follow the PROTOCOL.md §2 numbering: Πlog* = §2.4. */
const WIRE_TAG = 0x04;
const WIRE_VERSION = 1;

export interface LogStarStatement {
  /** Prover's Paillier public key N0. */
  readonly pk: PaillierPublicKey;
  /** C = enc_{N0}(x; ρ). */
  readonly C: bigint;
  /** X = x·B. */
  readonly X: Point;
  /** The base point B (G for ψ', Γ for ψ''). */
  readonly B: Point;
}

export interface LogStarWitness {
  readonly x: bigint;
  readonly rho: bigint;
}

export interface LogStarProof {
  readonly S: bigint;
  readonly A: bigint;
  readonly Y: Point;
  readonly D: bigint;
  readonly z1: bigint;
  readonly z2: bigint;
  readonly z3: bigint;
}

/** The prover's first message (S, A, Y, D). */
type LogStarCommitment = Pick<LogStarProof, 'S' | 'A' | 'Y' | 'D'>;

/** e ∈ ±Q from the verifier's aux, the whole statement (B included) and the commitments (PROTOCOL.md §0.3). */
function challenge(ctx: ProofContext, aux: RingPedersenParams, st: LogStarStatement, p: LogStarCommitment): bigint {
  return auxTranscript(PROOF, ctx, aux)
    .uint('N0', st.pk.n)
    .uint('C', st.C)
    .point('X', encodePoint(st.X))
    .point('B', encodePoint(st.B))
    .uint('S', p.S)
    .uint('A', p.A)
    .point('Y', encodePoint(p.Y))
    .uint('D', p.D)
    .challengeRng('e')
    .signed(CHALLENGE_BOUND);
}

/**
 * Proves Πlog* towards the owner of `aux`. `proverSk` (the prover's own key, whose public part must
 * be `st.pk`) enables the CRT path for r^{N0} and ρ^e; without it the constant-time public-key path
 * is used. The witness is not range-checked here: a witness outside ±2^ℓ yields a proof the
 * verifier rejects.
 *
 * @throws MpcError ERR_ZK_STATEMENT_INVALID when X or B is the identity or `proverSk` is not the key of `st.pk`
 * @example const psiPrime = proveLogStar(math, ctx, auxOfJ, { pk, C: G_i, X: Gamma_i, B: G }, { x: gamma_i, rho: nu_i }, rng, sk);
 */
export function proveLogStar(
  math: MathBackend,
  ctx: ProofContext,
  aux: RingPedersenParams,
  st: LogStarStatement,
  w: LogStarWitness,
  rng?: Rng,
  proverSk?: PaillierSecretKey,
): LogStarProof {
  if (!isValidNonIdentity(st.X) || !isValidNonIdentity(st.B)) {
    throw new MpcError('ERR_ZK_STATEMENT_INVALID', `${PROOF}: X and B must be non-identity points`);
  }
  if (proverSk !== undefined && proverSk.pub.n !== st.pk.n) {
    throw new MpcError('ERR_ZK_STATEMENT_INVALID', `${PROOF}: proverSk is not the key of the statement`);
  }
  const { ell, epsilon } = SECURITY;
  const n0 = st.pk.n;
  const n0sq = st.pk.n2;
  // α ← ±2^(ℓ+ε), redrawn in the negligible case α ≡ 0 (mod q), where Y = α·B would be the identity.
  let alpha: bigint;
  do {
    alpha = math.randBelow(1n << BigInt(ell + epsilon + 1), rng) - (1n << BigInt(ell + epsilon));
  } while (mod(alpha, CURVE_ORDER) === 0n);
  // μ ← ±2^ℓ·N̂; r ← Z*_{N0}; γ ← ±2^(ℓ+ε)·N̂
  const mu = math.randBelow((1n << BigInt(ell + 1)) * aux.n, rng) - (1n << BigInt(ell)) * aux.n;
  const r = math.randUnit(n0, rng);
  const gamma = math.randBelow((1n << BigInt(ell + epsilon + 1)) * aux.n, rng) - (1n << BigInt(ell + epsilon)) * aux.n;
  // S = s^x · t^μ mod N̂
  const S = commit(math, aux, w.x, mu, true);
  // A = (1 + N0)^α · r^{N0} mod N0²   ((1 + N0)^α = 1 + α·N0 mod N0²)
  const rN = proverSk === undefined ? math.powmSec(r, n0, n0sq) : math.powmCrt(r, n0, proverSk.crtN2);
  const A = math.mulMod(1n + mod(alpha, n0) * n0, rN, n0sq);
  // Y = α·B (secret scalar)
  const Y = mulSecret(st.B, alpha);
  // D = s^α · t^γ mod N̂
  const D = commit(math, aux, alpha, gamma, true);
  const e = challenge(ctx, aux, st, { S, A, Y, D });
  // ρ^e mod N0 (secret base, signed public exponent)
  const rhoE =
    proverSk === undefined
      ? powSigned(math, w.rho, e, n0, true)
      : math.powmCrt(e < 0n ? math.invMod(w.rho, n0) : w.rho, e < 0n ? -e : e, proverSk.crtN);
  // z1 = α + e·x; z2 = r·ρ^e mod N0; z3 = γ + e·μ
  return { S, A, Y, D, z1: alpha + e * w.x, z2: math.mulMod(r, rhoE, n0), z3: gamma + e * mu };
}

/**
 * Verifies every check of Πlog*; throws ERR_ZK_PROOF_INVALID naming the first failed one.
 * Cheap checks (membership, identity, ranges) run before any exponentiation.
 *
 * @throws MpcError ERR_ZK_PROOF_INVALID with details.check one of: 'C is not in Z*_{N0²}',
 *   'X is the identity', 'B is the identity', 'S is not in Z*_N̂', 'D is not in Z*_N̂',
 *   'A is not in Z*_{N0²}', 'Y is the identity', 'z2 is not in Z*_{N0}', 'z1 out of range',
 *   'z3 out of range', 'Paillier equation', 'curve equation', 'ring-Pedersen equation'
 * @example verifyLogStar(math, ctx, ownAux, { pk: pkOfJ, C: G_j, X: Gamma_j, B: G }, decodeLogStarProof(bytes));
 */
export function verifyLogStar(
  math: MathBackend,
  ctx: ProofContext,
  aux: RingPedersenParams,
  st: LogStarStatement,
  p: LogStarProof,
): void {
  const { ell, epsilon } = SECURITY;
  const n0 = st.pk.n;
  const n0sq = st.pk.n2;
  if (!isUnitModSquare(math, st.C, n0, n0sq)) reject(PROOF, 'C is not in Z*_{N0²}');
  if (!isValidNonIdentity(st.X)) reject(PROOF, 'X is the identity');
  if (!isValidNonIdentity(st.B)) reject(PROOF, 'B is the identity');
  if (!isUnit(math, p.S, aux.n)) reject(PROOF, 'S is not in Z*_N̂');
  if (!isUnit(math, p.D, aux.n)) reject(PROOF, 'D is not in Z*_N̂');
  if (!isUnitModSquare(math, p.A, n0, n0sq)) reject(PROOF, 'A is not in Z*_{N0²}');
  if (!isValidNonIdentity(p.Y)) reject(PROOF, 'Y is the identity');
  if (!isUnit(math, p.z2, n0)) reject(PROOF, 'z2 is not in Z*_{N0}');
  // Check 4: z1 ∈ ±2^(ℓ+ε), the range the whole proof exists for.
  if (!inSignedRange(p.z1, ell + epsilon)) reject(PROOF, 'z1 out of range');
  // |z3| ≤ 2^(ℓ+ε)·N̂ + Q·2^ℓ·N̂ < 2^(ℓ+ε+1)·N̂ for an honest prover; larger values only cost time.
  if (!inScaledRange(p.z3, ell + epsilon + 1, aux.n)) reject(PROOF, 'z3 out of range');
  const e = challenge(ctx, aux, st, p);
  // Check 1: (1 + N0)^z1 · z2^N0 = A · C^e  (mod N0²)
  const lhs1 = math.mulMod(1n + mod(p.z1, n0) * n0, math.powm(p.z2, n0, n0sq), n0sq);
  const rhs1 = math.mulMod(p.A, powSigned(math, st.C, e, n0sq, false), n0sq);
  if (lhs1 !== rhs1) reject(PROOF, 'Paillier equation');
  // Check 2: z1·B = Y + e·X  (scalars reduced mod q, signs respected)
  if (!mulPublic(st.B, p.z1).equals(p.Y.add(mulPublic(st.X, e)))) reject(PROOF, 'curve equation');
  // Check 3: s^z1 · t^z3 = D · S^e  (mod N̂)
  const lhs3 = commit(math, aux, p.z1, p.z3, false);
  const rhs3 = math.mulMod(p.D, powSigned(math, p.S, e, aux.n, false), aux.n);
  if (lhs3 !== rhs3) reject(PROOF, 'ring-Pedersen equation');
}

/** Upper bound of |z3| = |γ + e·μ| ≤ 2^(ℓ+ε)·N̂ + Q·2^ℓ·N̂: bits used by the decoder's size cap. */
const Z3_MAX_BITS = SECURITY.ell + SECURITY.epsilon + MAX_MODULUS_BITS + 2;
/** Largest encoded proof: six numbers of at most 8192 bits plus headers, and one point. */
export const LOG_STAR_PROOF_MAX_BYTES = 6 * (5 + MAX_MODULUS_BITS / 4) + POINT_BYTES + 2;

/**
 * @throws MpcError ERR_WIRE_POINT_INVALID when Y is the identity
 * @example const bytes = encodeLogStarProof(proof);
 */
export function encodeLogStarProof(p: LogStarProof): Uint8Array {
  return new WireWriter()
    .u8(WIRE_TAG)
    .u8(WIRE_VERSION)
    .biguint(p.S)
    .biguint(p.A)
    .fixed(encodePoint(p.Y))
    .biguint(p.D)
    .bigint(p.z1)
    .biguint(p.z2)
    .bigint(p.z3)
    .finish();
}

/**
 * Strict decoder: sizes checked before any arithmetic, canonical encodings, Y a valid non-identity
 * point (SECURITY.md A14), no trailing bytes.
 *
 * @throws MpcError ERR_WIRE_TOO_LARGE, ERR_WIRE_TRUNCATED, ERR_WIRE_BAD_TAG, ERR_WIRE_BAD_LENGTH,
 *   ERR_WIRE_BIGINT_TOO_LARGE, ERR_WIRE_NON_CANONICAL, ERR_WIRE_POINT_INVALID, ERR_WIRE_TRAILING_BYTES
 * @example const proof = decodeLogStarProof(bytes);
 */
export function decodeLogStarProof(bytes: Uint8Array): LogStarProof {
  const r = new WireReader(bytes, LOG_STAR_PROOF_MAX_BYTES);
  r.tag('pi-log-star.tag', WIRE_TAG);
  r.tag('pi-log-star.version', WIRE_VERSION);
  const proof: LogStarProof = {
    S: r.biguint('pi-log-star.S', MAX_MODULUS_BITS),
    A: r.biguint('pi-log-star.A', 2 * MAX_MODULUS_BITS),
    Y: decodePoint(r.fixed('pi-log-star.Y', POINT_BYTES), 'pi-log-star.Y'),
    D: r.biguint('pi-log-star.D', MAX_MODULUS_BITS),
    z1: r.bigint('pi-log-star.z1', SECURITY.ell + SECURITY.epsilon + 1),
    z2: r.biguint('pi-log-star.z2', MAX_MODULUS_BITS),
    z3: r.bigint('pi-log-star.z3', Z3_MAX_BITS),
  };
  r.end();
  return proof;
}
