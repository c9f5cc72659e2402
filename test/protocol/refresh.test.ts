/**
 * Key refresh (refresh.ts): same Y and chain code (so the same xpub), new shares and public shares,
 * fresh aux info, epoch + 1; signatures after the refresh verify with @noble/curves and OpenSSL;
 * shares and presignatures of two epochs never combine; every check of the dealing is attacked.
 */
import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import type { MpcError } from '../../src/errors/index.js';
import { mod } from '../../src/math/bits.js';
import { CURVE_ORDER, mulBase, Point } from '../../src/primitives/curve.js';
import { derivePath } from '../../src/protocol/hd.js';
import type { CoreKeyShare, KeyShare } from '../../src/protocol/key-share.js';
import { decodeKeyShare, encodeKeyShare } from '../../src/protocol/key-share-codec.js';
import { decodeCoreKeyShare, encodeCoreKeyShare } from '../../src/protocol/keygen.js';
import { evaluationPoint, lagrangeCoefficient } from '../../src/protocol/lagrange.js';
import { type Presignature, presign } from '../../src/protocol/presign.js';
import { decodePresignature, encodePresignature } from '../../src/protocol/presignature-codec.js';
import { type RefreshInput, refresh } from '../../src/protocol/refresh.js';
import { dealingProtocol, keyRecordOf, type ReshareInput } from '../../src/protocol/reshare.js';
import { combineSignature, issuePartialSignature, MemoryPresignatureLedger } from '../../src/protocol/sign.js';
import { type SimulationResult, simulate, type Tamper } from '../../src/protocol/simulation.js';
import { type DealtKey, dealKeyShares } from '../helpers/dealer.js';
import { TestDrbg } from '../helpers/drbg.js';
import { math as native, sid } from '../helpers/keys.js';
import { memoMath } from '../helpers/memo-math.js';
import { testPrimes } from '../helpers/primes.js';
import { nobleVerifies, opensslVerifies } from '../helpers/verify.js';

/**
 * Arithmetic through a cache (test/helpers/memo-math.ts; CI time): the refresh's aux-info proofs
 * (Πprm, Πmod) are the same for both their verifiers in the simulation, so the second verifier's
 * exponentiations are looked up; every party still runs every check.
 */
const math = memoMath(native);

let dealt: DealtKey;
let refreshed: KeyShare[];
let fresh: Array<{ p: bigint; q: bigint }>;

const rngs = (name: string, n: number) => Array.from({ length: n }, (_, i) => new TestDrbg(`${name}-${i}`));

function runPresign(shares: readonly KeyShare[], signers: number[], name: string) {
  return simulate(
    presign,
    signers.map((s) => ({ share: shares[s] as KeyShare, signers, path: [] })),
    { sid: sid(`refresh-presign-${name}`), math, rngs: rngs(`presign-${name}`, signers.length) },
  );
}

function secretOf(shares: readonly { i: number; x: bigint }[]): bigint {
  const pts = shares.map((s) => evaluationPoint(s.i));
  return shares.reduce((acc, s, j) => mod(acc + lagrangeCoefficient(pts, j, 0n) * s.x, CURVE_ORDER), 0n);
}

function signAndVerify(shares: readonly KeyShare[], signers: number[], name: string): void {
  const r = runPresign(shares, signers, name);
  expect(r.errors).toEqual(signers.map(() => undefined));
  const presigs = r.outputs as Presignature[];
  const message = new TextEncoder().encode(`pay 0.1 BTC after refresh (${name})`);
  const digest = createHash('sha256').update(message).digest();
  const epoch = shares[signers[0] as number]?.core.epoch ?? 0;
  const partials = presigs.map((p) => issuePartialSignature(p, digest, new MemoryPresignatureLedger(), { epoch }));
  const sig = combineSignature(presigs[0] as Presignature, digest, partials);
  expect(nobleVerifies(dealt.publicKey, digest, sig)).toBe(true);
  expect(opensslVerifies(dealt.publicKey, message, sig.der)).toBe(true);
}

