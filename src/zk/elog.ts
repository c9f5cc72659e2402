/**
 * Πelog — discrete log with an ElGamal commitment (CGGMP24 revision of ePrint 2021/060, Appendix A.1,
 * Fig. 23 "Dlog with El-Gamal Commitment").
 *
 * Statement (L, M, X, Y, h), all non-identity points; witness (y, λ) ∈ Z_q² with
 *   L = λ·G,  M = y·G + λ·X,  Y = y·h.
 * (L, M) is an ElGamal encryption of y·G under the key X, and Y = y·h puts the same y on the base h.
 * Presigning (Fig. 8) uses it twice, with the order of Fig. 23 (the figure of the protocol lists the
 * same values in another order):
 *   round 2: (B_{i,1}, B_{i,2}, Y_i, Γ_i, G) with witness (γ_i, b_i) — Γ_i = γ_i·G;
 *   round 3: (A_{i,1}, A_{i,2}, Y_i, Δ_i, Γ) with witness (k_i, a_i) — Δ_i = k_i·Γ.
 *
 * A pure curve proof (no Paillier, no ring-Pedersen), so the challenge is e ∈ Z_q like Πsch and it
 * runs inline, not on the worker pool.
 *
 * Naming (paper): (A, N, B) commitments; e challenge; (z, u) responses.
 */
import { MpcError } from '../errors/index.js';
import { fromBytesBE, mod, toBytesBE } from '../math/bits.js';
import { type Rng, randBelow, systemRng } from '../math/random.js';
import {
  CURVE_ORDER,
  decodePoint,
  encodePoint,
  G,
  isValidNonIdentity,
  mulBase,
  mulPublic,
  mulSecret,
  POINT_BYTES,
  type Point,
} from '../primitives/curve.js';
import { WireReader, WireWriter } from '../util/wire.js';
import { type ProofContext, proofTranscript, reject } from './common.js';

const PROOF = 'pi-elog';
/** Wire tags: §2 numbering for the primary proofs (0x01–0x07), the ElGamal pair of the revision next. */
const WIRE_TAG = 0x09;
const WIRE_VERSION = 1;
const SCALAR_BYTES = 32;

export interface ElogStatement {
  /** L = λ·G (first ElGamal component). */
  readonly L: Point;
  /** M = y·G + λ·X (second ElGamal component). */
  readonly M: Point;
  /** X: the ElGamal public key. */
  readonly X: Point;
  /** Y = y·h. */
  readonly Y: Point;
  /** The base h (G in round 2, Γ in round 3). */
  readonly h: Point;
}

export interface ElogWitness {
  readonly y: bigint;
  readonly lambda: bigint;
}

export interface ElogProof {
  /** A = α·G */
  readonly A: Point;
  /** N = m·G + α·X */
  readonly N: Point;
  /** B = m·h */
  readonly B: Point;
  /** z = α + e·λ mod q */
  readonly z: bigint;
  /** u = m + e·y mod q */
  readonly u: bigint;
}

type ElogCommitment = Pick<ElogProof, 'A' | 'N' | 'B'>;

const STATEMENT_POINTS = ['L', 'M', 'X', 'Y', 'h'] as const;

/** e ∈ Z_q from the context, the whole statement (h included) and the commitments. */
function challenge(ctx: ProofContext, st: ElogStatement, c: ElogCommitment): bigint {
  const t = proofTranscript(PROOF, ctx);
  for (const k of STATEMENT_POINTS) t.point(k, encodePoint(st[k]));
  return t
    .point('A', encodePoint(c.A))
    .point('N', encodePoint(c.N))
    .point('B', encodePoint(c.B))
    .challengeRng('e')
    .below(CURVE_ORDER);
}

/**
 * Proves Πelog. The witness is not checked against the statement: a wrong witness gives a proof the
 * verifier rejects.
 *
 * @throws MpcError ERR_ZK_STATEMENT_INVALID when a statement point is the identity
 * @example const psi = proveElog(ctx, { L: B1, M: B2, X: Yi, Y: Gamma_i, h: G }, { y: gamma_i, lambda: b_i }, rng);
 */
export function proveElog(ctx: ProofContext, st: ElogStatement, w: ElogWitness, rng: Rng = systemRng): ElogProof {
  for (const k of STATEMENT_POINTS) {
    if (!isValidNonIdentity(st[k])) {
      throw new MpcError('ERR_ZK_STATEMENT_INVALID', `${PROOF}: ${k} must be a non-identity point`);
    }
  }
  // α, m ← Z_q; redrawn in the negligible case where a commitment is the identity (it has no encoding).
  let alpha: bigint;
  let m: bigint;
  let c: ElogCommitment;
  do {
    alpha = randBelow(CURVE_ORDER, rng);
    m = randBelow(CURVE_ORDER, rng);
    // A = α·G; N = m·G + α·X; B = m·h (secret scalars)
    c = { A: mulBase(alpha), N: mulBase(m).add(mulSecret(st.X, alpha)), B: mulSecret(st.h, m) };
  } while (c.A.is0() || c.N.is0() || c.B.is0());
  const e = challenge(ctx, st, c);
  // z = α + e·λ; u = m + e·y (mod q)
  return { ...c, z: mod(alpha + e * w.lambda, CURVE_ORDER), u: mod(m + e * w.y, CURVE_ORDER) };
}

