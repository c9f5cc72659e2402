/**
 * The policy decision table: (policy, request, history, clock) → (action, rule). One reference
 * policy (test/fixtures/policy/reference-policy.yaml, the rule shapes of docs/PRODUCT.md §2.4) and
 * one case per behaviour: first-match order, tiers at their boundaries, velocity windows at their
 * edges and per aggregation, time windows, whitelists, decoded token transfers, fail-closed pricing.
 */
import { readFileSync } from 'node:fs';
import { parseEther, parseUnits } from 'viem';
import { describe, expect, it } from 'vitest';
import {
  type CompiledRule,
  DEFAULT_DENY_RULE,
  evaluatePolicy,
  type Initiator,
  type PolicyIntent,
  parsePolicy,
  type SpendRecord,
  type Transfer,
  VelocityTotals,
} from '../../src/policy/index.js';

const policy = parsePolicy(readFileSync(new URL('../fixtures/policy/reference-policy.yaml', import.meta.url), 'utf8'));

const at = (day: number, hh: number, mm = 0) => Date.UTC(2026, 11, day, hh, mm) / 1000; // 2026-12-02 is a Wednesday
const WED_NOON = at(2, 12);
const SAT_NOON = at(5, 12);

const alice: Initiator = { id: 'alice', roles: ['initiator'], groups: [] };
const bob: Initiator = { id: 'bob', roles: ['initiator'], groups: ['break-glass'] };
const sweeper: Initiator = { id: 'svc-sweeper', roles: ['initiator'], groups: [] };
const vic: Initiator = { id: 'vic', roles: ['viewer'], groups: [] };

const X1 = '0x1111111111111111111111111111111111111111';
const X2 = '0xabcdef0000000000000000000000000000000002'; // listed in mixed case
const T = '0x3333333333333333333333333333333333333333';
const S = '0x9999999999999999999999999999999999999999';
const D = '0x7A250d5630B4cF539739dF2C5dAcb4c659F2488D';
const R = '0x4444444444444444444444444444444444444444';
const R2 = '0x5555555555555555555555555555555555555555';
const T_BTC = 'bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4';
const R_BTC = 'bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq';
const R_TBTC = 'tb1qw508d6qejxtdg4y5r3zarvary0c5xdmt04ua';
const USDC = 'erc20:0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48';
const UNPRICED = 'erc20:0x6b175474e89094c44da98b954eedeac495271d0f';

const eth = (amount: string, destination: string): Transfer => ({
  asset: 'ETH',
  destination,
  amount: parseEther(amount),
});
const usdc = (amount: string, destination: string): Transfer => ({
  asset: USDC,
  destination,
  amount: parseUnits(amount, 6),
});
const btc = (amount: string, destination: string): Transfer => ({
  asset: 'BTC',
  destination,
  amount: parseUnits(amount, 8),
});

function tx(transfers: Transfer[], o: Partial<PolicyIntent> = {}): PolicyIntent {
  return {
    kind: 'eth.transaction',
    operation: 'transfer',
    chain: 'eth',
    chainId: 1,
    keyId: 'hot',
    paths: [[0, 0]],
    initiator: alice,
    transfers,
    ...o,
  };
}
const psbt = (transfers: Transfer[], o: Partial<PolicyIntent> = {}): PolicyIntent =>
  tx(transfers, { kind: 'btc.psbt', chain: 'btc', network: 'mainnet', chainId: undefined, ...o });
const spent = (ago: number, initiator: string, transfers: Transfer[], keyId = 'hot'): SpendRecord => ({
  at: WED_NOON - ago,
  initiator,
  keyId,
  transfers,
});
const raw = (initiator: Initiator): PolicyIntent => ({
  kind: 'raw.digest',
  operation: 'raw_digest',
  keyId: 'hot',
  paths: [[0, 0]],
  initiator,
  transfers: [],
});
const message = (initiator: Initiator): PolicyIntent => ({
  ...raw(initiator),
  kind: 'eth.message',
  operation: 'message',
  chain: 'eth',
});

