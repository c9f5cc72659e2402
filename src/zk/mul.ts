/**
 * Πmul — Paillier multiplication (CGGMP ePrint 2021/060, App. C.6 "Paillier Multiplication",
 * Fig. 29 in the 2021–2023 revisions; PROTOCOL.md §2.8, used only by identification §7.2).
 *
 * Proves, with no ring-Pedersen parameters (nothing here is a range proof), knowledge of x, ρ, ρ_x
 * such that, all under the prover's own Paillier key N:
 *   X = enc_N(x; ρ_x) = (1 + N)^x · ρ_x^N  (mod N²)
 *   C = (x ⊙ Y) ⊕ enc_N(0; ρ) = Y^x · ρ^N  (mod N²)
 * i.e. C encrypts the product of the plaintexts of X and Y (mod N). In §7.2, P_i proves that
 * H_i = enc_{N_i}(k_i·γ_i) with X = K_i (x = k_i, ρ_x = ρ_i), Y = G_i and C = H_i = G_i^{k_i}·ρ^{N_i}.
 *
 * Definition followed (cross-checked): circlefin/robust-tss-lib crypto/zkproofs/mul_proof.go,
 * entropyxyz/synedrion synedrion/src/cggmp21/sigma/mul.rs, taurusgroup/multi-party-sig pkg/zk/mul/mul.go.
 * α ← Z_N as in the paper (and PROTOCOL.md §2.8; taurus uses ±2^(ℓ+ε), which hides only x ∈ ±2^ℓ).
 * The challenge is e ∈ ±Q with Q = 2^128 like every proof of this project (the paper draws e ← ±q).
 * Paper typo fixed as all three sources do: the second check uses v^N (the figure writes c^N).
 *
 * Naming: N prover's modulus; (A, B) commitments; e challenge; (z, u, v) responses.
 */
import { MpcError } from '../errors/index.js';
import type { MathBackend } from '../math/backend.js';
import { mod } from '../math/bits.js';
import type { Rng } from '../math/random.js';
import type { PaillierPublicKey, PaillierSecretKey } from '../primitives/paillier.js';
import { powSigned } from '../primitives/ring-pedersen.js';
import { WireReader, WireWriter } from '../util/wire.js';
import { inScaledRange, isUnit, isUnitModSquare, type ProofContext, proofTranscript, reject } from './common.js';
import { CHALLENGE_BOUND, MAX_MODULUS_BITS, SECURITY } from './params.js';

const PROOF = 'pi-mul';
const WIRE_TAG = 0x20;
const WIRE_VERSION = 1;

export interface MulStatement {
  /** The prover's Paillier public key N (X, Y and C are all under it). */
  readonly pk: PaillierPublicKey;
  /** X = enc_N(x; ρ_x). */
  readonly X: bigint;
  /** Y: any ciphertext under N (the prover need not know its plaintext). */
  readonly Y: bigint;
  /** C = Y^x · ρ^N mod N². */
  readonly C: bigint;
}

export interface MulWitness {
  /** Plaintext of X (|x| ≤ (N − 1)/2; in §7.2 a scalar k_i < q). */
  readonly x: bigint;
  /** Nonce of C: C = Y^x · ρ^N. */
  readonly rho: bigint;
  /** Nonce of X: X = enc_N(x; ρ_x). */
  readonly rhoX: bigint;
}

export interface MulProof {
  readonly A: bigint;
  readonly B: bigint;
  readonly z: bigint;
  readonly u: bigint;
  readonly v: bigint;
}

/** The prover's first message (A, B). */
type MulCommitment = Pick<MulProof, 'A' | 'B'>;

/** e ∈ ±Q from the whole statement and the commitments (PROTOCOL.md §0.3); no aux: Πmul has none. */
function challenge(ctx: ProofContext, st: MulStatement, p: MulCommitment): bigint {
  return proofTranscript(PROOF, ctx)
    .uint('N', st.pk.n)
    .uint('X', st.X)
    .uint('Y', st.Y)
    .uint('C', st.C)
    .uint('A', p.A)
    .uint('B', p.B)
    .challengeRng('e')
    .signed(CHALLENGE_BOUND);
}

