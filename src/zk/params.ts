/**
 * Security parameters of CGGMP24 at the reference implementation's default level
 * (LFDT-Lockness/cggmp21 `SecurityLevel128`, cggmp21/src/security_level.rs; docs/PROTOCOL.md §0.2).
 *
 * These are constants, not configuration: nothing may lower them at run time. Constraints from the
 * spec that they satisfy: ℓ ≥ |q| (256 ≥ 256); ε ≥ 8 + log Q (230 ≥ 136); ℓ' ≤ 8κ (848 ≤ 3072);
 * ℓ' ≥ 2|q| + ε + s (848 = 512 + 230 + 106).
 */
export const SECURITY = Object.freeze({
  /** κ: Paillier primes are 4κ = 1536 bits, N is 8κ = 3072 bits. */
  kappa: 384,
  /** Bytes of rid and of commitment nonces (κ/8). */
  kappaBytes: 48,
  /** ℓ: bound on small plaintexts (k, γ, x): ±2^ℓ. */
  ell: 256,
  /** ℓ': bound on the MtA masks β: ±2^ℓ'. */
  ellPrime: 848,
  /** ε: slack bits of the range proofs. */
  epsilon: 230,
  /** m: repetitions of Πmod and Πprm (soundness 2^-m). */
  m: 128,
  /** log2 Q: challenges of Πenc, Πaff-g, Πlog*, Πfac are drawn from ±Q = ±2^128. */
  challengeBits: 128,
  /** Bits of a freshly generated Paillier prime (4κ). */
  primeBits: 1536,
  /** Bits of an own Paillier modulus (8κ). */
  paillierBits: 3072,
  /** Smallest accepted bit length of a peer's modulus (8κ − 1): SECURITY.md A3. */
  minModulusBits: 3071,
});

/** Q = 2^128. */
export const CHALLENGE_BOUND = 1n << BigInt(SECURITY.challengeBits);

/**
 * Largest Paillier / ring-Pedersen modulus accepted from a peer: 4096 bits, so N² stays within the
 * math layer's 8192-bit bound. Decoders use it to cap element sizes before any arithmetic.
 */
export const MAX_MODULUS_BITS = 4096;
