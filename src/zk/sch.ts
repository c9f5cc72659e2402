/**
 * Πsch — Schnorr proof of knowledge of x with X = x·G (CGGMP24 ePrint 2021/060, "Schnorr PoK";
 * CGGMP spec §"Πsch"; PROTOCOL.md §2.1), in its "commit early" form: the first message A = α·G is
 * produced (and, in keygen / aux-info, hidden inside a hash commitment) in round 1, before the
 * challenge can be known, and the response is computed in a later round.
 *
 * Naming: X = x·G statement point; α secret nonce; A = α·G commitment; e challenge ∈ Z_q;
 * z = α + e·x mod q response.
 *
 * The secret α MUST be used for exactly one `proveSch` call: two responses under one α and different
 * challenges reveal x = (z − z')·(e − e')⁻¹ mod q.
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
  POINT_BYTES,
  type Point,
} from '../primitives/curve.js';
import { WireReader, WireWriter } from '../util/wire.js';
import { type ProofContext, proofTranscript, reject } from './common.js';

const PROOF = 'pi-sch';
/** Wire tags follow the PROTOCOL.md §2 numbering: Πsch = §2.1. */
const WIRE_TAG = 0x01;
const WIRE_VERSION = 1;
/** Bytes of a canonical scalar (z ∈ [0, q), big-endian, fixed width). */
const SCALAR_BYTES = 32;

/** The prover's first message (public; hashed into the round-1 commitment of keygen / aux-info). */
export interface SchCommitment {
  /** A = α·G */
  readonly A: Point;
}

/** The prover's nonce. Secret; use once. */
export interface SchSecret {
  /** α ∈ [1, q) */
  readonly alpha: bigint;
}

export interface SchProof {
  /** A = α·G (the commitment, repeated so the proof verifies on its own). */
  readonly A: Point;
  /** z = α + e·x mod q, canonical in [0, q). */
  readonly z: bigint;
}

/** e ∈ Z_q from the context (sid, prover, rid, label), X and A, by rejection sampling (PROTOCOL.md §0.3). */
function challenge(ctx: ProofContext, X: Point, A: Point): bigint {
  return proofTranscript(PROOF, ctx)
    .point('X', encodePoint(X))
    .point('A', encodePoint(A))
    .challengeRng('e')
    .below(CURVE_ORDER);
}

/**
 * Round-1 half of Πsch: α ← Z_q \ {0}, A = α·G. α = 0 would publish the identity (which the
 * verifier rejects), so it is redrawn; the distribution differs from uniform by 1/q.
 *
 * @throws MpcError ERR_MATH_RNG when the random source is broken
 * @example const { secret, commitment } = schnorrCommit(rng); // publish H(commitment.A, …) now
 */
export function schnorrCommit(rng: Rng = systemRng): { secret: SchSecret; commitment: SchCommitment } {
  // α ← [1, q): uniform in [0, q − 1) plus one.
  const alpha = randBelow(CURVE_ORDER - 1n, rng) + 1n;
  // A = α·G (secret scalar: constant-time ladder)
  const A = mulBase(alpha);
  return { secret: { alpha }, commitment: { A } };
}

/**
 * Response of Πsch: z = α + e·x mod q with e = H(ctx, X, A). `secret` must come from the
 * `schnorrCommit` call that produced `commitment` and must not be reused.
 *
 * @throws MpcError ERR_ZK_STATEMENT_INVALID when X or A is the identity (neither can be hashed or verified)
 * @example const proof = proveSch(ctx, X, commitment, secret, x);
 */
export function proveSch(
  ctx: ProofContext,
  X: Point,
  commitment: SchCommitment,
  secret: SchSecret,
  x: bigint,
): SchProof {
  if (!isValidNonIdentity(X))
    throw new MpcError('ERR_ZK_STATEMENT_INVALID', `${PROOF}: X must be a non-identity point`);
  if (!isValidNonIdentity(commitment.A)) {
    throw new MpcError('ERR_ZK_STATEMENT_INVALID', `${PROOF}: the commitment A must be a non-identity point`);
  }
  const e = challenge(ctx, X, commitment.A);
  // z = α + e·x mod q
  return { A: commitment.A, z: mod(secret.alpha + e * x, CURVE_ORDER) };
}

/**
 * Verifies Πsch; throws ERR_ZK_PROOF_INVALID naming the first failed check. The caller must also
 * check that `proof.A` is the value committed to in round 1 (the commit-early binding).
 *
 * @throws MpcError ERR_ZK_PROOF_INVALID ('X is the identity', 'A is the identity',
 *   'z is not a canonical scalar', 'curve equation')
 * @example verifySch(ctx, X, decodeSchProof(bytes));
 */
export function verifySch(ctx: ProofContext, X: Point, proof: SchProof): void {
  if (!isValidNonIdentity(X)) reject(PROOF, 'X is the identity');
  if (!isValidNonIdentity(proof.A)) reject(PROOF, 'A is the identity');
  // z ∈ [0, q): a single encoding per response.
  if (typeof proof.z !== 'bigint' || proof.z < 0n || proof.z >= CURVE_ORDER)
    reject(PROOF, 'z is not a canonical scalar');
  const e = challenge(ctx, X, proof.A);
  // z·G = A + e·X
  if (!mulPublic(G, proof.z).equals(proof.A.add(mulPublic(X, e)))) reject(PROOF, 'curve equation');
}

/** Encoded size: tag, version, 33-byte point, 32-byte scalar. */
export const SCH_PROOF_BYTES = 2 + POINT_BYTES + SCALAR_BYTES;

/**
 * @throws MpcError ERR_WIRE_POINT_INVALID when A is the identity; ERR_WIRE_TYPE when z is not in [0, q)
 * @example const bytes = encodeSchProof(proof);
 */
export function encodeSchProof(p: SchProof): Uint8Array {
  if (p.z < 0n || p.z >= CURVE_ORDER) throw new MpcError('ERR_WIRE_TYPE', 'pi-sch.z must be a scalar in [0, q)');
  return new WireWriter()
    .u8(WIRE_TAG)
    .u8(WIRE_VERSION)
    .fixed(encodePoint(p.A))
    .fixed(toBytesBE(p.z, SCALAR_BYTES))
    .finish();
}

/**
 * Strict decoder: exact length, A a valid non-identity point (SECURITY.md A14), z a canonical
 * scalar (< q), no trailing bytes.
 *
 * @throws MpcError ERR_WIRE_TOO_LARGE, ERR_WIRE_TRUNCATED, ERR_WIRE_BAD_TAG, ERR_WIRE_POINT_INVALID,
 *   ERR_WIRE_NON_CANONICAL, ERR_WIRE_TRAILING_BYTES
 * @example const proof = decodeSchProof(bytes);
 */
export function decodeSchProof(bytes: Uint8Array): SchProof {
  const r = new WireReader(bytes, SCH_PROOF_BYTES);
  r.tag('pi-sch.tag', WIRE_TAG);
  r.tag('pi-sch.version', WIRE_VERSION);
  const A = decodePoint(r.fixed('pi-sch.A', POINT_BYTES), 'pi-sch.A');
  const z = fromBytesBE(r.fixed('pi-sch.z', SCALAR_BYTES));
  if (z >= CURVE_ORDER) {
    throw new MpcError('ERR_WIRE_NON_CANONICAL', 'pi-sch.z is not reduced mod q', { details: { path: 'pi-sch.z' } });
  }
  r.end();
  return { A, z };
}
