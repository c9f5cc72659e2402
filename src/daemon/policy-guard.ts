import { type BtcNetwork, type ChainKey, type DecodedPayload, decodePayload } from '../chains/index.js';
import { type ErrorCode, MpcError } from '../errors/index.js';
import {
  type AdminSet,
  type Authorization,
  acceptUpdate,
  authorizeSignRequest,
  CachingJwsVerifier,
  type DecodedIntent,
  intentFromPayload,
  longestVelocityWindow,
  MAX_CLOCK_SKEW_SECONDS,
  MAX_REQUEST_LIFETIME_SECONDS,
  type PayloadKind,
  type PolicyVersion,
  type RegistryVersion,
  recheckAuthorization,
  replacedBefore,
  requestDigest,
  type VelocitySource,
  VelocityTotals,
  verifySignedPolicy,
  verifySignedRegistry,
} from '../policy/index.js';
import { type LedgerSpend, MAX_SPENDS_READ, type PartyLedger } from '../storage/party-ledger.js';
import type { SignAuthorization } from './control.js';

/**
 * The co-signer check at a party (issue #14): what makes the parties custody rather than a signing
 * oracle for whoever holds the coordinator key.
 *
 * Trust roots: the admin set (k of m public keys) comes from the party's own config, never from
 * the network. Policy versions and the operator registry arrive over the control plane (relayed by
 * the coordinator, which cannot forge them) and are stored in the ledger only after the admin
 * quorum verifies and `acceptUpdate` says they move forward (never older, never a fork). Stored
 * documents are verified again at every start.
 *
 * Before a presignature is loaded, `authorize` runs src/policy's `authorizeSignRequest` with the
 * party's own registry, its own current policy version and its own spend history; it also holds
 * the command to what the initiator signed (key, kind; the path is checked by the caller against
 * the presignature). Then `commit` re-decides the request against the velocity totals of that
 * moment and consumes, in one synchronous step: the spend is written in the consume's transaction
 * and added to the totals right after it commits, so two concurrent signs cannot both pass a limit
 * that together they exceed (no lock is held across the awaits in between).
 *
 * Velocity history: running totals per velocity rule (src/policy/velocity.ts), loaded from the
 * ledger's spend records once per policy version (and again whenever the ledger's spend records
 * changed other than through `commit`, or the clock went back further than what is held). The
 * ledger stays the durable record; the totals are derived from it.
 *
 * Signatures: each request's and approval's JWS is verified, except that the same exact token
 * verified before with the same key object is not verified again (bounded cache); every other
 * check runs on every sign. Operator keys are imported once per registry version and the policy
 * parsed once per version (both held from `accept`/`load`).
 *
 * Policy versions: the current one, and each version it replaced for as long as a request issued
 * before the replacement can still be valid (MAX_REQUEST_LIFETIME_SECONDS + skew). A request is
 * signed under a replaced version only if the initiator issued it (signed `iat`) before this party
 * replaced that version: in-flight requests keep the version they were evaluated (and approved)
 * under, while a compromised coordinator cannot steer a newer request to an older, looser version.
 */
export type PartyPolicy =
  /** `admins` undefined: fail closed (no admin set configured: nothing is ever held, every sign refused). */
  | { readonly mode: 'enforce'; readonly admins: AdminSet | undefined }
  /** Explicit opt-out: the party signs whatever the coordinator sends (a warning at every start). */
  | { readonly mode: 'off' };

/** Longest velocity window a policy may name (src/policy/schema.ts): older spends never count. */
export const MAX_VELOCITY_WINDOW_SECONDS = 31 * 24 * 3600;

export interface SignCheck {
  readonly keyId: string;
  readonly kind: PayloadKind;
  readonly payload: Uint8Array;
  readonly network: BtcNetwork;
  readonly authorization: SignAuthorization | undefined;
  /** The key's public key and chain code (PSBT change detection); undefined for other kinds. */
  readonly key: ChainKey | undefined;
  /**
   * `decodePayload(kind, payload, {key, network})` when the caller decoded it already (the sign
   * path does, for the digest): the same decoding, not done twice. Absent: the guard decodes.
   */
  readonly decoded?: DecodedPayload;
}

export interface SignPermit {
  /** The derivation path the initiator signed for (non-PSBT kinds; the caller compares it with the presignature's). */
  readonly path: readonly number[] | undefined;
  /** Written with the consume. */
  readonly spend: LedgerSpend;
  readonly ruleId: string;
  readonly policyVersion: number;
  /** What `commit` re-decides against (opaque to callers). */
  readonly checked: {
    readonly authorization: Authorization;
    readonly policy: PolicyVersion;
    readonly registry: RegistryVersion;
    readonly now: number;
  };
}

