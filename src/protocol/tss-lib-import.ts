/**
 * Import of bnb-chain/tss-lib ECDSA keygen save data (`LocalPartySaveData` as JSON) — the way out of
 * GG18/GG20 without moving funds (README: why we do not offer GG18/GG20 signing).
 *
 * Read: `Xi` (own share), `ShareID` (own evaluation point), `Ks` (every party's evaluation point),
 * `BigXj` (every party's public share X_j = x_j·G), `ECDSAPub` (the key). Everything else — the
 * Paillier key, NTilde, h1, h2, the proofs' α, β, p, q — is never read: this system runs fresh aux
 * info (Πprm, Πmod, Πfac) for the imported key, so the material TSSHOCK, Alpha-Rays and BitForge
 * exploited is dropped at the door.
 *
 * tss-lib evaluates the sharing polynomial at arbitrary share ids (not 1..n) and calls the degree
 * "threshold" t, so t + 1 parties sign. A set S of at least t + 1 importing parties converts its
 * Shamir shares into additive shares at once: w_j = λ_j^S(0)·x_j with Σ_{j∈S} w_j = x, and public
 * shares W_j = λ_j^S(0)·X_j. The result is an n-of-n additive key share among S on this system's
 * canonical indices 0..|S|−1 (ordered by share id); a reshare then moves it to t'-of-n' and away
 * from the tss-lib values (src/protocol/reshare.ts).
 */
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { parse as parseLosslessJson } from 'lossless-json';
import { MpcError } from '../errors/index.js';
import { mod } from '../math/bits.js';
import { CURVE_ORDER, decodePoint, encodePoint, mulBase, mulPublic, POINT_BYTES, Point } from '../primitives/curve.js';
import { WireReader, WireWriter } from '../util/wire.js';
import { CHAIN_CODE_BYTES } from './hd.js';
import type { CoreKeyShare } from './key-share.js';
import { interpolatePoints, lagrangeCoefficient } from './lagrange.js';
import { ALL, type ProtocolDef, type RoundDef } from './types.js';

/** A save file is ~21 KB; anything above this is refused before parsing. */
export const MAX_TSS_LIB_SAVE_BYTES = 256 * 1024;
/** tss-lib parties in one key: bounded so the consistency check stays cheap. */
export const MAX_TSS_LIB_PARTIES = 64;

/** The public and own-secret parts of one tss-lib save file, validated. */
export interface TssLibShare {
  /** Own evaluation point (tss-lib ShareID). */
  readonly shareId: bigint;
  /** Every party's evaluation point, in file order. */
  readonly ks: readonly bigint[];
  /** Every party's public share, in file order. */
  readonly bigXj: readonly Point[];
  readonly publicKey: Point;
  /** tss-lib's threshold t (polynomial degree): t + 1 parties sign. Derived from the public data. */
  readonly threshold: number;
  /** Own secret share x_i (never logged; wipe the file after import). */
  readonly xi: bigint;
}

const bad = (message: string, field?: string) =>
  new MpcError('ERR_IMPORT_INVALID', message, field === undefined ? {} : { details: { field } });

/**
 * Parses and validates tss-lib save data: curve names, every point on secp256k1, share ids
 * distinct and non-zero mod q, own ShareID among Ks, Xi·G = BigXj[own], and ECDSAPub equal to the
 * interpolation of every (t+1)-subset of the public shares.
 *
 * @throws MpcError ERR_IMPORT_INVALID naming the field (never its value)
 */
