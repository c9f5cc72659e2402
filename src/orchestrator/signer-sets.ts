/**
 * Which t parties sign. A t-of-n key can sign with any t of its n holders; always asking the first
 * t wears out the same parties and stops signing when one of them is down. The orchestrator
 * spreads presignatures over several signer sets and steers around parties that just timed out:
 *
 * - the sets: every t-subset of the n holders when there are at most 32 of them, else the n
 *   cyclic windows {i, …, i+t−1 mod n} (every party in t of them); or the sets an admin configured;
 * - SignerHealth: a party that let a session time out is suspect for a while (or until it answers
 *   again); sets with a suspect member are skipped when filling pools, taking from them and picking
 *   signers on demand, unless no healthy set is left (then every set is tried, in order).
 */
import { MpcError } from '../errors/index.js';

/** At most this many t-subsets are enumerated; beyond it, the n cyclic windows. */
export const MAX_ENUMERATED_SETS = 32;

function binomial(n: number, k: number): number {
  let r = 1;
  for (let i = 1; i <= k; i++) r = (r * (n - k + i)) / i;
  return Math.round(r);
}

function subsets(n: number, k: number): number[][] {
  const out: number[][] = [];
  const walk = (start: number, acc: number[]) => {
    if (acc.length === k) {
      out.push([...acc]);
      return;
    }
    for (let i = start; i <= n - (k - acc.length); i++) walk(i + 1, [...acc, i]);
  };
  walk(0, []);
  return out;
}

/**
 * The signer sets of a t-of-n key (roster ids 0..n−1), each sorted ascending. `explicit` (from the
 * config) is validated: t distinct members in range per set, no set twice; else ERR_CONFIG_INVALID.
 */
export function signerSetsOf(
  parties: number,
  threshold: number,
  explicit?: readonly (readonly number[])[],
): number[][] {
  if (!(Number.isInteger(parties) && Number.isInteger(threshold) && threshold >= 1 && threshold <= parties)) {
    throw new MpcError('ERR_CONFIG_INVALID', `signer sets: need 1 ≤ t ≤ n (t = ${threshold}, n = ${parties})`);
  }
  if (explicit !== undefined && explicit.length > 0) {
    const seen = new Set<string>();
    return explicit.map((set, i) => {
      const s = [...set].sort((a, b) => a - b);
      const bad =
        s.length !== threshold ||
        s.some((p, j) => !Number.isInteger(p) || p < 0 || p >= parties || (j > 0 && p === s[j - 1]));
      if (bad) {
        throw new MpcError(
          'ERR_CONFIG_INVALID',
          `signer set ${i}: needs ${threshold} distinct parties among 0..${parties - 1}, got [${set.join(', ')}]`,
        );
      }
      const k = s.join(',');
      if (seen.has(k)) throw new MpcError('ERR_CONFIG_INVALID', `signer set ${i}: [${k}] is listed twice`);
      seen.add(k);
      return s;
    });
  }
  if (binomial(parties, threshold) <= MAX_ENUMERATED_SETS) return subsets(parties, threshold);
  return Array.from({ length: parties }, (_, i) =>
    Array.from({ length: threshold }, (_, j) => (i + j) % parties).sort((a, b) => a - b),
  );
}

/** The parties a session timeout names (ERR_DAEMON_SESSION_TIMEOUT details.missing), else []. */
export function missingParties(e: unknown): number[] {
  if (!(e instanceof MpcError) || e.code !== 'ERR_DAEMON_SESSION_TIMEOUT') return [];
  const m = e.details.missing;
  if (typeof m !== 'string' || m.length === 0) return [];
  return m
    .split(',')
    .map(Number)
    .filter((p) => Number.isInteger(p) && p >= 0);
}

export interface SignerHealthOptions {
  /** How long a party that timed out is avoided (default 60 s). */
  readonly suspectMs?: number;
  readonly now?: () => number;
}

/** Parties that recently let a session time out, shared by the pools and on-demand signing. */
export class SignerHealth {
  readonly #until = new Map<number, number>();
  readonly #suspectMs: number;
  readonly #now: () => number;
  #turn = 0;

  constructor(o: SignerHealthOptions = {}) {
    this.#suspectMs = o.suspectMs ?? 60_000;
    this.#now = o.now ?? Date.now;
  }

  /** Marks parties suspect (they did not answer in time). */
  suspect(parties: readonly number[]): void {
    const until = this.#now() + this.#suspectMs;
    for (const p of parties) this.#until.set(p, until);
  }

  /** A party answered: no longer suspect. */
  answered(parties: readonly number[]): void {
    for (const p of parties) this.#until.delete(p);
  }

  isSuspect(party: number): boolean {
    const u = this.#until.get(party);
    if (u === undefined) return false;
    if (u <= this.#now()) {
      this.#until.delete(party);
      return false;
    }
    return true;
  }

  isHealthy(set: readonly number[]): boolean {
    return set.every((p) => !this.isSuspect(p));
  }

  /** The healthy sets, or every set when none is healthy (something must be tried). */
  healthy(sets: readonly (readonly number[])[]): (readonly number[])[] {
    const ok = sets.filter((s) => this.isHealthy(s));
    return ok.length > 0 ? ok : [...sets];
  }

  /** The next healthy set, round robin (on-demand signing spreads its load too). */
  pick(sets: readonly (readonly number[])[]): readonly number[] {
    const ok = this.healthy(sets);
    const s = ok[this.#turn++ % ok.length];
    if (s === undefined) throw new MpcError('ERR_CONFIG_INVALID', 'no signer set');
    return s;
  }
}