/**
 * Proves Πmul. `proverSk` (the prover's own key, whose public part must be `st.pk`) enables the CRT
 * path for every exponentiation; without it the constant-time public-key path is used. The witness
 * is not checked here: a false witness yields a proof the verifier rejects.
 *
 * @throws MpcError ERR_ZK_STATEMENT_INVALID when `proverSk` is not the key of `st.pk`
 * @throws MpcError ERR_MATH_NOT_INVERTIBLE when Y, ρ or ρ_x is not a unit and the challenge is negative
 * @example const psiMul = proveMul(math, ctx, { pk, X: K_i, Y: G_i, C: H_i }, { x: k_i, rho, rhoX: rho_i }, rng, sk);
 */
export function proveMul(
  math: MathBackend,
  ctx: ProofContext,
  st: MulStatement,
  w: MulWitness,
  rng?: Rng,
  proverSk?: PaillierSecretKey,
): MulProof {
  if (proverSk !== undefined && proverSk.pub.n !== st.pk.n) {
    throw new MpcError('ERR_ZK_STATEMENT_INVALID', `${PROOF}: proverSk is not the key of the statement`);
  }
  const n = st.pk.n;
  const n2 = st.pk.n2;
  // Secret exponent or base, unsigned exponent: CRT with the owner's key, else constant time.
  const powN2 = (b: bigint, x: bigint): bigint =>
    proverSk === undefined ? math.powmSec(b, x, n2) : math.powmCrt(b, x, proverSk.crtN2);
  // Secret base ρ, signed public exponent e, modulo N.
  const powN = (b: bigint, x: bigint): bigint => {
    if (proverSk === undefined) return powSigned(math, b, x, n, true);
    return math.powmCrt(x < 0n ? math.invMod(b, n) : b, x < 0n ? -x : x, proverSk.crtN);
  };
  // Fig. 29, step 1: α ← Z_N; r, s ← Z*_N
  const alpha = math.randBelow(n, rng);
  const r = math.randUnit(n, rng);
  const s = math.randUnit(n, rng);
  // A = Y^α · r^N  (mod N²)     (α ⊙ Y, re-randomised)
  const A = math.mulMod(powN2(st.Y, alpha), powN2(r, n), n2);
  // B = (1 + N)^α · s^N = (1 + α·N) · s^N  (mod N²)     (enc_N(α; s))
  const B = math.mulMod(1n + alpha * n, powN2(s, n), n2);
  // Step 2: e ← ±Q (Fiat–Shamir)
  const e = challenge(ctx, st, { A, B });
  // Step 3: z = α + e·x (over the integers); u = r·ρ^e mod N; v = s·ρ_x^e mod N
  return {
    A,
    B,
    z: alpha + e * w.x,
    u: math.mulMod(r, powN(w.rho, e), n),
    v: math.mulMod(s, powN(w.rhoX, e), n),
  };
}

/**
 * Verifies every check of Πmul; throws ERR_ZK_PROOF_INVALID naming the first failed one.
 * Cheap checks (group membership, size of z) run before any exponentiation.
 *
 * @throws MpcError ERR_ZK_PROOF_INVALID with details.check one of: 'X is not in Z*_{N²}',
 *   'Y is not in Z*_{N²}', 'C is not in Z*_{N²}', 'A is not in Z*_{N²}', 'B is not in Z*_{N²}',
 *   'u is not in Z*_N', 'v is not in Z*_N', 'z out of range', 'product equation', 'encryption equation'
 * @example verifyMul(math, ctx, { pk: pkOfI, X: K_i, Y: G_i, C: H_i }, decodeMulProof(bytes));
 */