/** How long a replaced policy version is kept: the longest a request issued before then stays valid. */
export const KEEP_SUPERSEDED_SECONDS = MAX_REQUEST_LIFETIME_SECONDS + MAX_CLOCK_SKEW_SECONDS;
/** Velocity totals kept at once (the current version and replaced ones that in-flight requests use). */
const MAX_TOTALS = 4;

interface HeldTotals {
  readonly policy: PolicyVersion;
  readonly totals: VelocityTotals;
  generation: string;
}

export interface HeldDocument {
  readonly version: number;
  readonly hash: string;
}

const refusal = (code: ErrorCode, message: string, rule: string) => new MpcError(code, message, { details: { rule } });

export class PolicyGuard {
  readonly #policy: PartyPolicy;
  readonly #ledger: PartyLedger;
  #current: PolicyVersion | undefined;
  /** Versions #current replaced, by version, with when they were replaced here (unix seconds). */
  readonly #superseded = new Map<number, { readonly policy: PolicyVersion; readonly at: number }>();
  #registry: RegistryVersion | undefined;
  /** Running velocity totals per policy version in use, and the ledger's spend generation each reflects. */
  readonly #totals = new Map<PolicyVersion, HeldTotals>();
  readonly #jws = new CachingJwsVerifier();

  constructor(policy: PartyPolicy, ledger: PartyLedger) {
    this.#policy = policy;
    this.#ledger = ledger;
  }

  get enforcing(): boolean {
    return this.#policy.mode === 'enforce';
  }

  /** Enforcing without an admin set: every sign is refused (config without a policy section). */
  get unconfigured(): boolean {
    return this.#policy.mode === 'enforce' && this.#policy.admins === undefined;
  }

  get policyVersion(): number {
    return this.#current?.version ?? 0;
  }

  get registryVersion(): number {
    return this.#registry?.version ?? 0;
  }