beforeAll(async () => {
  dealt = await dealKeyShares({ n: 3, t: 2, seed: 'refresh' });
});

describe('refresh: 2-of-3', () => {
  beforeAll(async () => {
    const primes = await testPrimes('safe', 1536);
    // Fresh primes for the refresh: fixture pairs 10..12 (the dealer used pairs 0..2).
    fresh = [0, 1, 2].map((i) => ({ p: primes[20 + 2 * i] as bigint, q: primes[21 + 2 * i] as bigint }));
    const r = simulate(
      refresh,
      dealt.shares.map((s, i): RefreshInput => ({ core: s.core, primes: fresh[i] as { p: bigint; q: bigint } })),
      { sid: sid('refresh-ok'), math, rngs: rngs('refresh-ok', 3) },
    );
    expect(r.errors).toEqual([undefined, undefined, undefined]);
    refreshed = r.outputs as KeyShare[];
  }, 120_000);

  it('keeps Y, the chain code and every derived key, moves every share, renews aux info, epoch 0 → 1', () => {
    for (const [i, s] of refreshed.entries()) {
      const old = dealt.shares[i] as KeyShare;
      expect(s.core.epoch).toBe(1);
      expect(s.core.i).toBe(i);
      expect(s.core.publicKey.equals(dealt.publicKey)).toBe(true);
      expect(s.core.chainCode).toEqual(dealt.chainCode);
      expect(s.core.x).not.toBe(old.core.x);
      expect(s.core.publicShares.every((X, j) => !X.equals(dealt.publicShares[j] as Point))).toBe(true);
      expect(mulBase(s.core.x).equals(s.core.publicShares[i] as Point)).toBe(true);
      expect(s.aux.parties.map((p) => p.N)).not.toContain(old.aux.parties[i]?.N);
      expect(s.aux.p).toBe(fresh[i]?.p);
      // The same public shares everywhere.
      expect(s.core.publicShares.map((X) => X.toHex())).toEqual(refreshed[0]?.core.publicShares.map((X) => X.toHex()));
      // xpub-equivalent: the same child keys.
      expect(derivePath(s.core.publicKey, s.core.chainCode, [44, 0, 3]).publicKey.toHex()).toBe(
        derivePath(dealt.publicKey, dealt.chainCode, [44, 0, 3]).publicKey.toHex(),
      );
    }
    // Test-only reconstruction: any two new shares still give the dealer's secret.
    const cores = refreshed.map((s) => s.core);
    expect(secretOf([cores[0] as CoreKeyShare, cores[2] as CoreKeyShare])).toBe(dealt.secret);
    expect(secretOf([cores[1] as CoreKeyShare, cores[2] as CoreKeyShare])).toBe(dealt.secret);
  });

  it('signs after the refresh; both verifiers accept under the original key', () => {
    signAndVerify(refreshed, [0, 2], 'after');
  }, 60_000);

  it('stores and reloads an epoch-1 share; an epoch-0 (version 1) share still decodes as epoch 0', () => {
    const back = decodeKeyShare(math, encodeKeyShare(refreshed[1] as KeyShare));
    expect(back.core.epoch).toBe(1);
    expect(back.core.x).toBe(refreshed[1]?.core.x);
    const v1 = encodeCoreKeyShare(dealt.shares[1]?.core as CoreKeyShare);
    expect(v1[1]).toBe(1); // the pre-epoch layout, byte for byte
    expect(decodeCoreKeyShare(v1).epoch).toBe(0);
    // Version 2 with epoch 0 would be a second encoding of the same share: refused.
    const v2 = encodeCoreKeyShare(refreshed[1]?.core as CoreKeyShare);
    expect(v2[1]).toBe(2);
    const zeroEpoch = Uint8Array.from(v2);
    zeroEpoch.fill(0, 2, 6);
    expect(() => decodeCoreKeyShare(zeroEpoch)).toThrow(expect.objectContaining({ code: 'ERR_KEY_SHARE_INVALID' }));
  });

  it('never mixes epochs: presigning with one old and one new share aborts, blaming the other epoch', () => {
    const mixed = [refreshed[0] as KeyShare, dealt.shares[1] as KeyShare];
    const r = runPresign(mixed, [0, 1], 'mixed');
    expect(r.outputs).toEqual([undefined, undefined]);
    expect(r.errors[0]?.code).toBe('ERR_PROTOCOL_ABORT');
    expect(r.errors[0]?.blame.map((b) => b.party)).toEqual([1]);
    expect(r.errors[1]?.blame.map((b) => b.party)).toEqual([0]);
  }, 60_000);
});

