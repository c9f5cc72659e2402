import { beforeAll, describe, expect, it } from 'vitest';
import { isMpcError, type MpcError } from '../../src/errors/index.js';
import { paillierSecretKey } from '../../src/primitives/paillier.js';
import { generateRingPedersen, ringPedersenParams } from '../../src/primitives/ring-pedersen.js';
import { ABORT_ROUND, encodeAbortNotice } from '../../src/protocol/abort-notice.js';
import {
  AUX_MAX_PARTIES,
  type AuxInput,
  type AuxRound2,
  type AuxRound3,
  type AuxState,
  auxCommitment,
  auxInfo,
  auxProofContext,
  decodeAuxInfo,
  encodeAuxInfo,
  validateAuxInfo,
} from '../../src/protocol/aux-info.js';
import { type Authenticator, type Envelope, messageId, signedBytes } from '../../src/protocol/envelope.js';
import type { AuxInfo } from '../../src/protocol/key-share.js';
import {
  ed25519Authenticator,
  type SimulationResult,
  simulate,
  simulationKeys,
  type Tamper,
} from '../../src/protocol/simulation.js';
import { ALL, type ProtocolDef, type RoundCtx } from '../../src/protocol/types.js';
import { verifyFac } from '../../src/zk/fac.js';
import { proveMod } from '../../src/zk/mod.js';
import { SECURITY } from '../../src/zk/params.js';
import { provePrm } from '../../src/zk/prm.js';
import { TestDrbg } from '../helpers/drbg.js';
import { math as native, sid } from '../helpers/keys.js';
import { memoMath } from '../helpers/memo-math.js';
import { testPrimes } from '../helpers/primes.js';

/**
 * Aux-info at production size (3072-bit moduli, m = 128) over the simulation harness, n = 3.
 *
 * Cost: one honest run is ~20 s of exponentiations on one thread (Πprm and Πmod verification are
 * 128 full 3072-bit exponentiations per peer). Every run below uses the same sid, the same fixture
 * primes and the same per-party DRBG seeds, so up to the point a test tampers, each party computes
 * exactly what it computed in the honest run. `memoMath` wraps the native backend with a cache of
 * exponentiation results (test/helpers/memo-math.ts): repeated work is looked up, new work
 * (the tampered parts) is computed. Every protocol check still runs on every run; only the
 * arithmetic is reused. The honest run also benefits, since two verifiers check each proof.
 */
const math = memoMath(native);
const SID = sid('aux-info-test-session');
const n = 3;

let safe: bigint[]; // 40 fixture safe primes of 1536 bits
let small: bigint[]; // 4 fixture safe primes of 1024 bits
let inputs: AuxInput[]; // party i: fixture primes 2i and 2i+1
let honest: SimulationResult<AuxInfo>;

function run(
  ins: readonly AuxInput[],
  tamper?: ReadonlyMap<number, Tamper>,
  def: ProtocolDef<AuxInput, AuxState, AuxInfo> = auxInfo,
): SimulationResult<AuxInfo> {
  return simulate(def, ins, {
    sid: SID,
    math,
    rngs: ins.map((_, i) => new TestDrbg(`aux-info-${i}`)),
    ...(tamper === undefined ? {} : { tamper }),
  });
}

/** Public data of party j as the honest run agreed on it. */
const pub = (j: number) => (honest.outputs[0] as AuxInfo).parties[j] as AuxInfo['parties'][number];

/** Every form in which an honest party's primes could leak into an error. */
function secretStrings(ins: readonly AuxInput[], parties: readonly number[]): string[] {
  return parties.flatMap((h) => {
    const { p, q } = ins[h] as AuxInput;
    return [p.toString(16), q.toString(16), p.toString(10), q.toString(10)];
  });
}

