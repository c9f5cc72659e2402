/**
 * Πenc — Paillier encryption in range (CGGMP24 ePrint 2021/060, "Paillier Encryption in Range ZK";
 * CGGMP spec §"Πenc"; PROTOCOL.md §2.2).
 *
 * Proves, to a verifier with ring-Pedersen parameters (N̂, s, t), knowledge of k ∈ ±2^ℓ and
 * ρ ∈ Z*_{N0} with K = enc_{N0}(k; ρ). Used in presigning round 1 for K_i (towards every peer j,
 * with j's parameters).
 *
 * Naming: N0 = prover's Paillier modulus; (S, A, C) commitments; e challenge; (z1, z2, z3) responses.
 */
import type { MathBackend } from '../math/backend.js';
import { mod } from '../math/bits.js';
import type { Rng } from '../math/random.js';
import type { PaillierPublicKey } from '../primitives/paillier.js';
import { commit, powSigned, type RingPedersenParams } from '../primitives/ring-pedersen.js';
import { WireReader, WireWriter } from '../util/wire.js';
import { auxTranscript, inSignedRange, isUnit, isUnitModSquare, type ProofContext, reject } from './common.js';
import { CHALLENGE_BOUND, MAX_MODULUS_BITS, SECURITY } from './params.js';

const PROOF = 'pi-enc';
const WIRE_TAG = 0x02;
const WIRE_VERSION = 1;

export interface EncStatement {
  /** Prover's Paillier public key N0. */
  readonly pk: PaillierPublicKey;
  /** K = enc_{N0}(k; ρ). */
  readonly K: bigint;
}

export interface EncWitness {
  readonly k: bigint;
  readonly rho: bigint;
}

export interface EncProof {
  readonly S: bigint;
  readonly A: bigint;
  readonly C: bigint;
  readonly z1: bigint;
  readonly z2: bigint;
  readonly z3: bigint;
}

/** e ∈ ±Q from the whole statement, the verifier's aux and the commitments (PROTOCOL.md §0.3). */
function challenge(
  ctx: ProofContext,
  aux: RingPedersenParams,
  st: EncStatement,
  S: bigint,
  A: bigint,
  C: bigint,
): bigint {
  return auxTranscript(PROOF, ctx, aux)
    .uint('N0', st.pk.n)
    .uint('K', st.K)
    .uint('S', S)
    .uint('A', A)
    .uint('C', C)
    .challengeRng('e')
    .signed(CHALLENGE_BOUND);
}

/**
 * @example const proof = proveEnc(math, ctx, verifierAux, { pk, K }, { k, rho });
 */
export function proveEnc(
  math: MathBackend,
  ctx: ProofContext,
  aux: RingPedersenParams,
  st: EncStatement,
  w: EncWitness,
  rng?: Rng,
): EncProof {
  const { ell, epsilon } = SECURITY;
  const n0 = st.pk.n;
  const n0sq = st.pk.n2;
  // α ← ±2^(ℓ+ε); μ ← ±2^ℓ·N̂; r ← Z*_{N0}; γ ← ±2^(ℓ+ε)·N̂
  const alpha = math.randBelow(1n << BigInt(ell + epsilon + 1), rng) - (1n << BigInt(ell + epsilon));
  const mu = math.randBelow((1n << BigInt(ell + 1)) * aux.n, rng) - (1n << BigInt(ell)) * aux.n;
  const r = math.randUnit(n0, rng);
  const gamma = math.randBelow((1n << BigInt(ell + epsilon + 1)) * aux.n, rng) - (1n << BigInt(ell + epsilon)) * aux.n;
  // S = s^k t^μ; A = (1 + N0)^α · r^N0 mod N0²; C = s^α t^γ
  const S = commit(math, aux, w.k, mu, true);
  const A = math.mulMod(1n + mod(alpha, n0) * n0, math.powmSec(r, n0, n0sq), n0sq);
  const C = commit(math, aux, alpha, gamma, true);
  const e = challenge(ctx, aux, st, S, A, C);
  // z1 = α + e·k; z2 = r·ρ^e mod N0; z3 = γ + e·μ
  return {
    S,
    A,
    C,
    z1: alpha + e * w.k,
    z2: math.mulMod(r, powSigned(math, w.rho, e, n0, true), n0),
    z3: gamma + e * mu,
  };
}

