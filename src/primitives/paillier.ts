import { MpcError } from '../errors/index.js';
import { type CrtModulus, crtModulus, type MathBackend } from '../math/backend.js';
import { bitLength, mod } from '../math/bits.js';
import type { Rng } from '../math/random.js';

/**
 * Paillier encryption over Paillier–Blum moduli (CGGMP spec §"Paillier"; PROTOCOL.md §1.1).
 *
 *   enc_N(m; ρ) = (1 + N)^m · ρ^N = (1 + m·N) · ρ^N  (mod N²)
 *   dec(C) = L(C^φ mod N²) · φ⁻¹ mod N,  L(u) = (u − 1)/N,  mapped to the signed range (−N/2, N/2].
 *
 * Plaintexts are signed (MtA masks are negative half the time). The nonce ρ and every plaintext
 * are secrets, so every exponentiation whose base or exponent is secret takes the constant-time path.
 */
export interface PaillierPublicKey {
  readonly n: bigint;
  readonly n2: bigint;
  /** Bit length of n (≥ SECURITY.minModulusBits for peers' keys). */
  readonly bits: number;
}

export interface PaillierSecretKey {
  readonly pub: PaillierPublicKey;
  readonly p: bigint;
  readonly q: bigint;
  /** φ(N) = (p − 1)(q − 1) */
  readonly phi: bigint;
  /** φ⁻¹ mod N */
  readonly phiInv: bigint;
  /** CRT data for mod N and mod N² */
  readonly crtN: CrtModulus;
  readonly crtN2: CrtModulus;
}

/**
 * A peer's public key, checked: N odd and at least `minBits` bits (default: the caller passes
 * SECURITY.minModulusBits; tests of small arithmetic may pass less, protocol code never does).
 * @throws MpcError ERR_PAILLIER_KEY_TOO_SMALL, ERR_PAILLIER_KEY_INVALID
 */
export function paillierPublicKey(n: bigint, minBits: number): PaillierPublicKey {
  if (typeof n !== 'bigint' || n <= 0n) throw new MpcError('ERR_PAILLIER_KEY_INVALID', 'N must be a positive bigint');
  const bits = bitLength(n);
  if (bits < minBits) {
    throw new MpcError('ERR_PAILLIER_KEY_TOO_SMALL', `Paillier modulus has ${bits} bits, below ${minBits}`, {
      details: { bits, minBits },
    });
  }
  if ((n & 1n) === 0n) throw new MpcError('ERR_PAILLIER_KEY_INVALID', 'Paillier modulus must be odd');
  return Object.freeze({ n, n2: n * n, bits });
}

/** Own key from two distinct primes (≡ 3 mod 4; safe primes from the prime pool in production). */
export function paillierSecretKey(math: MathBackend, p: bigint, q: bigint, minBits: number): PaillierSecretKey {
  if (typeof p !== 'bigint' || typeof q !== 'bigint' || p === q || (p & 3n) !== 3n || (q & 3n) !== 3n) {
    throw new MpcError('ERR_PAILLIER_KEY_INVALID', 'Paillier primes must be distinct and ≡ 3 (mod 4)');
  }
  const pub = paillierPublicKey(p * q, minBits);
  const phi = (p - 1n) * (q - 1n);
  return Object.freeze({
    pub,
    p,
    q,
    phi,
    phiInv: math.invMod(phi % pub.n, pub.n),
    crtN: crtModulus(p, q, 1),
    crtN2: crtModulus(p, q, 2),
  });
}

/** Checks 0 < c < N² and gcd(c, N) = 1 (SECURITY.md A15). @throws ERR_PAILLIER_CIPHERTEXT_INVALID */
export function assertCiphertext(math: MathBackend, pk: PaillierPublicKey, c: bigint, name = 'ciphertext'): void {
  if (typeof c !== 'bigint' || c <= 0n || c >= pk.n2 || math.gcd(c, pk.n) !== 1n) {
    throw new MpcError('ERR_PAILLIER_CIPHERTEXT_INVALID', `${name} is not in Z*_{N²}`, { details: { name } });
  }
}

/** A fresh encryption nonce ρ ∈ Z*_N. */
export function sampleNonce(math: MathBackend, pk: PaillierPublicKey, rng?: Rng): bigint {
  return math.randUnit(pk.n, rng);
}

function assertPlaintext(pk: PaillierPublicKey, m: bigint): void {
  // |m| ≤ (N − 1)/2: the signed range that decryption maps back to.
  if (typeof m !== 'bigint' || 2n * (m < 0n ? -m : m) >= pk.n) {
    throw new MpcError('ERR_PAILLIER_PLAINTEXT_RANGE', 'plaintext outside ±(N−1)/2');
  }
}

/** enc_N(m; ρ) with the public key only. */
export function encrypt(math: MathBackend, pk: PaillierPublicKey, m: bigint, rho: bigint): bigint {
  assertPlaintext(pk, m);
  const rn = math.powmSec(rho, pk.n, pk.n2); // secret base: constant-time path
  return math.mulMod(1n + mod(m, pk.n) * pk.n, rn, pk.n2);
}

/** enc_N(m; ρ) by the key owner, ρ^N computed by CRT mod p², q² (≈ 1.5× faster). */
export function encryptCrt(math: MathBackend, sk: PaillierSecretKey, m: bigint, rho: bigint): bigint {
  assertPlaintext(sk.pub, m);
  const rn = math.powmCrt(rho, sk.pub.n, sk.crtN2);
  return math.mulMod(1n + mod(m, sk.pub.n) * sk.pub.n, rn, sk.pub.n2);
}

/** Signed plaintext in (−N/2, N/2]. @throws ERR_PAILLIER_CIPHERTEXT_INVALID */
export function decrypt(math: MathBackend, sk: PaillierSecretKey, c: bigint): bigint {
  assertCiphertext(math, sk.pub, c);
  const u = math.powmCrt(c, sk.phi, sk.crtN2);
  const m = math.mulMod((u - 1n) / sk.pub.n, sk.phiInv, sk.pub.n);
  return 2n * m > sk.pub.n ? m - sk.pub.n : m;
}

/** C1 ⊕ C2: encrypts the sum of the plaintexts. */
export function add(math: MathBackend, pk: PaillierPublicKey, c1: bigint, c2: bigint): bigint {
  return math.mulMod(c1, c2, pk.n2);
}

/** k ⊙ C = C^k: encrypts k times the plaintext. k is signed and may be secret (constant-time path). */
export function scalarMul(math: MathBackend, pk: PaillierPublicKey, k: bigint, c: bigint): bigint {
  const base = k < 0n ? math.invMod(c, pk.n2) : c;
  return math.powmSec(base, k < 0n ? -k : k, pk.n2);
}

/** The nonce of an encryption, known to the key owner: ρ = (C mod N)^(N⁻¹ mod φ) mod N. */
export function recoverNonce(math: MathBackend, sk: PaillierSecretKey, c: bigint): bigint {
  assertCiphertext(math, sk.pub, c);
  const nInv = math.invMod(sk.pub.n % sk.phi, sk.phi);
  return math.powmCrt(c % sk.pub.n, nInv, sk.crtN);
}
