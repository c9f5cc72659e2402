/**
 * Identification of the culprit after an unexplained presigning or signing failure
 * (PROTOCOL.md §7.2, §7.3; CGGMP ePrint 2021/060, 3-round presigning figure, "Output" step 2 — the
 * error process after δ·G ≠ Σ Δ_j — and signing figure, step 2 — the error process after an invalid
 * σ; Fig. 7 and Fig. 8 in the 2021–2023 revisions, figure numbers recalled, not checked against the
 * PDF). The reference cggmp21 aborts without blame in both cases; entropyxyz/synedrion (2023,
 * `cggmp21/protocols/{presigning,signing}.rs` before the 2024 ElGamal rewrite) computes the same
 * proofs as below but never verifies them. Nothing is copied from either.
 *
 * Both procedures are one-round protocols of their own (fresh execution id, same signer positions
 * as the failed run). Every message is a RELIABLE broadcast, so every honest party evaluates the
 * same data and reaches the same verdict; every proof in it is checked by every party, including
 * the proofs made for another verifier's ring-Pedersen parameters (an invalid proof is invalid for
 * anyone: completeness means an honest prover never produces one, whatever the parameters).
 *
 * ## Evidence: the signed round-2/3 envelopes
 * The round-2 ciphertexts and the round-3 δ_j travelled P2P. Each party publishes the SIGNED presign
 * envelopes it received (round 2 — D_{i,j}, F_{i,j}, D̂_{i,j}, F̂_{i,j}, Γ_j — and, for δ, round 3 —
 * δ_j, Δ_j) exactly as the transport delivered them (the runner does not hand envelopes to rounds,
 * so the caller passes them in, e.g. from its message log or `SimulationResult.traffic`). Every
 * party checks each one against the roster of signing keys (Ed25519, by signer position):
 *   - not a valid presign envelope from j to the publisher p (signature, sid, round, from, to)
 *     ⇒ blame the PUBLISHER p (an honest p holds the genuine one);
 *   - validly signed by j but undecodable ⇒ blame j (it signed garbage);
 *   - two validly signed envelopes of j (published by different receivers) with different δ_j, Δ_j
 *     (round 3) or Γ_j (round 2) ⇒ blame j: equivocation over P2P, the "different δ_i to different
 *     peers" case. δ_j, Δ_j, Γ_j are then the unique values everybody uses for j.
 * So every ciphertext below is pinned by its author's signature: "P_i claims a D_{i,j} that j never
 * sent" cannot happen, and "P_j denies having sent D_{i,j}" is refuted by its own signature.
 * Publishing these envelopes reveals only ciphertexts under N_i (IND-CPA; only P_i can decrypt) and
 * proofs that are zero-knowledge towards anyone.
 *
 * ## identifyDelta (§7.2) — P_i publishes
 *   H_i = (k_i ⊙ G_i) ⊕ enc_i(0; ρ_H) = G_i^{k_i}·ρ_H^{N_i}               (encrypts k_i·γ_i < q²)
 *   Πmul(N_i; X = K_i, Y = G_i, C = H_i)                                  one proof (no aux)
 *   U_i = H_i · Π_{j≠i} D_{i,j} · F_{j,i}^{−1}  mod N_i²                   (everyone recomputes it:
 *        D_{i,j} from j's envelope to i, F_{j,i} = enc_i(−β_{i,j}) from i's envelope to j), so
 *        dec_i(U_i) = k_i·γ_i + Σ_j (α_{i,j} + β_{i,j}) = δ̃_i, the integer whose residue is δ_i
 *   Πdec(N_i; C = U_i, x = δ_i, L = deltaPlaintextBits(t)) towards every verifier l ≠ i
 *   Πaff-g for every pair it sent, towards every verifier l ∉ {i, p}:
 *        (N0 = N_p, N1 = N_i, C = K_p, D = D_{p,i}, Y = F_{p,i}, X = Γ_i; x = γ_i, y = −β_{i,p})
 *        — the paper's re-proof of round 2 to the parties who did not see it (only p did).
 * ## identifySignature (§7.3) — P_i publishes σ_i and
 *   Ĥ_i = (x_i ⊙ K_i) ⊕ enc_i(0; ρ̂) = K_i^{x_i}·ρ̂^{N_i}                 (encrypts x_i·k_i)
 *   Πmul*(N_i; C = K_i, D = Ĥ_i, X = X_i) towards every verifier l ≠ i
 *   V_i = K_i^m · (Ĥ_i · Π_{j≠i} D̂_{i,j} · F̂_{j,i}^{−1})^{r'}  mod N_i²,
 *        dec_i(V_i) = m·k_i + r'·χ̃_i with χ̃_i = x_i·k_i + Σ_j (α̂_{i,j} + β̂_{i,j})
 *   Πdec(N_i; C = V_i, x = τ·σ_i mod q, L = signaturePlaintextBits(t)) towards every l ≠ i.
 *        Re-randomisation (sign.ts): σ_i = τ⁻¹·(m·k_i + r'·χ_i), so τ·σ_i ≡ dec_i(V_i) (mod q);
 *        m = digest mod q, r' = x(τ·R) mod q, τ from `rerandomize` — all public.
 *   Πaff-g for every hat pair it sent, towards every l ∉ {i, p}:
 *        (N_p, N_i, K_p, D̂_{p,i}, F̂_{p,i}, X_i; x = x_i, y = −β̂_{i,p}).
 * Also: the σ_i in P_i's broadcast must equal the partial signature this party received from P_i
 * (partials are delivered over authenticated channels; a mismatch blames P_i — the only check whose
 * verdict depends on local data: P_i can only make honest parties disagree by sending them
 * different partials, and each of them then blames P_i).
 *
 * Proof contexts: sid = SHA-256(tag, presign psid, identification sid[, digest, presignature id]),
 * prover = position, labels 'mul', 'mul-star', 'dec', 'aff-g:<p>', 'aff-g-hat:<p>'.
 *
 * ## Verdict
 * Every failed check above blames its prover; the run then aborts with ERR_PROTOCOL_ABORT whose
 * blame lists every culprit (the runner adds the id of the culprit's identification message). With
 * no fault: if the agreed values pass the original check (δ·G = Σ Δ_j, resp. (r', Σ σ_j) verifies),
 * the output is `{ culprits: [] }` (nobody cheated: e.g. an identification run after a success);
 * otherwise the run aborts with details.reason 'identification-inconclusive' and no blame, which
 * the soundness argument below says happens only with negligible probability.
 *
 * ## Why an honest party is never blamed
 * Its envelopes are genuine and its signed messages unique; its proofs are complete (witnesses:
 * k_i, ρ_i, ρ_H for Πmul; x_i, ρ̂ for Πmul*; the signed decryption y and the nonce recovered from
 * U_i / V_i for Πdec; γ_i / x_i, β, s, r kept in the presign state for Πaff-g); the values the
 * verifiers plug in (U_i, V_i, δ_i, σ_i, D, F) are exactly those it used, because they come from
 * envelopes it signed or received. Πdec needs |y| ≤ 2^L: every D_{i,j} an honest P_i decrypted
 * passed its own Πaff-g check, whose extractor bounds x by 2^(ℓ+ε+1) and y by 2^(ℓ'+ε+1), so
 * |α_{i,j} + β_{i,j}| < 2^(max(ℓ+ε+1+|q|, ℓ'+ε+1) + 1) and L adds log n and 8 slack bits (Πdec
 * allows up to |N| − ε − 4 ≈ 2837 bits; L ≈ 1090 for δ, ≈ 1350 for σ at t ≤ 15).
 * ## Why a cheater is named (whenever at least one signer is honest)
 * Suppose every check passes. Each MtA pair (D_{p,j}, F_{p,j}) is well formed (D = K_p^{γ_j} ⊕
 * enc(−β), F = enc(−β), same β): if p is honest, p verified ψ in round 2 under its own parameters;
 * otherwise j re-proved it to an honest l ∉ {p, j} (which exists whenever a pair matters: a pair
 * with no honest endpoint and no honest third party is a run with no honest party). Πmul makes
 * H_i encrypt k_i·γ_i, Πenc-elg of round 1 and Πelog of rounds 2/3 (verified by honest receivers)
 * tie G_i, K_i to Γ_i, Δ_i through the perfectly binding ElGamal pairs B_i, A_i (same value mod q),
 * and Πdec (sound towards an honest verifier, and its z1 range makes y THE signed decryption, not
 * y + N) gives δ_i ≡ dec(U_i). Summing, Σ δ_i ≡ Σ_i k_i·Σ_j γ_j = k·γ and Σ Δ_i = k·Γ, so the δ check
 * passes with the agreed values — contradiction; likewise Σ σ_i = τ⁻¹(k·m + r'·k·x') for §7.3. So
 * after a genuine failure at least one check fails, and it fails at every honest party (all data is
 * reliable-broadcast and all proofs are checked by all). Every check blames only a party that
 * signed or proved something false, so EVERY named party is a cheater; a cheater that hides behind
 * another (e.g. its evidence is missing because the publisher was blamed) may go unnamed, but at
 * least one culprit always is.
 *
 * Secrets: nothing secret leaves the party except inside zero-knowledge proofs; no Paillier key,
 * share or nonce is revealed (PROTOCOL.md §7.4). Error texts name checks and positions only.
 * Size: a message holds 2(t−1) presign envelopes, (t−1) Πdec / Πmul* and (t−1)(t−2) Πaff-g re-proofs
 * (worst case ≈ 37 KiB, 3 KiB and 12 KiB each with 4096-bit moduli), so it stays under the runner's
 * 4 MiB limit up to t ≈ 15; larger signing sets would need the re-proofs sent per verifier.
 *
 * Naming (paper → code): H_i → H, Ĥ_i → hatH, U_i → U, V_i → V, ρ_H → rhoH, ρ̂ → hatRho,
 * δ_i → delta, σ_i → sigma, τ → tau, r' → r, m → m; other names as in presign.ts.
 */

