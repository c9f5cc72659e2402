/**
 * Operator and admin public keys: JWKs of Ed25519 (OKP) or P-256 (EC) keys, the two kinds the
 * orchestrator issue names. Imported through jose (WebCrypto); nothing here is home-made.
 */
import { importJWK, type JWK } from 'jose';
import Type, { type Static } from 'typebox';
import { MpcError } from '../errors/index.js';

const B64url = (len: number) => Type.String({ pattern: `^[A-Za-z0-9_-]{${len}}$` });

export const PublicJwk = Type.Union([
  Type.Object(
    { kty: Type.Literal('OKP'), crv: Type.Literal('Ed25519'), x: B64url(43) },
    { additionalProperties: false },
  ),
  Type.Object(
    { kty: Type.Literal('EC'), crv: Type.Literal('P-256'), x: B64url(43), y: B64url(43) },
    { additionalProperties: false },
  ),
]);
export type PublicJwk = Static<typeof PublicJwk>;

/** JWS algorithms a key of each kind may sign with. */
export function algorithmsFor(jwk: PublicJwk): readonly string[] {
  return jwk.kty === 'OKP' ? ['EdDSA', 'Ed25519'] : ['ES256'];
}

export type VerifyKey = Awaited<ReturnType<typeof importJWK>>;

/** Imports a validated public JWK for verification. */
export async function importPublicJwk(jwk: PublicJwk, what: string): Promise<VerifyKey> {
  try {
    return await importJWK({ ...jwk } as JWK, jwk.kty === 'OKP' ? 'Ed25519' : 'ES256');
  } catch {
    throw new MpcError('ERR_POLICY_ADMIN_SET_INVALID', `${what}: public key does not import`);
  }
}
