/**
 * Πprm — ring-Pedersen parameters: s ∈ ⟨t⟩ (CGGMP24 ePrint 2021/060, "Ring-Pedersen Parameters
 * ZK"; CGGMP spec §"Πprm"; PROTOCOL.md §2.6; cggmp21/src/zk/ring_pedersen_parameters.rs).
 *
 * Proves knowledge of λ with s = t^λ mod N. Used in aux-info round 1 (PROTOCOL.md §4.1): ψ̂_i for
 * (N_i, s_i, t_i) under shared_state (sid, i) (no rid yet: the proof is inside the hash commitment
 * V_i). Binary challenges, so soundness is 2^-m with m = 128 repetitions (SECURITY.md A4, A5).
 *
 * Naming (paper): (N, s, t) statement; λ, φ(N) witness; a_i secret nonces; A_i = t^{a_i}
 * commitments; e_i ∈ {0, 1} challenge bits; z_i = a_i + e_i·λ mod φ(N) responses.
 */
import { MpcError } from '../errors/index.js';
import type { MathBackend } from '../math/backend.js';
import { bitLength } from '../math/bits.js';
import type { Rng } from '../math/random.js';
import type { PaillierSecretKey } from '../primitives/paillier.js';
import type { RingPedersenParams } from '../primitives/ring-pedersen.js';
import { WireReader, WireWriter } from '../util/wire.js';
import { isUnit, type ProofContext, proofTranscript, reject } from './common.js';
import { MAX_MODULUS_BITS, SECURITY } from './params.js';

const PROOF = 'pi-prm';
const WIRE_TAG = 0x06;
const WIRE_VERSION = 1;
/** t^{z_i} per powmBatch call: amortizes crossings, and a forged proof fails on an early chunk. */
const BATCH = 32;

/** Statement: the ring-Pedersen parameters (N, s, t). */
export type PrmStatement = Pick<RingPedersenParams, 'n' | 's' | 't'>;

export interface PrmWitness {
  /** λ with s = t^λ mod N (a RingPedersenSecret fits this shape). */
  readonly lambda: bigint;
  /** φ(N) */
  readonly phi: bigint;
  /**
   * Optional: the owner's Paillier key on the same N. When present, A_i = t^{a_i} is computed by
   * CRT mod p and q (≈ 3× faster); otherwise on the constant-time path mod N.
   */
  readonly sk?: PaillierSecretKey;
}

export interface PrmProof {
  /** A_i = t^{a_i} mod N, exactly SECURITY.m of them. */
  readonly A: readonly bigint[];
  /** z_i = a_i + e_i·λ mod φ(N), exactly SECURITY.m of them. */
  readonly z: readonly bigint[];
}

/** e_1..e_m ∈ {0, 1} from the transcript of (ctx, N, s, t, A_1..A_m) (PROTOCOL.md §0.3, §2.6). */
function challenge(ctx: ProofContext, st: PrmStatement, A: readonly bigint[]): boolean[] {
  return proofTranscript(PROOF, ctx)
    .uint('N', st.n)
    .uint('s', st.s)
    .uint('t', st.t)
    .uints('A', A)
    .challengeRng('e')
    .bits(SECURITY.m);
}

/**
 * Checks on (N, s, t) every verifier runs (SECURITY.md A3, A4; PROTOCOL.md §1.2): |N| within
 * [8κ − 1, MAX_MODULUS_BITS], N odd, s, t ∈ Z*_N and not ±1, s ≠ t. `ringPedersenParams` does the
 * same at parse time; repeating it here keeps a hand-built object from skipping it.
 */
function checkStatement(math: MathBackend, st: PrmStatement): void {
  const { n, s, t } = st;
  if (typeof n !== 'bigint' || typeof s !== 'bigint' || typeof t !== 'bigint' || n <= 0n) {
    reject(PROOF, 'statement is not three positive integers');
  }
  const bits = bitLength(n);
  if (bits < SECURITY.minModulusBits) reject(PROOF, 'N below the minimum size');
  if (bits > MAX_MODULUS_BITS) reject(PROOF, 'N above the maximum size');
  if ((n & 1n) === 0n) reject(PROOF, 'N is even');
  if (!isUnit(math, s, n)) reject(PROOF, 's is not in Z*_N');
  if (!isUnit(math, t, n)) reject(PROOF, 't is not in Z*_N');
  // ±1 generate a group of order ≤ 2: s ∈ ⟨t⟩ would then say nothing (TSSHOCK c-split, Alpha-Rays).
  if (s === 1n || s === n - 1n) reject(PROOF, 's is ±1');
  if (t === 1n || t === n - 1n) reject(PROOF, 't is ±1');
  if (s === t) reject(PROOF, 's equals t');
}

/**
 * Proves s ∈ ⟨t⟩ for the owner's ring-Pedersen parameters.
 * @throws MpcError ERR_ZK_STATEMENT_INVALID when the witness does not satisfy s = t^λ mod N, λ ∉ [0, φ),
 *   or `sk` belongs to another modulus (the prover refuses to prove a false statement)
 * @example const proof = provePrm(math, { sid, prover: i }, rp.params, { lambda: rp.lambda, phi: rp.phi, sk });
 */
