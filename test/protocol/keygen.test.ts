import { secp256k1 } from '@noble/curves/secp256k1.js';
import { describe, expect, it } from 'vitest';
import { MpcError } from '../../src/errors/index.js';
import { mod, toBytesBE } from '../../src/math/bits.js';
import { CURVE_ORDER, mulBase, Point } from '../../src/primitives/curve.js';
import type { Envelope } from '../../src/protocol/envelope.js';
import type { CoreKeyShare } from '../../src/protocol/key-share.js';
import {
  decodeCoreKeyShare,
  encodeCoreKeyShare,
  type KeygenDecommitment,
  type KeygenInput,
  type KeygenRound3Msg,
  type KeygenShareMsg,
  type KeygenState,
  keygen,
  keygenCommitment,
  validateCoreKeyShare,
} from '../../src/protocol/keygen.js';
import { PartyRunner } from '../../src/protocol/runner.js';
import { ed25519Authenticator, simulate, simulationKeys, type Tamper } from '../../src/protocol/simulation.js';
import { ALL, type ProtocolDef, type RoundCtx, type RoundDef } from '../../src/protocol/types.js';
import { TestDrbg } from '../helpers/drbg.js';
import { math, sid } from '../helpers/keys.js';

const q = CURVE_ORDER;
const hex = (P: Point) => Buffer.from(P.toBytes(true)).toString('hex');
const seedOf = (tag: string, i: number) => `keygen-${tag}-${i}`;
const ctxOf = (tag: string, i: number, n: number): RoundCtx => ({
  self: i,
  n,
  sid: sid(`keygen-${tag}`),
  math,
  rng: new TestDrbg(seedOf(tag, i)),
});

function run(tag: string, n: number, input: KeygenInput, tamper?: ReadonlyMap<number, Tamper>) {
  return simulate(
    keygen,
    Array.from({ length: n }, () => input),
    {
      sid: sid(`keygen-${tag}`),
      math,
      rngs: Array.from({ length: n }, (_, i) => new TestDrbg(seedOf(tag, i))),
      ...(tamper === undefined ? {} : { tamper }),
    },
  );
}

function round<B>(name: string): RoundDef<B> {
  return keygen.rounds.find((r) => r.name === name) as RoundDef<B>;
}

/** Test-only: y = Σ_{j∈set} λ_j·x_j mod q at 0 for the evaluation points j + 1. */
function interpolateSecret(shares: readonly CoreKeyShare[]): bigint {
  const pts = shares.map((s) => BigInt(s.i) + 1n);
  return shares.reduce((acc, s, k) => {
    let num = 1n;
    let den = 1n;
    pts.forEach((pm, m) => {
      if (m === k) return;
      num = mod(num * pm, q);
      den = mod(den * (pm - (pts[k] as bigint)), q);
    });
    return mod(acc + s.x * num * Point.Fn.inv(den), q);
  }, 0n);
}

function subsets<T>(xs: readonly T[], k: number): T[][] {
  if (k === 0) return [[]];
  if (xs.length < k) return [];
  const [head, ...rest] = xs as [T, ...T[]];
  return [...subsets(rest, k - 1).map((s) => [head, ...s]), ...subsets(rest, k)];
}

/** y·G computed by @noble/curves directly (an independent path from the protocol's mulBase). */
const nobleY = (y: bigint) => Buffer.from(secp256k1.getPublicKey(toBytesBE(y, 32), true)).toString('hex');

