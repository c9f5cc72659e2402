/**
 * The policy document's schema: one TypeBox schema is the source of validation, the TypeScript
 * types and the JSON Schema published for policy authors (`policyJsonSchema`).
 *
 * Model (docs/PRODUCT.md §2.4, after Fireblocks' TAP): ordered rules, first match wins, an implicit
 * block-all after the last rule. A rule matches when every predicate it names holds (an absent
 * predicate matches anything); its action is allow, block or require approvals.
 */
import Type, { type Static } from 'typebox';

/** Payload kinds of src/chains (the policy layer names them without importing the decoders). */
export const PAYLOAD_KINDS = ['eth.transaction', 'eth.message', 'eth.typed_data', 'btc.psbt', 'raw.digest'] as const;
export type PayloadKind = (typeof PAYLOAD_KINDS)[number];

/** What a request does, as decoded from its payload. */
export const OPERATIONS = [
  'transfer', // native value to an address (Ethereum value transfer without calldata, Bitcoin spend)
  'token_transfer', // ERC-20 transfer(to, amount)
  'token_approve', // ERC-20 approve(spender, amount): the spender counts as the destination
  'contract_call', // any other calldata (value, if any, counts as a native transfer to the contract)
  'message', // EIP-191 personal_sign
  'typed_data', // EIP-712
  'raw_digest', // a bare 32-byte digest: the most dangerous kind, nothing can be checked
] as const;
export type Operation = (typeof OPERATIONS)[number];

export const CHAINS = ['eth', 'btc'] as const;
export type Chain = (typeof CHAINS)[number];
/** The same names as src/chains uses. */
export const BTC_NETWORKS = ['mainnet', 'testnet', 'regtest'] as const;
export type BtcNetwork = (typeof BTC_NETWORKS)[number];
export const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
export type Weekday = (typeof WEEKDAYS)[number];
export const AGGREGATIONS = ['initiator', 'destination', 'key', 'all'] as const;
export type Aggregation = (typeof AGGREGATIONS)[number];

const Id = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$', description: 'an identifier' });
/** An asset: `ETH` (native ether on any EVM chain), `BTC`, or `erc20:0x…` (a token contract). */
const AssetId = Type.String({
  pattern: '^(ETH|BTC|erc20:0x[0-9a-fA-F]{40})$',
  description: 'ETH, BTC or erc20:<contract address>',
});
/** A non-negative decimal amount: base units (wei, satoshi) in `native`, dollars in `USD`. */
const Amount = Type.String({ pattern: '^(0|[1-9][0-9]{0,77})(\\.[0-9]{1,18})?$', description: 'a decimal amount' });
const Address = Type.String({ minLength: 14, maxLength: 100, pattern: '^[A-Za-z0-9]+$' });
/** Derivation path pattern: `0/1/*`, `0/**`, `*` (one step), `**` (any rest, including none). */
const PathPattern = Type.String({ pattern: '^(\\*\\*|\\*|[0-9]{1,10})(/(\\*\\*|\\*|[0-9]{1,10}))*$' });
const Clock = Type.String({ pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$', description: 'HH:MM' });

const Unique = <T extends Type.TSchema>(items: T, max = 256) =>
  Type.Array(items, { minItems: 1, maxItems: max, uniqueItems: true });

/** Who: operator ids, roles, or operator groups (from the operator registry); any one suffices. */
export const PrincipalSet = Type.Object(
  {
    operators: Type.Optional(Unique(Id)),
    roles: Type.Optional(Unique(Id)),
    groups: Type.Optional(Unique(Id)),
  },
  { additionalProperties: false, minProperties: 1 },
);

export const AmountPredicate = Type.Object(
  {
    currency: Type.Union([Type.Literal('native'), Type.Literal('USD')]),
    /** Matches when the request's total is strictly above this (Fireblocks' "exceeds"). */
    above: Type.Optional(Amount),
    /** Matches when the request's total is at most this. */
    atMost: Type.Optional(Amount),
  },
  { additionalProperties: false, minProperties: 2 },
);

export const VelocityPredicate = Type.Object(
  {
    windowSeconds: Type.Integer({ minimum: 1, maximum: 31 * 24 * 3600 }),
    currency: Type.Union([Type.Literal('native'), Type.Literal('USD')]),
    /** Matches when what was signed in the window plus this request is strictly above the limit. */
    above: Amount,
    /** Which history counts: the same initiator, the same destination, the same key, or all. */
    aggregate: Type.Enum(AGGREGATIONS),
  },
  { additionalProperties: false },
);

export const TimeWindow = Type.Object(
  {
    days: Type.Optional(Unique(Type.Enum(WEEKDAYS), 7)),
    /** [from, to) in local time; from > to wraps past midnight. */
    from: Type.Optional(Clock),
    to: Type.Optional(Clock),
    /** Offset of local time from UTC in minutes (e.g. 60 for UTC+1); 0 by default. */
    utcOffsetMinutes: Type.Optional(Type.Integer({ minimum: -14 * 60, maximum: 14 * 60 })),
  },
  { additionalProperties: false, minProperties: 1 },
);

export const Match = Type.Object(
  {
    kinds: Type.Optional(Unique(Type.Enum(PAYLOAD_KINDS))),
    operations: Type.Optional(Unique(Type.Enum(OPERATIONS))),
    chains: Type.Optional(Unique(Type.Enum(CHAINS))),
    /** Ethereum chain ids (EIP-155). A request on another chain (or not on Ethereum) does not match. */
    chainIds: Type.Optional(Unique(Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }))),
    networks: Type.Optional(Unique(Type.Enum(BTC_NETWORKS))),
    /** Key ids; `*` for any. */
    keys: Type.Optional(Unique(Type.Union([Id, Type.Literal('*')]))),
    /** Every path the request signs under must match one of these patterns. */
    paths: Type.Optional(Unique(PathPattern)),
    initiators: Type.Optional(PrincipalSet),
    /** Every destination must be in one of these address-book entries or listed addresses. */
    destinations: Type.Optional(
      Type.Object(
        { addressBook: Type.Optional(Unique(Id)), addresses: Type.Optional(Unique(Address)) },
        { additionalProperties: false, minProperties: 1 },
      ),
    ),
    /** Every asset the request moves must be one of these. */
    assets: Type.Optional(Unique(AssetId)),
    amount: Type.Optional(AmountPredicate),
    velocity: Type.Optional(VelocityPredicate),
    time: Type.Optional(TimeWindow),
  },
  { additionalProperties: false },
);

