/**
 * Reshare (reshare.ts): 2-of-3 → 3-of-5 with two joining parties and 3-of-5 → 2-of-3 with two
 * leaving; the public key and chain code stay, signatures of the new committee verify under the
 * original key with @noble/curves and OpenSSL, the old committee still signs until commit, a leaving
 * party's old share is useless with the new ones, and every check of a dealing is attacked.
 *
 * Aux info of the new committee comes from the fixture keys (test/helpers/dealer.ts `dealAux`):
 * aux-info itself is tested in aux-info.test.ts and, composed with a dealing, in refresh.test.ts.
 */
import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import type { MpcError } from '../../src/errors/index.js';
import { mod } from '../../src/math/bits.js';
import { CURVE_ORDER, mulBase, type Point } from '../../src/primitives/curve.js';
import type { AuxInfo, CoreKeyShare, KeyShare } from '../../src/protocol/key-share.js';
import { validateKeyShare } from '../../src/protocol/key-share-validate.js';
import { evaluationPoint, lagrangeCoefficient } from '../../src/protocol/lagrange.js';
import { type Presignature, presign } from '../../src/protocol/presign.js';
import {
  decodeKeyRecord,
  encodeKeyRecord,
  keyRecordOf,
  type ReshareInput,
  type ReshareOutput,
  reshare,
} from '../../src/protocol/reshare.js';
import { combineSignature, issuePartialSignature, MemoryPresignatureLedger } from '../../src/protocol/sign.js';
import { type SimulationResult, simulate, type Tamper } from '../../src/protocol/simulation.js';
import { type DealtKey, dealAux, dealKeyShares } from '../helpers/dealer.js';
import { TestDrbg } from '../helpers/drbg.js';
import { math, sid } from '../helpers/keys.js';
import { nobleVerifies, opensslVerifies } from '../helpers/verify.js';

const rngs = (name: string, n: number) => Array.from({ length: n }, (_, i) => new TestDrbg(`${name}-${i}`));

let k23: DealtKey;
let k35: DealtKey;

beforeAll(async () => {
  k23 = await dealKeyShares({ n: 3, t: 2, seed: 'reshare-23' });
  k35 = await dealKeyShares({ n: 5, t: 3, seed: 'reshare-35' });
});

/** Inputs of one reshare session: party u is old member oldIndex[u] (or joins) and gets newIndex[u] (or leaves). */
function inputsFor(
  key: DealtKey,
  oldIndex: (number | null)[],
  newIndex: (number | null)[],
  newT: number,
): ReshareInput[] {
  const record = keyRecordOf(key.shares[0]?.core as CoreKeyShare);
  return oldIndex.map((o) => ({
    key: record,
    roles: { oldIndex, newIndex, newT },
    ...(o === null ? {} : { share: key.shares[o]?.core as CoreKeyShare }),
  }));
}

function run(name: string, inputs: ReshareInput[], tamper?: Map<number, Tamper>): SimulationResult<ReshareOutput> {
  return simulate(reshare, inputs, {
    sid: sid(`reshare-${name}`),
    math,
    rngs: rngs(`reshare-${name}`, inputs.length),
    ...(tamper === undefined ? {} : { tamper }),
  });
}

function secretOf(points: readonly bigint[], xs: readonly bigint[]): bigint {
  return xs.reduce((acc, x, j) => mod(acc + lagrangeCoefficient(points, j, 0n) * x, CURVE_ORDER), 0n);
}

function secretOfShares(shares: readonly CoreKeyShare[]): bigint {
  return secretOf(
    shares.map((s) => evaluationPoint(s.i)),
    shares.map((s) => s.x),
  );
}

/** The new committee's full shares: dealt core shares plus fixture aux info for n′ parties. */
async function withAux(cores: readonly CoreKeyShare[]): Promise<KeyShare[]> {
  const { parties, primes } = await dealAux(cores.length);
  return cores.map((core, i) => {
    const own = primes[i] as { p: bigint; q: bigint };
    const aux: AuxInfo = { version: 1, i, n: cores.length, p: own.p, q: own.q, parties };
    return validateKeyShare(math, { core, aux });
  });
}

