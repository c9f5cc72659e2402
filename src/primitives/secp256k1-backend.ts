/**
 * secp256k1 for the online signing path behind one interface: libsecp256k1 through its own native
 * addon (native/secp256k1.cc → build/Release/mpc_secp256k1.node, built when the build found
 * libsecp256k1-dev; apart from the GMP core so neither can cost the other) when it loads and
 * passes a known-answer check, else @noble/curves — which is also the oracle the agreement tests
 * (test/primitives/secp256k1-backend.test.ts) hold the native results against.
 *
 * Byte-oriented on purpose: points go in and out as SEC1 encodings (33 bytes compressed; decode
 * gives 65 bytes uncompressed), scalars as 32 bytes big-endian, so a call costs no BigInt work.
 * `null` means refused: an invalid encoding (off the curve, x or y ≥ p, bad prefix), a scalar 0 or
 * ≥ n, or a result at infinity (which has no encoding).
 *
 * Only PUBLIC values go through here (public scalars such as the re-randomising τ, public points,
 * signatures). libsecp256k1's tweak_mul is constant time anyway; noble's `multiplyUnsafe` is not,
 * which is why secret scalars keep using curve.ts `mulSecret` / `mulBase` (noble's constant-time
 * ladder), exactly as before this module existed.
 *
 * `MPC_SECP256K1_BACKEND=noble` forces the fallback (tests, benchmarks).
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { packageRoot } from '../util/package-root.js';

export type Secp256k1BackendName = 'libsecp256k1' | 'noble';

export interface Secp256k1Backend {
  readonly name: Secp256k1BackendName;
  /** k·P (33 bytes compressed) for a public scalar k ∈ [1, n); null when P or k is refused. */
  mul(point: Uint8Array, scalar: Uint8Array): Uint8Array | null;
  /** A + B (33 bytes compressed); null when an input is refused or A + B is the identity. */
  add(a: Uint8Array, b: Uint8Array): Uint8Array | null;
  /** The validated point as 65-byte uncompressed SEC1 (0x04 ‖ x ‖ y); null when refused. */
  decode(point: Uint8Array): Uint8Array | null;
  /**
   * ECDSA verification of (r ‖ s) over a 32-byte digest (no hashing): false for r or s ∉ [1, n),
   * HIGH s (s > n/2: the project only emits low-s, combine normalises) and an invalid key.
   */
  verify(signature: Uint8Array, digest: Uint8Array, point: Uint8Array): boolean;
}

interface SecpAddon {
  secpMul(point: Uint8Array, scalar: Uint8Array): Uint8Array | null;
  secpAdd(a: Uint8Array, b: Uint8Array): Uint8Array | null;
  secpDecode(point: Uint8Array): Uint8Array | null;
  secpVerify(signature: Uint8Array, digest: Uint8Array, point: Uint8Array): boolean;
}

const Point = secp256k1.Point;
const N = Point.Fn.ORDER;

function scalarOf(bytes: Uint8Array): bigint | null {
  if (bytes.length !== 32) return null;
  const k = BigInt(`0x${Buffer.from(bytes.buffer, bytes.byteOffset, 32).toString('hex')}`);
  return k === 0n || k >= N ? null : k;
}

function pointOf(bytes: Uint8Array): InstanceType<typeof Point> | null {
  if (bytes.length !== 33 && bytes.length !== 65) return null;
  try {
    const p = Point.fromBytes(bytes);
    return p.is0() ? null : p;
  } catch {
    return null;
  }
}

/** The reference implementation (and the fallback): @noble/curves. */
export const nobleSecp256k1: Secp256k1Backend = Object.freeze({
  name: 'noble' as const,
  mul(point: Uint8Array, scalar: Uint8Array): Uint8Array | null {
    const p = pointOf(point);
    const k = scalarOf(scalar);
    if (p === null || k === null) return null;
    // k is public here (module contract): the variable-time ladder is allowed
    return p.multiplyUnsafe(k).toBytes(true);
  },
  add(a: Uint8Array, b: Uint8Array): Uint8Array | null {
    const pa = pointOf(a);
    const pb = pointOf(b);
    if (pa === null || pb === null) return null;
    const sum = pa.add(pb);
    return sum.is0() ? null : sum.toBytes(true);
  },
  decode(point: Uint8Array): Uint8Array | null {
    return pointOf(point)?.toBytes(false) ?? null;
  },
  verify(signature: Uint8Array, digest: Uint8Array, point: Uint8Array): boolean {
    if (signature.length !== 64 || digest.length !== 32 || pointOf(point) === null) return false;
    try {
      return secp256k1.verify(signature, digest, point, { prehash: false, lowS: true, format: 'compact' });
    } catch {
      return false;
    }
  },
});

/** 2·G, compressed: the load-time known answer of the native backend. */
const TWO_G = '02c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee5';

/** `<package root>/build/Release/mpc_secp256k1.node`, the addon of native/secp256k1.cc. */
export function secp256k1AddonPath(): string {
  return join(packageRoot(), 'build', 'Release', 'mpc_secp256k1.node');
}

function loadNative(): Secp256k1Backend | undefined {
  let addon: Partial<SecpAddon>;
  try {
    addon = createRequire(import.meta.url)(secp256k1AddonPath()) as Partial<SecpAddon>;
  } catch {
    return undefined; // not built (no libsecp256k1-dev at build time) or libsecp256k1.so missing now
  }
  const { secpMul, secpAdd, secpDecode, secpVerify } = addon;
  if (
    typeof secpMul !== 'function' ||
    typeof secpAdd !== 'function' ||
    typeof secpDecode !== 'function' ||
    typeof secpVerify !== 'function'
  ) {
    return undefined; // a stale or foreign file
  }
  const g = Point.BASE.toBytes(true);
  const two = new Uint8Array(32);
  two[31] = 2;
  const viaMul = secpMul(g, two);
  const viaAdd = secpAdd(g, g);
  if (
    viaMul === null ||
    viaAdd === null ||
    Buffer.from(viaMul).toString('hex') !== TWO_G ||
    Buffer.from(viaAdd).toString('hex') !== TWO_G
  ) {
    return undefined;
  }
  return Object.freeze({
    name: 'libsecp256k1' as const,
    mul: secpMul,
    add: secpAdd,
    decode: secpDecode,
    verify: secpVerify,
  });
}

let selected: Secp256k1Backend | undefined;

/** The backend in use: libsecp256k1 when available (and not overridden), else @noble/curves. */
export function secp256k1Backend(): Secp256k1Backend {
  if (selected === undefined) {
    const forced = process.env.MPC_SECP256K1_BACKEND;
    selected = (forced !== 'noble' ? loadNative() : undefined) ?? nobleSecp256k1;
  }
  return selected;
}

/** The native backend if it is built and loads, for agreement tests and benchmarks. */
export function nativeSecp256k1(): Secp256k1Backend | undefined {
  return loadNative();
}

/**
 * Runs `fn` with `backend` selected, then restores the previous selection: side-by-side benchmarks
 * and the fallback tests. Synchronous only (no other code can run in between).
 */
export function withSecp256k1Backend<T>(backend: Secp256k1Backend, fn: () => T): T {
  const previous = secp256k1Backend();
  selected = backend;
  try {
    return fn();
  } finally {
    selected = previous;
  }
}