import { ed25519 } from '@noble/curves/ed25519.js';
import { equalBytes } from '@noble/curves/utils.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { hexToBytes } from '@noble/hashes/utils.js';
import { MpcError } from '../errors/index.js';
import type { MathBackend } from '../math/backend.js';
import { bitLength, fromBytesBE, mod } from '../math/bits.js';
import { CURVE_ORDER, G, mulPublic, Point } from '../primitives/curve.js';
import { decrypt, type PaillierPublicKey, recoverNonce, scalarMul } from '../primitives/paillier.js';
import { WireReader, WireWriter } from '../util/wire.js';
import {
  AFF_G_PROOF_MAX_BYTES,
  type AffGProof,
  decodeAffGProof,
  encodeAffGProof,
  proveAffG,
  verifyAffG,
} from '../zk/aff-g.js';
import { TAG_PREFIX } from '../zk/common.js';
import {
  DEC_PROOF_MAX_BYTES,
  type DecProof,
  decMaxPlaintextBits,
  decodeDecProof,
  encodeDecProof,
  proveDec,
  verifyDec,
} from '../zk/dec.js';
import { decodeMulProof, encodeMulProof, MUL_PROOF_MAX_BYTES, type MulProof, proveMul, verifyMul } from '../zk/mul.js';
import {
  decodeMulStarProof,
  encodeMulStarProof,
  MUL_STAR_PROOF_MAX_BYTES,
  type MulStarProof,
  proveMulStar,
  verifyMulStar,
} from '../zk/mul-star.js';
import { MAX_MODULUS_BITS, SECURITY } from '../zk/params.js';
import { BlameCollector } from './blame.js';
import { decodeEnvelope, type Envelope, encodeEnvelope, signedBytes } from './envelope.js';
import {
  type MsgR2,
  type MsgR3,
  PRESIGN_PROTOCOL,
  PRESIGN_R2_MAX_BYTES,
  type Presignature,
  type PresignInput,
  type PresignPeer,
  type PresignState,
  presign,
  presignatureId,
} from './presign.js';
import { MAX_BODY_BYTES } from './runner.js';
import { type PartialSignature, type PresignaturePublic, rerandomize } from './sign.js';
import { ALL, type Outgoing, type ProtocolDef, type RoundCtx, type RoundDef, type RoundResult } from './types.js';

export const IDENTIFY_DELTA_PROTOCOL = 'identify-delta';
export const IDENTIFY_SIGNATURE_PROTOCOL = 'identify-signature';
const ROUND_DELTA = 'id-delta';
const ROUND_SIGNATURE = 'id-sig';

// --- retained presigning state -----------------------------------------------------------------------

/**
 * The presigning state handed to the output step: everything identification needs (K_j, G_j of
 * all, own k_i, γ_i, ρ_i, ν_i, x_i, every β/β̂ and nonce, every D/F sent and received, Γ, Δ_i, δ_i,
 * χ_i). SECRET (it holds the Paillier key and the shares): keep it only until the presignature's
 * signature verifies (PROTOCOL.md §7.4), then erase it.
 */
export type PresignRetained = Extract<PresignState, { readonly step: 'r3' }>;

/**
 * Wraps the presigning protocol so that `onRetain` receives each party's {@link PresignRetained}
 * state just before the output step runs — whether that step then succeeds or aborts (the runner
 * keeps its state private). Rounds, messages and behaviour are those of `def`.
 *
 * @example const kept: PresignRetained[] = [];
 *   const { errors, traffic } = simulate(retainingPresign((i, s) => { kept[i] = s; }), inputs, opts);
 */
export function retainingPresign(
  onRetain: (self: number, retained: PresignRetained) => void,
  def: ProtocolDef<PresignInput, PresignState, Presignature> = presign,
): ProtocolDef<PresignInput, PresignState, Presignature> {
  return {
    ...def,
    process(round, state, inbox, ctx) {
      if (round === 'r3' && state !== undefined && state.step === 'r3') onRetain(ctx.self, state);
      return def.process(round, state, inbox, ctx);
    },
  };
}

// --- plaintext bounds L of Πdec ----------------------------------------------------------------------

const Q_BITS = bitLength(CURVE_ORDER);
/**
 * Bits bounding |α_{i,j} + β_{i,j}| for one peer once P_i's Πaff-g check of D_{i,j} passed: the
 * extracted witness has |x| ≤ 2^(ℓ+ε+1), |y| ≤ 2^(ℓ'+ε+1), so |x·k_i + y| + |β_{i,j}| ≤
 * 2^(ℓ+ε+1+|q|) + 2^(ℓ'+ε+1) + 2^ℓ' < 2^(max(ℓ+ε+1+|q|, ℓ'+ε+1) + 1)  (= 2^1080 at ℓ' = 848, ε = 230).
 */
const PAIR_BITS = Math.max(SECURITY.ell + SECURITY.epsilon + 1 + Q_BITS, SECURITY.ellPrime + SECURITY.epsilon + 1) + 1;
/** Extra bits so that no rounding in the bound above can ever make an honest proof fail. */
const SLACK_BITS = 8;

