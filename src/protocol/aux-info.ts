/**
 * Aux-info generation (CGGMP24 "auxiliary info" without the key refresh; cggmp21
 * `key_refresh/aux_only.rs`, the spec's "Provisioning Protocol"; PROTOCOL.md §4.1): every party
 * publishes a Paillier–Blum modulus N_i with ring-Pedersen parameters (s_i, t_i) on it, and proves
 * s_i ∈ ⟨t_i⟩ (Πprm), that N_i is a Paillier–Blum modulus (Πmod) and that it has no small factor
 * (Πfac, towards each verifier with the verifier's own parameters).
 *
 * Rounds (PROTOCOL.md §4.1):
 *   r1  reliable broadcast  V_i = H(sid, n, i, N_i, s_i, t_i, ψ̂_i, ρ_i, u_i)        (+ framework echo round)
 *   r2  broadcast           decommitment (N_i, s_i, t_i, ψ̂_i, ρ_i, u_i)
 *   r3  p2p to each P_j     (ψ_i, φ_i^j): Πmod for N_i (same for all), Πfac for N_i with (N_j, s_j, t_j)
 *   output                  own (p_i, q_i) and (N_j, s_j, t_j) for every j
 *
 * Naming (paper / PROTOCOL.md): N, s, t ring-Pedersen/Paillier public data; λ trapdoor (s = t^λ,
 * discarded once ψ̂ is proved); ψ̂ (`prm`) Πprm; ρ (`rho`) the party's share of the joint randomness;
 * u the commitment nonce; V the hash commitment; ψ (`mod`) Πmod; φ^j (`fac`) Πfac towards P_j;
 * rid = ⊕_j ρ_j, bound into Πmod and Πfac so that no prover can grind its modulus against known
 * challenges (Πprm is made before rid exists and is hidden inside V instead).
 *
 * The party's safe primes come from the caller (the prime pool): prime generation is not a round.
 * Everything else heavy (ring-Pedersen setup, the three proofs, their verification) happens inside
 * `init` / `process`, so the daemon can move whole rounds to a worker.
 *
 * What each check stops (SECURITY.md): A1 small-factor N (Πfac), A2 non-Blum N (Πmod), A3 short N
 * (size floor 8κ − 1 = 3071 bits), A4 degenerate ring-Pedersen parameters (s, t ∈ Z*_N \ {±1},
 * s ≠ t, Πprm), A5 repetition count (decoders), A7/A11 replay (sid, prover index, rid and the
 * "aux-info" label in every proof transcript and in V).
 *
 * Blame and identifiable abort. Every check names the sender of the signed message it failed on.
 * r1 is a reliable broadcast (V_j is the same everywhere, or the echo round names the equivocator)
 * and V_j binds everything in r2, so every check on r2 data (decommitment, sizes, parameters, Πprm,
 * duplicates) and on Πmod gives the same verdict at every honest party — as long as the culprit sent
 * the same bytes to all. A fault in a message only one recipient sees — φ_j^i (Πfac is per
 * recipient by construction), or an r2/r3 message the sender varies per recipient (r2 is a plain
 * broadcast, as in PROTOCOL.md §4.1) — makes that recipient abort naming j while the others may
 * complete (r3 is the last round; cggmp21 behaves the same). This stays identifiable: the abort is
 * backed by j's signed envelope, and the proof is re-checkable by anyone from public data (the r2
 * values, sid, rid = ⊕ρ_j, `auxProofContext`), so j cannot deny it and the recipient cannot frame j.
 * The recipient's runner publishes that envelope in an abort notice, and `auxInfo.judge` re-runs
 * the recipient's checks of it at every other party (decommitment against the echoed V_j, A3, A4,
 * Πprm for r2; Πmod and Πfac with the recipient's (N, s, t) for r3): every honest party, finished
 * or not, then aborts naming j — or the recipient, if the message was fine. The layer above must
 * still treat the session as failed when any party aborts, and discard the outputs.
 */
