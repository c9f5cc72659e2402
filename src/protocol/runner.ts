import { equalBytes } from '@noble/curves/utils.js';
import { type Blame, MpcError } from '../errors/index.js';
import { WireReader, WireWriter } from '../util/wire.js';
import {
  ABORT_ROUND,
  type AbortNoticeBody,
  type Accusation,
  clampUtf8,
  decodeAbortNotice,
  encodeAbortNotice,
  MAX_REASON_BYTES,
} from './abort-notice.js';
import { BlameCollector, protocolAbort } from './blame.js';
import {
  type Authenticator,
  bodyDigest,
  decodeEnvelope,
  type Envelope,
  encodeEnvelope,
  messageId,
  signedBytes,
} from './envelope.js';
import { ALL, type Judgement, type Outgoing, type ProtocolDef, type RoundCtx, type RoundDef } from './types.js';

/** Largest encoded message body the runner accepts (before any decoding). */
export const MAX_BODY_BYTES = 4 << 20;

type Phase = 'collect' | 'echo' | 'evidence';

interface Received {
  readonly env: Envelope;
  readonly body: unknown;
  readonly id: string;
}

/** What the check of one accusation found: a judge's judgement, or why the evidence is not evidence. */
type Finding = Judgement | { readonly verdict: 'refuted'; readonly why: string };

/** A peer's abort notice that could not be decided yet (this party lacked public data). */
interface OpenNotice {
  readonly env: Envelope;
  readonly id: string;
  readonly body: AbortNoticeBody;
  /** Per accusation, the latest finding ('pending' ones are re-checked as the session advances). */
  readonly findings: Finding[];
}

/**
 * Drives one party through a protocol: signs what it sends, and for what it receives checks the
 * session, round, sender, recipient and signature, decodes strictly, drops exact duplicates,
 * aborts on equivocation (two different signed messages for one round), buffers early messages,
 * and runs the echo round (reliable broadcast) before processing a `reliable` round.
 *
 * `receive` never throws for the session's own faults: a protocol fault ends the session with
 * `status = 'aborted'` and `error` holding the typed abort with blame. It throws a typed error only
 * for a message that does not belong to this session or cannot be attributed (bad signature): such
 * a message is refused and the session goes on.
 *
 * ## Abort notices (identifiable abort of point-to-point faults; abort-notice.ts)
 * Sending: when this party aborts blaming a peer for a message only it received, `abortNotice()`
 * returns a signed broadcast envelope of round {@link ABORT_ROUND} carrying the peer's own signed
 * envelope(s) as evidence. The caller must broadcast it to every other party (simulate does; the
 * daemon must). The runner only accuses with evidence that its own judge finds faulty — the
 * protocol's `judge` hook on the decoded message, or the generic faults (undecodable body, wrong
 * kind of message, two different signed messages for one round) — and its own `error` then names
 * each such culprit exactly as every other party's verdict will: same party, round, reason and
 * message ids.
 * Receiving: `receive` accepts a notice while running AND after the end ('done' or 'aborted'), and
 * `judgeNotice` does the same for callers that handle notices apart from the message flow. The
 * notice's signature, sid and protocol are checked like any message's (a notice of another session
 * or with a bad signature is refused: ERR_MSG_UNEXPECTED). Then every evidence envelope must carry
 * the culprit's valid signature, this sid and protocol, a round of this protocol, and be addressed
 * to the accuser (or be a broadcast it received), and the message must fail a public check. If
 * every accusation holds, the verdict blames the culprits; if any does not (no fault shown, forged
 * or doctored evidence, malformed notice), the verdict blames the ACCUSER (false accusation,
 * round ABORT_ROUND). A running or finished party ends 'aborted' with the verdict (a finished
 * party's output is withdrawn: the session failed at the accuser, so no party may use its output);
 * a party that aborted without blame takes the verdict; one that aborted with blame adds the
 * verdict's parties to its own. A notice whose check needs public data this party does not hold
 * yet (it is behind in the rounds) is kept and decided as the session advances.
 * Out of scope: faults only the accuser's secrets can show (a wrong MtA plaintext, a wrong δ_j) —
 * presigning's identification protocols (identify.ts) handle those.
 */
