import { MpcError } from '../errors/index.js';
import type { MathBackend } from '../math/backend.js';
import { bitLength } from '../math/bits.js';
import type { Rng } from '../math/random.js';
import type { PaillierSecretKey } from './paillier.js';

/**
 * Ring-Pedersen parameters (N̂, s, t) (CGGMP spec §"Ring-Pedersen"; PROTOCOL.md §1.2).
 * The owner of N knows φ(N): t = r² mod N, s = t^λ mod N. Commitments s^x·t^y mod N̂ are binding
 * only for a party that knows neither λ nor the factorization, so every range proof addressed to
 * P_j uses P_j's own parameters.
 */
export interface RingPedersenParams {
  readonly n: bigint;
  readonly s: bigint;
  readonly t: bigint;
  /** s⁻¹, t⁻¹ mod N, for commitments with negative exponents. */
  readonly sInv: bigint;
  readonly tInv: bigint;
}

/** The trapdoor λ (a secret: the owner keeps it only long enough to prove Πprm). */
export interface RingPedersenSecret {
  readonly params: RingPedersenParams;
  readonly lambda: bigint;
  readonly phi: bigint;
}

/**
 * Validates peer parameters (SECURITY.md A3, A4): N odd with at least `minBits` bits;
 * s, t ∈ Z*_N and neither 0, 1 nor N − 1; s ≠ t. Πprm proves s ∈ ⟨t⟩ on top of this.
 * @throws MpcError ERR_RING_PEDERSEN_INVALID naming the failed condition
 */
export function ringPedersenParams(
  math: MathBackend,
  n: bigint,
  s: bigint,
  t: bigint,
  minBits: number,
): RingPedersenParams {
  const fail = (why: string): never => {
    throw new MpcError('ERR_RING_PEDERSEN_INVALID', `ring-Pedersen parameters rejected: ${why}`);
  };
  if (typeof n !== 'bigint' || typeof s !== 'bigint' || typeof t !== 'bigint') fail('values must be bigints');
  if (n <= 0n || (n & 1n) === 0n) fail('N must be odd and positive');
  if (bitLength(n) < minBits) fail(`N has fewer than ${minBits} bits`);
  for (const [name, v] of [
    ['s', s],
    ['t', t],
  ] as const) {
    if (v <= 1n || v >= n - 1n) fail(`${name} must be in (1, N − 1)`);
    if (math.gcd(v, n) !== 1n) fail(`${name} must be coprime to N`);
  }
  if (s === t) fail('s must differ from t');
  return Object.freeze({ n, s, t, sInv: math.invMod(s, n), tInv: math.invMod(t, n) });
}

/** Generates parameters on the owner's Paillier modulus (aux-info round 1). */
export function generateRingPedersen(math: MathBackend, sk: PaillierSecretKey, rng?: Rng): RingPedersenSecret {
  const n = sk.pub.n;
  for (;;) {
    const r = math.randUnit(n, rng);
    const t = math.powmCrt(r, 2n, sk.crtN);
    const lambda = math.randBelow(sk.phi, rng);
    const s = math.powmCrt(t, lambda, sk.crtN);
    // Degenerate draws (s = t, s ∈ {0, 1, N−1}) are astronomically rare; redraw rather than publish them.
    if (s === t || s <= 1n || t <= 1n || s >= n - 1n || t >= n - 1n) continue;
    return Object.freeze({ params: ringPedersenParams(math, n, s, t, 0), lambda, phi: sk.phi });
  }
}

/**
 * s^x · t^y mod N̂ for signed exponents. `secret`: whether x or y is secret (constant-time path);
 * verifiers recomputing commitments from public responses pass false.
 */
export function commit(math: MathBackend, rp: RingPedersenParams, x: bigint, y: bigint, secret: boolean): bigint {
  const bases = [x < 0n ? rp.sInv : rp.s, y < 0n ? rp.tInv : rp.t];
  const exps = [x < 0n ? -x : x, y < 0n ? -y : y];
  return secret ? math.multiExpSec(bases, exps, rp.n) : math.multiExp(bases, exps, rp.n);
}

/** b^e mod m for a signed exponent e (public or secret). */
export function powSigned(math: MathBackend, b: bigint, e: bigint, m: bigint, secret: boolean): bigint {
  const base = e < 0n ? math.invMod(b, m) : b;
  const exp = e < 0n ? -e : e;
  return secret ? math.powmSec(base, exp, m) : math.powm(base, exp, m);
}
