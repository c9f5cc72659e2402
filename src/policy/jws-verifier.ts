/**
 * Compact JWS signature verification (jose) for sign requests and approval statements, with an
 * optional bounded cache of tokens already verified: the same exact token (another input of a
 * PSBT, a retried sign command) verified before with the same key object and algorithms is not
 * verified a second time. Only the signature check is remembered: every other check (registry,
 * roles, schema, validity window, payload hash, digests, expiry) still runs on every use, so a
 * cached token gains nothing it would not get by being verified again.
 */
import { KeyObject, verify as verifySignature } from 'node:crypto';
import { base64url, compactVerify, decodeProtectedHeader } from 'jose';
import type { VerifyKey } from './keys.js';

export interface JwsVerifier {
  /**
   * The payload of a compact JWS whose signature verifies with `key` under one of `algorithms`.
   * @throws whatever jose throws when it does not verify
   */
  verify(jws: string, key: VerifyKey, algorithms: readonly string[]): Promise<Uint8Array>;
}

/** jose on every call. */
export const plainJwsVerifier: JwsVerifier = {
  async verify(jws, key, algorithms) {
    return (await compactVerify(jws, key, { algorithms: [...algorithms] })).payload;
  },
};

/** Header members our signers write (src/policy: sign requests, approval statements). */
const KNOWN_HEADER = new Set(['alg', 'kid', 'typ']);
const keyObjects = new WeakMap<object, KeyObject>();

function keyObjectOf(key: VerifyKey): KeyObject {
  if (key instanceof KeyObject) return key;
  let k = keyObjects.get(key);
  if (k === undefined) {
    k = KeyObject.from(key as Parameters<typeof KeyObject.from>[0]);
    keyObjects.set(key, k);
  }
  return k;
}

const refused = (why: string) => new Error(`JWS does not verify: ${why}`);

/**
 * The same check as `plainJwsVerifier` (RFC 7515 §5.2 for the compact serialization), with the
 * signature verified synchronously by node:crypto instead of jose's WebCrypto call, which runs on
 * the libuv pool and costs a thread hop per token (most of a party's co-signer check). jose still
 * decodes the header and the base64url segments. Stricter than jose where our tokens allow it: a
 * header holds only alg, kid and typ (no crit, no b64), the signature is exactly 64 bytes. The
 * algorithm must be allowed and match the key: EdDSA/Ed25519 with an Ed25519 key, ES256 (raw r‖s,
 * RFC 7518 §3.4) with a P-256 key. test/policy/jws-verifier.test.ts holds it to jose token by token.
 */
export const syncJwsVerifier: JwsVerifier = {
  async verify(jws, key, algorithms) {
    if (typeof jws !== 'string') throw refused('not a string');
    const parts = jws.split('.');
    if (parts.length !== 3) throw refused('not three segments');
    const [head, body, sig] = parts as [string, string, string];
    const header = decodeProtectedHeader(jws);
    for (const name of Object.keys(header)) if (!KNOWN_HEADER.has(name)) throw refused(`header member ${name}`);
    const alg = header.alg;
    if (typeof alg !== 'string' || !algorithms.includes(alg)) throw refused('algorithm not allowed');
    const signature = base64url.decode(sig);
    const payload = base64url.decode(body);
    if (signature.length !== 64) throw refused('signature length');
    const k = keyObjectOf(key);
    const input = Buffer.from(`${head}.${body}`, 'ascii');
    let ok: boolean;
    if (alg === 'EdDSA' || alg === 'Ed25519') {
      if (k.asymmetricKeyType !== 'ed25519') throw refused('key is not Ed25519');
      ok = verifySignature(null, input, k, signature);
    } else if (alg === 'ES256') {
      if (k.asymmetricKeyType !== 'ec' || k.asymmetricKeyDetails?.namedCurve !== 'prime256v1')
        throw refused('key is not P-256');
      ok = verifySignature('sha256', input, { key: k, dsaEncoding: 'ieee-p1363' }, signature);
    } else {
      throw refused('algorithm not supported');
    }
    if (!ok) throw refused('signature');
    return payload;
  },
};

interface Verified {
  readonly key: VerifyKey;
  readonly algorithms: string;
  readonly payload: Uint8Array;
}

/** Default bound: a few hundred in-flight requests and their approvals (tokens are ≤ 8 KiB each). */
export const DEFAULT_JWS_CACHE_ENTRIES = 1024;

/** Remembers up to `max` verified tokens (least recently used dropped first); `inner` verifies the others. */
export class CachingJwsVerifier implements JwsVerifier {
  readonly #max: number;
  readonly #inner: JwsVerifier;
  readonly #seen = new Map<string, Verified>();

  constructor(max = DEFAULT_JWS_CACHE_ENTRIES, inner: JwsVerifier = syncJwsVerifier) {
    this.#max = max;
    this.#inner = inner;
  }

  get size(): number {
    return this.#seen.size;
  }

  async verify(jws: string, key: VerifyKey, algorithms: readonly string[]): Promise<Uint8Array> {
    const algs = algorithms.join(',');
    const hit = this.#seen.get(jws);
    if (hit !== undefined && hit.key === key && hit.algorithms === algs) {
      this.#seen.delete(jws);
      this.#seen.set(jws, hit);
      return hit.payload.slice();
    }
    const payload = await this.#inner.verify(jws, key, algorithms);
    this.#seen.delete(jws);
    this.#seen.set(jws, { key, algorithms: algs, payload: payload.slice() });
    while (this.#seen.size > this.#max) {
      const oldest = this.#seen.keys().next().value as string;
      this.#seen.delete(oldest);
    }
    return payload;
  }
}