export class PartyRunner<I, S, O> {
  status: 'idle' | 'running' | 'done' | 'aborted' = 'idle';
  output: O | undefined;
  error: MpcError | undefined;

  readonly #def: ProtocolDef<I, S, O>;
  readonly #ctx: RoundCtx;
  readonly #auth: Authenticator;
  #state: S | undefined;
  #roundIdx = 0;
  #phase: Phase = 'collect';
  /** Messages of every round seen so far (including the current one), by round then sender. */
  readonly #got = new Map<string, Map<number, Received>>();
  /** Own signed broadcast per round (for the echo digests). */
  readonly #own = new Map<string, Envelope>();
  /** Echo and evidence messages of the current round, by sender. */
  #echoes = new Map<number, Uint8Array[]>();
  #evidence = new Map<number, Envelope[]>();
  #disputed: number[] = [];
  /** Evidence in hand at an admission-time abort, by blamed party (candidate for the notice). */
  readonly #hints = new Map<number, Envelope[]>();
  /** This party's own abort notice, once it aborted with checkable evidence. */
  #notice: Envelope | undefined;
  /** Peers' notices not decided yet, and the verdicts of decided ones, by notice message id. */
  readonly #openNotices = new Map<string, OpenNotice>();
  readonly #verdicts = new Map<string, MpcError>();
  /** Id of the (first) notice of each accuser. */
  readonly #noticeOf = new Map<number, string>();

  constructor(def: ProtocolDef<I, S, O>, ctx: RoundCtx, auth: Authenticator) {
    if (def.rounds.some((r) => r.name === ABORT_ROUND)) {
      throw new MpcError('ERR_ROUND_ORDER', `round name '${ABORT_ROUND}' is reserved for abort notices`);
    }
    this.#def = def;
    this.#ctx = ctx;
    this.#auth = auth;
  }

  /**
   * This party's signed abort notice: defined only after an abort that blamed a peer for a message
   * whose fault every party can re-check (see the class doc). Broadcast it to every other party.
   *
   * @example if (runner.status === 'aborted') { const n = runner.abortNotice(); if (n) await send(ALL, n.round, encodeEnvelope(n)); }
   */
  abortNotice(): Envelope | undefined {
    return this.#notice;
  }

  /**
   * Judges a peer's abort notice (round ABORT_ROUND) in any status after `start` — running, done or
   * aborted — and records the verdict as `receive` does (see the class doc). Returns the verdict,
   * or undefined while it cannot be decided yet (this party lacks the public data; the notice is
   * kept and decided as the session advances). Judging the same notice again returns the same
   * verdict; only the first notice of each accuser is judged (an honest runner signs one), a later
   * different one returns the first one's verdict (or undefined while that is pending).
   *
   * @throws MpcError ERR_MSG_UNEXPECTED for a notice that is refused: another session or protocol,
   *   own or out-of-range sender, too large, bad signature, not an abort notice; ERR_ROUND_ORDER before `start`
   * @example const verdict = runner.judgeNotice(env); // verdict?.blame names the culprit or the accuser
   */
  judgeNotice(env: Envelope): MpcError | undefined {
    if (this.status === 'idle') throw new MpcError('ERR_ROUND_ORDER', 'runner not started');
    if (env.round !== ABORT_ROUND) throw new MpcError('ERR_MSG_UNEXPECTED', 'message is not an abort notice');
    this.#authenticate(env);
    const id = messageId(env);
    const known = this.#verdicts.get(id);
    if (known !== undefined) return known;
    // One notice per accuser is judged (an honest runner signs one): further ones cost no work.
    const first = this.#noticeOf.get(env.from);
    if (first !== undefined && first !== id) return this.#verdicts.get(first);
    this.#noticeOf.set(env.from, id);
    let open = this.#openNotices.get(id);
    if (open === undefined) {
      const opened = this.#openNotice(env, id);
      if (opened instanceof MpcError) return this.#decided(id, opened);
      open = opened;
    }
    const verdict = this.#decide(open);
    if (verdict === undefined) {
      this.#openNotices.set(id, open);
      return undefined;
    }
    this.#openNotices.delete(id);
    return this.#decided(id, verdict);
  }

  get round(): string | undefined {
    return this.#def.rounds[this.#roundIdx]?.name;
  }