describe('keygen (honest parties)', () => {
  const grid: Array<{ t: number; n: number; additive: boolean }> = [
    { t: 2, n: 3, additive: false },
    { t: 3, n: 5, additive: false },
    { t: 3, n: 3, additive: false },
    { t: 3, n: 3, additive: true },
  ];

  for (const { t, n, additive } of grid) {
    it(`${t}-of-${n}${additive ? ' additive' : ''}: every party outputs the same Y, public shares and chain code`, () => {
      const r = run(`ok-${t}-${n}-${additive}`, n, { t, additive });
      expect(r.errors).toEqual(Array(n).fill(undefined));
      const shares = r.outputs as CoreKeyShare[];
      expect(shares.every((s) => s !== undefined)).toBe(true);
      const first = shares[0] as CoreKeyShare;
      for (const s of shares) {
        expect(validateCoreKeyShare(s)).toBe(s);
        expect(s.t).toBe(t);
        expect(s.n).toBe(n);
        expect(s.additive).toBe(additive);
        expect(hex(s.publicKey)).toBe(hex(first.publicKey));
        expect(s.publicShares.map(hex)).toEqual(first.publicShares.map(hex));
        expect(Buffer.from(s.chainCode).toString('hex')).toBe(Buffer.from(first.chainCode).toString('hex'));
        // x_i·G = X_i, checked with noble directly
        expect(nobleY(s.x)).toBe(hex(s.publicShares[s.i] as Point));
      }
      expect(shares.map((s) => s.i)).toEqual([...Array(n).keys()]);
      expect(first.chainCode).toHaveLength(32);

      if (additive) {
        // n-of-n additive: y = Σ x_i
        const y = shares.reduce((a, s) => mod(a + s.x, q), 0n);
        expect(nobleY(y)).toBe(hex(first.publicKey));
      } else {
        // Any t shares interpolate to y with y·G = Y; t − 1 shares do not.
        for (const set of subsets(shares, t)) expect(nobleY(interpolateSecret(set))).toBe(hex(first.publicKey));
        if (t > 1) expect(nobleY(interpolateSecret(shares.slice(0, t - 1)))).not.toBe(hex(first.publicKey));
      }
    });
  }

  it('is reproducible for fixed seeds and differs between sessions', () => {
    const a = run('repro', 3, { t: 2 });
    const b = run('repro', 3, { t: 2 });
    const c = run('repro-other', 3, { t: 2 });
    expect(hex((a.outputs[0] as CoreKeyShare).publicKey)).toBe(hex((b.outputs[0] as CoreKeyShare).publicKey));
    expect(hex((a.outputs[0] as CoreKeyShare).publicKey)).not.toBe(hex((c.outputs[0] as CoreKeyShare).publicKey));
  });

  it('refuses invalid inputs with ERR_PROTOCOL_INPUT', () => {
    const bad: Array<[KeygenInput, number]> = [
      [{ t: 0 }, 3],
      [{ t: 4 }, 3],
      [{ t: 1.5 }, 3],
      [{ t: 2, additive: true }, 3],
      [{ t: 1 }, 1],
    ];
    for (const [input, n] of bad) {
      expect(() => keygen.init(input, ctxOf('input', 0, n))).toThrow(
        expect.objectContaining({ code: 'ERR_PROTOCOL_INPUT' }),
      );
    }
    expect(() => keygen.init({ t: 3, additive: true }, ctxOf('input', 0, 3))).not.toThrow();
  });

  it('throws ERR_ROUND_ORDER when a round is processed out of order', () => {
    const { state } = keygen.init({ t: 2 }, ctxOf('order', 0, 3));
    expect(() => keygen.process('r3', state, new Map(), ctxOf('order', 0, 3))).toThrow(
      expect.objectContaining({ code: 'ERR_ROUND_ORDER' }),
    );
  });
});

