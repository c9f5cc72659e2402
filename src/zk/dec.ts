/**
 * Πdec — Paillier decryption modulo q (CGGMP ePrint 2021/060, App. C.6 "Paillier Decryption
 * modulo q", Fig. 30 in the 2021–2023 revisions; PROTOCOL.md §2.8, used only by identification
 * §7.2 on U_i and §7.3 on V_i).
 *
 * Proves, to a verifier with ring-Pedersen parameters (N̂, s, t), knowledge of y ∈ ±2^L and
 * ρ ∈ Z*_{N0} with C = enc_{N0}(y; ρ) and y ≡ x (mod q) for the public scalar x, where L is the
 * public plaintext bound `plaintextBits` of the statement.
 *
 * Definition followed (cross-checked): circlefin/robust-tss-lib crypto/zkproofs/dec_proof.go,
 * entropyxyz/synedrion synedrion/src/cggmp21/sigma/dec.rs, LFDT-Lockness/paillier-zk
 * src/paillier_decryption_modulo_q.rs (history, removed in 2023), taurusgroup/multi-party-sig
 * pkg/zk/dec/dec.go. All sample α ← ±2^(L+ε), μ ← ±2^ℓ·N̂, ν ← ±2^(ℓ+ε)·N̂, r ← Z*_{N0}, and send
 * S, T with (A, γ) (the figure forgets S, T). Deviations, both deliberate:
 * - L is a statement parameter (as paillier-zk's `l` and circlefin's `Ell`), not the fixed ℓ = 256:
 *   U_i and V_i decrypt to integers far wider than 2^ℓ (|δ_i| ≈ 2^(ℓ'+ε+1+log n), cf. synedrion
 *   PAPER.md "Range of delta_i"); with α ← ±2^(ℓ+ε), z1 = α + e·y would not hide y.
 * - The verifier checks z1 ∈ ±2^(L+ε) (Fig. 30 has no range check). Without it the witness is only
 *   some integer y ≡ dec(C) (mod N0): a prover could use y + N0 and "prove" the wrong residue
 *   (y + N0) mod q. With it, the extracted |y| ≤ 2^(L+ε+1) < N0/2, so y is THE signed decryption.
 * The challenge is e ∈ ±Q with Q = 2^128 like every proof of this project (the paper draws e ← ±q);
 * every nonzero e − e' is invertible mod q and mod N0, as extraction needs.
 *
 * Naming: N0 prover's Paillier modulus; (S, T, A, γ) commitments; e challenge; (z1, z2, w) responses.
 */
import { MpcError } from '../errors/index.js';
import type { MathBackend } from '../math/backend.js';
import { mod } from '../math/bits.js';
import type { Rng } from '../math/random.js';
import { CURVE_ORDER } from '../primitives/curve.js';
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

const PROOF = 'pi-dec';
const WIRE_TAG = 0x22;
const WIRE_VERSION = 1;

export interface DecStatement {
  /** Prover's Paillier public key N0. */
  readonly pk: PaillierPublicKey;
  /** C = enc_{N0}(y; ρ). */
  readonly C: bigint;
  /** The claimed residue x ≡ y (mod q), in [0, q). */
  readonly x: bigint;
  /**
   * L: public bound |y| ≤ 2^L, fixed by the protocol step that uses the proof (both sides compute it
   * the same way; it is hashed). Integer in [ℓ, |N0| − ε − 4] (see `decMaxPlaintextBits`).
   */
  readonly plaintextBits: number;
}

export interface DecWitness {
  /** The signed plaintext of C, |y| ≤ 2^L. */
  readonly y: bigint;
  /** Nonce of C. */
  readonly rho: bigint;
}

export interface DecProof {
  readonly S: bigint;
  readonly T: bigint;
  readonly A: bigint;
  readonly gamma: bigint;
  readonly z1: bigint;
  readonly z2: bigint;
  readonly w: bigint;
}

/** The prover's first message (S, T, A, γ). */
type DecCommitment = Pick<DecProof, 'S' | 'T' | 'A' | 'gamma'>;

