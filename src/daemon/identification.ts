import { deserialize, serialize } from 'node:v8';
import { sha256 } from '@noble/hashes/sha2.js';
import { MpcError } from '../errors/index.js';
import { fromPortable, toPortable } from '../primitives/portable.js';
import { type Authenticator, decodeEnvelope, type Envelope, encodeEnvelope } from '../protocol/envelope.js';
import { type PresignRetained, retainingPresign } from '../protocol/identify.js';
import type { Presignature, PresignInput, PresignState } from '../protocol/presign.js';
import { MAX_BODY_BYTES, PartyRunner } from '../protocol/runner.js';
import type { ProtocolDef, RoundCtx } from '../protocol/types.js';
import { MAX_PLAINTEXT_BYTES } from '../storage/sealed-blob.js';
import { WireReader, WireWriter } from '../util/wire.js';
import type { SessionRunnerLike } from './session-runner.js';

/**
 * What a party keeps of a presigning run so that a later failure can be attributed (PROTOCOL.md
 * §7.2–§7.4, issue 17 item 5): its round-3 state (`retainingPresign`) and the signed round-2 / round-3
 * envelopes it received, exactly as delivered. SECRET (the state holds k_i, γ_i, χ_i and the Paillier
 * key): kept in memory only for a bounded time, never logged, and sealed when stored.
 */
export interface PresignEvidence {
  readonly retained: PresignRetained;
  /** encodeEnvelope of each accepted P2P envelope of rounds r2 and r3 addressed to this party. */
  readonly received: readonly Uint8Array[];
}

/** The presign rounds whose P2P envelopes identification re-checks (presign.ts round names). */
const EVIDENCE_ROUNDS: ReadonlySet<string> = new Set(['r2', 'r3']);

/**
 * A PartyRunner for presigning that also keeps the evidence above. Used on the session thread
 * (session-worker.ts) and, without threads, on the daemon's own thread.
 */
export class RetainingPresignRunner implements SessionRunnerLike<Presignature> {
  readonly #runner: PartyRunner<PresignInput, PresignState, Presignature>;
  readonly #self: number;
  #retained: PresignRetained | undefined;
  /** First accepted envelope per (sender, round). */
  readonly #received = new Map<string, Uint8Array>();

  constructor(ctx: RoundCtx, auth: Authenticator, def: ProtocolDef<PresignInput, PresignState, Presignature>) {
    this.#self = ctx.self;
    const retaining = retainingPresign((_, s) => {
      this.#retained = s;
    }, def);
    this.#runner = new PartyRunner(retaining, ctx, auth);
  }

  get status() {
    return this.#runner.status;
  }
  get round() {
    return this.#runner.round;
  }
  get output() {
    return this.#runner.output;
  }
  get error(): MpcError | undefined {
    return this.#runner.error;
  }
  missing(): number[] {
    return this.#runner.missing();
  }
  abortNotice(): Envelope | undefined {
    return this.#runner.abortNotice();
  }

  start(input: unknown): Envelope[] {
    return this.#runner.start(input as PresignInput);
  }

  /** Throws for a refused message (nothing is kept then). */
  receive(env: Envelope): Envelope[] {
    const out = this.#runner.receive(env);
    const key = `${env.from}/${env.round}`;
    if (env.to === this.#self && EVIDENCE_ROUNDS.has(env.round) && !this.#received.has(key)) {
      this.#received.set(key, encodeEnvelope(env));
    }
    return out;
  }

