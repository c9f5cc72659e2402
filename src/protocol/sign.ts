/**
 * CGGMP24 online signing: one round of partial signatures, combined into a normalised ECDSA
 * signature with recovery id (PROTOCOL.md §6; cggmp21 `Presignature::issue_partial_signature`,
 * `PartialSignature::combine`, `Signature::verify`, `normalize_s`).
 *
 * Presignature binding (PROTOCOL.md §8.2, CVE-2025-66017; SECURITY.md A18, A20):
 *  1. the path is fixed at presign time (presign.ts adds the HD shift to the shares);
 *  2. a presignature is consumed in a ledger BEFORE its partial signature is computed, and a
 *     second use is refused (ERR_PRESIGNATURE_USED): k_i is never used for two messages;
 *  3. the presignature is re-randomised per request with a public tweak bound to the message and
 *     the path (§8.2 rule 3):
 *
 *       τ  = H(tag, id, R, digest, path) mod q   (≠ 0)
 *       R' = τ·R,   k_i' = k_i·τ⁻¹,   χ_i' = χ_i·τ⁻¹          (Σ k_i' = k/τ, Σ χ_i' = k·x/τ)
 *       r' = x(R') mod q,   m = int(digest) mod q
 *       σ_i = k_i'·m + r'·χ_i'                                 (Σ σ_i = (k/τ)(m + r'x))
 *
 *     Since R = k⁻¹·G, R' = (k/τ)⁻¹·G: (r', Σ σ_i) is an ordinary ECDSA signature with nonce τ/k.
 *     τ is public and deterministic: anyone holding R can compute R' for any candidate request. What
 *     it buys is that R' is a hash-determined point per (digest, path), so a party choosing requests
 *     after seeing R cannot make the r' of two requests related (the linear relation behind the
 *     related-key / presignature attacks) except by grinding the hash.
 *     Relation to Groth–Shoup, "On the security of ECDSA with additive key derivation and
 *     presignatures" (Eurocrypt 2022, ePrint 2021/1330), which proposes "re-randomized
 *     presignatures": the form they analyse (EC generic group model) is ADDITIVE, R' = R + δ·G with
 *     a public δ fixed only after the request — as DFINITY's deployment does, hashing fresh
 *     random-beacon output with the message hash, R and the key tweak. This MULTIPLICATIVE variant
 *     (needed here: CGGMP shares k, not k⁻¹, and R + δ·G would not keep the shares linear; near/mpc
 *     does the same, citing that paper, with extra fresh public entropy) is the same idea but not
 *     literally what their theorem covers, and its τ contains no fresh randomness.
 *
 * Combining: all partials must agree on r'; σ = Σ σ_i ≠ 0; low-s (σ > q/2 ⇒ σ := q − σ);
 * recovery id v = parity(R'.y) + 2·[R'.x ≥ q], bit 0 flipped when σ was negated; and the signature
 * is verified under the derived public key before it is returned.
 *
 * Scalars here use BigInt arithmetic, which is not constant time (see SECURITY.md A22); k_i and
 * χ_i stay in this process's memory until garbage-collected: JS cannot zeroize a bigint.
 */
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { hexToBytes } from '@noble/hashes/utils.js';
import { type Blame, MpcError } from '../errors/index.js';
import { fromBytesBE, mod, toBytesBE } from '../math/bits.js';
import { CURVE_ORDER, encodePoint, Point } from '../primitives/curve.js';
import { secp256k1Backend } from '../primitives/secp256k1-backend.js';
import { WireReader, WireWriter } from '../util/wire.js';
import { TAG_PREFIX } from '../zk/common.js';
import { assertDerivationPath } from './hd.js';
import type { Presignature } from './presign.js';

export const SIGN_PROTOCOL = 'sign';
const DIGEST_BYTES = 32;
const ID_HEX = /^[0-9a-f]{64}$/;

/**
 * Where a party records that a presignature was used. `consume` must make the mark (durably, in
 * production) before returning, and throw ERR_PRESIGNATURE_USED when the id is already marked.
 */
export interface PresignatureLedger {
  consume(id: string): void;
}

/**
 * In-memory ledger for tests and the simulation: a process restart forgets it, so it must never
 * back a real party (the durable ledger fsyncs before returning, SECURITY.md A19).
 */
export class MemoryPresignatureLedger implements PresignatureLedger {
  readonly #used = new Set<string>();

  /** @throws MpcError ERR_PRESIGNATURE_USED when `id` was consumed before */
  consume(id: string): void {
    if (this.#used.has(id)) {
      throw new MpcError('ERR_PRESIGNATURE_USED', 'presignature was already used; refusing to sign with it again', {
        details: { presignature: id },
      });
    }
    this.#used.add(id);
  }