/**
 * Largest plaintext bound L for a modulus N0 of `bits` bits: the extracted |y| ≤ 2^(L+ε+1) must stay
 * below N0/2 ≥ 2^(bits−2), so L + ε + 1 ≤ bits − 3.
 */
export function decMaxPlaintextBits(pk: PaillierPublicKey): number {
  return pk.bits - SECURITY.epsilon - 4;
}

/**
 * L ≥ ℓ keeps α ≫ q: γ = α mod q is public, and the remaining 2^(L+ε+1−|q|) ≥ 2^231 values of ⌊α/q⌋
 * must still hide e·⌊y/q⌋ (|e| ≤ 2^128) in z1.
 * @throws MpcError ERR_ZK_STATEMENT_INVALID when L is not an integer in [ℓ, decMaxPlaintextBits(pk)].
 */
function assertPlaintextBits(st: DecStatement): void {
  const L = st.plaintextBits;
  if (!Number.isInteger(L) || L < SECURITY.ell || L > decMaxPlaintextBits(st.pk)) {
    throw new MpcError('ERR_ZK_STATEMENT_INVALID', `${PROOF}: plaintextBits must be an integer in [ℓ, |N0| − ε − 4]`);
  }
}

/** e ∈ ±Q from the verifier's aux, the whole statement (L included) and the commitments (PROTOCOL.md §0.3). */
function challenge(ctx: ProofContext, aux: RingPedersenParams, st: DecStatement, p: DecCommitment): bigint {
  return auxTranscript(PROOF, ctx, aux)
    .uint('N0', st.pk.n)
    .uint('C', st.C)
    .uint('x', st.x)
    .u32('L', st.plaintextBits)
    .uint('S', p.S)
    .uint('T', p.T)
    .uint('A', p.A)
    .uint('gamma', p.gamma)
    .challengeRng('e')
    .signed(CHALLENGE_BOUND);
}

/**
 * Proves Πdec towards the owner of `aux`. `proverSk` (whose public part must be `st.pk`) enables the
 * CRT path for r^{N0} and ρ^e; without it the constant-time public-key path is used. The witness is
 * not checked here: a y outside ±2^L or ≢ x (mod q) yields a proof the verifier rejects.
 *
 * @throws MpcError ERR_ZK_STATEMENT_INVALID when x ∉ [0, q), L is invalid or `proverSk` is not the key of `st.pk`
 * @throws MpcError ERR_MATH_NOT_INVERTIBLE when ρ is not a unit and the challenge is negative
 * @example const psi = proveDec(math, ctx, auxOfJ, { pk, C: U_i, x: delta_i, plaintextBits: L }, { y, rho }, rng, sk);
 */
export function proveDec(
  math: MathBackend,
  ctx: ProofContext,
  aux: RingPedersenParams,
  st: DecStatement,
  w: DecWitness,
  rng?: Rng,
  proverSk?: PaillierSecretKey,
): DecProof {
  assertPlaintextBits(st);
  if (typeof st.x !== 'bigint' || st.x < 0n || st.x >= CURVE_ORDER) {
    throw new MpcError('ERR_ZK_STATEMENT_INVALID', `${PROOF}: x must be a scalar in [0, q)`);
  }
  if (proverSk !== undefined && proverSk.pub.n !== st.pk.n) {
    throw new MpcError('ERR_ZK_STATEMENT_INVALID', `${PROOF}: proverSk is not the key of the statement`);
  }
  const { ell, epsilon } = SECURITY;
  const L = st.plaintextBits;
  const n0 = st.pk.n;
  const n0sq = st.pk.n2;
  // Fig. 30, step 1: α ← ±2^(L+ε); μ ← ±2^ℓ·N̂; ν ← ±2^(ℓ+ε)·N̂; r ← Z*_{N0}
  const alpha = math.randBelow(1n << BigInt(L + epsilon + 1), rng) - (1n << BigInt(L + epsilon));
  const mu = math.randBelow((1n << BigInt(ell + 1)) * aux.n, rng) - (1n << BigInt(ell)) * aux.n;
  const nu = math.randBelow((1n << BigInt(ell + epsilon + 1)) * aux.n, rng) - (1n << BigInt(ell + epsilon)) * aux.n;
  const r = math.randUnit(n0, rng);
  // S = s^y · t^μ mod N̂;  T = s^α · t^ν mod N̂
  const S = commit(math, aux, w.y, mu, true);
  const T = commit(math, aux, alpha, nu, true);
  // A = enc_{N0}(α; r) = (1 + N0)^α · r^{N0} = (1 + α·N0) · r^{N0}  (mod N0²)
  const rN = proverSk === undefined ? math.powmSec(r, n0, n0sq) : math.powmCrt(r, n0, proverSk.crtN2);
  const A = math.mulMod(1n + mod(alpha, n0) * n0, rN, n0sq);
  // γ = α mod q (public: only the low residue of α; ⌊α/q⌋ keeps ≥ 2^231 values since L ≥ ℓ)
  const gamma = mod(alpha, CURVE_ORDER);
  // Step 2: e ← ±Q (Fiat–Shamir)
  const e = challenge(ctx, aux, st, { S, T, A, gamma });
  // ρ^e mod N0 (secret base, signed public exponent)
  const rhoE =
    proverSk === undefined
      ? powSigned(math, w.rho, e, n0, true)
      : math.powmCrt(e < 0n ? math.invMod(w.rho, n0) : w.rho, e < 0n ? -e : e, proverSk.crtN);
  // Step 3: z1 = α + e·y; z2 = ν + e·μ; w = r·ρ^e mod N0
  return { S, T, A, gamma, z1: alpha + e * w.y, z2: nu + e * mu, w: math.mulMod(r, rhoE, n0) };
}

