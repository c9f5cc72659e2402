import type { MathBackend } from './backend.js';

/** Exponentiation counts by kind, for holding a protocol phase's cost against the GMP bound. */
export interface ExpCounts {
  powm: number;
  powmSec: number;
  /** CRT exponentiations (each is two half-size constant-time exponentiations). */
  powmCrt: number;
  /** Multi-exponentiations (each one call, any number of bases). */
  multiExp: number;
  /** Tasks inside powmBatch calls. */
  batched: number;
}

/**
 * Wraps a backend and counts its exponentiations (benchmarks only). Everything else passes through.
 */
export function countingBackend(inner: MathBackend): { math: MathBackend; counts: ExpCounts; reset(): void } {
  const counts: ExpCounts = { powm: 0, powmSec: 0, powmCrt: 0, multiExp: 0, batched: 0 };
  const math: MathBackend = {
    ...inner,
    name: inner.name,
    raw: inner.raw,
    powm: (b, e, m) => {
      counts.powm++;
      return inner.powm(b, e, m);
    },
    powmSec: (b, e, m) => {
      counts.powmSec++;
      return inner.powmSec(b, e, m);
    },
    powmCrt: (b, e, c) => {
      counts.powmCrt++;
      return inner.powmCrt(b, e, c);
    },
    multiExp: (b, e, m) => {
      counts.multiExp++;
      return inner.multiExp(b, e, m);
    },
    multiExpSec: (b, e, m) => {
      counts.multiExp++;
      return inner.multiExpSec(b, e, m);
    },
    powmBatch: (tasks) => {
      counts.batched += tasks.length;
      return inner.powmBatch(tasks);
    },
  };
  return {
    math: Object.freeze(math),
    counts,
    reset() {
      counts.powm = counts.powmSec = counts.powmCrt = counts.multiExp = counts.batched = 0;
    },
  };
}
