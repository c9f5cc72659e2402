/**
 * Πmod — Paillier–Blum modulus (CGGMP24 ePrint 2021/060, "Paillier-Blum Modulus ZK"; CGGMP spec
 * §"Πmod"; PROTOCOL.md §2.5).
 *
 * Proves that N = p·q with p, q ≡ 3 (mod 4) prime and gcd(N, φ(N)) = 1, without revealing p, q.
 * Used in aux-info round 3 (PROTOCOL.md §4.1): ψ_i for N_i under shared_state (sid, ρ, i), one proof
 * for every recipient. Soundness 2^-m with m = 128 repetitions (never fewer: SECURITY.md A5).
 *
 * Naming (paper): N statement; w commitment (Jacobi symbol −1); y_i challenges ∈ Z_N;
 * (x_i, a_i, b_i, z_i) responses with x_i⁴ = (−1)^{a_i}·w^{b_i}·y_i and z_i^N = y_i (mod N).
 *
 * Why each verifier check exists (SECURITY.md A2, PROTOCOL.md §8.3):
 * - N odd and not a probable prime: for a prime N ≡ 3 (mod 4) every repetition is answerable.
 * - Jacobi(w, N) = −1 and gcd(w, N) = 1: the paper lists them only on the prover's side; without
 *   them a prover picks w ≡ 0 (mod p) and answers every y_i whatever p is (the "wednesdei" bug in
 *   paillier-zk / mpc-lib, PROTOCOL.md §2.5 WARNING).
 * - exactly m entries: fewer repetitions make grinding the Fiat–Shamir hash feasible (c-guess).
 */
import { MpcError } from '../errors/index.js';
import { type CrtModulus, crtModulus, type MathBackend } from '../math/backend.js';
import { bitLength, mod } from '../math/bits.js';
import type { Rng } from '../math/random.js';
import { WireReader, WireWriter } from '../util/wire.js';
import { type ProofContext, proofTranscript, reject } from './common.js';
import { MAX_MODULUS_BITS, SECURITY } from './params.js';

const PROOF = 'pi-mod';
const WIRE_TAG = 0x05;
const WIRE_VERSION = 1;
/** z_i^N checks per powmBatch call: amortizes crossings, and a forged proof fails on an early chunk. */
const BATCH = 32;

export interface ModStatement {
  /** N, the prover's Paillier modulus (a PaillierPublicKey fits this shape). */
  readonly n: bigint;
}

export interface ModWitness {
  /** Blum primes p ≠ q, p·q = N (a PaillierSecretKey fits this shape). */
  readonly p: bigint;
  readonly q: bigint;
}

/** One repetition: x⁴ = (−1)^a·w^b·y and z^N = y (mod N). */
export interface ModRepetition {
  readonly x: bigint;
  readonly a: boolean;
  readonly b: boolean;
  readonly z: bigint;
}

export interface ModProof {
  /** w ∈ Z*_N with Jacobi symbol (w/N) = −1. */
  readonly w: bigint;
  /** Exactly SECURITY.m repetitions. */
  readonly reps: readonly ModRepetition[];
}

/** Πmod and Πfac are bound to ρ (PROTOCOL.md §4.1): a missing rid would let a prover grind its N. */
function requireRid(ctx: ProofContext): void {
  if (!(ctx.rid instanceof Uint8Array) || ctx.rid.length === 0) {
    throw new MpcError('ERR_ZK_STATEMENT_INVALID', 'Πmod needs the aux-info rid (ρ) in its proof context');
  }
}

/**
 * The challenges y_1..y_m, uniform in [0, N), from a transcript of (ctx, N, w) (PROTOCOL.md §0.3,
 * §2.5 "Challenge"). Exported so tests can build adversarial proofs against the real challenges;
 * provers and verifiers call it internally.
 * @throws MpcError ERR_ZK_STATEMENT_INVALID when the context has no sid, prover index or rid
 * @example const ys = modChallenges(ctx, N, proof.w);
 */
export function modChallenges(ctx: ProofContext, n: bigint, w: bigint): bigint[] {
  requireRid(ctx);
  const drbg = proofTranscript(PROOF, ctx).uint('N', n).uint('w', w).challengeRng('y');
  return Array.from({ length: SECURITY.m }, () => drbg.below(n));
}

/** (v / prime) by Euler's criterion, constant time in the secret prime: 1, −1 or 0 (v ≡ 0). */
function legendre(math: MathBackend, v: bigint, prime: bigint): -1 | 0 | 1 {
  const r = math.powmSec(v % prime, (prime - 1n) >> 1n, prime); // v^((p−1)/2) mod p
  return r === 1n ? 1 : r === 0n ? 0 : -1;
}

/**
 * Proves that N is a Paillier–Blum modulus. The factors are secret: every exponentiation that
 * involves them runs on the constant-time path (powmSec / powmCrt).
 * @throws MpcError ERR_ZK_STATEMENT_INVALID when p·q ≠ N, p = q, or p or q is not ≡ 3 (mod 4)
 *   (the honest algorithm cannot answer for a non-Blum modulus), gcd(N, φ) ≠ 1, or rid is missing
 * @example const proof = proveMod(math, { sid, prover: i, rid }, { n: sk.pub.n }, sk);
 */
