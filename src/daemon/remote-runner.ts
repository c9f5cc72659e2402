import { type ResourceLimits, Worker } from 'node:worker_threads';
import type { ErrorCode } from '../errors/index.js';
import { MpcError } from '../errors/index.js';
import { compiledSibling } from '../math/pool.js';
import { fromPortable, toPortable } from '../primitives/portable.js';
import { decodeEnvelope, type Envelope, encodeEnvelope } from '../protocol/envelope.js';
import { MAX_BODY_BYTES } from '../protocol/runner.js';
import type { PresignEvidence } from './identification.js';
import type { SessionRunnerLike } from './session-runner.js';
import type { PortableError, RefusedReply, StartRequest, StepReply } from './session-worker.js';

/**
 * The main-thread face of a session worker (session-worker.ts): the same surface as PartyRunner
 * (start / receive / status / round / missing / output / error), asynchronous, so runSession can
 * drive a session whose rounds run on another thread. One worker per session: a session that waits
 * for its peers holds no pooled thread, so parties can never deadlock on each other's queues.
 */
/**
 * Session threads kept warm between sessions (loading the module graph and the GMP addon into a
 * new thread costs a few hundred milliseconds). Any number of sessions may run at once: a session
 * beyond the idle stock gets a new thread, so parties never wait on each other's thread queues.
 */
/** Heap of one session thread: aux info at 3072-bit moduli needs well under 100 MiB. */
export const DEFAULT_SESSION_HEAP_MB = 512;

export class SessionThreads {
  readonly #file = compiledSibling(import.meta.url, 'session-worker.js');
  readonly #idle: Worker[] = [];
  /** Every live thread, idle or hosting a session (close() ends them all). */
  readonly #all = new Set<Worker>();
  readonly #maxIdle: number;
  readonly #limits: ResourceLimits;
  #closed = false;

  constructor(o: { readonly maxIdle?: number; readonly heapMb?: number } = {}) {
    this.#maxIdle = o.maxIdle ?? 2;
    const heapMb = o.heapMb ?? DEFAULT_SESSION_HEAP_MB;
    if (!Number.isInteger(heapMb) || heapMb < 64 || heapMb > 16384) {
      throw new MpcError('ERR_CONFIG_INVALID', 'session thread heap must be 64..16384 MiB');
    }
    // A session that runs away (a peer's oversized input slipping past a check, a bug) ends its own
    // thread with ERR_DAEMON_SESSION_FAILED instead of taking the daemon's heap down with it.
    this.#limits = { maxOldGenerationSizeMb: heapMb, maxYoungGenerationSizeMb: 64, stackSizeMb: 4 };
  }

