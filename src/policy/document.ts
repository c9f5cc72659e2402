/**
 * Reads a policy document (JSON or YAML) into a validated, frozen, compiled policy: the schema
 * check first (src/policy/schema.ts), then the checks a schema cannot express (unique rule ids,
 * approvals present exactly for `require_approvals`, address-book labels that exist, native
 * amounts on exactly one asset, consistent bounds), then every amount parsed once so evaluation
 * does no parsing on the signing path.
 */
import { Compile } from 'typebox/compile';
import { parse as parseYaml } from 'yaml';
import { MpcError } from '../errors/index.js';
import { parseBaseUnits, parseUsd } from './amount.js';
import { normalizeAddress, normalizeAsset } from './intent.js';
import { type PolicyDocument, PolicyDocumentSchema, type Rule } from './schema.js';
import { assertSchema } from './schema-check.js';

/** Larger documents are refused before parsing. */
export const MAX_POLICY_BYTES = 1 << 20;

const checkDocument = Compile(PolicyDocumentSchema);

export interface CompiledAmount {
  readonly currency: 'native' | 'USD';
  readonly above?: bigint;
  readonly atMost?: bigint;
}

export interface CompiledVelocity {
  readonly windowSeconds: number;
  readonly currency: 'native' | 'USD';
  readonly above: bigint;
  readonly aggregate: 'initiator' | 'destination' | 'key' | 'all';
}

export interface CompiledRule {
  readonly rule: Rule;
  /** Destination addresses per chain (address book entries resolved), normalised. */
  readonly destinations?: { readonly eth: ReadonlySet<string>; readonly btc: ReadonlySet<string> };
  readonly assets?: ReadonlySet<string>;
  readonly paths?: readonly (readonly string[])[];
  readonly amount?: CompiledAmount;
  readonly velocity?: CompiledVelocity;
  /** The single asset of a `native` amount or velocity. */
  readonly nativeAsset?: string;
}

export interface CompiledPrice {
  readonly decimals: number;
  readonly usd: bigint;
}

export interface Policy {
  readonly document: PolicyDocument;
  readonly version: number;
  readonly rules: readonly CompiledRule[];
  readonly prices: ReadonlyMap<string, CompiledPrice>;
}

/** The longest velocity window of a policy's rules (0 when it has none): how far back its history must reach. */
export function longestVelocityWindow(policy: Policy): number {
  return policy.rules.reduce((w, r) => Math.max(w, r.velocity?.windowSeconds ?? 0), 0);
}

const invalid = (message: string, path?: string) =>
  new MpcError(
    'ERR_POLICY_DOCUMENT_INVALID',
    path === undefined ? message : `policy document ${path}: ${message}`,
    path === undefined ? {} : { details: { path } },
  );

/**
 * Parses policy text. JSON is tried when the text starts with `{`, YAML otherwise (YAML 1.2 with
 * duplicate keys refused and aliases bounded).
 *
 * @throws MpcError ERR_POLICY_TOO_LARGE, ERR_POLICY_DOCUMENT_INVALID (naming the field's path)
 */
export function parsePolicy(text: string | Uint8Array): Policy {
  const size = typeof text === 'string' ? Buffer.byteLength(text, 'utf8') : text.length;
  if (size > MAX_POLICY_BYTES) {
    throw new MpcError('ERR_POLICY_TOO_LARGE', `policy document is ${size} bytes, above ${MAX_POLICY_BYTES}`);
  }
  let value: unknown;
  try {
    const s = typeof text === 'string' ? text : new TextDecoder('utf-8', { fatal: true }).decode(text);
    value = s.trimStart().startsWith('{') ? JSON.parse(s) : parseYaml(s, { uniqueKeys: true, maxAliasCount: 100 });
  } catch {
    // The parser's message may quote the document; say only what kind of failure it was.
    throw invalid('policy document is not UTF-8 JSON or YAML');
  }
  return compilePolicy(value);
}

