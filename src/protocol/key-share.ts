import type { Point } from '../primitives/curve.js';

/**
 * Key material a party holds after keygen + aux-info (CGGMP spec §"Key share"; cggmp21
 * key-share crate). Indices are 0-based; party i's Shamir evaluation point is i + 1.
 * A share never contains more than its own party's secrets.
 */

/** Output of threshold (or n-of-n) key generation. */
export interface CoreKeyShare {
  readonly version: 1;
  /** This party's index in [0, n). */
  readonly i: number;
  readonly n: number;
  /** Signers needed (polynomial degree t − 1); t = n for n-of-n. */
  readonly t: number;
  /** Secret share x_i (Shamir share at point i + 1; additive share when t = n and `additive`). */
  readonly x: bigint;
  /** Public shares X_j = x_j·G for every party j. */
  readonly publicShares: readonly Point[];
  /** The public key Y. */
  readonly publicKey: Point;
  /** BIP32 chain code (32 bytes), the XOR of all parties' committed contributions. */
  readonly chainCode: Uint8Array;
  /** true for the n-of-n additive variant (Σ X_j = Y); false for Feldman-VSS t-of-n (Lagrange at 0). */
  readonly additive: boolean;
  /**
   * Key epoch: 0 after keygen, +1 after every refresh or reshare (absent = 0, shares stored before
   * epochs existed). Shares and presignatures of different epochs never mix (sign.ts, refresh.ts).
   */
  readonly epoch?: number;
}

/** Ring-Pedersen / Paillier public data of one party. */
export interface PartyAux {
  /** Paillier modulus N_j (also the ring-Pedersen modulus). */
  readonly N: bigint;
  readonly s: bigint;
  readonly t: bigint;
}

/** Output of aux-info generation. */
export interface AuxInfo {
  readonly version: 1;
  readonly i: number;
  readonly n: number;
  /** Own Paillier primes (secret). */
  readonly p: bigint;
  readonly q: bigint;
  /** Public Paillier + ring-Pedersen parameters of every party (own included). */
  readonly parties: readonly PartyAux[];
}

/** A full key share: what presigning needs. */
export interface KeyShare {
  readonly core: CoreKeyShare;
  readonly aux: AuxInfo;
}
