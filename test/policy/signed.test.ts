/**
 * Admin-quorum-signed documents (policy versions, operator registry) and approval statements:
 * a 3-of-5 quorum publishes, a 2-of-5 attempt is refused, forged, duplicated, re-typed and
 * tampered signatures count for nothing, versions only move forward, and approval statements
 * verify against the holder's own registry only.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { MpcError } from '../../src/errors/index.js';
import {
  type AdminSet,
  acceptUpdate,
  loadAdminSet,
  type OperatorRegistry,
  POLICY_TYP,
  parseRegistry,
  REGISTRY_TYP,
  signApproval,
  signDocument,
  verifyApproval,
  verifySignedPolicy,
  verifySignedRegistry,
} from '../../src/policy/index.js';
import { makeKey, type OperatorKey } from '../helpers/operator-keys.js';

type Key = OperatorKey;
const rejected = async (p: Promise<unknown>): Promise<MpcError> => {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(MpcError);
    return e as MpcError;
  }
  throw new Error('expected a refusal');
};

const policyDoc = (version: number, action = 'allow') => ({
  schema: 'mpc-custody/policy@1',
  version,
  rules: [{ id: 'everything', match: {}, action }],
});
const bytes = (o: unknown) => new TextEncoder().encode(JSON.stringify(o));

let admins: Key[];
let adminSet: AdminSet;
let outsider: Key;

beforeAll(async () => {
  admins = await Promise.all(
    ['a1', 'a2', 'a3', 'a4', 'a5'].map((id, k) => makeKey(id, k % 2 === 0 ? 'EdDSA' : 'ES256')),
  );
  outsider = await makeKey('a1', 'EdDSA'); // claims an admin's id with its own key
  adminSet = await loadAdminSet({ threshold: 3, admins: admins.map((a) => ({ id: a.kid, publicKey: a.publicJwk })) });
});

describe('signed policy versions (3-of-5 admin quorum)', () => {
  it('three admins publish a version', async () => {
    const jws = await signDocument(bytes(policyDoc(4)), POLICY_TYP, admins.slice(0, 3));
    const v = await verifySignedPolicy(JSON.stringify(jws), adminSet);
    expect(v.version).toBe(4);
    expect(v.signedBy).toEqual(['a1', 'a2', 'a3']);
    expect(v.hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('two admins are refused', async () => {
    const jws = await signDocument(bytes(policyDoc(4)), POLICY_TYP, admins.slice(3, 5));
    const e = await rejected(verifySignedPolicy(jws, adminSet));
    expect(e.code).toBe('ERR_POLICY_QUORUM');
    expect(e.message).toContain('2 valid admin signature(s), 3 needed');
  });

  it('one admin signing three times counts once', async () => {
    const jws = await signDocument(bytes(policyDoc(4)), POLICY_TYP, [admins[0], admins[0], admins[0]] as Key[]);
    expect((await rejected(verifySignedPolicy(jws, adminSet))).code).toBe('ERR_POLICY_QUORUM');
  });

  it("a signature under an admin's id with another key counts for nothing", async () => {
    const jws = await signDocument(bytes(policyDoc(4)), POLICY_TYP, [outsider, admins[1], admins[2]] as Key[]);
    expect((await rejected(verifySignedPolicy(jws, adminSet))).code).toBe('ERR_POLICY_QUORUM');
  });

  it('signatures made for another document type count for nothing', async () => {
    const jws = await signDocument(bytes(policyDoc(4)), REGISTRY_TYP, admins.slice(0, 3));
    expect((await rejected(verifySignedPolicy(jws, adminSet))).code).toBe('ERR_POLICY_QUORUM');
  });

  it('a payload changed after signing breaks every signature', async () => {
    const jws = await signDocument(bytes(policyDoc(4)), POLICY_TYP, admins.slice(0, 3));
    const forged = { ...jws, payload: Buffer.from(JSON.stringify(policyDoc(4, 'block'))).toString('base64url') };
    expect((await rejected(verifySignedPolicy(forged, adminSet))).code).toBe('ERR_POLICY_QUORUM');
  });

  it('a quorum-signed document that is not a valid policy is refused after the quorum check', async () => {
    const jws = await signDocument(bytes({ ...policyDoc(4), rules: [] }), POLICY_TYP, admins.slice(0, 3));
    expect((await rejected(verifySignedPolicy(jws, adminSet))).code).toBe('ERR_POLICY_DOCUMENT_INVALID');
  });

  it('malformed envelopes are refused with a code', async () => {
    for (const bad of [
      'not json',
      '{}',
      JSON.stringify({ payload: 'e30', signatures: [] }),
      JSON.stringify({ payload: '%%', signatures: [{ protected: 'x', signature: 'y' }] }),
      'x'.repeat(3 << 20),
    ]) {
      expect((await rejected(verifySignedPolicy(bad, adminSet))).code).toBe('ERR_POLICY_SIGNED_MALFORMED');
    }
  });

  it('versions only move forward', async () => {
    const v4 = await verifySignedPolicy(
      await signDocument(bytes(policyDoc(4)), POLICY_TYP, admins.slice(0, 3)),
      adminSet,
    );
    const v5 = await verifySignedPolicy(
      await signDocument(bytes(policyDoc(5)), POLICY_TYP, admins.slice(1, 4)),
      adminSet,
    );
    const v5other = await verifySignedPolicy(
      await signDocument(bytes(policyDoc(5, 'block')), POLICY_TYP, admins.slice(2, 5)),
      adminSet,
    );
    expect(acceptUpdate(undefined, v4)).toBe(v4);
    expect(acceptUpdate(v4, v5)).toBe(v5);
    expect(acceptUpdate(v5, v5)).toBe(v5);
    const old = (() => {
      try {
        acceptUpdate(v5, v4);
      } catch (e) {
        return e as MpcError;
      }
    })();
    expect(old?.code).toBe('ERR_POLICY_VERSION_OLD');
    // the refusal says what is held and what was offered (the orchestrator and parties report both)
    expect(old?.details).toMatchObject({ held: 5, offered: 4 });
    expect(() => acceptUpdate(v5, v5other)).toThrow(/ERR_POLICY_VERSION_CONFLICT/);
  });

  it('the document types on the wire are the documented ones', async () => {
    // what every holder checks in each signature's protected header (a changed constant would still
    // sign and verify with itself, and no other deployment would accept the documents)
    expect([POLICY_TYP, REGISTRY_TYP]).toEqual(['mpc-custody-policy+json', 'mpc-custody-operators+json']);
    const jws = (await signDocument(bytes(policyDoc(4)), POLICY_TYP, admins.slice(0, 1))) as {
      signatures: Array<{ protected: string }>;
    };
    const header = JSON.parse(Buffer.from(jws.signatures[0]?.protected ?? '', 'base64url').toString('utf8'));
    expect(header.typ).toBe('mpc-custody-policy+json');
  });

  it('a quorum-signed payload that is not strict UTF-8 JSON is refused as malformed', async () => {
    const raw = (text: Uint8Array) => signDocument(text, POLICY_TYP, admins.slice(0, 3));
    const notJson = await raw(new TextEncoder().encode('version 4, allow everything'));
    expect((await rejected(verifySignedPolicy(notJson, adminSet))).code).toBe('ERR_POLICY_SIGNED_MALFORMED');
    // an invalid UTF-8 byte inside a JSON string: a lenient decoder would read U+FFFD and accept
    const json = new TextEncoder().encode(JSON.stringify({ ...policyDoc(4), description: 'AB' }));
    const at = json.indexOf(0x41); // the 'A'
    json[at] = 0xff;
    const lenient = await raw(json);
    expect((await rejected(verifySignedPolicy(lenient, adminSet))).code).toBe('ERR_POLICY_SIGNED_MALFORMED');
  });
});

describe('admin sets', () => {
  it('refuses a threshold above the number of admins, duplicate ids and a shared key', async () => {
    const entries = admins.map((a) => ({ id: a.kid, publicKey: a.publicJwk }));
    expect((await rejected(loadAdminSet({ threshold: 6, admins: entries }))).code).toBe('ERR_POLICY_ADMIN_SET_INVALID');
    expect((await rejected(loadAdminSet({ threshold: 2, admins: [entries[0], entries[0]] }))).code).toBe(
      'ERR_POLICY_ADMIN_SET_INVALID',
    );
    const shared = [entries[0], { ...entries[0], id: 'other' }];
    expect((await rejected(loadAdminSet({ threshold: 2, admins: shared }))).message).toContain(
      "reuses another admin's key",
    );
    expect(
      (
        await rejected(
          loadAdminSet({ threshold: 1, admins: [{ id: 'x', publicKey: { kty: 'RSA', n: 'x', e: 'AQAB' } }] }),
        )
      ).code,
    ).toBe('ERR_POLICY_ADMIN_SET_INVALID');
  });
});

describe('operator registry and approval statements', () => {
  let tom: Key;
  let vic: Key;
  let registry: OperatorRegistry;
  const REQ = 'ab'.repeat(32);
  const now = Math.floor(Date.now() / 1000);
  const statement = (o: Record<string, unknown> = {}) =>
    ({ request: REQ, decision: 'approve', policyVersion: 4, iat: now, exp: now + 600, ...o }) as Parameters<
      typeof signApproval
    >[0];

  beforeAll(async () => {
    tom = await makeKey('tom', 'ES256');
    vic = await makeKey('vic', 'EdDSA');
    const doc = {
      schema: 'mpc-custody/operators@1',
      version: 2,
      operators: [
        { id: 'tom', roles: ['approver'], groups: ['treasury'], publicKey: tom.publicJwk },
        { id: 'vic', roles: ['viewer'], publicKey: vic.publicJwk },
        { id: 'gone', roles: ['approver'], publicKey: (await makeKey('gone', 'EdDSA')).publicJwk, disabled: true },
      ],
    };
    const signed = await verifySignedRegistry(
      await signDocument(bytes(doc), REGISTRY_TYP, admins.slice(0, 3)),
      adminSet,
    );
    registry = signed.registry;
    expect(signed.version).toBe(2);
    expect(registry.lookup('tom')).toEqual({ roles: ['approver'], groups: ['treasury'] });
    expect(registry.lookup('gone')).toBeUndefined();
  });

  it('an approver signs a statement the holder verifies against its registry', async () => {
    const record = await verifyApproval(await signApproval(statement(), tom), registry);
    expect(record).toEqual({
      operator: 'tom',
      decision: 'approve',
      requestDigest: REQ,
      policyVersion: 4,
      expiresAt: now + 600,
    });
  });

  it('refuses a statement by an operator without the approver role', async () => {
    const e = await rejected(verifyApproval(await signApproval(statement(), vic), registry));
    expect(e.code).toBe('ERR_POLICY_APPROVAL_INVALID');
    expect(e.message).toContain('approver role');
  });

  it('refuses a statement signed by a key that is not the named operator’s', async () => {
    const forger = { ...vic, kid: 'tom' };
    const e = await rejected(verifyApproval(await signApproval(statement(), forger), registry));
    expect(e.message).toContain('does not verify');
  });

  it('refuses statements by unknown or disabled operators', async () => {
    const ghost = await makeKey('gone', 'EdDSA');
    expect((await rejected(verifyApproval(await signApproval(statement(), ghost), registry))).message).toContain(
      'unknown or disabled',
    );
    const stranger = await makeKey('mallory', 'EdDSA');
    expect((await rejected(verifyApproval(await signApproval(statement(), stranger), registry))).message).toContain(
      'unknown or disabled',
    );
  });

  it('refuses a statement whose payload was changed after signing', async () => {
    const jws = await signApproval(statement(), tom);
    const [h, , s] = jws.split('.');
    const flipped = Buffer.from(JSON.stringify(statement({ decision: 'reject' }))).toString('base64url');
    expect((await rejected(verifyApproval(`${h}.${flipped}.${s}`, registry))).message).toContain('does not verify');
  });

  it('refuses statements that do not match the schema, or expire before they were issued', async () => {
    expect(
      (await rejected(verifyApproval(await signApproval(statement({ request: 'zz' }), tom), registry))).message,
    ).toContain('schema');
    expect(
      (await rejected(verifyApproval(await signApproval(statement({ extra: 1 }), tom), registry))).message,
    ).toContain('schema');
    expect(
      (await rejected(verifyApproval(await signApproval(statement({ exp: now }), tom), registry))).message,
    ).toContain('expires before');
  });

  it('refuses garbage and oversize statements', async () => {
    for (const bad of ['', 'a.b.c', 'x'.repeat(5000)]) {
      expect((await rejected(verifyApproval(bad, registry))).code).toBe('ERR_POLICY_APPROVAL_INVALID');
    }
  });

  it('refuses a registry with duplicate operators or without the quorum', async () => {
    const doc = {
      schema: 'mpc-custody/operators@1',
      version: 3,
      operators: [{ id: 'tom', roles: ['approver'], publicKey: tom.publicJwk }],
    };
    expect(
      (await rejected(verifySignedRegistry(await signDocument(bytes(doc), REGISTRY_TYP, admins.slice(0, 2)), adminSet)))
        .code,
    ).toBe('ERR_POLICY_QUORUM');
    expect((await rejected(parseRegistry({ ...doc, operators: [doc.operators[0], doc.operators[0]] }))).code).toBe(
      'ERR_POLICY_REGISTRY_INVALID',
    );
    expect((await rejected(parseRegistry({ ...doc, operators: [{ ...doc.operators[0], roles: ['god'] }] }))).code).toBe(
      'ERR_POLICY_REGISTRY_INVALID',
    );
  });
});