  /**
   * Parties whose message for the current round (or its echo / evidence phase) has not arrived yet,
   * ascending; empty when not running. Read-only: a daemon turns these into timeout blame.
   */
  missing(): number[] {
    const def = this.#def.rounds[this.#roundIdx];
    if (this.status !== 'running' || def === undefined) return [];
    const have =
      this.#phase === 'echo'
        ? this.#echoes
        : this.#phase === 'evidence'
          ? this.#evidence
          : (this.#got.get(def.name) ?? new Map<number, unknown>());
    return [...Array(this.#ctx.n).keys()].filter((j) => j !== this.#ctx.self && !have.has(j));
  }

  start(input: I): Envelope[] {
    if (this.status !== 'idle') throw new MpcError('ERR_ROUND_ORDER', 'runner already started');
    this.status = 'running';
    try {
      const { state, outbox } = this.#def.init(input, this.#ctx);
      this.#state = state;
      return this.#send(outbox);
    } catch (e) {
      return this.#fail(e);
    }
  }

  /**
   * Feeds one envelope; returns the envelopes to send as a consequence (possibly none). Abort
   * notices (round ABORT_ROUND) are also accepted after the end of the session (see `judgeNotice`).
   */
  receive(env: Envelope): Envelope[] {
    if (env.round === ABORT_ROUND && this.status !== 'idle') {
      this.judgeNotice(env); // throws for a refused notice, like for any refused message
      return [];
    }
    if (this.status !== 'running') return [];
    let out: Envelope[];
    try {
      this.#admit(env);
    } catch (e) {
      if (e instanceof MpcError && e.code === 'ERR_PROTOCOL_ABORT') return this.#fail(e);
      throw e; // refused message; the session goes on
    }
    try {
      out = this.#advance();
    } catch (e) {
      return this.#fail(e);
    }
    this.#retryOpenNotices();
    return out;
  }

  // --- admission: everything that can be checked without the round logic ---------------------

  /** Session, sender, recipient, size and signature: a message failing these is refused, not blamed. */
  #authenticate(env: Envelope): void {
    const ctx = this.#ctx;
    if (env.protocol !== this.#def.name || !equalBytes(env.sid, ctx.sid)) {
      throw new MpcError('ERR_MSG_UNEXPECTED', 'message belongs to another session or protocol');
    }
    if (!Number.isInteger(env.from) || env.from < 0 || env.from >= ctx.n || env.from === ctx.self) {
      throw new MpcError('ERR_MSG_UNEXPECTED', 'message has an invalid sender index');
    }
    if (env.to !== ALL && env.to !== ctx.self)
      throw new MpcError('ERR_MSG_UNEXPECTED', 'message is addressed to another party');
    if (env.body.length > MAX_BODY_BYTES) throw new MpcError('ERR_MSG_UNEXPECTED', 'message body too large');
    if (!this.#auth.verify(env.from, signedBytes(env), env.sig)) {
      // Unattributable: anyone could have made it. Refuse it; a missing genuine message becomes a timeout.
      throw new MpcError('ERR_MSG_UNEXPECTED', 'message signature does not verify');
    }
  }

  #admit(env: Envelope): void {
    this.#authenticate(env);
    // From here on the message provably comes from env.from: faults in it are blame.
    const { base, suffix } = splitRound(env.round);
    const idx = this.#def.rounds.findIndex((r) => r.name === base);
    if (idx < 0 || (suffix !== '' && suffix !== 'echo' && suffix !== 'evidence')) {
      throw this.#abortNow([{ party: env.from, msgIds: [messageId(env)], reason: `unknown round ${env.round}` }]);
    }
    if (suffix !== '') {
      this.#admitEcho(env, base, suffix);
      return;
    }
    const def = this.#def.rounds[idx] as RoundDef;
    const wantTo = def.kind === 'broadcast' ? ALL : this.#ctx.self;
    if (env.to !== wantTo) {
      throw this.#abortNow(
        [{ party: env.from, msgIds: [messageId(env)], reason: `${def.kind} round ${base} sent as the wrong kind` }],
        undefined,
        [env],
      );
    }
    const slot = this.#got.get(base) ?? new Map<number, Received>();
    this.#got.set(base, slot);
    const prev = slot.get(env.from);
    const id = messageId(env);
    if (prev !== undefined) {
      if (equalBytes(bodyDigest(prev.env), bodyDigest(env))) return; // exact duplicate: idempotent
      throw this.#abortNow(
        [{ party: env.from, msgIds: [prev.id, id], reason: `equivocation: two different messages in ${base}` }],
        undefined,
        [prev.env, env],
      );
    }
    if (idx < this.#roundIdx) {
      throw this.#abortNow([{ party: env.from, msgIds: [id], reason: `late message for finished round ${base}` }]);
    }
    let body: unknown;
    try {
      body = def.decode(env.body, env.from, this.#ctx);
    } catch (e) {
      if (!(e instanceof MpcError)) throw e;
      throw this.#abortNow(
        [{ party: env.from, msgIds: [id], reason: `malformed ${base} message (${e.code})` }],
        undefined,
        [env],
      );
    }
    slot.set(env.from, { env, body, id });
  }

  #admitEcho(env: Envelope, base: string, suffix: string): void {
    if (env.to !== ALL || base !== this.round) {
      throw this.#abortNow([{ party: env.from, msgIds: [messageId(env)], reason: `unexpected ${suffix} message` }]);
    }
    const store = suffix === 'echo' ? this.#echoes : this.#evidence;
    if (store.has(env.from)) return; // first one wins; a conflicting second is caught by digests
    try {
      if (suffix === 'echo') this.#echoes.set(env.from, decodeDigests(env.body, this.#ctx.n));
      else this.#evidence.set(env.from, decodeEvidence(env.body));
    } catch (e) {
      if (!(e instanceof MpcError)) throw e;
      throw this.#abortNow([{ party: env.from, msgIds: [messageId(env)], reason: `malformed ${suffix} message` }]);
    }
  }

  // --- progress --------------------------------------------------------------------------------

  #advance(): Envelope[] {
    const out: Envelope[] = [];
    for (;;) {
      const def = this.#def.rounds[this.#roundIdx];
      if (def === undefined || this.status !== 'running') return out;
      const slot = this.#got.get(def.name) ?? new Map<number, Received>();
      if (slot.size < this.#ctx.n - 1) return out;
      if (this.#phase === 'collect' && def.reliable === true) {
        this.#phase = 'echo';
        this.#echoes = new Map();
        out.push(
          ...this.#signAll(
            [{ round: `${def.name}.echo`, to: ALL, body: null }],
            encodeDigests(this.#digests(def.name)),
          ),
        );
        continue;
      }
      if (this.#phase === 'echo') {
        if (this.#echoes.size < this.#ctx.n - 1) return out;
        const mine = this.#digests(def.name);
        const disputed = new Set<number>();
        for (const theirs of this.#echoes.values()) {
          theirs.forEach((d, j) => {
            if (!equalBytes(d, mine[j] as Uint8Array)) disputed.add(j);
          });
        }
        if (disputed.size === 0) {
          this.#phase = 'collect';
        } else {
          // Somebody saw a different message: everyone publishes the signed messages it holds
          // from the disputed senders, and signatures decide who lied.
          this.#phase = 'evidence';
          this.#disputed = [...disputed].sort((a, b) => a - b);
          this.#evidence = new Map();
          const held = this.#disputed
            .map((j) => (j === this.#ctx.self ? this.#own.get(def.name) : slot.get(j)?.env))
            .filter((e): e is Envelope => e !== undefined);
          out.push(...this.#signAll([{ round: `${def.name}.evidence`, to: ALL, body: null }], encodeEvidence(held)));
          continue;
        }
      }
      if (this.#phase === 'evidence') {
        if (this.#evidence.size < this.#ctx.n - 1) return out;
        throw this.#abortNow(this.#judgeEvidence(def.name), 'reliable broadcast failed (echo mismatch)');
      }
      // All messages of the round are in (and agreed on, for reliable rounds): run the round.
      const inbox = new Map<number, unknown>();
      for (const [from, r] of slot) inbox.set(from, r.body);
      let result: ReturnType<ProtocolDef<I, S, O>['process']>;
      try {
        result = this.#def.process(def.name, this.#state as S, inbox, this.#ctx);
      } catch (e) {
        throw withMessageIds(e, slot);
      }
      this.#roundIdx++;
      this.#phase = 'collect';
      if ('output' in result) {
        out.push(...this.#send(result.outbox ?? []));
        this.output = result.output;
        this.status = 'done';
        return out;
      }
      this.#state = result.state;
      out.push(...this.#send(result.outbox));
    }
  }

  /** Digest of each party's message in `round` (own included), as this party received it. */
  #digests(round: string): Uint8Array[] {
    const slot = this.#got.get(round) ?? new Map<number, Received>();
    return Array.from({ length: this.#ctx.n }, (_, j) => {
      const env = j === this.#ctx.self ? this.#own.get(round) : slot.get(j)?.env;
      return env === undefined ? new Uint8Array(32) : bodyDigest(env);
    });
  }

  /**
   * Verdict after an echo mismatch, identical at every honest party that sees the same evidence:
   * a sender with two validly signed, different messages for the round equivocated; a party whose
   * echo claimed a digest it cannot back with a signed message lied in its echo.
   */
  #judgeEvidence(round: string): Blame[] {
    const seen = new Map<number, Map<string, Envelope>>();
    const add = (e: Envelope) => {
      if (e.round !== round || e.protocol !== this.#def.name || !equalBytes(e.sid, this.#ctx.sid)) return;
      if (!this.#auth.verify(e.from, signedBytes(e), e.sig)) return;
      const m = seen.get(e.from) ?? new Map<string, Envelope>();
      m.set(Buffer.from(bodyDigest(e)).toString('hex'), e);
      seen.set(e.from, m);
    };
    for (const list of this.#evidence.values()) list.forEach(add);
    for (const j of this.#disputed) {
      const env = j === this.#ctx.self ? this.#own.get(round) : this.#got.get(round)?.get(j)?.env;
      if (env !== undefined) add(env);
    }
    const blame: Blame[] = [];
    for (const j of this.#disputed) {
      const versions = seen.get(j);
      if (versions !== undefined && versions.size > 1) {
        blame.push({ party: j, msgIds: [...versions.values()].map(messageId), reason: `equivocation in ${round}` });
      }
    }
    if (blame.length > 0) return blame;
    // No sender is provably two-faced: blame echo senders whose claims no signed message backs.
    for (const [k, digests] of this.#echoes) {
      for (const j of this.#disputed) {
        const claim = Buffer.from(digests[j] as Uint8Array).toString('hex');
        if (!seen.get(j)?.has(claim)) {
          blame.push({ party: k, msgIds: [], reason: `echo in ${round} claims a message party ${j} never signed` });
          break;
        }
      }
    }
    return blame;
  }

  // --- sending ---------------------------------------------------------------------------------

  #send(outbox: readonly Outgoing[]): Envelope[] {
    const out: Envelope[] = [];
    for (const o of outbox) {
      const def = this.#def.rounds.find((r) => r.name === o.round);
      if (def === undefined)
        throw new MpcError('ERR_ROUND_ORDER', `protocol sent a message for unknown round ${o.round}`);
      out.push(...this.#signAll([o], def.encode(o.body)));
    }
    return out;
  }

  #signAll(outbox: readonly Outgoing[], body: Uint8Array): Envelope[] {
    return outbox.map((o) => {
      const unsigned = {
        protocol: this.#def.name,
        sid: this.#ctx.sid,
        round: o.round,
        from: this.#ctx.self,
        to: o.to,
        body,
      };
      const env: Envelope = { ...unsigned, sig: this.#auth.sign(signedBytes(unsigned)) };
      if (o.to === ALL && !o.round.includes('.') && o.round !== ABORT_ROUND) this.#own.set(o.round, env);
      return env;
    });
  }

  /** The abort; `evidence` (the blamed sender's envelopes in hand) becomes a notice candidate. */
  #abortNow(blame: readonly Blame[], why?: string, evidence?: readonly Envelope[]): MpcError {
    const first = blame[0];
    if (evidence !== undefined && first !== undefined) this.#hints.set(first.party, [...evidence]);
    return protocolAbort(this.#def.name, this.round ?? 'end', blame, why);
  }

  #fail(e: unknown): Envelope[] {
    this.status = 'aborted';
    this.error =
      e instanceof MpcError
        ? e
        : new MpcError('ERR_PROTOCOL_ABORT', `${this.#def.name} failed: internal error`, { cause: e });
    this.#prepareNotice();
    this.#retryOpenNotices();
    return [];
  }

  // --- abort notices: accusing -------------------------------------------------------------------

  /**
   * After an abort with blame: for each blamed peer, finds a message of it that this party's own
   * judge finds faulty (the evidence in hand at admission first, then its messages of the rounds
   * so far, latest first), signs a notice with all of them, and rewrites those blame entries to the
   * verdict every other party will reach (reason from the judge, the evidence's message ids).
   */
  #prepareNotice(): void {
    const err = this.error;
    if (err === undefined || err.code !== 'ERR_PROTOCOL_ABORT' || err.blame.length === 0) return;
    const accusations: Accusation[] = [];
    const rewritten = new Map<number, Blame>();
    for (const b of err.blame) {
      if (b.party === this.#ctx.self || accusations.some((a) => a.culprit === b.party)) continue;
      const found = this.#findEvidence(b.party);
      if (found === undefined) continue;
      accusations.push({
        culprit: b.party,
        reason: clampUtf8(found.reason, MAX_REASON_BYTES),
        evidence: found.evidence,
      });
      rewritten.set(b.party, { party: b.party, msgIds: found.evidence.map(messageId), reason: found.reason });
    }
    if (accusations.length === 0) return;
    accusations.sort((a, b) => a.culprit - b.culprit);
    const names = new Set(this.#def.rounds.map((r) => r.name));
    const claimed = err.details.round;
    const round =
      typeof claimed === 'string' && names.has(claimed)
        ? claimed
        : (this.round ?? (this.#def.rounds[this.#def.rounds.length - 1] as RoundDef).name);
    // Keep the notice within what every receiver admits (4 MiB): drop accusations from the end.
    let body: Uint8Array | undefined;
    while (accusations.length > 0) {
      body = encodeAbortNotice({ round, accusations });
      if (body.length <= MAX_BODY_BYTES) break;
      const dropped = accusations.pop() as Accusation;
      rewritten.delete(dropped.culprit);
      body = undefined;
    }
    if (body === undefined) return;
    [this.#notice] = this.#signAll([{ round: ABORT_ROUND, to: ALL, body: null }], body);
    const blame = err.blame.map((b) => rewritten.get(b.party) ?? b);
    this.error = new MpcError(err.code, err.message.replace(/^ERR_[A-Z0-9_]+: /, ''), {
      blame,
      details: { ...err.details, round },
      cause: err.cause,
    });
  }

  /** The first message of `culprit` (hint first, then latest round first) that the judge finds faulty. */
  #findEvidence(culprit: number): { evidence: Envelope[]; reason: string } | undefined {
    const candidates: Envelope[][] = [];
    const hint = this.#hints.get(culprit);
    if (hint !== undefined) candidates.push(hint);
    for (let k = Math.min(this.#roundIdx, this.#def.rounds.length - 1); k >= 0; k--) {
      const env = this.#got.get((this.#def.rounds[k] as RoundDef).name)?.get(culprit)?.env;
      if (env !== undefined) candidates.push([env]);
    }
    for (const evidence of candidates) {
      const f = this.#judgeAccusation(this.#ctx.self, { culprit, reason: '', evidence });
      if (f.verdict === 'faulty') return { evidence, reason: f.reason };
    }
    return undefined;
  }

  // --- abort notices: judging ----------------------------------------------------------------------

  /** Decodes a notice; a malformed one is decided at once (the accuser signed it: false accusation). */
  #openNotice(env: Envelope, id: string): OpenNotice | MpcError {
    const accuser = env.from;
    if (env.to !== ALL) return this.#falseAccusation(env, id, 'abort notice was not sent as a broadcast');
    let body: AbortNoticeBody;
    try {
      body = decodeAbortNotice(env.body, { n: this.#ctx.n, accuser, maxBytes: MAX_BODY_BYTES });
    } catch (e) {
      if (!(e instanceof MpcError)) throw e;
      return this.#falseAccusation(env, id, `malformed abort notice (${e.code})`);
    }
    if (!this.#def.rounds.some((r) => r.name === body.round)) {
      return this.#falseAccusation(env, id, 'abort notice names a round this protocol does not have');
    }
    return { env, id, body, findings: body.accusations.map((): Finding => ({ verdict: 'pending' })) };
  }

  /**
   * The verdict on an open notice once every accusation is decided (in order, so that every party
   * reports the same first refuted accusation): all faulty → blame the culprits; else the accuser.
   */
  #decide(open: OpenNotice): MpcError | undefined {
    const { env, id, body } = open;
    body.accusations.forEach((a, k) => {
      if (open.findings[k]?.verdict === 'pending') open.findings[k] = this.#judgeAccusation(env.from, a);
    });
    const blame: Blame[] = [];
    for (const [k, a] of body.accusations.entries()) {
      const f = open.findings[k] as Finding;
      if (f.verdict === 'pending') return undefined;
      if (f.verdict === 'refuted') return this.#falseAccusation(env, id, f.why);
      if (f.verdict === 'valid') {
        return this.#falseAccusation(env, id, `evidence against party ${a.culprit} shows no fault`);
      }
      blame.push({ party: a.culprit, msgIds: a.evidence.map(messageId), reason: f.reason });
    }
    return new MpcError(
      'ERR_PROTOCOL_ABORT',
      `${this.#def.name} aborted in ${body.round}: blamed ${blame.map((b) => b.party).join(', ')} (abort notice of party ${env.from})`,
      {
        blame,
        details: { protocol: this.#def.name, round: body.round, accuser: env.from },
      },
    );
  }

  /**
   * Checks one accusation as any party can: the evidence is the culprit's validly signed message(s)
   * of a round of this protocol in this session, to the accuser (or broadcast); then two different
   * messages of one round are equivocation, and one message is judged like the accuser's admission
   * and round did (wrong kind, strict decoding, then the protocol's public `judge`).
   */
  #judgeAccusation(accuser: number, a: Accusation): Finding {
    const { culprit, evidence } = a;
    const refuted = (why: string): Finding => ({ verdict: 'refuted', why: `evidence against party ${culprit} ${why}` });
    const defs: RoundDef[] = [];
    for (const e of evidence) {
      if (e.protocol !== this.#def.name || !equalBytes(e.sid, this.#ctx.sid)) {
        return refuted('belongs to another session or protocol');
      }
      if (e.from !== culprit) return refuted('was sent by another party');
      if (e.to !== accuser && e.to !== ALL) return refuted('is not addressed to the accuser');
      const def = this.#def.rounds.find((r) => r.name === e.round);
      if (def === undefined) return refuted(`is not a message of a ${this.#def.name} round`);
      if (e.body.length > MAX_BODY_BYTES) return refuted('is too large');
      if (!this.#auth.verify(culprit, signedBytes(e), e.sig)) return refuted('does not carry its valid signature');
      defs.push(def);
    }
    const [e1, e2] = evidence as [Envelope, Envelope | undefined];
    const def = defs[0] as RoundDef;
    if (e2 !== undefined) {
      // Two validly signed, different messages of one round to one recipient: equivocation.
      if (
        evidence.length === 2 &&
        e1.round === e2.round &&
        e1.to === e2.to &&
        !equalBytes(bodyDigest(e1), bodyDigest(e2))
      ) {
        return { verdict: 'faulty', reason: `equivocation: two different messages in ${def.name}` };
      }
      return refuted('is not two different messages of one round');
    }
    const wantTo = def.kind === 'broadcast' ? ALL : accuser;
    if (e1.to !== wantTo) return { verdict: 'faulty', reason: `${def.kind} round ${def.name} sent as the wrong kind` };
    let body: unknown;
    try {
      // Decoded as the accuser decoded it (a decoder may depend on the recipient's index).
      body = def.decode(e1.body, culprit, { ...this.#ctx, self: accuser });
    } catch (err) {
      if (!(err instanceof MpcError)) throw err;
      return { verdict: 'faulty', reason: `malformed ${def.name} message (${err.code})` };
    }
    const judge = this.#def.judge;
    if (judge === undefined) return { verdict: 'valid' };
    if (this.#state === undefined) return { verdict: 'pending' };
    try {
      return judge(def.name, this.#state, { from: culprit, to: accuser, body }, this.#ctx);
    } catch (err) {
      // A judge reports failed checks as 'faulty'; a typed error means it could not judge here.
      if (err instanceof MpcError) return { verdict: 'pending' };
      throw err;
    }
  }

  #falseAccusation(env: Envelope, id: string, why: string): MpcError {
    return protocolAbort(
      this.#def.name,
      ABORT_ROUND,
      [{ party: env.from, msgIds: [id], reason: `false accusation: ${why}` }],
      `party ${env.from} made a false accusation`,
    );
  }

  /** Records a verdict and applies it to this party's outcome (see the class doc). */
  #decided(id: string, verdict: MpcError): MpcError {
    this.#verdicts.set(id, verdict);
    if (this.status === 'running' || this.status === 'done') {
      this.status = 'aborted';
      this.output = undefined;
      this.error = verdict;
      return verdict;
    }
    const own = this.error;
    if (own === undefined || own.blame.length === 0) {
      this.error = new MpcError(verdict.code, verdict.message.replace(/^ERR_[A-Z0-9_]+: /, ''), {
        blame: verdict.blame,
        details: verdict.details,
        cause: own,
      });
      return verdict;
    }
    const have = new Set(own.blame.map((b) => b.party));
    const added = verdict.blame.filter((b) => !have.has(b.party));
    if (added.length > 0) {
      const blame = [...own.blame, ...added].sort((a, b) => a.party - b.party);
      const round = typeof own.details.round === 'string' ? own.details.round : ABORT_ROUND;
      this.error = new MpcError(
        'ERR_PROTOCOL_ABORT',
        `${this.#def.name} aborted in ${round}: blamed ${blame.map((b) => b.party).join(', ')}`,
        { blame, details: own.details, cause: own },
      );
    }
    return verdict;
  }

  /** Decides the notices that were waiting for public data this party now may hold. */
  #retryOpenNotices(): void {
    for (const [id, open] of [...this.#openNotices]) {
      const verdict = this.#decide(open);
      if (verdict === undefined) continue;
      this.#openNotices.delete(id);
      this.#decided(id, verdict);
    }
  }
}

/** Fills in the message ids of blamed senders from the round's messages (round code does not see ids). */
function withMessageIds(e: unknown, slot: ReadonlyMap<number, Received>): unknown {
  if (!(e instanceof MpcError) || e.code !== 'ERR_PROTOCOL_ABORT' || e.blame.every((b) => b.msgIds.length > 0))
    return e;
  const blame = e.blame.map((b) => {
    const id = slot.get(b.party)?.id;
    return b.msgIds.length > 0 || id === undefined ? b : { ...b, msgIds: [id] };
  });
  return new MpcError(e.code, e.message.replace(/^ERR_[A-Z0-9_]+: /, ''), {
    blame,
    details: e.details,
    cause: e.cause,
  });
}

function splitRound(round: string): { base: string; suffix: string } {
  const dot = round.indexOf('.');
  return dot < 0 ? { base: round, suffix: '' } : { base: round.slice(0, dot), suffix: round.slice(dot + 1) };
}

function encodeDigests(ds: readonly Uint8Array[]): Uint8Array {
  const w = new WireWriter().u32(ds.length);
  for (const d of ds) w.fixed(d);
  return w.finish();
}

function decodeDigests(bytes: Uint8Array, n: number): Uint8Array[] {
  const r = new WireReader(bytes, 4 + 32 * n);
  r.count('echo.count', n);
  const out = Array.from({ length: n }, (_, i) => r.fixed(`echo[${i}]`, 32));
  r.end();
  return out;
}

function encodeEvidence(envs: readonly Envelope[]): Uint8Array {
  const w = new WireWriter().u32(envs.length);
  for (const e of envs) w.bytes(encodeEnvelope(e));
  return w.finish();
}

function decodeEvidence(bytes: Uint8Array): Envelope[] {
  const r = new WireReader(bytes, 64 * (MAX_BODY_BYTES + 2048));
  const count = r.u32('evidence.count');
  if (count > 64) throw new MpcError('ERR_WIRE_BAD_LENGTH', 'too many evidence messages');
  const out = Array.from({ length: count }, (_, i) =>
    decodeEnvelope(r.bytes(`evidence[${i}]`, MAX_BODY_BYTES + 2048), MAX_BODY_BYTES),
  );
  r.end();
  return out;
}

export { BlameCollector };