export function proveMod(math: MathBackend, ctx: ProofContext, st: ModStatement, wit: ModWitness, rng?: Rng): ModProof {
  const { p, q } = wit;
  const n = st.n;
  if (p * q !== n || p === q || (p & 3n) !== 3n || (q & 3n) !== 3n) {
    throw new MpcError('ERR_ZK_STATEMENT_INVALID', 'Πmod witness is not a Blum factorization of N');
  }
  requireRid(ctx);
  const crt: CrtModulus = crtModulus(p, q, 1);
  const phi = (p - 1n) * (q - 1n);
  if (math.gcd(n % phi, phi) !== 1n) throw new MpcError('ERR_ZK_STATEMENT_INVALID', 'Πmod needs gcd(N, φ(N)) = 1');
  // N⁻¹ mod φ(N), for the N-th roots z_i.
  const nInv = math.invMod(n % phi, phi);
  // Fourth-root exponents: for p ≡ 3 (mod 4) and a QR v, v^((p+1)/4) is a square root that is itself
  // a QR (a power of a QR), so applying it twice gives a fourth root: v^(((p+1)/4)²) mod p.
  const eP = ((p + 1n) >> 2n) ** 2n % (p - 1n);
  const eQ = ((q + 1n) >> 2n) ** 2n % (q - 1n);

  // Step 1 (commit): w ← Z*_N with Jacobi(w, N) = −1, by rejection sampling (half of Z*_N qualifies).
  let w: bigint;
  do w = math.randUnit(n, rng);
  while (math.jacobi(w, n) !== -1);

  // Step 2 (challenge): y_i ∈ Z_N from the transcript of (ctx, N, w).
  const ys = modChallenges(ctx, n, w);

  // Step 3 (respond), per i.
  const reps = ys.map((y): ModRepetition => {
    // z_i = y_i^(N⁻¹ mod φ) mod N  ⇒  z_i^N = y_i.
    const z = math.powmCrt(y, nInv, crt);
    // Exactly one of ±y, ±w·y is a QR mod both primes. Jacobi(y', N) = (−1)^b·Jacobi(y, N) must be 1,
    // which fixes b from a PUBLIC symbol: b = 1 ⇔ Jacobi(y, N) = −1.
    const b = math.jacobi(y, n) === -1;
    const v = b ? math.mulMod(w, y, n) : y; // v = w^b·y mod N
    // (−1)^a = (v / p), the one secret Legendre symbol; if v ≡ 0 (mod p) the choice is free mod p,
    // so read it mod q instead (only when y shares a factor with N: probability ≈ 2^-1535).
    let sym = legendre(math, v, p);
    if (sym === 0) sym = legendre(math, v, q);
    const a = sym === -1;
    const y2 = a ? mod(-v, n) : v; // y'_i = (−1)^a·w^b·y_i mod N, a QR mod p and mod q
    // x_i = fourth root of y'_i: mod p and mod q separately, then Garner: x = xp + p·((xq − xp)·p⁻¹ mod q).
    const xp = math.powmSec(y2 % p, eP, p);
    const xq = math.powmSec(y2 % q, eQ, q);
    const x = xp + p * math.mulMod(mod(xq - xp, q), crt.peInvModQe, q);
    // Self-check before anything leaves (2 squarings): a faulty CRT half would let x⁴ − y' reveal
    // a factor through a gcd with N (Bellcore-style fault), and a logic error would abort later anyway.
    const x2 = math.mulMod(x, x, n);
    if (math.mulMod(x2, x2, n) !== y2)
      throw new MpcError('ERR_MATH_BACKEND_FAILED', 'Πmod fourth-root self-check failed');
    return { x, a, b, z };
  });
  return { w, reps };
}

/**
 * Verifies Πmod for N; throws ERR_ZK_PROOF_INVALID naming the first failed check. Order: bounds on
 * N (A3), parity, repetition count (A5), w range, gcd(w, N) = 1, Jacobi(w, N) = −1, response ranges,
 * N composite, then the fourth-root equations (two squarings each) and the N-th-root equations
 * (batched exponentiations).
 * @throws MpcError ERR_ZK_PROOF_INVALID (details.check names the failed check), ERR_ZK_STATEMENT_INVALID
 *   when the context lacks sid, prover index or rid
 * @example verifyMod(math, { sid, prover: j, rid }, { n: N_j }, proof);
 */