describe('epochs without a refresh run', () => {
  it('binds the epoch into presigning: a share relabelled to another epoch is refused by its peer', () => {
    const relabelled: KeyShare = {
      ...(dealt.shares[0] as KeyShare),
      core: { ...dealt.shares[0]?.core, epoch: 1 } as CoreKeyShare,
    };
    const r = runPresign([relabelled, dealt.shares[1] as KeyShare], [0, 1], 'relabelled');
    expect(r.outputs).toEqual([undefined, undefined]);
    expect(r.errors[1]?.blame.map((b) => b.party)).toEqual([0]);
  }, 60_000);

  it('refuses to sign a presignature of the old epoch under the new key, without consuming it', () => {
    const r = runPresign(dealt.shares, [0, 1], 'old-epoch');
    const old = (r.outputs as Presignature[])[0] as Presignature;
    expect(old.epoch).toBe(0);
    const ledger = new MemoryPresignatureLedger();
    const digest = new Uint8Array(32).fill(5);
    expect(() => issuePartialSignature(old, digest, ledger, { epoch: 1 })).toThrow(
      expect.objectContaining({ code: 'ERR_PRESIGNATURE_EPOCH' }),
    );
    expect(ledger.has(old.id)).toBe(false);
    // It is still good under its own epoch (the check is the epoch, nothing else).
    expect(issuePartialSignature(old, digest, ledger, { epoch: 0 }).presignatureId).toBe(old.id);
    // The presignature codec keeps the epoch (version 2 from epoch 1 on; version 1 = epoch 0).
    expect(decodePresignature(encodePresignature(old)).epoch).toBe(0);
    expect(encodePresignature(old)[2]).toBe(1);
    const later: Presignature = { ...old, epoch: 7 };
    expect(decodePresignature(encodePresignature(later)).epoch).toBe(7);
    const zero = encodePresignature(later);
    zero.fill(0, 3, 7);
    expect(() => decodePresignature(zero)).toThrow(expect.objectContaining({ code: 'ERR_PRESIGNATURE_INVALID' }));
  }, 60_000);
});

// --- the dealing under attack (the zero-sharing part alone: no aux-info needed) -------------------

function dealing(name: string, tamper?: Map<number, Tamper>, inputs?: ReshareInput[]): SimulationResult<unknown> {
  const dealingInputs =
    inputs ??
    dealt.shares.map(
      (s): ReshareInput => ({
        key: keyRecordOf(s.core),
        roles: { oldIndex: [0, 1, 2], newIndex: [0, 1, 2], newT: 2 },
        share: s.core,
      }),
    );
  return simulate(dealingProtocol('refresh'), dealingInputs, {
    sid: sid(`refresh-dealing-${name}`),
    math,
    rngs: rngs(`dealing-${name}`, 3),
    ...(tamper === undefined ? {} : { tamper }),
  });
}

function blamed(r: SimulationResult<unknown>): number[][] {
  return r.errors.map((e) => (e as MpcError | undefined)?.blame.map((b) => b.party) ?? []);
}