import { equalBytes } from '@noble/curves/utils.js';
import { MpcError } from '../errors/index.js';
import type { MathBackend } from '../math/backend.js';
import { bitLength } from '../math/bits.js';
import { paillierPublicKey, paillierSecretKey } from '../primitives/paillier.js';
import { generateRingPedersen, type RingPedersenParams, ringPedersenParams } from '../primitives/ring-pedersen.js';
import { Transcript } from '../primitives/transcript.js';
import { WireReader, WireWriter } from '../util/wire.js';
import { type ProofContext, TAG_PREFIX } from '../zk/common.js';
import { decodeFacProof, encodeFacProof, FAC_PROOF_MAX_BYTES, type FacProof, proveFac, verifyFac } from '../zk/fac.js';
import { decodeModProof, encodeModProof, MOD_PROOF_MAX_BYTES, type ModProof, proveMod, verifyMod } from '../zk/mod.js';
import { MAX_MODULUS_BITS, SECURITY } from '../zk/params.js';
import { decodePrmProof, encodePrmProof, PRM_PROOF_MAX_BYTES, type PrmProof, provePrm, verifyPrm } from '../zk/prm.js';
import { BlameCollector, judgeWith, PENDING } from './blame.js';
import type { AuxInfo, PartyAux } from './key-share.js';
import {
  ALL,
  type Evidence,
  type Judgement,
  type Outgoing,
  type ProtocolDef,
  type RoundCtx,
  type RoundDef,
} from './types.js';

const NAME = 'aux-info';
/** Bytes of V (SHA-256 output). */
const COMMITMENT_BYTES = 32;
/** Largest party count aux-info (and its stored output) accepts; proof contexts allow ≤ 65535. */
export const AUX_MAX_PARTIES = 1024;

/** The party's own Paillier primes, fresh safe primes taken from the prime pool by the caller. */
export interface AuxInput {
  readonly p: bigint;
  readonly q: bigint;
}

/** r1: the hash commitment V_i. */
export interface AuxRound1 {
  readonly V: Uint8Array;
}

/** r2: the decommitment (N_i, s_i, t_i, ψ̂_i, ρ_i, u_i). */
export interface AuxRound2 {
  readonly N: bigint;
  readonly s: bigint;
  readonly t: bigint;
  /** ψ̂_i: Πprm for (N_i, s_i, t_i) under (sid, i), no rid. */
  readonly prm: PrmProof;
  /** ρ_i: SECURITY.kappaBytes random bytes. */
  readonly rho: Uint8Array;
  /** u_i: SECURITY.kappaBytes random bytes (commitment nonce). */
  readonly u: Uint8Array;
}

/** r3 (to P_j): ψ_i (Πmod, identical for every recipient) and φ_i^j (Πfac with P_j's parameters). */
export interface AuxRound3 {
  readonly mod: ModProof;
  readonly fac: FacProof;
}

/** Plain-data state between rounds (persistable; holds the own primes, never λ). */
export type AuxState =
  | {
      readonly step: 'r1';
      readonly p: bigint;
      readonly q: bigint;
      readonly mine: AuxRound2;
      readonly V: Uint8Array;
    }
  | {
      readonly step: 'r2';
      readonly p: bigint;
      readonly q: bigint;
      readonly mine: AuxRound2;
      /** V_j of every party (own included), as agreed by the echo round. */
      readonly commitments: readonly Uint8Array[];
    }
  | {
      readonly step: 'r3';
      readonly p: bigint;
      readonly q: bigint;
      readonly parties: readonly PartyAux[];
      readonly rid: Uint8Array;
      /** V_j of every party, kept so that an abort notice about an r2 message can be judged. */
      readonly commitments: readonly Uint8Array[];
    };

/**
 * The proof context of every aux-info proof (PROTOCOL.md §0.3 shared_state): sid, prover index,
 * rid once it exists (Πmod, Πfac; not Πprm), and the protocol label. Exported so that anyone holding
 * the public transcript can re-verify a blamed proof (identifiable abort evidence).
 * @example verifyFac(math, auxProofContext(sid, j, rid), verifierParams, { n: N_j }, proof);
 */
export function auxProofContext(sid: Uint8Array, prover: number, rid?: Uint8Array): ProofContext {
  return rid === undefined ? { sid, prover, label: NAME } : { sid, prover, rid, label: NAME };
}

/**
 * V_i = H(Encode(tag, sid, n, i, N_i, s_i, t_i, ψ̂_i, ρ_i, u_i)) (PROTOCOL.md §4.1 round 1), with the
 * project's injective, typed transcript encoding (SECURITY.md A9). Public: tests and auditors rebuild it.
 * @throws MpcError ERR_MATH_NEGATIVE for a negative field
 * @example const V = auxCommitment(sid, n, i, decommitment);
 */