function expectNoSecrets(
  r: SimulationResult<AuxInfo>,
  ins: readonly AuxInput[],
  honestParties: readonly number[],
): void {
  const secrets = secretStrings(ins, honestParties);
  for (const e of r.errors) {
    if (e === undefined) continue;
    const text = [e.message, ...e.blame.map((b) => b.reason), JSON.stringify(e.details)].join('\n');
    for (const s of secrets) expect(text.includes(s)).toBe(false);
  }
}

/** Every honest party aborts naming exactly `culprits`, with reasons matching `reason`, and outputs nothing. */
function expectAbort(
  r: SimulationResult<AuxInfo>,
  ins: readonly AuxInput[],
  culprits: readonly number[],
  reason: RegExp,
  round: 'r1' | 'r2' | 'r3',
): void {
  const honestParties = [...Array(n).keys()].filter((h) => !culprits.includes(h));
  for (const h of honestParties) {
    expect(r.outputs[h]).toBeUndefined();
    const e = r.errors[h] as MpcError;
    expect(e?.code).toBe('ERR_PROTOCOL_ABORT');
    expect(e.details.round).toBe(round);
    expect(e.blame.map((b) => b.party)).toEqual(culprits);
    for (const b of e.blame) expect(b.reason).toMatch(reason);
  }
  expectNoSecrets(r, ins, honestParties);
}

/**
 * The protocol as party j runs it when it publishes `d` instead of its own values: the real `init`
 * runs on j's valid input, then the wrapper swaps the published values in j's round-1 state and
 * commits to them, V_j = auxCommitment(sid, n, j, d). Party j thus commits in r1 (through the echo
 * round, which a rewrite of r1 in transit would not survive: its own echo would give it away), opens
 * in r2, and from then on runs the unmodified rounds. This is exactly what a party running the
 * protocol on `d`'s values sends, without any backdoor in `auxInfo` to skip input validation.
 */
function publishing(j: number, d: AuxRound2): ProtocolDef<AuxInput, AuxState, AuxInfo> {
  return {
    ...auxInfo,
    init(input, ctx) {
      const real = auxInfo.init(input, ctx);
      if (ctx.self !== j || real.state.step !== 'r1') return real;
      const V = auxCommitment(ctx.sid, ctx.n, j, d);
      return { state: { ...real.state, mine: d, V }, outbox: [{ round: 'r1', to: ALL, body: { V } }] };
    },
  };
}

const bytes48 = (fill: number) => new Uint8Array(SECURITY.kappaBytes).fill(fill);

/** The decoded body of a recorded envelope (strict round decoder, as a recipient runs it). */
function bodyOf<B>(env: Envelope | undefined): B {
  const def = auxInfo.rounds.find((r) => r.name === env?.round);
  if (env === undefined || def === undefined) throw new Error('no such message in the traffic');
  return def.decode(env.body, env.from, {} as RoundCtx) as B;
}

/** ⊕ of κ/8-byte strings (rid = ⊕ ρ_j). */
function xorAll(parts: Iterable<Uint8Array>): Uint8Array {
  const out = new Uint8Array(SECURITY.kappaBytes);
  for (const b of parts) for (let k = 0; k < out.length; k++) out[k] = (out[k] as number) ^ (b[k] as number);
  return out;
}

/** rid = ⊕ ρ_j from the r2 broadcasts in a run's traffic (what any holder of the transcript can compute). */
function ridOf(r: SimulationResult<AuxInfo>): Uint8Array {
  return xorAll(
    [...Array(n).keys()].map((j) => bodyOf<AuxRound2>(r.traffic.find((e) => e.round === 'r2' && e.from === j)).rho),
  );
}

beforeAll(async () => {
  safe = await testPrimes('safe', 1536);
  small = await testPrimes('safe', 1024);
  inputs = [0, 1, 2].map((i) => ({ p: safe[2 * i] as bigint, q: safe[2 * i + 1] as bigint }));
  honest = run(inputs);
});

