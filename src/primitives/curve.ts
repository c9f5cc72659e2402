import { secp256k1 } from '@noble/curves/secp256k1.js';
import { MpcError } from '../errors/index.js';
import { fromBytesBE, mod } from '../math/bits.js';
import { secp256k1Backend } from './secp256k1-backend.js';

/**
 * secp256k1 through @noble/curves: the group of the protocol (written additively, x·G).
 * Points cross the wire only as 33-byte compressed SEC1; decoding rejects off-curve, non-canonical
 * and identity encodings (SECURITY.md A14).
 */
export const Point = secp256k1.Point;
export type Point = InstanceType<typeof secp256k1.Point>;
/** Group order q. */
export const CURVE_ORDER: bigint = secp256k1.Point.Fn.ORDER;
export const G: Point = Point.BASE;
export const POINT_BYTES = 33;

/** x·G for a secret scalar (constant-time ladder); x ≡ 0 gives the identity. */
export function mulBase(x: bigint): Point {
  const k = mod(x, CURVE_ORDER);
  return k === 0n ? Point.ZERO : G.multiply(k);
}

/** x·P for a secret scalar (constant time); 0 gives the identity. */
export function mulSecret(p: Point, x: bigint): Point {
  const k = mod(x, CURVE_ORDER);
  return k === 0n ? Point.ZERO : p.multiply(k);
}

/** x·P for a public scalar (variable time, accepts 0). */
export function mulPublic(p: Point, x: bigint): Point {
  return p.multiplyUnsafe(mod(x, CURVE_ORDER));
}

export function encodePoint(p: Point): Uint8Array {
  if (p.is0()) throw new MpcError('ERR_WIRE_POINT_INVALID', 'the identity point has no encoding');
  return p.toBytes(true);
}

/**
 * Decodes a compressed point; the identity and anything off the curve are rejected. Validation and
 * decompression run in libsecp256k1 when the addon has it (secp256k1-backend.ts), else in noble.
 */
export function decodePoint(bytes: Uint8Array, path = 'point'): Point {
  if (!(bytes instanceof Uint8Array) || bytes.length !== POINT_BYTES) {
    throw new MpcError('ERR_WIRE_POINT_INVALID', `${path} must be 33 bytes`, { details: { path } });
  }
  try {
    const backend = secp256k1Backend();
    if (backend.name === 'libsecp256k1') {
      // the library validates and decompresses (x, y < p, on the curve); noble rebuilds the point
      // from (x, y) without its own square root and re-checks the curve equation
      const u = backend.decode(bytes);
      if (u === null) throw new Error('refused by libsecp256k1');
      const p = Point.fromAffine({ x: fromBytesBE(u.subarray(1, 33)), y: fromBytesBE(u.subarray(33, 65)) });
      p.assertValidity();
      if (p.is0()) throw new Error('identity');
      return p;
    }
    const p = Point.fromBytes(bytes);
    p.assertValidity();
    if (p.is0()) throw new Error('identity');
    return p;
  } catch (e) {
    throw new MpcError('ERR_WIRE_POINT_INVALID', `${path} is not a valid curve point`, { cause: e, details: { path } });
  }
}

/** True for a point object on the curve that is not the identity (statements built in memory). */
export function isValidNonIdentity(P: unknown): P is Point {
  if (!(P instanceof Point)) return false;
  try {
    P.assertValidity();
  } catch {
    return false;
  }
  return !P.is0();
}
