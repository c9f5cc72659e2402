import { type BtcNetwork, type ChainKey, decodePayload } from '../chains/index.js';
import { type ErrorCode, MpcError } from '../errors/index.js';
import {
  type AdminSet,
  acceptUpdate,
  authorizeSignRequest,
  type DecodedIntent,
  intentFromPayload,
  longestVelocityWindow,
  type PayloadKind,
  type PolicyVersion,
  type RegistryVersion,
  requestDigest,
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
 * party's own registry, its own current policy version and its own spend history (ledger, bounded
 * window); it also holds the command to what the initiator signed (key, kind; the path is checked
 * by the caller against the presignature). The spend it returns is written by the caller in the
 * consume's transaction.
 *
 * Only the current policy version is honoured: a request evaluated under an older version must be
 * re-evaluated (and re-approved) after an update, so a compromised coordinator cannot pick an older,
 * looser version the party once held.
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
}

export interface SignPermit {
  /** The derivation path the initiator signed for (non-PSBT kinds; the caller compares it with the presignature's). */
  readonly path: readonly number[] | undefined;
  /** Written with the consume. */
  readonly spend: LedgerSpend;
  readonly ruleId: string;
  readonly policyVersion: number;
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
  #registry: RegistryVersion | undefined;

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
    return dropped;
  }

  /**
   * Verifies an admin-signed policy version or operator registry and, if it moves forward, stores
   * it (then holds it). The same document again is accepted and changes nothing.
   *
   * @throws MpcError ERR_POLICY_ADMIN_SET_INVALID (enforcement off: no admin set), ERR_POLICY_QUORUM,
   *   ERR_POLICY_SIGNED_MALFORMED, ERR_POLICY_VERSION_OLD, ERR_POLICY_VERSION_CONFLICT, document errors
   */
  async accept(kind: 'policy' | 'registry', document: Uint8Array): Promise<HeldDocument> {
    if (this.#policy.mode !== 'enforce' || this.#policy.admins === undefined) {
      throw new MpcError('ERR_POLICY_ADMIN_SET_INVALID', 'this party has no admin set configured');
    }
    const admins = this.#policy.admins;
    if (kind === 'policy') {
      const v = await verifySignedPolicy(document, admins);
      const held = acceptUpdate(this.#current, v, 'policy');
      if (held !== this.#current) {
        this.#ledger.putPolicyDocument({ kind, version: v.version, hash: v.hash, document });
        this.#current = held;
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
    const policy = this.#current;
    const registry = this.#registry;
    if (this.unconfigured) {
      throw refusal(
        'ERR_POLICY_ADMIN_SET_INVALID',
        'no admin set configured (party config has no policy section): signing refused',
        'admin-set',
      );
    }
    if (policy === undefined || registry === undefined) {
      throw refusal(
        'ERR_POLICY_VERSION_UNKNOWN',
        `this party holds no ${policy === undefined ? 'policy' : 'operator registry'} yet`,
        'policy-held',
      );
    }
    // this request's own record (another input of the same PSBT signed before, a retry) must not
    // count against it a second time
    // Only as far back as the policy's longest velocity window (none: no history needed). A read
    // that hits the ledger's row cap would undercount the window's total and let a limit be
    // exceeded: refuse instead (fail closed).
    const window = Math.min(longestVelocityWindow(policy.policy), MAX_VELOCITY_WINDOW_SECONDS);
    const history = window === 0 ? [] : this.#ledger.spendsSince(nowSeconds - window, requestDigest(a.signedRequest));
    if (history.length >= MAX_SPENDS_READ) {
      throw refusal(
        'ERR_POLICY_HISTORY_TRUNCATED',
        `more than ${MAX_SPENDS_READ} spends in the ${window} s velocity window: the total cannot be checked here`,
        'velocity-history',
      );
    }
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
        policies: new Map([[policy.version, policy]]),
        registry: registry.registry,
        history,
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
          return intentFromPayload(decodePayload(kind, payload, ctx), path);
        },
      },
    );
    const spend: LedgerSpend = { ...auth.spend, request: auth.request.digest };
    return {
      path: c.kind === 'btc.psbt' ? undefined : (signedPath ?? []),
      spend,
      ruleId: auth.decision.ruleId,
      policyVersion: auth.decision.policyVersion,
    };
  }
}
