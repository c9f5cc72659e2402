/**
 * Πfac — no small factor (CGGMP24 revision of ePrint 2021/060, Appendix A.4, Fig. 26 "Small-Factor
 * Proof"; earlier form: CGGMP spec §"Πfac", PROTOCOL.md §2.7, paillier-zk no_small_factor.rs).
 *
 * What the 2024 revision changed: the prover no longer samples σ ← ±2^ℓ·N0·N̂ nor sends it; the
 * verifier's R is s^{N0} (it was s^{N0}·t^σ), and v = r − e·ν·p (it was r + e·(σ − ν·p)). Everything
 * else (commitments P, Q, A, B, T, responses z1, z2, w1, w2, the range checks on z1, z2 and the three
 * equations) is as before. Wire version 2 marks the format without σ.
 *
 * Proves, to a verifier with ring-Pedersen parameters (N̂, s, t), knowledge of p, q with N0 = p·q
 * and both factors of size about sqrt(N0): |p|, |q| ≤ 2^(ℓ+ε)·sqrt(N0) is what the range checks
 * enforce, so neither factor can be small (2^ℓ < p, q is the paper's statement, with ε slack). Used in
 * aux-info round 3 (PROTOCOL.md §4.1): φ_i^j for N_i towards every P_j with P_j's parameters,
 * shared_state (sid, ρ, i). Stops the small-factor modulus attack (BitForge/6ix1een, SECURITY.md A1).
 *
 * Naming (paper): N0 prover's modulus, sqrt(N0) its integer square root (both hashed); (P, Q, A, B,
 * T) commitments; e challenge; (z1, z2, w1, w2, v) responses.
 */
import { MpcError } from '../errors/index.js';
import type { MathBackend } from '../math/backend.js';
import { bitLength } from '../math/bits.js';
import type { Rng } from '../math/random.js';
import { MATH_LIMITS } from '../math/raw.js';
import { commit, powSigned, type RingPedersenParams } from '../primitives/ring-pedersen.js';
import { WireReader, WireWriter } from '../util/wire.js';
import { auxTranscript, inScaledRange, isUnit, type ProofContext, reject } from './common.js';
import { CHALLENGE_BOUND, MAX_MODULUS_BITS, SECURITY } from './params.js';

const PROOF = 'pi-fac';
const WIRE_TAG = 0x07;
const WIRE_VERSION = 2;

export interface FacStatement {
  /** N0, the prover's Paillier modulus (a PaillierPublicKey fits this shape). */
  readonly n: bigint;
}

export interface FacWitness {
  /** N0 = p·q (a PaillierSecretKey fits this shape). */
  readonly p: bigint;
  readonly q: bigint;
}

export interface FacProof {
  readonly P: bigint;
  readonly Q: bigint;
  readonly A: bigint;
  readonly B: bigint;
  readonly T: bigint;
  readonly z1: bigint;
  readonly z2: bigint;
  readonly w1: bigint;
  readonly w2: bigint;
  readonly v: bigint;
}

/** The prover's first message (everything the challenge hashes besides ctx, aux and the statement). */
type FacCommitment = Pick<FacProof, 'P' | 'Q' | 'A' | 'B' | 'T'>;

/**
 * ⌊sqrt(n)⌋ exactly, by Newton's iteration on BigInt: start at 2^⌈|n|/2⌉ ≥ sqrt(n) and iterate
 * x ← ⌊(x + ⌊n/x⌋)/2⌋ while it decreases; the sequence stays ≥ ⌊sqrt(n)⌋ and stops on it.
 * @throws MpcError ERR_MATH_NEGATIVE for n < 0
 * @example isqrt(10n) === 3n
 */
export function isqrt(n: bigint): bigint {
  if (typeof n !== 'bigint' || n < 0n) throw new MpcError('ERR_MATH_NEGATIVE', 'isqrt needs a non-negative bigint');
  if (n < 2n) return n;
  let x = 1n << BigInt(Math.ceil(bitLength(n) / 2));
  for (;;) {
    const y = (x + n / x) >> 1n;
    if (y >= x) return x;
    x = y;
  }
}

/** Πmod and Πfac are bound to ρ (PROTOCOL.md §4.1): a missing rid would let a prover grind its N. */
function requireRid(ctx: ProofContext): void {
  if (!(ctx.rid instanceof Uint8Array) || ctx.rid.length === 0) {
    throw new MpcError('ERR_ZK_STATEMENT_INVALID', 'Πfac needs the aux-info rid (ρ) in its proof context');
  }
}

