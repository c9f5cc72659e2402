/**
 * BIP32 non-hardened (public) derivation for threshold keys (PROTOCOL.md §8.1; BIP-0032 "CKDpub").
 *
 * The extended public key is (Y, c): the threshold public key and the chain code agreed at keygen.
 * For each path index idx < 2^31:
 *
 *   I = HMAC-SHA512(key = c, data = SEC1-compressed(Y) ‖ ser32(idx))
 *   shift_k = int(I_L)          (BIP32: reject when I_L ≥ q; the caller moves on to the next index)
 *   c'      = I_R
 *   Y'      = Y + shift_k·G     (reject the identity)
 *
 * The total additive shift is δ = Σ_k shift_k mod q, so the child public key is Y + δ·G and a
 * signature under it needs the shared secret x + δ: in presigning, signer 0 adds δ to its additive
 * share and δ·G to its public share (PROTOCOL.md §5.0), which binds the presignature to the path
 * (§8.2, CVE-2025-66017). Hardened indices (≥ 2^31) need the private key and are refused.
 *
 * Every value here is public (the shift is derivable by anyone holding the extended public key).
 */
import { hmac } from '@noble/hashes/hmac.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { MpcError } from '../errors/index.js';
import { fromBytesBE, mod } from '../math/bits.js';
import { CURVE_ORDER, encodePoint, G, mulPublic, type Point } from '../primitives/curve.js';

/** First hardened index (2^31): indices at or above it are refused. */
export const HARDENED_OFFSET = 0x8000_0000;
/** BIP32 serialises the depth in one byte: no path is longer than 255 steps. */
export const MAX_PATH_LENGTH = 255;
export const CHAIN_CODE_BYTES = 32;

/** Result of deriving a path from an extended public key. */
export interface DerivedKey {
  /** Child public key Y' = Y + shift·G. */
  readonly publicKey: Point;
  /** Child chain code (I_R of the last step; the input chain code for an empty path). */
  readonly chainCode: Uint8Array;
  /** δ = Σ shift_k mod q: the additive shift of the secret key (0 for an empty path). */
  readonly shift: bigint;
}

/**
 * Checks a derivation path: an array of at most 255 integers in [0, 2^31).
 *
 * @throws MpcError ERR_PROTOCOL_INPUT naming the first bad step (hardened index, not an integer, too long)
 * @example assertDerivationPath([0, 1, 7]);
 */
export function assertDerivationPath(path: unknown): asserts path is readonly number[] {
  if (!Array.isArray(path)) throw new MpcError('ERR_PROTOCOL_INPUT', 'derivation path must be an array');
  if (path.length > MAX_PATH_LENGTH) {
    throw new MpcError('ERR_PROTOCOL_INPUT', `derivation path has more than ${MAX_PATH_LENGTH} steps`);
  }
  path.forEach((idx, k) => {
    if (!Number.isInteger(idx) || (idx as number) < 0) {
      throw new MpcError('ERR_PROTOCOL_INPUT', `derivation path step ${k} is not a non-negative integer`, {
        details: { step: k },
      });
    }
    if ((idx as number) >= HARDENED_OFFSET) {
      // Hardened derivation hashes the private key: impossible without reconstructing it.
      throw new MpcError(
        'ERR_PROTOCOL_INPUT',
        `derivation path step ${k} is hardened; only indices < 2^31 are allowed`,
        {
          details: { step: k },
        },
      );
    }
  });
}

/**
 * One CKDpub step: (Y, c, idx) → (Y + int(I_L)·G, I_R, int(I_L)).
 *
 * @throws MpcError ERR_PROTOCOL_INPUT for a hardened index, a chain code that is not 32 bytes,
 *   I_L ≥ q or a child key at infinity (BIP32: "proceed with the next value for i")
 * @example const { publicKey, chainCode, shift } = deriveChild(Y, c, 0);
 */
export function deriveChild(publicKey: Point, chainCode: Uint8Array, index: number): DerivedKey {
  assertDerivationPath([index]);
  if (!(chainCode instanceof Uint8Array) || chainCode.length !== CHAIN_CODE_BYTES) {
    throw new MpcError('ERR_PROTOCOL_INPUT', 'chain code must be 32 bytes');
  }
  // data = ser_P(Y) ‖ ser32(idx)
  const data = new Uint8Array(33 + 4);
  data.set(encodePoint(publicKey));
  new DataView(data.buffer).setUint32(33, index);
  const I = hmac(sha512, chainCode, data);
  const IL = fromBytesBE(I.subarray(0, 32));
  const IR = Uint8Array.from(I.subarray(32));
  I.fill(0);
  if (IL >= CURVE_ORDER) {
    throw new MpcError('ERR_PROTOCOL_INPUT', 'derivation index gives I_L ≥ q (invalid child); use the next index', {
      details: { index },
    });
  }
  // Y' = Y + I_L·G (public scalar: variable-time multiplication is fine)
  const child = publicKey.add(mulPublic(G, IL));
  if (child.is0()) {
    throw new MpcError('ERR_PROTOCOL_INPUT', 'derivation index gives the point at infinity; use the next index', {
      details: { index },
    });
  }
  return { publicKey: child, chainCode: IR, shift: IL };
}

/**
 * Derives a non-hardened path from the extended public key (Y, c): Y' = Y + δ·G with δ = Σ shift_k.
 *
 * @throws MpcError ERR_PROTOCOL_INPUT (see assertDerivationPath and deriveChild)
 * @example const { publicKey, shift } = derivePath(share.core.publicKey, share.core.chainCode, [0, 1, 7]);
 */
export function derivePath(publicKey: Point, chainCode: Uint8Array, path: readonly number[]): DerivedKey {
  assertDerivationPath(path);
  if (!(chainCode instanceof Uint8Array) || chainCode.length !== CHAIN_CODE_BYTES) {
    throw new MpcError('ERR_PROTOCOL_INPUT', 'chain code must be 32 bytes');
  }
  let cur: DerivedKey = { publicKey, chainCode: Uint8Array.from(chainCode), shift: 0n };
  for (const idx of path) {
    const next = deriveChild(cur.publicKey, cur.chainCode, idx);
    cur = { publicKey: next.publicKey, chainCode: next.chainCode, shift: mod(cur.shift + next.shift, CURVE_ORDER) };
  }
  return cur;
}
