/**
 * Compact JWS signature verification (jose) for sign requests and approval statements, with an
 * optional bounded cache of tokens already verified: the same exact token (another input of a
 * PSBT, a retried sign command) verified before with the same key object and algorithms is not
 * verified a second time. Only the signature check is remembered: every other check (registry,
 * roles, schema, validity window, payload hash, digests, expiry) still runs on every use, so a
 * cached token gains nothing it would not get by being verified again.
 */
import { compactVerify } from 'jose';
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

interface Verified {
  readonly key: VerifyKey;
  readonly algorithms: string;
  readonly payload: Uint8Array;
}

/** Default bound: a few hundred in-flight requests and their approvals (tokens are ≤ 8 KiB each). */
export const DEFAULT_JWS_CACHE_ENTRIES = 1024;

/** Remembers up to `max` verified tokens (least recently used dropped first). */
export class CachingJwsVerifier implements JwsVerifier {
  readonly #max: number;
  readonly #seen = new Map<string, Verified>();

  constructor(max = DEFAULT_JWS_CACHE_ENTRIES) {
    this.#max = max;
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
    const payload = await plainJwsVerifier.verify(jws, key, algorithms);
    this.#seen.delete(jws);
    this.#seen.set(jws, { key, algorithms: algs, payload: payload.slice() });
    while (this.#seen.size > this.#max) {
      const oldest = this.#seen.keys().next().value as string;
      this.#seen.delete(oldest);
    }
    return payload;
  }
}
