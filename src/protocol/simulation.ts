import { ed25519 } from '@noble/curves/ed25519.js';
import { MpcError } from '../errors/index.js';
import type { MathBackend } from '../math/backend.js';
import type { Rng } from '../math/random.js';
import { Ed25519Signer, ed25519Verify } from '../primitives/ed25519.js';
import type { Authenticator, Envelope } from './envelope.js';
import { signedBytes } from './envelope.js';
import { PartyRunner } from './runner.js';
import { ALL, type ProtocolDef, type RoundCtx } from './types.js';

/**
 * In-process simulation of n parties over a perfect in-memory network (round-based's `Simulation`):
 * the protocol tests' harness. Parties sign with real Ed25519 keys, so blame is as provable as in
 * the daemon. A malicious party is modelled by `tamper`, which may rewrite, drop or multiply what
 * that party sends to each recipient (then re-encodes and re-signs it with the party's own key).
 * A party that aborts with checkable evidence has its abort notice (`PartyRunner.abortNotice`)
 * broadcast to every other party, finished or not, as the daemon does; `inject` lets a test add
 * forged traffic (e.g. a false accusation) once the network is quiet.
 */
/**
 * Called for each (message, recipient) pair a malicious party sends. Return the body to send
 * (possibly changed), `undefined` to drop it, or a raw byte string to send as the encoded body.
 */
export type Tamper = (msg: {
  round: string;
  from: number;
  recipient: number;
  body: unknown;
  encoded: Uint8Array;
}) => unknown;

export interface SimulationOptions {
  readonly sid: Uint8Array;
  readonly math: MathBackend;
  /** One RNG per party (seeded DRBGs in tests make runs reproducible). */
  readonly rngs: readonly Rng[];
  readonly tamper?: ReadonlyMap<number, Tamper>;
  /** Messages dropped in transit (never delivered): a test of timeouts at a higher layer. */
  readonly drop?: (env: Envelope, recipient: number) => boolean;
  /**
   * Called once, when the network first falls quiet, with everything delivered so far and every
   * party's authenticator (simulated parties' signing keys): returns extra envelopes to deliver
   * (e.g. a forged abort notice signed by a malicious party). Delivery then continues until quiet.
   */
  readonly inject?: (
    traffic: readonly Envelope[],
    auths: readonly Authenticator[],
  ) => ReadonlyArray<{ readonly env: Envelope; readonly to: number }>;
}

export interface SimulationResult<O> {
  readonly outputs: ReadonlyArray<O | undefined>;
  readonly errors: ReadonlyArray<MpcError | undefined>;
  /** Every envelope delivered, for tests that replay or inspect traffic. */
  readonly traffic: readonly Envelope[];
}

export function simulationKeys(n: number, seed: Uint8Array): { secrets: Uint8Array[]; publics: Uint8Array[] } {
  const secrets = Array.from({ length: n }, (_, i) => {
    const s = new Uint8Array(32);
    s.set(seed.subarray(0, 28));
    new DataView(s.buffer).setUint32(28, i + 1);
    return s;
  });
  return { secrets, publics: secrets.map((s) => ed25519.getPublicKey(s)) };
}

export function ed25519Authenticator(secret: Uint8Array, roster: readonly Uint8Array[]): Authenticator {
  const signer = new Ed25519Signer(secret);
  return {
    sign: (bytes) => signer.sign(bytes),
    verify: (party, bytes, sig) => {
      const pk = roster[party];
      return pk !== undefined && ed25519Verify(pk, bytes, sig);
    },
  };
}

export function simulate<I, S, O>(
  def: ProtocolDef<I, S, O>,
  inputs: readonly I[],
  opts: SimulationOptions,
): SimulationResult<O> {
  const n = inputs.length;
  const { secrets, publics } = simulationKeys(n, new Uint8Array(32).fill(7));
  const auths = secrets.map((s) => ed25519Authenticator(s, publics));
  const ctxs = inputs.map((_, i) => ({ self: i, n, sid: opts.sid, math: opts.math, rng: opts.rngs[i] as Rng }));
  const runners = ctxs.map((ctx, i) => new PartyRunner(def, ctx, auths[i] as Authenticator));
  const queue: Array<{ env: Envelope; to: number }> = [];
  const traffic: Envelope[] = [];
  const post = (from: number, envs: readonly Envelope[]) => {
    for (const env of envs) {
      const recipients = env.to === ALL ? [...Array(n).keys()].filter((j) => j !== from) : [env.to];
      for (const to of recipients) {
        const tamper = opts.tamper?.get(from);
        let out: Envelope | undefined = env;
        if (tamper !== undefined)
          out = applyTamper(def, tamper, env, to, auths[from] as Authenticator, ctxs[to] as RoundCtx);
        if (out === undefined) continue;
        if (opts.drop?.(out, to)) continue;
        queue.push({ env: out, to });
      }
    }
  };
  // The daemon's duty after an abort: broadcast the party's abort notice, once.
  const noticed = new Set<number>();
  const afterStep = (i: number) => {
    const r = runners[i] as PartyRunner<I, S, O>;
    if (r.status !== 'aborted' || noticed.has(i)) return;
    noticed.add(i);
    const notice = r.abortNotice();
    if (notice !== undefined) post(i, [notice]);
  };
  inputs.forEach((input, i) => {
    post(i, (runners[i] as PartyRunner<I, S, O>).start(input));
    afterStep(i);
  });
  let injected = opts.inject === undefined;
  for (;;) {
    if (queue.length === 0) {
      if (injected) break;
      injected = true;
      for (const x of opts.inject?.(traffic, auths) ?? []) queue.push({ env: x.env, to: x.to });
      continue;
    }
    const { env, to } = queue.shift() as { env: Envelope; to: number };
    traffic.push(env);
    const r = runners[to] as PartyRunner<I, S, O>;
    try {
      post(to, r.receive(env));
    } catch {
      // refused message (not attributable or not for this session): the recipient goes on
    }
    afterStep(to);
  }
  return {
    outputs: runners.map((r) => r.output),
    errors: runners.map((r) => r.error ?? (r.status === 'running' ? stalled(def.name, r.round) : undefined)),
    traffic,
  };
}

/** A party still waiting when the network is quiet: at the daemon layer this is a timeout with blame. */
function stalled(protocol: string, round: string | undefined): MpcError {
  return new MpcError('ERR_PROTOCOL_ABORT', `${protocol} stalled in ${round ?? 'start'}: messages missing`, {
    details: { protocol, round: round ?? 'start', stalled: true },
  });
}

function applyTamper<I, S, O>(
  def: ProtocolDef<I, S, O>,
  tamper: Tamper,
  env: Envelope,
  recipient: number,
  auth: Authenticator,
  recipientCtx: RoundCtx,
): Envelope | undefined {
  const roundDef = def.rounds.find((r) => r.name === env.round);
  let body: unknown = env.body;
  if (roundDef !== undefined) {
    body = roundDef.decode(env.body, env.from, recipientCtx);
  }
  const changed = tamper({ round: env.round, from: env.from, recipient, body, encoded: env.body });
  if (changed === undefined) return undefined;
  const encoded =
    changed instanceof Uint8Array
      ? changed
      : roundDef !== undefined
        ? roundDef.encode(changed)
        : (changed as Uint8Array);
  const unsigned = { ...env, body: encoded };
  return { ...unsigned, sig: auth.sign(signedBytes(unsigned)) };
}
