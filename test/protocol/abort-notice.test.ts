import { beforeAll, describe, expect, it } from 'vitest';
import { MpcError } from '../../src/errors/index.js';
import { mod } from '../../src/math/bits.js';
import { CURVE_ORDER, G } from '../../src/primitives/curve.js';
import {
  ABORT_ROUND,
  type AbortNoticeBody,
  decodeAbortNotice,
  encodeAbortNotice,
} from '../../src/protocol/abort-notice.js';
import { BlameCollector, judgeWith, PENDING } from '../../src/protocol/blame.js';
import { type Authenticator, type Envelope, messageId, signedBytes } from '../../src/protocol/envelope.js';
import type { KeyShare } from '../../src/protocol/key-share.js';
import { type KeygenShareMsg, keygen } from '../../src/protocol/keygen.js';
import {
  type MsgR1Enc,
  type MsgR2,
  type MsgR3,
  type Presignature,
  type PresignInput,
  type PresignState,
  presign,
} from '../../src/protocol/presign.js';
import { MAX_BODY_BYTES, PartyRunner } from '../../src/protocol/runner.js';
import {
  ed25519Authenticator,
  type SimulationOptions,
  type SimulationResult,
  simulate,
  simulationKeys,
  type Tamper,
} from '../../src/protocol/simulation.js';
import { ALL, type ProtocolDef, type RoundDef } from '../../src/protocol/types.js';
import { WireReader, WireWriter } from '../../src/util/wire.js';
import { type DealtKey, dealKeyShares } from '../helpers/dealer.js';
import { TestDrbg } from '../helpers/drbg.js';
import { math, sid } from '../helpers/keys.js';

/**
 * Abort notices (runner.ts, abort-notice.ts): a fault in a point-to-point message, seen only by its
 * recipient, ends with the SAME verdict at every honest party — the culprit when the evidence holds,
 * the accuser when it does not (issue #4: "honest parties abort with the same verdict naming the
 * culprit"). The aux-info cases live in aux-info.test.ts, next to that file's cached arithmetic.
 */

/** simulate() signs with these keys (simulation.ts: seed 32 × 0x07). */
const roster = (n: number) => simulationKeys(n, new Uint8Array(32).fill(7));

/** Envelope signed by `auth` (the signer is whoever `auth` holds the key of). */
function signed(auth: Authenticator, e: Omit<Envelope, 'sig'>): Envelope {
  return { ...e, sig: auth.sign(signedBytes(e)) };
}

/** A notice from `accuser` in (protocol, sid), signed with the accuser's own key. */
function noticeFrom(
  auths: readonly Authenticator[],
  protocol: string,
  session: Uint8Array,
  accuser: number,
  body: AbortNoticeBody | Uint8Array,
): Envelope {
  return signed(auths[accuser] as Authenticator, {
    protocol,
    sid: session,
    round: ABORT_ROUND,
    from: accuser,
    to: ALL,
    body: body instanceof Uint8Array ? body : encodeAbortNotice(body),
  });
}

/** `inject` option delivering `make(traffic, auths)` to every party but its sender. */
function injectToAll(
  n: number,
  make: (traffic: readonly Envelope[], auths: readonly Authenticator[]) => Envelope,
): Pick<SimulationOptions, 'inject'> {
  return {
    inject: (traffic, auths) => {
      const env = make(traffic, auths);
      return [...Array(n).keys()].filter((to) => to !== env.from).map((to) => ({ env, to }));
    },
  };
}

function find(traffic: readonly Envelope[], round: string, from: number, to: number): Envelope {
  const env = traffic.find((e) => e.round === round && e.from === from && e.to === to);
  if (env === undefined) throw new Error(`no ${round} message from ${from} to ${to}`);
  return env;
}

/** Every string an error exposes, through its cause chain. */
function exposed(e: unknown): string {
  if (!(e instanceof MpcError)) return e instanceof Error ? e.message : '';
  return [e.message, ...e.blame.map((b) => b.reason), JSON.stringify(e.details), exposed(e.cause)].join('\n');
}