function signAndVerify(shares: readonly KeyShare[], signers: number[], publicKey: Point, name: string): void {
  const r = simulate(
    presign,
    signers.map((s) => ({ share: shares[s] as KeyShare, signers, path: [] })),
    { sid: sid(`reshare-presign-${name}`), math, rngs: rngs(`reshare-presign-${name}`, signers.length) },
  );
  expect(r.errors).toEqual(signers.map(() => undefined));
  const presigs = r.outputs as Presignature[];
  const message = new TextEncoder().encode(`move custody (${name})`);
  const digest = createHash('sha256').update(message).digest();
  const epoch = shares[signers[0] as number]?.core.epoch ?? 0;
  const partials = presigs.map((p) => issuePartialSignature(p, digest, new MemoryPresignatureLedger(), { epoch }));
  const sig = combineSignature(presigs[0] as Presignature, digest, partials);
  expect(nobleVerifies(publicKey, digest, sig)).toBe(true);
  expect(opensslVerifies(publicKey, message, sig.der)).toBe(true);
}

function subsets<T>(xs: readonly T[], k: number): T[][] {
  if (k === 0) return [[]];
  if (xs.length < k) return [];
  const [head, ...rest] = xs as [T, ...T[]];
  return [...subsets(rest, k - 1).map((s) => [head, ...s]), ...subsets(rest, k)];
}

describe('reshare 2-of-3 → 3-of-5 with two joining parties', () => {
  let next: CoreKeyShare[];
  beforeAll(() => {
    const r = run('grow', inputsFor(k23, [0, 1, 2, null, null], [0, 1, 2, 3, 4], 3));
    expect(r.errors).toEqual(Array(5).fill(undefined));
    next = r.outputs.map((o) => o?.share as CoreKeyShare);
  });

  it('gives every member of the new committee a 3-of-5 share of the same key, epoch 1', () => {
    for (const [u, s] of next.entries()) {
      expect(s.i).toBe(u);
      expect(s.n).toBe(5);
      expect(s.t).toBe(3);
      expect(s.epoch).toBe(1);
      expect(s.publicKey.equals(k23.publicKey)).toBe(true);
      expect(s.chainCode).toEqual(k23.chainCode);
      expect(mulBase(s.x).equals(s.publicShares[u] as Point)).toBe(true);
    }
    for (const set of subsets(next, 3)) expect(secretOfShares(set)).toBe(k23.secret);
    for (const set of subsets(next, 2)) expect(secretOfShares(set)).not.toBe(k23.secret);
  });

  it('the new committee signs, two joiners among the signers', async () => {
    signAndVerify(await withAux(next), [0, 3, 4], k23.publicKey, 'grow-new');
  }, 120_000);

  it('until commit, the old committee still signs with its epoch-0 shares', () => {
    signAndVerify(k23.shares, [1, 2], k23.publicKey, 'grow-old');
  }, 120_000);
});

