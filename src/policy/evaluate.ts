/**
 * Policy evaluation: ordered rules, first match wins, an implicit block-all after the last rule
 * (Fireblocks TAP semantics, docs/PRODUCT.md §2.1). Pure and deterministic: the same policy,
 * intent, history and clock give the same decision at the orchestrator and at every party.
 *
 * Fail closed: when a rule cannot be evaluated (a USD amount for an asset without a price), the
 * request is blocked by that rule rather than falling through to a later, perhaps looser, one.
 */
import { MpcError } from '../errors/index.js';
import { formatUsd, toUsd } from './amount.js';
import type { CompiledRule, Policy } from './document.js';
import {
  assertIntent,
  normalizeAddress,
  normalizeAsset,
  type PolicyIntent,
  type SpendRecord,
  type Transfer,
} from './intent.js';
import { type ApprovalSpec, type PrincipalSet, type TimeWindow, WEEKDAYS } from './schema.js';
import type { VelocitySource } from './velocity.js';

/** Rule id reported when nothing matched (cannot collide: rule ids start with a letter or digit). */
export const DEFAULT_DENY_RULE = '_default_deny';

export interface Decision {
  readonly action: 'allow' | 'block' | 'require_approvals';
  /** The matched rule's id, or DEFAULT_DENY_RULE. */
  readonly ruleId: string;
  readonly policyVersion: number;
  /** For people: which rule, and why it matched. */
  readonly reason: string;
  readonly approvals?: ApprovalSpec;
}

export interface EvaluationContext {
  /** Unix seconds. */
  readonly now: number;
  /** What was signed before (the party's own ledger, or the orchestrator's store). */
  readonly history: readonly SpendRecord[];
  /**
   * Running window totals of the same history (src/policy/velocity.ts); when present they are used
   * instead of summing `history` (ignored then) and give the same totals.
   */
  readonly velocity?: VelocitySource;
}

/**
 * Evaluates `intent` against `policy`.
 *
 * @throws MpcError ERR_POLICY_INTENT_INVALID for a malformed intent (a caller's bug, never a decision)
 * @example const d = evaluatePolicy(policy, intent, { now: Date.now() / 1000, history: [] });
 */
export function evaluatePolicy(policy: Policy, intent: PolicyIntent, ctx: EvaluationContext): Decision {
  assertIntent(intent);
  if (!Number.isFinite(ctx.now)) throw new MpcError('ERR_POLICY_INTENT_INVALID', 'evaluation time is not a number');
  for (const compiled of policy.rules) {
    let why: string | null;
    try {
      why = matchRule(policy, compiled, intent, ctx);
    } catch (e) {
      if (e instanceof MpcError && e.code === 'ERR_POLICY_PRICE_MISSING') {
        return {
          action: 'block',
          ruleId: compiled.rule.id,
          policyVersion: policy.version,
          reason: `rule ${compiled.rule.id} could not be evaluated (${e.message.replace(/^ERR_[A-Z_]+: /, '')}): blocked`,
        };
      }
      throw e;
    }
    if (why !== null) {
      const r = compiled.rule;
      return {
        action: r.action,
        ruleId: r.id,
        policyVersion: policy.version,
        reason: `rule ${r.id}${r.description === undefined ? '' : ` (${r.description})`} matched${why}: ${r.action.replace('_', ' ')}`,
        ...(r.approvals === undefined ? {} : { approvals: r.approvals }),
      };
    }
  }
  return {
    action: 'block',
    ruleId: DEFAULT_DENY_RULE,
    policyVersion: policy.version,
    reason: 'no rule matched: blocked by the implicit block-all rule',
  };
}

