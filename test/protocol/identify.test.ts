import { sha256 } from '@noble/hashes/sha2.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { MpcError } from '../../src/errors/index.js';
import { mod } from '../../src/math/bits.js';
import { CURVE_ORDER } from '../../src/primitives/curve.js';
import { type Envelope, encodeEnvelope } from '../../src/protocol/envelope.js';
import {
  deltaPlaintextBits,
  type IdentifyDeltaInput,
  type IdentifyOutput,
  type IdentifySignatureInput,
  type IdentifyState,
  identifyDelta,
  identifySignature,
  type MsgIdDelta,
  type MsgIdSignature,
  type PresignRetained,
  retainingPresign,
  signaturePlaintextBits,
} from '../../src/protocol/identify.js';
import type { KeyShare } from '../../src/protocol/key-share.js';
import type { MsgR3, Presignature } from '../../src/protocol/presign.js';
import {
  combineSignature,
  issuePartialSignature,
  MemoryPresignatureLedger,
  type PartialSignature,
} from '../../src/protocol/sign.js';
import { type SimulationResult, simulate, simulationKeys, type Tamper } from '../../src/protocol/simulation.js';
import type { ProtocolDef } from '../../src/protocol/types.js';
import { type DealtKey, dealKeyShares } from '../helpers/dealer.js';
import { TestDrbg } from '../helpers/drbg.js';
import { math as native, sid } from '../helpers/keys.js';
import { memoMath } from '../helpers/memo-math.js';

// 3-of-3 Shamir key, all three sign, with an HD path (position 0 carries the shift δ_HD in x_0, X_0).
const SIGNERS = [0, 1, 2];
const PATH = [0, 1, 7];
const CULPRIT = 1;
/** simulate() signs with these keys (simulation.ts: seed 32 × 0x07). */
const ROSTER = simulationKeys(3, new Uint8Array(32).fill(7)).publics;

/**
 * Arithmetic through a cache (test/helpers/memo-math.ts, as aux-info.test.ts does; CI time). The
 * three presigning runs have their own sids but the same DRBG seeds, so the work that does not
 * depend on the sid (the Paillier encryptions of the same k_i, γ_i, the provers' first messages) is
 * looked up after the first run; the identification runs over one presigning run share its sid and
 * seeds, so each computes only what its liar changes. Every run is its own simulation and runs
 * every check; only exponentiation results are reused.
 */
const math = memoMath(native);

interface PresignRun {
  readonly label: string;
  readonly r: SimulationResult<Presignature>;
  readonly kept: PresignRetained[];
}

let key: DealtKey;
let honest: PresignRun;
let wrongDelta: PresignRun;
let splitDelta: PresignRun;

function runPresign(label: string, tamper?: Tamper): PresignRun {
  const kept: PresignRetained[] = [];
  const r = simulate(
    retainingPresign((i, s) => {
      kept[i] = s;
    }),
    SIGNERS.map((s) => ({ share: key.shares[s] as KeyShare, signers: SIGNERS, path: PATH })),
    {
      sid: sid(`identify-presign-${label}`),
      math,
      rngs: SIGNERS.map((_, i) => new TestDrbg(`identify-presign-${i}`)),
      ...(tamper === undefined ? {} : { tamper: new Map([[CULPRIT, tamper]]) }),
    },
  );
  return { label, r, kept };
}

beforeAll(async () => {
  key = await dealKeyShares({ n: 3, t: 3, seed: 'identify-3of3' });
  honest = runPresign('honest');
  // δ_1 + 1 to everybody, every proof consistent: all honest parties fail the δ check.
  wrongDelta = runPresign('wrong-delta', ({ round, body }) =>
    round === 'r3'
      ? ({ ...(body as MsgR3), delta: mod((body as MsgR3).delta + 1n, CURVE_ORDER) } satisfies MsgR3)
      : body,
  );
  // δ_1 + 1 to party 2 only: party 2 fails, party 0 outputs a presignature.
  splitDelta = runPresign('split-delta', ({ round, recipient, body }) =>
    round === 'r3' && recipient === 2
      ? ({ ...(body as MsgR3), delta: mod((body as MsgR3).delta + 1n, CURVE_ORDER) } satisfies MsgR3)
      : body,
  );
}, 120_000);

