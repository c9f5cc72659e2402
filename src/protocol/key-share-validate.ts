/**
 * Key-share validation (PROTOCOL.md §3.2 "Key-share validation", §4.1 checks on aux data; cggmp21
 * key-share/src/valid.rs; STYLE.md §5 "parse, don't validate"). Everything a protocol relies on
 * about a loaded share is checked here once, before any secret is used:
 *
 * core:  0 ≤ i < n, 2 ≤ t ≤ n (t = n when additive), epoch a u32 (absent = 0), x ∈ [1, q), n public shares that are valid
 *        non-identity points, Y valid and non-identity, 32-byte chain code, x_i·G = X_i, and
 *        the public shares consistent with Y: Σ X_j = Y (additive) or every X_j on one polynomial of
 *        degree t − 1 whose value at 0 is Y (Lagrange "in the exponent"; then any t of them give Y).
 * aux:   same i, n; n entries; every N_j odd with 3071..4096 bits; the moduli pairwise coprime
 *        (distinct, and no shared prime); (s_j, t_j) valid ring-Pedersen parameters (units, not 0/±1,
 *        s ≠ t); own primes distinct, ≡ 3 mod 4, at least 1536 bits, with p·q = N_i.
 *
 * Πmod/Πfac/Πprm were verified when the aux data was generated; they are not re-run here.
 */
import { MpcError } from '../errors/index.js';
import type { MathBackend } from '../math/backend.js';
import { bitLength } from '../math/bits.js';
import { CURVE_ORDER, mulBase, Point } from '../primitives/curve.js';
import { paillierSecretKey } from '../primitives/paillier.js';
import { ringPedersenParams } from '../primitives/ring-pedersen.js';
import { MAX_MODULUS_BITS, SECURITY } from '../zk/params.js';
import { CHAIN_CODE_BYTES } from './hd.js';
import type { KeyShare } from './key-share.js';
import { MAX_KEY_EPOCH } from './keygen.js';
import { evaluationPoint, interpolatePoints } from './lagrange.js';

/** Most parties a share may describe (proof contexts carry the index as 16 bits). */
export const MAX_PARTIES = 0xffff;

function invalid(why: string): never {
  throw new MpcError('ERR_KEY_SHARE_INVALID', `key share rejected: ${why}`);
}

function isValidPoint(p: unknown): p is Point {
  if (!(p instanceof Point)) return false;
  try {
    p.assertValidity();
  } catch {
    return false;
  }
  return !p.is0();
}

/**
 * Validates a key share (core + aux) and returns it unchanged.
 *
 * @throws MpcError ERR_KEY_SHARE_INVALID naming the failed condition (never a value)
 * @example const share = validateKeyShare(math, loadedShare);
 */