describe('reshare 3-of-5 → 2-of-3 with two leaving parties', () => {
  const oldIndex = [0, 1, 2, 3, 4];
  const newIndex = [0, null, 1, null, 2];
  let next: CoreKeyShare[];
  let outputs: ReadonlyArray<ReshareOutput | undefined>;
  beforeAll(() => {
    const r = run('shrink', inputsFor(k35, oldIndex, newIndex, 2));
    expect(r.errors).toEqual(Array(5).fill(undefined));
    outputs = r.outputs;
    next = r.outputs.filter((o) => o?.share != null).map((o) => o?.share as CoreKeyShare);
  });

  it('leaving parties get nothing; the three stayers hold a 2-of-3 sharing of the same key', () => {
    expect(outputs[1]?.share).toBeNull();
    expect(outputs[3]?.share).toBeNull();
    expect(next.map((s) => s.i)).toEqual([0, 1, 2]);
    for (const s of next) {
      expect(s.t).toBe(2);
      expect(s.n).toBe(3);
      expect(s.epoch).toBe(1);
      expect(s.publicKey.equals(k35.publicKey)).toBe(true);
    }
    for (const set of subsets(next, 2)) expect(secretOfShares(set)).toBe(k35.secret);
  });

  it('signs with the new committee under the original key', async () => {
    signAndVerify(await withAux(next), [1, 2], k35.publicKey, 'shrink-new');
  }, 120_000);

  it("a leaving party's old share is useless with the new shares", async () => {
    const leaving = [k35.shares[1]?.core as CoreKeyShare, k35.shares[3]?.core as CoreKeyShare];
    // At every evaluation point it could claim, with any new share (and with both leavers together):
    for (const old of leaving) {
      for (const s of next) {
        for (const claim of [1n, 2n, 3n, 4n, 5n]) {
          if (claim === evaluationPoint(s.i)) continue;
          expect(secretOf([claim, evaluationPoint(s.i)], [old.x, s.x])).not.toBe(k35.secret);
        }
      }
    }
    expect(secretOfShares([...leaving, next[0] as CoreKeyShare])).not.toBe(k35.secret);
    // …and it can never enter a signing of the new epoch: in the new committee's key share it is refused.
    const [share] = await withAux(next);
    expect(() =>
      validateKeyShare(math, {
        ...(share as KeyShare),
        core: { ...(share as KeyShare).core, x: leaving[0]?.x as bigint },
      }),
    ).toThrow(expect.objectContaining({ code: 'ERR_KEY_SHARE_INVALID' }));
  });
});

// --- malicious dealers and receivers ----------------------------------------------------------------

function blamed(r: SimulationResult<unknown>): number[][] {
  return r.errors.map((e) => (e as MpcError | undefined)?.blame.map((b) => b.party) ?? []);
}

const GROW: [(number | null)[], (number | null)[], number] = [[0, 1, 2, null], [0, 1, 2, 3], 2];