describe('keygen message decoders', () => {
  const ctx = ctxOf('decoders', 0, 4);

  it('rejects a share scalar equal to 0 or ≥ q (A16 analogue) and an unknown share kind', () => {
    const r2p = round<KeygenShareMsg>('r2p');
    const ok = r2p.encode({ sigma: 5n });
    expect(r2p.decode(ok, 1, ctx)).toEqual({ sigma: 5n });
    const withScalar = (x: bigint) => Uint8Array.from([...ok.subarray(0, 3), ...toBytesBE(x, 32)]);
    expect(() => r2p.decode(withScalar(0n), 1, ctx)).toThrow(expect.objectContaining({ code: 'ERR_WIRE_TYPE' }));
    expect(() => r2p.decode(withScalar(q), 1, ctx)).toThrow(
      expect.objectContaining({ code: 'ERR_WIRE_NON_CANONICAL' }),
    );
    expect(() => r2p.decode(withScalar(q - 1n), 1, ctx)).not.toThrow();
    const badKind = Uint8Array.from(ok);
    badKind[2] = 7;
    expect(() => r2p.decode(badKind, 1, ctx)).toThrow(expect.objectContaining({ code: 'ERR_WIRE_BAD_TAG' }));
    expect(() => r2p.decode(Uint8Array.from([...ok, 0]), 1, ctx)).toThrow(MpcError);
    expect(() => r2p.decode(ok.subarray(0, ok.length - 1), 1, ctx)).toThrow(MpcError);
  });

  it('rejects a VSS commitment vector longer than n or empty at decode (A17)', () => {
    const r2 = round<KeygenDecommitment>('r2');
    const { state } = keygen.init({ t: 3 }, ctxOf('decoders', 1, 4));
    const d = state.mine;
    expect(r2.decode(r2.encode(d), 1, ctx).S).toHaveLength(3);
    const P = mulBase(7n);
    expect(() => r2.decode(r2.encode({ ...d, S: [P, P, P, P, P] }), 1, ctx)).toThrow(
      expect.objectContaining({ code: 'ERR_WIRE_BAD_LENGTH' }),
    );
    expect(() => r2.decode(r2.encode({ ...d, S: [] }), 1, ctx)).toThrow(
      expect.objectContaining({ code: 'ERR_WIRE_BAD_LENGTH' }),
    );
  });

  it('rejects malformed complaints: empty, self-accusing, out of range, unsorted', () => {
    const r3 = round<KeygenRound3Msg>('r3');
    const enc = (accused: number[]) => r3.encode({ kind: 'complaint', accused });
    expect(r3.decode(enc([0, 2]), 1, ctx)).toEqual({ kind: 'complaint', accused: [0, 2] });
    for (const accused of [[], [1], [4], [2, 0], [0, 0]]) {
      expect(() => r3.decode(enc(accused), 1, ctx)).toThrow(MpcError);
    }
    expect(() =>
      r3.decode(Uint8Array.from([...r3.encode({ kind: 'proof', z: 0n }).subarray(0, 3), ...toBytesBE(q, 32)]), 1, ctx),
    ).toThrow(expect.objectContaining({ code: 'ERR_WIRE_NON_CANONICAL' }));
  });
});

