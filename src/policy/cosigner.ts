/**
 * The co-signer check: what every party (and the orchestrator before it) runs before a partial
 * signature may leave. From its own copies of the operator registry and the policy versions, it
 * verifies the initiator's signed request, binds the payload bytes to it, decodes the payload
 * itself (through `decode`, src/chains), evaluates the policy version the request was evaluated
 * under, verifies the approval statements and counts them against the matched rule, and checks
 * velocity against its own history. Anything short of a clear allow is a typed refusal naming the
 * rule; the caller consumes nothing on refusal.
 */
import { MpcError } from '../errors/index.js';
import { type ApprovalRecord, checkApprovals } from './approvals.js';
import { type Decision, type EvaluationContext, evaluatePolicy } from './evaluate.js';
import type { PolicyIntent, SpendRecord } from './intent.js';
import type { JwsVerifier } from './jws-verifier.js';
import type { OperatorRegistry } from './registry.js';
import type { BtcNetwork, PayloadKind } from './schema.js';
import { type VerifiedSignRequest, verifySignRequest } from './sign-request.js';
import { verifyApproval } from './statements.js';
import type { VelocitySource } from './velocity.js';
import type { PolicyVersion } from './versions.js';

/** The part of an intent that comes from decoding the payload. */
export type DecodedIntent = Omit<PolicyIntent, 'initiator' | 'keyId'>;

export interface CosignRequest {
  /** The initiator's compact JWS (src/policy/sign-request.ts). */
  readonly signedRequest: string;
  readonly payload: Uint8Array;
  /** The key the sign command is for. */
  readonly keyId: string;
  /** The policy version the orchestrator evaluated the request under. */
  readonly policyVersion: number;
  /** Approval statements (compact JWS), possibly empty. */
  readonly approvals: readonly string[];
  /** The Bitcoin network the payload will be decoded and signed under (btc.psbt; default mainnet). */
  readonly network?: BtcNetwork;
}

export interface CosignTrust {
  /** Policy versions this holder verified and holds, by version. */
  readonly policies: ReadonlyMap<number, PolicyVersion>;
  /**
   * Unix seconds at which this holder replaced each held version that is no longer its current
   * one. A request is evaluated under such a version only if it was issued (its signed `iat`)
   * before that moment: an in-flight request keeps the version it was evaluated under, while a
   * request issued later cannot be steered to an older, looser version. Absent: no such limit.
   */
  readonly supersededAt?: ReadonlyMap<number, number>;
  readonly registry: OperatorRegistry;
  /** What this holder signed before (its own durable record), for velocity. */
  readonly history: readonly SpendRecord[];
  /** Running totals of that record (src/policy/velocity.ts): used instead of `history` when given. */
  readonly velocity?: VelocitySource;
  /** Verifies the compact JWS signatures (a bounded cache of exact tokens already verified); default: jose per call. */
  readonly jws?: JwsVerifier;
  /** Decodes payload bytes of `kind` (signing under `path` when the request names one). */
  decode(kind: PayloadKind, payload: Uint8Array, path: readonly number[] | undefined): DecodedIntent;
  /** Unix seconds. */
  readonly now: number;
}

export interface Authorization {
  readonly request: VerifiedSignRequest;
  readonly intent: PolicyIntent;
  readonly decision: Decision;
  /** The spend to record with the consume (in the same transaction) for later velocity checks. */
  readonly spend: SpendRecord;
  /** The approval statements that verified (only read when the matched rule required approvals). */
  readonly approvals: readonly ApprovalRecord[];
}

const named = (d: Decision) => ({ details: { rule: d.ruleId, policyVersion: d.policyVersion } });

/** The refusal of a request issued after the version it names was replaced here. */
export const replacedBefore = (version: number, replacedAt: number, iat: number): MpcError =>
  new MpcError(
    'ERR_POLICY_VERSION_OLD',
    `policy version ${version} was replaced here at ${replacedAt}, before the request was issued (iat ${iat}): only requests issued while it was current keep it`,
    { details: { rule: 'policy-held', policyVersion: version } },
  );

/**
 * @throws MpcError ERR_POLICY_REQUEST_INVALID, ERR_POLICY_PAYLOAD_MISMATCH, ERR_POLICY_VERSION_UNKNOWN,
 *   ERR_POLICY_BLOCKED, ERR_POLICY_APPROVALS_MISSING, ERR_POLICY_REJECTED, ERR_POLICY_EXPIRED, or the
 *   decoder's own ERR_CHAIN_* refusal
 */
