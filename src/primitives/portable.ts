import { decodePoint, Point } from './curve.js';

/**
 * Structured-clone-safe form of proof inputs/outputs and protocol round states, for worker threads
 * and persistence: bigints, byte arrays, arrays and plain objects cross as they are; curve points
 * (class instances, which structured clone would strip) cross as their compressed encoding and are
 * re-validated on arrival. Anything else that is not plain data (Map, Set, class instances) is
 * refused rather than silently flattened.
 */
const POINT_KEY = '__point';

export function toPortable(x: unknown): unknown {
  if (x instanceof Point) return { [POINT_KEY]: x.toBytes(true) };
  if (Array.isArray(x)) return x.map(toPortable);
  if (x instanceof Uint8Array || x === null || typeof x !== 'object') return x;
  const proto = Object.getPrototypeOf(x);
  if (proto !== Object.prototype && proto !== null) {
    throw new TypeError(`not plain data: ${(x as object).constructor?.name ?? 'unknown'} cannot be made portable`);
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(x)) out[k] = toPortable(v);
  return out;
}

export function fromPortable(x: unknown): unknown {
  if (Array.isArray(x)) return x.map(fromPortable);
  if (x instanceof Uint8Array || x === null || typeof x !== 'object') return x;
  const rec = x as Record<string, unknown>;
  const enc = rec[POINT_KEY];
  if (enc instanceof Uint8Array && Object.keys(rec).length === 1) return decodePoint(enc, 'point');
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(rec)) out[k] = fromPortable(v);
  return out;
}
