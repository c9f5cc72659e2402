/**
 * The initiator's signed sign request: a compact JWS by the initiating operator over what they ask
 * for — key, payload kind, the SHA-256 of the payload bytes, the derivation path (Ethereum kinds;
 * a PSBT carries its own), an idempotency key and a validity window. The orchestrator keeps it with
 * the request and forwards it to every party, which verifies it against its own registry: the
 * orchestrator cannot invent a request, nor swap the payload under a real one.
 *
 * The request digest (SHA-256 of the compact JWS text) names the request; approval statements sign it.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { CompactSign, decodeProtectedHeader } from 'jose';
import Type, { type Static } from 'typebox';
import { Compile } from 'typebox/compile';
import { MpcError } from '../errors/index.js';
import { type JwsVerifier, plainJwsVerifier } from './jws-verifier.js';
import type { Operator, OperatorRegistry } from './registry.js';
import { BTC_NETWORKS, PAYLOAD_KINDS } from './schema.js';
import type { Signer } from './signed-document.js';

export const SIGN_REQUEST_TYP = 'mpc-custody-sign-request+json';
export const MAX_SIGN_REQUEST_BYTES = 8192;
/** Clock skew tolerated on `iat` (a request from slightly in the future). */
export const MAX_CLOCK_SKEW_SECONDS = 60;
/** Longest validity a request may claim. */
export const MAX_REQUEST_LIFETIME_SECONDS = 7 * 24 * 3600;

export const SignRequestPayload = Type.Object(
  {
    v: Type.Literal(1),
    keyId: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' }),
    kind: Type.Enum(PAYLOAD_KINDS),
    payloadSha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
    path: Type.Optional(Type.Array(Type.Integer({ minimum: 0, maximum: 2 ** 31 - 1 }), { maxItems: 255 })),
    /** btc.psbt only: the Bitcoin network the PSBT is decoded under (default mainnet). Signed, so
     *  whoever relays the request cannot pick the network (addresses, `networks` rules) itself. */
    network: Type.Optional(Type.Enum(BTC_NETWORKS)),
    idempotencyKey: Type.String({ minLength: 1, maxLength: 128, pattern: '^[\\x21-\\x7e]+$' }),
    iat: Type.Integer({ minimum: 0 }),
    exp: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
);
export type SignRequestPayload = Static<typeof SignRequestPayload>;
const checkPayload = Compile(SignRequestPayload);

export interface VerifiedSignRequest {
  readonly request: SignRequestPayload;
  readonly initiator: Operator;
  /** Hex SHA-256 of the compact JWS: what approvals sign. */
  readonly digest: string;
}

const invalid = (m: string) => new MpcError('ERR_POLICY_REQUEST_INVALID', m);

/** Hex SHA-256 of the payload bytes, as the request names them. */
export const payloadDigest = (payload: Uint8Array): string => bytesToHex(sha256(payload));
/** The request digest: hex SHA-256 of the compact JWS text. */
export const requestDigest = (jws: string): string => bytesToHex(sha256(new TextEncoder().encode(jws)));

/** Signs a sign request (the initiator's client side). */
export async function signSignRequest(p: SignRequestPayload, signer: Signer): Promise<string> {
  return new CompactSign(new TextEncoder().encode(JSON.stringify(p)))
    .setProtectedHeader({ alg: signer.alg, kid: signer.kid, typ: SIGN_REQUEST_TYP })
    .sign(signer.privateKey);
}

/**
 * Verifies a sign request against the holder's own registry: a registered, enabled operator with
 * the `initiator` role signed it, it is within its validity window at `now`, and it names exactly
 * `payload` (by hash).
 *
 * @throws MpcError ERR_POLICY_REQUEST_INVALID, ERR_POLICY_PAYLOAD_MISMATCH
 */
export async function verifySignRequest(
  jws: string,
  payload: Uint8Array,
  registry: OperatorRegistry,
  now: number,
  verifier: JwsVerifier = plainJwsVerifier,
): Promise<VerifiedSignRequest> {
  if (typeof jws !== 'string' || jws.length > MAX_SIGN_REQUEST_BYTES)
    throw invalid('sign request is not a compact JWS of bounded size');
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(jws);
  } catch {
    throw invalid('sign request is not a compact JWS');
  }
  if (header.typ !== SIGN_REQUEST_TYP) throw invalid('sign request has the wrong type');
  if (typeof header.kid !== 'string') throw invalid('sign request names no initiator');
  const op = registry.operator(header.kid);
  if (op === undefined) throw invalid(`sign request by unknown or disabled operator ${header.kid.slice(0, 64)}`);
  if (!op.roles.includes('initiator')) throw invalid(`operator ${op.id} does not hold the initiator role`);
  let bytes: Uint8Array;
  try {
    bytes = await verifier.verify(jws, op.key, op.algorithms);
  } catch {
    throw invalid(`sign request signature by ${op.id} does not verify`);
  }
  let body: unknown;
  try {
    body = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw invalid(`sign request by ${op.id} is not JSON`);
  }
  if (!checkPayload.Check(body)) throw invalid(`sign request by ${op.id} does not match the request schema`);
  const r = body as SignRequestPayload;
  if (r.network !== undefined && r.kind !== 'btc.psbt') throw invalid('only a btc.psbt request names a network');
  if (r.exp <= r.iat || r.exp - r.iat > MAX_REQUEST_LIFETIME_SECONDS)
    throw invalid('sign request validity window is invalid');
  if (r.iat > now + MAX_CLOCK_SKEW_SECONDS) throw invalid('sign request is issued in the future (clock skew?)');
  if (r.exp <= now) throw invalid('sign request has expired');
  if (r.payloadSha256 !== payloadDigest(payload)) {
    throw new MpcError('ERR_POLICY_PAYLOAD_MISMATCH', 'payload bytes are not the ones the initiator signed');
  }
  return { request: r, initiator: op, digest: requestDigest(jws) };
}