/** No long number (hex or decimal) in any error: no secret can hide there. */
function expectNoNumbers(errors: ReadonlyArray<MpcError | undefined>, secrets: readonly bigint[] = []): void {
  for (const e of errors) {
    const text = exposed(e);
    expect(text).not.toMatch(/[0-9a-f]{24,}/i);
    expect(text).not.toMatch(/\d{16,}/);
    for (const x of secrets) {
      expect(text).not.toContain(x.toString());
      expect(text.toLowerCase()).not.toContain(x.toString(16));
    }
  }
}

/**
 * Every party in `parties` aborted naming exactly `culprit`, with the very same blame entries (party,
 * reason, message ids) and round, and nobody among them keeps an output.
 */
function expectSameVerdict<O>(
  r: SimulationResult<O>,
  parties: readonly number[],
  culprit: number,
  reason: RegExp,
): void {
  const first = r.errors[parties[0] as number];
  expect(first?.code).toBe('ERR_PROTOCOL_ABORT');
  expect(first?.blame.map((b) => b.party)).toEqual([culprit]);
  expect(first?.blame[0]?.reason).toMatch(reason);
  expect(first?.blame[0]?.msgIds.length).toBeGreaterThan(0);
  for (const h of parties) {
    const e = r.errors[h];
    expect(e, `party ${h} must abort`).toBeInstanceOf(MpcError);
    expect(e?.details.stalled).toBeUndefined();
    expect(e?.blame).toEqual(first?.blame);
    expect(e?.details.round).toBe(first?.details.round);
    expect(r.outputs[h], `party ${h} must not keep an output`).toBeUndefined();
  }
}

// --- a toy protocol with a public judge ---------------------------------------------------------

interface ToyState {
  readonly mine: bigint;
  /** Σ of the r1 values, the public data the judge needs. */
  readonly sum?: bigint;
}

const num: Omit<RoundDef<bigint>, 'name' | 'kind'> = {
  encode: (x) => new WireWriter().biguint(x).finish(),
  decode: (b) => {
    const r = new WireReader(b, 16);
    const x = r.biguint('x', 64);
    r.end();
    if (x >= 10_000n) throw new MpcError('ERR_WIRE_BIGINT_TOO_LARGE', 'x out of range');
    return x;
  },
};

/** The toy's check of a p2p value: 999 is a fault anybody can see. */
const checkValue = (blame: BlameCollector, j: number, v: bigint) => {
  if (v === 999n) blame.blame(j, 'sent 999');
};

/** r1 reliable broadcast; r2 p2p (checked); r3 broadcast; output Σ r1 + Σ r3. */
const toy: ProtocolDef<bigint, ToyState, bigint> = {
  name: 'toy',
  rounds: [
    { name: 'r1', kind: 'broadcast', reliable: true, ...num },
    { name: 'r2', kind: 'p2p', ...num },
    { name: 'r3', kind: 'broadcast', ...num },
  ],
  init: (mine) => ({ state: { mine }, outbox: [{ round: 'r1', to: ALL, body: mine }] }),
  process(round, state, inbox, ctx) {
    const values = [...inbox.values()] as bigint[];
    if (round === 'r1') {
      const outbox = [...Array(ctx.n).keys()]
        .filter((j) => j !== ctx.self)
        .map((j) => ({ round: 'r2', to: j, body: state.mine + BigInt(j) }));
      return { state: { ...state, sum: values.reduce((a, b) => a + b, state.mine) }, outbox };
    }
    if (round === 'r2') {
      const blame = new BlameCollector('toy', 'r2');
      for (const [j, v] of inbox) checkValue(blame, j, v as bigint);
      blame.throwIfAny();
      return { state, outbox: [{ round: 'r3', to: ALL, body: state.mine }] };
    }
    return { output: values.reduce((a, b) => a + b, (state.sum as bigint) + state.mine) };
  },
  judge(round, state, ev) {
    if (round !== 'r2') return { verdict: 'valid' };
    if (state.sum === undefined) return PENDING; // as a real judge that needs round-1 data
    return judgeWith(ev.from, (blame) => checkValue(blame, ev.from, ev.body as bigint));
  },
};