/**
 * L for the Πdec on U_i among t signers: |δ̃_i| ≤ k_i·γ_i + (t−1)·2^PAIR_BITS < t·2^PAIR_BITS
 * (k_i·γ_i < q² < 2^PAIR_BITS), plus slack.
 * @example deltaPlaintextBits(3) // 1090
 */
export function deltaPlaintextBits(t: number): number {
  return PAIR_BITS + bitLength(BigInt(t)) + SLACK_BITS;
}

/**
 * L for the Πdec on V_i: |m·k_i + r'·χ̃_i| ≤ q² + q·|χ̃_i| < 2^(|q| + 1 + deltaPlaintextBits(t)),
 * where χ̃_i obeys the bound of δ̃_i (x_j ranges like γ_j in Πaff-g).
 * @example signaturePlaintextBits(3) // 1347
 */
export function signaturePlaintextBits(t: number): number {
  return deltaPlaintextBits(t) + Q_BITS + 1;
}

// --- inputs, outputs, messages -----------------------------------------------------------------------

export interface IdentifyDeltaInput {
  /** This party's presigning state at the output step (from {@link retainingPresign}). */
  readonly retained: PresignRetained;
  /**
   * Signed presign envelopes this party received, as delivered (any superset is fine: the round-2
   * and round-3 envelopes addressed to this party are picked out; exactly one per peer and round).
   */
  readonly received: readonly Envelope[];
  /** Ed25519 public keys of the signers by position: the roster that authenticated the presign run. */
  readonly roster: readonly Uint8Array[];
}

export interface IdentifySignatureInput {
  readonly retained: PresignRetained;
  /** As for {@link IdentifyDeltaInput}; only round-2 envelopes are needed. */
  readonly received: readonly Envelope[];
  readonly roster: readonly Uint8Array[];
  /** The presignature that was signed with (its public part). */
  readonly presignature: PresignaturePublic;
  /** The 32-byte digest that was signed. */
  readonly digest: Uint8Array;
  /**
   * The partial signatures that `combineSignature` failed on: one per signer position, own included,
   * EXACTLY as received from each signer over an authenticated channel. A signer whose identification
   * broadcast carries another σ_i is blamed, so partials relayed by an unauthenticated third party
   * must not be passed here (a relay's forgery would be blamed on the signer).
   */
  readonly partials: readonly PartialSignature[];
}

/** Empty when nobody cheated; a run that identifies anybody aborts with blame instead. */
export interface IdentifyOutput {
  readonly culprits: readonly number[];
}

/** Broadcast of identifyDelta (reliable). Vectors are indexed by signer position. */
export interface MsgIdDelta {
  /** Presign round-2 / round-3 envelopes the sender received from each peer (null at its own position). */
  readonly r2: ReadonlyArray<Envelope | null>;
  readonly r3: ReadonlyArray<Envelope | null>;
  /** H_i = G_i^{k_i}·ρ_H^{N_i} */
  readonly H: bigint;
  /** Πmul(K_i, G_i, H_i) */
  readonly mul: MulProof;
  /** dec[l]: Πdec for U_i towards verifier l (null at the sender's position). */
  readonly dec: ReadonlyArray<DecProof | null>;
  /** aff[p][l]: Πaff-g for (D_{p,i}, F_{p,i}) towards verifier l ∉ {i, p} (else null). */
  readonly aff: ReadonlyArray<ReadonlyArray<AffGProof | null>>;
}

/** Broadcast of identifySignature (reliable). */
export interface MsgIdSignature {
  readonly r2: ReadonlyArray<Envelope | null>;
  /** σ_i as issued. */
  readonly sigma: bigint;
  /** Ĥ_i = K_i^{x_i}·ρ̂^{N_i} */
  readonly hatH: bigint;
  /** mulStar[l]: Πmul*(K_i, Ĥ_i, X_i) towards verifier l (null at the sender's position). */
  readonly mulStar: ReadonlyArray<MulStarProof | null>;
  /** dec[l]: Πdec for V_i towards verifier l. */
  readonly dec: ReadonlyArray<DecProof | null>;
  /** aff[p][l]: Πaff-g for (D̂_{p,i}, F̂_{p,i}) towards verifier l ∉ {i, p}. */
  readonly aff: ReadonlyArray<ReadonlyArray<AffGProof | null>>;
}

interface StateBase {
  readonly version: 1;
  readonly retained: PresignRetained;
  readonly roster: readonly Uint8Array[];
  /** Proof context id of this identification run. */
  readonly idsid: Uint8Array;
}
interface DeltaState extends StateBase {
  readonly step: 'id-delta';
  readonly own: MsgIdDelta;
}
interface SignatureState extends StateBase {
  readonly step: 'id-sig';
  readonly own: MsgIdSignature;
  readonly tau: bigint;
  /** r' = x(τ·R) mod q */
  readonly r: bigint;
  /** m = int(digest) mod q */
  readonly m: bigint;
  /** σ_j of the partial signature this party holds from each signer (own included). */
  readonly held: readonly bigint[];
}
export type IdentifyState = DeltaState | SignatureState;

// --- wire codec --------------------------------------------------------------------------------------

const WIRE_VERSION = 1;
/** Largest presign round-2 body (round 3 is smaller): Γ, four ciphertexts, two Πaff-g, one Πelog. */
const PRESIGN_BODY_MAX = PRESIGN_R2_MAX_BYTES;
/** An encoded envelope adds at most 1 KiB (protocol, sid ≤ 256, round, indices, signature) to its body. */
const EVIDENCE_MAX_BYTES = PRESIGN_BODY_MAX + 1024;
const CIPHERTEXT_BITS = 2 * MAX_MODULUS_BITS;

function writeSlots<T>(w: WireWriter, slots: ReadonlyArray<T | null>, enc: (t: T) => Uint8Array): void {
  w.u32(slots.length);
  for (const s of slots) w.bytes(s === null ? new Uint8Array(0) : enc(s));
}

/** A vector of exactly n slots; slot k must be present iff `present(k)` (an absent slot is empty). */
function readSlots<T>(
  r: WireReader,
  path: string,
  n: number,
  present: (k: number) => boolean,
  max: number,
  dec: (b: Uint8Array) => T,
): Array<T | null> {
  r.count(`${path}.count`, n);
  return Array.from({ length: n }, (_, k) => {
    const b = r.bytes(`${path}[${k}]`, max);
    if (present(k) === (b.length === 0)) {
      throw new MpcError('ERR_WIRE_BAD_LENGTH', `${path}[${k}] is ${present(k) ? 'missing' : 'not empty'}`, {
        details: { path: `${path}[${k}]` },
      });
    }
    return b.length === 0 ? null : dec(b);
  });
}

const envelopeSlots = (r: WireReader, path: string, n: number, from: number) =>
  readSlots(
    r,
    path,
    n,
    (j) => j !== from,
    EVIDENCE_MAX_BYTES,
    (b) => decodeEnvelope(b, PRESIGN_BODY_MAX),
  );
const verifierSlots = <T>(
  r: WireReader,
  path: string,
  n: number,
  from: number,
  max: number,
  dec: (b: Uint8Array) => T,
) => readSlots(r, path, n, (l) => l !== from, max, dec);
function affMatrix(r: WireReader, path: string, n: number, from: number): Array<Array<AffGProof | null>> {
  r.count(`${path}.count`, n);
  return Array.from({ length: n }, (_, p) =>
    readSlots(
      r,
      `${path}[${p}]`,
      n,
      (l) => p !== from && l !== from && l !== p,
      AFF_G_PROOF_MAX_BYTES,
      decodeAffGProof,
    ),
  );
}
function writeAffMatrix(w: WireWriter, aff: ReadonlyArray<ReadonlyArray<AffGProof | null>>): void {
  w.u32(aff.length);
  for (const row of aff) writeSlots(w, row, encodeAffGProof);
}

