import { equalBytes } from '@noble/curves/utils.js';
import { type Blame, MpcError } from '../errors/index.js';
import { WireReader, WireWriter } from '../util/wire.js';
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
import { ALL, type Outgoing, type ProtocolDef, type RoundCtx, type RoundDef } from './types.js';

/** Largest encoded message body the runner accepts (before any decoding). */
export const MAX_BODY_BYTES = 4 << 20;

type Phase = 'collect' | 'echo' | 'evidence';

interface Received {
  readonly env: Envelope;
  readonly body: unknown;
  readonly id: string;
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

  constructor(def: ProtocolDef<I, S, O>, ctx: RoundCtx, auth: Authenticator) {
    this.#def = def;
    this.#ctx = ctx;
    this.#auth = auth;
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

  /** Feeds one envelope; returns the envelopes to send as a consequence (possibly none). */
  receive(env: Envelope): Envelope[] {
    if (this.status !== 'running') return [];
    try {
      this.#admit(env);
    } catch (e) {
      if (e instanceof MpcError && e.code === 'ERR_PROTOCOL_ABORT') return this.#fail(e);
      throw e; // refused message; the session goes on
    }
    try {
      return this.#advance();
    } catch (e) {
      return this.#fail(e);
    }
  }

  // --- admission: everything that can be checked without the round logic ---------------------

  #admit(env: Envelope): void {
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
      throw this.#abortNow([
        { party: env.from, msgIds: [messageId(env)], reason: `${def.kind} round ${base} sent as the wrong kind` },
      ]);
    }
    const slot = this.#got.get(base) ?? new Map<number, Received>();
    this.#got.set(base, slot);
    const prev = slot.get(env.from);
    const id = messageId(env);
    if (prev !== undefined) {
      if (equalBytes(bodyDigest(prev.env), bodyDigest(env))) return; // exact duplicate: idempotent
      throw this.#abortNow([
        { party: env.from, msgIds: [prev.id, id], reason: `equivocation: two different messages in ${base}` },
      ]);
    }
    if (idx < this.#roundIdx) {
      throw this.#abortNow([{ party: env.from, msgIds: [id], reason: `late message for finished round ${base}` }]);
    }
    let body: unknown;
    try {
      body = def.decode(env.body, env.from, this.#ctx);
    } catch (e) {
      if (!(e instanceof MpcError)) throw e;
      throw this.#abortNow([{ party: env.from, msgIds: [id], reason: `malformed ${base} message (${e.code})` }]);
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
      if (o.to === ALL && !o.round.includes('.')) this.#own.set(o.round, env);
      return env;
    });
  }

  #abortNow(blame: readonly Blame[], why?: string): MpcError {
    return protocolAbort(this.#def.name, this.round ?? 'end', blame, why);
  }

  #fail(e: unknown): Envelope[] {
    this.status = 'aborted';
    this.error =
      e instanceof MpcError
        ? e
        : new MpcError('ERR_PROTOCOL_ABORT', `${this.#def.name} failed: internal error`, { cause: e });
    return [];
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