const TOY_SID = sid('toy-notice');
const toyRun = (tag: string, tamper?: ReadonlyMap<number, Tamper>, extra: Partial<SimulationOptions> = {}) =>
  simulate(toy, [1n, 2n, 3n, 4n], {
    sid: TOY_SID,
    math,
    rngs: [0, 1, 2, 3].map((i) => new TestDrbg(`toy-${tag}-${i}`)),
    ...(tamper === undefined ? {} : { tamper }),
    ...extra,
  });
const toP0 =
  (f: (body: unknown) => unknown): Tamper =>
  ({ round, recipient, body }) =>
    round === 'r2' && recipient === 0 ? f(body) : body;

describe('abort notices in the runner (toy protocol, n = 4)', () => {
  it('every honest party aborts with the recipient’s verdict when party 1 sends a faulty p2p message to party 0 only', () => {
    const r = toyRun('p2p', new Map([[1, toP0(() => 999n)]]));
    expectSameVerdict(r, [0, 2, 3], 1, /^sent 999$/);
    // The evidence is party 1's own signed message to party 0, and it is what the blame cites.
    const bad = find(r.traffic, 'r2', 1, 0);
    expect(r.errors[2]?.blame[0]?.msgIds).toEqual([messageId(bad)]);
    // Exactly one notice, from the recipient, carrying that envelope.
    const notices = r.traffic.filter((e) => e.round === ABORT_ROUND);
    expect(new Set(notices.map((e) => e.from))).toEqual(new Set([0]));
    const body = decodeAbortNotice((notices[0] as Envelope).body, { n: 4, accuser: 0, maxBytes: MAX_BODY_BYTES });
    expect(body.round).toBe('r2');
    expect(body.accusations.map((a) => [a.culprit, a.evidence.map(messageId)])).toEqual([[1, [messageId(bad)]]]);
    expect(r.errors[2]?.details.accuser).toBe(0);
  });

  it('every honest party names the sender of an undecodable p2p message seen by one recipient', () => {
    const r = toyRun('malformed', new Map([[1, toP0(() => Uint8Array.of(0, 0, 0, 9))]]));
    expectSameVerdict(r, [0, 2, 3], 1, /^malformed r2 message \(ERR_WIRE_BAD_LENGTH\)$/);
  });

  it('every honest party names a sender that signed two different p2p messages to one recipient (equivocation)', () => {
    // simulate cannot multiply a message, so this run is driven by hand: right behind party 1's
    // genuine r2 message to party 0 comes a different one, validly signed by party 1 too.
    const n = 4;
    const { secrets, publics } = roster(n);
    const auths = secrets.map((s) => ed25519Authenticator(s, publics));
    const runners = [0, 1, 2, 3].map(
      (i) =>
        new PartyRunner(
          toy,
          { self: i, n, sid: TOY_SID, math, rng: new TestDrbg(`hand-${i}`) },
          auths[i] as Authenticator,
        ),
    );
    const queue: Array<{ env: Envelope; to: number }> = [];
    const post = (envs: readonly Envelope[]) => {
      for (const env of envs)
        for (let to = 0; to < n; to++)
          if (to !== env.from && (env.to === ALL || env.to === to)) queue.push({ env, to });
    };
    const noticed = new Set<number>();
    runners.forEach((rn, i) => {
      post(rn.start(BigInt(i + 1)));
    });
    let twin: Envelope | undefined;
    while (queue.length > 0) {
      const { env, to } = queue.shift() as { env: Envelope; to: number };
      if (twin === undefined && env.round === 'r2' && env.from === 1 && env.to === 0) {
        twin = signed(auths[1] as Authenticator, { ...env, body: num.encode(7n) });
        queue.unshift({ env: twin, to: 0 });
      }
      const rn = runners[to] as PartyRunner<bigint, ToyState, bigint>;
      try {
        post(rn.receive(env));
      } catch {
        // refused
      }
      if (rn.status === 'aborted' && !noticed.has(to)) {
        noticed.add(to);
        const notice = rn.abortNotice();
        if (notice !== undefined) post([notice]);
      }
    }
    expect(twin).toBeDefined();
    const res = { outputs: runners.map((rn) => rn.output), errors: runners.map((rn) => rn.error), traffic: [] };
    expectSameVerdict(res, [0, 2, 3], 1, /^equivocation: two different messages in r2$/);
    expect(res.errors[2]?.blame[0]?.msgIds).toHaveLength(2);
    // Only the recipient of the twin had anything to publish.
    expect(runners.map((rn) => rn.abortNotice() !== undefined)).toEqual([true, false, false, false]);
  });

  it('a finished party re-judges a false accusation (a genuine message presented as faulty) and blames the accuser', () => {
    const n = 4;
    const r = toyRun(
      'false',
      undefined,
      injectToAll(n, (traffic, auths) =>
        noticeFrom(auths, 'toy', TOY_SID, 0, {
          round: 'r2',
          accusations: [{ culprit: 1, reason: 'sent 999', evidence: [find(traffic, 'r2', 1, 0)] }],
        }),
      ),
    );
    // Parties 1–3 had finished; the notice withdraws their outputs and names the accuser.
    expectSameVerdict(r, [1, 2, 3], 0, /^false accusation: evidence against party 1 shows no fault$/);
    expect(r.errors[1]?.details.round).toBe(ABORT_ROUND);
    expect(r.errors[0]).toBeUndefined(); // the accuser's own runner never saw its forged notice
  });

  const forgeries: Array<
    [string, (traffic: readonly Envelope[], auths: readonly Authenticator[]) => Envelope[], RegExp]
  > = [
    [
      'doctored evidence (body changed, signature kept)',
      (traffic) => [{ ...find(traffic, 'r2', 1, 0), body: num.encode(999n) }],
      /evidence against party 1 does not carry its valid signature/,
    ],
    [
      'a culprit signature forged by the accuser',
      (traffic, auths) => [signed(auths[0] as Authenticator, { ...find(traffic, 'r2', 1, 0), body: num.encode(999n) })],
      /evidence against party 1 does not carry its valid signature/,
    ],
    [
      'evidence addressed to another party',
      (traffic) => [find(traffic, 'r2', 1, 2)],
      /evidence against party 1 is not addressed to the accuser/,
    ],
    [
      'evidence sent by another party',
      (traffic) => [find(traffic, 'r2', 3, 0)],
      /evidence against party 1 was sent by another party/,
    ],
    [
      'evidence of another session (validly signed there)',
      () => {
        const o = simulate(toy, [1n, 2n, 3n, 4n], {
          sid: sid('toy-notice-other'),
          math,
          rngs: [0, 1, 2, 3].map((i) => new TestDrbg(`o-${i}`)),
        });
        return [find(o.traffic, 'r2', 1, 0)];
      },
      /evidence against party 1 belongs to another session or protocol/,
    ],
    [
      'two identical messages presented as equivocation',
      (traffic) => [find(traffic, 'r2', 1, 0), find(traffic, 'r2', 1, 0)],
      /evidence against party 1 is not two different messages of one round/,
    ],
  ];
  it.each(forgeries)('every honest party blames the accuser for a notice with %s', (_, evidence, reason) => {
    const n = 4;
    const r = toyRun(
      'forged',
      undefined,
      injectToAll(n, (traffic, auths) =>
        noticeFrom(auths, 'toy', TOY_SID, 0, {
          round: 'r2',
          accusations: [{ culprit: 1, reason: 'sent 999', evidence: evidence(traffic, auths) }],
        }),
      ),
    );
    expectSameVerdict(r, [1, 2, 3], 0, reason);
    expect(r.errors[1]?.blame[0]?.reason).toMatch(/^false accusation: /);
  });

  it('blames the accuser for a malformed notice and for one that names an unknown round', () => {
    const n = 4;
    const cases: Array<[(traffic: readonly Envelope[]) => Uint8Array, RegExp]> = [
      [() => Uint8Array.of(0x4e, 1, 0, 0), /^false accusation: malformed abort notice \(ERR_WIRE_TRUNCATED\)$/],
      [() => Uint8Array.of(1), /^false accusation: malformed abort notice \(ERR_WIRE_BAD_TAG\)$/],
      [
        (traffic) =>
          encodeAbortNotice({
            round: 'r9',
            accusations: [{ culprit: 1, reason: '', evidence: [find(traffic, 'r2', 1, 0)] }],
          }),
        /^false accusation: abort notice names a round this protocol does not have$/,
      ],
    ];
    for (const [body, reason] of cases) {
      const r = toyRun(
        'garbage',
        undefined,
        injectToAll(n, (traffic, auths) => noticeFrom(auths, 'toy', TOY_SID, 0, body(traffic))),
      );
      expectSameVerdict(r, [1, 2, 3], 0, reason);
    }
  });

  it('refuses a notice of another session or with a bad signature, and the session goes on', () => {
    const { secrets, publics } = roster(4);
    const auths = secrets.map((s) => ed25519Authenticator(s, publics));
    const runner = new PartyRunner(
      toy,
      { self: 2, n: 4, sid: TOY_SID, math, rng: new TestDrbg('refuse') },
      auths[2] as Authenticator,
    );
    runner.start(3n);
    const bytes = Uint8Array.of(0x4e, 1);
    const otherSid = noticeFrom(auths, 'toy', sid('toy-notice-other'), 0, bytes);
    expect(() => runner.receive(otherSid)).toThrow(/ERR_MSG_UNEXPECTED: message belongs to another session/);
    const otherProtocol = noticeFrom(auths, 'keygen', TOY_SID, 0, bytes);
    expect(() => runner.judgeNotice(otherProtocol)).toThrow(/ERR_MSG_UNEXPECTED: message belongs to another session/);
    const forged = { ...noticeFrom(auths, 'toy', TOY_SID, 0, bytes), from: 1 };
    expect(() => runner.receive(forged)).toThrow(/ERR_MSG_UNEXPECTED: message signature does not verify/);
    expect(runner.status).toBe('running');
    expect(runner.error).toBeUndefined();
  });

  it('keeps a notice it cannot judge yet and decides it once the round-1 data arrives', () => {
    // A genuine notice from a run where party 1 cheated towards party 0.
    const r = toyRun('pending', new Map([[1, toP0(() => 999n)]]));
    const notice = r.traffic.find((e) => e.round === ABORT_ROUND) as Envelope;
    // Party 3 again, from the start (same seed: it sends what it sent in that run).
    const { secrets, publics } = roster(4);
    const late = new PartyRunner(
      toy,
      { self: 3, n: 4, sid: TOY_SID, math, rng: new TestDrbg('toy-pending-3') },
      ed25519Authenticator(secrets[3] as Uint8Array, publics),
    );
    late.start(4n);
    expect(late.judgeNotice(notice)).toBeUndefined(); // no Σ r1 yet: pending
    expect(late.status).toBe('running');
    for (const env of r.traffic.filter(
      (e) => e.to === ALL && e.from !== 3 && (e.round === 'r1' || e.round === 'r1.echo'),
    )) {
      late.receive(env);
    }
    expect(late.status).toBe('aborted');
    expect(late.error?.blame).toEqual(r.errors[0]?.blame);
    // Judging the same notice again gives the same verdict; a second, different notice of the same
    // accuser is not judged at all (one per accuser): it cannot turn the verdict around.
    expect(late.judgeNotice(notice)?.blame).toEqual(r.errors[0]?.blame);
    const auths = secrets.map((s) => ed25519Authenticator(s, publics));
    expect(late.judgeNotice(noticeFrom(auths, 'toy', TOY_SID, 0, Uint8Array.of(1)))?.blame).toEqual(r.errors[0]?.blame);
    expect(late.error?.blame).toEqual(r.errors[0]?.blame);
  });

  it('codec: strict decoding of notice bodies', () => {
    const env = find(toyRun('codec').traffic, 'r2', 1, 0);
    const good = encodeAbortNotice({ round: 'r2', accusations: [{ culprit: 1, reason: 'sent 999', evidence: [env] }] });
    const limits = { n: 4, accuser: 0, maxBytes: MAX_BODY_BYTES };
    expect(decodeAbortNotice(good, limits).accusations[0]?.evidence[0]).toEqual(env);
    const code = (b: Uint8Array, l = limits) => {
      try {
        decodeAbortNotice(b, l);
        return 'accepted';
      } catch (e) {
        expect(e).toBeInstanceOf(MpcError);
        return (e as MpcError).code;
      }
    };
    expect(code(Uint8Array.of(...good, 0))).toBe('ERR_WIRE_TRAILING_BYTES');
    for (let cut = 0; cut < good.length; cut += 7) expect(code(good.subarray(0, cut))).toMatch(/^ERR_WIRE_/);
    expect(code(good, { ...limits, accuser: 1 })).toBe('ERR_WIRE_NON_CANONICAL'); // self-accusation
    expect(code(good, { ...limits, n: 1 })).toBe('ERR_WIRE_BAD_LENGTH'); // more accusations than peers
    expect(code(good, { ...limits, maxBytes: 16 })).toBe('ERR_WIRE_TOO_LARGE');
    const twice = encodeAbortNotice({
      round: 'r2',
      accusations: [
        { culprit: 1, reason: '', evidence: [env] },
        { culprit: 1, reason: '', evidence: [env] },
      ],
    });
    expect(code(twice)).toBe('ERR_WIRE_NON_CANONICAL'); // culprits strictly increasing
    expect(() => encodeAbortNotice({ round: 'r2', accusations: [{ culprit: 1, reason: '', evidence: [] }] })).toThrow(
      /ERR_WIRE_BAD_LENGTH/,
    );
  });
});