/** Limb width for exponents above the math layer's bound (only with moduli above ~3850 bits). */
const LIMB_BITS = 4096;
const LIMB_MASK = (1n << BigInt(LIMB_BITS)) - 1n;

/**
 * Π bases[i]^exps[i] mod m for signed exponents of any size. Negative exponents use the inverse base;
 * an exponent wider than MATH_LIMITS.maxExponentBits (r, v reach ℓ + ε + |N0| + |N̂| + 1 bits: over
 * 8192 for two 4096-bit moduli) is split as Σ e_k·2^(4096k) with bases b^(2^(4096k)) (public
 * exponents 2^4096), so every exponent handed to the math layer stays within its bound.
 */
function multiExpSigned(
  math: MathBackend,
  bases: readonly bigint[],
  exps: readonly bigint[],
  m: bigint,
  secret: boolean,
): bigint {
  const bs: bigint[] = [];
  const es: bigint[] = [];
  for (let i = 0; i < bases.length; i++) {
    let b = bases[i] as bigint;
    let e = exps[i] as bigint;
    if (e < 0n) {
      b = math.invMod(b, m);
      e = -e;
    }
    while (bitLength(e) > MATH_LIMITS.maxExponentBits) {
      bs.push(b);
      es.push(e & LIMB_MASK);
      b = math.powm(b, 1n << BigInt(LIMB_BITS), m);
      e >>= BigInt(LIMB_BITS);
    }
    bs.push(b);
    es.push(e);
  }
  return secret ? math.multiExpSec(bs, es, m) : math.multiExp(bs, es, m);
}

/** e ∈ ±Q from ctx, the verifier's aux, N0, sqrt(N0) and all commitments (PROTOCOL.md §0.3, §2.7). */
function challenge(ctx: ProofContext, aux: RingPedersenParams, n0: bigint, root: bigint, c: FacCommitment): bigint {
  requireRid(ctx);
  return auxTranscript(PROOF, ctx, aux)
    .uint('N0', n0)
    .uint('sqrtN0', root)
    .uint('P', c.P)
    .uint('Q', c.Q)
    .uint('A', c.A)
    .uint('B', c.B)
    .uint('T', c.T)
    .challengeRng('e')
    .signed(CHALLENGE_BOUND);
}

/**
 * Proves that N0 has no small factor, towards the verifier whose parameters are `aux`. The prover
 * only needs N0 = p·q: it does not check sizes or primality, so a dishonest factorization yields a
 * proof that the verifier's range checks refuse (that is the point of the proof).
 * @throws MpcError ERR_ZK_STATEMENT_INVALID when p·q ≠ N0, p or q ≤ 1, or rid is missing
 * @example const proof = proveFac(math, { sid, prover: i, rid }, peerAux, { n: sk.pub.n }, sk);
 */
export function proveFac(
  math: MathBackend,
  ctx: ProofContext,
  aux: RingPedersenParams,
  st: FacStatement,
  w: FacWitness,
  rng?: Rng,
): FacProof {
  const { ell, epsilon } = SECURITY;
  const n0 = st.n;
  const { p, q } = w;
  if (p <= 1n || q <= 1n || p * q !== n0)
    throw new MpcError('ERR_ZK_STATEMENT_INVALID', 'Πfac witness does not factor N0');
  requireRid(ctx);
  const nh = aux.n;
  const root = isqrt(n0);
  // ±B sampling: uniform in [0, 2B) minus B (PROTOCOL.md §0.3).
  const pm = (bound: bigint): bigint => math.randBelow(2n * bound, rng) - bound;
  const twoL = 1n << BigInt(ell);
  const twoLE = 1n << BigInt(ell + epsilon);
  // α, β ← ±2^(ℓ+ε)·sqrt(N0); μ, ν ← ±2^ℓ·N̂; r ← ±2^(ℓ+ε)·N0·N̂; x, y ← ±2^(ℓ+ε)·N̂  (Fig. 26: no σ)
  const alpha = pm(twoLE * root);
  const beta = pm(twoLE * root);
  const mu = pm(twoL * nh);
  const nu = pm(twoL * nh);
  const r = pm(twoLE * n0 * nh);
  const x = pm(twoLE * nh);
  const y = pm(twoLE * nh);
  // P = s^p t^μ; Q = s^q t^ν; A = s^α t^x; B = s^β t^y; T = Q^α t^r  (mod N̂)
  const P = commit(math, aux, p, mu, true);
  const Q = commit(math, aux, q, nu, true);
  const A = commit(math, aux, alpha, x, true);
  const B = commit(math, aux, beta, y, true);
  const T = multiExpSigned(math, [Q, aux.t], [alpha, r], nh, true);
  const e = challenge(ctx, aux, n0, root, { P, Q, A, B, T });
  // z1 = α + e·p; z2 = β + e·q; w1 = x + e·μ; w2 = y + e·ν; v = r − e·ν·p
  return {
    P,
    Q,
    A,
    B,
    T,
    z1: alpha + e * p,
    z2: beta + e * q,
    w1: x + e * mu,
    w2: y + e * nu,
    v: r - e * nu * p,
  };
}