/** Returns null when the rule does not match, else a (possibly empty) explanation suffix. */
function matchRule(policy: Policy, c: CompiledRule, i: PolicyIntent, ctx: EvaluationContext): string | null {
  const m = c.rule.match;
  if (m.kinds !== undefined && !m.kinds.includes(i.kind)) return null;
  if (m.operations !== undefined && !m.operations.includes(i.operation)) return null;
  if (m.chains !== undefined && (i.chain === undefined || !m.chains.includes(i.chain))) return null;
  if (m.chainIds !== undefined && (i.chainId === undefined || !m.chainIds.includes(i.chainId))) return null;
  if (m.networks !== undefined && (i.network === undefined || !m.networks.includes(i.network))) return null;
  if (m.keys !== undefined && !m.keys.includes('*') && !m.keys.includes(i.keyId)) return null;
  if (c.paths !== undefined) {
    const patterns = c.paths;
    if (!i.paths.every((p) => patterns.some((pat) => pathMatches(pat, p)))) return null;
  }
  if (m.initiators !== undefined && !principalMatches(m.initiators, i.initiator)) return null;
  if (c.destinations !== undefined) {
    // A destination predicate needs something to check: a message or raw digest never matches it.
    if (i.transfers.length === 0 || i.chain === undefined) return null;
    const allowed = c.destinations[i.chain];
    if (!i.transfers.every((t) => allowed.has(normalizeAddress(t.destination)))) return null;
  }
  if (c.assets !== undefined) {
    const assets = c.assets;
    if (i.transfers.length === 0 || !i.transfers.every((t) => assets.has(normalizeAsset(t.asset)))) return null;
  }
  if (m.time !== undefined && !timeMatches(m.time, ctx.now)) return null;
  let why = '';
  if (c.amount !== undefined) {
    const total = sumInRuleCurrency(policy, c, c.amount.currency, i.transfers);
    if (c.amount.above !== undefined && !(total > c.amount.above)) return null;
    if (c.amount.atMost !== undefined && !(total <= c.amount.atMost)) return null;
    why += `; amount ${show(c.amount.currency, total)}`;
  }
  if (c.velocity !== undefined) {
    const v = c.velocity;
    // A velocity limit is about value leaving: a request that moves nothing never trips it.
    if (i.transfers.length === 0) return null;
    const source = ctx.velocity;
    const windowed =
      source === undefined ? ctx.history.filter((h) => h.at > ctx.now - v.windowSeconds && h.at <= ctx.now) : [];
    let worst = -1n;
    if (v.aggregate === 'destination') {
      for (const d of new Set(i.transfers.map((t) => normalizeAddress(t.destination)))) {
        const to = (ts: readonly Transfer[]) => ts.filter((t) => normalizeAddress(t.destination) === d);
        const current = sumInRuleCurrency(policy, c, v.currency, to(i.transfers));
        const total =
          current +
          (source === undefined
            ? windowed.reduce((a, h) => a + sumInRuleCurrency(policy, c, v.currency, to(h.transfers)), 0n)
            : source.windowTotal(c, d));
        if (total > worst) worst = total;
      }
    } else {
      const current = sumInRuleCurrency(policy, c, v.currency, i.transfers);
      if (source !== undefined) {
        const scope = v.aggregate === 'all' ? '' : v.aggregate === 'key' ? i.keyId : i.initiator.id;
        worst = current + source.windowTotal(c, scope);
      } else {
        const same = windowed.filter(
          (h) =>
            v.aggregate === 'all' || (v.aggregate === 'key' ? h.keyId === i.keyId : h.initiator === i.initiator.id),
        );
        worst = current + same.reduce((a, h) => a + sumInRuleCurrency(policy, c, v.currency, h.transfers), 0n);
      }
    }
    if (!(worst > v.above)) return null;
    why += `; ${v.aggregate} total ${show(v.currency, worst)} over ${v.windowSeconds} s above ${show(v.currency, v.above)}`;
  }
  return why;
}

/**
 * Total of `transfers` in the rule's currency (native: only its single asset counts).
 * @throws MpcError ERR_POLICY_PRICE_MISSING (USD, an asset without a price)
 */
export function sumInRuleCurrency(
  policy: Policy,
  c: CompiledRule,
  currency: 'native' | 'USD',
  transfers: readonly Transfer[],
): bigint {
  let total = 0n;
  for (const t of transfers) {
    const asset = normalizeAsset(t.asset);
    if (currency === 'native') {
      if (asset === c.nativeAsset) total += t.amount;
      continue;
    }
    const price = policy.prices.get(asset);
    if (price === undefined)
      throw new MpcError('ERR_POLICY_PRICE_MISSING', `no USD price for asset ${asset}`, { details: { asset } });
    total += toUsd(t.amount, price.decimals, price.usd);
  }
  return total;
}

const show = (currency: 'native' | 'USD', v: bigint) => (currency === 'USD' ? formatUsd(v) : `${v} base units`);

/** Path pattern steps: a number, `*` (one step) or `**` (any rest, including none). */
export function pathMatches(pattern: readonly string[], path: readonly number[]): boolean {
  const go = (pi: number, si: number): boolean => {
    if (pi === pattern.length) return si === path.length;
    const step = pattern[pi];
    if (step === '**') {
      for (let k = si; k <= path.length; k++) if (go(pi + 1, k)) return true;
      return false;
    }
    if (si === path.length) return false;
    if (step !== '*' && Number(step) !== path[si]) return false;
    return go(pi + 1, si + 1);
  };
  return go(0, 0);
}

/** Membership in a principal set: listed by id, or holding a listed role, or in a listed group. */
export function principalMatches(
  set: PrincipalSet,
  who: { id: string; roles: readonly string[]; groups: readonly string[] },
): boolean {
  return (
    (set.operators?.includes(who.id) ?? false) ||
    (set.roles?.some((r) => who.roles.includes(r)) ?? false) ||
    (set.groups?.some((g) => who.groups.includes(g)) ?? false)
  );
}

/** Whether unix time `now` falls in the window (local time = UTC + offset). */
export function timeMatches(w: TimeWindow, now: number): boolean {
  const local = new Date((Math.floor(now) + (w.utcOffsetMinutes ?? 0) * 60) * 1000);
  if (w.days !== undefined && !w.days.includes(WEEKDAYS[local.getUTCDay()] as (typeof WEEKDAYS)[number])) return false;
  if (w.from === undefined || w.to === undefined) return true;
  const minute = local.getUTCHours() * 60 + local.getUTCMinutes();
  const from = clock(w.from);
  const to = clock(w.to);
  return from < to ? minute >= from && minute < to : minute >= from || minute < to;
}

const clock = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
