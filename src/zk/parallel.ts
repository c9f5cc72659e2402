import { existsSync } from 'node:fs';
import { type ErrorCode, MpcError } from '../errors/index.js';
import { compiledSibling, type MathPool } from '../math/pool.js';
import { fromPortable, toPortable } from '../primitives/portable.js';
import type { PROVERS, ProofName, VERIFIERS } from './registry.js';
import type { VerifyOutcome } from './worker.js';

/** The compiled zk worker module, for `new MathPool({ backend, workerFile: zkWorkerFile() })`. */
export function zkWorkerFile(): string {
  const file = compiledSibling(import.meta.url, 'worker.js');
  if (!existsSync(file)) {
    throw new MpcError('ERR_MATH_BACKEND_UNAVAILABLE', `worker script ${file} is missing: run 'npm run build'`);
  }
  return file;
}

type Tail<F> = F extends (math: never, ...rest: infer R) => unknown ? R : never;
type Result<F> = F extends (...a: never[]) => infer R ? R : never;

/**
 * Runs proofs for different counterparties in parallel on the worker pool (CGGMP: one Πenc per
 * peer in presigning round 1, one Πfac per peer in aux-info round 3, and their verifications).
 */
export class ZkRunner {
  readonly #pool: MathPool;

  constructor(pool: MathPool) {
    this.#pool = pool;
  }

  async prove<K extends ProofName>(proof: K, ...args: Tail<(typeof PROVERS)[K]>): Promise<Result<(typeof PROVERS)[K]>> {
    const out = await this.#pool.runTask<unknown>('zkProve', { proof, args: toPortable(args) });
    return fromPortable(out) as Result<(typeof PROVERS)[K]>;
  }

  /** Verifies one proof on a worker; resolves, or rejects with the same typed error as a direct call. */
  async verify<K extends ProofName>(proof: K, ...args: Tail<(typeof VERIFIERS)[K]>): Promise<void> {
    const out = await this.#pool.runTask<VerifyOutcome>('zkVerify', { proof, args: toPortable(args) });
    if (!out.ok) {
      throw new MpcError(out.code as ErrorCode, out.message.replace(/^ERR_[A-Z0-9_]+: /, ''), {
        details: { proof, check: out.check },
      });
    }
  }

  /**
   * Verifies many proofs concurrently and reports every failure (blame lists ALL faulty provers,
   * not just the first). Result i belongs to task i.
   */
  async verifyAll(
    tasks: ReadonlyArray<{ proof: ProofName; args: readonly unknown[] }>,
  ): Promise<Array<MpcError | undefined>> {
    return Promise.all(
      tasks.map(async (t) => {
        try {
          await (this.verify as (p: ProofName, ...a: readonly unknown[]) => Promise<void>)(t.proof, ...t.args);
          return undefined;
        } catch (e) {
          if (e instanceof MpcError) return e;
          throw e;
        }
      }),
    );
  }
}
