/**
 * Running velocity totals: per velocity rule of one policy, the sum of the spend records in the
 * rule's sliding window, kept per aggregate scope (initiator, key, destination or all) in the
 * rule's currency, so a check costs a map lookup instead of re-reading and re-summing the history.
 *
 * Exactness: `windowTotal(rule, scope, now)` equals what evaluate.ts computes from the history
 * array: the records with `now - window < at <= now` in the scope, converted per record by the same
 * function (sumInRuleCurrency), an asset without a USD price making the rule fail closed
 * (ERR_POLICY_PRICE_MISSING). Each rule's totals cover the records with `at > horizon`; a check
 * moves the horizon to `now - window` (subtracting records that left the window, adding them back
 * if the clock went backwards), then leaves out records after `now` and the excluded request.
 *
 * Holds only the records with `at > floor` (the caller loads them from its durable record): a
 * window reaching further back cannot be answered here (`covers` is false; the caller reloads).
 * Not safe for concurrent use across awaits by itself: every method is synchronous, so a check and
 * the record that follows it in the same synchronous step cannot interleave with another.
 */
import { MpcError } from '../errors/index.js';
import type { CompiledRule, Policy } from './document.js';
import { sumInRuleCurrency } from './evaluate.js';
import { normalizeAddress, type SpendRecord } from './intent.js';

/** One spend record with the request it belongs to (one record per request). */
export interface VelocityRecord extends SpendRecord {
  /** Request digest (hex). */
  readonly request: string;
}

/** What evaluatePolicy asks instead of summing the history itself (evaluate.ts). */
export interface VelocitySource {
  /**
   * Total, in the rule's velocity currency, of the records in the rule's window ending at the
   * evaluation time, in `scope`: '' (all), the key id, the initiator id or a normalised destination.
   * @throws MpcError ERR_POLICY_PRICE_MISSING when a record in scope has an asset without a USD price
   */
  windowTotal(rule: CompiledRule, scope: string): bigint;
}

interface Part {
  readonly scope: string;
  readonly amount: bigint;
  /** The asset that had no USD price (the part's amount is then 0). */
  readonly unpriced?: string;
}

interface Bucket {
  amount: bigint;
  /** Records in the bucket with an unpriced asset, by asset. */
  readonly unpriced: Map<string, number>;
}

class RuleTotals {
  /** The totals cover exactly the records with `at > horizon`. */
  horizon: number;
  readonly buckets = new Map<string, Bucket>();
  readonly window: number;

  constructor(
    readonly policy: Policy,
    readonly rule: CompiledRule,
    horizon: number,
  ) {
    this.window = rule.velocity?.windowSeconds ?? 0;
    this.horizon = horizon;
  }

  /** A record's contribution per scope, converted as evaluate.ts converts it. */
  parts(r: VelocityRecord, only?: string): Part[] {
    const v = this.rule.velocity;
    if (v === undefined) return [];
    const part = (scope: string, transfers: VelocityRecord['transfers']): Part => {
      try {
        return { scope, amount: sumInRuleCurrency(this.policy, this.rule, v.currency, transfers) };
      } catch (e) {
        if (e instanceof MpcError && e.code === 'ERR_POLICY_PRICE_MISSING') {
          const asset = String(e.details.asset);
          return { scope, amount: 0n, unpriced: asset };
        }
        throw e;
      }
    };
    if (v.aggregate !== 'destination') {
      const scope = v.aggregate === 'all' ? '' : v.aggregate === 'key' ? r.keyId : r.initiator;
      return only !== undefined && only !== scope ? [] : [part(scope, r.transfers)];
    }
    const out: Part[] = [];
    for (const d of new Set(r.transfers.map((t) => normalizeAddress(t.destination)))) {
      if (only !== undefined && only !== d) continue;
      out.push(
        part(
          d,
          r.transfers.filter((t) => normalizeAddress(t.destination) === d),
        ),
      );
    }
    return out;
  }

  apply(r: VelocityRecord, sign: 1n | -1n): void {
    for (const p of this.parts(r)) {
      let b = this.buckets.get(p.scope);
      if (b === undefined) {
        b = { amount: 0n, unpriced: new Map() };
        this.buckets.set(p.scope, b);
      }
      b.amount += sign * p.amount;
      if (p.unpriced !== undefined) {
        const n = (b.unpriced.get(p.unpriced) ?? 0) + Number(sign);
        if (n === 0) b.unpriced.delete(p.unpriced);
        else b.unpriced.set(p.unpriced, n);
      }
      if (b.amount === 0n && b.unpriced.size === 0) this.buckets.delete(p.scope);
    }
  }
}

/** Records are compacted away from the front once this many have left every window. */
const COMPACT_AFTER = 4096;

export class VelocityTotals {
  readonly #rules = new Map<CompiledRule, RuleTotals>();
  /** Ascending by `at`, from index #start on. */
  #records: VelocityRecord[] = [];
  #start = 0;
  readonly #byRequest = new Map<string, VelocityRecord>();
  /** Records with `at <= floor` may be missing here. */
  #floor: number;
  /** The policy's longest velocity window (0: none, nothing is kept). */
  readonly longest: number;

