/**
 * Piscina worker: runs batches of math work off the event loop. Each worker thread loads the
 * backend named in workerData once (with its self-test) and reuses it for every task.
 */
import { workerData } from 'node:worker_threads';
import type { MathBackend } from './backend.js';
import { generatePrime, isPrimeOfKind, type PrimeKind } from './primes.js';
import type { BackendName, PowmTask } from './raw.js';
import { loadBackend } from './select.js';

export interface MultiExpItem {
  readonly bases: readonly bigint[];
  readonly exps: readonly bigint[];
  readonly mod: bigint;
  readonly secret: boolean;
}

let math: MathBackend | undefined;
function backend(): MathBackend {
  if (math === undefined) {
    const name = (workerData as { backend?: BackendName } | undefined)?.backend ?? 'js';
    math = loadBackend(name);
  }
  return math;
}

export function ping(): BackendName {
  return backend().name;
}

export function powmBatch(tasks: readonly PowmTask[]): bigint[] {
  return backend().powmBatch(tasks);
}

export function multiExpBatch(items: readonly MultiExpItem[]): bigint[] {
  const m = backend();
  return items.map((it) =>
    it.secret ? m.multiExpSec(it.bases, it.exps, it.mod) : m.multiExp(it.bases, it.exps, it.mod),
  );
}

export function prime(args: { readonly bits: number; readonly kind: PrimeKind }): bigint {
  return generatePrime(backend(), args.bits, args.kind);
}

export function checkPrime(args: { readonly p: bigint; readonly kind: PrimeKind }): boolean {
  return isPrimeOfKind(backend(), args.p, args.kind);
}

/** Busy-waits for `ms` (tests use it to prove close() waits for running work). */
export function sleepBusy(ms: number): number {
  const end = Date.now() + ms;
  let spins = 0;
  while (Date.now() < end) spins++;
  return spins;
}
