import { beforeAll, describe, expect, it } from 'vitest';
import { MpcError } from '../../src/errors/index.js';
import { mod } from '../../src/math/bits.js';
import { CURVE_ORDER, G, Point } from '../../src/primitives/curve.js';
import type { KeyShare } from '../../src/protocol/key-share.js';
import { validateKeyShare } from '../../src/protocol/key-share-validate.js';
import { evaluationPoint, interpolatePoints, lagrangeCoefficient } from '../../src/protocol/lagrange.js';
import {
  type MsgR1,
  type MsgR1Enc,
  type MsgR2,
  type MsgR3,
  type Presignature,
  type PresignInput,
  type PresignState,
  presign,
} from '../../src/protocol/presign.js';
import { type SimulationResult, simulate, type Tamper } from '../../src/protocol/simulation.js';
import type { ProtocolDef } from '../../src/protocol/types.js';
import { type DealtKey, dealKeyShares } from '../helpers/dealer.js';
import { TestDrbg } from '../helpers/drbg.js';
import { math as native, sid } from '../helpers/keys.js';
import { memoMath } from '../helpers/memo-math.js';

const PATH = [0, 1, 7];

/**
 * The malicious-signer runs below share one sid and one set of DRBG seeds per key (label SHARED), so
 * up to the point the culprit deviates every party computes exactly what it computed in the previous
 * run with the same key, signers and path. `math` caches exponentiation results
 * (test/helpers/memo-math.ts, as aux-info.test.ts does): repeated work is looked up, the work after
 * the deviation is computed. Every run is its own simulation and every protocol check runs in each;
 * only the arithmetic is reused (CI time).
 */
const math = memoMath(native);
const SHARED = 'malicious';

let key35: DealtKey;
let key33: DealtKey;
let key23: DealtKey;

beforeAll(async () => {
  key35 = await dealKeyShares({ n: 5, t: 3, seed: 'presign-3of5' });
  key33 = await dealKeyShares({ n: 3, t: 3, additive: true, seed: 'presign-3of3' });
  key23 = await dealKeyShares({ n: 3, t: 2, seed: 'presign-2of3' });
});

function run(
  key: DealtKey,
  signers: number[],
  path: number[],
  label: string,
  tamper?: ReadonlyMap<number, Tamper>,
  def: ProtocolDef<PresignInput, PresignState, Presignature> = presign,
): SimulationResult<Presignature> {
  return simulate(
    def,
    signers.map((s) => ({ share: key.shares[s] as KeyShare, signers, path })),
    {
      sid: sid(`presign-test-${label}`),
      math,
      rngs: signers.map((_, i) => new TestDrbg(`presign-${label}-${i}`)),
      ...(tamper === undefined ? {} : { tamper }),
    },
  );
}

/** Every string an abort exposes: message, blame reasons, details. */
function exposed(e: MpcError): string {
  return [e.message, ...e.blame.map((b) => b.reason), JSON.stringify(e.details)].join('\n');
}

/** No secret in any error: no dealt share (decimal or hex) and no long number at all. */
function expectNoSecrets(e: MpcError, key: DealtKey): void {
  const text = exposed(e);
  for (const x of [key.secret, ...key.shares.map((s) => s.core.x)]) {
    expect(text).not.toContain(x.toString());
    expect(text.toLowerCase()).not.toContain(x.toString(16));
  }
  expect(text).not.toMatch(/[0-9a-f]{24,}/i);
  expect(text).not.toMatch(/\d{16,}/);
}

/**
 * The honest parties all abort, naming exactly `culprit` (for `reason`, or the reason expected at
 * each honest party); nobody honest outputs a presignature, and no error exposes a secret.
 */
function expectBlamed(
  r: SimulationResult<Presignature>,
  culprit: number,
  reason: RegExp | Readonly<Record<number, RegExp>>,
  key: DealtKey,
): void {
  for (let i = 0; i < r.errors.length; i++) {
    if (i === culprit) continue;
    const e = r.errors[i];
    expect(e, `party ${i} must abort`).toBeInstanceOf(MpcError);
    expect(e?.code).toBe('ERR_PROTOCOL_ABORT');
    expect(e?.blame.map((b) => b.party)).toEqual([culprit]);
    expect(e?.blame[0]?.reason).toMatch(reason instanceof RegExp ? reason : (reason[i] as RegExp));
    expect(r.outputs[i]).toBeUndefined();
    expectNoSecrets(e as MpcError, key);
  }
}

