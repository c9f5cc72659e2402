/**
 * The REST client side of the CLI: an operator key file (`mpc-custody operator keygen`, 0600 JSON
 * {id, alg, privateJwk}) and authenticated calls, each with a fresh one-request token (auth.ts).
 */
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import { Compile } from 'typebox/compile';
import { assertPrivateFile } from '../daemon/config.js';
import { MpcError } from '../errors/index.js';
import type { PublicJwk } from '../policy/keys.js';
import { assertSchema } from '../policy/schema-check.js';
import type { Signer } from '../policy/signed-document.js';
import { OperatorKeyFile, signApiToken } from './auth.js';

const checkKeyFile = Compile(OperatorKeyFile);

/** Writes a new operator key pair (private part 0600, never overwriting); returns the public JWK. */
export async function generateOperatorKey(file: string, id: string, alg: 'EdDSA' | 'ES256'): Promise<PublicJwk> {
  const { publicKey, privateKey } = await generateKeyPair(alg === 'EdDSA' ? 'Ed25519' : 'ES256', { extractable: true });
  const priv = await exportJWK(privateKey);
  const { kty, crv, x, y } = await exportJWK(publicKey);
  const body: OperatorKeyFile = { id, alg, privateJwk: priv as Record<string, string> };
  await writeFile(file, `${JSON.stringify(body)}\n`, { mode: 0o600, flag: 'wx' });
  await chmod(file, 0o600);
  return (alg === 'EdDSA' ? { kty, crv, x } : { kty, crv, x, y }) as PublicJwk;
}

export async function loadOperatorKey(file: string): Promise<Signer> {
  await assertPrivateFile(file, 'operator key file');
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch {
    throw new MpcError('ERR_CONFIG_INVALID', 'operator key file is unreadable or not JSON');
  }
  assertSchema(checkKeyFile, raw, 'ERR_CONFIG_INVALID', 'operator key file');
  const k = raw as OperatorKeyFile;
  const privateKey = await importJWK(k.privateJwk as JWK, k.alg === 'EdDSA' ? 'Ed25519' : 'ES256');
  return { kid: k.id, alg: k.alg, privateKey } as Signer;
}

export interface ApiAnswer {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

/** One authenticated call; the answer's JSON whatever the status. */
export async function callApi(
  baseUrl: string,
  signer: Signer,
  method: string,
  path: string,
  body?: unknown,
): Promise<ApiAnswer> {
  const bytes = body === undefined ? undefined : new TextEncoder().encode(JSON.stringify(body));
  const token = await signApiToken(signer, { method, url: path, ...(bytes ? { body: bytes } : {}) });
  const res = await fetch(new URL(path, baseUrl), {
    method,
    headers: { authorization: `Bearer ${token}`, ...(bytes ? { 'content-type': 'application/json' } : {}) },
    ...(bytes ? { body: bytes } : {}),
  });
  let json: Record<string, unknown>;
  try {
    json = (await res.json()) as Record<string, unknown>;
  } catch {
    json = { code: 'ERR_API_INTERNAL', message: 'the answer is not JSON' };
  }
  return { status: res.status, body: json };
}