const idDeltaDef: RoundDef<MsgIdDelta> = {
  name: ROUND_DELTA,
  kind: 'broadcast',
  reliable: true,
  encode(m) {
    const w = new WireWriter().u8(0x61).u8(WIRE_VERSION);
    writeSlots(w, m.r2, encodeEnvelope);
    writeSlots(w, m.r3, encodeEnvelope);
    w.biguint(m.H).bytes(encodeMulProof(m.mul));
    writeSlots(w, m.dec, encodeDecProof);
    writeAffMatrix(w, m.aff);
    return w.finish();
  },
  decode(bytes, from, ctx) {
    const { n } = ctx;
    const r = new WireReader(bytes, MAX_BODY_BYTES);
    r.tag('identify-delta.tag', 0x61);
    r.tag('identify-delta.version', WIRE_VERSION);
    const m: MsgIdDelta = {
      r2: envelopeSlots(r, 'identify-delta.r2', n, from),
      r3: envelopeSlots(r, 'identify-delta.r3', n, from),
      H: r.biguint('identify-delta.H', CIPHERTEXT_BITS),
      mul: decodeMulProof(r.bytes('identify-delta.mul', MUL_PROOF_MAX_BYTES)),
      dec: verifierSlots(r, 'identify-delta.dec', n, from, DEC_PROOF_MAX_BYTES, decodeDecProof),
      aff: affMatrix(r, 'identify-delta.aff', n, from),
    };
    r.end();
    return m;
  },
};

const idSignatureDef: RoundDef<MsgIdSignature> = {
  name: ROUND_SIGNATURE,
  kind: 'broadcast',
  reliable: true,
  encode(m) {
    const w = new WireWriter().u8(0x62).u8(WIRE_VERSION);
    writeSlots(w, m.r2, encodeEnvelope);
    w.biguint(m.sigma).biguint(m.hatH);
    writeSlots(w, m.mulStar, encodeMulStarProof);
    writeSlots(w, m.dec, encodeDecProof);
    writeAffMatrix(w, m.aff);
    return w.finish();
  },
  decode(bytes, from, ctx) {
    const { n } = ctx;
    const r = new WireReader(bytes, MAX_BODY_BYTES);
    r.tag('identify-signature.tag', 0x62);
    r.tag('identify-signature.version', WIRE_VERSION);
    const r2 = envelopeSlots(r, 'identify-signature.r2', n, from);
    const sigma = r.biguint('identify-signature.sigma', 256);
    // σ_i is a scalar: canonical in [0, q).
    if (sigma >= CURVE_ORDER) {
      throw new MpcError('ERR_WIRE_BIGINT_TOO_LARGE', 'identify-signature.sigma is not below q', {
        details: { path: 'identify-signature.sigma' },
      });
    }
    const m: MsgIdSignature = {
      r2,
      sigma,
      hatH: r.biguint('identify-signature.hatH', CIPHERTEXT_BITS),
      mulStar: verifierSlots(r, 'identify-signature.mulStar', n, from, MUL_STAR_PROOF_MAX_BYTES, decodeMulStarProof),
      dec: verifierSlots(r, 'identify-signature.dec', n, from, DEC_PROOF_MAX_BYTES, decodeDecProof),
      aff: affMatrix(r, 'identify-signature.aff', n, from),
    };
    r.end();
    return m;
  },
};

// --- helpers -----------------------------------------------------------------------------------------

const te = new TextEncoder();

function inputError(protocol: string, why: string): never {
  throw new MpcError('ERR_PROTOCOL_INPUT', `${protocol} input rejected: ${why}`);
}

function others(n: number, self: number): number[] {
  return [...Array(n).keys()].filter((j) => j !== self);
}

/** Proof context id of one identification run: bound to the failed presigning run and to this run. */
function identifyContextId(protocol: string, psid: Uint8Array, sid: Uint8Array, extra: Uint8Array): Uint8Array {
  return sha256(
    new WireWriter()
      .bytes(te.encode(`${TAG_PREFIX}.${protocol}.context`))
      .bytes(psid)
      .bytes(sid)
      .bytes(extra)
      .finish(),
  );
}

/** Ed25519 signature of `party` (by roster position) over the envelope's signed bytes. */
function signedBy(roster: readonly Uint8Array[], party: number, env: Envelope): boolean {
  const pk = roster[party];
  if (pk === undefined || !(env.sig instanceof Uint8Array) || env.sig.length !== 64) return false;
  try {
    return ed25519.verify(env.sig, signedBytes(env), pk);
  } catch {
    return false;
  }
}

/** A genuine presign envelope of `round` from `from` to `to` in the run `sid`. */
function authentic(
  roster: readonly Uint8Array[],
  sid: Uint8Array,
  round: 'r2' | 'r3',
  from: number,
  to: number,
  env: Envelope,
): boolean {
  return (
    env.protocol === PRESIGN_PROTOCOL &&
    equalBytes(env.sid, sid) &&
    env.round === round &&
    env.from === from &&
    env.to === to &&
    signedBy(roster, from, env)
  );
}

function presignRound(name: 'r2' | 'r3'): RoundDef {
  return presign.rounds.find((r) => r.name === name) as RoundDef;
}

/** (a · b⁻¹) mod N² for ciphertexts; throws ERR_MATH_NOT_INVERTIBLE when b is no unit. */
function divCt(math: MathBackend, pk: PaillierPublicKey, a: bigint, b: bigint): bigint {
  return math.mulMod(a, math.invMod(b, pk.n2), pk.n2);
}

/** Envelope equality by content (what the runner would call a duplicate). */
function sameEnvelope(a: Envelope, b: Envelope): boolean {
  return equalBytes(encodeEnvelope(a), encodeEnvelope(b));
}

interface Prepared {
  readonly st: PresignRetained;
  readonly roster: Uint8Array[];
  /** By sender position (null at own). */
  readonly r2: Array<Envelope | null>;
  readonly r3: Array<Envelope | null>;
}

/**
 * Validates the retained state, the roster and the caller's envelopes, and picks the round-2 (and,
 * if asked, round-3) envelope of every peer. The own evidence must be genuine and must match the
 * retained state: anything else is a local mistake (wrong log, wrong roster), not a peer's fault.
 */