export function auxCommitment(sid: Uint8Array, n: number, i: number, d: AuxRound2): Uint8Array {
  const drbg = new Transcript(`${TAG_PREFIX}.${NAME}.commit`)
    .bytes('sid', sid)
    .u32('n', n)
    .u32('i', i)
    .uint('N', d.N)
    .uint('s', d.s)
    .uint('t', d.t)
    .uints('prm.A', d.prm.A)
    .uints('prm.z', d.prm.z)
    .bytes('rho', d.rho)
    .bytes('u', d.u)
    .challengeRng('V');
  // The first output block is SHA-256(H(transcript) ‖ 0): a hash of the injective encoding.
  const V = new Uint8Array(COMMITMENT_BYTES);
  drbg.fill(V);
  return V;
}

// --- wire codecs of the three rounds -------------------------------------------------------------

const MAX_INT_BYTES = 4 + MAX_MODULUS_BITS / 8;

const round1: RoundDef<AuxRound1> = {
  name: 'r1',
  kind: 'broadcast',
  reliable: true,
  encode: (b) => new WireWriter().fixed(b.V).finish(),
  decode(bytes) {
    const r = new WireReader(bytes, COMMITMENT_BYTES);
    const V = r.fixed('aux.r1.V', COMMITMENT_BYTES);
    r.end();
    return { V };
  },
};

const round2: RoundDef<AuxRound2> = {
  name: 'r2',
  kind: 'broadcast',
  encode: (b) =>
    new WireWriter()
      .biguint(b.N)
      .biguint(b.s)
      .biguint(b.t)
      .bytes(encodePrmProof(b.prm))
      .fixed(b.rho)
      .fixed(b.u)
      .finish(),
  decode(bytes) {
    const r = new WireReader(bytes, 3 * MAX_INT_BYTES + 4 + PRM_PROOF_MAX_BYTES + 2 * SECURITY.kappaBytes);
    const N = r.biguint('aux.r2.N', MAX_MODULUS_BITS);
    const s = r.biguint('aux.r2.s', MAX_MODULUS_BITS);
    const t = r.biguint('aux.r2.t', MAX_MODULUS_BITS);
    const prm = decodePrmProof(r.bytes('aux.r2.prm', PRM_PROOF_MAX_BYTES));
    const rho = r.fixed('aux.r2.rho', SECURITY.kappaBytes);
    const u = r.fixed('aux.r2.u', SECURITY.kappaBytes);
    r.end();
    return { N, s, t, prm, rho, u };
  },
};

const round3: RoundDef<AuxRound3> = {
  name: 'r3',
  kind: 'p2p',
  encode: (b) => new WireWriter().bytes(encodeModProof(b.mod)).bytes(encodeFacProof(b.fac)).finish(),
  decode(bytes) {
    const r = new WireReader(bytes, 8 + MOD_PROOF_MAX_BYTES + FAC_PROOF_MAX_BYTES);
    const mod = decodeModProof(r.bytes('aux.r3.mod', MOD_PROOF_MAX_BYTES));
    const fac = decodeFacProof(r.bytes('aux.r3.fac', FAC_PROOF_MAX_BYTES));
    r.end();
    return { mod, fac };
  },
};

// --- helpers ---------------------------------------------------------------------------------------

/** Why own primes are unusable, or undefined (shared by input validation and validateAuxInfo). */
function ownPrimesProblem(p: unknown, q: unknown): string | undefined {
  if (typeof p !== 'bigint' || typeof q !== 'bigint') return 'p and q must be bigints';
  if (p <= 0n || q <= 0n) return 'p and q must be positive';
  if (p === q) return 'p and q must be distinct';
  // Blum primes: Πmod's fourth roots need p ≡ q ≡ 3 (mod 4) (PROTOCOL.md §2.5).
  if ((p & 3n) !== 3n || (q & 3n) !== 3n) return 'p and q must be ≡ 3 (mod 4)';
  // 4κ-bit primes and an 8κ-bit N (PROTOCOL.md §0.2, §1.1; cggmp21 validate_secret_paillier_key_size).
  if (bitLength(p) < SECURITY.primeBits || bitLength(q) < SECURITY.primeBits) {
    return `p and q must have at least ${SECURITY.primeBits} bits`;
  }
  const bits = bitLength(p * q);
  if (bits < SECURITY.paillierBits) return `N = p·q must have at least ${SECURITY.paillierBits} bits`;
  // Peers' decoders cap moduli at MAX_MODULUS_BITS: a larger N would only get this party blamed.
  if (bits > MAX_MODULUS_BITS) return `N = p·q must have at most ${MAX_MODULUS_BITS} bits`;
  return undefined;
}