interface Case {
  readonly name: string;
  readonly intent: PolicyIntent;
  readonly now?: number;
  readonly history?: readonly SpendRecord[];
  readonly expect: [action: 'allow' | 'block' | 'require_approvals', rule: string];
}

const H = 3600;
const ONE_WEI = '0.000000000000000001';
const cases: Case[] = [
  // amount tiers at their boundaries (ETH at $2000)
  { name: 'small transfer to a one-time address', intent: tx([eth('0.4', R)]), expect: ['allow', 'one-time-small'] },
  {
    name: '$1000 exactly is still small (atMost is inclusive)',
    intent: tx([eth('0.5', R)]),
    expect: ['allow', 'one-time-small'],
  },
  {
    name: 'one wei above $1000 needs approvals',
    intent: tx([eth(`0.5${ONE_WEI.slice(3)}`, R)]),
    expect: ['require_approvals', 'one-time'],
  },
  { name: 'whitelisted exchange', intent: tx([eth('10', X1)]), expect: ['allow', 'whitelisted'] },
  {
    name: 'whitelist compares hex addresses case-insensitively',
    intent: tx([eth('10', X2.toUpperCase().replace('0X', '0x'))]),
    expect: ['allow', 'whitelisted'],
  },
  {
    name: '$100k exactly to a whitelisted address is not mid tier',
    intent: tx([eth('50', X1)]),
    expect: ['allow', 'whitelisted'],
  },
  {
    name: 'one wei above $100k is mid tier',
    intent: tx([eth(`50${ONE_WEI.slice(1)}`, X1)]),
    expect: ['require_approvals', 'tier-mid'],
  },
  { name: '$240k whitelisted is mid tier', intent: tx([eth('120', X1)]), expect: ['require_approvals', 'tier-mid'] },
  {
    name: '$1M exactly on the hot key passes the daily cap',
    intent: tx([eth('500', X1)]),
    expect: ['require_approvals', 'tier-mid'],
  },
  {
    name: 'one wei above $1M on the hot key trips the daily cap',
    intent: tx([eth(`500${ONE_WEI.slice(1)}`, X1)]),
    expect: ['block', 'daily-cap'],
  },
  {
    name: 'above $1M on another key is the block tier',
    intent: tx([eth(`500${ONE_WEI.slice(1)}`, X1)], { keyId: 'warm' }),
    expect: ['block', 'tier-block'],
  },
  // velocity per initiator, 1 h window edges
  {
    name: 'initiator velocity counts their own recent spends',
    intent: tx([eth('600', X2)], { keyId: 'warm' }),
    history: [spent(H / 2, 'alice', [eth('500', X1)], 'warm')],
    expect: ['block', 'initiator-hourly'],
  },
  {
    name: 'a spend exactly one window ago no longer counts',
    intent: tx([eth('600', X2)], { keyId: 'warm' }),
    history: [spent(H, 'alice', [eth('500', X1)], 'warm')],
    expect: ['block', 'tier-block'],
  },
  {
    name: 'a spend one second inside the window counts',
    intent: tx([eth('600', X2)], { keyId: 'warm' }),
    history: [spent(H - 1, 'alice', [eth('500', X1)], 'warm')],
    expect: ['block', 'initiator-hourly'],
  },
  {
    name: "another initiator's spends do not count per initiator",
    intent: tx([eth('600', X2)], { keyId: 'warm' }),
    history: [spent(H / 2, 'bob', [eth('500', X1)], 'warm')],
    expect: ['block', 'tier-block'],
  },
  {
    name: 'spends recorded in the future are ignored',
    intent: tx([eth('60', X1)]),
    history: [spent(-10, 'bob', [eth('600', X1)])],
    expect: ['require_approvals', 'tier-mid'],
  },
  // velocity across everything, 24 h window
  {
    name: 'daily cap under the limit with history',
    intent: tx([eth('60', X1)]),
    history: [spent(2 * H, 'bob', [eth('200', R)]), spent(5 * H, 'dave', [eth('200', R2)])],
    expect: ['require_approvals', 'tier-mid'],
  },
  {
    name: 'daily cap over the limit with history',
    intent: tx([eth('101', X1)]),
    history: [spent(2 * H, 'bob', [eth('200', R)]), spent(5 * H, 'dave', [eth('200', R2)])],
    expect: ['block', 'daily-cap'],
  },
  {
    name: "aggregate 'all' counts spends of other keys too",
    intent: tx([eth('60', X1)]),
    history: [spent(2 * H, 'bob', [eth('450', R)], 'warm')],
    expect: ['block', 'daily-cap'],
  },
  {
    name: 'a spend exactly 24 h ago falls out of the daily cap',
    intent: tx([eth('60', X1)]),
    history: [spent(24 * H, 'bob', [eth('450', R)])],
    expect: ['require_approvals', 'tier-mid'],
  },
  // velocity per destination
  {
    name: 'destination velocity at its limit',
    intent: tx([eth('100', X1)], { keyId: 'warm' }),
    history: [spent(2 * H, 'bob', [eth('700', X1)], 'warm'), spent(3 * H, 'dave', [eth('700', X1)], 'warm')],
    expect: ['require_approvals', 'tier-mid'],
  },
  {
    name: 'destination velocity over its limit',
    intent: tx([eth('101', X1)], { keyId: 'warm' }),
    history: [spent(2 * H, 'bob', [eth('700', X1)], 'warm'), spent(3 * H, 'dave', [eth('700', X1)], 'warm')],
    expect: ['block', 'destination-daily'],
  },
  {
    name: 'destination velocity is per destination',
    intent: tx([eth('101', X2)], { keyId: 'warm' }),
    history: [spent(2 * H, 'bob', [eth('700', X1)], 'warm'), spent(3 * H, 'dave', [eth('700', X1)], 'warm')],
    expect: ['require_approvals', 'tier-mid'],
  },
  // first match: sanctions and service rules
  { name: 'sanctioned destination', intent: tx([eth('0.01', S)]), expect: ['block', 'sanctioned'] },
  {
    name: 'sanctioned destination by the sweeper service',
    intent: tx([eth('0.01', S)], { initiator: sweeper }),
    expect: ['block', 'sanctioned'],
  },
  {
    name: 'sweeper to treasury is allowed',
    intent: tx([eth('100', T)], { initiator: sweeper }),
    expect: ['allow', 'sweeper-bot'],
  },
  {
    name: 'sweeper elsewhere falls to the general rules',
    intent: tx([eth('1', X1)], { initiator: sweeper }),
    expect: ['allow', 'whitelisted'],
  },
  {
    name: 'first match wins: the sweeper rule sits above the daily cap',
    intent: tx([eth('600', T)], { initiator: sweeper }),
    history: [spent(H, 'bob', [eth('900', R)])],
    expect: ['allow', 'sweeper-bot'],
  },
  // raw digests
  { name: 'raw digest by an ordinary initiator', intent: raw(alice), expect: ['block', 'raw-block'] },
  {
    name: 'raw digest by break-glass needs approvals',
    intent: raw(bob),
    expect: ['require_approvals', 'raw-breakglass'],
  },
  { name: 'a destination rule never matches a raw digest', intent: raw(sweeper), expect: ['block', 'raw-block'] },
  // derivation paths
  {
    name: 'deposit paths do not spend',
    intent: tx([eth('1', X1)], { paths: [[1, 5]] }),
    expect: ['block', 'deposit-paths'],
  },
  {
    name: 'a path pattern step matches one step only',
    intent: tx([eth('1', X1)], { paths: [[1, 5, 0]] }),
    expect: ['allow', 'whitelisted'],
  },
  {
    name: 'path rule scoped to its key',
    intent: tx([eth('1', X1)], { paths: [[1, 5]], keyId: 'warm' }),
    expect: ['allow', 'whitelisted'],
  },
  {
    name: 'a PSBT with one deposit input and one spend input',
    intent: psbt([btc('0.01', R_BTC)], {
      paths: [
        [0, 0],
        [1, 3],
      ],
    }),
    expect: ['allow', 'one-time-small'],
  },
  {
    name: 'a PSBT spending only deposit inputs',
    intent: psbt([btc('0.01', R_BTC)], {
      paths: [
        [1, 0],
        [1, 3],
      ],
    }),
    expect: ['block', 'deposit-paths'],
  },
  // chains and networks
  { name: 'Sepolia is allowed', intent: tx([eth('5', R)], { chainId: 11155111 }), expect: ['allow', 'sepolia'] },
  {
    name: 'another chain id is not Sepolia',
    intent: tx([eth('5', R)], { chainId: 5 }),
    expect: ['require_approvals', 'one-time'],
  },
  {
    name: 'Bitcoin testnet is allowed',
    intent: psbt([btc('0.1', R_TBTC)], { network: 'testnet' }),
    expect: ['allow', 'btc-test'],
  },
  { name: 'Bitcoin treasury is whitelisted', intent: psbt([btc('0.1', T_BTC)]), expect: ['allow', 'whitelisted'] },
  {
    name: 'a Bitcoin whitelist entry does not whitelist on Ethereum',
    intent: tx([eth('10', T_BTC)]),
    expect: ['require_approvals', 'one-time'],
  },
  {
    name: 'small Bitcoin spend to a one-time address',
    intent: psbt([btc('0.01', R_BTC)]),
    expect: ['allow', 'one-time-small'],
  },
  {
    name: 'every destination must be whitelisted (small total)',
    intent: psbt([btc('0.01', T_BTC), btc('0.005', R_BTC)]),
    expect: ['allow', 'one-time-small'],
  },
  {
    name: 'every destination must be whitelisted (large total)',
    intent: psbt([btc('0.1', T_BTC), btc('0.1', R_BTC)]),
    expect: ['require_approvals', 'one-time'],
  },
  // keys
  {
    name: 'cold key always needs approvals',
    intent: tx([eth('1', X1)], { keyId: 'cold' }),
    expect: ['require_approvals', 'cold-key'],
  },
  // time of day (UTC) at the window's edges
  { name: 'night transfer above $10k', intent: tx([eth('6', X1)]), now: at(2, 23), expect: ['block', 'night'] },
  {
    name: 'night transfer of $10k exactly',
    intent: tx([eth('5', X1)]),
    now: at(2, 23),
    expect: ['allow', 'whitelisted'],
  },
  {
    name: 'the night window ends at 06:00',
    intent: tx([eth('6', X1)]),
    now: at(3, 6),
    expect: ['allow', 'whitelisted'],
  },
  {
    name: 'the night window includes 05:59',
    intent: tx([eth('6', X1)]),
    now: at(3, 5, 59),
    expect: ['block', 'night'],
  },
  { name: 'the night window starts at 22:00', intent: tx([eth('6', X1)]), now: at(2, 22), expect: ['block', 'night'] },
  {
    name: 'the night window excludes 21:59',
    intent: tx([eth('6', X1)]),
    now: at(2, 21, 59),
    expect: ['allow', 'whitelisted'],
  },
  {
    name: 'weekend to a one-time address',
    intent: tx([eth('1', R)]),
    now: SAT_NOON,
    expect: ['require_approvals', 'weekend'],
  },
  {
    name: 'weekend to a whitelisted address',
    intent: tx([eth('1', X1)]),
    now: SAT_NOON,
    expect: ['allow', 'whitelisted'],
  },
  // tokens decoded from calldata
  {
    name: 'ERC-20 approve needs security',
    intent: tx([usdc('1', R)], { operation: 'token_approve' }),
    expect: ['require_approvals', 'token-approve'],
  },
  {
    name: '50,000 USDC exactly is under the token limit',
    intent: tx([usdc('50000', X1)], { operation: 'token_transfer' }),
    expect: ['allow', 'whitelisted'],
  },
  {
    name: 'one unit above 50,000 USDC',
    intent: tx([usdc('50000.000001', X1)], { operation: 'token_transfer' }),
    expect: ['require_approvals', 'usdc-large'],
  },
  {
    name: 'a token rule above a USD tier wins by order',
    intent: tx([usdc('200000', X1)], { operation: 'token_transfer' }),
    expect: ['require_approvals', 'usdc-large'],
  },
  {
    name: 'small token transfer to a one-time address',
    intent: tx([usdc('500', R)], { operation: 'token_transfer' }),
    expect: ['allow', 'one-time-small'],
  },
  {
    name: 'larger token transfer to a one-time address',
    intent: tx([usdc('5000', R)], { operation: 'token_transfer' }),
    expect: ['require_approvals', 'one-time'],
  },
  // fail closed without a price
  {
    name: 'an unpriced token fails closed at the first USD rule',
    intent: tx([{ asset: UNPRICED, destination: X1, amount: 1n }], { operation: 'token_transfer' }),
    expect: ['block', 'daily-cap'],
  },
  {
    name: 'an unpriced token on another key fails closed too',
    intent: tx([{ asset: UNPRICED, destination: X1, amount: 1n }], { operation: 'token_transfer', keyId: 'warm' }),
    expect: ['block', 'initiator-hourly'],
  },
  {
    name: 'an unpriced token in the history fails closed',
    intent: tx([eth('1', X1)]),
    history: [spent(H, 'bob', [{ asset: UNPRICED, destination: R, amount: 5n }])],
    expect: ['block', 'daily-cap'],
  },
  // messages, typed data, contract calls
  { name: 'personal_sign by an initiator', intent: message(alice), expect: ['allow', 'messages'] },
  { name: 'personal_sign by a viewer', intent: message(vic), expect: ['block', DEFAULT_DENY_RULE] },
  {
    name: 'velocity never trips on a message',
    intent: message(alice),
    history: [spent(H, 'alice', [eth('5000', R)])],
    expect: ['allow', 'messages'],
  },
  {
    name: 'EIP-712 typed data needs security',
    intent: { ...message(alice), kind: 'eth.typed_data', operation: 'typed_data' },
    expect: ['require_approvals', 'typed-data'],
  },
  {
    name: 'contract call to a known DeFi router',
    intent: tx([eth('0', D)], { operation: 'contract_call' }),
    expect: ['require_approvals', 'defi-calls'],
  },
  {
    name: 'contract call with value to a known DeFi router',
    intent: tx([eth('1', D)], { operation: 'contract_call' }),
    expect: ['require_approvals', 'defi-calls'],
  },
  {
    name: 'contract call to an unknown contract',
    intent: tx([eth('0', R)], { operation: 'contract_call' }),
    expect: ['block', DEFAULT_DENY_RULE],
  },
];

