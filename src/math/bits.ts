/** Small bigint helpers shared by every backend (no arithmetic a backend should own). */

/** Number of significant bits of a non-negative bigint (0 for 0). */
export function bitLength(x: bigint): number {
  if (x === 0n) return 0;
  // toString(16) is linear-time and far faster than repeated shifts on large values.
  const hex = x.toString(16);
  const top = Number.parseInt(hex[0] as string, 16);
  return (hex.length - 1) * 4 + (32 - Math.clz32(top));
}

/** Big-endian bytes of a non-negative bigint, left-padded to `length` bytes (minimal if omitted). */
export function toBytesBE(x: bigint, length?: number): Uint8Array {
  let hex = x.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  const minimal = hex.length / 2;
  const len = length ?? minimal;
  if (minimal > len) throw new RangeError('value does not fit the requested length');
  const out = new Uint8Array(len);
  const offset = len - minimal;
  for (let i = 0; i < minimal; i++) out[offset + i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Non-negative bigint from big-endian bytes. */
export function fromBytesBE(bytes: Uint8Array): bigint {
  if (bytes.length === 0) return 0n;
  return BigInt(`0x${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')}`);
}

/** x mod m in [0, m) for any sign of x. */
export function mod(x: bigint, m: bigint): bigint {
  const r = x % m;
  return r < 0n ? r + m : r;
}