/**
 * Verifies Πelog; throws ERR_ZK_PROOF_INVALID naming the first failed check.
 *
 * @throws MpcError ERR_ZK_PROOF_INVALID with details.check one of: '<L|M|X|Y|h> is the identity',
 *   '<A|N|B> is the identity', '<z|u> is not a canonical scalar', 'L equation', 'M equation', 'Y equation'
 * @example verifyElog(ctxOfJ, { L: B1j, M: B2j, X: Yj, Y: Gamma_j, h: G }, decodeElogProof(bytes));
 */
export function verifyElog(ctx: ProofContext, st: ElogStatement, p: ElogProof): void {
  for (const k of STATEMENT_POINTS) if (!isValidNonIdentity(st[k])) reject(PROOF, `${k} is the identity`);
  for (const k of ['A', 'N', 'B'] as const) if (!isValidNonIdentity(p[k])) reject(PROOF, `${k} is the identity`);
  for (const k of ['z', 'u'] as const) {
    const v = p[k];
    if (typeof v !== 'bigint' || v < 0n || v >= CURVE_ORDER) reject(PROOF, `${k} is not a canonical scalar`);
  }
  const e = challenge(ctx, st, p);
  // z·G = A + e·L
  if (!mulPublic(G, p.z).equals(p.A.add(mulPublic(st.L, e)))) reject(PROOF, 'L equation');
  // u·G + z·X = N + e·M
  if (
    !mulPublic(G, p.u)
      .add(mulPublic(st.X, p.z))
      .equals(p.N.add(mulPublic(st.M, e)))
  )
    reject(PROOF, 'M equation');
  // u·h = B + e·Y
  if (!mulPublic(st.h, p.u).equals(p.B.add(mulPublic(st.Y, e)))) reject(PROOF, 'Y equation');
}

/** Encoded size: tag, version, three 33-byte points, two 32-byte scalars. */
export const ELOG_PROOF_BYTES = 2 + 3 * POINT_BYTES + 2 * SCALAR_BYTES;

/**
 * @throws MpcError ERR_WIRE_POINT_INVALID for an identity commitment; ERR_WIRE_TYPE for a scalar not in [0, q)
 * @example const bytes = encodeElogProof(proof);
 */
export function encodeElogProof(p: ElogProof): Uint8Array {
  for (const k of ['z', 'u'] as const) {
    if (p[k] < 0n || p[k] >= CURVE_ORDER)
      throw new MpcError('ERR_WIRE_TYPE', `pi-elog.${k} must be a scalar in [0, q)`);
  }
  return new WireWriter()
    .u8(WIRE_TAG)
    .u8(WIRE_VERSION)
    .fixed(encodePoint(p.A))
    .fixed(encodePoint(p.N))
    .fixed(encodePoint(p.B))
    .fixed(toBytesBE(p.z, SCALAR_BYTES))
    .fixed(toBytesBE(p.u, SCALAR_BYTES))
    .finish();
}

/**
 * Strict decoder: exact length, valid non-identity points (SECURITY.md A14), canonical scalars, no
 * trailing bytes.
 *
 * @throws MpcError ERR_WIRE_TOO_LARGE, ERR_WIRE_TRUNCATED, ERR_WIRE_BAD_TAG, ERR_WIRE_POINT_INVALID,
 *   ERR_WIRE_NON_CANONICAL, ERR_WIRE_TRAILING_BYTES
 * @example const proof = decodeElogProof(bytes);
 */
export function decodeElogProof(bytes: Uint8Array): ElogProof {
  const r = new WireReader(bytes, ELOG_PROOF_BYTES);
  r.tag('pi-elog.tag', WIRE_TAG);
  r.tag('pi-elog.version', WIRE_VERSION);
  const A = decodePoint(r.fixed('pi-elog.A', POINT_BYTES), 'pi-elog.A');
  const N = decodePoint(r.fixed('pi-elog.N', POINT_BYTES), 'pi-elog.N');
  const B = decodePoint(r.fixed('pi-elog.B', POINT_BYTES), 'pi-elog.B');
  const scalar = (path: string): bigint => {
    const v = fromBytesBE(r.fixed(path, SCALAR_BYTES));
    if (v >= CURVE_ORDER)
      throw new MpcError('ERR_WIRE_NON_CANONICAL', `${path} is not reduced mod q`, { details: { path } });
    return v;
  };
  const z = scalar('pi-elog.z');
  const u = scalar('pi-elog.u');
  r.end();
  return { A, N, B, z, u };
}
