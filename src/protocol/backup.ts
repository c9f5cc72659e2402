/**
 * Backup kits: a party's key share, split k-of-m among recovery custodians (issue 16, the seed's
 * escrow; cb-mpc's "verifiable backup" is the model).
 *
 *   g(z) = x_i + Σ_{l=1}^{k−1} a_l·z^l        Shamir sharing of the party's share scalar x_i
 *   C_l = a_l·G, C_0 = x_i·G = X_i            Feldman commitments (C_0 is the party's public share)
 *   s_j = g(j + 1)                            piece of custodian j (0-based), encrypted to its key
 *
 * Each piece is sealed HPKE-style (RFC 9180 base mode, built from its parts — X25519 from @noble,
 * HKDF-SHA256 from @noble, ChaCha20-Poly1305 from node:crypto): a fresh ephemeral X25519 key per
 * piece, key and nonce from HKDF over the shared secret with the ephemeral and the custodian's
 * public key, and the associated data binding kit id, key (Y, chain code, epoch), party, k, m, every
 * commitment, the piece index and the custodian key. A piece therefore opens only in its own kit,
 * for its own custodian, and a custodian checks its decrypted s_j against the commitments and the
 * party's public share without seeing any other piece: s_j·G = Σ_l (j+1)^l·C_l and C_0 = X_i.
 *
 * The kit carries, in the clear, the public data the party needs to rejoin (the key's public shares,
 * Y, chain code, t, n, epoch): restoring k pieces yields a CoreKeyShare; the aux info (Paillier
 * keys) is not backed up — the restored party runs a refresh at once, which also makes the
 * backed-up scalar obsolete. Presignatures are never part of a backup (the input is a core share).
 * No I/O here: the kit is bytes; writing it to a file is the caller's job.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { x25519 } from '@noble/curves/ed25519.js';
import { equalBytes } from '@noble/curves/utils.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { MpcError } from '../errors/index.js';
import { fromBytesBE, mod, toBytesBE } from '../math/bits.js';
import { type Rng, randBelow, systemRng } from '../math/random.js';
import { CURVE_ORDER, decodePoint, encodePoint, mulBase, mulPublic, POINT_BYTES, Point } from '../primitives/curve.js';
import { WireReader, WireWriter } from '../util/wire.js';
import { TAG_PREFIX } from '../zk/common.js';
import { CHAIN_CODE_BYTES } from './hd.js';
import type { CoreKeyShare } from './key-share.js';
import { KEYGEN_MAX_PARTIES, validateCoreKeyShare } from './keygen.js';
import { evaluationPoint, interpolatePoints, lagrangeCoefficient } from './lagrange.js';

const KIT_TAG = 0x424b; // "BK"
const KIT_VERSION = 1;
const KIT_ID_BYTES = 16;
const X25519_BYTES = 32;
const SCALAR_BYTES = 32;
const AEAD_TAG_BYTES = 16;
const NONCE_BYTES = 12;
const SEALED_BYTES = SCALAR_BYTES + AEAD_TAG_BYTES;
/** Most custodians per kit. */
export const MAX_CUSTODIANS = 64;
const MAX_KEY_ID_BYTES = 128;
const KIT_MAX_BYTES =
  2 +
  1 +
  KIT_ID_BYTES +
  4 +
  MAX_KEY_ID_BYTES +
  4 * 5 +
  1 +
  CHAIN_CODE_BYTES +
  POINT_BYTES * (KEYGEN_MAX_PARTIES + 1) +
  4 +
  POINT_BYTES * MAX_CUSTODIANS +
  4 +
  MAX_CUSTODIANS * (2 * X25519_BYTES + SEALED_BYTES);