/** Validates an already-parsed document. */
export function compilePolicy(value: unknown): Policy {
  assertSchema(checkDocument, value, 'ERR_POLICY_DOCUMENT_INVALID', 'policy document');
  const doc = value as PolicyDocument;
  const ids = new Set<string>();
  const rules = doc.rules.map((rule, k) => {
    const at = `/rules/${k}`;
    if (ids.has(rule.id)) throw invalid(`rule id ${rule.id} appears twice`, `${at}/id`);
    ids.add(rule.id);
    return compileRule(doc, rule, at);
  });
  const prices = new Map<string, CompiledPrice>();
  for (const [asset, p] of Object.entries(doc.prices ?? {})) {
    prices.set(normalizeAsset(asset), { decimals: p.decimals, usd: parseUsd(p.usd, `prices.${asset}.usd`) });
  }
  return deepFreeze({ document: doc, version: doc.version, rules, prices });
}

function compileRule(doc: PolicyDocument, rule: Rule, at: string): CompiledRule {
  const m = rule.match;
  if ((rule.action === 'require_approvals') !== (rule.approvals !== undefined)) {
    throw invalid(`rule ${rule.id}: approvals are required with require_approvals and only there`, at);
  }
  for (const g of rule.approvals?.groups ?? []) {
    const listed = g.members.operators?.length ?? 0;
    if (g.members.roles === undefined && g.members.groups === undefined && g.threshold > listed) {
      throw invalid(`rule ${rule.id}: approval group ${g.name} needs ${g.threshold} of ${listed} operators`, at);
    }
  }
  let destinations: CompiledRule['destinations'];
  if (m.destinations !== undefined) {
    const eth = new Set<string>();
    const btc = new Set<string>();
    for (const label of m.destinations.addressBook ?? []) {
      const entry = doc.addressBook?.[label];
      if (entry === undefined) throw invalid(`rule ${rule.id}: address book has no entry ${label}`, `${at}/match`);
      for (const a of entry.addresses) (entry.chain === 'eth' ? eth : btc).add(normalizeAddress(a));
    }
    for (const a of m.destinations.addresses ?? []) {
      const n = normalizeAddress(a);
      eth.add(n);
      btc.add(n);
    }
    destinations = { eth, btc };
  }
  const usesNative = m.amount?.currency === 'native' || m.velocity?.currency === 'native';
  if (usesNative && m.assets?.length !== 1) {
    throw invalid(`rule ${rule.id}: a native amount needs exactly one asset in match.assets`, `${at}/match`);
  }
  const parse = (currency: 'native' | 'USD', v: string, what: string) =>
    currency === 'native' ? parseBaseUnits(v, what) : parseUsd(v, what);
  let amount: CompiledAmount | undefined;
  if (m.amount !== undefined) {
    const a = m.amount;
    const above = a.above === undefined ? undefined : parse(a.currency, a.above, `rule ${rule.id} amount.above`);
    const atMost = a.atMost === undefined ? undefined : parse(a.currency, a.atMost, `rule ${rule.id} amount.atMost`);
    if (above !== undefined && atMost !== undefined && atMost <= above) {
      throw invalid(`rule ${rule.id}: amount.atMost must be above amount.above`, `${at}/match/amount`);
    }
    amount = {
      currency: a.currency,
      ...(above === undefined ? {} : { above }),
      ...(atMost === undefined ? {} : { atMost }),
    };
  }
  let velocity: CompiledVelocity | undefined;
  if (m.velocity !== undefined) {
    const v = m.velocity;
    velocity = { ...v, above: parse(v.currency, v.above, `rule ${rule.id} velocity.above`) };
  }
  const t = m.time;
  if (t !== undefined && (t.from === undefined) !== (t.to === undefined)) {
    throw invalid(`rule ${rule.id}: time.from and time.to go together`, `${at}/match/time`);
  }
  if (t?.from !== undefined && t.from === t.to)
    throw invalid(`rule ${rule.id}: time window is empty`, `${at}/match/time`);
  return {
    rule,
    ...(destinations === undefined ? {} : { destinations }),
    ...(m.assets === undefined ? {} : { assets: new Set(m.assets.map(normalizeAsset)) }),
    ...(m.paths === undefined ? {} : { paths: m.paths.map((p) => p.split('/')) }),
    ...(amount === undefined ? {} : { amount }),
    ...(velocity === undefined ? {} : { velocity }),
    ...(usesNative ? { nativeAsset: normalizeAsset(m.assets?.[0] as string) } : {}),
  };
}

function deepFreeze<T>(o: T): T {
  if (o !== null && typeof o === 'object' && !Object.isFrozen(o) && !(o instanceof Set) && !(o instanceof Map)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}