describe('aux-info: honest run (n = 3, 3072-bit moduli)', () => {
  it('completes at every party with identical public parameters for all parties', () => {
    expect(honest.errors).toEqual([undefined, undefined, undefined]);
    const outs = honest.outputs as AuxInfo[];
    expect(outs.every((o) => o !== undefined)).toBe(true);
    for (const [i, o] of outs.entries()) {
      expect(o.version).toBe(1);
      expect(o.i).toBe(i);
      expect(o.n).toBe(n);
      expect(o.parties).toHaveLength(n);
      expect(o.parties).toEqual(outs[0]?.parties);
      // Own primes are the input, and p·q is the published N_i.
      expect([o.p, o.q]).toEqual([inputs[i]?.p, inputs[i]?.q]);
      expect(o.p * o.q).toBe(o.parties[i]?.N);
    }
    // Distinct moduli and parameters per party.
    expect(new Set(outs[0]?.parties.map((pa) => pa.N)).size).toBe(n);
  });

  it('runs r1 as a reliable broadcast (echo round), r2 as broadcast and r3 as p2p', () => {
    const rounds = new Set(honest.traffic.map((e) => `${e.round}:${e.to === -1 ? 'all' : 'p2p'}`));
    expect([...rounds].sort()).toEqual(['r1.echo:all', 'r1:all', 'r2:all', 'r3:p2p']);
    // The r3 messages to different recipients share Πmod and differ in Πfac.
    const decode3 = (to: number) =>
      bodyOf<AuxRound3>(honest.traffic.find((e) => e.round === 'r3' && e.from === 0 && e.to === to));
    expect(decode3(1).mod).toEqual(decode3(2).mod);
    expect(decode3(1).fac).not.toEqual(decode3(2).fac);
  });

  it('produces aux info that validateAuxInfo accepts, and validateAuxInfo refuses broken variants', () => {
    for (const o of honest.outputs as AuxInfo[]) expect(validateAuxInfo(math, o)).toEqual(o);
    const o = honest.outputs[1] as AuxInfo;
    const other = honest.outputs[2] as AuxInfo;
    const withParty = (j: number, change: Partial<AuxInfo['parties'][number]>): AuxInfo => ({
      ...o,
      parties: o.parties.map((pa, k) => (k === j ? { ...pa, ...change } : pa)),
    });
    const small2048 = (small[0] as bigint) * (small[1] as bigint);
    const broken: Array<[string, AuxInfo]> = [
      ['primes of another party', { ...o, p: other.p, q: other.q }],
      ['p = q', { ...o, q: o.p }],
      ['own N replaced', withParty(1, { N: other.parties[2]?.N as bigint })],
      ['peer N of 2048 bits', withParty(0, { N: small2048 })],
      ['peer N even', withParty(0, { N: (o.parties[0]?.N as bigint) + 1n })],
      ['s = 1', withParty(2, { s: 1n })],
      ['s = t', withParty(2, { s: o.parties[2]?.t as bigint })],
      ['t = N − 1', withParty(0, { t: (o.parties[0]?.N as bigint) - 1n })],
      ['duplicate N', withParty(2, { ...o.parties[0] })],
      ['moduli sharing a prime', withParty(2, { N: o.p * (safe[10] as bigint) })],
      ['n − 1 entries', { ...o, parties: o.parties.slice(0, 2) }],
      ['i ≥ n', { ...o, i: 3 }],
      ['n = 1', { ...o, n: 1, i: 0, parties: o.parties.slice(0, 1) }],
      ['version 2', { ...o, version: 2 as 1 }],
    ];
    for (const [name, aux] of broken) {
      let code = 'accepted';
      try {
        validateAuxInfo(math, aux);
      } catch (e) {
        code = isMpcError(e) ? e.code : String(e);
      }
      expect(`${name}: ${code}`).toBe(`${name}: ERR_KEY_SHARE_INVALID`);
    }
  });

  it('round-trips aux info through the strict versioned codec', () => {
    for (const o of honest.outputs as AuxInfo[]) {
      const bytes = encodeAuxInfo(o);
      const back = decodeAuxInfo(bytes);
      expect(back).toEqual(o);
      expect(encodeAuxInfo(back)).toEqual(bytes);
      expect(validateAuxInfo(math, back)).toEqual(o);
    }
    const bytes = encodeAuxInfo(honest.outputs[0] as AuxInfo);
    const refuse = (b: Uint8Array) => {
      try {
        decodeAuxInfo(b);
      } catch (e) {
        return isMpcError(e) ? e.code : 'not an MpcError';
      }
      return 'accepted';
    };
    // Every truncation, a trailing byte, another tag or version, a wrong count.
    for (let len = 0; len < bytes.length; len++) expect(refuse(bytes.subarray(0, len))).toMatch(/^ERR_WIRE_/);
    expect(refuse(Uint8Array.of(...bytes, 0))).toBe('ERR_WIRE_TRAILING_BYTES');
    expect(refuse(Uint8Array.of(0x62, ...bytes.subarray(1)))).toBe('ERR_WIRE_BAD_TAG');
    expect(refuse(Uint8Array.of(bytes[0] as number, 2, ...bytes.subarray(2)))).toBe('ERR_WIRE_BAD_TAG');
    const wrongI = Uint8Array.from(bytes);
    new DataView(wrongI.buffer).setUint32(2, 3); // i = 3 ≥ n
    expect(refuse(wrongI)).toBe('ERR_KEY_SHARE_INVALID');
    const tooMany = Uint8Array.from(bytes);
    new DataView(tooMany.buffer).setUint32(6, AUX_MAX_PARTIES + 1);
    expect(refuse(tooMany)).toBe('ERR_KEY_SHARE_INVALID');
  });

  it('decodes every round message strictly (truncations and trailing bytes are refused)', () => {
    for (const round of ['r1', 'r2', 'r3']) {
      const env = honest.traffic.find((e) => e.round === round);
      const def = auxInfo.rounds.find((r) => r.name === round);
      if (env === undefined || def === undefined) throw new Error(`no ${round} traffic`);
      const body = def.decode(env.body, env.from, {} as RoundCtx);
      expect(def.encode(body)).toEqual(env.body);
      for (const len of [0, 1, env.body.length >> 1, env.body.length - 1]) {
        expect(() => def.decode(env.body.subarray(0, len), env.from, {} as RoundCtx)).toThrow(/ERR_WIRE_/);
      }
      expect(() => def.decode(Uint8Array.of(...env.body, 0), env.from, {} as RoundCtx)).toThrow(/ERR_WIRE_/);
    }
  });

  it('refuses unusable primes and party counts with ERR_PROTOCOL_INPUT, naming no value', () => {
    const p = safe[0] as bigint;
    const q = safe[1] as bigint;
    const ctx: RoundCtx = { self: 0, n, sid: SID, math, rng: new TestDrbg('input') };
    const top = 1n << 1535n;
    const bad: Array<[string, AuxInput, RoundCtx]> = [
      ['p = q', { p, q: p }, ctx],
      ['p ≡ 1 (mod 4)', { p: p + 2n, q }, ctx],
      ['1024-bit primes', { p: small[0] as bigint, q: small[1] as bigint }, ctx],
      ['N of 3071 bits', { p: top + 3n, q: top + 7n }, ctx],
      ['N above 4096 bits', { p: (1n << 2100n) + 3n, q }, ctx],
      // p + 4 ≡ 3 (mod 4) and divisible by 3 (a safe prime p > 7 is ≡ 2 mod 3): composite.
      ['composite p', { p: p + 4n, q }, ctx],
      ['not bigints', { p: 3, q: 7 } as unknown as AuxInput, ctx],
      ['n = 1', { p, q }, { ...ctx, n: 1 }],
      ['self ≥ n', { p, q }, { ...ctx, self: 3 }],
    ];
    for (const [name, input, c] of bad) {
      let err: unknown;
      try {
        auxInfo.init(input, c);
      } catch (e) {
        err = e;
      }
      expect(`${name}: ${isMpcError(err) ? err.code : String(err)}`).toBe(`${name}: ERR_PROTOCOL_INPUT`);
      const msg = (err as Error).message;
      for (const v of [p, q, p + 2n, p + 4n])
        expect(msg.includes(v.toString(16)) || msg.includes(v.toString())).toBe(false);
    }
  });
});