export function validateKeyShare(math: MathBackend, share: KeyShare): KeyShare {
  if (share === null || typeof share !== 'object') invalid('not an object');
  const { core, aux } = share;
  if (core === null || typeof core !== 'object' || aux === null || typeof aux !== 'object') {
    invalid('core and aux must be objects');
  }
  // --- core ------------------------------------------------------------------------------------
  if (core.version !== 1) invalid('unsupported core version');
  const { i, n, t } = core;
  if (!Number.isInteger(n) || n < 2 || n > MAX_PARTIES) invalid('n must be an integer in [2, 65535]');
  if (!Number.isInteger(i) || i < 0 || i >= n) invalid('i must be an integer in [0, n)');
  if (!Number.isInteger(t) || t < 2 || t > n) invalid('t must be an integer in [2, n]');
  if (typeof core.additive !== 'boolean') invalid('additive must be a boolean');
  if (core.additive && t !== n) invalid('an additive share needs t = n');
  if (core.epoch !== undefined && (!Number.isInteger(core.epoch) || core.epoch < 0 || core.epoch > MAX_KEY_EPOCH)) {
    invalid('epoch must be an integer in [0, 2^32)');
  }
  if (typeof core.x !== 'bigint' || core.x <= 0n || core.x >= CURVE_ORDER) invalid('x must be a scalar in [1, q)');
  if (!Array.isArray(core.publicShares) || core.publicShares.length !== n) invalid('there must be n public shares');
  core.publicShares.forEach((X, j) => {
    if (!isValidPoint(X)) invalid(`public share ${j} is not a valid non-identity point`);
  });
  if (!isValidPoint(core.publicKey)) invalid('public key is not a valid non-identity point');
  if (!(core.chainCode instanceof Uint8Array) || core.chainCode.length !== CHAIN_CODE_BYTES) {
    invalid('chain code must be 32 bytes');
  }
  // x_i·G = X_i
  if (!mulBase(core.x).equals(core.publicShares[i] as Point)) invalid('x·G differs from the own public share');
  if (core.additive) {
    // n-of-n: Σ_j X_j = Y
    const sum = core.publicShares.reduce((a, X) => a.add(X), Point.ZERO);
    if (!sum.equals(core.publicKey)) invalid('public shares do not sum to the public key');
  } else {
    // t-of-n: the first t shares define F(z) of degree t − 1; F(0) = Y and F(I_j) = X_j for the rest.
    const pts = Array.from({ length: t }, (_, j) => evaluationPoint(j));
    const base = core.publicShares.slice(0, t);
    if (!interpolatePoints(pts, base, 0n).equals(core.publicKey)) {
      invalid('public shares do not interpolate to the public key');
    }
    for (let j = t; j < n; j++) {
      if (!interpolatePoints(pts, base, evaluationPoint(j)).equals(core.publicShares[j] as Point)) {
        invalid(`public share ${j} is not on the sharing polynomial`);
      }
    }
  }
  // --- aux -------------------------------------------------------------------------------------
  if (aux.version !== 1) invalid('unsupported aux version');
  if (aux.i !== i || aux.n !== n) invalid('aux info belongs to another party index or group size');
  if (!Array.isArray(aux.parties) || aux.parties.length !== n) invalid('aux info must list n parties');
  aux.parties.forEach((pa, j) => {
    if (pa === null || typeof pa !== 'object') invalid(`aux entry ${j} is not an object`);
    const { N, s, t: tt } = pa;
    if (typeof N !== 'bigint' || N <= 0n || (N & 1n) === 0n) invalid(`N of party ${j} must be odd and positive`);
    const bits = bitLength(N);
    if (bits < SECURITY.minModulusBits || bits > MAX_MODULUS_BITS) {
      invalid(`N of party ${j} has ${bits} bits, outside [${SECURITY.minModulusBits}, ${MAX_MODULUS_BITS}]`);
    }
    try {
      ringPedersenParams(math, N, s, tt, SECURITY.minModulusBits);
    } catch (e) {
      if (!(e instanceof MpcError)) throw e;
      invalid(`ring-Pedersen parameters of party ${j} are invalid`);
    }
  });
  // Pairwise coprime moduli: distinct, and no prime shared between two parties' keys.
  for (let j = 0; j < n; j++) {
    for (let k = j + 1; k < n; k++) {
      if (math.gcd((aux.parties[j] as { N: bigint }).N, (aux.parties[k] as { N: bigint }).N) !== 1n) {
        invalid(`Paillier moduli of parties ${j} and ${k} share a factor`);
      }
    }
  }
  const { p, q } = aux;
  if (typeof p !== 'bigint' || typeof q !== 'bigint' || p <= 0n || q <= 0n) {
    invalid('own Paillier primes must be positive bigints');
  }
  if (bitLength(p) < SECURITY.primeBits || bitLength(q) < SECURITY.primeBits) {
    invalid(`own Paillier primes must have at least ${SECURITY.primeBits} bits`);
  }
  if (p * q !== (aux.parties[i] as { N: bigint }).N) invalid('own primes do not multiply to own N');
  try {
    paillierSecretKey(math, p, q, SECURITY.minModulusBits);
  } catch (e) {
    if (!(e instanceof MpcError)) throw e;
    invalid('own Paillier primes are not distinct primes ≡ 3 (mod 4)');
  }
  return share;
}