/** ⊕ of equal-length byte strings. */
function xorAll(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(SECURITY.kappaBytes);
  for (const b of parts) for (let k = 0; k < out.length; k++) out[k] = (out[k] as number) ^ (b[k] as number);
  return out;
}

function peers(ctx: RoundCtx): number[] {
  return [...Array(ctx.n).keys()].filter((j) => j !== ctx.self);
}

/** The message of peer j (the runner delivers exactly one per peer; anything else is a framework bug). */
function fromPeer<B>(inbox: ReadonlyMap<number, unknown>, j: number, round: string): B {
  if (!inbox.has(j)) throw new MpcError('ERR_ROUND_ORDER', `${NAME} ${round}: no message from party ${j}`);
  return inbox.get(j) as B;
}

/** Runs `check` under the collector; true when it passed (so later, costlier checks can be skipped). */
function passes(blame: BlameCollector, j: number, what: string, check: () => void): boolean {
  let ok = false;
  blame.guard(j, what, () => {
    check();
    ok = true;
  });
  return ok;
}

// --- the protocol ----------------------------------------------------------------------------------

/**
 * Aux-info generation as a round-based protocol (PROTOCOL.md §4.1). Input: the party's two fresh
 * safe primes. Output: the AuxInfo (own p, q and every party's (N, s, t)), identical public part at
 * every honest party. Faults abort with ERR_PROTOCOL_ABORT naming every faulty party.
 * @throws MpcError ERR_PROTOCOL_INPUT (init) for unusable primes or party count
 * @example const r = simulate(auxInfo, [{ p: p0, q: q0 }, { p: p1, q: q1 }, { p: p2, q: q2 }], opts);
 */
export const auxInfo: ProtocolDef<AuxInput, AuxState, AuxInfo> = {
  name: NAME,
  rounds: [round1, round2, round3],
  judge,

  // Round 1 (PROTOCOL.md §4.1 "Round 1").
  init(input, ctx) {
    const problem =
      input === null || typeof input !== 'object' ? 'input must be { p, q }' : ownPrimesProblem(input.p, input.q);
    if (problem !== undefined) throw new MpcError('ERR_PROTOCOL_INPUT', `${NAME}: ${problem}`);
    if (!Number.isInteger(ctx.n) || ctx.n < 2 || ctx.n > AUX_MAX_PARTIES) {
      throw new MpcError('ERR_PROTOCOL_INPUT', `${NAME}: n must be in [2, ${AUX_MAX_PARTIES}]`);
    }
    if (!Number.isInteger(ctx.self) || ctx.self < 0 || ctx.self >= ctx.n) {
      throw new MpcError('ERR_PROTOCOL_INPUT', `${NAME}: party index out of range`);
    }
    const { math, rng, sid, self: i, n } = ctx;
    const { p, q } = input;
    // The pool hands out tested primes; a cheap re-test turns a corrupted input into an input error
    // here instead of a failed Πmod self-check (or a blame against us) two rounds later.
    if (!math.isProbablePrime(p, rng) || !math.isProbablePrime(q, rng)) {
      throw new MpcError('ERR_PROTOCOL_INPUT', `${NAME}: p and q must be prime`);
    }
    // N_i = p_i·q_i, φ_i = (p_i − 1)(q_i − 1).
    const sk = paillierSecretKey(math, p, q, SECURITY.paillierBits);
    // r ← Z*_N, t_i = r² mod N_i, λ ← Z_φ, s_i = t_i^λ mod N_i.
    const rp = generateRingPedersen(math, sk, rng);
    // ψ̂_i = Πprm for (N_i, s_i, t_i), shared_state (sid, i): no rid yet (it is inside V_i). λ is
    // dropped with `rp` when init returns: only the proof leaves.
    const prm = provePrm(math, auxProofContext(sid, i), rp.params, { lambda: rp.lambda, phi: rp.phi, sk }, rng);
    // ρ_i, u_i ← {0,1}^κ.
    const rho = new Uint8Array(SECURITY.kappaBytes);
    const u = new Uint8Array(SECURITY.kappaBytes);
    rng.fill(rho);
    rng.fill(u);
    const mine: AuxRound2 = { N: sk.pub.n, s: rp.params.s, t: rp.params.t, prm, rho, u };
    // V_i = H(sid, n, i, N_i, s_i, t_i, ψ̂_i, ρ_i, u_i); reliable broadcast (echo round by the framework).
    const V = auxCommitment(sid, n, i, mine);
    return { state: { step: 'r1', p, q, mine, V }, outbox: [{ round: 'r1', to: ALL, body: { V } }] };
  },

  process(round, state, inbox, ctx) {
    if (state.step !== round) {
      throw new MpcError('ERR_ROUND_ORDER', `${NAME}: ${round} messages processed in step ${state.step}`);
    }
    if (state.step === 'r1') return afterRound1(state, inbox, ctx);
    if (state.step === 'r2') return afterRound2(state, inbox, ctx);
    return afterRound3(state, inbox, ctx);
  },
};