describe('aux-info: malicious parties (honest parties abort naming exactly the culprit)', () => {
  it('aborts with blame when party 1 sends different commitments to different parties in round 1 (echo round, A13)', () => {
    const equivocate: Tamper = ({ round, recipient, body }) =>
      round === 'r1' && recipient === 2 ? { V: new Uint8Array(32).fill(9) } : body;
    const r = run(inputs, new Map([[1, equivocate]]));
    expectAbort(r, inputs, [1], /equivocation/, 'r1');
  });

  it('aborts with blame when party 1 opens its round-1 commitment with another nonce in round 2', () => {
    const wrongNonce: Tamper = ({ round, body }) => {
      if (round !== 'r2') return body;
      const d = body as AuxRound2;
      return { ...d, u: d.u.map((b, k) => (k === 0 ? b ^ 1 : b)) };
    };
    const r = run(inputs, new Map([[1, wrongNonce]]));
    expectAbort(r, inputs, [1], /decommitment/, 'r2');
  });

  it('aborts with blame when party 1 publishes a 2048-bit modulus made of two 1024-bit primes (A3)', () => {
    // The bad input, consistently committed and opened (see `publishing`): N = p·q of 2048 bits with
    // genuine ring-Pedersen parameters and a genuine Πprm on it.
    const sk = paillierSecretKey(math, small[0] as bigint, small[1] as bigint, 0);
    const rp = generateRingPedersen(math, sk, new TestDrbg('small-rp'));
    const prm = provePrm(
      math,
      auxProofContext(SID, 1),
      rp.params,
      { lambda: rp.lambda, phi: rp.phi, sk },
      new TestDrbg('small-prm'),
    );
    const d: AuxRound2 = { N: sk.pub.n, s: rp.params.s, t: rp.params.t, prm, rho: bytes48(1), u: bytes48(2) };
    const r = run(inputs, undefined, publishing(1, d));
    expectAbort(r, inputs, [1], /modulus N_j rejected \(A3\).*ERR_PAILLIER_KEY_TOO_SMALL/, 'r2');
  });

  it.each([
    ['s = 1', 0n],
    ['s = t', 1n],
  ])('aborts with blame when party 1 publishes degenerate ring-Pedersen parameters: %s (A4)', (_, lambda) => {
    // s = t^λ with λ = 0 or 1: the Πprm is even genuine, which is why the parameter checks exist.
    const sk = paillierSecretKey(math, safe[2] as bigint, safe[3] as bigint, SECURITY.minModulusBits);
    const { N, t } = pub(1);
    const st = { n: N, s: lambda === 0n ? 1n : t, t };
    const prm = provePrm(math, auxProofContext(SID, 1), st, { lambda, phi: sk.phi, sk }, new TestDrbg('degenerate'));
    const d: AuxRound2 = { N, s: st.s, t, prm, rho: bytes48(3), u: bytes48(4) };
    const r = run(inputs, undefined, publishing(1, d));
    expectAbort(r, inputs, [1], /ring-Pedersen parameters .* rejected \(A4\)/, 'r2');
  });

  it('aborts with blame when party 1 sends a Πprm made for another prover index (A4, A7)', () => {
    // Fresh, genuine parameters on party 1's N, but the proof is bound to prover 0: replayed as party 1's.
    const sk = paillierSecretKey(math, safe[2] as bigint, safe[3] as bigint, SECURITY.minModulusBits);
    const rp = generateRingPedersen(math, sk, new TestDrbg('replayed-rp'));
    const prm = provePrm(
      math,
      auxProofContext(SID, 0),
      rp.params,
      { lambda: rp.lambda, phi: rp.phi, sk },
      new TestDrbg('replayed-prm'),
    );
    const d: AuxRound2 = { N: sk.pub.n, s: rp.params.s, t: rp.params.t, prm, rho: bytes48(5), u: bytes48(6) };
    const r = run(inputs, undefined, publishing(1, d));
    expectAbort(r, inputs, [1], /Πprm ψ̂_j invalid \(A4\).*ERR_ZK_PROOF_INVALID/, 'r2');
  });

  it.each([
    ['the modulus of party 1', 'q', /duplicate Paillier modulus: N_2 equals N_1/],
    ['a modulus sharing a prime with party 1', 'fresh', /Paillier modulus N_2 shares a prime with N_1/],
  ] as const)('aborts with blame when party 2 reuses %s', (_, second, reason) => {
    // Party 2 runs the honest code on party 1's p and either party 1's q or a fresh fixture prime:
    // all of its proofs are genuine.
    const p1 = inputs[1] as AuxInput;
    const ins = [inputs[0], p1, { p: p1.p, q: second === 'q' ? p1.q : (safe[9] as bigint) }] as AuxInput[];
    const r = run(ins);
    // Deterministic rule: the party whose N collides with a lower-indexed party's N is blamed, at
    // party 0 and at party 1 alike. (Party 2 itself sees its "own" N collide with a lower index and
    // blames 1; it is the faulty party here, and a party never blames itself.)
    expectAbort(r, ins, [2], reason, 'r2');
    expect(r.outputs.every((o) => o === undefined)).toBe(true);
    expect(r.errors[2]?.blame.map((b) => b.party)).toEqual([1]);
  });

  it('aborts with blame when party 1 sends a Πmod for another modulus in round 3 (A2)', () => {
    // Pass-through hooks record every ρ_j as it is sent, so the forged proof is under the real rid.
    const rhos = new Map<number, Uint8Array>();
    const record =
      (forge?: (body: AuxRound3) => AuxRound3): Tamper =>
      ({ round, from, body }) => {
        if (round === 'r2') rhos.set(from, (body as AuxRound2).rho);
        return round === 'r3' && forge !== undefined ? forge(body as AuxRound3) : body;
      };
    let forged: AuxRound3['mod'] | undefined;
    const otherModulus = (body: AuxRound3): AuxRound3 => {
      if (forged === undefined) {
        expect(rhos.size).toBe(n);
        const rid = xorAll(rhos.values());
        // A genuine Blum modulus proof, correctly bound to (sid, ρ, prover 1), for fixture primes 10, 11.
        const p = safe[10] as bigint;
        const q = safe[11] as bigint;
        forged = proveMod(math, auxProofContext(SID, 1, rid), { n: p * q }, { p, q }, new TestDrbg('other-mod'));
      }
      return { ...body, mod: forged };
    };
    const r = run(
      inputs,
      new Map([
        [0, record()],
        [1, record(otherModulus)],
        [2, record()],
      ]),
    );
    expectAbort(r, inputs, [1], /Πmod ψ_j invalid \(A2\).*ERR_ZK_PROOF_INVALID/, 'r3');
  });

  it('aborts at every honest party, through the recipient’s abort notice, when party 1 sends an invalid Πfac to party 0 only (A1)', () => {
    const badFac: Tamper = ({ round, recipient, body }) => {
      if (round !== 'r3' || recipient !== 0) return body;
      const m = body as AuxRound3;
      return { ...m, fac: { ...m.fac, z1: m.fac.z1 + 1n } };
    };
    const r = run(inputs, new Map([[1, badFac]]));
    // The recipient aborts naming the prover, and outputs nothing.
    expect(r.errors[0]?.blame.map((b) => b.party)).toEqual([1]);
    expect(r.errors[0]?.blame[0]?.reason).toMatch(/Πfac φ_j\^i invalid \(A1\).*ERR_ZK_PROOF_INVALID/);
    // φ_1^2 is genuine and r3 is the last round, so party 2 completes first; then party 0's abort
    // notice hands it party 1's signed r3 envelope to party 0, which it re-verifies with party 0's
    // public (N, s, t): it withdraws its output and ends with party 0's very verdict.
    expectAbort(r, inputs, [1], /Πfac φ_j\^i invalid \(A1\).*ERR_ZK_PROOF_INVALID/, 'r3');
    expect(r.errors[2]?.blame).toEqual(r.errors[0]?.blame);
    const env = r.traffic.find((e) => e.round === 'r3' && e.from === 1 && e.to === 0);
    if (env === undefined) throw new Error('no r3 message from party 1 to party 0');
    expect(r.errors[2]?.blame[0]?.msgIds).toEqual([messageId(env)]);
    // The evidence is checkable by anyone from public data, outside the protocol too: the signature
    // holds (party 0 cannot have made the proof up) and the proof fails (party 1 cannot deny it).
    const roster = simulationKeys(n, new Uint8Array(32).fill(7)).publics;
    expect(ed25519Authenticator(new Uint8Array(32), roster).verify(1, signedBytes(env), env.sig)).toBe(true);
    const verifier0 = ringPedersenParams(math, pub(0).N, pub(0).s, pub(0).t, SECURITY.minModulusBits);
    expect(() =>
      verifyFac(math, auxProofContext(SID, 1, ridOf(r)), verifier0, { n: pub(1).N }, bodyOf<AuxRound3>(env).fac),
    ).toThrow(/ERR_ZK_PROOF_INVALID/);
  });

  it('blames party 0 at every other party when it accuses party 1 with a genuine Πfac (false accusation)', () => {
    const r = simulate(auxInfo, inputs, {
      sid: SID,
      math,
      rngs: inputs.map((_, i) => new TestDrbg(`aux-info-${i}`)),
      inject: (traffic, auths) => {
        const evidence = traffic.find((e) => e.round === 'r3' && e.from === 1 && e.to === 0) as Envelope;
        const unsigned = {
          protocol: 'aux-info',
          sid: SID,
          round: ABORT_ROUND,
          from: 0,
          to: ALL,
          body: encodeAbortNotice({ round: 'r3', accusations: [{ culprit: 1, reason: 'A1', evidence: [evidence] }] }),
        };
        const notice = { ...unsigned, sig: (auths[0] as Authenticator).sign(signedBytes(unsigned)) };
        return [1, 2].map((to) => ({ env: notice, to }));
      },
    });
    // Both had completed; both withdraw their output and name the accuser.
    for (const h of [1, 2]) {
      expect(r.outputs[h]).toBeUndefined();
      expect(r.errors[h]?.blame).toMatchObject([
        { party: 0, reason: 'false accusation: evidence against party 1 shows no fault' },
      ]);
    }
    expectNoSecrets(r, inputs, [1, 2]);
  });

  it('names every faulty party found in a round, not only the first', () => {
    const wrongNonce: Tamper = ({ round, body }) =>
      round === 'r2' ? { ...(body as AuxRound2), rho: bytes48(0xee) } : body;
    const sk = paillierSecretKey(math, small[2] as bigint, small[3] as bigint, 0);
    const rp = generateRingPedersen(math, sk, new TestDrbg('small-rp-2'));
    const prm = provePrm(math, auxProofContext(SID, 2), rp.params, { lambda: rp.lambda, phi: rp.phi, sk });
    const d: AuxRound2 = { N: sk.pub.n, s: rp.params.s, t: rp.params.t, prm, rho: bytes48(7), u: bytes48(8) };
    const r = run(inputs, new Map([[1, wrongNonce]]), publishing(2, d));
    expectAbort(r, inputs, [1, 2], /decommitment|A3/, 'r2');
  });
});