const received = (run: PresignRun, i: number): Envelope[] => run.r.traffic.filter((e) => e.to === i);

function runIdentifyDelta(
  run: PresignRun,
  def: ProtocolDef<IdentifyDeltaInput, IdentifyState, IdentifyOutput> = identifyDelta,
): SimulationResult<IdentifyOutput> {
  return simulate(
    def,
    SIGNERS.map((_, i) => ({ retained: run.kept[i] as PresignRetained, received: received(run, i), roster: ROSTER })),
    {
      sid: sid(`identify-delta-${run.label}`),
      math,
      rngs: SIGNERS.map((_, i) => new TestDrbg(`id-delta-${run.label}-${i}`)),
    },
  );
}

function runIdentifySignature(
  presigs: readonly Presignature[],
  digest: Uint8Array,
  partials: (i: number) => readonly PartialSignature[],
  def: ProtocolDef<IdentifySignatureInput, IdentifyState, IdentifyOutput> = identifySignature,
): SimulationResult<IdentifyOutput> {
  return simulate(
    def,
    SIGNERS.map((_, i) => ({
      retained: honest.kept[i] as PresignRetained,
      received: received(honest, i),
      roster: ROSTER,
      presignature: presigs[i] as Presignature,
      digest,
      partials: partials(i),
    })),
    { sid: sid('identify-sig'), math, rngs: SIGNERS.map((_, i) => new TestDrbg(`id-sig-${i}`)) },
  );
}

/** A party whose identification message is changed AFTER its honest code built it (then signed as usual). */
function lying<I, B>(
  def: ProtocolDef<I, IdentifyState, IdentifyOutput>,
  liar: number,
  change: (body: B) => B,
): ProtocolDef<I, IdentifyState, IdentifyOutput> {
  return {
    ...def,
    init(input, ctx) {
      const out = def.init(input, ctx);
      if (ctx.self !== liar) return out;
      return { state: out.state, outbox: out.outbox.map((o) => ({ ...o, body: change(o.body as B) })) };
    },
  };
}

/** Every string an abort exposes. */
function exposed(e: MpcError): string {
  return [e.message, ...e.blame.map((b) => b.reason), JSON.stringify(e.details)].join('\n');
}

/** No honest party's k_i, γ_i, x_i, χ_i (hex or decimal), no share, no long number at all. */
function expectNoSecrets(e: MpcError): void {
  const text = exposed(e).toLowerCase();
  const secrets = [key.secret, ...key.shares.map((s) => s.core.x)];
  for (const run of [honest, wrongDelta, splitDelta]) {
    for (const s of run.kept) secrets.push(s.k, s.gamma, s.x, s.chi, s.sk.p, s.sk.q);
  }
  for (const x of secrets) {
    expect(text).not.toContain(x.toString());
    expect(text).not.toContain(x.toString(16));
  }
  expect(text).not.toMatch(/[0-9a-f]{24,}/);
  expect(text).not.toMatch(/\d{16,}/);
}

/** Every party except `culprit` aborts the identification naming exactly `culprit`, for `reason`. */
function expectNamed(r: SimulationResult<IdentifyOutput>, culprit: number, reason: RegExp): void {
  for (let i = 0; i < SIGNERS.length; i++) {
    if (i === culprit) continue;
    const e = r.errors[i];
    expect(e, `party ${i} must name the culprit`).toBeInstanceOf(MpcError);
    expect(e?.code).toBe('ERR_PROTOCOL_ABORT');
    expect(e?.blame.map((b) => b.party)).toEqual([culprit]);
    expect(e?.blame[0]?.reason).toMatch(reason);
    // The runner attaches the culprit's signed identification message as evidence.
    expect(e?.blame[0]?.msgIds).toHaveLength(1);
    expect(r.outputs[i]).toBeUndefined();
    expectNoSecrets(e as MpcError);
  }
}