/** After the (echoed) commitments: keep every V_j, reveal the decommitment (PROTOCOL.md §4.1 "Round 2"). */
function afterRound1(
  state: Extract<AuxState, { step: 'r1' }>,
  inbox: ReadonlyMap<number, unknown>,
  ctx: RoundCtx,
): { state: AuxState; outbox: Outgoing[] } {
  const commitments = [...Array(ctx.n).keys()].map((j) =>
    j === ctx.self ? state.V : fromPeer<AuxRound1>(inbox, j, 'r1').V,
  );
  return {
    state: { step: 'r2', p: state.p, q: state.q, mine: state.mine, commitments },
    outbox: [{ round: 'r2', to: ALL, body: state.mine }],
  };
}

/**
 * Checks every decommitment, then proves Πmod once and Πfac per peer (PROTOCOL.md §4.1 "Round 3").
 * Per peer, checks run cheapest first and stop at the peer's first fault; every peer is checked.
 */
function afterRound2(
  state: Extract<AuxState, { step: 'r2' }>,
  inbox: ReadonlyMap<number, unknown>,
  ctx: RoundCtx,
): { state: AuxState; outbox: Outgoing[] } {
  const { math, sid, n, self: i, rng } = ctx;
  const blame = new BlameCollector(NAME, 'r2');
  const faulty = new Set<number>();
  const opened = new Map<number, AuxRound2>([[i, state.mine]]);
  const params = new Map<number, RingPedersenParams>();
  /** N_j of every party whose decommitment opened and whose N passed A3 (own included). */
  const moduli = new Map<number, bigint>([[i, state.mine.N]]);

  for (const j of peers(ctx)) {
    const d = fromPeer<AuxRound2>(inbox, j, 'r2');
    const checked = checkOpening(blame, ctx, state.commitments, j, d);
    if (checked.opened) opened.set(j, d);
    if (checked.moduleOk) moduli.set(j, d.N);
    if (checked.params === undefined) faulty.add(j);
    else params.set(j, checked.params);
  }

  // Duplicate moduli (PROTOCOL.md §4.1 recommended extra), generalised to pairwise coprime moduli as
  // validateAuxInfo and key-share validation require: a party whose N shares a factor with (in
  // particular: equals) a lower-indexed party's N is blamed, so every honest party names the same
  // culprit. Honest moduli are fresh and hidden in V until round 2, so a collision means the
  // colliding parties share primes out of band. Exception: a party never blames itself — its own N
  // is fresh, so a lower-indexed peer colliding with it is the one blamed. Only opened moduli that
  // passed A3 take part (N_j = 0, say, has a gcd with everything and must not get others blamed).
  const sorted = [...moduli.entries()].sort(([a], [b]) => a - b);
  for (const [x, [j, Nj]] of sorted.entries()) {
    const clash = sorted.slice(0, x).find(([, Nk]) => math.gcd(Nj, Nk) !== 1n);
    if (clash === undefined) continue;
    const [k, Nk] = clash;
    // Normally the later party j; if that is us, the earlier peer k (see above).
    const [culprit, other] = j === i ? [k, i] : [j, k];
    blame.blame(
      culprit,
      Nj === Nk
        ? `duplicate Paillier modulus: N_${culprit} equals N_${other}`
        : `Paillier modulus N_${culprit} shares a prime with N_${other}`,
    );
    faulty.add(culprit);
  }

  // ψ̂_j (Πprm) under (sid, j) — the costly check, only for peers still clean (A4, A5).
  for (const j of peers(ctx)) {
    if (faulty.has(j)) continue;
    passes(blame, j, 'Πprm ψ̂_j invalid (A4)', () =>
      verifyPrm(math, auxProofContext(sid, j), params.get(j) as RingPedersenParams, openedBy(opened, j).prm),
    );
  }
  blame.throwIfAny();

  // ρ = ⊕_j ρ_j: the rid of Πmod and Πfac.
  const rid = xorAll([...Array(n).keys()].map((j) => openedBy(opened, j).rho));
  const sk = paillierSecretKey(math, state.p, state.q, SECURITY.paillierBits);
  const ctxI = auxProofContext(sid, i, rid);
  // ψ_i = Πmod for N_i under (sid, ρ, i): one proof, sent to everybody.
  const mod = proveMod(math, ctxI, sk.pub, sk, rng);
  // φ_i^j = Πfac for N_i towards P_j with P_j's (N_j, s_j, t_j) (PROTOCOL.md §0.1: verifier's params).
  const outbox = peers(ctx).map((j) => ({
    round: 'r3',
    to: j,
    body: { mod, fac: proveFac(math, ctxI, params.get(j) as RingPedersenParams, sk.pub, sk, rng) } as AuxRound3,
  }));
  const parties: PartyAux[] = [...Array(n).keys()].map((j) => {
    const d = openedBy(opened, j);
    return Object.freeze({ N: d.N, s: d.s, t: d.t });
  });
  return { state: { step: 'r3', p: state.p, q: state.q, parties, rid, commitments: state.commitments }, outbox };
}

