/**
 * The REST client side of the CLI: an operator key file (`mpc-custody operator keygen`, 0600 JSON
 * {id, alg, privateJwk}) and authenticated calls, each with a fresh one-request token (auth.ts).
 */
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
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

/**
 * An HTTP(S) request; with `ca` (PEM), HTTPS trusts that CA (a deployment's private CA) instead of
 * the system store. Resolves with the status and the body text.
 */
export function httpRequest(
  url: URL,
  o: { method?: string; headers?: Record<string, string>; body?: Uint8Array; ca?: string | Uint8Array } = {},
): Promise<{ status: number; text: string }> {
  if (o.ca === undefined) {
    return fetch(url, {
      method: o.method ?? 'GET',
      ...(o.headers ? { headers: o.headers } : {}),
      ...(o.body ? { body: o.body } : {}),
    }).then(async (r) => ({ status: r.status, text: await r.text() }));
  }
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      url,
      { method: o.method ?? 'GET', headers: o.headers ?? {}, ca: Buffer.from(o.ca as Uint8Array) },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(o.body === undefined ? undefined : Buffer.from(o.body));
  });
}

/** One authenticated call; the answer's JSON whatever the status. `ca`: trust this CA for HTTPS. */
export async function callApi(
  baseUrl: string,
  signer: Signer,
  method: string,
  path: string,
  body?: unknown,
  o: { ca?: string | Uint8Array } = {},
): Promise<ApiAnswer> {
  const bytes = body === undefined ? undefined : new TextEncoder().encode(JSON.stringify(body));
  const token = await signApiToken(signer, { method, url: path, ...(bytes ? { body: bytes } : {}) });
  const res = await httpRequest(new URL(path, baseUrl), {
    method,
    headers: { authorization: `Bearer ${token}`, ...(bytes ? { 'content-type': 'application/json' } : {}) },
    ...(bytes ? { body: bytes } : {}),
    ...(o.ca === undefined ? {} : { ca: o.ca }),
  });
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(res.text) as Record<string, unknown>;
  } catch {
    json = { code: 'ERR_API_INTERNAL', message: 'the answer is not JSON' };
  }
  return { status: res.status, body: json };
}