describe('policy decision table (reference policy)', () => {
  it('has at least 60 cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(60);
  });
  it.each(cases)('$name', (c) => {
    const d = evaluatePolicy(policy, c.intent, { now: c.now ?? WED_NOON, history: c.history ?? [] });
    expect([d.action, d.ruleId]).toEqual(c.expect);
    expect(d.policyVersion).toBe(7);
    expect(d.reason).toContain(c.expect[1] === DEFAULT_DENY_RULE ? 'no rule matched' : c.expect[1]);
    if (d.action === 'require_approvals') expect(d.approvals?.groups.length).toBeGreaterThan(0);
    else expect(d.approvals).toBeUndefined();
  });
  // the party's running totals (src/policy/velocity.ts) must decide exactly as the history does
  it.each(cases)('$name (running velocity totals)', (c) => {
    const now = c.now ?? WED_NOON;
    const history = c.history ?? [];
    const fromHistory = evaluatePolicy(policy, c.intent, { now, history });
    const totals = new VelocityTotals(
      policy,
      history.map((h, k) => ({ ...h, request: k.toString(16).padStart(64, '0') })),
      now - 31 * 86_400,
    );
    const velocity = { windowTotal: (rule: CompiledRule, scope: string) => totals.windowTotal(rule, scope, now) };
    expect(evaluatePolicy(policy, c.intent, { now, history: [], velocity })).toEqual(fromHistory);
  });
});