/** One custodian's sealed piece as stored in the kit. */
export interface SealedPiece {
  /** X25519 public key of the custodian the piece is sealed to. */
  readonly custodian: Uint8Array;
  /** The HPKE encapsulated key (ephemeral X25519 public key). */
  readonly enc: Uint8Array;
  /** ChaCha20-Poly1305 ciphertext ‖ tag of the 32-byte piece s_j. */
  readonly sealed: Uint8Array;
}

/** A backup kit: public data only (every secret in it is sealed to a custodian). */
export interface BackupKit {
  readonly version: 1;
  readonly kitId: Uint8Array;
  /** The operator's name of the key (bound into every piece). */
  readonly keyId: string;
  /** Index of the backed-up party in the key's committee. */
  readonly party: number;
  /** Public data of the key at the backed-up epoch. */
  readonly t: number;
  readonly n: number;
  readonly epoch: number;
  readonly publicKey: Point;
  readonly chainCode: Uint8Array;
  readonly publicShares: readonly Point[];
  /** Pieces needed to restore. */
  readonly k: number;
  /** C_0..C_{k−1}; C_0 = X_party. */
  readonly commitments: readonly Point[];
  /** m pieces, piece j for custodian j. */
  readonly pieces: readonly SealedPiece[];
}

/** A custodian's decrypted, checked piece: what it hands to the restore (a secret: handle as such). */
export interface OpenedPiece {
  readonly kitId: Uint8Array;
  readonly keyId: string;
  readonly party: number;
  readonly epoch: number;
  /** Piece index j (custodian j). */
  readonly index: number;
  /** s_j = g(j + 1). Secret. */
  readonly value: bigint;
}

function pieceError(index: number, why: string): MpcError {
  return new MpcError('ERR_BACKUP_PIECE_INVALID', `backup piece ${index} refused: ${why}`, {
    details: { piece: index, reason: why },
  });
}

function kitError(why: string, cause?: unknown): MpcError {
  return new MpcError('ERR_BACKUP_KIT_INVALID', `backup kit refused: ${why}`, cause === undefined ? {} : { cause });
}

/** Σ_l z^l·C_l (Horner in the group). */
function evalCommitments(C: readonly Point[], z: bigint): Point {
  let acc = Point.ZERO;
  for (let l = C.length - 1; l >= 0; l--) acc = mulPublic(acc, z).add(C[l] as Point);
  return acc;
}

/** The associated data of piece j: everything the piece belongs to. */
function pieceAd(kit: Omit<BackupKit, 'pieces'>, j: number, custodian: Uint8Array, m: number): Uint8Array {
  const w = new WireWriter()
    .bytes(new TextEncoder().encode(`${TAG_PREFIX}.backup.piece`))
    .fixed(kit.kitId)
    .bytes(new TextEncoder().encode(kit.keyId))
    .u32(kit.party)
    .u32(kit.epoch)
    .fixed(encodePoint(kit.publicKey))
    .fixed(kit.chainCode)
    .u32(kit.k)
    .u32(m)
    .u32(kit.commitments.length);
  for (const C of kit.commitments) w.fixed(encodePoint(C));
  return w.u32(j).fixed(custodian).finish();
}

/** HPKE-style key schedule: (key, nonce) = HKDF-SHA256(shared, salt = enc ‖ pk, info = H(ad)). */
function schedule(shared: Uint8Array, enc: Uint8Array, custodian: Uint8Array, ad: Uint8Array) {
  const salt = new Uint8Array(2 * X25519_BYTES);
  salt.set(enc, 0);
  salt.set(custodian, X25519_BYTES);
  const okm = hkdf(sha256, shared, salt, sha256(ad), 32 + NONCE_BYTES);
  return { key: okm.subarray(0, 32), nonce: okm.subarray(32), okm };
}

function sharedSecret(secret: Uint8Array, pub: Uint8Array): Uint8Array | undefined {
  try {
    const s = x25519.getSharedSecret(secret, pub);
    return s.every((b) => b === 0) ? undefined : s; // low-order point
  } catch {
    return undefined;
  }
}

