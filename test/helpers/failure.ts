import { expect } from 'vitest';
import { MpcError } from '../../src/errors/index.js';

/**
 * Runs `fn` and describes how it failed: `CODE:check` (proof verification), `CODE:path` (wire
 * decoding), or 'accepted' when it did not throw. Any non-MpcError failure fails the test: every
 * rejection in the project must be typed.
 */
export function failure(fn: () => void): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(MpcError);
    return `${(e as MpcError).code}:${String((e as MpcError).details.check ?? (e as MpcError).details.path ?? '')}`;
  }
  return 'accepted';
}

/**
 * The structural attacks every proof decoder must refuse, for proofs encoded as tag ‖ version ‖
 * (u32 length ‖ magnitude) ‖ …: truncation at ~97 points, one trailing byte, a wrong tag, a leading
 * zero byte in the first number (a second encoding of the same value), a 2^32 − 1 length prefix,
 * and an oversize input. `wrongTag` must differ from the proof's tag.
 */
export function expectStrictDecoder(bytes: Uint8Array, decode: (b: Uint8Array) => unknown, wrongTag: number): void {
  for (let cut = 0; cut < bytes.length; cut += Math.max(1, Math.floor(bytes.length / 97))) {
    expect(failure(() => decode(bytes.subarray(0, cut)))).toMatch(/^ERR_WIRE_TRUNCATED/);
  }
  expect(failure(() => decode(Uint8Array.of(...bytes, 0)))).toMatch(/^ERR_WIRE_TRAILING_BYTES/);
  expect(failure(() => decode(Uint8Array.of(wrongTag, ...bytes.subarray(1))))).toMatch(/^ERR_WIRE_BAD_TAG/);
  const len = new DataView(bytes.buffer, bytes.byteOffset).getUint32(2);
  const lenPlus = new Uint8Array(4);
  new DataView(lenPlus.buffer).setUint32(0, len + 1);
  const nonCanonical = Uint8Array.of(...bytes.subarray(0, 2), ...lenPlus, 0, ...bytes.subarray(6));
  expect(failure(() => decode(nonCanonical))).toMatch(/^ERR_WIRE_NON_CANONICAL/);
  const huge = Uint8Array.of(...bytes.subarray(0, 2), 0xff, 0xff, 0xff, 0xff, ...bytes.subarray(6));
  expect(failure(() => decode(huge))).toMatch(/^ERR_WIRE_BAD_LENGTH/);
  expect(failure(() => decode(new Uint8Array(1 << 20)))).toMatch(/^ERR_WIRE_TOO_LARGE/);
}

/** The code of the typed error `fn` throws; undefined when it does not throw, 'not an MpcError' for any other error. */
export function errorCode(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return e instanceof MpcError ? e.code : 'not an MpcError';
  }
  return undefined;
}

/** Awaits `p`, which must reject with an MpcError, and returns that error. */
export async function rejection(p: Promise<unknown>): Promise<MpcError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof MpcError) return e;
    throw e;
  }
  throw new Error('expected a typed failure');
}
