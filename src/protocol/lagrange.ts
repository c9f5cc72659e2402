/**
 * Lagrange interpolation over Z_q for Shamir / Feldman-VSS key shares (PROTOCOL.md §3.2, §5.0).
 *
 * Party index i (0-based) holds the evaluation f(I_i) with I_i = i + 1, so no party ever sits at the
 * secret's point 0. For a set of distinct evaluation points I_0..I_{t−1} the coefficient of the j-th
 * point for interpolation at z is
 *
 *   λ_j(z) = Π_{m≠j} (z − I_m) / (I_j − I_m)  mod q,   at zero: λ_j = Π_{m≠j} I_m / (I_m − I_j).
 *
 * Only public values go through these functions (indices, coefficients, public shares); the scalar
 * multiplications by a secret share happen in the protocols with the constant-time ladder.
 */
import { MpcError } from '../errors/index.js';
import { mod } from '../math/bits.js';
import { CURVE_ORDER, mulPublic, Point } from '../primitives/curve.js';

/** Evaluation point of party index `i` (0-based): I(i) = i + 1. */
export function evaluationPoint(i: number): bigint {
  return BigInt(i) + 1n;
}

function assertDistinctPoints(points: readonly bigint[]): void {
  const seen = new Set<bigint>();
  for (const p of points) {
    const r = mod(p, CURVE_ORDER);
    if (r === 0n || seen.has(r)) {
      throw new MpcError('ERR_PROTOCOL_INPUT', 'evaluation points must be distinct and non-zero mod q');
    }
    seen.add(r);
  }
}

/**
 * λ_j(z) = Π_{m≠j} (z − I_m) / (I_j − I_m) mod q for the points `points` (distinct, non-zero mod q).
 *
 * @throws MpcError ERR_PROTOCOL_INPUT when the points repeat, are zero mod q, or `j` is out of range
 * @example lagrangeCoefficient([1n, 2n, 3n], 0, 0n) // λ_0 at zero for the points 1, 2, 3
 */
export function lagrangeCoefficient(points: readonly bigint[], j: number, z = 0n): bigint {
  if (!Number.isInteger(j) || j < 0 || j >= points.length) {
    throw new MpcError('ERR_PROTOCOL_INPUT', 'Lagrange index out of range');
  }
  assertDistinctPoints(points);
  const ij = points[j] as bigint;
  let num = 1n;
  let den = 1n;
  points.forEach((im, m) => {
    if (m === j) return;
    num = mod(num * (z - im), CURVE_ORDER);
    den = mod(den * (ij - im), CURVE_ORDER);
  });
  // den ≠ 0 since the points are distinct mod q.
  return mod(num * Point.Fn.inv(den), CURVE_ORDER);
}

/**
 * Σ_j λ_j(z)·V_j: the value at z of the degree-(t−1) polynomial "in the exponent" through the
 * public points (I_j, V_j). Used to check that public shares lie on one polynomial and reach Y.
 *
 * @throws MpcError ERR_PROTOCOL_INPUT on mismatched lengths or bad points
 * @example interpolatePoints([1n, 2n], [X0, X1], 0n) // = Y for a 2-of-n key
 */
export function interpolatePoints(points: readonly bigint[], values: readonly Point[], z = 0n): Point {
  if (points.length !== values.length || points.length === 0) {
    throw new MpcError('ERR_PROTOCOL_INPUT', 'interpolation needs one value per evaluation point');
  }
  let acc = Point.ZERO;
  values.forEach((v, j) => {
    acc = acc.add(mulPublic(v, lagrangeCoefficient(points, j, z)));
  });
  return acc;
}
