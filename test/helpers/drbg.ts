import { sha256 } from '@noble/hashes/sha2.js';
import type { Rng } from '../../src/math/random.js';

/**
 * Deterministic test RNG (SHA-256 in counter mode over a seed). Reproducible runs: a failure prints
 * its seed, and the same seed replays the same inputs. Never used outside tests.
 */
export class TestDrbg implements Rng {
  readonly #seed: Uint8Array;
  #counter = 0;
  #buf = new Uint8Array(0);
  #pos = 0;

  constructor(seed: string) {
    this.#seed = new TextEncoder().encode(seed);
  }

  fill(bytes: Uint8Array): void {
    for (let i = 0; i < bytes.length; i++) {
      if (this.#pos >= this.#buf.length) {
        const input = new Uint8Array(this.#seed.length + 8);
        input.set(this.#seed);
        new DataView(input.buffer).setBigUint64(this.#seed.length, BigInt(this.#counter++));
        this.#buf = sha256(input);
        this.#pos = 0;
      }
      bytes[i] = this.#buf[this.#pos++] as number;
    }
  }

  /** Uniform integer in [0, n) for small n (numbers). */
  int(n: number): number {
    const b = new Uint8Array(4);
    this.fill(b);
    return new DataView(b.buffer).getUint32(0) % n;
  }

  /** Random bigint of at most `bits` bits (may have leading zeros). */
  bits(bits: number): bigint {
    if (bits === 0) return 0n;
    const b = new Uint8Array(Math.ceil(bits / 8));
    this.fill(b);
    let x = BigInt(`0x${Buffer.from(b).toString('hex')}`);
    x >>= BigInt(b.length * 8 - bits);
    return x;
  }

  /** Random odd modulus with exactly `bits` bits. */
  oddModulus(bits: number): bigint {
    return this.bits(bits) | (1n << BigInt(bits - 1)) | 1n;
  }
}
