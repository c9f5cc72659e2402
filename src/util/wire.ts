import { MpcError } from '../errors/index.js';

/**
 * Strict binary codec for proofs and protocol payloads.
 *
 * Layout rules (injective, platform independent):
 * - unsigned integers: u8 / u16 / u32 big-endian;
 * - byte strings: u32 length ‖ bytes (or fixed length with no prefix where the type fixes it);
 * - bigints: u32 length ‖ minimal big-endian magnitude (no leading zero byte; 0 is the empty string);
 *   signed bigints: one sign byte (0 = non-negative, 1 = negative; zero is always sign 0) ‖ magnitude.
 *
 * The reader checks every length against a bound BEFORE it allocates or does arithmetic (the DoS
 * guard), rejects non-canonical encodings (two encodings of one value would make proof hashes
 * malleable), and `end()` rejects trailing bytes. Every failure is an MpcError with an ERR_WIRE_*
 * code and the field path, never the value.
 */

export class WireWriter {
  #chunks: Uint8Array[] = [];
  #length = 0;

  #push(b: Uint8Array): this {
    this.#chunks.push(b);
    this.#length += b.length;
    return this;
  }

  u8(x: number): this {
    return this.#push(Uint8Array.of(x & 0xff));
  }

  u16(x: number): this {
    return this.#push(Uint8Array.of((x >>> 8) & 0xff, x & 0xff));
  }

  u32(x: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, x >>> 0);
    return this.#push(b);
  }

  /** Length-prefixed bytes. */
  bytes(b: Uint8Array): this {
    this.u32(b.length);
    return this.#push(Uint8Array.from(b));
  }

  /** Bytes whose length the reader knows (e.g. a 33-byte compressed point). */
  fixed(b: Uint8Array): this {
    return this.#push(Uint8Array.from(b));
  }

  /** Non-negative bigint, minimal big-endian. */
  biguint(x: bigint): this {
    if (x < 0n) throw new MpcError('ERR_WIRE_TYPE', 'biguint cannot encode a negative value');
    return this.bytes(magnitude(x));
  }

  /** Signed bigint: sign byte then magnitude. */
  bigint(x: bigint): this {
    this.u8(x < 0n ? 1 : 0);
    return this.bytes(magnitude(x < 0n ? -x : x));
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.#length);
    let off = 0;
    for (const c of this.#chunks) {
      out.set(c, off);
      off += c.length;
    }
    return out;
  }
}

function magnitude(x: bigint): Uint8Array {
  if (x === 0n) return new Uint8Array(0);
  let hex = x.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}

export class WireReader {
  readonly #buf: Uint8Array;
  #pos = 0;

  constructor(buf: Uint8Array, maxLength: number) {
    if (!(buf instanceof Uint8Array)) throw new MpcError('ERR_WIRE_TYPE', 'input must be a Uint8Array');
    if (buf.length > maxLength) {
      throw new MpcError('ERR_WIRE_TOO_LARGE', `input has ${buf.length} bytes, above the limit of ${maxLength}`, {
        details: { length: buf.length, maxLength },
      });
    }
    this.#buf = buf;
  }

  #take(n: number, path: string): Uint8Array {
    if (this.#pos + n > this.#buf.length) {
      throw new MpcError('ERR_WIRE_TRUNCATED', `input ends inside ${path}`, { details: { path } });
    }
    const out = this.#buf.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    return out;
  }

  u8(path: string): number {
    return this.#take(1, path)[0] as number;
  }

  u16(path: string): number {
    const b = this.#take(2, path);
    return ((b[0] as number) << 8) | (b[1] as number);
  }

  u32(path: string): number {
    const b = this.#take(4, path);
    return new DataView(b.buffer, b.byteOffset, 4).getUint32(0);
  }

  /** Expects the exact byte `want` (format tags, versions). */
  tag(path: string, want: number): void {
    const got = this.u8(path);
    if (got !== want) throw new MpcError('ERR_WIRE_BAD_TAG', `${path} has an unexpected tag`, { details: { path } });
  }

  /** Length-prefixed bytes of at most `maxLength` (checked before reading). */
  bytes(path: string, maxLength: number): Uint8Array {
    const len = this.u32(`${path}.length`);
    if (len > maxLength) {
      throw new MpcError('ERR_WIRE_BAD_LENGTH', `${path} has ${len} bytes, above ${maxLength}`, {
        details: { path, length: len, maxLength },
      });
    }
    return Uint8Array.from(this.#take(len, path));
  }

  fixed(path: string, length: number): Uint8Array {
    return Uint8Array.from(this.#take(length, path));
  }

  /** Non-negative bigint of at most `maxBits` bits, canonical (no leading zero byte). */
  biguint(path: string, maxBits: number): bigint {
    const b = this.bytes(path, Math.ceil(maxBits / 8));
    if (b.length === 0) return 0n;
    if (b[0] === 0)
      throw new MpcError('ERR_WIRE_NON_CANONICAL', `${path} has a leading zero byte`, { details: { path } });
    const x = BigInt(`0x${Buffer.from(b).toString('hex')}`);
    if (x >> BigInt(maxBits) !== 0n) {
      throw new MpcError('ERR_WIRE_BIGINT_TOO_LARGE', `${path} exceeds ${maxBits} bits`, {
        details: { path, maxBits },
      });
    }
    return x;
  }

  /** Signed bigint whose magnitude has at most `maxBits` bits; zero must carry sign 0. */
  bigint(path: string, maxBits: number): bigint {
    const sign = this.u8(`${path}.sign`);
    if (sign > 1)
      throw new MpcError('ERR_WIRE_NON_CANONICAL', `${path} has an invalid sign byte`, { details: { path } });
    const m = this.biguint(path, maxBits);
    if (sign === 1 && m === 0n) {
      throw new MpcError('ERR_WIRE_NON_CANONICAL', `${path} is a negative zero`, { details: { path } });
    }
    return sign === 1 ? -m : m;
  }

  /** A count that must equal `want` exactly (vector lengths, repetition counts). */
  count(path: string, want: number): number {
    const n = this.u32(path);
    if (n !== want) {
      throw new MpcError('ERR_WIRE_BAD_LENGTH', `${path} has ${n} entries, expected exactly ${want}`, {
        details: { path, length: n, expected: want },
      });
    }
    return n;
  }

  /** Rejects trailing bytes: a message has exactly one encoding. */
  end(): void {
    if (this.#pos !== this.#buf.length) {
      throw new MpcError('ERR_WIRE_TRAILING_BYTES', `${this.#buf.length - this.#pos} unexpected trailing bytes`);
    }
  }
}
