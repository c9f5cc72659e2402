/**
 * JWS verification for the co-signer check (src/policy/jws-verifier.ts): the synchronous
 * node:crypto verifier is held to jose, token by token (every token either both accept with the
 * same payload or both refuse), and the bounded cache of verified tokens needs the same exact token
 * bytes and the same key object for a hit; anything else is verified again.
 */
import { createHash, KeyObject, sign as nodeSign } from 'node:crypto';
import { base64url, CompactSign } from 'jose';
import { describe, expect, it } from 'vitest';
import {
  CachingJwsVerifier,
  importPublicJwk,
  type JwsVerifier,
  type PublicJwk,
  payloadDigest,
  plainJwsVerifier,
  signSignRequest,
  syncJwsVerifier,
  type VerifyKey,
} from '../../src/policy/index.js';
import { makeKey, type OperatorKey } from '../helpers/operator-keys.js';

const enc = (o: unknown) => base64url.encode(typeof o === 'string' ? o : JSON.stringify(o));

/** What a verifier says of a token: the payload it returns, or that it refused. */
async function outcome(v: JwsVerifier, jws: string, key: VerifyKey, algs: readonly string[]): Promise<string> {
  try {
    return `ok:${Buffer.from(await v.verify(jws, key, algs)).toString('hex')}`;
  } catch {
    return 'refused';
  }
}

/** A token signed by `by` over exactly these header and payload segments (for headers jose's signer would not write). */
function signRaw(by: OperatorKey, head: string, body: string): string {
  const input = Buffer.from(`${head}.${body}`, 'ascii');
  const key = KeyObject.from(by.privateKey as Parameters<typeof KeyObject.from>[0]);
  const sig =
    by.alg === 'EdDSA' ? nodeSign(null, input, key) : nodeSign('sha256', input, { key, dsaEncoding: 'ieee-p1363' });
  return `${head}.${body}.${base64url.encode(sig)}`;
}