describe('core key share validation and storage codec', () => {
  const shares = run('codec', 3, { t: 2 }).outputs as CoreKeyShare[];
  const additive = run('codec-add', 3, { t: 3, additive: true }).outputs as CoreKeyShare[];
  const share = shares[1] as CoreKeyShare;
  const secretHex = share.x.toString(16);

  it('round-trips a share through the versioned binary encoding', () => {
    for (const s of [share, additive[2] as CoreKeyShare]) {
      const bytes = encodeCoreKeyShare(s);
      const back = decodeCoreKeyShare(bytes);
      expect(back.i).toBe(s.i);
      expect(back.n).toBe(s.n);
      expect(back.t).toBe(s.t);
      expect(back.x).toBe(s.x);
      expect(back.additive).toBe(s.additive);
      expect(hex(back.publicKey)).toBe(hex(s.publicKey));
      expect(back.publicShares.map(hex)).toEqual(s.publicShares.map(hex));
      expect(back.chainCode).toEqual(s.chainCode);
      expect(encodeCoreKeyShare(back)).toEqual(bytes);
    }
  });

  it('rejects truncated, extended, re-versioned or altered encodings with ERR_KEY_SHARE_INVALID', () => {
    const bytes = encodeCoreKeyShare(share);
    const variants: Uint8Array[] = [
      bytes.subarray(0, bytes.length - 1),
      Uint8Array.from([...bytes, 0]),
      Uint8Array.from(bytes).fill(2, 1, 2), // version 2
      Uint8Array.from(bytes).fill(9, 14, 15), // additive flag 9
      Uint8Array.from([...bytes.subarray(0, 15), ...toBytesBE(q, 32), ...bytes.subarray(47)]), // x = q
      Uint8Array.from(bytes).fill(0, 79, 112), // X_0 = 33 zero bytes
    ];
    for (const v of variants) {
      let err: unknown;
      try {
        decodeCoreKeyShare(v);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(MpcError);
      expect((err as MpcError).code).toBe('ERR_KEY_SHARE_INVALID');
      expect((err as MpcError).message).not.toContain(secretHex);
    }
  });

  it('rejects a tampered share: wrong x, moved public share, wrong Y, bad chain code, bad indices, wrong mode', () => {
    const other = shares[2] as CoreKeyShare;
    const tampered: CoreKeyShare[] = [
      { ...share, x: mod(share.x + 1n, q) },
      { ...share, x: 0n },
      {
        ...share,
        publicShares: [share.publicShares[0] as Point, share.publicShares[2] as Point, share.publicShares[1] as Point],
      },
      { ...share, publicShares: share.publicShares.slice(0, 2) },
      { ...share, publicKey: share.publicKey.add(Point.BASE) },
      { ...share, chainCode: share.chainCode.subarray(0, 31) },
      { ...share, i: 3 },
      { ...share, i: 2 },
      { ...share, t: 0 },
      { ...share, t: 4 },
      { ...share, additive: true },
      { ...(additive[0] as CoreKeyShare), additive: false },
      { ...share, publicShares: [...share.publicShares.slice(0, 2), share.publicShares[2]?.add(Point.BASE) as Point] },
      { ...share, x: other.x },
    ];
    for (const s of tampered) {
      let err: unknown;
      try {
        validateCoreKeyShare(s);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(MpcError);
      expect((err as MpcError).code).toBe('ERR_KEY_SHARE_INVALID');
      expect((err as MpcError).message).not.toContain(secretHex);
      expect(() => encodeCoreKeyShare(s)).toThrow(expect.objectContaining({ code: 'ERR_KEY_SHARE_INVALID' }));
    }
  });
});

// --- malicious parties ------------------------------------------------------------------------

const N = 4;
const T = 3;
const CULPRIT = 2;
const HONEST = [0, 1, 3];

function attack(tag: string, tamper: Tamper) {
  return run(tag, N, { t: T }, new Map([[CULPRIT, tamper]]));
}

/** The honest parties' secrets in run `tag` (test-only, recomputed from their seeds). */
function honestSecrets(tag: string): bigint[] {
  const states = Array.from({ length: N }, (_, i) => keygen.init({ t: T }, ctxOf(tag, i, N)).state);
  const f = (poly: readonly bigint[], z: bigint) => poly.reduceRight((acc, a) => mod(acc * z + a, q), 0n);
  const out: bigint[] = [];
  for (const h of HONEST) {
    const st = states[h] as (typeof states)[number];
    out.push(...st.poly, st.alpha);
    for (let j = 0; j < N; j++) out.push(f(st.poly, BigInt(j + 1)));
    out.push(states.reduce((acc, s) => mod(acc + f(s.poly, BigInt(h + 1)), q), 0n)); // x_h
  }
  return out;
}

function errorText(e: unknown): string {
  if (!(e instanceof Error)) return '';
  const parts = [e.message];
  if (e instanceof MpcError) {
    parts.push(JSON.stringify(e.details));
    for (const b of e.blame) parts.push(b.reason);
  }
  parts.push(errorText(e.cause));
  return parts.join('\n').toLowerCase();
}

function expectNoSecrets(tag: string, errors: ReadonlyArray<MpcError | undefined>): void {
  const text = errors.map(errorText).join('\n');
  for (const s of honestSecrets(tag)) {
    expect(text).not.toContain(s.toString(16));
    expect(text).not.toContain(s.toString(16).padStart(64, '0'));
    expect(text).not.toContain(s.toString(10));
  }
}

/** Every honest party aborts with ERR_PROTOCOL_ABORT blaming exactly the culprit; nobody outputs a share. */
function expectCulpritBlamed(tag: string, r: ReturnType<typeof attack>, reason: RegExp): void {
  for (const h of HONEST) {
    expect(r.outputs[h]).toBeUndefined();
    const e = r.errors[h];
    expect(e?.code).toBe('ERR_PROTOCOL_ABORT');
    expect(e?.details.stalled).toBeUndefined();
    expect(e?.blame.map((b) => b.party)).toEqual([CULPRIT]);
    expect(e?.blame[0]?.reason).toMatch(reason);
  }
  expectNoSecrets(tag, r.errors);
}

/**
 * Keygen where party 2 runs modified code: it commits in r1 to `change(decommitment)` and opens that
 * in r2, consistently towards everyone (so the echo round agrees and the decommitment opens: only the
 * check under test can catch it). Other parties run the honest code.
 */
function culpritCommitsTo(
  change: (d: KeygenDecommitment) => KeygenDecommitment,
  commit: (d: KeygenDecommitment, ctx: RoundCtx) => Uint8Array = (d, ctx) =>
    keygenCommitment({ sid: ctx.sid, n: ctx.n, i: ctx.self, t: T, additive: false }, d),
): ProtocolDef<KeygenInput, KeygenState, CoreKeyShare> {
  return {
    ...keygen,
    init(input, ctx) {
      const honest = keygen.init(input, ctx);
      if (ctx.self !== CULPRIT) return honest;
      const mine = change(honest.state.mine);
      return { state: { ...honest.state, mine }, outbox: [{ round: 'r1', to: ALL, body: { V: commit(mine, ctx) } }] };
    },
  };
}

function runDef(
  tag: string,
  def: ProtocolDef<KeygenInput, KeygenState, CoreKeyShare>,
  rngSeed = (i: number) => seedOf(tag, i),
) {
  return simulate(
    def,
    Array.from({ length: N }, () => ({ t: T })),
    { sid: sid(`keygen-${tag}`), math, rngs: Array.from({ length: N }, (_, i) => new TestDrbg(rngSeed(i))) },
  );
}

/** Bytes of `encoded` with `len` bytes at `offset` replaced. */
function patch(encoded: Uint8Array, offset: number, bytes: Uint8Array): Uint8Array {
  const out = Uint8Array.from(encoded);
  out.set(bytes, offset);
  return out;
}

/** Offsets in the r2 encoding: tag, version, rid (48), count (4), S (33 each), A (33), c, u. */
const S0_OFFSET = 2 + 48 + 4;
const A_OFFSET = S0_OFFSET + 33 * T;

/** A 33-byte compressed encoding whose x has no point on the curve. */
function offCurvePoint(): Uint8Array {
  for (let x = 1n; ; x++) {
    const b = Uint8Array.from([2, ...toBytesBE(x, 32)]);
    try {
      Point.fromBytes(b).assertValidity();
    } catch {
      return b;
    }
  }
}

describe('keygen (a malicious party 2 of 4, t = 3)', () => {
  it("knows the honest parties' real secrets for the leak check (the check is not vacuous)", () => {
    const tag = 'leak-check';
    const shares = run(tag, N, { t: T }).outputs as CoreKeyShare[];
    const secrets = honestSecrets(tag);
    for (const h of HONEST) expect(secrets).toContain((shares[h] as CoreKeyShare).x);
  });

  it('aborts with blame when party 2 was configured with a different threshold', () => {
    const tag = 'other-t';
    const r = simulate(
      keygen,
      Array.from({ length: N }, (_, i) => ({ t: i === CULPRIT ? T - 1 : T })),
      { sid: sid(`keygen-${tag}`), math, rngs: Array.from({ length: N }, (_, i) => new TestDrbg(seedOf(tag, i))) },
    );
    expectCulpritBlamed(tag, r, /InvalidDecommitment.*InvalidDataSize/);
  });

  it('aborts with blame when party 2 opens a different decommitment than it committed to', () => {
    const tag = 'bad-decommit';
    const r = attack(tag, ({ round: rn, body }) => {
      if (rn !== 'r2') return body;
      const d = body as KeygenDecommitment;
      const u = Uint8Array.from(d.u);
      u[0] = (u[0] as number) ^ 1;
      return { ...d, u };
    });
    expectCulpritBlamed(tag, r, /InvalidDecommitment/);
  });

  it('aborts with blame when party 2 sends a VSS commitment longer than t (t + 1 entries)', () => {
    const tag = 'vss-long';
    const r = runDef(
      tag,
      culpritCommitsTo((d) => ({ ...d, S: [...d.S, mulBase(12345n)] })),
    );
    expectCulpritBlamed(tag, r, /4 entries, expected exactly 3 \(InvalidDataSize\)/);
    expect(r.errors[0]?.blame[0]?.reason).not.toMatch(/InvalidDecommitment/);
  });

  it('aborts with blame when party 2 sends a VSS commitment shorter than t (t − 1 entries)', () => {
    const tag = 'vss-short';
    const r = runDef(
      tag,
      culpritCommitsTo((d) => ({ ...d, S: d.S.slice(0, T - 1) })),
    );
    expectCulpritBlamed(tag, r, /2 entries, expected exactly 3 \(InvalidDataSize\)/);
    expect(r.errors[0]?.blame[0]?.reason).not.toMatch(/InvalidDecommitment/);
  });

  it('aborts with blame when party 2 sends a VSS commitment longer than n (rejected at decode)', () => {
    const tag = 'vss-too-long';
    const r = attack(tag, ({ round: rn, body }) => {
      if (rn !== 'r2') return body;
      const d = body as KeygenDecommitment;
      return { ...d, S: [...d.S, mulBase(5n), mulBase(6n)] };
    });
    expectCulpritBlamed(tag, r, /malformed r2 message \(ERR_WIRE_BAD_LENGTH\)/);
  });

  it('aborts with blame when party 2 sends a bad Feldman share to one recipient (the recipient blames the dealer)', () => {
    const tag = 'feldman-one';
    const r = attack(tag, ({ round: rn, recipient, body }) => {
      if (rn !== 'r2p' || recipient !== 0) return body;
      const m = body as KeygenShareMsg;
      return { sigma: mod((m.sigma as bigint) + 1n, q) };
    });
    // The recipient holds the dealer's signed share: it blames the dealer (PROTOCOL.md §3.2 caveat).
    expect(r.errors[0]?.code).toBe('ERR_PROTOCOL_ABORT');
    expect(r.errors[0]?.blame.map((b) => b.party)).toEqual([CULPRIT]);
    expect(r.errors[0]?.blame[0]?.reason).toMatch(/FeldmanVerificationFailed/);
    // The other honest parties see the recipient's complaint, which proves nothing (the recipient
    // could be framing the dealer), so on its own it only makes them abort without blame; the
    // recipient's abort notice hands them the dealer's signed share, which they re-check against the
    // dealer's Feldman commitments (before or after that abort): they end with the recipient's very
    // verdict, message id included.
    for (const h of [1, 3]) {
      const e = r.errors[h];
      expect(e?.code).toBe('ERR_PROTOCOL_ABORT');
      expect(e?.details.stalled).toBeUndefined();
      expect(e?.blame).toEqual(r.errors[0]?.blame);
      expect(e?.details.round).toBe(r.errors[0]?.details.round);
    }
    expect(r.outputs.every((o) => o === undefined)).toBe(true);
    expectNoSecrets(tag, r.errors);
  });

  it('aborts with blame when party 2 sends bad Feldman shares to every recipient', () => {
    const tag = 'feldman-all';
    const r = attack(tag, ({ round: rn, body }) => {
      if (rn !== 'r2p') return body;
      return { sigma: mod(((body as KeygenShareMsg).sigma as bigint) + 1n, q) };
    });
    expectCulpritBlamed(tag, r, /FeldmanVerificationFailed/);
  });

  it('aborts with blame when party 2 sends no share at all in the threshold variant', () => {
    const tag = 'no-share';
    const r = attack(tag, ({ round: rn, body }) => (rn === 'r2p' ? { sigma: null } : body));
    expectCulpritBlamed(tag, r, /FeldmanVerificationFailed/);
  });

  it('aborts with blame when party 2 sends an invalid Schnorr proof', () => {
    const tag = 'bad-sch';
    const r = attack(tag, ({ round: rn, body }) => {
      if (rn !== 'r3') return body;
      const m = body as KeygenRound3Msg;
      return m.kind === 'proof' ? { kind: 'proof', z: mod(m.z + 1n, q) } : m;
    });
    expectCulpritBlamed(
      tag,
      r,
      /invalid Schnorr proof \(InvalidSchnorrProof\) \(ERR_ZK_PROOF_INVALID: curve equation\)/,
    );
  });

  it('aborts with blame when party 2 sends the identity as its Schnorr commitment (A14)', () => {
    const tag = 'identity-A';
    const r = attack(tag, ({ round: rn, body, encoded }) =>
      rn === 'r2' ? patch(encoded, A_OFFSET, new Uint8Array(33)) : body,
    );
    expectCulpritBlamed(tag, r, /malformed r2 message \(ERR_WIRE_POINT_INVALID\)/);
  });

  it('aborts with blame when party 2 sends an off-curve point in its VSS commitment (A14)', () => {
    const tag = 'off-curve-S';
    const bad = offCurvePoint();
    const r = attack(tag, ({ round: rn, body, encoded }) => (rn === 'r2' ? patch(encoded, S0_OFFSET, bad) : body));
    expectCulpritBlamed(tag, r, /malformed r2 message \(ERR_WIRE_POINT_INVALID\)/);
  });

  it('aborts with blame when party 2 sends a share that is zero or not reduced mod q', () => {
    for (const [tag, sigma] of [
      ['share-zero', 0n],
      ['share-q', q],
    ] as const) {
      const r = attack(tag, ({ round: rn, body, encoded }) =>
        rn === 'r2p' ? patch(encoded, 3, toBytesBE(sigma, 32)) : body,
      );
      expectCulpritBlamed(tag, r, /malformed r2p message/);
    }
  });

  it('aborts with blame when party 2 equivocates in round 1 (different commitments to different peers)', () => {
    const tag = 'equivocate';
    const r = attack(tag, ({ round: rn, recipient, body }) => {
      if (rn !== 'r1' || recipient !== 3) return body;
      const V = Uint8Array.from((body as { V: Uint8Array }).V);
      V[0] = (V[0] as number) ^ 0xff;
      return { V };
    });
    expectCulpritBlamed(tag, r, /equivocation in r1/);
    expect(r.errors[0]?.blame[0]?.msgIds).toHaveLength(2);
  });

  it('aborts with blame when party 2 replays its round-1 commitment from another session', () => {
    // Same seed for party 2 in both sessions, so its decommitment is identical: only the sid differs.
    const old = run('replay-a', N, { t: T });
    const oldV = round<{ V: Uint8Array }>('r1').decode(
      (old.traffic.find((e) => e.from === CULPRIT && e.round === 'r1') as Envelope).body,
      CULPRIT,
      ctxOf('replay-a', 0, N),
    );
    const tag = 'replay-b';
    const r = runDef(
      tag,
      culpritCommitsTo(
        (d) => d,
        () => oldV.V,
      ),
      (i) => seedOf(i === CULPRIT ? 'replay-a' : tag, i),
    );
    expectCulpritBlamed(tag, r, /InvalidDecommitment/);
  });

  it('refuses signed messages replayed from another session and still completes the session', () => {
    const old = run('net-replay-a', 3, { t: 2 });
    const tag = 'net-replay-b';
    const n = 3;
    const { secrets, publics } = simulationKeys(n, new Uint8Array(32).fill(7)); // the keys simulate() uses
    const runners = Array.from(
      { length: n },
      (_, i) => new PartyRunner(keygen, ctxOf(tag, i, n), ed25519Authenticator(secrets[i] as Uint8Array, publics)),
    );
    const queue: Array<{ env: Envelope; to: number }> = [];
    const post = (from: number, envs: readonly Envelope[]) => {
      for (const env of envs) {
        for (let to = 0; to < n; to++) if (to !== from && (env.to === ALL || env.to === to)) queue.push({ env, to });
      }
    };
    runners.forEach((rn, i) => {
      post(i, rn.start({ t: 2 }));
    });
    let refused = 0;
    let step = 0;
    while (queue.length > 0) {
      const { env, to } = queue.shift() as { env: Envelope; to: number };
      const runner = runners[to] as (typeof runners)[number];
      post(to, runner.receive(env));
      // Every few deliveries, replay every old envelope addressed to this party: each is refused.
      if (step++ % 5 === 0 && runner.status === 'running') {
        for (const oldEnv of old.traffic.filter((e) => e.from !== to && (e.to === ALL || e.to === to))) {
          expect(() => runner.receive(oldEnv)).toThrow(expect.objectContaining({ code: 'ERR_MSG_UNEXPECTED' }));
          refused++;
        }
      }
    }
    expect(refused).toBeGreaterThan(0);
    expect(runners.map((rn) => rn.status)).toEqual(['done', 'done', 'done']);
    const Y = runners.map((rn) => hex((rn.output as CoreKeyShare).publicKey));
    expect(new Set(Y).size).toBe(1);
  });
});
