/**
 * Approval statements: an approver signs, with their own operator key, a compact JWS over
 * { request digest, decision, policy version, issued-at, expiry }. The digest names the exact
 * request (payload bytes, key, initiator's signed request), so a statement cannot be replayed on
 * another request; the policy version ties it to the rules it was given under.
 */
import { CompactSign, decodeProtectedHeader } from 'jose';
import Type, { type Static } from 'typebox';
import { Compile } from 'typebox/compile';
import { MpcError } from '../errors/index.js';
import type { ApprovalRecord } from './approvals.js';
import { type JwsVerifier, plainJwsVerifier } from './jws-verifier.js';
import type { OperatorRegistry } from './registry.js';
import type { Signer } from './signed-document.js';

export const APPROVAL_TYP = 'mpc-custody-approval+json';
/** A compact approval JWS is small; larger input is refused before decoding. */
export const MAX_APPROVAL_BYTES = 4096;

export const ApprovalPayload = Type.Object(
  {
    request: Type.String({ pattern: '^[0-9a-f]{64}$' }),
    decision: Type.Union([Type.Literal('approve'), Type.Literal('reject')]),
    policyVersion: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }),
    iat: Type.Integer({ minimum: 0 }),
    exp: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
);
export type ApprovalPayload = Static<typeof ApprovalPayload>;
const checkPayload = Compile(ApprovalPayload);

const invalid = (m: string) => new MpcError('ERR_POLICY_APPROVAL_INVALID', m);

/** Signs an approval statement (the approver's client side). */
export async function signApproval(p: ApprovalPayload, signer: Signer): Promise<string> {
  return new CompactSign(new TextEncoder().encode(JSON.stringify(p)))
    .setProtectedHeader({ alg: signer.alg, kid: signer.kid, typ: APPROVAL_TYP })
    .sign(signer.privateKey);
}

/**
 * Verifies an approval statement against the holder's own registry: the signer is a registered,
 * enabled operator with the `approver` role, and the signature verifies with that operator's key.
 * Whether it counts for a given request is checkApprovals' job (digest, version, expiry, groups).
 *
 * @throws MpcError ERR_POLICY_APPROVAL_INVALID naming what is wrong (never the statement's bytes)
 */
export async function verifyApproval(
  jws: string,
  registry: OperatorRegistry,
  verifier: JwsVerifier = plainJwsVerifier,
): Promise<ApprovalRecord> {
  if (typeof jws !== 'string' || jws.length > MAX_APPROVAL_BYTES)
    throw invalid('approval is not a compact JWS of bounded size');
  let kid: unknown;
  let typ: unknown;
  try {
    ({ kid, typ } = decodeProtectedHeader(jws));
  } catch {
    throw invalid('approval is not a compact JWS');
  }
  if (typ !== APPROVAL_TYP) throw invalid('approval has the wrong type');
  if (typeof kid !== 'string') throw invalid('approval names no operator');
  const op = registry.operator(kid);
  if (op === undefined) throw invalid(`approval by unknown or disabled operator ${kid.slice(0, 64)}`);
  if (!op.roles.includes('approver')) throw invalid(`operator ${op.id} does not hold the approver role`);
  let payload: Uint8Array;
  try {
    payload = await verifier.verify(jws, op.key, op.algorithms);
  } catch {
    throw invalid(`approval signature by ${op.id} does not verify`);
  }
  let body: unknown;
  try {
    body = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload));
  } catch {
    throw invalid(`approval by ${op.id} is not JSON`);
  }
  if (!checkPayload.Check(body)) throw invalid(`approval by ${op.id} does not match the statement schema`);
  const b = body as ApprovalPayload;
  if (b.exp <= b.iat) throw invalid(`approval by ${op.id} expires before it was issued`);
  return {
    operator: op.id,
    decision: b.decision,
    requestDigest: b.request,
    policyVersion: b.policyVersion,
    expiresAt: b.exp,
  };
}