  /**
   * Loads the stored documents, verifying each again against the configured admin set. A document
   * that no longer verifies (the admin set changed) is not held; the caller logs what is returned.
   */
  async load(): Promise<Array<{ kind: 'policy' | 'registry'; code: string }>> {
    const dropped: Array<{ kind: 'policy' | 'registry'; code: string }> = [];
    if (this.#policy.mode !== 'enforce' || this.#policy.admins === undefined) return dropped;
    const admins = this.#policy.admins;
    for (const d of this.#ledger.policyDocuments()) {
      try {
        if (d.kind === 'policy') {
          const v = await verifySignedPolicy(d.document, admins);
          if (v.version !== d.version || v.hash !== d.hash)
            throw new MpcError('ERR_LEDGER_CORRUPT', 'stored policy differs from its row');
          this.#current = v;
        } else {
          const v = await verifySignedRegistry(d.document, admins);
          if (v.version !== d.version || v.hash !== d.hash)
            throw new MpcError('ERR_LEDGER_CORRUPT', 'stored registry differs from its row');
          this.#registry = v;
        }
      } catch (e) {
        dropped.push({ kind: d.kind, code: e instanceof MpcError ? e.code : 'ERR_POLICY_SIGNED_MALFORMED' });
      }
    }
    for (const d of this.#ledger.supersededPolicies()) {
      try {
        const v = await verifySignedPolicy(d.document, admins);
        if (v.version !== d.version || v.hash !== d.hash)
          throw new MpcError('ERR_LEDGER_CORRUPT', 'stored policy differs from its row');
        if (this.#current !== undefined && v.version < this.#current.version)
          this.#superseded.set(v.version, { policy: v, at: Math.floor(d.supersededAt / 1000) });
      } catch (e) {
        dropped.push({ kind: 'policy', code: e instanceof MpcError ? e.code : 'ERR_POLICY_SIGNED_MALFORMED' });
      }
    }
    return dropped;
  }

  /**
   * Verifies an admin-signed policy version or operator registry and, if it moves forward, stores
   * it (then holds it). The same document again is accepted and changes nothing.
   *
   * @throws MpcError ERR_POLICY_ADMIN_SET_INVALID (enforcement off: no admin set), ERR_POLICY_QUORUM,
   *   ERR_POLICY_SIGNED_MALFORMED, ERR_POLICY_VERSION_OLD, ERR_POLICY_VERSION_CONFLICT, document errors
   */
  async accept(
    kind: 'policy' | 'registry',
    document: Uint8Array,
    nowSeconds = Math.floor(Date.now() / 1000),
  ): Promise<HeldDocument> {
    if (this.#policy.mode !== 'enforce' || this.#policy.admins === undefined) {
      throw new MpcError('ERR_POLICY_ADMIN_SET_INVALID', 'this party has no admin set configured');
    }
    const admins = this.#policy.admins;
    if (kind === 'policy') {
      const v = await verifySignedPolicy(document, admins);
      const held = acceptUpdate(this.#current, v, 'policy');
      const replaced = this.#current;
      if (held !== replaced) {
        this.#ledger.putPolicyDocument(
          { kind, version: v.version, hash: v.hash, document },
          { nowMs: nowSeconds * 1000, keepSupersededMs: KEEP_SUPERSEDED_SECONDS * 1000 },
        );
        this.#current = held;
        if (replaced !== undefined) this.#superseded.set(replaced.version, { policy: replaced, at: nowSeconds });
        for (const [version, s] of this.#superseded) {
          if (s.at < nowSeconds - KEEP_SUPERSEDED_SECONDS) this.#superseded.delete(version);
        }
      }
      return { version: held.version, hash: held.hash };
    }
    const v = await verifySignedRegistry(document, admins);
    const held = acceptUpdate(this.#registry, v, 'operator registry');
    if (held !== this.#registry) {
      this.#ledger.putPolicyDocument({ kind, version: v.version, hash: v.hash, document });
      this.#registry = held;
    }
    return { version: held.version, hash: held.hash };
  }

  /**
   * The co-signer check for one sign command; undefined when enforcement is off. Runs before any
   * presignature is loaded: a refusal leaves the ledger untouched.
   *
   * @throws MpcError ERR_POLICY_* (details.rule names the rule or the check) or a decoder's ERR_CHAIN_*
   */
  async authorize(c: SignCheck, nowSeconds: number): Promise<SignPermit | undefined> {
    if (this.#policy.mode !== 'enforce') return undefined;
    const a = c.authorization;
    if (a === undefined) {
      throw refusal('ERR_POLICY_REQUEST_INVALID', 'sign command carries no signed request', 'request-required');
    }
    const current = this.#current;
    const registry = this.#registry;
    if (this.unconfigured) {
      throw refusal(
        'ERR_POLICY_ADMIN_SET_INVALID',
        'no admin set configured (party config has no policy section): signing refused',
        'admin-set',
      );
    }
    if (current === undefined || registry === undefined) {
      throw refusal(
        'ERR_POLICY_VERSION_UNKNOWN',
        `this party holds no ${current === undefined ? 'policy' : 'operator registry'} yet`,
        'policy-held',
      );
    }
    // the version the request names, if held (else authorizeSignRequest refuses it, after the
    // request itself was verified)
    const policy = this.#superseded.get(a.policyVersion)?.policy ?? current;
    const policies = new Map<number, PolicyVersion>([[current.version, current]]);
    const supersededAt = new Map<number, number>();
    for (const [version, s] of this.#superseded) {
      policies.set(version, s.policy);
      supersededAt.set(version, s.at);
    }
    // this request's own record (another input of the same PSBT signed before, a retry) must not
    // count against it a second time
    const digest = requestDigest(a.signedRequest);
    this.#velocity(policy, nowSeconds);
    const velocity = this.#source(policy, nowSeconds, digest);
    let signedPath: readonly number[] | undefined;
    const auth = await authorizeSignRequest(
      {
        signedRequest: a.signedRequest,
        payload: c.payload,
        keyId: c.keyId,
        policyVersion: a.policyVersion,
        approvals: a.approvals,
        network: c.network,
      },
      {
        policies,
        supersededAt,
        registry: registry.registry,
        history: [],
        velocity,
        jws: this.#jws,
        now: nowSeconds,
        decode: (kind, payload, path): DecodedIntent => {
          // the party signs what the command names: it must be what the initiator signed
          if (kind !== c.kind) {
            throw refusal(
              'ERR_POLICY_REQUEST_INVALID',
              `sign command kind ${c.kind} differs from the signed request's ${kind}`,
              'request-kind',
            );
          }
          signedPath = path;
          const ctx = { ...(c.key ? { key: c.key } : {}), network: c.network };
          // the caller's decoding is of these very bytes (the signed request's hash was checked against
          // `payload`, which is c.payload) under the same kind, key and network
          const decoded =
            c.decoded !== undefined && payload === c.payload ? c.decoded : decodePayload(kind, payload, ctx);
          return intentFromPayload(decoded, path);
        },
      },
    );
    const spend: LedgerSpend = { ...auth.spend, request: auth.request.digest };
    return {
      path: c.kind === 'btc.psbt' ? undefined : (signedPath ?? []),
      spend,
      ruleId: auth.decision.ruleId,
      policyVersion: auth.decision.policyVersion,
      checked: { authorization: auth, policy, registry, now: nowSeconds },
    };
  }

  /**
   * Re-decides a permitted request against the velocity totals of this moment, then runs
   * `consume` (the ledger's consume, writing `spend` in its transaction) and adds the spend to the
   * totals, all in one synchronous step; without a permit (enforcement off) only consumes.
   * A refusal here consumes nothing.
   *
   * @throws MpcError ERR_POLICY_* naming the rule (a concurrent spend moved the decision, or the
   *   policy version changed since `authorize`), or what `consume` throws
   */
  commit(permit: SignPermit | undefined, consume: (spend: LedgerSpend | undefined) => boolean | undefined): void {
    if (permit === undefined) {
      if (this.enforcing) throw refusal('ERR_POLICY_REQUEST_INVALID', 'no permit for this sign', 'request-required');
      consume(undefined);
      return;
    }
    const { authorization, policy, registry, now } = permit.checked;
    // still held, and (if replaced since `authorize`) replaced after the request was issued
    const replaced = this.#superseded.get(policy.version);
    if (policy !== this.#current && replaced?.policy !== policy) {
      throw refusal(
        'ERR_POLICY_VERSION_UNKNOWN',
        `policy version ${policy.version} is no longer held here: sign again`,
        'policy-held',
      );
    }
    const iat = authorization.request.request.iat;
    if (replaced !== undefined && iat >= replaced.at) throw replacedBefore(policy.version, replaced.at, iat);
    const held = this.#velocity(policy, now);
    recheckAuthorization(authorization, policy, registry.registry, {
      now,
      history: [],
      velocity: this.#source(policy, now, permit.spend.request, held),
    });
    const recorded = consume(permit.spend) === true;
    if (recorded) held.totals.add(permit.spend);
    held.generation = this.#ledger.spendGeneration();
  }

  /**
   * The running totals for `policy` that cover `now`, (re)loaded from the ledger when missing, for
   * another policy, stale (spend records written other than through `commit`) or not reaching back
   * far enough. Only as far back as the policy's longest velocity window (none: nothing is read).
   * A read that hits the ledger's row cap would undercount the window's total and let a limit be
   * exceeded: refuse instead (fail closed).
   */
  #velocity(policy: PolicyVersion, now: number): HeldTotals {
    const generation = this.#ledger.spendGeneration();
    let held = this.#totals.get(policy);
    if (held === undefined || held.generation !== generation || !held.totals.covers(now)) {
      this.#totals.delete(policy);
      const window = Math.min(longestVelocityWindow(policy.policy), MAX_VELOCITY_WINDOW_SECONDS);
      const since = now - window;
      const rows = window === 0 ? [] : this.#ledger.spendsSince(since);
      if (rows.length >= MAX_SPENDS_READ) throw truncated(window);
      held = { policy, totals: new VelocityTotals(policy.policy, rows, since), generation };
      this.#totals.set(policy, held);
      // the least recently loaded go first: versions no request names any more
      for (const old of this.#totals.keys()) {
        if (this.#totals.size <= MAX_TOTALS) break;
        this.#totals.delete(old);
      }
    }
    if (held.totals.size >= MAX_SPENDS_READ) throw truncated(held.totals.longest);
    return held;
  }

  /**
   * Window totals at `now` for `policy`'s rules, without request `exclude`: `held` when given (the
   * synchronous re-check in `commit`), else resolved at the first rule that asks and kept for the
   * rest of this evaluation (one ledger generation read per check, not one per velocity rule; the
   * evaluation itself is synchronous, and `commit` decides again against the totals of its moment).
   */
  #source(
    policy: PolicyVersion,
    now: number,
    exclude: string,
    held?: { readonly totals: VelocityTotals },
  ): VelocitySource {
    let resolved = held;
    return {
      windowTotal: (rule, scope) => {
        resolved ??= this.#velocity(policy, now);
        return resolved.totals.windowTotal(rule, scope, now, exclude);
      },
    };
  }
}

const truncated = (window: number) =>
  refusal(
    'ERR_POLICY_HISTORY_TRUNCATED',
    `more than ${MAX_SPENDS_READ} spends in the ${window} s velocity window: the total cannot be checked here`,
    'velocity-history',
  );