// The successful runs (2-of-3 every pair, 3-of-5 two sets, 3-of-3; with and without a path) and their
// output checks (same R at every signer, R = k⁻¹·G, Σ χ_i = k·(x + δ_HD)) are in sign.test.ts, which
// needs those presignatures anyway: each 3-party run at 3072 bits costs seconds.

describe('input mapping and key-share validation (PROTOCOL.md §5.0, §3.2)', () => {
  it('weights public shares so that every t-subset sums to Y', () => {
    for (const subset of [
      [0, 1, 2],
      [1, 3, 4],
      [0, 2, 4],
    ]) {
      const pts = subset.map(evaluationPoint);
      const sum = subset.reduce(
        (acc, s, j) => acc.add((key35.publicShares[s] as Point).multiply(lagrangeCoefficient(pts, j))),
        Point.ZERO,
      );
      expect(sum.equals(key35.publicKey)).toBe(true);
      expect(
        interpolatePoints(
          pts,
          subset.map((s) => key35.publicShares[s] as Point),
        ).equals(key35.publicKey),
      ).toBe(true);
    }
    expect(() => lagrangeCoefficient([1n, 1n], 0)).toThrow(/distinct/);
  });

  it('accepts dealt shares and rejects each broken invariant with ERR_KEY_SHARE_INVALID', () => {
    for (const s of [...key35.shares, ...key33.shares]) expect(validateKeyShare(math, s)).toBe(s);
    const base = key35.shares[1] as KeyShare;
    const other = key35.shares[2] as KeyShare;
    const withCore = (c: Partial<KeyShare['core']>): KeyShare => ({ ...base, core: { ...base.core, ...c } });
    const withAux = (a: Partial<KeyShare['aux']>): KeyShare => ({ ...base, aux: { ...base.aux, ...a } });
    const parties = base.aux.parties;
    const cases: Array<[string, KeyShare, RegExp]> = [
      ['x does not match X_i', withCore({ x: base.core.x + 1n }), /x·G/],
      ['x = 0', withCore({ x: 0n }), /x must be/],
      ['index out of range', withCore({ i: 5 }), /i must be/],
      ['t > n', withCore({ t: 6 }), /t must be/],
      ['additive with t < n', withCore({ additive: true }), /additive share needs t = n/],
      ['too few public shares', withCore({ publicShares: base.core.publicShares.slice(0, 4) }), /n public shares/],
      [
        'public share off the polynomial',
        withCore({ publicShares: base.core.publicShares.map((X, j) => (j === 4 ? X.add(G) : X)) }),
        /public share 4 is not on the sharing polynomial/,
      ],
      ['wrong public key', withCore({ publicKey: base.core.publicKey.add(G) }), /interpolate/],
      ['identity public key', withCore({ publicKey: Point.ZERO }), /public key/],
      ['short chain code', withCore({ chainCode: new Uint8Array(31) }), /chain code/],
      ['aux of another party', withAux({ i: 2 }), /another party index/],
      ['own primes of another party', withAux({ p: other.aux.p, q: other.aux.q }), /own primes/],
      [
        'small modulus',
        withAux({ parties: parties.map((p, j) => (j === 3 ? { ...p, N: (p.N >> 8n) | 1n } : p)) }),
        /bits/,
      ],
      ['even modulus', withAux({ parties: parties.map((p, j) => (j === 3 ? { ...p, N: p.N + 1n } : p)) }), /odd/],
      [
        'duplicated modulus',
        withAux({ parties: parties.map((p, j) => (j === 3 ? (parties[4] as (typeof parties)[number]) : p)) }),
        /share a factor/,
      ],
      [
        'modulus sharing a prime with another party',
        withAux({ parties: parties.map((p, j) => (j === 3 ? { N: other.aux.p * base.aux.q, s: 4n, t: 9n } : p)) }),
        /moduli of parties 1 and 3 share a factor/,
      ],
      [
        's = t',
        withAux({ parties: parties.map((p, j) => (j === 0 ? { ...p, s: p.t } : p)) }),
        /ring-Pedersen parameters of party 0/,
      ],
      ['s not a unit', withAux({ parties: parties.map((p, j) => (j === 0 ? { ...p, s: 1n } : p)) }), /ring-Pedersen/],
    ];
    for (const [name, share, why] of cases) {
      let err: unknown;
      try {
        validateKeyShare(math, share);
      } catch (e) {
        err = e;
      }
      expect(err, name).toBeInstanceOf(MpcError);
      expect((err as MpcError).code, name).toBe('ERR_KEY_SHARE_INVALID');
      expect((err as MpcError).message, name).toMatch(why);
    }
  });

  it('refuses a bad signing set or a hardened path before any message is sent', () => {
    const bad: Array<[string, number[], number[]]> = [
      ['unsorted', [2, 0, 4], []],
      ['duplicate', [0, 0, 4], []],
      ['index ≥ n', [0, 2, 5], []],
      ['hardened path', [0, 2, 4], [0x8000_0000]],
    ];
    for (const [name, signers, path] of bad) {
      const r = simulate(
        presign,
        signers.map((s) => ({ share: key35.shares[Math.min(s, 4)] as KeyShare, signers, path })),
        { sid: sid(`bad-${name}`), math, rngs: signers.map((_, i) => new TestDrbg(`bad-${i}`)) },
      );
      expect(r.traffic, name).toHaveLength(0);
      for (const e of r.errors) expect(e?.code, name).toBe('ERR_PROTOCOL_INPUT');
    }
    // Wrong number of signers for t, and a share whose index is not at the party's position.
    const two = simulate(
      presign,
      [0, 1].map((s) => ({ share: key35.shares[s] as KeyShare, signers: [0, 1], path: [] })),
      { sid: sid('bad-two'), math, rngs: [new TestDrbg('b0'), new TestDrbg('b1')] },
    );
    for (const e of two.errors) expect(e?.message).toMatch(/exactly t/);
    const swapped = simulate(
      presign,
      [1, 0, 2].map((s) => ({ share: key33.shares[s] as KeyShare, signers: [0, 1, 2], path: [] })),
      { sid: sid('bad-swapped'), math, rngs: [0, 1, 2].map((i) => new TestDrbg(`s${i}`)) },
    );
    expect(swapped.errors[0]?.message).toMatch(/own position/);
    expect(swapped.errors[2]?.details.stalled).toBe(true); // party 2 is fine, and simply waits
  });
});

