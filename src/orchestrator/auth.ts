/**
 * Operator authentication for the REST API. Every request carries `Authorization: Bearer <JWS>`: a
 * compact JWS signed with the operator's own key (Ed25519 or P-256, registered by an admin) over
 *
 *   { v: 1, htm: METHOD, htu: path-and-query, bsh: hex SHA-256 of the exact body bytes (of the
 *     empty string when there is none), nonce, iat, exp }          (exp − iat ≤ 300 s)
 *
 * with the protected header { alg, kid: operator id, typ: mpc-custody-api+jws }. So a token is good
 * for one request only: another method, path, query or body does not verify; a captured token
 * cannot be replayed (its nonce is recorded durably until the token expires); an unknown or
 * disabled operator is refused. Every refusal is ERR_API_UNAUTHENTICATED or ERR_API_NONCE_REPLAYED
 * naming what failed, never the token's content.
 */
import { randomBytes } from 'node:crypto';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { CompactSign, decodeProtectedHeader, type JWK } from 'jose';
import Type, { type Static } from 'typebox';
import { Compile } from 'typebox/compile';
import { MpcError } from '../errors/index.js';
import { syncJwsVerifier } from '../policy/jws-verifier.js';
import { algorithmsFor, importPublicJwk, type VerifyKey } from '../policy/keys.js';
import type { Signer } from '../policy/signed-document.js';
import type { OperatorRecord, OrchestratorStore } from './store/store.js';

export const API_TOKEN_TYP = 'mpc-custody-api+jws';
/** The longest a token may live (issue 13: short-lived). */
export const MAX_TOKEN_LIFETIME_SECONDS = 300;
/** A token issued this far in the future is still accepted (clock skew). */
export const TOKEN_CLOCK_SKEW_SECONDS = 30;
export const MAX_TOKEN_CHARS = 4096;

export const ApiTokenPayload = Type.Object(
  {
    v: Type.Literal(1),
    htm: Type.String({ pattern: '^[A-Z]{3,7}$' }),
    htu: Type.String({ minLength: 1, maxLength: 2048, pattern: '^/' }),
    bsh: Type.String({ pattern: '^[0-9a-f]{64}$' }),
    nonce: Type.String({ pattern: '^[A-Za-z0-9_-]{16,64}$' }),
    iat: Type.Integer({ minimum: 0 }),
    exp: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
);
export type ApiTokenPayload = Static<typeof ApiTokenPayload>;
const checkPayload = Compile(ApiTokenPayload);

export const bodySha256 = (body: Uint8Array | undefined): string => bytesToHex(sha256(body ?? new Uint8Array(0)));

/** Client side: a token for one request. */
export async function signApiToken(
  signer: Signer,
  req: { method: string; url: string; body?: Uint8Array },
  o: { now?: number; lifetimeSeconds?: number; nonce?: string } = {},
): Promise<string> {
  const iat = o.now ?? Math.floor(Date.now() / 1000);
  const payload: ApiTokenPayload = {
    v: 1,
    htm: req.method.toUpperCase(),
    htu: req.url,
    bsh: bodySha256(req.body),
    nonce: o.nonce ?? randomBytes(18).toString('base64url'),
    iat,
    exp: iat + (o.lifetimeSeconds ?? 60),
  };
  return new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader({ alg: signer.alg, kid: signer.kid, typ: API_TOKEN_TYP })
    .sign(signer.privateKey);
}

const unauthenticated = (why: string) => new MpcError('ERR_API_UNAUTHENTICATED', why);

/** Verifies request tokens against the operator table; caches imported keys per operator version. */
export class TokenVerifier {
  readonly #store: OrchestratorStore;
  readonly #keys = new Map<string, { updatedAt: number; key: VerifyKey }>();
  #lastPurge = 0;

  constructor(store: OrchestratorStore) {
    this.#store = store;
  }

  /**
   * @param now Unix seconds
   * @throws MpcError ERR_API_UNAUTHENTICATED, ERR_API_NONCE_REPLAYED
   */
  async verify(
    authorization: string | undefined,
    req: { method: string; url: string; body: Uint8Array | undefined },
    now: number,
  ): Promise<OperatorRecord> {
    if (typeof authorization !== 'string' || authorization.length === 0) throw unauthenticated('no token');
    const m = /^Bearer ([A-Za-z0-9_.-]+)$/.exec(authorization);
    const jws = m?.[1];
    if (jws === undefined || jws.length > MAX_TOKEN_CHARS) throw unauthenticated('token is not a bearer JWS');
    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      header = decodeProtectedHeader(jws);
    } catch {
      throw unauthenticated('token is not a compact JWS');
    }
    if (header.typ !== API_TOKEN_TYP) throw unauthenticated('token has the wrong type');
    if (typeof header.kid !== 'string' || header.kid.length > 64) throw unauthenticated('token names no operator');
    const op = await this.#store.getOperator(header.kid);
    if (op === undefined || op.disabled) throw unauthenticated('unknown or disabled operator');
    let bytes: Uint8Array;
    try {
      // node:crypto, synchronously (jose's WebCrypto verify costs a libuv thread hop per token);
      // held to jose token by token in test/policy/jws-verifier.test.ts
      bytes = await syncJwsVerifier.verify(jws, await this.#key(op), algorithmsFor(op.publicKey));
    } catch {
      throw unauthenticated('token signature does not verify');
    }
    let claims: unknown;
    try {
      claims = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
    } catch {
      throw unauthenticated('token payload is not JSON');
    }
    if (!checkPayload.Check(claims)) throw unauthenticated('token payload does not match the token schema');
    const c = claims as ApiTokenPayload;
    if (c.exp <= c.iat || c.exp - c.iat > MAX_TOKEN_LIFETIME_SECONDS)
      throw unauthenticated('token lifetime is invalid');
    if (c.iat > now + TOKEN_CLOCK_SKEW_SECONDS) throw unauthenticated('token is issued in the future');
    if (c.exp <= now) throw unauthenticated('token has expired');
    if (c.htm !== req.method.toUpperCase()) throw unauthenticated('token is for another method');
    if (c.htu !== req.url) throw unauthenticated('token is for another path');
    if (c.bsh !== bodySha256(req.body)) throw unauthenticated('token is for another body');
    // the nonce last: a token that fails any check above burns nothing
    if (!(await this.#store.useNonce(op.id, c.nonce, c.exp * 1000))) {
      throw new MpcError('ERR_API_NONCE_REPLAYED', 'token nonce was already used');
    }
    if (now - this.#lastPurge > 60) {
      this.#lastPurge = now;
      await this.#store.purgeNonces(now * 1000).catch(() => undefined);
    }
    return op;
  }

  async #key(op: OperatorRecord): Promise<VerifyKey> {
    const held = this.#keys.get(op.id);
    if (held !== undefined && held.updatedAt === op.updatedAt) return held.key;
    const key = await importPublicJwk(op.publicKey, `operator ${op.id}`);
    this.#keys.set(op.id, { updatedAt: op.updatedAt, key });
    return key;
  }
}

/** An operator's private key file (`mpc-custody operator keygen`, mode 0600). */
export const OperatorKeyFile = Type.Object(
  {
    id: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$' }),
    alg: Type.Union([Type.Literal('EdDSA'), Type.Literal('ES256')]),
    privateJwk: Type.Record(Type.String(), Type.String()),
  },
  { additionalProperties: false },
);
export type OperatorKeyFile = Static<typeof OperatorKeyFile>;
export type { JWK };