/**
 * Verifies Πfac; throws ERR_ZK_PROOF_INVALID naming the first failed check. Cheap checks first:
 * |N0| within [8κ − 1, MAX_MODULUS_BITS] and odd (A3), commitments in Z*_N̂, the two range checks
 * z1, z2 ∈ ±2^(ℓ+ε)·sqrt(N0) (A1: the checks the proof exists for), size guards on w1, w2, v at
 * their honest bounds (they only bound the verifier's work; an honest proof always meets them),
 * then the three equations.
 * @throws MpcError ERR_ZK_PROOF_INVALID (details.check names the failed check), ERR_ZK_STATEMENT_INVALID
 *   when the context lacks sid, prover index or rid
 * @example verifyFac(math, { sid, prover: j, rid }, ownAux, { n: N_j }, proof);
 */
export function verifyFac(
  math: MathBackend,
  ctx: ProofContext,
  aux: RingPedersenParams,
  st: FacStatement,
  pf: FacProof,
): void {
  requireRid(ctx);
  const { ell, epsilon } = SECURITY;
  const n0 = st.n;
  const nh = aux.n;
  if (typeof n0 !== 'bigint' || n0 <= 0n) reject(PROOF, 'N0 is not a positive integer');
  const bits = bitLength(n0);
  if (bits < SECURITY.minModulusBits) reject(PROOF, 'N0 below the minimum size');
  if (bits > MAX_MODULUS_BITS) reject(PROOF, 'N0 above the maximum size');
  if ((n0 & 1n) === 0n) reject(PROOF, 'N0 is even');
  for (const [name, value] of [
    ['P', pf.P],
    ['Q', pf.Q],
    ['A', pf.A],
    ['B', pf.B],
    ['T', pf.T],
  ] as const) {
    if (!isUnit(math, value, nh)) reject(PROOF, `${name} is not in Z*_N̂`);
  }
  const root = isqrt(n0);
  // Checks 4, 5: z1, z2 ∈ ±2^(ℓ+ε)·sqrt(N0).
  if (!inScaledRange(pf.z1, ell + epsilon, root)) reject(PROOF, 'z1 out of range');
  if (!inScaledRange(pf.z2, ell + epsilon, root)) reject(PROOF, 'z2 out of range');
  // Size guards (not in the paper's list): |w1|, |w2| ≤ 2^(ℓ+ε)·N̂ + Q·2^ℓ·N̂ < 2^(ℓ+ε+1)·N̂;
  // |v| ≤ 2^(ℓ+ε)·N0·N̂ + Q·2^ℓ·N̂·p < 2^(ℓ+ε+1)·N0·N̂ (p < N0).
  if (!inScaledRange(pf.w1, ell + epsilon + 1, nh)) reject(PROOF, 'w1 out of range');
  if (!inScaledRange(pf.w2, ell + epsilon + 1, nh)) reject(PROOF, 'w2 out of range');
  if (!inScaledRange(pf.v, ell + epsilon + 1, n0 * nh)) reject(PROOF, 'v out of range');
  const e = challenge(ctx, aux, n0, root, pf);
  // Check 1: s^z1 · t^w1 = A · P^e  (mod N̂)
  const lhs1 = commit(math, aux, pf.z1, pf.w1, false);
  if (lhs1 !== math.mulMod(pf.A, powSigned(math, pf.P, e, nh, false), nh)) reject(PROOF, 'equation 1 (P)');
  // Check 2: s^z2 · t^w2 = B · Q^e  (mod N̂)
  const lhs2 = commit(math, aux, pf.z2, pf.w2, false);
  if (lhs2 !== math.mulMod(pf.B, powSigned(math, pf.Q, e, nh, false), nh)) reject(PROOF, 'equation 2 (Q)');
  // Check 3: Q^z1 · t^v = T · R^e  (mod N̂), R = s^N0 (Fig. 26; the CGGMP21 form had R = s^N0 · t^σ)
  const R = math.powm(aux.s, n0, nh);
  const lhs3 = multiExpSigned(math, [pf.Q, aux.t], [pf.z1, pf.v], nh, false);
  if (lhs3 !== math.mulMod(pf.T, powSigned(math, R, e, nh, false), nh)) reject(PROOF, 'equation 3 (T)');
}