describe('refresh dealing: malicious parties', () => {
  it('honest run: shares of zero added, Y kept', () => {
    const r = dealing('honest');
    expect(r.errors).toEqual([undefined, undefined, undefined]);
    const cores = r.outputs.map((o) => (o as { share: CoreKeyShare }).share);
    expect(secretOf([cores[0] as CoreKeyShare, cores[1] as CoreKeyShare])).toBe(dealt.secret);
  });

  it('a share off the committed polynomial (Feldman check): the recipient and, by its notice, everyone blames the dealer', () => {
    const tamper = new Map<number, Tamper>([
      [
        1,
        (m) =>
          m.round === 'r1p' && m.recipient === 0
            ? { sigma: mod((m.body as { sigma: bigint }).sigma + 1n, CURVE_ORDER) }
            : m.body,
      ],
    ]);
    const r = dealing('bad-sigma', tamper);
    expect(r.outputs.every((o) => o === undefined)).toBe(true);
    expect(blamed(r)[0]).toEqual([1]);
    expect(blamed(r)[2]).toEqual([1]);
  });

  it('a withheld share ("no share" to a receiver) is blamed like a wrong one', () => {
    const tamper = new Map<number, Tamper>([
      [2, (m) => (m.round === 'r1p' && m.recipient === 1 ? { sigma: null } : m.body)],
    ]);
    const r = dealing('no-sigma', tamper);
    expect(blamed(r)[1]).toEqual([2]);
  });

  it('a commitment vector of the wrong length is blamed', () => {
    const tamper = new Map<number, Tamper>([
      [
        2,
        (m) => {
          if (m.round !== 'r1') return m.body;
          const b = m.body as { S: Point[] };
          return { ...b, S: [...b.S, Point.BASE] };
        },
      ],
    ]);
    const r = dealing('long-S', tamper);
    // Everyone names party 2 (party 2 itself by the others' abort notices).
    expect(blamed(r)).toEqual([[2], [2], [2]]);
    expect((r.errors[0] as MpcError).blame[0]?.reason).toMatch(/commitment has 2 entries, expected 1/);
  });

  it('a party holding a share of another epoch is named before any share is used', () => {
    const inputs = dealt.shares.map((s): ReshareInput => {
      const core = s.core.i === 2 ? { ...s.core, epoch: 3 } : s.core;
      return { key: keyRecordOf(core), roles: { oldIndex: [0, 1, 2], newIndex: [0, 1, 2], newT: 2 }, share: core };
    });
    const r = dealing('epoch', undefined, inputs);
    expect(blamed(r)[0]).toEqual([2]);
    expect(blamed(r)[1]).toEqual([2]);
    expect((r.errors[0] as MpcError).blame[0]?.reason).toMatch(/key record differs/);
  });

  it('a wrong Πsch response for the new share is blamed', () => {
    const tamper = new Map<number, Tamper>([
      [0, (m) => (m.round === 'r2' ? { z: mod((m.body as { z: bigint }).z + 1n, CURVE_ORDER) } : m.body)],
    ]);
    const r = dealing('bad-z', tamper);
    expect(blamed(r)).toEqual([[0], [0], [0]]);
    expect((r.errors[1] as MpcError).blame[0]?.reason).toMatch(/Schnorr/);
  });

  it('refuses an additive share and a share that does not match the record', () => {
    const ctx = { self: 0, n: 3, sid: sid('x'), math, rng: new TestDrbg('x') };
    const s = dealt.shares[0]?.core as CoreKeyShare;
    const base: ReshareInput = {
      key: keyRecordOf(s),
      roles: { oldIndex: [0, 1, 2], newIndex: [0, 1, 2], newT: 2 },
      share: s,
    };
    const bad: ReshareInput[] = [
      { ...base, share: { ...s, i: 1, x: dealt.shares[1]?.core.x as bigint } },
      { ...base, key: { ...base.key, epoch: 1 } },
      { ...base, roles: { ...base.roles, newT: 3 } },
      { ...base, roles: { ...base.roles, newIndex: [1, 0, 2] } },
    ];
    for (const input of bad) {
      expect(() => dealingProtocol('refresh').init(input, ctx)).toThrow(
        expect.objectContaining({ code: 'ERR_PROTOCOL_INPUT' }),
      );
    }
  });
});