  has(id: string): boolean {
    return this.#used.has(id);
  }
}

/** The public part of a presignature: what the combiner needs. */
export type PresignaturePublic = Pick<Presignature, 'id' | 'R' | 'publicKey' | 'path' | 'signers'>;

/** σ_i of one signer, for the re-randomised R' of one digest. Public. */
export interface PartialSignature {
  readonly presignatureId: string;
  /** Position of the signer in the presignature's `signers`. */
  readonly signer: number;
  /** r' = x(R') mod q this partial was computed for. */
  readonly r: bigint;
  readonly sigma: bigint;
}

/** A normalised (low-s) ECDSA signature over secp256k1. */
export interface EcdsaSignature {
  readonly r: bigint;
  readonly s: bigint;
  /** 0..3: bit 0 = parity of the nonce point's y, bit 1 = its x was ≥ q (Ethereum v = 27 + recovery). */
  readonly recovery: number;
  /** ASN.1 DER SEQUENCE { r INTEGER, s INTEGER }. */
  readonly der: Uint8Array;
  /** r ‖ s, 32 bytes each, big-endian. */
  readonly compact: Uint8Array;
}

function inputError(why: string): never {
  throw new MpcError('ERR_PROTOCOL_INPUT', `signing input rejected: ${why}`);
}

function abort(reason: string, why: string, blame: readonly Blame[] = []): MpcError {
  return new MpcError('ERR_PROTOCOL_ABORT', `${SIGN_PROTOCOL} aborted in combine: ${why}`, {
    blame,
    details: { protocol: SIGN_PROTOCOL, round: 'combine', reason },
  });
}