function prepare(protocol: string, input: IdentifyDeltaInput, ctx: RoundCtx, withR3: boolean): Prepared {
  if (input === null || typeof input !== 'object') inputError(protocol, 'input must be an object');
  const st = input.retained;
  if (st === null || typeof st !== 'object' || st.version !== 1 || st.step !== 'r3') {
    inputError(protocol, 'retained must be the presigning state at the output step');
  }
  const n = st.signers.length;
  if (ctx.n !== n) inputError(protocol, 'the run must have exactly one party per signer');
  const own = st.peers[ctx.self];
  if (own === undefined || own.pk.n !== st.sk.pub.n) inputError(protocol, 'own position does not hold the own key');
  const { roster } = input;
  if (
    !Array.isArray(roster) ||
    roster.length !== n ||
    roster.some((k) => !(k instanceof Uint8Array) || k.length !== 32)
  ) {
    inputError(protocol, 'roster must hold one 32-byte Ed25519 key per signer');
  }
  if (!Array.isArray(input.received)) inputError(protocol, 'received must be an array of envelopes');
  const pick = (round: 'r2' | 'r3'): Array<Envelope | null> =>
    Array.from({ length: n }, (_, j) => {
      if (j === ctx.self) return null;
      const found: Envelope[] = [];
      for (const e of input.received) {
        if (e === null || typeof e !== 'object' || !(e.body instanceof Uint8Array) || !(e.sig instanceof Uint8Array)) {
          continue;
        }
        if (e.protocol !== PRESIGN_PROTOCOL || e.round !== round || e.from !== j || e.to !== ctx.self) continue;
        if (!(e.sid instanceof Uint8Array) || !equalBytes(e.sid, st.sid)) continue;
        if (!found.some((f) => sameEnvelope(f, e))) found.push(e);
      }
      if (found.length !== 1) inputError(protocol, `need exactly one presign ${round} envelope from signer ${j}`);
      const env = found[0] as Envelope;
      if (!authentic(roster, st.sid, round, j, ctx.self, env)) {
        inputError(protocol, `the presign ${round} envelope from signer ${j} does not verify under the roster`);
      }
      return env;
    });
  const r2 = pick('r2');
  for (const j of others(n, ctx.self)) {
    // The evidence must be what the presign state was computed from.
    const m = presignRound('r2').decode((r2[j] as Envelope).body, j, ctx) as MsgR2;
    const rec = st.received[j];
    if (
      rec === null ||
      rec === undefined ||
      rec.D !== m.D ||
      rec.F !== m.F ||
      rec.hatD !== m.hatD ||
      rec.hatF !== m.hatF ||
      !rec.Gamma.equals(m.Gamma)
    ) {
      inputError(protocol, `the presign r2 envelope from signer ${j} is not the one the retained state holds`);
    }
  }
  const r3 = withR3 ? pick('r3') : Array.from({ length: n }, () => null);
  return { st, roster: [...roster], r2, r3 };
}

/** A BlameCollector that also remembers who is already blamed. */
class Verdict {
  readonly collector: BlameCollector;
  readonly faulty = new Set<number>();

  constructor(protocol: string, round: string) {
    this.collector = new BlameCollector(protocol, round);
  }

  blame(party: number, reason: string): void {
    this.faulty.add(party);
    this.collector.blame(party, reason);
  }

  /** Runs `check`; an MpcError it throws (failed proof, non-invertible value) blames `party`. */
  check(party: number, what: string, check: () => void): boolean {
    let ok = true;
    this.collector.guard(party, what, () => {
      try {
        check();
      } catch (e) {
        ok = false;
        throw e;
      }
    });
    if (!ok) this.faulty.add(party);
    return ok;
  }
}

interface Seen {
  r2?: MsgR2;
  r3?: MsgR3;
}

/**
 * Checks every published envelope (see the module doc, "Evidence") and returns seen[p][j]: what
 * publisher p proves j sent it. Blames publishers of non-genuine evidence, signers of malformed
 * messages, and senders that signed different δ_j/Δ_j (round 3) or Γ_j (round 2) for different peers.
 */
function checkEvidence(
  st: PresignRetained,
  roster: readonly Uint8Array[],
  evidence: ReadonlyArray<{ r2: ReadonlyArray<Envelope | null>; r3?: ReadonlyArray<Envelope | null> }>,
  ctx: RoundCtx,
  v: Verdict,
): Seen[][] {
  const { n } = ctx;
  const seen: Seen[][] = Array.from({ length: n }, () => Array.from({ length: n }, () => ({})));
  for (let p = 0; p < n; p++) {
    const ev = evidence[p] as (typeof evidence)[number];
    for (const round of ['r2', 'r3'] as const) {
      const list = ev[round];
      if (list === undefined) continue;
      for (const j of others(n, p)) {
        const env = list[j] as Envelope;
        if (!authentic(roster, st.sid, round, j, p, env)) {
          v.blame(p, `published presign ${round} evidence that signer ${j} did not sign for it`);
          continue;
        }
        try {
          const body = presignRound(round).decode(env.body, j, ctx);
          if (round === 'r2') (seen[p] as Seen[])[j] = { ...(seen[p] as Seen[])[j], r2: body as MsgR2 };
          else (seen[p] as Seen[])[j] = { ...(seen[p] as Seen[])[j], r3: body as MsgR3 };
        } catch (e) {
          if (!(e instanceof MpcError)) throw e;
          v.blame(j, `signed a malformed presign ${round} message (${e.code})`);
        }
      }
    }
  }
  // Equivocation over P2P: one sender, two validly signed messages with different values.
  for (let j = 0; j < n; j++) {
    const views = others(n, j).map((p) => (seen[p] as Seen[])[j] as Seen);
    const r3s = views.flatMap((s) => (s.r3 === undefined ? [] : [s.r3]));
    const r2s = views.flatMap((s) => (s.r2 === undefined ? [] : [s.r2]));
    const f3 = r3s[0];
    if (f3 !== undefined && r3s.some((m) => m.delta !== f3.delta || !m.Delta.equals(f3.Delta))) {
      v.blame(j, 'signed different (δ_j, Δ_j) for different signers in presign round 3');
    }
    const f2 = r2s[0];
    if (f2 !== undefined && r2s.some((m) => !m.Gamma.equals(f2.Gamma))) {
      v.blame(j, 'signed different Γ_j for different signers in presign round 2');
    }
  }
  return seen;
}

/** The value every (validly signed, non-equivocated) envelope of `j` carries, if any. */
function agreed<T>(seen: Seen[][], j: number, get: (s: Seen) => T | undefined): T | undefined {
  for (let p = 0; p < seen.length; p++) {
    if (p === j) continue;
    const x = get((seen[p] as Seen[])[j] as Seen);
    if (x !== undefined) return x;
  }
  return undefined;
}

/**
 * C_i · Π_{j≠i} D_{i,j} · F_{j,i}^{−1} mod N_i², D from i's evidence (j → i) and F from j's evidence
 * (i → j); undefined when a piece is missing (its publisher is blamed already).
 */
function combineMta(
  math: MathBackend,
  pk: PaillierPublicKey,
  seen: Seen[][],
  i: number,
  start: bigint,
  pick: (m: MsgR2) => { D: bigint; F: bigint },
): bigint | undefined {
  let acc = start;
  for (let j = 0; j < seen.length; j++) {
    if (j === i) continue;
    const toI = (seen[i] as Seen[])[j]?.r2;
    const fromI = (seen[j] as Seen[])[i]?.r2;
    if (toI === undefined || fromI === undefined) return undefined;
    acc = divCt(math, pk, math.mulMod(acc, pick(toI).D, pk.n2), pick(fromI).F);
  }
  return acc;
}

/** Turns the collected faults into the abort (blame lists every culprit), if any. */
function finish(v: Verdict): void {
  v.collector.throwIfAny();
}

function inconclusive(protocol: string, round: string, why: string): MpcError {
  return new MpcError('ERR_PROTOCOL_ABORT', `${protocol} aborted in ${round}: ${why}`, {
    blame: [],
    details: { protocol, round, reason: 'identification-inconclusive' },
  });
}

function assertStep<S extends IdentifyState['step']>(
  state: IdentifyState,
  step: S,
): asserts state is Extract<IdentifyState, { step: S }> {
  if (state === undefined || state.step !== step) {
    throw new MpcError('ERR_ROUND_ORDER', `identification state is not ready for round ${step}`);
  }
}

// --- §7.2: failed δ check ----------------------------------------------------------------------------

