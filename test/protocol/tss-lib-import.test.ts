/**
 * Import of real tss-lib save data (test/fixtures/tss-lib-ecdsa: three of five parties of a key
 * made by tss-lib's own tests, threshold 2): validation, the agreed public data, conversion of the
 * three importers' Shamir shares at tss-lib's share ids into an additive 3-of-3 key on canonical
 * indices — which then presigns and signs under the fixture's ECDSAPub (checked by @noble/curves
 * and OpenSSL) — a typed refusal for every kind of bad file, and the refresh that re-deals the
 * imported key as a Feldman key the tss-lib shares no longer combine with.
 */
import { readFileSync } from 'node:fs';
import { sha256 } from '@noble/hashes/sha2.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { MpcError } from '../../src/errors/index.js';
import { mod } from '../../src/math/bits.js';
import { CURVE_ORDER, mulBase, Point } from '../../src/primitives/curve.js';
import type { CoreKeyShare, KeyShare } from '../../src/protocol/key-share.js';
import { evaluationPoint, lagrangeCoefficient } from '../../src/protocol/lagrange.js';
import { type Presignature, presign } from '../../src/protocol/presign.js';
import { dealingProtocol, keyRecordOf, type ReshareInput } from '../../src/protocol/reshare.js';
import { combineSignature, issuePartialSignature, MemoryPresignatureLedger } from '../../src/protocol/sign.js';
import { simulate, type Tamper } from '../../src/protocol/simulation.js';
import {
  decodeStagedImport,
  defaultChainCode,
  encodeStagedImport,
  MAX_TSS_LIB_SAVE_BYTES,
  parseTssLibSaveData,
  type StagedTssLibImport,
  type TssLibShare,
  toAdditiveKeyShare,
  tssLibImport,
  tssLibPublicDataHash,
} from '../../src/protocol/tss-lib-import.js';
import { dealAux } from '../helpers/dealer.js';
import { TestDrbg } from '../helpers/drbg.js';
import { math, sid } from '../helpers/keys.js';
import { nobleVerifies, opensslVerifies } from '../helpers/verify.js';
import { syntheticSaveFiles } from './tss-lib-synthetic.js';

const fixture = (k: number) =>
  readFileSync(new URL(`../fixtures/tss-lib-ecdsa/keygen_data_${k}.json`, import.meta.url), 'utf8');
const files = [0, 1, 2].map(fixture);

