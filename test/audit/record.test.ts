/**
 * The record layer (src/audit/record.ts) on its own: known answers for the hash and the signature
 * (computed here with node:crypto over the documented domain strings, not with the module), and
 * every refusal of `parseRecord` with its code and message, sizes at and one past their bounds. The
 * gaps a mutation run found (57.6 % on 2026-12-03): malformed-record branches that a later check
 * happened to catch, the domain strings, the size bounds, the signature's hex check.
 */
import { createHash, createPrivateKey, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  assertAuditEvent,
  MAX_BODY_BYTES,
  MAX_LINE_BYTES,
  parseRecord,
  recordHash,
  recordLine,
  type StoredRecord,
  verifyRecordSignature,
} from '../../src/audit/index.js';
import { MpcError } from '../../src/errors/index.js';
import { emitterKey, makeEmitter } from './fixtures.js';

const record = (): StoredRecord => {
  const e = makeEmitter('dep-r', 'party-0', 0);
  return e.append({ type: 'daemon.started', party: 0 })[0] as StoredRecord;
};

/** The refusal of `parseRecord(input)`: code and message (or 'accepted'). */
function refusal(input: string | StoredRecord): string {
  try {
    parseRecord(input);
    return 'accepted';
  } catch (e) {
    expect(e).toBeInstanceOf(MpcError);
    return `${(e as MpcError).code}: ${(e as MpcError).reason}`;
  }
}
const M = 'ERR_AUDIT_RECORD_MALFORMED';

describe('hash and signature: known answers', () => {
  it('hash = SHA-256("mpc-custody/audit/v1/hash\\n" ‖ body)', () => {
    const body = record().body;
    const want = createHash('sha256').update('mpc-custody/audit/v1/hash\n').update(body).digest('hex');
    expect(recordHash(body)).toBe(want);
    expect(parseRecord(record()).hash).toBe(want);
  });

  it('sig = Ed25519(key, "mpc-custody/audit/v1/sig\\n" ‖ body), checked by node:crypto', () => {
    const r = record();
    const der = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), emitterKey('party-0').secret]);
    const key = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    const want = sign(null, Buffer.concat([Buffer.from('mpc-custody/audit/v1/sig\n'), Buffer.from(r.body)]), key);
    expect(r.sig).toBe(want.toString('hex'));
    expect(verifyRecordSignature(emitterKey('party-0').publicKey, r)).toBe(true);
  });

  it('a signature that is not 128 lowercase hex digits is false, never an exception', () => {
    const r = record();
    const pub = emitterKey('party-0').publicKey;
    for (const sig of [r.sig.toUpperCase(), `${r.sig}00`, `00${r.sig}`, r.sig.slice(2), `${r.sig.slice(0, 126)}zz`]) {
      expect(verifyRecordSignature(pub, { body: r.body, sig })).toBe(false);
    }
  });
});

describe('parseRecord refuses, naming what is wrong', () => {
  it('a line over MAX_LINE_BYTES (32 KiB + 256) before parsing; one at the bound is read', () => {
    expect(MAX_LINE_BYTES).toBe(2 * 16 * 1024 + 256);
    const r = record();
    const line = recordLine(r);
    // padded with spaces JSON allows: exactly at the bound it parses, one more is refused unread
    expect(refusal(line + ' '.repeat(MAX_LINE_BYTES - line.length))).toBe('accepted');
    expect(refusal(line + ' '.repeat(MAX_LINE_BYTES - line.length + 1))).toBe(
      `${M}: record line longer than ${MAX_LINE_BYTES} characters`,
    );
  });

  it('not JSON, not an object, extra fields, wrong types', () => {
    const r = record();
    expect(refusal('{"body":')).toBe(`${M}: record line is not JSON`);
    for (const notObject of ['null', '[]', '"x"', '7']) {
      expect(refusal(notObject)).toBe(`${M}: record is not an object`);
    }
    expect(refusal(null as unknown as string)).toBe(`${M}: record is not an object`);
    expect(refusal(JSON.stringify({ ...r, extra: 1 }))).toBe(`${M}: record has fields other than body and sig`);
    expect(refusal(JSON.stringify({ body: 1, sig: r.sig }))).toBe(`${M}: record body and sig must be strings`);
    expect(refusal(JSON.stringify({ body: r.body, sig: 1 }))).toBe(`${M}: record body and sig must be strings`);
  });

  it('a body over MAX_BODY_BYTES; one at the bound gets to the schema check', () => {
    const r = record();
    const at = { body: r.body + ' '.repeat(MAX_BODY_BYTES - r.body.length), sig: r.sig };
    expect(refusal(at)).toBe('accepted');
    const over = { body: `${at.body} `, sig: r.sig };
    expect(refusal(over)).toBe(`${M}: record body longer than ${MAX_BODY_BYTES} characters`);
  });

  it('a sig that is not exactly 128 lowercase hex digits', () => {
    const r = record();
    for (const sig of [r.sig.toUpperCase(), `${r.sig}0`, `0${r.sig}`, r.sig.slice(1)]) {
      expect(refusal({ body: r.body, sig })).toBe(`${M}: record sig must be 128 hex digits`);
    }
  });

  it('a body that is not JSON, or not schema v1 (named by its path)', () => {
    const r = record();
    expect(refusal({ body: '{"v":', sig: r.sig })).toBe(`${M}: record body is not JSON`);
    const body = JSON.parse(r.body) as Record<string, unknown>;
    expect(refusal({ body: JSON.stringify({ ...body, seq: -1 }), sig: r.sig })).toBe(
      `${M}: record body does not match schema v1 at /seq`,
    );
    expect(refusal({ body: '[]', sig: r.sig })).toBe(`${M}: record body does not match schema v1 at /`);
  });

  it('an event outside the schema is refused before signing (the union of events: the path is its root)', () => {
    for (const bad of [{ type: 'daemon.started', party: -1 }, 'x', { type: 'no.such.event' }]) {
      expect(() => assertAuditEvent(bad)).toThrow(
        expect.objectContaining({
          code: 'ERR_AUDIT_EVENT_INVALID',
          reason: 'audit event does not match schema v1 at /',
        }),
      );
    }
  });
});