function initDelta(input: IdentifyDeltaInput, ctx: RoundCtx): { state: IdentifyState; outbox: Outgoing[] } {
  const { math, self, n } = ctx;
  const { st, roster, r2, r3 } = prepare(IDENTIFY_DELTA_PROTOCOL, input, ctx, true);
  const { sk } = st;
  const pk = sk.pub;
  const L = deltaPlaintextBits(n);
  if (L > decMaxPlaintextBits(pk)) inputError(IDENTIFY_DELTA_PROTOCOL, 'own Paillier modulus too small for Πdec');
  const idsid = identifyContextId(IDENTIFY_DELTA_PROTOCOL, st.psid, ctx.sid, new Uint8Array(0));
  const sc = (label: string) => ({ sid: idsid, prover: self, label });
  // H_i = (k_i ⊙ G_i) ⊕ enc_i(0; ρ_H) = G_i^{k_i} · ρ_H^{N_i} mod N_i²  — encrypts k_i·γ_i (< q² ≪ N_i)
  const rhoH = math.randUnit(pk.n, ctx.rng);
  const H = math.mulMod(scalarMul(math, pk, st.k, st.G), math.powmCrt(rhoH, pk.n, sk.crtN2), pk.n2);
  // Πmul(N_i; X = K_i, Y = G_i, C = H_i; x = k_i, ρ = ρ_H, ρ_x = ρ_i)
  const mul = proveMul(
    math,
    sc('mul'),
    { pk, X: st.K, Y: st.G, C: H },
    { x: st.k, rho: rhoH, rhoX: st.rho },
    ctx.rng,
    sk,
  );
  // U_i = H_i · Π_j D_{i,j} · F_{j,i}^{−1}: dec_i(U_i) = k_iγ_i + Σ_j (α_{i,j} + β_{i,j}) = δ̃_i
  let U = H;
  for (const j of others(n, self)) {
    const rec = st.received[j];
    const mine = st.sent[j];
    if (rec === null || rec === undefined || mine === null || mine === undefined) {
      inputError(IDENTIFY_DELTA_PROTOCOL, 'retained state lacks round-2 data');
    }
    U = divCt(math, pk, math.mulMod(U, rec.D, pk.n2), mine.F);
  }
  // Witness of Πdec: the signed plaintext y = δ̃_i and the nonce of U_i (recovered with the own key).
  const y = decrypt(math, sk, U);
  if (mod(y, CURVE_ORDER) !== st.delta) {
    inputError(IDENTIFY_DELTA_PROTOCOL, 'retained presigning state is inconsistent (δ_i ≢ dec(U_i) mod q)');
  }
  const rhoU = recoverNonce(math, sk, U);
  const dec = Array.from({ length: n }, (_, l) =>
    l === self
      ? null
      : proveDec(
          math,
          sc('dec'),
          (st.peers[l] as PresignPeer).rp,
          { pk, C: U, x: st.delta, plaintextBits: L },
          { y, rho: rhoU },
          ctx.rng,
          sk,
        ),
  );
  // Re-proofs of round 2 (paper: to all parties): for the pair sent to p, towards every l ∉ {i, p}:
  // Πaff-g(N0 = N_p, N1 = N_i, C = K_p, D = D_{p,i}, Y = F_{p,i}, X = Γ_i; x = γ_i, y = −β_{i,p}, s_{i,p}, r_{i,p})
  const aff = Array.from({ length: n }, (_, p) =>
    Array.from({ length: n }, (_, l) => {
      if (p === self || l === self || l === p) return null;
      const sent = st.sent[p];
      if (sent === null || sent === undefined) inputError(IDENTIFY_DELTA_PROTOCOL, 'retained state lacks round-2 data');
      const peer = st.peers[p] as PresignPeer;
      return proveAffG(
        math,
        sc(`aff-g:${p}`),
        (st.peers[l] as PresignPeer).rp,
        { pk0: peer.pk, pk1: pk, C: st.Ks[p] as bigint, D: sent.D, Y: sent.F, X: st.Gamma },
        { x: st.gamma, y: -sent.beta, rho: sent.s, rhoY: sent.r },
        ctx.rng,
        sk,
      );
    }),
  );
  const own: MsgIdDelta = { r2, r3, H, mul, dec, aff };
  const state: DeltaState = { version: 1, step: 'id-delta', retained: st, roster, idsid, own };
  return { state, outbox: [{ round: ROUND_DELTA, to: ALL, body: own }] };
}

function processDelta(
  state: IdentifyState,
  inbox: ReadonlyMap<number, unknown>,
  ctx: RoundCtx,
): RoundResult<IdentifyState, IdentifyOutput> {
  assertStep(state, 'id-delta');
  const { math, self, n } = ctx;
  const st = state.retained;
  const msgs: MsgIdDelta[] = Array.from({ length: n }, (_, p) =>
    p === self ? state.own : (inbox.get(p) as MsgIdDelta),
  );
  const v = new Verdict(IDENTIFY_DELTA_PROTOCOL, ROUND_DELTA);
  const seen = checkEvidence(st, state.roster, msgs, ctx, v);
  const L = deltaPlaintextBits(n);
  for (const i of others(n, self)) {
    const m = msgs[i] as MsgIdDelta;
    const pk = (st.peers[i] as PresignPeer).pk;
    const sc = (label: string) => ({ sid: state.idsid, prover: i, label });
    // Πmul: H_i encrypts k_i·γ_i (K_i, G_i are the reliable-broadcast values of presign round 1).
    v.check(i, 'invalid Πmul for H_i', () =>
      verifyMul(math, sc('mul'), { pk, X: st.Ks[i] as bigint, Y: st.Gs[i] as bigint, C: m.H }, m.mul),
    );
    // Πaff-g re-proofs for every pair i sent: (D_{p,i}, F_{p,i}, Γ_i) as p's evidence shows them.
    for (const p of others(n, i)) {
      const ev = (seen[p] as Seen[])[i]?.r2;
      if (ev === undefined) continue; // p's evidence is missing: p is blamed
      const peer = st.peers[p] as PresignPeer;
      for (let l = 0; l < n; l++) {
        if (l === i || l === p) continue;
        v.check(i, `invalid Πaff-g re-proof of the round-2 MtA sent to ${p} (verifier ${l})`, () =>
          verifyAffG(
            math,
            sc(`aff-g:${p}`),
            (st.peers[l] as PresignPeer).rp,
            { pk0: peer.pk, pk1: pk, C: st.Ks[p] as bigint, D: ev.D, Y: ev.F, X: ev.Gamma },
            (m.aff[p] as ReadonlyArray<AffGProof | null>)[l] as AffGProof,
          ),
        );
      }
    }
    // Πdec: U_i = H_i · Π_j D_{i,j} · F_{j,i}^{−1} decrypts to δ_i (mod q), δ_i as i signed it for everybody.
    const delta = agreed(seen, i, (s) => s.r3?.delta);
    if (v.faulty.has(i) || delta === undefined) continue; // equivocated or no evidence: blamed already
    let U: bigint | undefined;
    if (
      !v.check(i, 'U_i cannot be formed (F_{j,i} is no unit)', () => {
        U = combineMta(math, pk, seen, i, m.H, (x) => ({ D: x.D, F: x.F }));
      })
    )
      continue;
    if (U === undefined) continue;
    const C = U;
    for (const l of others(n, i)) {
      v.check(i, `invalid Πdec for U_i (verifier ${l})`, () =>
        verifyDec(
          math,
          sc('dec'),
          (st.peers[l] as PresignPeer).rp,
          { pk, C, x: delta, plaintextBits: L },
          m.dec[l] as DecProof,
        ),
      );
    }
  }
  finish(v);
  // Nobody is at fault: the δ check must hold with the agreed values (own δ_i, Δ_i from the state).
  let deltaSum = st.delta;
  let DeltaSum = st.Delta;
  for (const j of others(n, self)) {
    const r3 = agreed(seen, j, (s) => s.r3);
    if (r3 === undefined) throw inconclusive(IDENTIFY_DELTA_PROTOCOL, ROUND_DELTA, `no evidence of δ_${j}`);
    deltaSum += r3.delta;
    DeltaSum = DeltaSum.add(r3.Delta);
  }
  if (!mulPublic(G, mod(deltaSum, CURVE_ORDER)).equals(DeltaSum)) {
    throw inconclusive(IDENTIFY_DELTA_PROTOCOL, ROUND_DELTA, 'every proof holds but δ·G ≠ Σ Δ_j');
  }
  return { output: { culprits: [] } };
}

