import { MpcError } from '../errors/index.js';
import type { MathBackend } from '../math/backend.js';
import { Transcript } from '../primitives/transcript.js';

/**
 * What every proof binds besides its statement (the spec's `shared_state`, the paper's (ssid, i)):
 * the execution id, the prover's index and, after aux-info round 2, rid/ρ. A proof made under one
 * context never verifies under another (SECURITY.md A7, A11).
 */
export interface ProofContext {
  /** Execution (session) id: unique per protocol run, identical for all parties. */
  readonly sid: Uint8Array;
  /** Index of the prover. */
  readonly prover: number;
  /** Joint randomness of the run when the proof needs it (Πmod, Πfac in aux-info), else absent. */
  readonly rid?: Uint8Array;
  /** Extra domain label (e.g. "hat" vs "not-hat" for the two Πaff-g of presigning round 2). */
  readonly label?: string;
}

/** Project-wide prefix of every Fiat–Shamir tag. */
export const TAG_PREFIX = 'mpc-custody.cggmp24.v1';

/** A transcript with the domain tag of `proof` and the context absorbed. */
export function proofTranscript(proof: string, ctx: ProofContext): Transcript {
  if (!(ctx.sid instanceof Uint8Array) || ctx.sid.length === 0) {
    throw new MpcError('ERR_ZK_STATEMENT_INVALID', 'proof context needs a non-empty session id');
  }
  if (!Number.isInteger(ctx.prover) || ctx.prover < 0 || ctx.prover > 0xffff) {
    throw new MpcError('ERR_ZK_STATEMENT_INVALID', 'proof context needs a prover index in [0, 65535]');
  }
  const t = new Transcript(`${TAG_PREFIX}.${proof}`);
  t.bytes('sid', ctx.sid);
  t.u32('prover', ctx.prover);
  t.bytes('rid', ctx.rid ?? new Uint8Array(0));
  t.bytes('label', new TextEncoder().encode(ctx.label ?? ''));
  return t;
}

/** A proof transcript that also binds the verifier's ring-Pedersen parameters (N̂, s, t). */
export function auxTranscript(
  proof: string,
  ctx: ProofContext,
  aux: { readonly n: bigint; readonly s: bigint; readonly t: bigint },
): Transcript {
  return proofTranscript(proof, ctx).uint('aux.N', aux.n).uint('aux.s', aux.s).uint('aux.t', aux.t);
}

/** Throws the typed verification failure, naming the proof and the failed check (never values). */
export function reject(proof: string, check: string): never {
  throw new MpcError('ERR_ZK_PROOF_INVALID', `${proof} verification failed: ${check}`, { details: { proof, check } });
}

/** |x| ≤ 2^bits (the spec's closed interval ±2^bits). */
export function inSignedRange(x: bigint, bits: number): boolean {
  const bound = 1n << BigInt(bits);
  return x >= -bound && x <= bound;
}

/** |x| ≤ 2^bits · factor. */
export function inScaledRange(x: bigint, bits: number, factor: bigint): boolean {
  const bound = (1n << BigInt(bits)) * factor;
  return x >= -bound && x <= bound;
}

/** x ∈ Z*_m: 0 < x < m and gcd(x, m) = 1. */
export function isUnit(math: MathBackend, x: bigint, m: bigint): boolean {
  return x > 0n && x < m && math.gcd(x, m) === 1n;
}

/** x ∈ Z*_{m} for a ciphertext modulus N² where only gcd with N matters (gcd(x, N²) = 1 ⇔ gcd(x, N) = 1). */
export function isUnitModSquare(math: MathBackend, x: bigint, n: bigint, n2: bigint): boolean {
  return x > 0n && x < n2 && math.gcd(x, n) === 1n;
}
