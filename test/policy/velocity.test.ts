/**
 * Running velocity totals (src/policy/velocity.ts) against the sum they replace: random spend
 * records added in and out of time order, checks with the clock moving forwards and backwards,
 * the request being checked left out, records after `now` left out, unpriced assets failing closed.
 * Every answer must equal the brute-force sum of the history, per rule and scope.
 */
import { describe, expect, it } from 'vitest';
import {
  type CompiledRule,
  compilePolicy,
  normalizeAddress,
  sumInRuleCurrency,
  type VelocityRecord,
  VelocityTotals,
} from '../../src/policy/index.js';

const ETH = 10n ** 18n;
const USDC = 'erc20:0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48';
const UNPRICED = 'erc20:0x6b175474e89094c44da98b954eedeac495271d0f';
const DESTS = [
  '0x1111111111111111111111111111111111111111',
  '0xAbCdEf0000000000000000000000000000000002',
  '0x4444444444444444444444444444444444444444',
];

const policy = compilePolicy({
  schema: 'mpc-custody/policy@1',
  version: 3,
  prices: { ETH: { usd: '2000', decimals: 18 }, [USDC]: { usd: '1', decimals: 6 } },
  rules: [
    {
      id: 'all-usd',
      match: { velocity: { windowSeconds: 600, currency: 'USD', above: '1000000000', aggregate: 'all' } },
      action: 'block',
    },
    {
      id: 'key-eth',
      match: {
        assets: ['ETH'],
        velocity: { windowSeconds: 3600, currency: 'native', above: (1000n * ETH).toString(), aggregate: 'key' },
      },
      action: 'block',
    },
    {
      id: 'init-usd',
      match: { velocity: { windowSeconds: 120, currency: 'USD', above: '1000000000', aggregate: 'initiator' } },
      action: 'block',
    },
    {
      id: 'dest-usd',
      match: { velocity: { windowSeconds: 1800, currency: 'USD', above: '1000000000', aggregate: 'destination' } },
      action: 'block',
    },
    { id: 'rest', match: {}, action: 'allow' },
  ],
});
const velocityRules = policy.rules.filter((c) => c.velocity !== undefined);

/** Deterministic PRNG (test inputs only). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** What evaluate.ts computes from the history array for one rule and scope (throws on a missing price). */
function reference(
  c: CompiledRule,
  scope: string,
  now: number,
  history: readonly VelocityRecord[],
  exclude?: string,
): bigint {
  const v = c.velocity;
  if (v === undefined) throw new Error('not a velocity rule');
  let total = 0n;
  for (const h of history) {
    if (h.request === exclude || !(h.at > now - v.windowSeconds && h.at <= now)) continue;
    if (v.aggregate === 'destination') {
      const to = h.transfers.filter((t) => normalizeAddress(t.destination) === scope);
      total += sumInRuleCurrency(policy, c, v.currency, to);
    } else if ((v.aggregate === 'all' ? '' : v.aggregate === 'key' ? h.keyId : h.initiator) === scope) {
      total += sumInRuleCurrency(policy, c, v.currency, h.transfers);
    }
  }
  return total;
}

const outcome = (f: () => bigint): string => {
  try {
    return f().toString();
  } catch (e) {
    return (e as { code?: string }).code ?? String(e);
  }
};

describe('running velocity totals', () => {
  it.each([1, 2, 3, 4, 5, 6])('equal the sum of the history (seed %i)', (seed) => {
    const r = rng(seed);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
    const start = 1_800_000_000;
    const floor = start - 4000;
    const initial: VelocityRecord[] = [];
    let n = 0;
    const record = (at: number): VelocityRecord => ({
      request: (n++).toString(16).padStart(64, '0'),
      at,
      keyId: pick(['hot', 'cold']),
      initiator: pick(['alice', 'bob']),
      transfers: Array.from({ length: 1 + Math.floor(r() * 3) }, () => ({
        asset: seed % 2 === 0 && r() < 0.05 ? UNPRICED : pick(['ETH', USDC]),
        destination: pick(DESTS),
        amount: BigInt(Math.floor(r() * 1e6)) * (r() < 0.5 ? ETH / 1000n : 1n),
      })),
    });
    for (let i = 0; i < 50; i++) initial.push(record(floor + 1 + Math.floor(r() * 4000)));
    // a record at the floor is outside what the totals hold (and outside every window checked)
    let totals = new VelocityTotals(policy, [...initial, { ...record(floor), request: 'f'.repeat(64) }], floor);
    const history = [...initial];
    let now = start;
    for (let step = 0; step < 400; step++) {
      const roll = r();
      if (roll < 0.35) {
        // a new spend, usually now, sometimes a little in the past (a sign that raced)
        const rec = record(now - (r() < 0.2 ? Math.floor(r() * 200) : 0));
        if (totals.add(rec)) history.push(rec);
        // the same request again keeps its first record
        expect(totals.add({ ...rec, at: rec.at + 1 })).toBe(false);
      } else if (roll < 0.8) {
        now += Math.floor(r() * 120);
      } else if (roll < 0.9) {
        // the clock set back: records after `now` must not count; when the window then reaches
        // before what the totals hold, they are rebuilt from the history (as the party's guard
        // reloads them from its ledger)
        now -= Math.floor(r() * 300);
        if (!totals.covers(now)) totals = new VelocityTotals(policy, history, now - 3600);
      }
      const exclude = r() < 0.3 ? pick(history).request : undefined;
      for (const c of velocityRules) {
        const scopes =
          c.velocity?.aggregate === 'destination' ? DESTS.map(normalizeAddress) : ['', 'hot', 'cold', 'alice', 'bob'];
        for (const scope of scopes) {
          const want = outcome(() => reference(c, scope, now, history, exclude));
          expect(
            outcome(() => totals.windowTotal(c, scope, now, exclude)),
            `${c.rule.id} ${scope} @${now}`,
          ).toBe(want);
        }
      }
    }
    // records that left every window are dropped: what is held stays bounded
    expect(totals.size).toBeLessThan(history.length);
  });

  it('refuses a window that reaches before what it holds, and a rule of another policy', () => {
    const totals = new VelocityTotals(policy, [], 1000);
    const rule = velocityRules[1] as CompiledRule; // 3600 s
    expect(totals.covers(1000 + 3600)).toBe(true);
    expect(totals.covers(1000 + 3599)).toBe(false);
    expect(outcome(() => totals.windowTotal(rule, 'hot', 1000 + 3599))).toBe('ERR_POLICY_HISTORY_TRUNCATED');
    const other = compilePolicy({ schema: 'mpc-custody/policy@1', version: 1, rules: [rule.rule] });
    expect(outcome(() => totals.windowTotal(other.rules[0] as CompiledRule, 'hot', 9000))).toBe(
      'ERR_POLICY_INTENT_INVALID',
    );
  });
});