/**
 * The per-party checks of an r2 decommitment, cheapest first, stopping at the first fault: opens
 * V_j (else nothing in it is bound), |N_j| ≥ 8κ − 1 and N_j odd (A3), then s_j, t_j ∈ Z*_{N_j} \ {±1},
 * s_j ≠ t_j (A4). Shared by round 3 and `judge`.
 */
function checkOpening(
  blame: BlameCollector,
  ctx: RoundCtx,
  commitments: readonly Uint8Array[],
  j: number,
  d: AuxRound2,
): { opened: boolean; moduleOk: boolean; params?: RingPedersenParams } {
  // V_j = H(sid, n, j, decommitment)?
  if (!equalBytes(auxCommitment(ctx.sid, ctx.n, j, d), commitments[j] as Uint8Array)) {
    blame.blame(j, 'decommitment does not open the round-1 commitment V_j');
    return { opened: false, moduleOk: false };
  }
  if (!passes(blame, j, 'Paillier modulus N_j rejected (A3)', () => paillierPublicKey(d.N, SECURITY.minModulusBits))) {
    return { opened: true, moduleOk: false };
  }
  let params: RingPedersenParams | undefined;
  passes(blame, j, 'ring-Pedersen parameters (s_j, t_j) rejected (A4)', () => {
    params = ringPedersenParams(ctx.math, d.N, d.s, d.t, SECURITY.minModulusBits);
  });
  return params === undefined ? { opened: true, moduleOk: true } : { opened: true, moduleOk: true, params };
}

/** ψ_j (Πmod: N_j is a Paillier–Blum modulus, A2), then φ_j^v (Πfac with verifier v's parameters, A1). */
function checkRound3(
  blame: BlameCollector,
  math: MathBackend,
  ctxJ: ProofContext,
  verifierParams: RingPedersenParams,
  N: bigint,
  j: number,
  m: AuxRound3,
): void {
  if (passes(blame, j, 'Πmod ψ_j invalid (A2)', () => verifyMod(math, ctxJ, { n: N }, m.mod))) {
    passes(blame, j, 'Πfac φ_j^i invalid (A1)', () => verifyFac(math, ctxJ, verifierParams, { n: N }, m.fac));
  }
}

/**
 * Public re-check of one aux-info message for abort notices (ProtocolDef.judge): r2 — the checks of
 * `checkOpening` and Πprm (the cross-party duplicate-modulus rule needs no notice: every party sees
 * the same moduli); r3 — Πmod and the Πfac made for the recipient `ev.to`, verified with ITS
 * (N, s, t). Public data only: the echoed V_j, the agreed (N, s, t) of all, sid and rid.
 */