export function parseTssLibSaveData(text: string | Uint8Array): TssLibShare {
  const size = typeof text === 'string' ? Buffer.byteLength(text) : text.length;
  if (size > MAX_TSS_LIB_SAVE_BYTES) throw bad(`save data is ${size} bytes, above ${MAX_TSS_LIB_SAVE_BYTES}`);
  let doc: unknown;
  try {
    const s = typeof text === 'string' ? text : new TextDecoder('utf-8', { fatal: true }).decode(text);
    doc = parseLosslessJson(s, null, (n: string) => (/^(0|[1-9][0-9]*)$/.test(n) ? BigInt(n) : Number.NaN));
  } catch {
    throw bad('save data is not JSON (truncated or not UTF-8?)');
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw bad('save data is not a JSON object');
  const field = (name: string): unknown =>
    Object.hasOwn(doc as object, name) ? (doc as Record<string, unknown>)[name] : undefined;

  const scalar = (v: unknown, name: string): bigint => {
    if (typeof v !== 'bigint') throw bad(`${name} is not a non-negative integer`, name);
    const r = mod(v, CURVE_ORDER);
    if (r === 0n || v >= CURVE_ORDER) throw bad(`${name} is not in [1, q)`, name);
    return v;
  };
  const point = (v: unknown, name: string): Point => {
    if (v === null || typeof v !== 'object' || !Object.hasOwn(v, 'Curve') || !Object.hasOwn(v, 'Coords')) {
      throw bad(`${name} is not a {Curve, Coords} point`, name);
    }
    const { Curve, Coords } = v as { Curve: unknown; Coords: unknown };
    if (Curve !== 'secp256k1') throw bad(`${name} is on curve ${String(Curve).slice(0, 32)}, not secp256k1`, name);
    if (!Array.isArray(Coords) || Coords.length !== 2 || !Coords.every((c) => typeof c === 'bigint')) {
      throw bad(`${name} coordinates are not two integers`, name);
    }
    try {
      const p = Point.fromAffine({ x: Coords[0] as bigint, y: Coords[1] as bigint });
      p.assertValidity();
      return p;
    } catch {
      throw bad(`${name} is not a point on secp256k1`, name);
    }
  };
  const list = (name: string): unknown[] => {
    const v = field(name);
    if (!Array.isArray(v) || v.length < 2 || v.length > MAX_TSS_LIB_PARTIES) {
      throw bad(`${name} is not a list of 2..${MAX_TSS_LIB_PARTIES} entries`, name);
    }
    return v;
  };

  const ks = list('Ks').map((k, j) => scalar(k, `Ks[${j}]`));
  if (new Set(ks).size !== ks.length) throw bad('Ks has repeated share ids', 'Ks');
  const bigXjRaw = list('BigXj');
  if (bigXjRaw.length !== ks.length) throw bad('BigXj and Ks differ in length', 'BigXj');
  const bigXj = bigXjRaw.map((p, j) => point(p, `BigXj[${j}]`));
  const publicKey = point(field('ECDSAPub'), 'ECDSAPub');
  const shareId = scalar(field('ShareID'), 'ShareID');
  const xi = scalar(field('Xi'), 'Xi');
  return checkedShare({ shareId, ks, bigXj, publicKey, xi });
}

/**
 * The checks that tie the parts together (share ids distinct and non-zero, own ShareID among Ks,
 * Xi·G = BigXj[own], ECDSAPub the interpolation of the public shares) and the derived threshold:
 * run on the save file and again on every read of a staged share.
 */
function checkedShare(p: Omit<TssLibShare, 'threshold'>): TssLibShare {
  const { ks, bigXj, publicKey, shareId, xi } = p;
  if (ks.length < 2 || ks.length > MAX_TSS_LIB_PARTIES)
    throw bad(`Ks is not a list of 2..${MAX_TSS_LIB_PARTIES} entries`, 'Ks');
  if (ks.some((k) => k <= 0n || k >= CURVE_ORDER)) throw bad('Ks is not in [1, q)', 'Ks');
  if (new Set(ks).size !== ks.length) throw bad('Ks has repeated share ids', 'Ks');
  if (bigXj.length !== ks.length) throw bad('BigXj and Ks differ in length', 'BigXj');
  if (xi <= 0n || xi >= CURVE_ORDER) throw bad('Xi is not in [1, q)', 'Xi');
  const own = ks.indexOf(shareId);
  if (own < 0) throw bad('ShareID is not one of Ks', 'ShareID');
  if (!mulBase(xi).equals(bigXj[own] as Point)) throw bad('Xi does not match this party’s BigXj', 'Xi');
  const threshold = derivedThreshold(ks, bigXj, publicKey);
  return { shareId, ks, bigXj, publicKey, threshold, xi };
}

/**
 * The polynomial degree t: the smallest k − 1 such that the first k public shares interpolate to
 * ECDSAPub. Then every other public share must lie on the same degree-t polynomial (its value at
 * the party's share id, interpolated from the first k), which is what "every (t+1)-subset
 * interpolates to ECDSAPub" means — in O(n·t) point operations rather than C(n, t+1) subsets, so a
 * large file cannot stall the process.
 */
function derivedThreshold(ks: readonly bigint[], bigXj: readonly Point[], Y: Point): number {
  let k = 1;
  while (k <= ks.length && !interpolatePoints(ks.slice(0, k), bigXj.slice(0, k)).equals(Y)) k++;
  if (k > ks.length) throw bad('ECDSAPub is not the interpolation of the public shares', 'ECDSAPub');
  const basis = ks.slice(0, k);
  const values = bigXj.slice(0, k);
  for (let j = k; j < ks.length; j++) {
    if (!interpolatePoints(basis, values, ks[j] as bigint).equals(bigXj[j] as Point)) {
      throw bad(`public share ${j} is not on the polynomial of the others`, 'BigXj');
    }
  }
  return k - 1;
}

/**
 * The public data every importing party must agree on before it imports (compared over the
 * control plane): SHA-256 over a domain tag, ECDSAPub and the (Ks, BigXj) pairs sorted by share id.
 */
export function tssLibPublicDataHash(s: TssLibShare): string {
  const order = s.ks.map((_, j) => j).sort((a, b) => ((s.ks[a] as bigint) < (s.ks[b] as bigint) ? -1 : 1));
  const parts = [new TextEncoder().encode('mpc-custody/tss-lib-import/public-data/v1'), encodePoint(s.publicKey)];
  for (const j of order) {
    parts.push(new TextEncoder().encode(`${(s.ks[j] as bigint).toString(16)};`), encodePoint(s.bigXj[j] as Point));
  }
  return bytesToHex(sha256(Buffer.concat(parts)));
}

/**
 * The chain code for a key that has none (tss-lib keys): HMAC-SHA256 keyed with a domain tag over
 * the compressed public key. Deterministic, so every party derives the same one; public like any
 * chain code. An operator may pass their own instead (`--chain-code`).
 */
export function defaultChainCode(publicKey: Point): Uint8Array {
  return hmac(sha256, new TextEncoder().encode('mpc-custody/tss-lib-import/chain-code/v1'), encodePoint(publicKey));
}

/**
 * Converts an imported share into this party's n-of-n additive key share among the importing set
 * (their share ids; at least t + 1 of them). Canonical index = rank of the share id among them.
 *
 * @throws MpcError ERR_IMPORT_INVALID for too few importers, an importer not in Ks, or this party missing
 */
export function toAdditiveKeyShare(s: TssLibShare, importers: readonly bigint[], chainCode?: Uint8Array): CoreKeyShare {
  const set = [...new Set(importers)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (set.length !== importers.length) throw bad('importing set repeats a share id');
  return toAdditiveKeyShareInOrder(s, set, chainCode);
}

/**
 * As toAdditiveKeyShare, with the canonical indices given: importer `ordered[i]` gets index i (the
 * daemon's import session orders the importers by roster id, so key-share index = roster id as
 * after keygen).
 *
 * @throws MpcError ERR_IMPORT_INVALID for too few importers, a repeated one or one not in Ks, or this party missing
 */
export function toAdditiveKeyShareInOrder(
  s: TssLibShare,
  ordered: readonly bigint[],
  chainCode?: Uint8Array,
): CoreKeyShare {
  const set = [...ordered];
  if (new Set(set).size !== set.length) throw bad('importing set repeats a share id');
  if (set.length < s.threshold + 1) {
    throw bad(`importing set has ${set.length} parties; this key needs ${s.threshold + 1}`);
  }
  const fileIndex = set.map((id) => s.ks.indexOf(id));
  if (fileIndex.some((j) => j < 0)) throw bad('importing set names a share id outside Ks');
  const i = set.indexOf(s.shareId);
  if (i < 0) throw bad('this party is not in the importing set');
  const code = chainCode ?? defaultChainCode(s.publicKey);
  if (code.length !== CHAIN_CODE_BYTES) throw bad(`chain code must be ${CHAIN_CODE_BYTES} bytes`);
  const lambda = set.map((_, j) => lagrangeCoefficient(set, j, 0n));
  const publicShares = fileIndex.map((j, m) => mulPublic(s.bigXj[j] as Point, lambda[m] as bigint));
  const sum = publicShares.reduce((a, p) => a.add(p), Point.ZERO);
  if (!sum.equals(s.publicKey)) throw bad('the importing set’s shares do not add up to ECDSAPub');
  return {
    version: 1,
    i,
    n: set.length,
    t: set.length,
    x: mod((lambda[i] as bigint) * s.xi, CURVE_ORDER),
    publicShares,
    publicKey: s.publicKey,
    chainCode: Uint8Array.from(code),
    additive: true,
    epoch: 0,
  };
}

// --- staging and the import session ------------------------------------------------------------------

/**
 * What `mpc-custody import tss-lib` seals in the party's store and the import session reads back:
 * the validated share and the chain code the operator chose (or the default one). SECRET (xi).
 */
export interface StagedTssLibImport {
  readonly share: TssLibShare;
  readonly chainCode: Uint8Array;
}

const STAGED_TAG = 0x54;
const STAGED_VERSION = 1;

/** The staged import's bytes (SECRET: the caller seals them and zeroes the buffer). */
export function encodeStagedImport(staged: StagedTssLibImport): Uint8Array {
  const { share, chainCode } = staged;
  if (chainCode.length !== CHAIN_CODE_BYTES) throw bad(`chain code must be ${CHAIN_CODE_BYTES} bytes`);
  const w = new WireWriter().u8(STAGED_TAG).u8(STAGED_VERSION).fixed(chainCode).biguint(share.shareId);
  w.u32(share.ks.length);
  share.ks.forEach((k, j) => {
    w.biguint(k).fixed(encodePoint(share.bigXj[j] as Point));
  });
  return w.fixed(encodePoint(share.publicKey)).biguint(share.xi).finish();
}

/**
 * Reads a staged import back, strictly, and runs the save file's consistency checks again.
 * @throws MpcError ERR_IMPORT_INVALID (never with the secret)
 */
export function decodeStagedImport(bytes: Uint8Array): StagedTssLibImport {
  try {
    const r = new WireReader(bytes, 64 + MAX_TSS_LIB_PARTIES * (40 + POINT_BYTES) + 2 * POINT_BYTES);
    r.tag('staged.tag', STAGED_TAG);
    r.tag('staged.version', STAGED_VERSION);
    const chainCode = r.fixed('staged.chainCode', CHAIN_CODE_BYTES);
    const shareId = r.biguint('staged.shareId', 256);
    const n = r.u32('staged.n');
    if (n > MAX_TSS_LIB_PARTIES) throw bad('staged import lists too many parties');
    const ks: bigint[] = [];
    const bigXj: Point[] = [];
    for (let j = 0; j < n; j++) {
      ks.push(r.biguint('staged.ks', 256));
      bigXj.push(decodePoint(r.fixed('staged.bigXj', POINT_BYTES), 'staged.bigXj'));
    }
    const publicKey = decodePoint(r.fixed('staged.publicKey', POINT_BYTES), 'staged.publicKey');
    const xi = r.biguint('staged.xi', 256);
    r.end();
    return { share: checkedShare({ shareId, ks, bigXj, publicKey, xi }), chainCode };
  } catch (e) {
    if (e instanceof MpcError && e.code === 'ERR_IMPORT_INVALID') throw e;
    throw bad('staged import is malformed');
  }
}

/**
 * What the importing parties compare before anything is converted: SHA-256 over a domain tag, the
 * public data hash (ECDSAPub, sorted Ks and BigXj) and the chain code, so the parties also agree on
 * the key's chain code (and with it every derived address).
 */
export function importAgreementDigest(staged: StagedTssLibImport): Uint8Array {
  return sha256(
    Buffer.concat([
      new TextEncoder().encode('mpc-custody/tss-lib-import/agreement/v1'),
      Buffer.from(tssLibPublicDataHash(staged.share), 'hex'),
      staged.chainCode,
    ]),
  );
}

interface AgreeMsg {
  /** importAgreementDigest of the sender's staged import. */
  readonly digest: Uint8Array;
  /** The sender's tss-lib share id. */
  readonly shareId: bigint;
}

interface ImportState {
  readonly staged: StagedTssLibImport;
  readonly digest: Uint8Array;
}

const AGREE_TAG = 0x49;
const agreeRound: RoundDef<AgreeMsg> = {
  name: 'agree',
  kind: 'broadcast',
  reliable: true,
  encode: (m) => new WireWriter().u8(AGREE_TAG).fixed(m.digest).biguint(m.shareId).finish(),
  decode: (bytes) => {
    const r = new WireReader(bytes, 1 + 32 + 4 + 32);
    r.tag('import.agree.tag', AGREE_TAG);
    const digest = r.fixed('import.agree.digest', 32);
    const shareId = r.biguint('import.agree.shareId', 256);
    r.end();
    if (shareId === 0n || shareId >= CURVE_ORDER) {
      throw new MpcError('ERR_WIRE_BIGINT_TOO_LARGE', 'import.agree.shareId is not in [1, q)');
    }
    return { digest, shareId };
  },
};

/**
 * The import session (one reliable broadcast round): every importing party announces the digest of
 * its staged public data and chain code and its share id; each checks that every peer announced
 * its own digest (else ERR_IMPORT_MISMATCH blaming those that differ: a save file of another key,
 * other Ks or BigXj, another chain code) and that the share ids are distinct, then converts its
 * share into the additive n-of-n key among the importers, index = execution index (ctx.self).
 * The echo of the reliable broadcast makes every party see the same announcements.
 */
export const tssLibImport: ProtocolDef<StagedTssLibImport, ImportState, CoreKeyShare> = {
  name: 'tss-lib-import',
  rounds: [agreeRound],
  init(input, _ctx) {
    const digest = importAgreementDigest(input);
    return {
      state: { staged: input, digest },
      outbox: [{ round: 'agree', to: ALL, body: { digest, shareId: input.share.shareId } satisfies AgreeMsg }],
    };
  },
  process(_round, state, inbox, ctx) {
    const differ: number[] = [];
    const ids: bigint[] = [];
    for (let j = 0; j < ctx.n; j++) {
      if (j === ctx.self) {
        ids.push(state.staged.share.shareId);
        continue;
      }
      const m = inbox.get(j) as AgreeMsg;
      if (!equalBytes(m.digest, state.digest)) differ.push(j);
      ids.push(m.shareId);
    }
    if (differ.length > 0) {
      const reason = 'its tss-lib public data (ECDSAPub, Ks, BigXj) or chain code differs from this party’s';
      throw new MpcError(
        'ERR_IMPORT_MISMATCH',
        `tss-lib-import: parties ${differ.join(', ')} staged another key than this party (public data or chain code differ)`,
        { blame: differ.map((party) => ({ party, msgIds: [], reason })), details: { protocol: 'tss-lib-import' } },
      );
    }
    const seen = new Map<bigint, number>();
    const repeated = new Set<number>();
    ids.forEach((id, j) => {
      const first = seen.get(id);
      if (first !== undefined) {
        repeated.add(first);
        repeated.add(j);
      } else seen.set(id, j);
    });
    if (repeated.size > 0) {
      const reason = 'announced a tss-lib share id another importer holds';
      throw new MpcError('ERR_IMPORT_MISMATCH', 'tss-lib-import: two importers announced the same share id', {
        blame: [...repeated].filter((j) => j !== ctx.self).map((party) => ({ party, msgIds: [], reason })),
        details: { protocol: 'tss-lib-import' },
      });
    }
    return { output: toAdditiveKeyShareInOrder(state.staged.share, ids, state.staged.chainCode) };
  },
};

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, k) => x === b[k]);
}
