/**
 * Documents that only a quorum of admins can change (policy versions, the operator registry): a
 * JWS in the General JSON Serialization (RFC 7515 §7.2.1), one signature per admin, each with a
 * protected header naming the admin (`kid`) and the document type (`typ`). The signed payload is
 * the exact document bytes; nothing is re-serialised before checking, so there is no
 * canonicalisation to get wrong.
 *
 * The admin set (k of m public keys) is configured at setup and is never taken from the network.
 */
import { decodeProtectedHeader, flattenedVerify, type GeneralJWS, GeneralSign } from 'jose';
import Type, { type Static } from 'typebox';
import { Compile } from 'typebox/compile';
import { MpcError } from '../errors/index.js';
import { algorithmsFor, importPublicJwk, PublicJwk, type VerifyKey } from './keys.js';
import { assertSchema } from './schema-check.js';

/** Larger signed documents are refused before any parsing. */
export const MAX_SIGNED_DOCUMENT_BYTES = 2 << 20;
const MAX_SIGNATURES = 64;

export const AdminSetSchema = Type.Object(
  {
    threshold: Type.Integer({ minimum: 1, maximum: 64 }),
    admins: Type.Array(
      Type.Object(
        { id: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$' }), publicKey: PublicJwk },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: 64 },
    ),
  },
  { additionalProperties: false },
);
export type AdminSetConfig = Static<typeof AdminSetSchema>;

/** A signed document's file: a JWS in general JSON form (the CLI checks a file against it before sending). */
export const GeneralJwsSchema = Type.Object(
  {
    payload: Type.String({ pattern: '^[A-Za-z0-9_-]*$' }),
    signatures: Type.Array(
      Type.Object(
        {
          protected: Type.String({ pattern: '^[A-Za-z0-9_-]+$', maxLength: 4096 }),
          signature: Type.String({ pattern: '^[A-Za-z0-9_-]+$', maxLength: 1024 }),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: MAX_SIGNATURES },
    ),
  },
  { additionalProperties: false },
);
const checkAdminSet = Compile(AdminSetSchema);
const checkJws = Compile(GeneralJwsSchema);

export interface AdminSet {
  readonly threshold: number;
  readonly admins: ReadonlyMap<string, { readonly key: VerifyKey; readonly algorithms: readonly string[] }>;
}

/** Validates and imports an admin set (k of m). */
export async function loadAdminSet(value: unknown): Promise<AdminSet> {
  assertSchema(checkAdminSet, value, 'ERR_POLICY_ADMIN_SET_INVALID', 'admin set');
  const cfg = value as AdminSetConfig;
  const admins = new Map<string, { key: VerifyKey; algorithms: readonly string[] }>();
  const seenKeys = new Set<string>();
  for (const a of cfg.admins) {
    if (admins.has(a.id)) throw new MpcError('ERR_POLICY_ADMIN_SET_INVALID', `admin ${a.id} appears twice`);
    const fingerprint = JSON.stringify(a.publicKey);
    if (seenKeys.has(fingerprint))
      throw new MpcError('ERR_POLICY_ADMIN_SET_INVALID', `admin ${a.id} reuses another admin's key`);
    seenKeys.add(fingerprint);
    admins.set(a.id, {
      key: await importPublicJwk(a.publicKey, `admin ${a.id}`),
      algorithms: algorithmsFor(a.publicKey),
    });
  }
  if (cfg.threshold > admins.size) {
    throw new MpcError('ERR_POLICY_ADMIN_SET_INVALID', `threshold ${cfg.threshold} is above the ${admins.size} admins`);
  }
  return { threshold: cfg.threshold, admins };
}

export interface Signer {
  readonly kid: string;
  readonly alg: 'EdDSA' | 'ES256';
  readonly privateKey: Parameters<GeneralSign['addSignature']>[0];
}

/** Signs `payload` as a document of type `typ` by each signer (an admin tool's side). */
export async function signDocument(payload: Uint8Array, typ: string, signers: readonly Signer[]): Promise<GeneralJWS> {
  const jws = new GeneralSign(payload);
  for (const s of signers) jws.addSignature(s.privateKey).setProtectedHeader({ alg: s.alg, kid: s.kid, typ });
  return jws.sign();
}

/** A document whose signatures reached the quorum, with who signed. */
export interface QuorumDocument {
  readonly payload: Uint8Array;
  readonly signedBy: readonly string[];
}

/**
 * Verifies a General JWS against the admin set: counts distinct admins whose signature verifies
 * with `typ`; unknown signers and bad signatures count for nothing.
 *
 * @throws MpcError ERR_POLICY_SIGNED_MALFORMED, ERR_POLICY_QUORUM (naming how many valid of how many needed)
 */
export async function verifyQuorumDocument(raw: unknown, typ: string, admins: AdminSet): Promise<QuorumDocument> {
  const jws = typeof raw === 'string' || raw instanceof Uint8Array ? parseJson(raw) : raw;
  if (!checkJws.Check(jws)) throw new MpcError('ERR_POLICY_SIGNED_MALFORMED', `${typ}: not a JWS in general JSON form`);
  const doc = jws as Static<typeof GeneralJwsSchema>;
  const signedBy = new Set<string>();
  for (const sig of doc.signatures) {
    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      header = decodeProtectedHeader({ protected: sig.protected, payload: doc.payload, signature: sig.signature });
    } catch {
      continue;
    }
    if (header.typ !== typ || typeof header.kid !== 'string' || header.crit !== undefined || header.b64 !== undefined)
      continue;
    const admin = admins.admins.get(header.kid);
    if (admin === undefined || signedBy.has(header.kid)) continue;
    try {
      await flattenedVerify({ protected: sig.protected, payload: doc.payload, signature: sig.signature }, admin.key, {
        algorithms: [...admin.algorithms],
      });
      signedBy.add(header.kid);
    } catch {
      // A signature that does not verify counts for nothing.
    }
  }
  if (signedBy.size < admins.threshold) {
    throw new MpcError(
      'ERR_POLICY_QUORUM',
      `${typ}: ${signedBy.size} valid admin signature(s), ${admins.threshold} needed`,
      { details: { valid: signedBy.size, needed: admins.threshold } },
    );
  }
  return { payload: Buffer.from(doc.payload, 'base64url'), signedBy: [...signedBy].sort() };
}

function parseJson(raw: string | Uint8Array): unknown {
  const size = typeof raw === 'string' ? Buffer.byteLength(raw) : raw.length;
  if (size > MAX_SIGNED_DOCUMENT_BYTES) {
    throw new MpcError(
      'ERR_POLICY_SIGNED_MALFORMED',
      `signed document is ${size} bytes, above ${MAX_SIGNED_DOCUMENT_BYTES}`,
    );
  }
  try {
    return JSON.parse(typeof raw === 'string' ? raw : new TextDecoder('utf-8', { fatal: true }).decode(raw));
  } catch {
    throw new MpcError('ERR_POLICY_SIGNED_MALFORMED', 'signed document is not JSON');
  }
}