/**
 * Verifies every check of the proof; throws ERR_ZK_PROOF_INVALID naming the first failed one.
 * Cheap checks (ranges, group membership) run before any exponentiation.
 */
export function verifyEnc(
  math: MathBackend,
  ctx: ProofContext,
  aux: RingPedersenParams,
  st: EncStatement,
  p: EncProof,
): void {
  const n0 = st.pk.n;
  const n0sq = st.pk.n2;
  if (!isUnitModSquare(math, st.K, n0, n0sq)) reject(PROOF, 'K is not in Z*_{N0²}');
  if (!isUnit(math, p.S, aux.n)) reject(PROOF, 'S is not in Z*_N̂');
  if (!isUnit(math, p.C, aux.n)) reject(PROOF, 'C is not in Z*_N̂');
  if (!isUnitModSquare(math, p.A, n0, n0sq)) reject(PROOF, 'A is not in Z*_{N0²}');
  if (!isUnit(math, p.z2, n0)) reject(PROOF, 'z2 is not in Z*_{N0}');
  // z1 ∈ ±2^(ℓ+ε): the range the whole proof exists for.
  if (!inSignedRange(p.z1, SECURITY.ell + SECURITY.epsilon)) reject(PROOF, 'z1 out of range');
  const e = challenge(ctx, aux, st, p.S, p.A, p.C);
  // (1 + N0)^z1 · z2^N0 = A · K^e  (mod N0²)
  const lhs = math.mulMod(1n + mod(p.z1, n0) * n0, math.powm(p.z2, n0, n0sq), n0sq);
  const rhs = math.mulMod(p.A, powSigned(math, st.K, e, n0sq, false), n0sq);
  if (lhs !== rhs) reject(PROOF, 'Paillier equation');
  // s^z1 · t^z3 = C · S^e  (mod N̂)
  const lhs2 = commit(math, aux, p.z1, p.z3, false);
  const rhs2 = math.mulMod(p.C, powSigned(math, p.S, e, aux.n, false), aux.n);
  if (lhs2 !== rhs2) reject(PROOF, 'ring-Pedersen equation');
}

/** Upper bound of |z3| = |γ + e·μ| ≤ 2^(ℓ+ε)·N̂ + Q·2^ℓ·N̂: bits used by the decoder's size cap. */
const Z3_MAX_BITS = SECURITY.ell + SECURITY.epsilon + MAX_MODULUS_BITS + 2;
/** Largest encoded proof: six numbers of at most 8192 bits plus headers. */
export const ENC_PROOF_MAX_BYTES = 6 * (5 + MAX_MODULUS_BITS / 4) + 2;

export function encodeEncProof(p: EncProof): Uint8Array {
  return new WireWriter()
    .u8(WIRE_TAG)
    .u8(WIRE_VERSION)
    .biguint(p.S)
    .biguint(p.A)
    .biguint(p.C)
    .bigint(p.z1)
    .biguint(p.z2)
    .bigint(p.z3)
    .finish();
}

/** Strict decoder: sizes checked before any arithmetic, canonical encodings, no trailing bytes. */
export function decodeEncProof(bytes: Uint8Array): EncProof {
  const r = new WireReader(bytes, ENC_PROOF_MAX_BYTES);
  r.tag('pi-enc.tag', WIRE_TAG);
  r.tag('pi-enc.version', WIRE_VERSION);
  const proof: EncProof = {
    S: r.biguint('pi-enc.S', MAX_MODULUS_BITS),
    A: r.biguint('pi-enc.A', 2 * MAX_MODULUS_BITS),
    C: r.biguint('pi-enc.C', MAX_MODULUS_BITS),
    z1: r.bigint('pi-enc.z1', SECURITY.ell + SECURITY.epsilon + 1),
    z2: r.biguint('pi-enc.z2', MAX_MODULUS_BITS),
    z3: r.bigint('pi-enc.z3', Z3_MAX_BITS),
  };
  r.end();
  return proof;
}