  /**
   * The evidence, once the run ended with a presignature or with an unexplained δ mismatch (the
   * only cases identification is for); undefined otherwise.
   */
  evidence(): PresignEvidence | undefined {
    if (this.#retained === undefined) return undefined;
    if (this.status !== 'done' && !needsDeltaIdentification(this.error)) return undefined;
    return { retained: this.#retained, received: [...this.#received.values()] };
  }
}

/** Presigning aborted at the δ check without naming anyone: §7.2 identification is required. */
export function needsDeltaIdentification(e: MpcError | undefined): boolean {
  return e !== undefined && e.details.reason === 'delta-mismatch' && e.blame.length === 0;
}

/** The envelopes of an evidence record, decoded (the identification protocol re-verifies them). */
export function evidenceEnvelopes(ev: PresignEvidence): Envelope[] {
  return ev.received.map((b) => decodeEnvelope(b, MAX_BODY_BYTES));
}

/**
 * The session id of the identification run after session `sid` failed: derived, so every member
 * and the coordinator agree on it without another message, and one failed session has exactly one
 * identification session (a party runs it at most once).
 */
export type IdentificationKind = 'delta' | 'signature';

export function identificationSid(sid: Uint8Array, kind: IdentificationKind): Uint8Array {
  const tag = new TextEncoder().encode(`mpc-custody/identify-${kind}/v1`);
  const h = sha256(Uint8Array.from([...tag, 0, ...sid]));
  return h.subarray(0, 16);
}

// --- what persists with a stored presignature (§7.3: a bad partial is attributed after signing) -------

const STORED_TAG = 0x4950; // "IP"
const STORED_VERSION = 1;

/**
 * The ledger payload of a presignature: the presignature codec's bytes plus the evidence §7.3
 * identification needs, i.e. the round-3 state and the round-2 envelopes received (the round-3
 * envelopes only serve §7.2 and are dropped). Sealed by the ledger exactly like the presignature
 * (it holds the same class of secrets). The evidence is node:v8's structured-clone serialization
 * of its portable form: the ledger's seal authenticates it, and presignatures never outlive the
 * process that made them (party-ledger: ephemeral sealing key), so the format never crosses versions.
 */
export function encodeStoredPresignature(presignature: Uint8Array, evidence: PresignEvidence | undefined): Uint8Array {
  const r2 = evidence?.received.filter((b) => decodeEnvelope(b, MAX_BODY_BYTES).round === 'r2');
  const ev =
    evidence === undefined
      ? new Uint8Array(0)
      : new Uint8Array(serialize(toPortable({ retained: evidence.retained, received: r2 })));
  return new WireWriter().u16(STORED_TAG).u8(STORED_VERSION).bytes(presignature).bytes(ev).finish();
}

/**
 * The two parts of a stored presignature, the evidence left encoded (owned copies; the caller wipes
 * both): signing needs only the presignature, and decoding the evidence (node:v8 + fromPortable) is a
 * large share of a signer's CPU, so it is decoded only if identification runs (issue #18).
 * @throws MpcError ERR_PRESIGNATURE_INVALID for a payload that is not a stored presignature
 */
export function splitStoredPresignature(bytes: Uint8Array): {
  presignature: Uint8Array;
  /** SECRET: `decodeStoredEvidence` input; undefined when the presignature was stored without evidence. */
  evidence: Uint8Array | undefined;
} {
  try {
    const r = new WireReader(bytes, MAX_PLAINTEXT_BYTES);
    if (r.u16('stored.tag') !== STORED_TAG) throw new MpcError('ERR_WIRE_BAD_TAG', 'not a stored presignature');
    r.tag('stored.version', STORED_VERSION);
    const presignature = r.bytes('stored.presignature', 4096);
    const ev = r.bytes('stored.evidence', MAX_PLAINTEXT_BYTES);
    r.end();
    return { presignature, evidence: ev.length === 0 ? undefined : ev };
  } catch (e) {
    throw new MpcError('ERR_PRESIGNATURE_INVALID', 'stored presignature is malformed', { cause: e });
  }
}

/**
 * Decodes the evidence part of a stored presignature (`splitStoredPresignature`). Does not wipe
 * `ev` (its owner does).
 * @throws MpcError ERR_PRESIGNATURE_INVALID for malformed evidence
 */
export function decodeStoredEvidence(ev: Uint8Array): PresignEvidence {
  try {
    // node:v8 revives byte arrays as views into its input: give it a copy the caller never wipes
    const x = fromPortable(deserialize(Buffer.from(ev))) as PresignEvidence;
    if (
      x === null ||
      typeof x !== 'object' ||
      typeof x.retained !== 'object' ||
      x.retained?.step !== 'r3' ||
      !Array.isArray(x.received) ||
      !x.received.every((b) => b instanceof Uint8Array)
    ) {
      throw new TypeError('evidence shape');
    }
    return x;
  } catch (e) {
    throw new MpcError('ERR_PRESIGNATURE_INVALID', 'stored identification evidence is malformed', { cause: e });
  }
}

/**
 * Both parts decoded (`splitStoredPresignature` + `decodeStoredEvidence`).
 * @throws MpcError ERR_PRESIGNATURE_INVALID for a payload that is not a stored presignature
 */
export function decodeStoredPresignature(bytes: Uint8Array): {
  presignature: Uint8Array;
  evidence: PresignEvidence | undefined;
} {
  const { presignature, evidence: ev } = splitStoredPresignature(bytes);
  if (ev === undefined) return { presignature, evidence: undefined };
  try {
    return { presignature, evidence: decodeStoredEvidence(ev) };
  } catch (e) {
    presignature.fill(0);
    throw e;
  } finally {
    ev.fill(0);
  }
}

/** Partial signatures relayed by the coordinator in `ctl.identify` after an invalid signature. */
export function encodeRelayedPartials(frames: readonly Uint8Array[]): Uint8Array {
  const w = new WireWriter().u32(frames.length);
  for (const f of frames) w.bytes(f);
  return w.finish();
}

const MAX_RELAYED = 1024;
const MAX_PARTIAL_FRAME = 4096;

/** @throws MpcError ERR_DAEMON_COMMAND_INVALID */
export function decodeRelayedPartials(bytes: Uint8Array): Uint8Array[] {
  try {
    const r = new WireReader(bytes, MAX_RELAYED * (MAX_PARTIAL_FRAME + 4) + 4);
    const n = r.u32('relayed.count');
    if (n > MAX_RELAYED) throw new MpcError('ERR_DAEMON_COMMAND_INVALID', 'too many relayed partials');
    const out = Array.from({ length: n }, () => r.bytes('relayed.frame', MAX_PARTIAL_FRAME));
    r.end();
    return out;
  } catch (e) {
    throw new MpcError('ERR_DAEMON_COMMAND_INVALID', 'malformed relayed partial signatures', { cause: e });
  }
}