function judge(round: string, state: AuxState, ev: Evidence, ctx: RoundCtx): Judgement {
  const j = ev.from;
  if (round === 'r2') {
    if (state.step === 'r1') return PENDING;
    const { commitments } = state;
    const d = ev.body as AuxRound2;
    return judgeWith(j, (blame) => {
      const checked = checkOpening(blame, ctx, commitments, j, d);
      const params = checked.params;
      if (params === undefined) return;
      passes(blame, j, 'Πprm ψ̂_j invalid (A4)', () => verifyPrm(ctx.math, auxProofContext(ctx.sid, j), params, d.prm));
    });
  }
  if (round === 'r3') {
    if (state.step !== 'r3') return PENDING;
    const verifier = state.parties[ev.to] as PartyAux;
    const verifierParams = ringPedersenParams(ctx.math, verifier.N, verifier.s, verifier.t, SECURITY.minModulusBits);
    const N = (state.parties[j] as PartyAux).N;
    return judgeWith(j, (blame) =>
      checkRound3(blame, ctx.math, auxProofContext(ctx.sid, j, state.rid), verifierParams, N, j, ev.body as AuxRound3),
    );
  }
  return { verdict: 'valid' }; // r1: only the encoding can be wrong, and the runner judges that
}

function openedBy(opened: ReadonlyMap<number, AuxRound2>, j: number): AuxRound2 {
  const d = opened.get(j);
  if (d === undefined) throw new MpcError('ERR_ROUND_ORDER', `${NAME}: decommitment of party ${j} missing`);
  return d;
}

/** Verifies every ψ_j and φ_j^i, then outputs (PROTOCOL.md §4.1 "Output"). */
function afterRound3(
  state: Extract<AuxState, { step: 'r3' }>,
  inbox: ReadonlyMap<number, unknown>,
  ctx: RoundCtx,
): { output: AuxInfo } {
  const { math, sid, n, self: i } = ctx;
  const own = state.parties[i] as PartyAux;
  // Own parameters R_i: the verifier's side of every Πfac addressed to us.
  const ownParams = ringPedersenParams(math, own.N, own.s, own.t, SECURITY.minModulusBits);
  const blame = new BlameCollector(NAME, 'r3');
  for (const j of peers(ctx)) {
    const m = fromPeer<AuxRound3>(inbox, j, 'r3');
    const N = (state.parties[j] as PartyAux).N;
    // ψ_j: N_j is a Paillier–Blum modulus (A2); then φ_j^i: no small factor, with our R_i (A1).
    checkRound3(blame, math, auxProofContext(sid, j, state.rid), ownParams, N, j, m);
  }
  blame.throwIfAny();
  const output: AuxInfo = Object.freeze({
    version: 1,
    i,
    n,
    p: state.p,
    q: state.q,
    parties: Object.freeze([...state.parties]),
  });
  return { output: validateAuxInfo(math, output) };
}

// --- validation and storage codec ------------------------------------------------------------------

/**
 * Parse-don't-validate gate for aux info loaded from storage or produced by the protocol (STYLE.md §5;
 * cggmp21 key_share valid.rs): version 1; 0 ≤ i < n ≤ AUX_MAX_PARTIES with exactly n entries; own
 * primes usable and p·q = N_i; every N_j odd with 3071 ≤ |N_j| ≤ MAX_MODULUS_BITS (A3); s_j, t_j
 * valid ring-Pedersen parameters on N_j (A4); the N_j pairwise coprime (so distinct). Returns the
 * same (frozen) value.
 * @throws MpcError ERR_KEY_SHARE_INVALID naming the failed condition (never a value)
 * @example const aux = validateAuxInfo(math, decodeAuxInfo(bytes));
 */
