import { sha256 } from '@noble/hashes/sha2.js';
import { MpcError } from '../errors/index.js';
import { type Rng, randBelow } from '../math/random.js';

/**
 * Fiat–Shamir transcript (CGGMP spec §"Non-Interactive Challenge Derivation", §"Unambiguous encoding").
 *
 * Every element is absorbed as  type(u8) ‖ len(label)(u32) ‖ label ‖ len(value)(u32) ‖ value,
 * so the encoding is injective over the whole sequence: two transcripts that differ in any label,
 * value, type or split point hash differently (the TSSHOCK α-shuffle / ambiguous-concatenation
 * class, SECURITY.md A9). The first element is the domain tag; proofs then bind the session id,
 * the prover index, the verifier's auxiliary parameters, the full statement and every commitment.
 *
 * Challenges come from a SHA-256 counter-mode DRBG seeded with the transcript hash, and are drawn
 * by rejection sampling into their exact sets (no modulo bias): ±Q, [0, N), scalars, bits.
 */
enum Kind {
  Tag = 1,
  Bytes = 2,
  Uint = 3,
  Int = 4,
  U32 = 5,
  Point = 6,
  List = 7,
  Challenge = 8,
}

export class Transcript {
  readonly #h = sha256.create();
  #finished = false;

  /** `tag`: domain-separation string, e.g. "mpc-custody.cggmp24.v1.pi-enc". */
  constructor(tag: string) {
    this.#absorb(Kind.Tag, 'domain', new TextEncoder().encode(tag));
  }

  #absorb(kind: Kind, label: string, value: Uint8Array): void {
    if (this.#finished) throw new MpcError('ERR_MATH_TYPE', 'transcript already produced its challenge');
    const l = new TextEncoder().encode(label);
    const head = new Uint8Array(9);
    const dv = new DataView(head.buffer);
    head[0] = kind;
    dv.setUint32(1, l.length);
    dv.setUint32(5, value.length);
    // Layout: kind ‖ len(label) ‖ len(value) ‖ label ‖ value (lengths up front; still injective).
    this.#h.update(head);
    this.#h.update(l);
    this.#h.update(value);
  }

  bytes(label: string, value: Uint8Array): this {
    this.#absorb(Kind.Bytes, label, value);
    return this;
  }

  /** A non-negative integer (moduli, ciphertexts, ring elements). */
  uint(label: string, x: bigint): this {
    if (x < 0n) throw new MpcError('ERR_MATH_NEGATIVE', `transcript value ${label} must not be negative`);
    this.#absorb(Kind.Uint, label, magnitude(x));
    return this;
  }

  /** A signed integer (responses z = α + e·x): sign byte then magnitude. */
  int(label: string, x: bigint): this {
    const m = magnitude(x < 0n ? -x : x);
    const v = new Uint8Array(m.length + 1);
    v[0] = x < 0n ? 1 : 0;
    v.set(m, 1);
    this.#absorb(Kind.Int, label, v);
    return this;
  }

  u32(label: string, n: number): this {
    const v = new Uint8Array(4);
    new DataView(v.buffer).setUint32(0, n >>> 0);
    this.#absorb(Kind.U32, label, v);
    return this;
  }

  /** A curve point, as its canonical compressed SEC1 encoding. */
  point(label: string, compressed: Uint8Array): this {
    this.#absorb(Kind.Point, label, compressed);
    return this;
  }

  /** A list of integers: the count is absorbed first, then each element with an indexed label. */
  uints(label: string, xs: readonly bigint[]): this {
    this.u32(`${label}#`, xs.length);
    this.#absorb(Kind.List, label, new Uint8Array(0));
    xs.forEach((x, i) => {
      this.uint(`${label}[${i}]`, x);
    });
    return this;
  }

  /**
   * Ends the transcript and returns the challenge DRBG. `label` names what is drawn
   * (e.g. "challenge"), so one transcript can never be read as another's challenge.
   */
  challengeRng(label: string): HashDrbg {
    this.#absorb(Kind.Challenge, label, new Uint8Array(0));
    this.#finished = true;
    return new HashDrbg(this.#h.digest());
  }
}

function magnitude(x: bigint): Uint8Array {
  if (x === 0n) return new Uint8Array(0);
  let hex = x.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}

/** SHA-256 in counter mode over a 32-byte seed: block_i = SHA-256(seed ‖ be64(i)). */
export class HashDrbg implements Rng {
  readonly #seed: Uint8Array;
  #counter = 0n;
  #block = new Uint8Array(0);
  #pos = 0;

  constructor(seed: Uint8Array) {
    this.#seed = Uint8Array.from(seed);
  }

  fill(bytes: Uint8Array): void {
    for (let i = 0; i < bytes.length; i++) {
      if (this.#pos === this.#block.length) {
        const input = new Uint8Array(this.#seed.length + 8);
        input.set(this.#seed);
        new DataView(input.buffer).setBigUint64(this.#seed.length, this.#counter++);
        this.#block = sha256(input);
        this.#pos = 0;
      }
      bytes[i] = this.#block[this.#pos++] as number;
    }
  }

  /** Uniform in [−bound, bound) (the spec's "e ← ±Q": [0, 2Q) minus Q). */
  signed(bound: bigint): bigint {
    return randBelow(2n * bound, this) - bound;
  }

  /** Uniform in [0, n). */
  below(n: bigint): bigint {
    return randBelow(n, this);
  }

  /** `count` independent fair bits. */
  bits(count: number): boolean[] {
    const bytes = new Uint8Array(Math.ceil(count / 8));
    this.fill(bytes);
    return Array.from({ length: count }, (_, i) => (((bytes[i >> 3] as number) >> (i & 7)) & 1) === 1);
  }
}