// --- keygen --------------------------------------------------------------------------------------

describe('abort notices in keygen (t = 3, n = 4, dealer 2)', () => {
  const N = 4;
  const KEYGEN_SID = sid('keygen-notice');
  const run = (tag: string, tamper?: ReadonlyMap<number, Tamper>, extra: Partial<SimulationOptions> = {}) =>
    simulate(
      keygen,
      Array.from({ length: N }, () => ({ t: 3 })),
      {
        sid: KEYGEN_SID,
        math,
        rngs: Array.from({ length: N }, (_, i) => new TestDrbg(`keygen-notice-${tag}-${i}`)),
        ...(tamper === undefined ? {} : { tamper }),
        ...extra,
      },
    );
  const shareOf = (env: Envelope): bigint =>
    (keygen.rounds[2] as RoundDef<KeygenShareMsg>).decode(env.body, env.from, {} as never).sigma as bigint;

  it('every honest party names the dealer of a bad Feldman share sent to ONE party', () => {
    const r = run(
      'one',
      new Map([
        [
          2,
          ({ round, recipient, body }) =>
            round === 'r2p' && recipient === 1
              ? { sigma: mod(((body as KeygenShareMsg).sigma as bigint) + 1n, CURVE_ORDER) }
              : body,
        ],
      ]),
    );
    expectSameVerdict(r, [0, 1, 3], 2, /FeldmanVerificationFailed/);
    expect(r.errors[0]?.blame[0]?.msgIds).toEqual([messageId(find(r.traffic, 'r2p', 2, 1))]);
    // The published (bad) share and the honest parties' own shares appear in no error.
    const shares = r.traffic.filter((e) => e.round === 'r2p').map(shareOf);
    expectNoNumbers(r.errors, shares);
  });

  it('every honest party blames a complainer that publishes a genuine share as faulty (no secret in any error)', () => {
    const r = run(
      'false',
      undefined,
      injectToAll(N, (traffic, auths) =>
        noticeFrom(auths, 'keygen', KEYGEN_SID, 0, {
          round: 'r3',
          accusations: [{ culprit: 2, reason: 'FeldmanVerificationFailed', evidence: [find(traffic, 'r2p', 2, 0)] }],
        }),
      ),
    );
    expectSameVerdict(r, [1, 2, 3], 0, /^false accusation: evidence against party 2 shows no fault$/);
    expectNoNumbers(r.errors, r.traffic.filter((e) => e.round === 'r2p').map(shareOf));
  });

  it('every honest party blames a complainer whose evidence share was altered after signing', () => {
    const r = run(
      'doctored',
      undefined,
      injectToAll(N, (traffic, auths) => {
        const genuine = find(traffic, 'r2p', 2, 0);
        const def = keygen.rounds[2] as RoundDef<KeygenShareMsg>;
        const body = def.encode({ sigma: mod(shareOf(genuine) + 1n, CURVE_ORDER) });
        return noticeFrom(auths, 'keygen', KEYGEN_SID, 0, {
          round: 'r3',
          accusations: [{ culprit: 2, reason: '', evidence: [{ ...genuine, body }] }],
        });
      }),
    );
    expectSameVerdict(r, [1, 2, 3], 0, /evidence against party 2 does not carry its valid signature/);
  });
});