function expectNobody(r: SimulationResult<IdentifyOutput>): void {
  expect(r.errors).toEqual([undefined, undefined, undefined]);
  for (const o of r.outputs) expect(o).toEqual({ culprits: [] });
}

describe('plaintext bounds of Πdec (module doc)', () => {
  it('cover |δ̃_i| and |m·k_i + r′·χ̃_i| with slack, well below what Πdec allows for a 3071-bit N', () => {
    // max(ℓ+ε+1+|q|, ℓ'+ε+1) + 1 = 1080; + bitLength(3) = 2; + 8 slack
    expect(deltaPlaintextBits(3)).toBe(1090);
    expect(signaturePlaintextBits(3)).toBe(1090 + 256 + 1);
    expect(signaturePlaintextBits(15) + 230 + 4).toBeLessThanOrEqual(3071);
    // The honest values of a real run are far inside (β ∈ ±2^ℓ' dominates: ≈ 2^850).
    for (const s of honest.kept) {
      let y = s.gamma * s.k;
      for (let j = 0; j < 3; j++) {
        const sent = s.sent[j];
        if (sent !== null && sent !== undefined) y += sent.beta;
      }
      expect(y < 1n << BigInt(deltaPlaintextBits(3))).toBe(true);
    }
  });
});

describe('identifyDelta after a failed δ check (PROTOCOL.md §7.2)', () => {
  it('names the party that sent a wrong δ_i (all its proofs consistent) at every honest party', () => {
    for (const i of [0, 2]) {
      expect(wrongDelta.r.errors[i]?.details.reason).toBe('delta-mismatch');
      expect(wrongDelta.r.errors[i]?.blame).toEqual([]);
    }
    expect(wrongDelta.kept.filter((s) => s !== undefined)).toHaveLength(3);
    const r = runIdentifyDelta(wrongDelta);
    expectNamed(r, CULPRIT, /^invalid Πdec for U_i \(verifier 0\) \(ERR_ZK_PROOF_INVALID: mod-q equation\)/);
  });

  it('names the party that sent different δ_i to different peers (P2P equivocation, signed evidence)', () => {
    expect(splitDelta.r.errors[2]?.details.reason).toBe('delta-mismatch');
    expect(splitDelta.r.outputs[0]).toBeDefined(); // party 0 saw a consistent δ and finished
    const r = runIdentifyDelta(splitDelta);
    expectNamed(r, CULPRIT, /^signed different \(δ_j, Δ_j\) for different signers in presign round 3$/);
  });

  it('names nobody after an honest run', () => {
    expect(honest.r.errors).toEqual([undefined, undefined, undefined]);
    const r = runIdentifyDelta(honest);
    expectNobody(r);
    // One reliable broadcast per party (plus the echo): 2(t−1) envelopes, 1 Πmul, t−1 Πdec, (t−1)(t−2) Πaff-g.
    const sizes = r.traffic.filter((e) => e.round === 'id-delta').map((e) => e.body.length);
    expect(Math.max(...sizes)).toBeLessThan(64 * 1024); // ≈ 55 KiB at 3072-bit moduli
  });

  it('names a party that lies during identification: bad Πmul and a forged evidence envelope', () => {
    const liar = 2;
    const def = lying<IdentifyDeltaInput, MsgIdDelta>(identifyDelta, liar, (m) => {
      const env = m.r2[0] as Envelope;
      const body = Uint8Array.from(env.body);
      body[body.length - 1] = (body[body.length - 1] as number) ^ 1; // no longer what party 0 signed
      const r2 = m.r2.map((e, j) => (j === 0 ? { ...env, body } : e));
      expect(encodeEnvelope(r2[0] as Envelope)).not.toEqual(encodeEnvelope(env));
      return { ...m, r2, mul: { ...m.mul, z: m.mul.z + 1n } };
    });
    const r = runIdentifyDelta(honest, def);
    expectNamed(r, liar, /invalid Πmul for H_i \(ERR_ZK_PROOF_INVALID: .*equation\)/);
    for (const i of [0, 1]) {
      expect(r.errors[i]?.blame[0]?.reason).toMatch(/published presign r2 evidence that signer 0 did not sign for it/);
    }
  });

  it('refuses evidence that does not match the retained state or the roster (ERR_PROTOCOL_INPUT)', () => {
    const base = { retained: honest.kept[0] as PresignRetained, received: received(honest, 0), roster: ROSTER };
    const cases: Array<[string, IdentifyDeltaInput, RegExp]> = [
      [
        'missing envelope',
        { ...base, received: base.received.filter((e) => !(e.round === 'r3' && e.from === 1)) },
        /r3/,
      ],
      ['wrong roster', { ...base, roster: [...ROSTER].reverse() }, /roster/],
      ['other run', { ...base, received: received(wrongDelta, 0) }, /exactly one/],
    ];
    for (const [name, input, why] of cases) {
      const r = simulate(identifyDelta, [input, input, input], {
        sid: sid(`bad-${name}`),
        math,
        rngs: [0, 1, 2].map((i) => new TestDrbg(`b${i}`)),
      });
      expect(r.errors[0]?.code, name).toBe('ERR_PROTOCOL_INPUT');
      expect(r.errors[0]?.message, name).toMatch(why);
      expect(
        r.traffic.filter((e) => e.from === 0),
        name,
      ).toHaveLength(0);
    }
  });
});