export interface CreateKitOptions {
  readonly keyId: string;
  /** Pieces needed to restore, 2 ≤ k ≤ m. */
  readonly k: number;
  /** X25519 public keys of the m custodians, in piece order. */
  readonly custodians: readonly Uint8Array[];
  /** Randomness (the system CSPRNG unless a test passes a DRBG). */
  readonly rng?: Rng;
}

/**
 * Splits the share's scalar k-of-m and seals piece j to custodian j.
 * @throws MpcError ERR_PROTOCOL_INPUT for k ∉ [2, m], m > 64, a malformed or repeated custodian key,
 *   a key id longer than 128 bytes; ERR_KEY_SHARE_INVALID for an invalid share
 * @example const kit = createBackupKit(share.core, { keyId: 'treasury', k: 2, custodians: [a, b, c] });
 */
export function createBackupKit(share: CoreKeyShare, opts: CreateKitOptions): BackupKit {
  const core = validateCoreKeyShare(share);
  const rng = opts.rng ?? systemRng;
  const m = opts.custodians.length;
  const input = (why: string): never => {
    throw new MpcError('ERR_PROTOCOL_INPUT', `backup: ${why}`);
  };
  if (!Number.isInteger(opts.k) || opts.k < 2 || opts.k > m) input('k must be in [2, m]');
  if (m > MAX_CUSTODIANS) input(`at most ${MAX_CUSTODIANS} custodians`);
  if (new TextEncoder().encode(opts.keyId).length > MAX_KEY_ID_BYTES) input('key id too long');
  const seen = new Set<string>();
  for (const c of opts.custodians) {
    if (!(c instanceof Uint8Array) || c.length !== X25519_BYTES) input('custodian keys are 32-byte X25519 keys');
    const hex = Buffer.from(c).toString('hex');
    if (seen.has(hex)) input('custodian keys must be distinct');
    seen.add(hex);
  }
  // g(z) = x_i + Σ a_l z^l, a_l ← [1, q)
  const poly = [core.x, ...Array.from({ length: opts.k - 1 }, () => randBelow(CURVE_ORDER - 1n, rng) + 1n)];
  const kitId = new Uint8Array(KIT_ID_BYTES);
  rng.fill(kitId);
  const head: Omit<BackupKit, 'pieces'> = {
    version: 1,
    kitId,
    keyId: opts.keyId,
    party: core.i,
    t: core.t,
    n: core.n,
    epoch: core.epoch ?? 0,
    publicKey: core.publicKey,
    chainCode: core.chainCode,
    publicShares: core.publicShares,
    k: opts.k,
    commitments: poly.map((a) => mulBase(a)),
  };
  const pieces = opts.custodians.map((custodian, j): SealedPiece => {
    let s = 0n;
    for (let l = poly.length - 1; l >= 0; l--) s = mod(s * evaluationPoint(j) + (poly[l] as bigint), CURVE_ORDER);
    const eph = new Uint8Array(X25519_BYTES);
    rng.fill(eph);
    const enc = x25519.getPublicKey(eph);
    const shared = sharedSecret(eph, custodian);
    eph.fill(0);
    if (shared === undefined) return input(`custodian key ${j} is not a usable X25519 key`);
    const ad = pieceAd(head, j, custodian, m);
    const { key, nonce, okm } = schedule(shared, enc, custodian, ad);
    shared.fill(0);
    const plain = toBytesBE(s, SCALAR_BYTES);
    const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: AEAD_TAG_BYTES });
    c.setAAD(ad, { plaintextLength: plain.length });
    const ct = Buffer.concat([c.update(plain), c.final(), c.getAuthTag()]);
    plain.fill(0);
    okm.fill(0);
    return { custodian: Uint8Array.from(custodian), enc, sealed: new Uint8Array(ct) };
  });
  for (let l = 1; l < poly.length; l++) poly[l] = 0n;
  return Object.freeze({ ...head, pieces });
}