// --- presign -------------------------------------------------------------------------------------

describe('abort notices in presigning (3-of-3, culprit position 1)', () => {
  const SIGNERS = [0, 1, 2];
  let key: DealtKey;
  beforeAll(async () => {
    key = await dealKeyShares({ n: 3, t: 3, additive: true, seed: 'abort-notice' });
  });
  const run = (
    tag: string,
    tamper?: Tamper,
    extra: Partial<SimulationOptions> = {},
    def: ProtocolDef<PresignInput, PresignState, Presignature> = presign,
  ) =>
    simulate(
      def,
      SIGNERS.map((s) => ({ share: key.shares[s] as KeyShare, signers: SIGNERS, path: [] })),
      {
        sid: sid(`presign-notice-${tag}`),
        math,
        rngs: SIGNERS.map((_, i) => new TestDrbg(`presign-notice-${tag}-${i}`)),
        ...(tamper === undefined ? {} : { tamper: new Map([[1, tamper]]) }),
        ...extra,
      },
    );
  const secrets = () => [key.secret, ...key.shares.map((s) => s.core.x), ...key.shares.map((s) => s.aux.p)];

  it('every honest party names the sender of a bad Πenc-elg ψ1 sent to ONE party', () => {
    const r = run('enc', ({ round, recipient, body }) => {
      if (round !== 'r1-enc' || recipient !== 0) return body;
      const m = body as MsgR1Enc;
      return { ...m, psi1: { ...m.psi1, z1: m.psi1.z1 + 1n } } satisfies MsgR1Enc;
    });
    expectSameVerdict(r, [0, 2], 1, /^invalid Πenc-elg ψ1 for \(G_j, B_j\) \(ERR_ZK_PROOF_INVALID/);
    expectNoNumbers(r.errors, secrets());
  });

  it('every honest party names the sender of a bad Πaff-g ψ and Πelog ψ′ sent to ONE party', () => {
    const r = run('aff-g', ({ round, recipient, body }) => {
      if (round !== 'r2' || recipient !== 2) return body;
      const m = body as MsgR2;
      return {
        ...m,
        psi: { ...m.psi, z1: m.psi.z1 + 1n },
        psiPrime: { ...m.psiPrime, z: mod(m.psiPrime.z + 1n, CURVE_ORDER) },
      };
    });
    expectSameVerdict(
      r,
      [0, 2],
      1,
      /^invalid Πaff-g ψ \(ERR_ZK_PROOF_INVALID.*; invalid Πelog ψ' \(ERR_ZK_PROOF_INVALID/,
    );
    expectNoNumbers(r.errors, secrets());
  });

  it('a party that already holds its presignature withdraws it and names the sender of a bad Πelog ψ″ to ONE party', () => {
    const r = run('log-star', ({ round, recipient, body }) =>
      round === 'r3' && recipient === 0
        ? ({ ...(body as MsgR3), Delta: (body as MsgR3).Delta.add(G) } satisfies MsgR3)
        : body,
    );
    expectSameVerdict(r, [0, 2], 1, /^invalid Πelog ψ'' \(ERR_ZK_PROOF_INVALID/);
    expect(r.errors[2]?.details.round).toBe('r3');
    expectNoNumbers(r.errors, secrets());
  });

  it('every honest party blames an accuser that presents a genuine round-2 message as faulty', () => {
    const r = run(
      'false',
      undefined,
      injectToAll(3, (traffic, auths) =>
        noticeFrom(auths, 'presign', sid('presign-notice-false'), 0, {
          round: 'r2',
          accusations: [{ culprit: 1, reason: 'invalid Πaff-g ψ', evidence: [find(traffic, 'r2', 1, 0)] }],
        }),
      ),
    );
    expectSameVerdict(r, [1, 2], 0, /^false accusation: evidence against party 1 shows no fault$/);
    expectNoNumbers(r.errors, secrets());
  });
});