export const ApprovalGroup = Type.Object(
  {
    name: Id,
    members: PrincipalSet,
    threshold: Type.Integer({ minimum: 1, maximum: 64 }),
  },
  { additionalProperties: false },
);

export const ApprovalSpec = Type.Object(
  {
    groups: Type.Array(ApprovalGroup, { minItems: 1, maxItems: 16 }),
    /** `all`: every group's threshold must be met; `any`: one group suffices. */
    combine: Type.Union([Type.Literal('all'), Type.Literal('any')]),
    /** Whether the initiator's own approval counts (off by default). */
    allowInitiator: Type.Optional(Type.Boolean()),
    /** Approvals (and the request waiting for them) expire after this long. */
    timeoutSeconds: Type.Integer({ minimum: 60, maximum: 7 * 24 * 3600 }),
  },
  { additionalProperties: false },
);

export const Rule = Type.Object(
  {
    id: Id,
    description: Type.Optional(Type.String({ maxLength: 500 })),
    match: Match,
    action: Type.Union([Type.Literal('allow'), Type.Literal('block'), Type.Literal('require_approvals')]),
    approvals: Type.Optional(ApprovalSpec),
  },
  { additionalProperties: false },
);

export const AddressBookEntry = Type.Object(
  {
    chain: Type.Enum(CHAINS),
    addresses: Unique(Address, 10_000),
  },
  { additionalProperties: false },
);

export const Price = Type.Object(
  {
    /** Decimals of the asset's base unit (18 for ETH, 8 for BTC, the token's own). */
    decimals: Type.Integer({ minimum: 0, maximum: 36 }),
    /** Price of one whole unit in USD. */
    usd: Amount,
  },
  { additionalProperties: false },
);

export const PolicyDocumentSchema = Type.Object(
  {
    schema: Type.Literal('mpc-custody/policy@1'),
    /** Monotonic version: parties never accept an older one than they hold. */
    version: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }),
    description: Type.Optional(Type.String({ maxLength: 2000 })),
    addressBook: Type.Optional(Type.Record(Id, AddressBookEntry)),
    /** Prices for USD amounts; the snapshot is part of the signed version, so every party agrees. */
    prices: Type.Optional(Type.Record(AssetId, Price)),
    rules: Type.Array(Rule, { minItems: 1, maxItems: 1000 }),
  },
  { additionalProperties: false },
);

export type PrincipalSet = Static<typeof PrincipalSet>;
export type AmountPredicate = Static<typeof AmountPredicate>;
export type VelocityPredicate = Static<typeof VelocityPredicate>;
export type TimeWindow = Static<typeof TimeWindow>;
export type Match = Static<typeof Match>;
export type ApprovalGroup = Static<typeof ApprovalGroup>;
export type ApprovalSpec = Static<typeof ApprovalSpec>;
export type Rule = Static<typeof Rule>;
export type PolicyDocument = Static<typeof PolicyDocumentSchema>;

/** The JSON Schema (draft 2020-12 compatible) published for policy authors and editors. */
export const policyJsonSchema: object = PolicyDocumentSchema;