/** What a custodian knows independently of the kit (from the key's registration). */
export interface ExpectedKey {
  readonly publicKey: Point;
  /** X_i of the backed-up party. */
  readonly publicShare?: Point;
}

/**
 * Custodian side: decrypts piece `index` with the custodian's X25519 secret and checks it against
 * the commitments and the party's public share, without touching any other piece. With `expected`,
 * the kit's key and public share must be the ones the custodian knows.
 * @throws MpcError ERR_BACKUP_PIECE_INVALID naming the piece: wrong custodian key, undecryptable
 *   (tampered, or moved from another kit), off the committed polynomial; ERR_BACKUP_KIT_INVALID for
 *   an inconsistent kit
 * @example const piece = openBackupPiece(kit, 1, custodianSecret); // hand it to the restore
 */
export function openBackupPiece(
  kit: BackupKit,
  index: number,
  custodianSecret: Uint8Array,
  expected?: ExpectedKey,
): OpenedPiece {
  assertKit(kit);
  if (expected !== undefined) {
    const own = kit.publicShares[kit.party] as Point;
    if (
      !kit.publicKey.equals(expected.publicKey) ||
      (expected.publicShare !== undefined && !own.equals(expected.publicShare))
    ) {
      throw pieceError(index, 'the kit is for another key or party than the custodian expects');
    }
  }
  const piece = kit.pieces[index];
  if (!Number.isInteger(index) || piece === undefined) throw pieceError(index, 'no such piece in the kit');
  if (!(custodianSecret instanceof Uint8Array) || custodianSecret.length !== X25519_BYTES) {
    throw pieceError(index, 'custodian secret must be 32 bytes');
  }
  if (!equalBytes(x25519.getPublicKey(custodianSecret), piece.custodian)) {
    throw pieceError(index, 'the custodian key does not match the key this piece is sealed to');
  }
  const shared = sharedSecret(custodianSecret, piece.enc);
  if (shared === undefined) throw pieceError(index, 'invalid encapsulated key');
  const ad = pieceAd(kit, index, piece.custodian, kit.pieces.length);
  const { key, nonce, okm } = schedule(shared, piece.enc, piece.custodian, ad);
  shared.fill(0);
  let plain: Buffer;
  try {
    const d = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: AEAD_TAG_BYTES });
    d.setAAD(ad, { plaintextLength: SCALAR_BYTES });
    d.setAuthTag(piece.sealed.subarray(SCALAR_BYTES));
    plain = Buffer.concat([d.update(piece.sealed.subarray(0, SCALAR_BYTES)), d.final()]);
  } catch {
    throw pieceError(index, 'does not decrypt (tampered, or sealed for another kit, party or key)');
  } finally {
    okm.fill(0);
  }
  const value = fromBytesBE(plain);
  plain.fill(0);
  const opened: OpenedPiece = {
    kitId: kit.kitId,
    keyId: kit.keyId,
    party: kit.party,
    epoch: kit.epoch,
    index,
    value,
  };
  checkPiece(kit, opened);
  return opened;
}

/** s_j ∈ [0, q) and s_j·G = Σ_l (j+1)^l·C_l. */
function checkPiece(kit: BackupKit, p: OpenedPiece): void {
  if (typeof p.value !== 'bigint' || p.value < 0n || p.value >= CURVE_ORDER) {
    throw pieceError(p.index, 'value is not a scalar');
  }
  if (!mulBase(p.value).equals(evalCommitments(kit.commitments, evaluationPoint(p.index)))) {
    throw pieceError(p.index, 'off the committed polynomial (Feldman check failed)');
  }
}

/**
 * Restores the party's core share from at least k opened pieces of this kit.
 * @throws MpcError ERR_BACKUP_PIECE_INVALID naming the first bad piece (another kit, party, key or
 *   epoch; repeated; off the polynomial); ERR_BACKUP_KIT_INVALID for too few pieces or an
 *   inconsistent kit
 * @example const core = restoreFromBackup(kit, [pieceFromA, pieceFromC]); // then run a refresh
 */
