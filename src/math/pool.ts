import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { MpcError, reviveMpcError } from '../errors/index.js';
import { packageRoot } from '../util/package-root.js';
import type { MultiExpItem } from './pool-worker.js';
import type { PrimeKind } from './primes.js';
import { type BackendName, MATH_LIMITS, type PowmTask } from './raw.js';

export interface MathPoolOptions {
  /** The backend every worker loads (choose it with selectBackend() on the main thread first). */
  readonly backend: BackendName;
  /** Worker threads; default: the machine's available parallelism. */
  readonly threads?: number;
  /** Idle workers exit after this long (ms); default 30 s. */
  readonly idleTimeoutMs?: number;
  /**
   * Worker module to load instead of the math worker (absolute path to compiled JS). Higher layers
   * pass a module that re-exports the math tasks and adds their own (e.g. zk/worker.ts), so one
   * pool serves both.
   */
  readonly workerFile?: string;
}

export interface CloseOptions {
  /** How long close() waits for queued and running tasks before destroying workers. Default 10 s. */
  readonly timeoutMs?: number;
}

/**
 * Where a compiled worker module lives: next to the calling module when built, in dist/ when the
 * caller runs from src/ (vitest runs TypeScript directly; worker threads need the built JS).
 */
export function compiledSibling(callerUrl: string, file: string): string {
  const here = fileURLToPath(callerUrl);
  if (!here.endsWith('.ts')) return join(here, '..', file);
  const rel = here.slice(join(packageRoot(), 'src').length + 1);
  return join(packageRoot(), 'dist', 'src', rel, '..', file);
}

function workerFilename(override?: string): string {
  const file = override ?? compiledSibling(import.meta.url, 'pool-worker.js');
  if (!existsSync(file)) {
    throw new MpcError('ERR_MATH_BACKEND_UNAVAILABLE', `worker script ${file} is missing: run 'npm run build'`);
  }
  return file;
}

/**
 * A piscina pool running math batches off the event loop.
 * Work is split into chunks so every thread gets a share; `close()` waits for running work,
 * then destroys the workers (piscina's recommended shutdown), and later calls fail with ERR_POOL_CLOSED.
 */
export class MathPool implements AsyncDisposable {
  readonly threads: number;
  readonly backend: BackendName;
  readonly #pool: Piscina;
  #closed = false;

  constructor(opts: MathPoolOptions) {
    const threads = opts.threads ?? Math.max(1, availableParallelism());
    if (!Number.isInteger(threads) || threads < 1 || threads > 256) {
      throw new MpcError('ERR_CONFIG_INVALID', 'threads must be an integer in [1, 256]');
    }
    this.threads = threads;
    this.backend = opts.backend;
    this.#pool = new Piscina({
      filename: workerFilename(opts.workerFile),
      minThreads: threads,
      maxThreads: threads,
      idleTimeout: opts.idleTimeoutMs ?? 30_000,
      workerData: { backend: opts.backend },
    });
  }

  /** Starts every worker and runs its backend self-test; resolves with the backend the workers use. */
  async warmUp(): Promise<BackendName> {
    const names = await Promise.all(Array.from({ length: this.threads }, () => this.#run<BackendName>('ping', null)));
    return names[0] as BackendName;
  }

  /** Independent exponentiations, split across the workers. Results are in input order. */
  async powmBatch(tasks: readonly PowmTask[]): Promise<bigint[]> {
    return this.#chunked(tasks, 'powmBatch');
  }

  /** Multi-exponentiations, split across the workers. */
  async multiExpBatch(items: readonly MultiExpItem[]): Promise<bigint[]> {
    return this.#chunked(items, 'multiExpBatch');
  }

  /** Full probable-prime check of a prime of the given kind (for primes read back from a cache). */
  async checkPrime(p: bigint, kind: PrimeKind): Promise<boolean> {
    return this.#run<boolean>('checkPrime', { p, kind });
  }

  /** One prime of the given kind, searched on a worker. */
  async generatePrime(bits: number, kind: PrimeKind): Promise<bigint> {
    return this.#run<bigint>('prime', { bits, kind });
  }

  /**
   * Runs a named task of the worker module (for higher layers' worker modules, see `workerFile`).
   * Typed errors thrown in the worker are rebuilt on this side.
   */
  async runTask<R>(name: string, arg: unknown): Promise<R> {
    return this.#run<R>(name, arg);
  }

  /** Test hook: occupies one worker for `ms`. */
  async sleepBusy(ms: number): Promise<number> {
    return this.#run<number>('sleepBusy', ms);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Tasks waiting for a free worker (for metrics). */
  get queueSize(): number {
    return this.#pool.queueSize;
  }

  async close(opts: CloseOptions = {}): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const timeoutMs = opts.timeoutMs ?? 10_000;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.#pool.close(),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, timeoutMs);
        }),
      ]);
    } finally {
      if (timer !== undefined) clearTimeout(timer);
      await this.#pool.destroy();
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #chunked<T>(items: readonly T[], name: string): Promise<bigint[]> {
    if (!Array.isArray(items)) throw new MpcError('ERR_MATH_TYPE', 'batch must be an array');
    if (items.length === 0) return [];
    // Two chunks per thread keeps threads busy when chunk costs differ; each chunk stays within the batch bound.
    const chunkSize = Math.min(MATH_LIMITS.maxBatchTasks, Math.ceil(items.length / (this.threads * 2)));
    const chunks: T[][] = [];
    for (let i = 0; i < items.length; i += chunkSize) chunks.push(items.slice(i, i + chunkSize));
    const results = await Promise.all(chunks.map((c) => this.#run<bigint[]>(name, c)));
    return results.flat();
  }

  async #run<R>(name: string, arg: unknown): Promise<R> {
    if (this.#closed) throw new MpcError('ERR_POOL_CLOSED', 'math pool is closed');
    try {
      return (await this.#pool.run(arg, { name })) as R;
    } catch (e) {
      const revived = reviveMpcError(e);
      if (revived instanceof MpcError) throw revived;
      if (this.#closed)
        throw new MpcError('ERR_POOL_CLOSED', 'math pool closed while the task was queued', { cause: e });
      throw new MpcError('ERR_POOL_TASK_FAILED', `math task '${name}' failed`, { cause: e });
    }
  }
}