  /**
   * @param records every record of the durable history with `at > since` (any order)
   * @param since how far back `records` reaches
   */
  constructor(policy: Policy, records: Iterable<VelocityRecord>, since: number) {
    this.#floor = since;
    let longest = 0;
    for (const c of policy.rules) {
      if (c.velocity === undefined) continue;
      this.#rules.set(c, new RuleTotals(policy, c, since));
      longest = Math.max(longest, c.velocity.windowSeconds);
    }
    this.longest = longest;
    if (longest === 0) return;
    const sorted = [...records].filter((r) => r.at > since).sort((a, b) => a.at - b.at);
    for (const r of sorted) {
      if (this.#byRequest.has(r.request)) continue;
      this.#records.push(r);
      this.#byRequest.set(r.request, r);
      for (const t of this.#rules.values()) t.apply(r, 1n);
    }
  }

  /** Records held (those that may still fall in a window). */
  get size(): number {
    return this.#records.length - this.#start;
  }

  /** Whether every window ending at `now` is answered from what is held (else reload). */
  covers(now: number): boolean {
    return this.longest === 0 || now - this.longest >= this.#floor;
  }

  /**
   * Records a spend (after the durable record holds it). A request already held keeps its first
   * record; a record at or before the floor is outside what this holds.
   * @returns whether it was added
   */
  add(r: VelocityRecord): boolean {
    if (this.longest === 0 || this.#byRequest.has(r.request) || r.at <= this.#floor) return false;
    const at = this.#upperBound(r.at);
    if (at === this.#records.length) this.#records.push(r);
    else this.#records.splice(at, 0, r);
    this.#byRequest.set(r.request, r);
    for (const t of this.#rules.values()) if (r.at > t.horizon) t.apply(r, 1n);
    return true;
  }

  /**
   * The window total for one rule of this policy and one scope at `now`, without request `exclude`.
   * @throws MpcError ERR_POLICY_PRICE_MISSING; ERR_POLICY_HISTORY_TRUNCATED when the window reaches
   *   before what is held; ERR_POLICY_INTENT_INVALID for a rule of another policy (a caller's bug)
   */
  windowTotal(rule: CompiledRule, scope: string, now: number, exclude?: string): bigint {
    const t = this.#rules.get(rule);
    if (t === undefined) {
      throw new MpcError('ERR_POLICY_INTENT_INVALID', `no running velocity totals for rule ${rule.rule.id}`);
    }
    const from = now - t.window;
    if (from < this.#floor) {
      throw new MpcError(
        'ERR_POLICY_HISTORY_TRUNCATED',
        `velocity window of rule ${rule.rule.id} reaches before the held history`,
      );
    }
    this.#moveHorizon(t, from);
    const b = t.buckets.get(scope);
    let amount = b?.amount ?? 0n;
    const unpriced = new Map(b?.unpriced ?? []);
    const leaveOut = (r: VelocityRecord) => {
      for (const p of t.parts(r, scope)) {
        amount -= p.amount;
        if (p.unpriced !== undefined) unpriced.set(p.unpriced, (unpriced.get(p.unpriced) ?? 0) - 1);
      }
    };
    // records after `now` (a clock set back since they were written) are not in the window
    for (let k = this.#records.length - 1; k >= this.#start; k--) {
      const r = this.#records[k] as VelocityRecord;
      if (r.at <= now) break;
      if (r.request !== exclude) leaveOut(r);
    }
    // the request being checked never counts against itself
    const own = exclude === undefined ? undefined : this.#byRequest.get(exclude);
    if (own !== undefined && own.at > from) leaveOut(own);
    for (const [asset, n] of unpriced) {
      if (n > 0)
        throw new MpcError('ERR_POLICY_PRICE_MISSING', `no USD price for asset ${asset}`, { details: { asset } });
    }
    this.#trim();
    return amount;
  }

  /** Moves a rule's horizon to `to` (>= floor): records leaving the window are subtracted, returning ones added. */
  #moveHorizon(t: RuleTotals, to: number): void {
    if (to > t.horizon) {
      for (let k = this.#upperBound(t.horizon); k < this.#records.length; k++) {
        const r = this.#records[k] as VelocityRecord;
        if (r.at > to) break;
        t.apply(r, -1n);
      }
    } else if (to < t.horizon) {
      for (let k = this.#upperBound(to); k < this.#records.length; k++) {
        const r = this.#records[k] as VelocityRecord;
        if (r.at > t.horizon) break;
        t.apply(r, 1n);
      }
    }
    t.horizon = to;
  }

  /** Drops records that left every rule's window; they are below the floor from then on. */
  #trim(): void {
    let low = Number.POSITIVE_INFINITY;
    for (const t of this.#rules.values()) low = Math.min(low, t.horizon);
    if (low <= this.#floor) return;
    while (this.#start < this.#records.length && (this.#records[this.#start] as VelocityRecord).at <= low) {
      this.#byRequest.delete((this.#records[this.#start] as VelocityRecord).request);
      this.#start++;
    }
    this.#floor = low;
    if (this.#start >= COMPACT_AFTER && this.#start * 2 >= this.#records.length) {
      this.#records = this.#records.slice(this.#start);
      this.#start = 0;
    }
  }

  /** First index (from #start) whose record is after `at`. */
  #upperBound(at: number): number {
    let lo = this.#start;
    let hi = this.#records.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.#records[mid] as VelocityRecord).at <= at) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