export function restoreFromBackup(kit: BackupKit, pieces: readonly OpenedPiece[]): CoreKeyShare {
  assertKit(kit);
  const used = new Set<number>();
  for (const p of pieces) {
    if (!equalBytes(p.kitId, kit.kitId) || p.keyId !== kit.keyId || p.party !== kit.party || p.epoch !== kit.epoch) {
      throw pieceError(p.index, 'belongs to another kit, party, key or epoch');
    }
    if (!Number.isInteger(p.index) || p.index < 0 || p.index >= kit.pieces.length) {
      throw pieceError(p.index, 'index outside the kit');
    }
    if (used.has(p.index)) throw pieceError(p.index, 'given twice');
    used.add(p.index);
    checkPiece(kit, p);
  }
  if (pieces.length < kit.k) throw kitError(`${kit.k} pieces needed, ${pieces.length} given`);
  const chosen = pieces.slice(0, kit.k);
  const pts = chosen.map((p) => evaluationPoint(p.index));
  const x = chosen.reduce((acc, p, j) => mod(acc + lagrangeCoefficient(pts, j, 0n) * p.value, CURVE_ORDER), 0n);
  // Holds when every piece passed its Feldman check (C_0 = X_party is checked by assertKit).
  if (!mulBase(x).equals(kit.publicShares[kit.party] as Point)) throw kitError('restored share does not match');
  return validateCoreKeyShare({
    version: 1,
    i: kit.party,
    n: kit.n,
    t: kit.t,
    x,
    publicShares: kit.publicShares,
    publicKey: kit.publicKey,
    chainCode: kit.chainCode,
    additive: false,
    epoch: kit.epoch,
  });
}

/** Structure and public consistency: C_0 = X_party, k ≤ m, and the public record of a real key. */
function assertKit(kit: BackupKit): void {
  if (kit === null || typeof kit !== 'object' || kit.version !== 1) throw kitError('not a version-1 kit');
  const m = kit.pieces.length;
  if (kit.commitments.length !== kit.k || kit.k < 2 || kit.k > m || m > MAX_CUSTODIANS) {
    throw kitError('k, m and the commitment count do not agree');
  }
  if (!Number.isInteger(kit.party) || kit.party < 0 || kit.party >= kit.n || kit.publicShares.length !== kit.n) {
    throw kitError('party index or public shares out of range');
  }
  if (!(kit.commitments[0] as Point).equals(kit.publicShares[kit.party] as Point)) {
    throw kitError("the commitments do not open to the party's public share");
  }
  // The public record is a real t-of-n key's: the first t public shares give Y, the rest lie on
  // the same polynomial of degree t − 1.
  if (!Number.isInteger(kit.t) || kit.t < 2 || kit.t > kit.n) throw kitError('t out of range');
  const pts = Array.from({ length: kit.t }, (_, j) => evaluationPoint(j));
  const base = kit.publicShares.slice(0, kit.t);
  if (!interpolatePoints(pts, base, 0n).equals(kit.publicKey)) throw kitError('public shares do not give the key');
  for (let j = kit.t; j < kit.n; j++) {
    if (!interpolatePoints(pts, base, evaluationPoint(j)).equals(kit.publicShares[j] as Point)) {
      throw kitError(`public share ${j} is off the key's polynomial`);
    }
  }
}

// --- file format --------------------------------------------------------------------------------------

/**
 * tag "BK" ‖ version ‖ kit id (16) ‖ key id (u32 len ‖ utf-8) ‖ u32 party, t, n, epoch, k ‖ u8 additive=0 ‖
 * chain code (32) ‖ Y (33) ‖ n × X_j (33) ‖ u32 count ‖ k × C_l (33) ‖ u32 m ‖ m × (custodian 32 ‖ enc 32 ‖ sealed 48).
 * @example writeFileSync(path, encodeBackupKit(kit));
 */