describe('reshare: malicious parties', () => {
  it('a dealer that shifts its dealt constant (consistent shares, wrong λ_d·X_d) is named by everyone', () => {
    // Party 1 deals g(z) + 1: every Feldman check passes, but S_{1,0} ≠ λ_1·X_1 (it would move the key).
    const tamper = new Map<number, Tamper>([
      [
        1,
        (m) => {
          if (m.round === 'r1') {
            const b = m.body as { S: Point[] };
            return { ...b, S: [(b.S[0] as Point).add(mulBase(1n)), ...b.S.slice(1)] };
          }
          if (m.round === 'r1p') {
            const b = m.body as { sigma: bigint | null };
            return b.sigma === null ? b : { sigma: mod(b.sigma + 1n, CURVE_ORDER) };
          }
          return m.body;
        },
      ],
    ]);
    const r = run('shift', inputsFor(k23, ...GROW), tamper);
    expect(r.outputs.every((o) => o === undefined)).toBe(true);
    expect(blamed(r)).toEqual([[1], [1], [1], [1]]);
    expect((r.errors[0] as MpcError).blame[0]?.reason).toMatch(/constant term/);
  });

  it('a share off the dealer’s polynomial, to a joining party, is blamed on the dealer by everyone', () => {
    const tamper = new Map<number, Tamper>([
      [
        2,
        (m) =>
          m.round === 'r1p' && m.recipient === 3
            ? { sigma: mod((m.body as { sigma: bigint }).sigma + 5n, CURVE_ORDER) }
            : m.body,
      ],
    ]);
    const r = run('bad-share', inputsFor(k23, ...GROW), tamper);
    expect(blamed(r)).toEqual([[2], [2], [2], [2]]);
  });

  it('a joiner that sends "shares" although it deals nothing, and a dealer that sends one to a leaver, are blamed', () => {
    const joiner = new Map<number, Tamper>([
      [3, (m) => (m.round === 'r1p' && m.recipient === 0 ? { sigma: 1n } : m.body)],
    ]);
    expect(blamed(run('joiner-share', inputsFor(k23, ...GROW), joiner))[0]).toEqual([3]);
    // 2-of-3 → 2-of-2 where party 2 leaves: party 0 sends it a share it must not get.
    const leaverInputs = inputsFor(k23, [0, 1, 2], [0, 1, null], 2);
    const leak = new Map<number, Tamper>([
      [0, (m) => (m.round === 'r1p' && m.recipient === 2 ? { sigma: 1n } : m.body)],
    ]);
    expect(blamed(run('leaver-share', leaverInputs, leak))[2]).toEqual([0]);
  });

  it('a party with another committee or threshold in mind is named before any share is used', () => {
    const inputs = inputsFor(k23, ...GROW);
    const other = { ...(inputs[3] as ReshareInput), roles: { ...(inputs[3] as ReshareInput).roles, newT: 3 } };
    const r = run('record', [...inputs.slice(0, 3), other]);
    expect(blamed(r)[0]).toEqual([3]);
    expect((r.errors[0] as MpcError).blame[0]?.reason).toMatch(/key record differs/);
  });

  it('refuses bad roles and records at init', () => {
    const ctx = { self: 3, n: 4, sid: sid('x'), math, rng: new TestDrbg('x') };
    const [, , , joiner] = inputsFor(k23, ...GROW) as [ReshareInput, ReshareInput, ReshareInput, ReshareInput];
    const bad: ReshareInput[] = [
      { ...joiner, roles: { ...joiner.roles, oldIndex: [0, null, null, null] } }, // fewer dealers than t
      { ...joiner, roles: { ...joiner.roles, newIndex: [0, 1, 2, 5] } }, // new indices not 0..n′−1
      { ...joiner, roles: { ...joiner.roles, newIndex: [0, 1, 1, 3] } }, // repeated
      { ...joiner, roles: { ...joiner.roles, newT: 5 } },
      { ...joiner, key: { ...joiner.key, publicKey: mulBase(7n) } }, // old public shares do not give Y
      { ...joiner, share: k23.shares[0]?.core as CoreKeyShare }, // a joiner holds no share
    ];
    for (const input of bad) {
      expect(() => reshare.init(input, ctx)).toThrow(expect.objectContaining({ code: 'ERR_PROTOCOL_INPUT' }));
    }
  });
});

describe('the key record handed to joining parties (encodeKeyRecord / decodeKeyRecord)', () => {
  it('round-trips exactly; truncated, padded, off-curve or out-of-range records are refused', () => {
    const record = keyRecordOf(k35.shares[2]?.core as CoreKeyShare);
    const bytes = encodeKeyRecord(record);
    const back = decodeKeyRecord(bytes);
    expect(encodeKeyRecord(back)).toEqual(bytes);
    expect(back.publicKey.equals(record.publicKey)).toBe(true);
    expect([back.t, back.n, back.epoch, back.additive]).toEqual([3, 5, 0, false]);
    expect(back.publicShares.map((X) => X.toHex())).toEqual(record.publicShares.map((X) => X.toHex()));
    const code = (b: Uint8Array) => {
      try {
        decodeKeyRecord(b);
        return 'accepted';
      } catch (e) {
        return (e as MpcError).code;
      }
    };
    expect(code(bytes.subarray(0, bytes.length - 1))).toMatch(/^ERR_WIRE_/);
    expect(code(Uint8Array.from([...bytes, 0]))).toMatch(/^ERR_WIRE_/);
    // the first public share's x coordinate off the curve (0x02 ‖ 32 × 0x00 is not a point)
    const offCurve = Uint8Array.from(bytes);
    const at = bytes.length - 5 * 33;
    offCurve.set(new Uint8Array(32), at + 1);
    expect(code(offCurve)).toMatch(/^ERR_(WIRE|CURVE)_/);
    // t > n
    const badT = encodeKeyRecord({ ...record, t: 6 });
    expect(code(badT)).toBe('ERR_PROTOCOL_INPUT');
  });
});