/** Bits of |z1|, |z2| ≤ 2^(ℓ+ε)·sqrt(N0) with N0 < 2^MAX_MODULUS_BITS. */
const Z_MAX_BITS = SECURITY.ell + SECURITY.epsilon + MAX_MODULUS_BITS / 2;
/** Bits of |w1|, |w2| ≤ 2^(ℓ+ε+1)·N̂. */
const W_MAX_BITS = SECURITY.ell + SECURITY.epsilon + 1 + MAX_MODULUS_BITS;
/** Bits of |v| ≤ 2^(ℓ+ε+1)·N0·N̂. */
const V_MAX_BITS = SECURITY.ell + SECURITY.epsilon + 1 + 2 * MAX_MODULUS_BITS;
const uintBytes = (bits: number): number => 4 + Math.ceil(bits / 8);
const intBytes = (bits: number): number => 5 + Math.ceil(bits / 8);
/** Largest encoded proof: header, five ring elements and five responses at their caps. */
export const FAC_PROOF_MAX_BYTES =
  2 + 5 * uintBytes(MAX_MODULUS_BITS) + 2 * intBytes(Z_MAX_BITS) + 2 * intBytes(W_MAX_BITS) + intBytes(V_MAX_BITS);

/**
 * Encodes tag ‖ version ‖ P ‖ Q ‖ A ‖ B ‖ T ‖ z1 ‖ z2 ‖ w1 ‖ w2 ‖ v.
 * @throws MpcError ERR_WIRE_TYPE for a negative ring element
 * @example const bytes = encodeFacProof(proof);
 */
export function encodeFacProof(p: FacProof): Uint8Array {
  return new WireWriter()
    .u8(WIRE_TAG)
    .u8(WIRE_VERSION)
    .biguint(p.P)
    .biguint(p.Q)
    .biguint(p.A)
    .biguint(p.B)
    .biguint(p.T)
    .bigint(p.z1)
    .bigint(p.z2)
    .bigint(p.w1)
    .bigint(p.w2)
    .bigint(p.v)
    .finish();
}

/**
 * Strict decoder: sizes checked before any arithmetic, canonical encodings, no trailing bytes.
 * @throws MpcError ERR_WIRE_* naming the field path
 * @example const proof = decodeFacProof(bytes);
 */
export function decodeFacProof(bytes: Uint8Array): FacProof {
  const r = new WireReader(bytes, FAC_PROOF_MAX_BYTES);
  r.tag('pi-fac.tag', WIRE_TAG);
  r.tag('pi-fac.version', WIRE_VERSION);
  const proof: FacProof = {
    P: r.biguint('pi-fac.P', MAX_MODULUS_BITS),
    Q: r.biguint('pi-fac.Q', MAX_MODULUS_BITS),
    A: r.biguint('pi-fac.A', MAX_MODULUS_BITS),
    B: r.biguint('pi-fac.B', MAX_MODULUS_BITS),
    T: r.biguint('pi-fac.T', MAX_MODULUS_BITS),
    z1: r.bigint('pi-fac.z1', Z_MAX_BITS),
    z2: r.bigint('pi-fac.z2', Z_MAX_BITS),
    w1: r.bigint('pi-fac.w1', W_MAX_BITS),
    w2: r.bigint('pi-fac.w2', W_MAX_BITS),
    v: r.bigint('pi-fac.v', V_MAX_BITS),
  };
  r.end();
  return proof;
}