export function verifyMul(math: MathBackend, ctx: ProofContext, st: MulStatement, p: MulProof): void {
  const n = st.pk.n;
  const n2 = st.pk.n2;
  if (!isUnitModSquare(math, st.X, n, n2)) reject(PROOF, 'X is not in Z*_{N²}');
  if (!isUnitModSquare(math, st.Y, n, n2)) reject(PROOF, 'Y is not in Z*_{N²}');
  if (!isUnitModSquare(math, st.C, n, n2)) reject(PROOF, 'C is not in Z*_{N²}');
  if (!isUnitModSquare(math, p.A, n, n2)) reject(PROOF, 'A is not in Z*_{N²}');
  if (!isUnitModSquare(math, p.B, n, n2)) reject(PROOF, 'B is not in Z*_{N²}');
  if (!isUnit(math, p.u, n)) reject(PROOF, 'u is not in Z*_N');
  if (!isUnit(math, p.v, n)) reject(PROOF, 'v is not in Z*_N');
  // Not in Fig. 29 (Πmul is no range proof): an honest |z| = |α + e·x| < N + Q·N/2 ≤ Q·N, so this
  // bound never rejects an honest proof and caps the verifier's exponent size.
  if (!inScaledRange(p.z, SECURITY.challengeBits, n)) reject(PROOF, 'z out of range');
  const e = challenge(ctx, st, p);
  // Fig. 29, check 1: Y^z · u^N = A · C^e  (mod N²)
  const lhs1 = math.mulMod(powSigned(math, st.Y, p.z, n2, false), math.powm(p.u, n, n2), n2);
  const rhs1 = math.mulMod(p.A, powSigned(math, st.C, e, n2, false), n2);
  if (lhs1 !== rhs1) reject(PROOF, 'product equation');
  // Check 2: (1 + N)^z · v^N = B · X^e  (mod N²)     (enc_N(z; v) = B ⊕ (e ⊙ X))
  const lhs2 = math.mulMod(1n + mod(p.z, n) * n, math.powm(p.v, n, n2), n2);
  const rhs2 = math.mulMod(p.B, powSigned(math, st.X, e, n2, false), n2);
  if (lhs2 !== rhs2) reject(PROOF, 'encryption equation');
}

/** |z| ≤ Q·N < 2^(128 + 4096): bits used by the decoder's size cap. */
const Z_MAX_BITS = MAX_MODULUS_BITS + SECURITY.challengeBits;
/** Largest encoded proof: five numbers of at most 8192 bits plus headers. */
export const MUL_PROOF_MAX_BYTES = 5 * (5 + MAX_MODULUS_BITS / 4) + 2;

/** @example const bytes = encodeMulProof(proof); */
export function encodeMulProof(p: MulProof): Uint8Array {
  return new WireWriter()
    .u8(WIRE_TAG)
    .u8(WIRE_VERSION)
    .biguint(p.A)
    .biguint(p.B)
    .bigint(p.z)
    .biguint(p.u)
    .biguint(p.v)
    .finish();
}

/**
 * Strict decoder: sizes checked before any arithmetic, canonical encodings, no trailing bytes.
 *
 * @throws MpcError ERR_WIRE_TOO_LARGE, ERR_WIRE_TRUNCATED, ERR_WIRE_BAD_TAG, ERR_WIRE_BAD_LENGTH,
 *   ERR_WIRE_BIGINT_TOO_LARGE, ERR_WIRE_NON_CANONICAL, ERR_WIRE_TRAILING_BYTES
 * @example const proof = decodeMulProof(bytes);
 */
export function decodeMulProof(bytes: Uint8Array): MulProof {
  const r = new WireReader(bytes, MUL_PROOF_MAX_BYTES);
  r.tag('pi-mul.tag', WIRE_TAG);
  r.tag('pi-mul.version', WIRE_VERSION);
  const proof: MulProof = {
    A: r.biguint('pi-mul.A', 2 * MAX_MODULUS_BITS),
    B: r.biguint('pi-mul.B', 2 * MAX_MODULUS_BITS),
    z: r.bigint('pi-mul.z', Z_MAX_BITS),
    u: r.biguint('pi-mul.u', MAX_MODULUS_BITS),
    v: r.biguint('pi-mul.v', MAX_MODULUS_BITS),
  };
  r.end();
  return proof;
}