export function provePrm(math: MathBackend, ctx: ProofContext, st: PrmStatement, w: PrmWitness, rng?: Rng): PrmProof {
  const { n, s, t } = st;
  const { lambda, phi, sk } = w;
  if (sk !== undefined && sk.pub.n !== n)
    throw new MpcError('ERR_ZK_STATEMENT_INVALID', 'Πprm key is for another modulus');
  if (phi <= 0n || phi >= n || lambda < 0n || lambda >= phi) {
    throw new MpcError('ERR_ZK_STATEMENT_INVALID', 'Πprm witness out of range');
  }
  // t^e mod N with a secret exponent: CRT when the factors are at hand, else constant-time mod N.
  const powT = (e: bigint): bigint => (sk !== undefined ? math.powmCrt(t, e, sk.crtN) : math.powmSec(t, e, n));
  if (powT(lambda) !== s) throw new MpcError('ERR_ZK_STATEMENT_INVALID', 'Πprm witness does not satisfy s = t^λ');

  // Commit: a_i ← Z_φ(N); A_i = t^{a_i} mod N.
  const a = Array.from({ length: SECURITY.m }, () => math.randBelow(phi, rng));
  const A = a.map(powT);
  // Challenge: e_i ∈ {0, 1}.
  const e = challenge(ctx, st, A);
  // Response: z_i = a_i + e_i·λ mod φ(N).
  const z = a.map((ai, i) => (e[i] === true ? (ai + lambda) % phi : ai));
  return { A, z };
}

/**
 * Verifies Πprm; throws ERR_ZK_PROOF_INVALID naming the first failed check. Statement checks first
 * (A3, A4), then the repetition count (A5), A_i ∈ Z*_N, z_i ∈ [0, N) (a verifier does not know φ; an
 * honest z_i < φ < N), and finally t^{z_i} = A_i·s^{e_i} mod N with batched exponentiations.
 * @throws MpcError ERR_ZK_PROOF_INVALID (details.check names the failed check)
 * @example verifyPrm(math, { sid, prover: j }, peerParams, proof);
 */
export function verifyPrm(math: MathBackend, ctx: ProofContext, st: PrmStatement, proof: PrmProof): void {
  checkStatement(math, st);
  const { n, s, t } = st;
  if (!Array.isArray(proof.A) || !Array.isArray(proof.z)) reject(PROOF, 'repetition count');
  if (proof.A.length !== SECURITY.m || proof.z.length !== SECURITY.m) reject(PROOF, 'repetition count');
  for (const Ai of proof.A) if (typeof Ai !== 'bigint' || !isUnit(math, Ai, n)) reject(PROOF, 'A is not in Z*_N');
  for (const zi of proof.z) if (typeof zi !== 'bigint' || zi < 0n || zi >= n) reject(PROOF, 'z out of range');
  const e = challenge(ctx, st, proof.A);
  // t^{z_i} = A_i · s^{e_i} (mod N), e_i ∈ {0, 1}: one public-exponent powm per i, batched.
  for (let start = 0; start < SECURITY.m; start += BATCH) {
    const zs = proof.z.slice(start, start + BATCH);
    const lhs = math.powmBatch(zs.map((zi) => ({ base: t, exp: zi, mod: n, secret: false })));
    for (let k = 0; k < zs.length; k++) {
      const i = start + k;
      const Ai = proof.A[i] as bigint;
      const rhs = e[i] === true ? math.mulMod(Ai, s, n) : Ai;
      if (lhs[k] !== rhs) reject(PROOF, 'equation t^z = A·s^e');
    }
  }
}

/** Largest encoded proof: header, then two counted vectors of m numbers of at most MAX_MODULUS_BITS. */
export const PRM_PROOF_MAX_BYTES = 2 + 2 * (4 + SECURITY.m * (4 + MAX_MODULUS_BITS / 8));

/**
 * Encodes tag ‖ version ‖ count ‖ A_1..A_m ‖ count ‖ z_1..z_m.
 * @throws MpcError ERR_WIRE_TYPE for a negative value
 * @example const bytes = encodePrmProof(proof);
 */
export function encodePrmProof(p: PrmProof): Uint8Array {
  const wr = new WireWriter().u8(WIRE_TAG).u8(WIRE_VERSION).u32(p.A.length);
  for (const Ai of p.A) wr.biguint(Ai);
  wr.u32(p.z.length);
  for (const zi of p.z) wr.biguint(zi);
  return wr.finish();
}

/**
 * Strict decoder: size caps before any arithmetic, exactly SECURITY.m entries in each vector
 * (1, 79, 127, 129 are refused), canonical encodings, no trailing bytes.
 * @throws MpcError ERR_WIRE_* naming the field path
 * @example const proof = decodePrmProof(bytes);
 */
export function decodePrmProof(bytes: Uint8Array): PrmProof {
  const r = new WireReader(bytes, PRM_PROOF_MAX_BYTES);
  r.tag('pi-prm.tag', WIRE_TAG);
  r.tag('pi-prm.version', WIRE_VERSION);
  const nA = r.count('pi-prm.A', SECURITY.m);
  const A = Array.from({ length: nA }, (_, i) => r.biguint(`pi-prm.A[${i}]`, MAX_MODULUS_BITS));
  const nz = r.count('pi-prm.z', SECURITY.m);
  const z = Array.from({ length: nz }, (_, i) => r.biguint(`pi-prm.z[${i}]`, MAX_MODULUS_BITS));
  r.end();
  return { A, z };
}