/**
 * §7.2 identification after presigning aborted with details.reason 'delta-mismatch' (PROTOCOL.md
 * §7.2; paper: 3-round presigning figure, Output step 2). Run by every signer of the failed run, at
 * the same positions, with a fresh execution id; those whose own δ check passed take part too.
 *
 * @throws (init) MpcError ERR_PROTOCOL_INPUT on a bad retained state, roster or evidence
 * @throws (round) MpcError ERR_PROTOCOL_ABORT with blame naming every culprit; with no blame and
 *   details.reason 'identification-inconclusive' only if every check passes but δ·G ≠ Σ Δ_j
 * @example const kept: PresignRetained[] = [];
 *   const pre = simulate(retainingPresign((i, s) => { kept[i] = s; }), inputs, opts); // errors: delta-mismatch
 *   const id = simulate(identifyDelta, kept.map((retained, i) => ({ retained, roster,
 *     received: pre.traffic.filter((e) => e.to === i) })), { sid: idSid, math, rngs });
 *   // id.errors[i].blame → [{ party: culprit, … }]
 */
export const identifyDelta: ProtocolDef<IdentifyDeltaInput, IdentifyState, IdentifyOutput> = {
  name: IDENTIFY_DELTA_PROTOCOL,
  rounds: [idDeltaDef] as readonly RoundDef[],
  init: initDelta,
  process(round, state, inbox, ctx) {
    if (round !== ROUND_DELTA)
      throw new MpcError('ERR_ROUND_ORDER', `${IDENTIFY_DELTA_PROTOCOL} has no round ${round}`);
    return processDelta(state, inbox, ctx);
  },
};

// --- §7.3: invalid signature -------------------------------------------------------------------------

/** σ = Σ σ_j mod q ≠ 0 and x(m·σ⁻¹·G + r'·σ⁻¹·Y') mod q = r' (the check of `combineSignature`). */
function signatureVerifies(sigmas: readonly bigint[], m: bigint, r: bigint, Y: Point): boolean {
  const s = mod(
    sigmas.reduce((a, b) => a + b, 0n),
    CURVE_ORDER,
  );
  if (s === 0n) return false;
  const w = Point.Fn.inv(s);
  const P = mulPublic(G, mod(m * w, CURVE_ORDER)).add(mulPublic(Y, mod(r * w, CURVE_ORDER)));
  return !P.is0() && mod(P.toAffine().x, CURVE_ORDER) === r;
}

/** V_i = K_i^m · (Ĥ_i · Π_j D̂_{i,j} · F̂_{j,i}^{−1})^{r'} mod N_i² (public exponents m, r'). */
function computeV(math: MathBackend, pk: PaillierPublicKey, K: bigint, W: bigint, m: bigint, r: bigint): bigint {
  return math.mulMod(math.powm(K, m, pk.n2), math.powm(W, r, pk.n2), pk.n2);
}

function initSignature(input: IdentifySignatureInput, ctx: RoundCtx): { state: IdentifyState; outbox: Outgoing[] } {
  const P = IDENTIFY_SIGNATURE_PROTOCOL;
  const { math, self, n } = ctx;
  const { st, roster, r2 } = prepare(P, input, ctx, false);
  const { presignature, digest, partials } = input;
  // rerandomize checks the presignature's shape and the digest (ERR_PROTOCOL_INPUT).
  const { tau, r } = rerandomize(presignature, digest);
  if (presignature.id !== presignatureId(st.sid, presignature.R, st.signers, st.path)) {
    inputError(P, 'the presignature is not the output of the retained presigning run');
  }
  if (!presignature.publicKey.equals(st.publicKey)) inputError(P, 'the presignature is for another key');
  const m = mod(fromBytesBE(digest), CURVE_ORDER);
  // σ_i = τ⁻¹·(k_i·m + r'·χ_i) mod q (sign.ts issuePartialSignature)
  const sigma = mod(Point.Fn.inv(tau) * (st.k * m + r * st.chi), CURVE_ORDER);
  if (!Array.isArray(partials) || partials.length !== n) inputError(P, 'need exactly one partial signature per signer');
  const held: bigint[] = Array.from({ length: n }, () => -1n);
  for (const p of partials) {
    if (p === null || typeof p !== 'object' || !Number.isInteger(p.signer) || p.signer < 0 || p.signer >= n) {
      inputError(P, 'partial signatures must come from signer positions');
    }
    if ((held[p.signer] as bigint) >= 0n) inputError(P, 'partial signatures must come from distinct signers');
    if (typeof p.sigma !== 'bigint' || p.sigma < 0n || p.sigma >= CURVE_ORDER) inputError(P, 'σ_j must be in [0, q)');
    held[p.signer] = p.sigma;
  }
  if (held[self] !== sigma) inputError(P, 'the own partial signature does not match the retained presigning state');
  const { sk } = st;
  const pk = sk.pub;
  const L = signaturePlaintextBits(n);
  if (L > decMaxPlaintextBits(pk)) inputError(P, 'own Paillier modulus too small for Πdec');
  const extra = new WireWriter().fixed(digest).fixed(hexToBytes(presignature.id)).finish();
  const idsid = identifyContextId(P, st.psid, ctx.sid, extra);
  const sc = (label: string) => ({ sid: idsid, prover: self, label });
  const own = st.peers[self] as PresignPeer;
  // Ĥ_i = (x_i ⊙ K_i) ⊕ enc_i(0; ρ̂) = K_i^{x_i} · ρ̂^{N_i} mod N_i²  — encrypts x_i·k_i
  const hatRho = math.randUnit(pk.n, ctx.rng);
  const hatH = math.mulMod(scalarMul(math, pk, st.x, st.K), math.powmCrt(hatRho, pk.n, sk.crtN2), pk.n2);
  // Πmul*(N_i; C = K_i, D = Ĥ_i, X = X_i; x = x_i, ρ = ρ̂) towards every verifier l
  const mulStar = Array.from({ length: n }, (_, l) =>
    l === self
      ? null
      : proveMulStar(
          math,
          sc('mul-star'),
          (st.peers[l] as PresignPeer).rp,
          { pk, C: st.K, D: hatH, X: own.X },
          { x: st.x, rho: hatRho },
          ctx.rng,
          sk,
        ),
  );
  // W_i = Ĥ_i · Π_j D̂_{i,j} · F̂_{j,i}^{−1} (encrypts χ̃_i);  V_i = K_i^m · W_i^{r'} (encrypts m·k_i + r'·χ̃_i)
  let W = hatH;
  for (const j of others(n, self)) {
    const rec = st.received[j];
    const mine = st.sent[j];
    if (rec === null || rec === undefined || mine === null || mine === undefined) {
      inputError(P, 'retained state lacks round-2 data');
    }
    W = divCt(math, pk, math.mulMod(W, rec.hatD, pk.n2), mine.hatF);
  }
  const V = computeV(math, pk, st.K, W, m, r);
  // Πdec statement x = τ·σ_i ≡ m·k_i + r'·χ_i (mod q): the re-randomisation applied to the public side.
  const x = mod(tau * sigma, CURVE_ORDER);
  const y = decrypt(math, sk, V);
  if (mod(y, CURVE_ORDER) !== x) {
    inputError(P, 'retained presigning state is inconsistent (τ·σ_i ≢ dec(V_i) mod q)');
  }
  const rhoV = recoverNonce(math, sk, V);
  const dec = Array.from({ length: n }, (_, l) =>
    l === self
      ? null
      : proveDec(
          math,
          sc('dec'),
          (st.peers[l] as PresignPeer).rp,
          { pk, C: V, x, plaintextBits: L },
          { y, rho: rhoV },
          ctx.rng,
          sk,
        ),
  );
  // Re-proofs of ψ̂: Πaff-g(N_p, N_i, K_p, D̂_{p,i}, F̂_{p,i}, X_i; x = x_i, y = −β̂_{i,p}, ŝ, r̂) towards l ∉ {i, p}
  const aff = Array.from({ length: n }, (_, p) =>
    Array.from({ length: n }, (_, l) => {
      if (p === self || l === self || l === p) return null;
      const sent = st.sent[p];
      if (sent === null || sent === undefined) inputError(P, 'retained state lacks round-2 data');
      return proveAffG(
        math,
        sc(`aff-g-hat:${p}`),
        (st.peers[l] as PresignPeer).rp,
        { pk0: (st.peers[p] as PresignPeer).pk, pk1: pk, C: st.Ks[p] as bigint, D: sent.hatD, Y: sent.hatF, X: own.X },
        { x: st.x, y: -sent.hatBeta, rho: sent.hatS, rhoY: sent.hatR },
        ctx.rng,
        sk,
      );
    }),
  );
  const msg: MsgIdSignature = { r2, sigma, hatH, mulStar, dec, aff };
  const state: SignatureState = { version: 1, step: 'id-sig', retained: st, roster, idsid, own: msg, tau, r, m, held };
  return { state, outbox: [{ round: ROUND_SIGNATURE, to: ALL, body: msg }] };
}

