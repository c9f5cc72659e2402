/**
 * The bounded cache of verified tokens (src/policy/jws-verifier.ts): a hit needs the same exact
 * token bytes and the same key object; anything else is verified by jose again.
 */
import { describe, expect, it } from 'vitest';
import {
  CachingJwsVerifier,
  importPublicJwk,
  type PublicJwk,
  payloadDigest,
  signSignRequest,
} from '../../src/policy/index.js';
import { makeKey } from '../helpers/operator-keys.js';

describe('caching JWS verifier', () => {
  it('skips only the same token with the same key; other keys, altered tokens are verified; bounded', async () => {
    const alice = await makeKey('alice');
    const mallory = await makeKey('alice'); // same kid, another key
    const aliceKey = await importPublicJwk(alice.publicJwk as PublicJwk, 'alice');
    const malloryKey = await importPublicJwk(mallory.publicJwk as PublicJwk, 'alice');
    const token = (i: number, by = alice) =>
      signSignRequest(
        {
          v: 1,
          keyId: 'k',
          kind: 'raw.digest',
          payloadSha256: payloadDigest(new Uint8Array([i])),
          idempotencyKey: `i${i}`,
          iat: 1,
          exp: 2,
        },
        by,
      );
    const v = new CachingJwsVerifier(4);
    const t = await token(0);
    const first = await v.verify(t, aliceKey, ['EdDSA']);
    expect(await v.verify(t, aliceKey, ['EdDSA'])).toEqual(first);
    // the cached entry is for alice's key object: under another key the same bytes are verified (and fail)
    await expect(v.verify(t, malloryKey, ['EdDSA'])).rejects.toThrow();
    // nor for other algorithms
    await expect(v.verify(t, aliceKey, ['ES256'])).rejects.toThrow();
    // a token signed by another key under the same kid does not verify with alice's
    await expect(v.verify(await token(0, mallory), aliceKey, ['EdDSA'])).rejects.toThrow();
    // an altered signature is not the same token
    const [h, p, s] = t.split('.') as [string, string, string];
    const flipped = `${h}.${p}.${s.slice(0, -2)}${s.endsWith('AA') ? 'BA' : 'AA'}`;
    await expect(v.verify(flipped, aliceKey, ['EdDSA'])).rejects.toThrow();
    // the returned payload is a copy: changing it does not change what the cache returns
    first.fill(0);
    expect((await v.verify(t, aliceKey, ['EdDSA']))[0]).not.toBe(0);
    for (let i = 1; i < 10; i++) await v.verify(await token(i), aliceKey, ['EdDSA']);
    expect(v.size).toBe(4);
  });
});