export function verifyMod(math: MathBackend, ctx: ProofContext, st: ModStatement, proof: ModProof): void {
  requireRid(ctx);
  const n = st.n;
  // |N| ≥ 8κ − 1 (SECURITY.md A3) and ≤ the decoder's bound (N² must fit the math layer).
  if (typeof n !== 'bigint' || n <= 0n) reject(PROOF, 'N is not a positive integer');
  const bits = bitLength(n);
  if (bits < SECURITY.minModulusBits) reject(PROOF, 'N below the minimum size');
  if (bits > MAX_MODULUS_BITS) reject(PROOF, 'N above the maximum size');
  if ((n & 1n) === 0n) reject(PROOF, 'N is even');
  // Exactly m repetitions (SECURITY.md A5): the decoder enforces it too; this covers in-process proofs.
  if (!Array.isArray(proof.reps) || proof.reps.length !== SECURITY.m) reject(PROOF, 'repetition count');
  const { w } = proof;
  // 0 < w < N, gcd(w, N) = 1, Jacobi(w, N) = −1: MANDATORY (PROTOCOL.md §2.5 WARNING).
  if (typeof w !== 'bigint' || w <= 0n || w >= n) reject(PROOF, 'w out of range');
  if (math.gcd(w, n) !== 1n) reject(PROOF, 'gcd(w, N) is not 1');
  if (math.jacobi(w, n) !== -1) reject(PROOF, 'Jacobi(w, N) is not −1');
  for (const r of proof.reps) {
    if (typeof r.x !== 'bigint' || r.x < 0n || r.x >= n) reject(PROOF, 'x out of range');
    if (typeof r.z !== 'bigint' || r.z < 0n || r.z >= n) reject(PROOF, 'z out of range');
    if (typeof r.a !== 'boolean' || typeof r.b !== 'boolean') reject(PROOF, 'a, b are not bits');
  }
  // N not prime: a prime N ≡ 3 (mod 4) would pass every equation below.
  if (math.isProbablePrime(n)) reject(PROOF, 'N is a probable prime');

  const ys = modChallenges(ctx, n, w);
  // x_i⁴ ≡ (−1)^{a_i}·w^{b_i}·y_i (mod N): cheap, so all of them before any exponentiation.
  for (let i = 0; i < SECURITY.m; i++) {
    const r = proof.reps[i] as ModRepetition;
    const y = ys[i] as bigint;
    const wy = r.b ? math.mulMod(w, y, n) : y;
    const rhs = r.a ? mod(-wy, n) : wy;
    const x2 = math.mulMod(r.x, r.x, n);
    if (math.mulMod(x2, x2, n) !== rhs) reject(PROOF, 'fourth-root equation');
  }
  // z_i^N ≡ y_i (mod N): public exponent N, batched.
  for (let start = 0; start < SECURITY.m; start += BATCH) {
    const chunk = proof.reps.slice(start, start + BATCH);
    const got = math.powmBatch(chunk.map((r) => ({ base: r.z, exp: n, mod: n, secret: false })));
    for (let k = 0; k < chunk.length; k++) {
      if (got[k] !== ys[start + k]) reject(PROOF, 'N-th-root equation');
    }
  }
}

/** Largest encoded proof: header, w, count, then m × (flags, x, z) of at most MAX_MODULUS_BITS each. */
export const MOD_PROOF_MAX_BYTES =
  2 + (4 + MAX_MODULUS_BITS / 8) + 4 + SECURITY.m * (1 + 2 * (4 + MAX_MODULUS_BITS / 8));

/**
 * Encodes tag ‖ version ‖ w ‖ count ‖ m × (flags ‖ x ‖ z), flags = a | b << 1.
 * @throws MpcError ERR_WIRE_TYPE for a negative value
 * @example const bytes = encodeModProof(proof);
 */
export function encodeModProof(p: ModProof): Uint8Array {
  const wr = new WireWriter().u8(WIRE_TAG).u8(WIRE_VERSION).biguint(p.w).u32(p.reps.length);
  for (const r of p.reps) {
    wr.u8((r.a ? 1 : 0) | (r.b ? 2 : 0))
      .biguint(r.x)
      .biguint(r.z);
  }
  return wr.finish();
}

/**
 * Strict decoder: total and per-field size caps before any arithmetic, exactly SECURITY.m
 * repetitions (1, 79, 127, 129 are refused), canonical encodings, no trailing bytes.
 * @throws MpcError ERR_WIRE_* naming the field path
 * @example const proof = decodeModProof(bytes);
 */
export function decodeModProof(bytes: Uint8Array): ModProof {
  const r = new WireReader(bytes, MOD_PROOF_MAX_BYTES);
  r.tag('pi-mod.tag', WIRE_TAG);
  r.tag('pi-mod.version', WIRE_VERSION);
  const w = r.biguint('pi-mod.w', MAX_MODULUS_BITS);
  const count = r.count('pi-mod.reps', SECURITY.m);
  const reps: ModRepetition[] = [];
  for (let i = 0; i < count; i++) {
    const path = `pi-mod.reps[${i}]`;
    const flags = r.u8(`${path}.flags`);
    // Only bits 0 (a) and 1 (b) exist: any other bit would be a second encoding of the same proof.
    if (flags > 3)
      throw new MpcError('ERR_WIRE_NON_CANONICAL', `${path}.flags has unknown bits`, { details: { path } });
    reps.push({
      a: (flags & 1) === 1,
      b: (flags & 2) === 2,
      x: r.biguint(`${path}.x`, MAX_MODULUS_BITS),
      z: r.biguint(`${path}.z`, MAX_MODULUS_BITS),
    });
  }
  r.end();
  return { w, reps };
}