function processSignature(
  state: IdentifyState,
  inbox: ReadonlyMap<number, unknown>,
  ctx: RoundCtx,
): RoundResult<IdentifyState, IdentifyOutput> {
  assertStep(state, 'id-sig');
  const { math, self, n } = ctx;
  const st = state.retained;
  const msgs: MsgIdSignature[] = Array.from({ length: n }, (_, p) =>
    p === self ? state.own : (inbox.get(p) as MsgIdSignature),
  );
  const v = new Verdict(IDENTIFY_SIGNATURE_PROTOCOL, ROUND_SIGNATURE);
  const seen = checkEvidence(
    st,
    state.roster,
    msgs.map((m) => ({ r2: m.r2 })),
    ctx,
    v,
  );
  const L = signaturePlaintextBits(n);
  for (const i of others(n, self)) {
    const msg = msgs[i] as MsgIdSignature;
    const peer = st.peers[i] as PresignPeer;
    const pk = peer.pk;
    const sc = (label: string) => ({ sid: state.idsid, prover: i, label });
    // The σ_i being proven is the one i issued to this party (authenticated delivery of partials).
    if (msg.sigma !== state.held[i]) v.blame(i, 'σ_i differs from the partial signature it issued');
    // Πmul*: Ĥ_i encrypts x_i·k_i with X_i = x_i·G.
    for (const l of others(n, i)) {
      v.check(i, `invalid Πmul* for Ĥ_i (verifier ${l})`, () =>
        verifyMulStar(
          math,
          sc('mul-star'),
          (st.peers[l] as PresignPeer).rp,
          { pk, C: st.Ks[i] as bigint, D: msg.hatH, X: peer.X },
          msg.mulStar[l] as MulStarProof,
        ),
      );
    }
    // Πaff-g re-proofs for every hat pair i sent: (D̂_{p,i}, F̂_{p,i}) as p's evidence shows them.
    for (const p of others(n, i)) {
      const ev = (seen[p] as Seen[])[i]?.r2;
      if (ev === undefined) continue;
      const target = st.peers[p] as PresignPeer;
      for (let l = 0; l < n; l++) {
        if (l === i || l === p) continue;
        v.check(i, `invalid Πaff-g re-proof of the round-2 hat MtA sent to ${p} (verifier ${l})`, () =>
          verifyAffG(
            math,
            sc(`aff-g-hat:${p}`),
            (st.peers[l] as PresignPeer).rp,
            { pk0: target.pk, pk1: pk, C: st.Ks[p] as bigint, D: ev.hatD, Y: ev.hatF, X: peer.X },
            (msg.aff[p] as ReadonlyArray<AffGProof | null>)[l] as AffGProof,
          ),
        );
      }
    }
    // Πdec: V_i decrypts to τ·σ_i (mod q).
    let W: bigint | undefined;
    if (
      !v.check(i, 'V_i cannot be formed (F̂_{j,i} is no unit)', () => {
        W = combineMta(math, pk, seen, i, msg.hatH, (x) => ({ D: x.hatD, F: x.hatF }));
      })
    )
      continue;
    if (W === undefined) continue;
    const C = computeV(math, pk, st.Ks[i] as bigint, W, state.m, state.r);
    const x = mod(state.tau * msg.sigma, CURVE_ORDER);
    for (const l of others(n, i)) {
      v.check(i, `invalid Πdec for V_i (verifier ${l})`, () =>
        verifyDec(
          math,
          sc('dec'),
          (st.peers[l] as PresignPeer).rp,
          { pk, C, x, plaintextBits: L },
          msg.dec[l] as DecProof,
        ),
      );
    }
  }
  finish(v);
  // Nobody is at fault: the published σ_j must form a valid signature.
  if (
    !signatureVerifies(
      msgs.map((m) => m.sigma),
      state.m,
      state.r,
      st.publicKey,
    )
  ) {
    throw inconclusive(IDENTIFY_SIGNATURE_PROTOCOL, ROUND_SIGNATURE, 'every proof holds but the signature is invalid');
  }
  return { output: { culprits: [] } };
}

/**
 * §7.3 identification after `combineSignature` aborted with details.reason 'signature-invalid'
 * (PROTOCOL.md §7.3; paper: signing figure, step 2, with Πmul* and Πdec — the presigning rounds
 * stay unchanged). Run by every signer with its retained presigning state, the digest, the
 * presignature and the partial signatures it combined.
 *
 * @throws (init) MpcError ERR_PROTOCOL_INPUT on a bad retained state, roster, evidence, presignature,
 *   digest or partials (including an own partial that the retained state does not reproduce)
 * @throws (round) MpcError ERR_PROTOCOL_ABORT with blame naming every culprit; with no blame and
 *   details.reason 'identification-inconclusive' only if every check passes but the signature is invalid
 * @example const id = simulate(identifySignature, kept.map((retained, i) => ({ retained, roster,
 *   received: pre.traffic.filter((e) => e.to === i), presignature: presigs[i], digest, partials })), opts);
 */
export const identifySignature: ProtocolDef<IdentifySignatureInput, IdentifyState, IdentifyOutput> = {
  name: IDENTIFY_SIGNATURE_PROTOCOL,
  rounds: [idSignatureDef] as readonly RoundDef[],
  init: initSignature,
  process(round, state, inbox, ctx) {
    if (round !== ROUND_SIGNATURE) {
      throw new MpcError('ERR_ROUND_ORDER', `${IDENTIFY_SIGNATURE_PROTOCOL} has no round ${round}`);
    }
    return processSignature(state, inbox, ctx);
  },
};