function assertDigest(digest: unknown): asserts digest is Uint8Array {
  if (!(digest instanceof Uint8Array) || digest.length !== DIGEST_BYTES) inputError('digest must be 32 bytes');
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

function assertPublic(presig: PresignaturePublic): void {
  if (presig === null || typeof presig !== 'object') inputError('presignature must be an object');
  if (typeof presig.id !== 'string' || !ID_HEX.test(presig.id))
    inputError('presignature id must be 64 lowercase hex digits');
  if (!isValidPoint(presig.R)) inputError('R must be a valid non-identity point');
  if (!isValidPoint(presig.publicKey)) inputError('public key must be a valid non-identity point');
  assertDerivationPath(presig.path);
  if (!Array.isArray(presig.signers) || presig.signers.length < 2) inputError('signers must list at least two parties');
}

/** The per-request tweak and re-randomised nonce point. All public. */
export interface Rerandomized {
  /** τ ∈ [1, q) */
  readonly tau: bigint;
  /** R' = τ·R, 33-byte compressed SEC1 (prefix 0x02/0x03 = parity of y, then x) */
  readonly encodedR: Uint8Array;
  /** r' = x(R') mod q (≠ 0) */
  readonly r: bigint;
}

/**
 * τ = int(SHA-512(tag ‖ counter ‖ id ‖ R ‖ digest ‖ path)) mod q, the first non-zero value over
 * counter = 0, 1, …; R' = τ·R; r' = x(R') mod q. A 512-bit hash reduced mod q has bias < 2^-256.
 *
 * @throws MpcError ERR_PROTOCOL_INPUT on a malformed presignature or digest; ERR_PROTOCOL_ABORT when r' = 0
 * @example const { R, r } = rerandomize(presig, digest);
 */
export function rerandomize(presig: PresignaturePublic, digest: Uint8Array): Rerandomized {
  assertPublic(presig);
  assertDigest(digest);
  const encodedPresigR = encodePoint(presig.R);
  let tau = 0n;
  for (let counter = 0; tau === 0n; counter++) {
    const w = new WireWriter()
      .bytes(new TextEncoder().encode(`${TAG_PREFIX}.sign.rerandomize`))
      .u32(counter)
      .fixed(hexToBytes(presig.id))
      .fixed(encodedPresigR)
      .fixed(digest)
      .u32(presig.path.length);
    for (const idx of presig.path) w.u32(idx);
    tau = mod(fromBytesBE(sha512(w.finish())), CURVE_ORDER);
  }
  // R' = τ·R (public scalar and point; secp256k1-backend.ts: libsecp256k1 or noble). τ ∈ [1, q)
  // and R valid on a prime-order group: R' is never the identity, so null cannot happen here.
  const encodedR = secp256k1Backend().mul(encodedPresigR, toBytesBE(tau, 32));
  if (encodedR === null) throw abort('r-zero', "R' = τ·R was refused by the curve backend");
  const r = mod(fromBytesBE(encodedR.subarray(1)), CURVE_ORDER);
  if (r === 0n) throw abort('r-zero', "r' = 0");
  return { tau, encodedR, r };
}

/** What the signing party knows about its key now, checked against the presignature. */
export interface SigningKeyState {
  /** The epoch of the party's current key share (0 before any refresh or reshare). */
  readonly epoch: number;
}

/**
 * The checks `issuePartialSignature` makes before it consumes anything, on public data only: a
 * caller that consumes the presignature itself first (the daemon's group commit) runs them before
 * its consume, so a malformed request still burns nothing.
 * @throws MpcError ERR_PROTOCOL_INPUT, ERR_PRESIGNATURE_EPOCH
 */
export function assertSignable(presig: Presignature, digest: Uint8Array, key?: SigningKeyState): void {
  assertPublic(presig);
  assertDigest(digest);
  if (!Number.isInteger(presig.self) || presig.self < 0 || presig.self >= presig.signers.length) {
    inputError('self must be a position in signers');
  }
  if (key !== undefined && (presig.epoch ?? 0) !== key.epoch) {
    throw new MpcError('ERR_PRESIGNATURE_EPOCH', 'presignature belongs to another key epoch; refusing to sign', {
      details: { presignature: presig.id, presignatureEpoch: presig.epoch ?? 0, keyEpoch: key.epoch },
    });
  }
}

/**
 * Issues this party's partial signature on `digest` (the 32-byte message hash the party computed
 * itself from an approved request, SECURITY.md A20). The presignature is consumed in `ledger`
 * FIRST: if that throws, nothing is computed; if anything after it fails, the presignature stays
 * consumed (fail closed, A18). With `key`, a presignature made under another key epoch is refused
 * before anything is consumed: after a refresh or reshare, the old epoch's nonce shares are tied to
 * shares that no longer exist (the lifecycle layer burns them).
 *
 * @throws MpcError ERR_PRESIGNATURE_USED when the ledger already holds the presignature;
 *   ERR_PRESIGNATURE_EPOCH when it belongs to another key epoch than `key.epoch`;
 *   ERR_PROTOCOL_INPUT on a malformed presignature or digest
 * @example const partial = issuePartialSignature(presig, sha256(tx), ledger, { epoch: share.core.epoch ?? 0 });
 */
export function issuePartialSignature(
  presig: Presignature,
  digest: Uint8Array,
  ledger: PresignatureLedger,
  key?: SigningKeyState,
): PartialSignature {
  // Public checks only (a malformed request does not burn the presignature)…
  assertSignable(presig, digest, key);
  // …then §8.2 rule 1 / A18: consume BEFORE the secret shares are even read. From here on every
  // failure leaves the presignature consumed (fail closed).
  ledger.consume(presig.id);
  const { k, chi } = presig;
  if (typeof k !== 'bigint' || k <= 0n || k >= CURVE_ORDER) inputError('k must be a scalar in [1, q)');
  if (typeof chi !== 'bigint' || chi < 0n || chi >= CURVE_ORDER) inputError('chi must be a scalar in [0, q)');
  const { tau, r } = rerandomize(presig, digest);
  const tauInv = Point.Fn.inv(tau);
  // k_i' = k_i·τ⁻¹, χ_i' = χ_i·τ⁻¹
  const kPrime = mod(k * tauInv, CURVE_ORDER);
  const chiPrime = mod(chi * tauInv, CURVE_ORDER);
  // m = int(digest) mod q (bits2int for a 256-bit hash on a 256-bit group is plain conversion)
  const m = mod(fromBytesBE(digest), CURVE_ORDER);
  // σ_i = k_i'·m + r'·χ_i'  (mod q)
  const sigma = mod(kPrime * m + r * chiPrime, CURVE_ORDER);
  return { presignatureId: presig.id, signer: presig.self, r, sigma };
}

/**
 * Combines the partial signatures of every signer into a low-s ECDSA signature with recovery id,
 * and verifies it under the presignature's (derived) public key before returning it.
 *
 * @throws MpcError ERR_PROTOCOL_INPUT on malformed arguments (wrong count, duplicate signer);
 *   ERR_PROTOCOL_ABORT with details.reason 'partial-mismatch' (blaming signers whose partial is
 *   for another presignature or another r'), 'sigma-zero', or 'signature-invalid' (no blame:
 *   identification is PROTOCOL.md §7.3)
 * @example const sig = combineSignature(presig, digest, partials); // { r, s, recovery, der, compact }
 */
export function combineSignature(
  presig: PresignaturePublic,
  digest: Uint8Array,
  partials: readonly PartialSignature[],
): EcdsaSignature {
  const { encodedR, r } = rerandomize(presig, digest);
  const t = presig.signers.length;
  if (!Array.isArray(partials) || partials.length !== t) inputError('need exactly one partial signature per signer');
  const seen = new Set<number>();
  const blame: Blame[] = [];
  let sigma = 0n;
  for (const p of partials) {
    if (p === null || typeof p !== 'object') inputError('partial signature must be an object');
    if (!Number.isInteger(p.signer) || p.signer < 0 || p.signer >= t || seen.has(p.signer)) {
      inputError('partial signatures must come from distinct signer positions');
    }
    seen.add(p.signer);
    if (typeof p.sigma !== 'bigint' || p.sigma < 0n || p.sigma >= CURVE_ORDER) {
      blame.push({ party: p.signer, msgIds: [], reason: 'σ_i is not a scalar in [0, q)' });
    } else if (p.presignatureId !== presig.id || p.r !== r) {
      // Every party must have used the same presignature and the same r' (i.e. the same digest).
      blame.push({ party: p.signer, msgIds: [], reason: "partial signature is for another presignature or r'" });
    } else {
      sigma += p.sigma;
    }
  }
  if (blame.length > 0) {
    throw abort(
      'partial-mismatch',
      `blamed ${blame.map((b) => b.party).join(', ')}`,
      blame.sort((a, b) => a.party - b.party),
    );
  }
  // σ = Σ σ_i mod q ≠ 0
  let s = mod(sigma, CURVE_ORDER);
  if (s === 0n) throw abort('sigma-zero', 'σ = 0');
  // Recovery id from R': bit 0 = y parity, bit 1 = x ≥ q (x was reduced to get r').
  let recovery = encodedR[0] === 0x03 ? 1 : 0;
  if (fromBytesBE(encodedR.subarray(1)) >= CURVE_ORDER) recovery |= 2;
  // Low-s: (r, s) and (r, q − s) both verify; q − s corresponds to −R', whose y has the other parity.
  if (s > CURVE_ORDER >> 1n) {
    s = CURVE_ORDER - s;
    recovery ^= 1;
  }
  // §6: verify before release: standard ECDSA over m = int(digest) mod q, i.e.
  // x(m·s⁻¹·G + r·s⁻¹·Y') mod q = r, with r, s ∈ [1, q) and s low (normalised above), one call
  // into the curve backend (libsecp256k1's ecdsa_verify when the addon has it).
  const compact = new Uint8Array(64);
  compact.set(toBytesBE(r, 32), 0);
  compact.set(toBytesBE(s, 32), 32);
  if (!secp256k1Backend().verify(compact, digest, encodePoint(presig.publicKey))) {
    throw abort('signature-invalid', 'combined signature does not verify under the public key');
  }
  const sig = new secp256k1.Signature(r, s);
  return { r, s, recovery, der: sig.toBytes('der'), compact };
}

// --- wire form of a partial signature --------------------------------------------------------------

const PARTIAL_TAG = 0x55;
const PARTIAL_MAX_BYTES = 2 + 32 + 2 + 2 * (4 + 32);

/**
 * @example const bytes = encodePartialSignature(partial);
 */
export function encodePartialSignature(p: PartialSignature): Uint8Array {
  return new WireWriter()
    .u8(PARTIAL_TAG)
    .u8(1)
    .fixed(hexToBytes(p.presignatureId))
    .u16(p.signer)
    .biguint(p.r)
    .biguint(p.sigma)
    .finish();
}

/**
 * Strict decoder: exact sizes, canonical scalars in [0, q), no trailing bytes.
 *
 * @throws MpcError ERR_WIRE_* (the sender is to blame)
 * @example const partial = decodePartialSignature(bytes);
 */
export function decodePartialSignature(bytes: Uint8Array): PartialSignature {
  const rd = new WireReader(bytes, PARTIAL_MAX_BYTES);
  rd.tag('partial.tag', PARTIAL_TAG);
  rd.tag('partial.version', 1);
  const id = rd.fixed('partial.presignatureId', 32);
  const signer = rd.u16('partial.signer');
  const r = rd.biguint('partial.r', 256);
  const sigma = rd.biguint('partial.sigma', 256);
  rd.end();
  for (const [path, v] of [
    ['partial.r', r],
    ['partial.sigma', sigma],
  ] as const) {
    if (v >= CURVE_ORDER)
      throw new MpcError('ERR_WIRE_BIGINT_TOO_LARGE', `${path} is not below q`, { details: { path } });
  }
  return { presignatureId: Buffer.from(id).toString('hex'), signer, r, sigma };
}