/** The file's own ECDSAPub, read independently of the module (decimal strings → bigints). */
function fixturePublicKey(text: string): Point {
  const m = /"ECDSAPub":\s*\{\s*"Curve":\s*"secp256k1",\s*"Coords":\s*\[\s*(\d+),\s*(\d+)\s*\]/.exec(text);
  if (m === null) throw new Error('fixture has no ECDSAPub');
  return Point.fromAffine({ x: BigInt(m[1] as string), y: BigInt(m[2] as string) });
}

const refusal = (text: string): string => {
  try {
    parseTssLibSaveData(text);
  } catch (e) {
    expect(e).toBeInstanceOf(MpcError);
    return `${(e as MpcError).code}:${String((e as MpcError).details.field ?? '')}`;
  }
  return 'accepted';
};
/** Edits one field of a fixture file (through JSON with big numbers kept as text). */
const edit = (text: string, f: (doc: Record<string, unknown>) => void): string => {
  const quoted = text.replace(/(?<=[:[,]\s*)(\d{10,})/g, '"$1"');
  const doc = JSON.parse(quoted) as Record<string, unknown>;
  f(doc);
  return JSON.stringify(doc).replace(/"(\d{10,})"/g, '$1');
};

let shares: TssLibShare[];
beforeAll(() => {
  shares = files.map((f) => parseTssLibSaveData(f));
});

describe('tss-lib save data', () => {
  it('reads the three fixture files: threshold 2 of 5 parties, one public key', () => {
    for (const [k, s] of shares.entries()) {
      expect(s.threshold).toBe(2);
      expect(s.ks.length).toBe(5);
      expect(s.publicKey.equals(fixturePublicKey(files[k] as string))).toBe(true);
      expect(mulBase(s.xi).equals(s.bigXj[s.ks.indexOf(s.shareId)] as Point)).toBe(true);
    }
  });

  it('every importer computes the same public data hash', () => {
    const hashes = shares.map(tssLibPublicDataHash);
    expect(new Set(hashes).size).toBe(1);
    expect(hashes[0]).toMatch(/^[0-9a-f]{64}$/);
  });

  it('the three importers become an additive 3-of-3 key that signs under ECDSAPub', () => {
    const importers = shares.map((s) => s.shareId);
    const cores = shares.map((s) => toAdditiveKeyShare(s, importers));
    const Y = fixturePublicKey(files[0] as string);
    // Canonical indices by share id order; Σ W_j = Y; each W_j = w_j·G.
    expect(cores.map((c) => c.i).sort()).toEqual([0, 1, 2]);
    for (const c of cores) {
      expect(c.additive).toBe(true);
      expect(c.publicShares[c.i]?.equals(mulBase(c.x))).toBe(true);
      expect(c.chainCode).toEqual(defaultChainCode(Y));
    }
    expect(cores.reduce((a, c) => a.add(mulBase(c.x)), Point.ZERO).equals(Y)).toBe(true);
    // An imported share is not a tss-lib share: w_j = λ_j·x_j differs from x_j.
    for (const [k, c] of cores.entries()) expect(c.x).not.toBe(shares[k]?.xi);
    return signWith(cores, Y);
  });

  it('refuses an importing set smaller than threshold + 1, or one this party is not in', () => {
    const s = shares[0] as TssLibShare;
    expect(() => toAdditiveKeyShare(s, [s.shareId, shares[1]?.shareId as bigint])).toThrow(/needs 3/);
    expect(() =>
      toAdditiveKeyShare(
        s,
        (shares.slice(1) as TssLibShare[])
          .map((x) => x.shareId)
          .concat(s.ks.filter((k) => !shares.some((x) => x.shareId === k)).slice(0, 1)),
      ),
    ).toThrow(/not in the importing set/);
    expect(() => toAdditiveKeyShare(s, [s.shareId, s.shareId, s.shareId])).toThrow(/repeats/);
    expect(() => toAdditiveKeyShare(s, [s.shareId, 5n, 7n])).toThrow(/outside Ks/);
  });

  const bad: [string, (d: Record<string, unknown>) => void, string][] = [
    ['a wrong curve name', (d) => ((d.ECDSAPub as { Curve: string }).Curve = 'P-256'), 'ECDSAPub'],
    [
      'an off-curve BigXj',
      (d) => {
        const c = (d.BigXj as { Coords: string[] }[])[3]?.Coords as string[];
        c[1] = (BigInt(c[1] as string) + 1n).toString();
      },
      'BigXj[3]',
    ],
    ['an Xi that does not match', (d) => (d.Xi = (BigInt(d.Xi as string) + 1n).toString()), 'Xi'],
    [
      'mismatched Ks (a share id changed)',
      (d) => {
        const ks = d.Ks as string[];
        ks[4] = (BigInt(ks[4] as string) + 1n).toString();
      },
      'BigXj',
    ],
    [
      'repeated Ks',
      (d) => {
        const ks = d.Ks as string[];
        ks[4] = ks[3] as string;
      },
      'Ks',
    ],
    ['a ShareID outside Ks', (d) => (d.ShareID = '12345678901'), 'ShareID'],
    ['a BigXj list of another length', (d) => (d.BigXj as unknown[]).pop(), 'BigXj'],
    [
      'an ECDSAPub of another key',
      (d) => {
        const other = fixturePublicKey(files[0] as string)
          .double()
          .toAffine();
        d.ECDSAPub = { Curve: 'secp256k1', Coords: [other.x.toString(), other.y.toString()] };
      },
      'ECDSAPub',
    ],
    ['a missing Xi', (d) => delete d.Xi, 'Xi'],
    ['an Xi given as a string', (d) => (d.Xi = 'abc'), 'Xi'],
  ];
  it.each(bad)('refuses %s, naming the field', (_name, mutate, field) => {
    expect(refusal(edit(files[0] as string, mutate))).toBe(`ERR_IMPORT_INVALID:${field}`);
  });

  it('tells a save file of another key apart by its public data hash', () => {
    const otherKey = edit(files[1] as string, (d) => {
      // Another key: every public share and the public key doubled, Xi doubled with them.
      d.Xi = (
        (BigInt(d.Xi as string) * 2n) %
        0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
      ).toString();
      for (const p of [...(d.BigXj as { Coords: string[] }[]), d.ECDSAPub as { Coords: string[] }]) {
        const q = Point.fromAffine({ x: BigInt(p.Coords[0] as string), y: BigInt(p.Coords[1] as string) })
          .double()
          .toAffine();
        p.Coords = [q.x.toString(), q.y.toString()];
      }
    });
    const other = parseTssLibSaveData(otherKey);
    // Each file is consistent on its own; the importers' public data hashes (compared over the
    // control plane before anything is imported) are what tells the two keys apart.
    expect(tssLibPublicDataHash(other)).not.toBe(tssLibPublicDataHash(shares[0] as TssLibShare));
  });

  it('checks a large key in bounded work: 40 parties, threshold 20 (C(40, 21) subsets would never end)', () => {
    const q = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
    const coeffs = Array.from({ length: 21 }, (_, k) => BigInt(k + 1) * 0x9e3779b97f4a7c15n + 7n);
    const f = (z: bigint) => coeffs.reduceRight((acc, c) => (acc * z + c) % q, 0n);
    const ks = Array.from({ length: 40 }, (_, j) => BigInt(j) * 1_000_003n + 12_345n);
    const pt = (p: Point) => {
      const a = p.toAffine();
      return { Curve: 'secp256k1', Coords: [a.x.toString(), a.y.toString()] };
    };
    const doc = {
      Xi: f(ks[5] as bigint).toString(),
      ShareID: (ks[5] as bigint).toString(),
      Ks: ks.map(String),
      BigXj: ks.map((k) => pt(mulBase(f(k)))),
      ECDSAPub: pt(mulBase(coeffs[0] as bigint)),
    };
    const text = JSON.stringify(doc).replace(/"(\d+)"/g, '$1');
    expect(parseTssLibSaveData(text).threshold).toBe(20);
    // One share moved off the polynomial, past the first t + 1: named, not accepted.
    const off = { ...doc, BigXj: doc.BigXj.map((p, j) => (j === 33 ? pt(mulBase(f(ks[j] as bigint) + 1n)) : p)) };
    expect(refusal(JSON.stringify(off).replace(/"(\d+)"/g, '$1'))).toBe('ERR_IMPORT_INVALID:BigXj');
  });

  it('refuses truncated, non-JSON, duplicate-key, __proto__ and oversize input', () => {
    expect(refusal((files[0] as string).slice(0, 5000))).toBe('ERR_IMPORT_INVALID:');
    expect(refusal('[]')).toBe('ERR_IMPORT_INVALID:');
    expect(refusal((files[0] as string).replace('{', '{"Xi": 1,'))).toBe('ERR_IMPORT_INVALID:');
    expect(refusal((files[0] as string).replace(/"Xi":\s*\d+,/, '"__proto__": {"Xi": 5},'))).toBe(
      'ERR_IMPORT_INVALID:Xi',
    );
    expect(refusal(' '.repeat(MAX_TSS_LIB_SAVE_BYTES + 1))).toBe('ERR_IMPORT_INVALID:');
    expect(() => parseTssLibSaveData(new Uint8Array([0xff, 0xfe]))).toThrow(/ERR_IMPORT_INVALID/);
  });

  it('never puts the secret share in an error message', () => {
    const xi = (shares[0] as TssLibShare).xi.toString();
    for (const [, mutate] of bad) {
      try {
        parseTssLibSaveData(edit(files[0] as string, mutate));
      } catch (e) {
        expect((e as Error).message).not.toContain(xi);
      }
    }
  });
});

/** Aux info (dealt from fixture primes), presigning and one signature by the imported 3-of-3 key. */
async function signWith(cores: readonly CoreKeyShare[], Y: Point): Promise<void> {
  const aux = await dealAux(3);
  const ordered = [...cores].sort((a, b) => a.i - b.i);
  const keyShares: KeyShare[] = ordered.map((core, i) => ({
    core,
    aux: { version: 1, i, n: 3, p: aux.primes[i]?.p as bigint, q: aux.primes[i]?.q as bigint, parties: aux.parties },
  }));
  const signers = [0, 1, 2];
  const r = simulate(
    presign,
    keyShares.map((share) => ({ share, signers, path: [] })),
    { sid: sid('tss-lib-import'), math, rngs: signers.map((i) => new TestDrbg(`tss-import-${i}`)) },
  );
  expect(r.errors.every((e) => e === undefined)).toBe(true);
  const presigs = r.outputs as Presignature[];
  const message = new TextEncoder().encode('withdrawal signed by an imported tss-lib key');
  const digest = sha256(message);
  const partials = presigs.map((p) => issuePartialSignature(p, digest, new MemoryPresignatureLedger()));
  const sig = combineSignature(presigs[0] as Presignature, digest, partials);
  expect(nobleVerifies(Y, digest, sig)).toBe(true);
  expect(opensslVerifies(Y, message, sig.der)).toBe(true);
}

describe('staged import and the import session (agreement, conversion)', () => {
  const staged = (s: TssLibShare, chainCode = defaultChainCode(s.publicKey)): StagedTssLibImport => ({
    share: s,
    chainCode,
  });

  it('a staged import reads back as it was staged; a tampered one is refused', () => {
    const s = shares[1] as TssLibShare;
    const bytes = encodeStagedImport(staged(s));
    const back = decodeStagedImport(bytes);
    expect(back.share.xi).toBe(s.xi);
    expect(back.share.threshold).toBe(2);
    expect(tssLibPublicDataHash(back.share)).toBe(tssLibPublicDataHash(s));
    expect(back.chainCode).toEqual(defaultChainCode(s.publicKey));
    // Xi changed in the stored bytes (last field): the Xi·G check refuses it on reading
    const bad = Uint8Array.from(bytes);
    bad[bad.length - 1] = (bad[bad.length - 1] as number) ^ 1;
    expect(() => decodeStagedImport(bad)).toThrow(/Xi does not match/);
    expect(() => decodeStagedImport(bytes.subarray(0, 100))).toThrow(/malformed/);
  });

  const run = (inputs: StagedTssLibImport[]) =>
    simulate(tssLibImport, inputs, {
      sid: sid('tss-lib-import-session'),
      math,
      rngs: inputs.map((_, i) => new TestDrbg(`import-${i}`)),
    });

  it('parties that staged the same key agree and hold the additive key, index = execution order', () => {
    // execution order 2, 0, 1 (as roster ids would order them): index follows it, not the share id
    const order = [2, 0, 1];
    const r = run(order.map((k) => staged(shares[k] as TssLibShare)));
    expect(r.errors.every((e) => e === undefined)).toBe(true);
    const cores = r.outputs as CoreKeyShare[];
    const Y = fixturePublicKey(files[0] as string);
    cores.forEach((c, i) => {
      expect(c.i).toBe(i);
      expect(c.n).toBe(3);
      expect(c.t).toBe(3);
      expect(c.additive).toBe(true);
      expect(c.publicShares[i]?.equals(mulBase(c.x))).toBe(true);
      expect(c.publicKey.equals(Y)).toBe(true);
    });
    expect(cores.reduce((a, c) => a.add(mulBase(c.x)), Point.ZERO).equals(Y)).toBe(true);
  });

  it('a party that staged a save file of another key is refused: ERR_IMPORT_MISMATCH naming it', () => {
    const other = parseTssLibSaveData(syntheticSaveFiles(7n, (shares[0] as TssLibShare).ks)[2] as string);
    const r = run([staged(shares[0] as TssLibShare), staged(shares[1] as TssLibShare), staged(other)]);
    for (const [i, e] of r.errors.entries()) {
      expect(e?.code).toBe('ERR_IMPORT_MISMATCH');
      // the honest parties name party 2; party 2 names both others
      expect(e?.blame.map((b) => b.party)).toEqual(i === 2 ? [0, 1] : [2]);
    }
    expect(r.outputs.every((o) => o === undefined)).toBe(true);
  });

  it('another chain code at one party is a mismatch too', () => {
    const r = run([
      staged(shares[0] as TssLibShare),
      staged(shares[1] as TssLibShare),
      staged(shares[2] as TssLibShare, new Uint8Array(32).fill(9)),
    ]);
    expect(r.errors.map((e) => e?.code)).toEqual(['ERR_IMPORT_MISMATCH', 'ERR_IMPORT_MISMATCH', 'ERR_IMPORT_MISMATCH']);
  });

  it('two parties announcing the same share id are refused', () => {
    const r = run([
      staged(shares[0] as TssLibShare),
      staged(shares[1] as TssLibShare),
      staged(shares[1] as TssLibShare),
    ]);
    expect(r.errors.map((e) => e?.code)).toEqual(['ERR_IMPORT_MISMATCH', 'ERR_IMPORT_MISMATCH', 'ERR_IMPORT_MISMATCH']);
    expect(r.errors[0]?.message).toMatch(/same share id/);
  });

  it('fewer importers than the tss-lib threshold + 1 cannot convert', () => {
    const r = run([staged(shares[0] as TssLibShare), staged(shares[1] as TssLibShare)]);
    expect(r.errors.map((e) => e?.code)).toEqual(['ERR_IMPORT_INVALID', 'ERR_IMPORT_INVALID']);
  });
});

describe('refresh of the imported key: its additive shares re-dealt as a 3-of-3 Feldman key', () => {
  const IDENTITY = { oldIndex: [0, 1, 2], newIndex: [0, 1, 2], newT: 3 };
  let cores: CoreKeyShare[];
  const Y = () => fixturePublicKey(files[0] as string);
  const deal = (name: string, inputs?: ReshareInput[], tamper?: Map<number, Tamper>) =>
    simulate(
      dealingProtocol('refresh'),
      inputs ?? cores.map((c): ReshareInput => ({ key: keyRecordOf(c), roles: IDENTITY, share: c })),
      { sid: sid(`import-refresh-${name}`), math, rngs: [0, 1, 2].map((i) => new TestDrbg(`${name}-${i}`)), tamper },
    );
  beforeAll(() => {
    const importers = shares.map((s) => s.shareId);
    cores = shares.map((s) => toAdditiveKeyShare(s, importers)).sort((a, b) => a.i - b.i);
  });

  it('same Y and chain code, Feldman shares at the canonical points, epoch 1; it signs under ECDSAPub', async () => {
    const r = deal('honest');
    expect(r.errors).toEqual([undefined, undefined, undefined]);
    const fresh = r.outputs.map((o) => (o as { share: CoreKeyShare }).share);
    // test-only reconstruction: Σ w_j of the import = the Lagrange combination of the new shares at 1..3
    const secret = cores.reduce((a, c) => mod(a + c.x, CURVE_ORDER), 0n);
    const pts = [0, 1, 2].map(evaluationPoint);
    const lagrange = (xs: readonly bigint[], at: readonly bigint[]) =>
      xs.reduce((a, x, j) => mod(a + lagrangeCoefficient(at, j, 0n) * x, CURVE_ORDER), 0n);
    expect(
      lagrange(
        fresh.map((c) => c.x),
        pts,
      ),
    ).toBe(secret);
    for (const [i, c] of fresh.entries()) {
      expect([c.additive, c.t, c.n, c.i, c.epoch]).toEqual([false, 3, 3, i, 1]);
      expect(c.publicKey.equals(Y())).toBe(true);
      expect(c.chainCode).toEqual(cores[i]?.chainCode);
      expect(c.publicShares[i]?.equals(mulBase(c.x))).toBe(true);
      expect(c.x).not.toBe(cores[i]?.x);
    }
    // The tss-lib shares Xi (at their share ids) and the imported shares, combined with new shares,
    // no longer give the key: every mix of old and new is off (each old one replaces its own new one).
    const tssPoints = shares.map((s) => s.shareId);
    for (let mask = 1; mask < 7; mask++) {
      const pick = (k: number) => ((mask >> k) & 1) === 1;
      const mixed = [0, 1, 2].map((k) => (pick(k) ? (shares[k] as TssLibShare).xi : (fresh[k] as CoreKeyShare).x));
      const at = [0, 1, 2].map((k) => (pick(k) ? (tssPoints[k] as bigint) : (pts[k] as bigint)));
      expect(lagrange(mixed, at)).not.toBe(secret);
      const mixedAdditive = [0, 1, 2].map((k) =>
        pick(k) ? (cores[k] as CoreKeyShare).x : (fresh[k] as CoreKeyShare).x,
      );
      expect(lagrange(mixedAdditive, pts)).not.toBe(secret);
    }
    await signWith(fresh, Y());
  });

  it('a dealer whose dealt constant is not its imported share is blamed by everyone', () => {
    const tamper = new Map<number, Tamper>([
      [1, (m) => (m.round === 'r1' ? { ...(m.body as object), S: shiftFirst((m.body as { S: Point[] }).S) } : m.body)],
    ]);
    const r = deal('bad-constant', undefined, tamper);
    expect(r.outputs.every((o) => o === undefined)).toBe(true);
    for (const k of [0, 2]) {
      expect(r.errors[k]?.blame.map((b) => b.party)).toEqual([1]);
      expect(r.errors[k]?.blame[0]?.reason).toMatch(/constant term/);
    }
  });

  it('refuses a record that is not the key: public shares not summing to Y, t ≠ n, or additive flags that differ', () => {
    const ctx = { self: 0, n: 3, sid: sid('x'), math, rng: new TestDrbg('x') };
    const c = cores[0] as CoreKeyShare;
    const base: ReshareInput = { key: keyRecordOf(c), roles: IDENTITY, share: c };
    expect(() => dealingProtocol('refresh').init(base, ctx)).not.toThrow();
    const swapped = [...c.publicShares];
    swapped[1] = (swapped[1] as Point).add(Point.BASE);
    const bad: [ReshareInput, string, RegExp][] = [
      [{ ...base, key: { ...base.key, publicShares: swapped } }, 'ERR_PROTOCOL_INPUT', /do not sum to Y/],
      [{ ...base, key: { ...base.key, t: 2 } }, 'ERR_PROTOCOL_INPUT', /t = n/],
      [{ ...base, key: { ...base.key, additive: false } }, 'ERR_PROTOCOL_INPUT', /do not give Y/],
      // an additive share read as a Feldman one is not a share of Y at all
      [{ ...base, share: { ...c, additive: false } }, 'ERR_KEY_SHARE_INVALID', /interpolate to the public key/],
    ];
    for (const [input, code, why] of bad) {
      expect(() => dealingProtocol('refresh').init(input, ctx)).toThrow(expect.objectContaining({ code }));
      expect(() => dealingProtocol('refresh').init(input, ctx)).toThrow(why);
    }
  });
});

const shiftFirst = (S: readonly Point[]): Point[] => [(S[0] as Point).add(Point.BASE), ...S.slice(1)];
