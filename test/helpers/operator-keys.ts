/** Operator and admin key pairs for the policy tests: a jose signer plus its public JWK. */
import { exportJWK, generateKeyPair } from 'jose';
import type { Signer } from '../../src/policy/index.js';

export type OperatorKey = Signer & { publicJwk: Record<string, unknown> };

export async function makeKey(kid: string, alg: 'EdDSA' | 'ES256' = 'EdDSA'): Promise<OperatorKey> {
  const { publicKey, privateKey } = await generateKeyPair(alg === 'EdDSA' ? 'Ed25519' : 'ES256', { extractable: true });
  const { kty, crv, x, y } = await exportJWK(publicKey);
  return { kid, alg, privateKey, publicJwk: alg === 'EdDSA' ? { kty, crv, x } : { kty, crv, x, y } };
}
