/**
 * Audit records: canonical bytes, hash and signature.
 *
 * Canonical bytes: the emitter serialises the body once (JSON.stringify, UTF-8) and that exact
 * string is what is hashed, signed, stored in the ledger, published and exported. Nobody ever
 * re-serialises a body: a reader parses it to look inside but hashes and verifies the stored
 * string, so JSON's freedom (key order, spacing, escapes) cannot make two parties disagree.
 *
 *   hash(record) = SHA-256("mpc-custody/audit/v1/hash\n" ‖ body)
 *   sig(record)  = Ed25519(emitter key, "mpc-custody/audit/v1/sig\n" ‖ body)
 *
 * A stored record is `{"body": "<the body string>", "sig": "<128 hex>"}`: one JSONL line.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { Compile } from 'typebox/compile';
import { MpcError } from '../errors/index.js';
import { type Ed25519Signer, ed25519Verify } from '../primitives/ed25519.js';
import { type AuditBody, AuditBodySchema, type AuditEvent, AuditEventSchema } from './schema.js';

/** A record's body larger than this is refused before parsing. */
export const MAX_BODY_BYTES = 16 * 1024;
/** A stored line larger than this is refused before parsing. */
export const MAX_LINE_BYTES = MAX_BODY_BYTES * 2 + 256;
export const GENESIS_HASH = '0'.repeat(64);

const HASH_DOMAIN = new TextEncoder().encode('mpc-custody/audit/v1/hash\n');
const SIG_DOMAIN = new TextEncoder().encode('mpc-custody/audit/v1/sig\n');
const utf8 = new TextEncoder();

const checkBody = Compile(AuditBodySchema);
const checkEvent = Compile(AuditEventSchema);

/** One stored record: the exact body string and the emitter's signature over it. */
export interface StoredRecord {
  readonly body: string;
  readonly sig: string;
}

/** A stored record with its body parsed and validated (not yet verified). */
export interface ParsedRecord extends StoredRecord {
  readonly parsed: AuditBody;
  readonly hash: string;
}

const withDomain = (domain: Uint8Array, body: string): Uint8Array => {
  const b = utf8.encode(body);
  const out = new Uint8Array(domain.length + b.length);
  out.set(domain);
  out.set(b, domain.length);
  return out;
};

export function recordHash(body: string): string {
  return bytesToHex(sha256(withDomain(HASH_DOMAIN, body)));
}

export function signBody(signer: Ed25519Signer, body: string): string {
  return bytesToHex(signer.sign(withDomain(SIG_DOMAIN, body)));
}

/** False for any malformed signature or key; never throws. */
export function verifyRecordSignature(publicKey: Uint8Array, record: StoredRecord): boolean {
  if (!/^[0-9a-f]{128}$/.test(record.sig)) return false;
  return ed25519Verify(publicKey, withDomain(SIG_DOMAIN, record.body), hexToBytes(record.sig));
}

/** Throws ERR_AUDIT_EVENT_INVALID unless `event` matches the schema (emitters call it before signing). */
export function assertAuditEvent(event: unknown): asserts event is AuditEvent {
  if (!checkEvent.Check(event)) {
    const first = checkEvent.Errors(event)[0];
    throw new MpcError(
      'ERR_AUDIT_EVENT_INVALID',
      `audit event does not match schema v1 at ${first?.instancePath || '/'}`,
    );
  }
}

const malformed = (message: string) => new MpcError('ERR_AUDIT_RECORD_MALFORMED', message);

/** Parses and validates one stored record (an object or a JSONL line); sizes are checked first. */
export function parseRecord(input: string | StoredRecord): ParsedRecord {
  let stored: unknown = input;
  if (typeof input === 'string') {
    if (input.length > MAX_LINE_BYTES) throw malformed(`record line longer than ${MAX_LINE_BYTES} characters`);
    try {
      stored = JSON.parse(input);
    } catch {
      throw malformed('record line is not JSON');
    }
  }
  if (typeof stored !== 'object' || stored === null || Array.isArray(stored))
    throw malformed('record is not an object');
  const { body, sig, ...rest } = stored as Record<string, unknown>;
  if (Object.keys(rest).length !== 0) throw malformed('record has fields other than body and sig');
  if (typeof body !== 'string' || typeof sig !== 'string') throw malformed('record body and sig must be strings');
  if (body.length > MAX_BODY_BYTES) throw malformed(`record body longer than ${MAX_BODY_BYTES} characters`);
  if (!/^[0-9a-f]{128}$/.test(sig)) throw malformed('record sig must be 128 hex digits');
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw malformed('record body is not JSON');
  }
  if (!checkBody.Check(parsed)) {
    const first = checkBody.Errors(parsed)[0];
    throw malformed(`record body does not match schema v1 at ${first?.instancePath || '/'}`);
  }
  return { body, sig, parsed, hash: recordHash(body) };
}

/** The JSONL line of a stored record. */
export function recordLine(record: StoredRecord): string {
  return JSON.stringify({ body: record.body, sig: record.sig });
}