describe('malicious signers are identified (PROTOCOL.md §7.1; SECURITY.md A13–A15)', () => {
  // 3-of-5 key, signing set {0, 2, 4}: the culprit is position 1 (key-share index 2).
  const SIGNERS = [0, 2, 4];
  const CULPRIT = 1;
  const N = (pos: number): bigint => key35.shares[0]?.aux.parties[SIGNERS[pos] as number]?.N as bigint;
  const N23 = (index: number): bigint => key23.shares[0]?.aux.parties[index]?.N as bigint;
  const bad = (tamper: Tamper) => run(key35, SIGNERS, PATH, SHARED, new Map([[CULPRIT, tamper]]));

  it('aborts blaming party 1 when it sends an invalid Πenc-elg ψ0 (to party 0) and ψ1 (to party 2) in round 1', () => {
    const r = bad(({ round, recipient, body }) => {
      if (round !== 'r1-enc') return body;
      const m = body as MsgR1Enc;
      return recipient === 0
        ? ({ ...m, psi0: { ...m.psi0, z1: m.psi0.z1 + 1n } } satisfies MsgR1Enc)
        : ({ ...m, psi1: { ...m.psi1, w: mod(m.psi1.w + 1n, CURVE_ORDER) } } satisfies MsgR1Enc);
    });
    expectBlamed(
      r,
      CULPRIT,
      {
        0: /^invalid Πenc-elg ψ0 for \(K_j, A_j\) \(ERR_ZK_PROOF_INVALID[^;]*$/,
        2: /^invalid Πenc-elg ψ1 for \(G_j, B_j\)/,
      },
      key35,
    );
  });

  /** The culprit's own state machine misbehaves (its messages are then consistently signed and echoed). */
  const evil = (
    patch: (round: string, state: PresignState) => PresignState,
    initPatch: (body: MsgR1) => MsgR1 = (b) => b,
  ): ProtocolDef<PresignInput, PresignState, Presignature> => ({
    ...presign,
    init(input, ctx) {
      const out = presign.init(input, ctx);
      if (ctx.self !== CULPRIT) return out;
      const outbox = out.outbox.map((o) => (o.round === 'r1' ? { ...o, body: initPatch(o.body as MsgR1) } : o));
      return { state: out.state, outbox };
    },
    process(round, state, inbox, ctx) {
      return presign.process(round, ctx.self === CULPRIT ? patch(round, state) : state, inbox, ctx);
    },
  });

  it('aborts blaming party 1 when its ElGamal commitment A_1 holds another k than K_1 (Fig. 8: Πenc-elg ψ0 binds them)', () => {
    // A_{1,2} + G commits k_1 + 1·G under Y_1; K_1 still encrypts k_1. ψ0 is for the honest pair.
    const def = evil(
      (_, st) => st,
      (b) => ({ ...b, elg: { ...b.elg, A2: b.elg.A2.add(G) } }),
    );
    const r = run(key23, [0, 2], PATH, SHARED, undefined, def); // two signers: a third of the cost
    expectBlamed(r, CULPRIT, /^invalid Πenc-elg ψ0 for \(K_j, A_j\) \(ERR_ZK_PROOF_INVALID[^;]*$/, key23);
  });

  it('aborts blaming party 1 when its ElGamal commitment B_1 holds another γ than G_1 (Fig. 8: Πenc-elg ψ1 binds them)', () => {
    const def = evil(
      (_, st) => st,
      (b) => ({ ...b, elg: { ...b.elg, B2: b.elg.B2.add(G) } }),
    );
    const r = run(key23, [0, 2], PATH, SHARED, undefined, def); // two signers: a third of the cost
    expectBlamed(r, CULPRIT, /^invalid Πenc-elg ψ1 for \(G_j, B_j\) \(ERR_ZK_PROOF_INVALID[^;]*$/, key23);
  });

  it("aborts blaming party 1 when its Γ_1 is not the γ_1 inside B_1, even with valid Πaff-g (Fig. 8: Πelog ψ')", () => {
    // From round 2 on, the culprit runs with γ_1 + 1: Γ_1, D, F and both Πaff-g are consistent with it,
    // but B_1 (and G_1) committed γ_1 in round 1. Only Πelog ψ' can notice.
    const def = evil((round, st) => (round === 'r1-enc' ? ({ ...st, gamma: st.gamma + 1n } as PresignState) : st));
    const r = run(key23, [0, 2], PATH, SHARED, undefined, def); // two signers: a third of the cost
    expectBlamed(r, CULPRIT, /^invalid Πelog ψ' \(ERR_ZK_PROOF_INVALID: M equation\)$/, key23);
  });

  it("aborts blaming party 1 when its Δ_1 uses another k than the one inside A_1 (Fig. 8: Πelog ψ'')", () => {
    // In round 3 the culprit uses k_1 + 1 for Δ_1 = k·Γ and δ_1; without ψ'' this would end in an
    // unexplained δ mismatch, with ψ'' every honest party names the culprit.
    const def = evil((round, st) => (round === 'r2' ? ({ ...st, k: st.k + 1n } as PresignState) : st));
    const r = run(key23, [0, 2], PATH, SHARED, undefined, def); // two signers: a third of the cost
    expectBlamed(r, CULPRIT, /^invalid Πelog ψ'' \(ERR_ZK_PROOF_INVALID: M equation\)$/, key23);
  });

  it('aborts blaming party 1 when its K_1 is not in Z*_{N²} (shares a factor with N_1)', () => {
    // Tampering a reliable broadcast after signing looks like equivocation (the culprit's own echo
    // covers what it really sent), so here the culprit's state machine itself broadcasts the bad K_1.
    const evil: ProtocolDef<PresignInput, PresignState, Presignature> = {
      ...presign,
      init(input, ctx) {
        const out = presign.init(input, ctx);
        if (ctx.self !== CULPRIT) return out;
        const outbox = out.outbox.map((o) =>
          o.round === 'r1' ? { ...o, body: { ...(o.body as MsgR1), K: N(CULPRIT) * 3n } satisfies MsgR1 } : o,
        );
        return { state: out.state, outbox };
      },
    };
    const r = run(key35, SIGNERS, PATH, SHARED, undefined, evil);
    expectBlamed(r, CULPRIT, /K_j not in Z\*_\{N_j²\} \(ERR_PAILLIER_CIPHERTEXT_INVALID\)/, key35);
  });

  it('aborts blaming party 1 when it equivocates K_1 in the reliable broadcast of round 1 (echo evidence)', () => {
    const r = bad(({ round, recipient, body }) => {
      if (round !== 'r1' || recipient !== 2) return body;
      const m = body as MsgR1;
      const n = N(CULPRIT);
      // A valid ciphertext of k_1 + 1 for party 2 only: K·(1 + N) mod N².
      return { ...m, K: (m.K * (1n + n)) % (n * n) } satisfies MsgR1;
    });
    expectBlamed(r, CULPRIT, /equivocation/, key35);
    for (const i of [0, 2]) expect(r.errors[i]?.blame[0]?.msgIds).toHaveLength(2);
  });

  // Round 2 and 3 faults are private messages: one run sends a different fault to each honest
  // party, and each must abort naming exactly the culprit, for its own reason.
  it("aborts blaming party 1 for Πaff-g ψ not matching D and a bad Πelog ψ' (to party 0) and a bad Πaff-g ψ̂ (to party 2)", () => {
    const r = bad(({ round, recipient, body }) => {
      if (round !== 'r2') return body;
      const m = body as MsgR2;
      if (recipient === 0) {
        const n = N(0);
        // D's plaintext shifted by one (as if β were off by one), and a broken ψ'.
        return {
          ...m,
          D: (m.D * (1n + n)) % (n * n),
          psiPrime: { ...m.psiPrime, u: mod(m.psiPrime.u + 1n, CURVE_ORDER) },
        } satisfies MsgR2;
      }
      return { ...m, hatPsi: { ...m.hatPsi, z2: m.hatPsi.z2 - 1n } } satisfies MsgR2;
    });
    expectBlamed(
      r,
      CULPRIT,
      {
        0: /^invalid Πaff-g ψ \(ERR_ZK_PROOF_INVALID: Paillier equation \(N0\)\); invalid Πelog ψ' \(ERR_ZK_PROOF_INVALID/,
        2: /^invalid Πaff-g ψ̂ \(ERR_ZK_PROOF_INVALID[^;]*$/,
      },
      key35,
    );
  });

  it('aborts blaming the sender of an F̂ outside Z*_{N²} in round 2', () => {
    const r = run(
      key23,
      [0, 2],
      [],
      SHARED,
      new Map([
        [
          1,
          ({ round, body }) => (round === 'r2' ? ({ ...(body as MsgR2), hatF: N23(2) ** 2n } satisfies MsgR2) : body),
        ],
      ]),
    );
    expectBlamed(r, 1, /^F̂_\{i,j\} not in Z\*_\{N_j²\} \(ERR_PAILLIER_CIPHERTEXT_INVALID\)$/, key23);
  });

  it("aborts blaming party 1 for a Δ_1 that does not match its Πelog ψ'' (to party 0) and a δ_1 not below q (to party 2)", () => {
    const r = bad(({ round, recipient, body }) => {
      if (round !== 'r3') return body;
      const m = body as MsgR3;
      if (recipient === 0) return { ...m, Delta: m.Delta.add(G) } satisfies MsgR3;
      // q + (δ_1 mod 2^64): still 256 bits, so only the "below q" check can catch it.
      return { ...m, delta: CURVE_ORDER + (m.delta & 0xffff_ffff_ffff_ffffn) } satisfies MsgR3;
    });
    expectBlamed(
      r,
      CULPRIT,
      { 0: /invalid Πelog ψ'' \(ERR_ZK_PROOF_INVALID/, 2: /malformed r3 message \(ERR_WIRE_BIGINT_TOO_LARGE\)/ },
      key35,
    );
  });

  it('aborts without blame (delta-mismatch) when a well-formed δ_j is wrong: identification is §7.2', () => {
    // Two signers of a 2-of-3 key are enough here (at a third of the cost): the honest one must not blame.
    const wrongDelta: Tamper = ({ round, body }) =>
      round === 'r3'
        ? ({ ...(body as MsgR3), delta: mod((body as MsgR3).delta + 1n, CURVE_ORDER) } satisfies MsgR3)
        : body;
    const r = run(key23, [0, 2], [], SHARED, new Map([[1, wrongDelta]]));
    const e = r.errors[0] as MpcError;
    expect(e.code).toBe('ERR_PROTOCOL_ABORT');
    expect(e.details.reason).toBe('delta-mismatch');
    expect(e.blame).toEqual([]);
    expect(r.outputs[0]).toBeUndefined();
    expectNoSecrets(e, key23);
  });
});