describe('synchronous JWS verifier', () => {
  it('agrees with jose on valid, altered and malformed tokens, for Ed25519 and P-256 keys', async () => {
    const ed = await makeKey('ed');
    const ec = await makeKey('ec', 'ES256');
    const edKey = await importPublicJwk(ed.publicJwk as PublicJwk, 'ed');
    const ecKey = await importPublicJwk(ec.publicJwk as PublicJwk, 'ec');
    const body = enc({ hello: 'world', n: 1 });
    const cases: Array<{ name: string; jws: string; key: VerifyKey; algs: string[]; accepted: boolean }> = [];
    const stricter = new Set<string>();
    const add = (name: string, jws: string, key: VerifyKey, algs: string[], accepted: boolean) =>
      cases.push({ name, jws, key, algs, accepted });
    for (const [by, key, other, alg] of [
      [ed, edKey, ecKey, 'EdDSA'],
      [ec, ecKey, edKey, 'ES256'],
    ] as const) {
      const good = await new CompactSign(new TextEncoder().encode('{"a":1}'))
        .setProtectedHeader({ alg, kid: by.kid, typ: 't' })
        .sign(by.privateKey);
      const [h, p, s] = good.split('.') as [string, string, string];
      add(`${alg} valid`, good, key, [alg], true);
      add(`${alg} algorithm not allowed`, good, key, alg === 'EdDSA' ? ['ES256'] : ['EdDSA'], false);
      add(`${alg} other key`, good, other, ['EdDSA', 'ES256'], false);
      add(`${alg} payload altered`, `${h}.${enc('{"a":2}')}.${s}`, key, [alg], false);
      add(`${alg} header altered`, `${enc({ alg, kid: 'x', typ: 't' })}.${p}.${s}`, key, [alg], false);
      const sig = base64url.decode(s);
      sig[5] = (sig[5] as number) ^ 1;
      add(`${alg} signature bit flipped`, `${h}.${p}.${base64url.encode(sig)}`, key, [alg], false);
      add(`${alg} signature truncated`, `${h}.${p}.${base64url.encode(sig.subarray(0, 63))}`, key, [alg], false);
      add(`${alg} empty signature`, `${h}.${p}.`, key, [alg], false);
      add(`${alg} two segments`, `${h}.${p}`, key, [alg], false);
      add(`${alg} four segments`, `${good}.${s}`, key, [alg], false);
      add(`${alg} five segments (a JWE's shape)`, `${good}.${s}.${s}`, key, [alg], false);
      add(`${alg} padded signature`, `${h}.${p}.${s}=`, key, [alg], false);
      add(`${alg} whitespace`, ` ${good}`, key, [alg], false);
      add(`${alg} alg none`, signRaw(by, enc({ alg: 'none' }), body), key, ['none', alg], false);
      add(`${alg} alg HS256`, signRaw(by, enc({ alg: 'HS256' }), body), key, ['HS256', alg], false);
      add(`${alg} header not JSON`, signRaw(by, enc('{alg'), body), key, [alg], false);
      add(`${alg} header an array`, signRaw(by, enc([alg]), body), key, [alg], false);
      add(`${alg} header without alg`, signRaw(by, enc({ kid: 'k' }), body), key, [alg], false);
      // jose refuses crit it does not know; b64:false changes what is signed: both refused here
      add(`${alg} crit`, signRaw(by, enc({ alg, crit: ['exp'], exp: 1 }), body), key, [alg], false);
      // RFC 7797 unencoded payload: jose accepts it; our signers never write it, so it is refused here
      // (the one deliberate difference: stricter, never looser)
      const unencoded = signRaw(by, enc({ alg, b64: false, crit: ['b64'] }), body);
      add(`${alg} b64 false`, unencoded, key, [alg], false);
      stricter.add(unencoded);
      add(`${alg} signed raw, minimal header`, signRaw(by, enc({ alg }), body), key, [alg], true);
    }
    // Ed25519 is named EdDSA or Ed25519 (RFC 9864): both accepted by both
    add('Ed25519 alg name', signRaw(ed, enc({ alg: 'Ed25519' }), body), edKey, ['EdDSA', 'Ed25519'], true);
    // an ES256 signature in DER (not the raw r‖s JWS uses) is refused by both
    const der = nodeSign('sha256', Buffer.from(`${enc({ alg: 'ES256' })}.${body}`, 'ascii'), {
      key: KeyObject.from(ec.privateKey as Parameters<typeof KeyObject.from>[0]),
    });
    add('ES256 DER signature', `${enc({ alg: 'ES256' })}.${body}.${base64url.encode(der)}`, ecKey, ['ES256'], false);

    for (const c of cases) {
      const mine = await outcome(syncJwsVerifier, c.jws, c.key, c.algs);
      const jose = await outcome(plainJwsVerifier, c.jws, c.key, c.algs);
      if (stricter.has(c.jws)) expect({ name: c.name, jose: jose !== 'refused' }).toEqual({ name: c.name, jose: true });
      else expect({ name: c.name, mine }).toEqual({ name: c.name, mine: jose });
      expect({ name: c.name, accepted: mine !== 'refused' }).toEqual({ name: c.name, accepted: c.accepted });
    }
  });

  it('agrees with jose on every single-character change of a token', async () => {
    const ed = await makeKey('ed');
    const edKey = await importPublicJwk(ed.publicJwk as PublicJwk, 'ed');
    const good = await signSignRequest(
      {
        v: 1,
        keyId: 'k',
        kind: 'raw.digest',
        payloadSha256: createHash('sha256').update('x').digest('hex'),
        idempotencyKey: 'i',
        iat: 1,
        exp: 2,
      },
      ed,
    );
    const alphabet = 'A_-.=0z/+ ';
    let accepted = 0;
    for (let i = 0; i < good.length; i += 3) {
      for (const ch of alphabet) {
        if (good[i] === ch) continue;
        const t = good.slice(0, i) + ch + good.slice(i + 1);
        const mine = await outcome(syncJwsVerifier, t, edKey, ['EdDSA']);
        expect({ at: i, ch, mine }).toEqual({ at: i, ch, mine: await outcome(plainJwsVerifier, t, edKey, ['EdDSA']) });
        if (mine !== 'refused') accepted++;
      }
    }
    // base64url has slack in a segment's last character: a few changes decode to the same bytes and
    // stay valid for both; everything else is refused by both
    expect(accepted).toBeLessThan(10);
  });
});

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
    // the returned payload is a copy: changing it does not change what the cache returns, on a miss
    // or on a hit
    first.fill(0);
    const hit = await v.verify(t, aliceKey, ['EdDSA']);
    expect(hit[0]).not.toBe(0);
    hit.fill(0);
    expect((await v.verify(t, aliceKey, ['EdDSA']))[0]).not.toBe(0);
    for (let i = 1; i < 10; i++) await v.verify(await token(i), aliceKey, ['EdDSA']);
    expect(v.size).toBe(4);
  });
});