export function encodeBackupKit(kit: BackupKit): Uint8Array {
  const w = new WireWriter()
    .u16(KIT_TAG)
    .u8(KIT_VERSION)
    .fixed(kit.kitId)
    .bytes(new TextEncoder().encode(kit.keyId))
    .u32(kit.party)
    .u32(kit.t)
    .u32(kit.n)
    .u32(kit.epoch)
    .u32(kit.k)
    .u8(0)
    .fixed(kit.chainCode)
    .fixed(encodePoint(kit.publicKey));
  for (const X of kit.publicShares) w.fixed(encodePoint(X));
  w.u32(kit.commitments.length);
  for (const C of kit.commitments) w.fixed(encodePoint(C));
  w.u32(kit.pieces.length);
  for (const p of kit.pieces) w.fixed(p.custodian).fixed(p.enc).fixed(p.sealed);
  return w.finish();
}

/**
 * Strict decoder of a kit file: sizes before reading, valid points, the public record of a real
 * key (validated like a key share's public part), C_0 = X_party.
 * @throws MpcError ERR_BACKUP_KIT_INVALID (the wire error as cause)
 * @example const kit = decodeBackupKit(readFileSync(path));
 */
export function decodeBackupKit(bytes: Uint8Array): BackupKit {
  let kit: BackupKit;
  try {
    const r = new WireReader(bytes, KIT_MAX_BYTES);
    if (r.u16('kit.tag') !== KIT_TAG) throw kitError('not a backup kit');
    r.tag('kit.version', KIT_VERSION);
    const kitId = r.fixed('kit.id', KIT_ID_BYTES);
    const keyId = new TextDecoder('utf-8', { fatal: true }).decode(r.bytes('kit.keyId', MAX_KEY_ID_BYTES));
    const party = r.u32('kit.party');
    const t = r.u32('kit.t');
    const n = r.u32('kit.n');
    const epoch = r.u32('kit.epoch');
    const k = r.u32('kit.k');
    r.tag('kit.additive', 0);
    if (n < 2 || n > KEYGEN_MAX_PARTIES) throw kitError('n out of range');
    const chainCode = r.fixed('kit.chainCode', CHAIN_CODE_BYTES);
    const publicKey = decodePoint(r.fixed('kit.Y', POINT_BYTES), 'kit.Y');
    const publicShares = Array.from({ length: n }, (_, j) =>
      decodePoint(r.fixed(`kit.X[${j}]`, POINT_BYTES), `kit.X[${j}]`),
    );
    if (k < 2 || k > MAX_CUSTODIANS) throw kitError('k out of range');
    r.count('kit.commitments', k);
    const commitments = Array.from({ length: k }, (_, l) =>
      decodePoint(r.fixed(`kit.C[${l}]`, POINT_BYTES), `kit.C[${l}]`),
    );
    const m = r.u32('kit.pieces');
    if (m < k || m > MAX_CUSTODIANS) throw kitError('piece count out of range');
    const pieces = Array.from({ length: m }, (_, j) => ({
      custodian: r.fixed(`kit.pieces[${j}].custodian`, X25519_BYTES),
      enc: r.fixed(`kit.pieces[${j}].enc`, X25519_BYTES),
      sealed: r.fixed(`kit.pieces[${j}].sealed`, SEALED_BYTES),
    }));
    r.end();
    kit = { version: 1, kitId, keyId, party, t, n, epoch, publicKey, chainCode, publicShares, k, commitments, pieces };
    assertKit(kit);
  } catch (e) {
    if (e instanceof MpcError && e.code === 'ERR_BACKUP_KIT_INVALID') throw e;
    throw kitError('malformed kit file', e);
  }
  return kit;
}