export async function authorizeSignRequest(req: CosignRequest, trust: CosignTrust): Promise<Authorization> {
  const verified = await verifySignRequest(req.signedRequest, req.payload, trust.registry, trust.now, trust.jws);
  const r = verified.request;
  if (r.keyId !== req.keyId)
    throw new MpcError('ERR_POLICY_REQUEST_INVALID', `request is for key ${r.keyId}, not ${req.keyId}`);
  // a PSBT's addresses (and `networks` rules) depend on the network: it must be the signed one
  if (r.kind === 'btc.psbt' && (r.network ?? 'mainnet') !== (req.network ?? 'mainnet')) {
    throw new MpcError(
      'ERR_POLICY_REQUEST_INVALID',
      `request is for network ${r.network ?? 'mainnet'}, not ${req.network ?? 'mainnet'}`,
      { details: { reason: 'request-network' } },
    );
  }
  const held = trust.policies.get(req.policyVersion);
  if (held === undefined) {
    throw new MpcError('ERR_POLICY_VERSION_UNKNOWN', `policy version ${req.policyVersion} is not held here`);
  }
  const replacedAt = trust.supersededAt?.get(req.policyVersion);
  if (replacedAt !== undefined && r.iat >= replacedAt) throw replacedBefore(req.policyVersion, replacedAt, r.iat);
  const decoded = trust.decode(r.kind, req.payload, r.path);
  const intent: PolicyIntent = {
    ...decoded,
    keyId: r.keyId,
    initiator: { id: verified.initiator.id, roles: verified.initiator.roles, groups: verified.initiator.groups },
  };
  const decision = evaluatePolicy(held.policy, intent, {
    now: trust.now,
    history: trust.history,
    ...(trust.velocity === undefined ? {} : { velocity: trust.velocity }),
  });
  const spend: SpendRecord = {
    at: trust.now,
    keyId: r.keyId,
    initiator: verified.initiator.id,
    transfers: intent.transfers,
  };
  const records: ApprovalRecord[] = [];
  if (decision.action === 'require_approvals') {
    // verified side by side (each its own signature check), kept in the order given
    const settled = await Promise.allSettled(req.approvals.map((a) => verifyApproval(a, trust.registry, trust.jws)));
    for (const r of settled) {
      if (r.status === 'fulfilled') records.push(r.value);
      // A statement that does not verify counts for nothing; enough valid ones may still remain.
      else if (!(r.reason instanceof MpcError)) throw r.reason;
    }
  }
  const auth: Authorization = { request: verified, intent, decision, spend, approvals: records };
  settle(auth, decision, trust.registry, trust.now);
  return auth;
}

/**
 * Decides an authorized request again, synchronously, against fresher velocity totals (a party
 * re-checks in the step that consumes, so two concurrent signs cannot both pass a limit that
 * together they exceed). Everything but velocity is what `authorizeSignRequest` verified; approval
 * statements count only if they were verified then (a rule that newly requires approvals here
 * finds none).
 *
 * @throws MpcError as authorizeSignRequest's decision does
 */
export function recheckAuthorization(
  auth: Authorization,
  policy: PolicyVersion,
  registry: OperatorRegistry,
  ctx: EvaluationContext,
): Decision {
  const decision = evaluatePolicy(policy.policy, auth.intent, ctx);
  settle(auth, decision, registry, ctx.now);
  return decision;
}

/** Returns when the decision lets the request be signed, else throws the refusal naming the rule. */
function settle(auth: Authorization, decision: Decision, registry: OperatorRegistry, now: number): void {
  if (decision.action === 'allow') return;
  if (decision.action === 'block') throw new MpcError('ERR_POLICY_BLOCKED', decision.reason, named(decision));
  const spec = decision.approvals;
  if (spec === undefined)
    throw new MpcError('ERR_POLICY_BLOCKED', `rule ${decision.ruleId} has no approval spec`, named(decision));
  const outcome = checkApprovals(
    spec,
    {
      initiator: auth.request.initiator.id,
      requestDigest: auth.request.digest,
      policyVersion: decision.policyVersion,
      createdAt: auth.request.request.iat,
      now,
    },
    auth.approvals,
    registry,
  );
  const why = `rule ${decision.ruleId}: ${outcome.reason}`;
  switch (outcome.state) {
    case 'approved':
      return;
    case 'rejected':
      throw new MpcError('ERR_POLICY_REJECTED', why, named(decision));
    case 'expired':
      throw new MpcError('ERR_POLICY_EXPIRED', why, named(decision));
    default:
      throw new MpcError('ERR_POLICY_APPROVALS_MISSING', why, named(decision));
  }
}