describe('identifySignature after an invalid combined signature (PROTOCOL.md §7.3)', () => {
  const digest = sha256(new TextEncoder().encode('identify: pay 1 BTC'));
  let presigs: Presignature[];
  let genuine: PartialSignature[];
  let forged: PartialSignature[];

  beforeAll(() => {
    presigs = honest.r.outputs as Presignature[];
    genuine = presigs.map((p) => issuePartialSignature(p, digest, new MemoryPresignatureLedger()));
    forged = genuine.map((p) => (p.signer === CULPRIT ? { ...p, sigma: mod(p.sigma + 1n, CURVE_ORDER) } : p));
    expect(() => combineSignature(presigs[0] as Presignature, digest, genuine)).not.toThrow();
  });

  it('names the signer that sent a wrong σ_i at every honest party', () => {
    let err: unknown;
    try {
      combineSignature(presigs[0] as Presignature, digest, forged);
    } catch (e) {
      err = e;
    }
    expect((err as MpcError).details.reason).toBe('signature-invalid');
    expect((err as MpcError).blame).toEqual([]);
    // Honest parties hold the forged σ_1; the culprit's own code broadcasts the σ_1 it really computed.
    const r = runIdentifySignature(presigs, digest, (i) => (i === CULPRIT ? genuine : forged));
    expectNamed(r, CULPRIT, /^σ_i differs from the partial signature it issued$/);
  });

  it('names nobody when every partial is genuine', () => {
    expectNobody(runIdentifySignature(presigs, digest, () => genuine));
  });

  it('names a signer that lies during identification: its wrong σ_i again (Πdec cannot match) and a bad Πmul*', () => {
    // The culprit of the previous test now also broadcasts the forged σ_1 (consistent with the partial
    // the others hold), and breaks the Πmul* made for verifier 2 only: party 0 checks that one too.
    const def = lying<IdentifySignatureInput, MsgIdSignature>(identifySignature, CULPRIT, (m) => ({
      ...m,
      sigma: mod(m.sigma + 1n, CURVE_ORDER),
      mulStar: m.mulStar.map((p, l) => (p !== null && l === 2 ? { ...p, z1: p.z1 - 1n } : p)),
    }));
    const r = runIdentifySignature(presigs, digest, (i) => (i === CULPRIT ? genuine : forged), def);
    expectNamed(
      r,
      CULPRIT,
      /^invalid Πmul\* for Ĥ_i \(verifier 2\) \(ERR_ZK_PROOF_INVALID: [a-z -]+\); invalid Πdec for V_i \(verifier 0\) \(ERR_ZK_PROOF_INVALID: mod-q equation\); invalid Πdec for V_i \(verifier 2\)/,
    );
  });
});