export function validateAuxInfo(math: MathBackend, aux: AuxInfo): AuxInfo {
  const fail = (why: string, cause?: unknown): never => {
    throw new MpcError('ERR_KEY_SHARE_INVALID', `aux info rejected: ${why}`, cause === undefined ? {} : { cause });
  };
  if (aux === null || typeof aux !== 'object') fail('not an object');
  if (aux.version !== 1) fail('unknown version');
  const { i, n, parties } = aux;
  if (!Number.isInteger(n) || n < 2 || n > AUX_MAX_PARTIES) fail(`n must be in [2, ${AUX_MAX_PARTIES}]`);
  if (!Number.isInteger(i) || i < 0 || i >= n) fail('i must be in [0, n)');
  if (!Array.isArray(parties) || parties.length !== n) fail('parties must have exactly n entries');
  const problem = ownPrimesProblem(aux.p, aux.q);
  if (problem !== undefined) fail(`own primes: ${problem}`);
  parties.forEach((pa, j) => {
    if (pa === null || typeof pa !== 'object') fail(`parties[${j}] is not an object`);
    const { N, s, t } = pa;
    if (typeof N !== 'bigint' || typeof s !== 'bigint' || typeof t !== 'bigint') fail(`parties[${j}] has a non-bigint`);
    if (bitLength(N) > MAX_MODULUS_BITS) fail(`N_${j} above ${MAX_MODULUS_BITS} bits`);
    try {
      paillierPublicKey(N, SECURITY.minModulusBits);
      ringPedersenParams(math, N, s, t, SECURITY.minModulusBits);
    } catch (e) {
      if (!(e instanceof MpcError)) throw e;
      fail(`parties[${j}]: ${e.code}`, e);
    }
  });
  // Pairwise coprime (in particular distinct) moduli, as aux-info round 3 enforces.
  for (let j = 1; j < n; j++) {
    for (let k = 0; k < j; k++) {
      if (math.gcd((parties[j] as PartyAux).N, (parties[k] as PartyAux).N) !== 1n) {
        fail(`N_${j} shares a factor with N_${k}`);
      }
    }
  }
  if (aux.p * aux.q !== (parties[i] as PartyAux).N) fail('p·q differs from the own modulus N_i');
  return Object.isFrozen(aux) ? aux : Object.freeze({ ...aux, parties: Object.freeze([...parties]) });
}

const AUX_TAG = 0x61; // 'a'
const AUX_VERSION = 1;
/** Own primes are at most |N| − 1536 bits; the cap only bounds the decoder's work. */
const MAX_PRIME_BITS = MAX_MODULUS_BITS;
const AUX_MAX_BYTES = 2 + 8 + 2 * (4 + MAX_PRIME_BITS / 8) + 4 + AUX_MAX_PARTIES * 3 * MAX_INT_BYTES;

/**
 * Storage encoding: tag ‖ version ‖ u32 i ‖ u32 n ‖ p ‖ q ‖ u32 count ‖ count × (N ‖ s ‖ t).
 * Holds the secret primes: seal it (SecretStore) before it touches a disk.
 * @throws MpcError ERR_WIRE_TYPE for a negative value
 * @example const bytes = encodeAuxInfo(aux);
 */
export function encodeAuxInfo(aux: AuxInfo): Uint8Array {
  const w = new WireWriter()
    .u8(AUX_TAG)
    .u8(aux.version)
    .u32(aux.i)
    .u32(aux.n)
    .biguint(aux.p)
    .biguint(aux.q)
    .u32(aux.parties.length);
  for (const pa of aux.parties) w.biguint(pa.N).biguint(pa.s).biguint(pa.t);
  return w.finish();
}

/**
 * Strict decoder: tag and version, sizes before arithmetic, exactly n entries, canonical integers,
 * no trailing bytes. Structural only: run `validateAuxInfo(math, …)` on the result before use.
 * @throws MpcError ERR_WIRE_* naming the field, ERR_KEY_SHARE_INVALID for i ∉ [0, n) or n out of range
 * @example const aux = validateAuxInfo(math, decodeAuxInfo(bytes));
 */
export function decodeAuxInfo(bytes: Uint8Array): AuxInfo {
  const r = new WireReader(bytes, AUX_MAX_BYTES);
  r.tag('aux.tag', AUX_TAG);
  r.tag('aux.version', AUX_VERSION);
  const i = r.u32('aux.i');
  const n = r.u32('aux.n');
  if (n < 2 || n > AUX_MAX_PARTIES || i >= n) {
    throw new MpcError('ERR_KEY_SHARE_INVALID', 'aux info rejected: party index or count out of range');
  }
  const p = r.biguint('aux.p', MAX_PRIME_BITS);
  const q = r.biguint('aux.q', MAX_PRIME_BITS);
  r.count('aux.parties', n);
  const parties: PartyAux[] = [];
  for (let j = 0; j < n; j++) {
    parties.push(
      Object.freeze({
        N: r.biguint(`aux.parties[${j}].N`, MAX_MODULUS_BITS),
        s: r.biguint(`aux.parties[${j}].s`, MAX_MODULUS_BITS),
        t: r.biguint(`aux.parties[${j}].t`, MAX_MODULUS_BITS),
      }),
    );
  }
  r.end();
  return Object.freeze({ version: 1, i, n, p, q, parties: Object.freeze(parties) });
}