  /** The resource limits every session thread gets. */
  get resourceLimits(): Readonly<ResourceLimits> {
    return { ...this.#limits };
  }

  /** Starts `n` threads now so the first sessions do not pay for it. */
  prewarm(n = this.#maxIdle): void {
    while (this.#idle.length < Math.min(n, this.#maxIdle)) this.#idle.push(this.#spawn());
  }

  #spawn(): Worker {
    const w = new Worker(this.#file, { resourceLimits: this.#limits });
    this.#all.add(w);
    w.unref();
    w.on('error', () => this.#drop(w));
    w.on('exit', () => this.#drop(w));
    return w;
  }

  #drop(w: Worker): void {
    this.#all.delete(w);
    const i = this.#idle.indexOf(w);
    if (i >= 0) this.#idle.splice(i, 1);
  }

  acquire(): Worker {
    if (this.#closed) throw new MpcError('ERR_DAEMON_DRAINING', 'session threads are closed');
    const w = this.#idle.pop() ?? this.#spawn();
    w.ref();
    return w;
  }

  /** Returns a healthy thread to the idle stock (reset first), or ends it. */
  release(w: Worker, healthy: boolean): void {
    w.removeAllListeners('message');
    if (healthy && !this.#closed && this.#idle.length < this.#maxIdle) {
      w.postMessage({ op: 'reset' });
      w.unref();
      this.#idle.push(w);
    } else {
      this.#all.delete(w);
      void w.terminate();
    }
  }

  /** Ends every thread, including those of sessions still running (their runners then fail). */
  async close(): Promise<void> {
    this.#closed = true;
    this.#idle.length = 0;
    const all = [...this.#all];
    this.#all.clear();
    await Promise.all(all.map((w) => w.terminate()));
  }
}

let shared: SessionThreads | undefined;
/** The process-wide default stock. */
export function sessionThreads(): SessionThreads {
  shared ??= new SessionThreads();
  return shared;
}

export class RemoteRunner<O> implements SessionRunnerLike<O> {
  readonly #worker: Worker;
  readonly #start: Omit<StartRequest, 'op' | 'input'>;
  #queue: Array<{ resolve: (r: StepReply | RefusedReply) => void; reject: (e: unknown) => void }> = [];
  #exited = false;
  status: 'idle' | 'running' | 'done' | 'aborted' = 'idle';
  round: string | undefined;
  output: O | undefined;
  error: MpcError | undefined;
  /** Presign: what identification needs, once the run ended (session-worker.ts StepReply.evidence). */
  evidence: PresignEvidence | undefined;
  #missing: readonly number[] = [];

  readonly #threads: SessionThreads;
  readonly #onError: () => void;
  readonly #onExit: () => void;
  #broken = false;

  constructor(o: Omit<StartRequest, 'op' | 'input'>, threads: SessionThreads = sessionThreads()) {
    this.#start = o;
    this.#threads = threads;
    this.#worker = threads.acquire();
    this.#worker.on('message', (m: StepReply | RefusedReply) => this.#queue.shift()?.resolve(m));
    const fail = (why: string) => {
      this.#exited = true;
      this.#broken = true;
      const err = new MpcError('ERR_DAEMON_SESSION_FAILED', `session worker ${why}`);
      for (const q of this.#queue.splice(0)) q.reject(err);
    };
    this.#onError = () => fail('crashed');
    this.#onExit = () => fail('exited');
    this.#worker.on('error', this.#onError);
    this.#worker.on('exit', this.#onExit);
  }

  #notice: Envelope | undefined;

  missing(): number[] {
    return [...this.#missing];
  }

  abortNotice(): Envelope | undefined {
    return this.#notice;
  }

  #call(req: object): Promise<StepReply | RefusedReply> {
    if (this.#exited) return Promise.reject(new MpcError('ERR_DAEMON_SESSION_FAILED', 'session worker is gone'));
    return new Promise((resolve, reject) => {
      this.#queue.push({ resolve, reject });
      this.#worker.postMessage(req);
    });
  }

  #apply(r: StepReply | RefusedReply): Envelope[] {
    if (!r.ok) throw revive(r.error);
    this.status = r.status;
    this.round = r.round;
    this.#missing = r.missing;
    if (r.output !== undefined) this.output = fromPortable(r.output) as O;
    if (r.error) this.error = revive(r.error);
    if (r.evidence !== undefined) this.evidence = fromPortable(r.evidence) as PresignEvidence;
    if (r.notice) this.#notice = decodeEnvelope(r.notice, MAX_BODY_BYTES * 2);
    return r.out.map((b) => decodeEnvelope(b, MAX_BODY_BYTES));
  }

  async start(input: unknown): Promise<Envelope[]> {
    return this.#apply(await this.#call({ op: 'start', ...this.#start, input: toPortable(input) }));
  }

  /** Also after the end: a finished runner still judges abort notices. */
  async receive(env: Envelope): Promise<Envelope[]> {
    if (this.status === 'idle') return [];
    return this.#apply(await this.#call({ op: 'receive', envelope: encodeEnvelope(env) }));
  }

  /** Hands the thread back (reset) once nothing is in flight; a busy or broken thread is ended. */
  async close(): Promise<void> {
    if (this.#exited) return;
    this.#exited = true;
    this.#worker.off('error', this.#onError);
    this.#worker.off('exit', this.#onExit);
    this.#threads.release(this.#worker, !this.#broken && this.#queue.length === 0);
  }
}

function revive(e: PortableError): MpcError {
  return new MpcError(e.code as ErrorCode, e.message, { blame: e.blame, details: e.details });
}
