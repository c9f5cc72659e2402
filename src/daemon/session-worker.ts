import { parentPort } from 'node:worker_threads';
import { MpcError } from '../errors/index.js';
import { systemRng } from '../math/random.js';
import type { BackendName } from '../math/raw.js';
import { loadBackend } from '../math/select.js';
import { fromPortable, toPortable } from '../primitives/portable.js';
import { auxInfo } from '../protocol/aux-info.js';
import { decodeEnvelope, type Envelope, encodeEnvelope } from '../protocol/envelope.js';
import { identifyDelta, identifySignature } from '../protocol/identify.js';
import { keygen } from '../protocol/keygen.js';
import { presign } from '../protocol/presign.js';
import { refresh, reshareSession } from '../protocol/refresh.js';
import { MAX_BODY_BYTES, PartyRunner } from '../protocol/runner.js';
import { ed25519Authenticator } from '../protocol/simulation.js';
import type { ProtocolDef } from '../protocol/types.js';
import { RetainingPresignRunner } from './identification.js';

/**
 * Worker thread hosting the PartyRunner of one protocol session (issue #5: heavy rounds off the
 * daemon's event loop). The main thread keeps the transport, deadlines and storage; this thread
 * does the arithmetic: proofs, Paillier, verification. Messages are the envelopes' wire form, the
 * input and output cross as portable data (primitives/portable.ts).
 *
 * Protocol between threads (one request at a time, answered in order):
 *   → { op: 'start', protocol, backend, self, n, sid, secret, roster, input }
 *   → { op: 'receive', envelope }
 *   → { op: 'reset' }   (no reply: the thread forgets the session and can host the next one)
 *   ← { ok: true, out, status, round, missing, output? , error? } | { ok: false, code, message }
 */
export interface StartRequest {
  readonly op: 'start';
  readonly protocol: 'keygen' | 'aux' | 'presign' | 'refresh' | 'reshare' | 'identify-delta' | 'identify-signature';
  readonly backend: BackendName;
  readonly self: number;
  readonly n: number;
  readonly sid: Uint8Array;
  /** Envelope signing key (Ed25519) and the execution's public keys by execution index. */
  readonly secret: Uint8Array;
  readonly roster: readonly Uint8Array[];
  readonly input: unknown;
}

export interface ReceiveRequest {
  readonly op: 'receive';
  readonly envelope: Uint8Array;
}

export interface StepReply {
  readonly ok: true;
  readonly out: readonly Uint8Array[];
  readonly status: 'idle' | 'running' | 'done' | 'aborted';
  readonly round: string | undefined;
  readonly missing: readonly number[];
  readonly output?: unknown;
  readonly error?: PortableError;
  /** Encoded abort notice to broadcast (after an abort with evidence). */
  readonly notice?: Uint8Array;
  /**
   * Presign only, once, when the run ended: what identification needs (identification.ts,
   * PresignEvidence in portable form). SECRET: the daemon keeps it in memory or sealed.
   */
  readonly evidence?: unknown;
}

/** A refused request (the message was not accepted; the session goes on). */
export interface RefusedReply {
  readonly ok: false;
  readonly error: PortableError;
}

export interface PortableError {
  readonly code: string;
  readonly message: string;
  readonly blame: ReadonlyArray<{ party: number; msgIds: readonly string[]; reason: string }>;
  readonly details: Record<string, string | number | boolean>;
}

export const PROTOCOLS: Readonly<Record<StartRequest['protocol'], ProtocolDef<never, unknown, unknown>>> = {
  keygen: keygen as never,
  aux: auxInfo as never,
  presign: presign as never,
  refresh: refresh as never,
  reshare: reshareSession as never,
  'identify-delta': identifyDelta as never,
  'identify-signature': identifySignature as never,
};

export function portableError(e: unknown): PortableError {
  const m = e instanceof MpcError ? e : new MpcError('ERR_DAEMON_SESSION_FAILED', 'session worker failed');
  return {
    code: m.code,
    message: m.message,
    blame: m.blame.map((b) => ({ party: b.party, msgIds: [...b.msgIds], reason: b.reason })),
    details: { ...m.details },
  };
}

type HostedRunner = PartyRunner<unknown, unknown, unknown> | RetainingPresignRunner;
let runner: HostedRunner | undefined;
let secret: Uint8Array | undefined;
let evidenceSent = false;

function step(out: Envelope[]): StepReply {
  const r = runner as HostedRunner;
  let evidence: unknown;
  if (r instanceof RetainingPresignRunner && !evidenceSent) {
    const ev = r.evidence();
    if (ev !== undefined) {
      evidenceSent = true;
      evidence = toPortable(ev);
    }
  }
  return {
    ...(evidence === undefined ? {} : { evidence }),
    ok: true,
    out: out.map(encodeEnvelope),
    status: r.status,
    round: r.round,
    missing: r.missing(),
    ...(r.status === 'done' ? { output: toPortable(r.output) } : {}),
    ...(r.error ? { error: portableError(r.error) } : {}),
    ...(r.status === 'aborted' && r.abortNotice() ? { notice: encodeEnvelope(r.abortNotice() as Envelope) } : {}),
  };
}

function handle(req: StartRequest | ReceiveRequest): StepReply | RefusedReply {
  if (req.op === 'start') {
    if (runner !== undefined) throw new MpcError('ERR_DAEMON_SESSION_REUSED', 'session worker already started');
    const def = PROTOCOLS[req.protocol];
    if (def === undefined) throw new MpcError('ERR_DAEMON_COMMAND_INVALID', 'unknown protocol');
    secret = Uint8Array.from(req.secret);
    req.secret.fill(0); // the structured-clone copy that crossed the thread boundary
    const ctx = { self: req.self, n: req.n, sid: req.sid, math: loadBackend(req.backend), rng: systemRng };
    const auth = ed25519Authenticator(secret, req.roster);
    evidenceSent = false;
    runner =
      req.protocol === 'presign'
        ? new RetainingPresignRunner(ctx, auth, presign)
        : new PartyRunner(def as ProtocolDef<unknown, unknown, unknown>, ctx, auth);
    return step(runner.start(fromPortable(req.input)));
  }
  if (runner === undefined) throw new MpcError('ERR_DAEMON_SESSION_REUSED', 'session worker not started');
  const env = decodeEnvelope(req.envelope, MAX_BODY_BYTES);
  return step(runner.receive(env));
}

parentPort?.on('message', (req: StartRequest | ReceiveRequest | { op: 'reset' }) => {
  if (req.op === 'reset') {
    // back to the idle pool: forget the session (no reply, so the next owner's replies stay in order)
    secret?.fill(0);
    secret = undefined;
    runner = undefined;
    evidenceSent = false;
    return;
  }
  let reply: StepReply | RefusedReply;
  try {
    reply = handle(req);
  } catch (e) {
    reply = { ok: false, error: portableError(e) };
  }
  if (runner && runner.status !== 'running' && runner.status !== 'idle') secret?.fill(0);
  parentPort?.postMessage(reply);
});