/**
 * Verifies every check of Πdec; throws ERR_ZK_PROOF_INVALID naming the first failed one.
 * Cheap checks (membership, ranges, the mod-q equation) run before any exponentiation.
 *
 * @throws MpcError ERR_ZK_STATEMENT_INVALID when L is invalid (the verifier's own parameter, no blame)
 * @throws MpcError ERR_ZK_PROOF_INVALID with details.check one of: 'C is not in Z*_{N0²}',
 *   'x is not in Z_q', 'S is not in Z*_N̂', 'T is not in Z*_N̂', 'A is not in Z*_{N0²}',
 *   'gamma is not in Z_q', 'w is not in Z*_{N0}', 'z1 out of range', 'z2 out of range',
 *   'mod-q equation', 'Paillier equation', 'ring-Pedersen equation'
 * @example verifyDec(math, ctx, ownAux, { pk: pkOfI, C: U_i, x: delta_i, plaintextBits: L }, decodeDecProof(bytes));
 */
export function verifyDec(
  math: MathBackend,
  ctx: ProofContext,
  aux: RingPedersenParams,
  st: DecStatement,
  p: DecProof,
): void {
  assertPlaintextBits(st);
  const { ell, epsilon } = SECURITY;
  const n0 = st.pk.n;
  const n0sq = st.pk.n2;
  const inZq = (v: bigint): boolean => typeof v === 'bigint' && v >= 0n && v < CURVE_ORDER;
  if (!isUnitModSquare(math, st.C, n0, n0sq)) reject(PROOF, 'C is not in Z*_{N0²}');
  if (!inZq(st.x)) reject(PROOF, 'x is not in Z_q');
  if (!isUnit(math, p.S, aux.n)) reject(PROOF, 'S is not in Z*_N̂');
  if (!isUnit(math, p.T, aux.n)) reject(PROOF, 'T is not in Z*_N̂');
  if (!isUnitModSquare(math, p.A, n0, n0sq)) reject(PROOF, 'A is not in Z*_{N0²}');
  if (!inZq(p.gamma)) reject(PROOF, 'gamma is not in Z_q');
  if (!isUnit(math, p.w, n0)) reject(PROOF, 'w is not in Z*_{N0}');
  // Added to Fig. 30 (see the header): z1 ∈ ±2^(L+ε) pins y to the signed decryption of C.
  if (!inSignedRange(p.z1, st.plaintextBits + epsilon)) reject(PROOF, 'z1 out of range');
  // |z2| ≤ 2^(ℓ+ε)·N̂ + Q·2^ℓ·N̂ < 2^(ℓ+ε+1)·N̂ for an honest prover; larger values only cost time.
  if (!inScaledRange(p.z2, ell + epsilon + 1, aux.n)) reject(PROOF, 'z2 out of range');
  const e = challenge(ctx, aux, st, p);
  // Fig. 30 checks, cheapest first (mod q, then mod N̂, then mod N0²).
  // Check 2: z1 ≡ γ + e·x  (mod q)
  if (mod(p.z1, CURVE_ORDER) !== mod(p.gamma + e * st.x, CURVE_ORDER)) reject(PROOF, 'mod-q equation');
  // Check 3: s^z1 · t^z2 = T · S^e  (mod N̂)
  const lhs3 = commit(math, aux, p.z1, p.z2, false);
  const rhs3 = math.mulMod(p.T, powSigned(math, p.S, e, aux.n, false), aux.n);
  if (lhs3 !== rhs3) reject(PROOF, 'ring-Pedersen equation');
  // Check 1: (1 + N0)^z1 · w^{N0} = A · C^e  (mod N0²)     (enc_{N0}(z1; w) = A ⊕ (e ⊙ C))
  const lhs1 = math.mulMod(1n + mod(p.z1, n0) * n0, math.powm(p.w, n0, n0sq), n0sq);
  const rhs1 = math.mulMod(p.A, powSigned(math, st.C, e, n0sq, false), n0sq);
  if (lhs1 !== rhs1) reject(PROOF, 'Paillier equation');
}

