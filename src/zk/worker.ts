/**
 * Worker module for proof generation and verification (loaded by a MathPool created with
 * `workerFile: zkWorkerFile()`). It also serves every math task, so one pool does both.
 */
import { workerData } from 'node:worker_threads';
import { isMpcError } from '../errors/index.js';
import type { MathBackend } from '../math/backend.js';
import type { BackendName } from '../math/raw.js';
import { loadBackend } from '../math/select.js';
import { fromPortable, toPortable } from '../primitives/portable.js';
import { PROVERS, type ProofName, VERIFIERS } from './registry.js';

export * from '../math/pool-worker.js';

let math: MathBackend | undefined;
function backend(): MathBackend {
  math ??= loadBackend((workerData as { backend?: BackendName } | undefined)?.backend ?? 'js');
  return math;
}

export interface ProveTask {
  readonly proof: ProofName;
  readonly args: readonly unknown[];
}

export function zkProve(task: ProveTask): unknown {
  const fn = PROVERS[task.proof] as (m: MathBackend, ...a: unknown[]) => unknown;
  return toPortable(fn(backend(), ...(fromPortable(task.args) as unknown[])));
}

/** Verification outcome as data: a failed proof is an expected result, not a worker crash. */
export type VerifyOutcome =
  | { readonly ok: true }
  | { readonly ok: false; readonly code: string; readonly check: string; readonly message: string };

export function zkVerify(task: ProveTask): VerifyOutcome {
  const fn = VERIFIERS[task.proof] as (m: MathBackend, ...a: unknown[]) => void;
  try {
    fn(backend(), ...(fromPortable(task.args) as unknown[]));
    return { ok: true };
  } catch (e) {
    if (isMpcError(e)) return { ok: false, code: e.code, check: String(e.details.check ?? ''), message: e.message };
    throw e;
  }
}
