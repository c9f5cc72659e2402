import { describe, expect, it } from 'vitest';
import { MpcError } from '../../src/errors/index.js';
import { BlameCollector } from '../../src/protocol/blame.js';
import { PartyRunner } from '../../src/protocol/runner.js';
import { ed25519Authenticator, simulate, simulationKeys, type Tamper } from '../../src/protocol/simulation.js';
import { ALL, type ProtocolDef, type RoundDef } from '../../src/protocol/types.js';
import { WireReader, WireWriter } from '../../src/util/wire.js';
import { TestDrbg } from '../helpers/drbg.js';
import { math } from '../helpers/keys.js';

/** Toy protocol: r1 reliable broadcast of a value < 1000; r2 p2p of (value + recipient); output = sums. */
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
const toy: ProtocolDef<bigint, { mine: bigint; sum1?: bigint }, { sum1: bigint; sum2: bigint }> = {
  name: 'toy',
  rounds: [
    { name: 'r1', kind: 'broadcast', reliable: true, ...num },
    { name: 'r2', kind: 'p2p', ...num },
  ],
  init: (mine) => ({ state: { mine }, outbox: [{ round: 'r1', to: ALL, body: mine }] }),
  process(round, state, inbox, ctx) {
    const blame = new BlameCollector('toy', round);
    for (const [from, v] of inbox) if ((v as bigint) === 999n) blame.blame(from, 'sent 999');
    blame.throwIfAny();
    const sum = [...inbox.values()].reduce<bigint>((a, b) => a + (b as bigint), state.mine);
    if (round === 'r1') {
      const outbox = [...Array(ctx.n).keys()]
        .filter((j) => j !== ctx.self)
        .map((j) => ({ round: 'r2', to: j, body: state.mine + BigInt(j) }));
      return { state: { ...state, sum1: sum }, outbox };
    }
    return { output: { sum1: state.sum1 as bigint, sum2: sum } };
  },
};

const run = (values: bigint[], tamper?: Map<number, Tamper>) =>
  simulate(toy, values, {
    sid: new TextEncoder().encode('toy-session'),
    math,
    rngs: values.map((_, i) => new TestDrbg(`toy-${i}`)),
    ...(tamper === undefined ? {} : { tamper }),
  });

describe('round framework', () => {
  it('runs a reliable broadcast round and a p2p round to the same output at every party', () => {
    const r = run([1n, 2n, 3n, 4n]);
    expect(r.errors).toEqual([undefined, undefined, undefined, undefined]);
    expect(r.outputs.map((o) => o?.sum1)).toEqual([10n, 10n, 10n, 10n]);
    // r2: party j sends mine_j + i to party i, so party i sums Σ mine + (n − 1)·i.
    expect(r.outputs.map((o) => o?.sum2)).toEqual([10n, 13n, 16n, 19n]);
  });

  it('treats an exact duplicate as idempotent', () => {
    const dup: Tamper = ({ body }) => body;
    const r = simulate(toy, [1n, 2n, 3n], {
      sid: new TextEncoder().encode('toy-dup'),
      math,
      rngs: [0, 1, 2].map((i) => new TestDrbg(`d${i}`)),
      tamper: new Map([[1, dup]]),
    });
    expect(r.errors.every((e) => e === undefined)).toBe(true);
  });

  it('names the equivocator when a reliable broadcast differs between recipients (A13)', () => {
    const equivocate: Tamper = ({ round, recipient, body }) => (round === 'r1' && recipient === 2 ? 7n : body);
    const r = run([1n, 2n, 3n, 4n], new Map([[1, equivocate]]));
    for (const i of [0, 2, 3]) {
      const e = r.errors[i];
      expect(e?.code).toBe('ERR_PROTOCOL_ABORT');
      expect(e?.blame.map((b) => b.party)).toEqual([1]);
      expect(e?.blame[0]?.reason).toMatch(/equivocation/);
      expect(e?.blame[0]?.msgIds).toHaveLength(2);
    }
  });

  it('blames every faulty sender found in a round, not only the first', () => {
    const r = run([1n, 999n, 3n, 999n]);
    expect(r.errors[0]?.blame.map((b) => b.party)).toEqual([1, 3]);
    expect(r.errors[2]?.blame.map((b) => b.party)).toEqual([1, 3]);
  });

  it('blames a sender whose message does not decode, and a message of the wrong kind', () => {
    const malformed: Tamper = ({ round, body }) => (round === 'r2' ? Uint8Array.of(0, 0, 0, 9) : body);
    const r = run([1n, 2n, 3n], new Map([[2, malformed]]));
    expect(r.errors[0]?.blame).toMatchObject([{ party: 2, reason: expect.stringMatching(/malformed r2/) }]);
    const outOfRange: Tamper = ({ round, body }) => (round === 'r1' ? 50_000n : body);
    const r2 = run([1n, 2n, 3n], new Map([[0, outOfRange]]));
    expect(r2.errors[1]?.blame.map((b) => b.party)).toEqual([0]);
  });

  it('refuses a message replayed from another session and one with a forged signature, and goes on', () => {
    const recorded = run([1n, 2n, 3n]).traffic.find((e) => e.to === ALL && e.from === 1);
    if (recorded === undefined) throw new Error('no recorded broadcast');
    const { secrets, publics } = simulationKeys(3, new Uint8Array(32).fill(7));
    const ctx = { self: 0, n: 3, sid: new TextEncoder().encode('toy-other'), math, rng: new TestDrbg('o') };
    const runner = new PartyRunner(toy, ctx, ed25519Authenticator(secrets[0] as Uint8Array, publics));
    runner.start(5n);
    // Same signer, valid signature, but session A: refused with a typed error, session B unharmed.
    expect(() => runner.receive(recorded)).toThrow(/ERR_MSG_UNEXPECTED: message belongs to another session/);
    // Re-addressed to session B without re-signing: the signature no longer verifies: refused.
    const forged = { ...recorded, sid: ctx.sid };
    expect(() => runner.receive(forged)).toThrow(/ERR_MSG_UNEXPECTED: message signature does not verify/);
    expect(runner.status).toBe('running');
  });

  it('leaves the others waiting when a message is dropped (the daemon turns this into a timeout)', () => {
    const r = simulate(toy, [1n, 2n, 3n], {
      sid: new TextEncoder().encode('toy-dropped'),
      math,
      rngs: [0, 1, 2].map((i) => new TestDrbg(`f${i}`)),
      drop: (env) => env.from === 1 && env.round === 'r1',
    });
    expect(r.errors[0]?.details.stalled).toBe(true);
  });
});