/** Upper bound of |z2| = |ν + e·μ| ≤ 2^(ℓ+ε)·N̂ + Q·2^ℓ·N̂: bits used by the decoder's size cap. */
const Z2_MAX_BITS = SECURITY.ell + SECURITY.epsilon + MAX_MODULUS_BITS + 2;
/** |z1| ≤ 2^(L+ε) with L + ε + 1 ≤ |N0| − 3 < MAX_MODULUS_BITS (the verifier then applies the exact bound). */
const Z1_MAX_BITS = MAX_MODULUS_BITS;
/** Bits of q: γ ∈ [0, q). */
const GAMMA_MAX_BITS = 256;
/** Largest encoded proof: seven numbers of at most 8192 bits plus headers. */
export const DEC_PROOF_MAX_BYTES = 7 * (5 + MAX_MODULUS_BITS / 4) + 2;

/** @example const bytes = encodeDecProof(proof); */
export function encodeDecProof(p: DecProof): Uint8Array {
  return new WireWriter()
    .u8(WIRE_TAG)
    .u8(WIRE_VERSION)
    .biguint(p.S)
    .biguint(p.T)
    .biguint(p.A)
    .biguint(p.gamma)
    .bigint(p.z1)
    .bigint(p.z2)
    .biguint(p.w)
    .finish();
}

/**
 * Strict decoder: sizes checked before any arithmetic, canonical encodings, no trailing bytes.
 *
 * @throws MpcError ERR_WIRE_TOO_LARGE, ERR_WIRE_TRUNCATED, ERR_WIRE_BAD_TAG, ERR_WIRE_BAD_LENGTH,
 *   ERR_WIRE_BIGINT_TOO_LARGE, ERR_WIRE_NON_CANONICAL, ERR_WIRE_TRAILING_BYTES
 * @example const proof = decodeDecProof(bytes);
 */
export function decodeDecProof(bytes: Uint8Array): DecProof {
  const r = new WireReader(bytes, DEC_PROOF_MAX_BYTES);
  r.tag('pi-dec.tag', WIRE_TAG);
  r.tag('pi-dec.version', WIRE_VERSION);
  const proof: DecProof = {
    S: r.biguint('pi-dec.S', MAX_MODULUS_BITS),
    T: r.biguint('pi-dec.T', MAX_MODULUS_BITS),
    A: r.biguint('pi-dec.A', 2 * MAX_MODULUS_BITS),
    gamma: r.biguint('pi-dec.gamma', GAMMA_MAX_BITS),
    z1: r.bigint('pi-dec.z1', Z1_MAX_BITS),
    z2: r.bigint('pi-dec.z2', Z2_MAX_BITS),
    w: r.biguint('pi-dec.w', MAX_MODULUS_BITS),
  };
  r.end();
  return proof;
}
