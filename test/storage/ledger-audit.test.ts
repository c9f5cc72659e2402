import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { recordLine, verifyAuditLog } from '../../src/audit/index.js';
import { Ed25519Signer } from '../../src/primitives/ed25519.js';
import { PartyLedger } from '../../src/storage/party-ledger.js';
import { SoftwareSealer } from '../../src/storage/software-sealer.js';
import { emitterKey, trustFor } from '../audit/fixtures.js';
import { tempDir } from './helpers.js';

const sealer = () => new SoftwareSealer(Buffer.alloc(32, 0x42));
const audit = (checkpointEvery = 4) => ({
  deployment: 'dep-l',
  emitter: 'party-1',
  signer: new Ed25519Signer(emitterKey('party-1').secret),
  checkpointEvery,
});
const trust = trustFor('dep-l', ['party-1']);
const events = (l: PartyLedger) =>
  l.recordsAfter(0, 1000).map((r) => (JSON.parse(r.body) as { event: { type: string } }).event);

const { dir, cleanup } = tempDir('mpc-ledger-audit-');
afterAll(cleanup);

describe('party ledger: audit records in the same transaction as the change', () => {
  it('each change appends its signed record; the chain verifies and continues across a reopen', async () => {
    const path = join(dir, 'a.db');
    const l = PartyLedger.open(path, 1, { sealer: sealer(), audit: audit() });
    l.appendAudit({ type: 'daemon.started', party: 1 });
    l.putKey({ keyId: 'hot', publicKey: `02${'ab'.repeat(32)}`, threshold: 2, parties: 3, shareVersion: 1 });
    l.putKey({ keyId: 'hot', publicKey: `02${'ab'.repeat(32)}`, threshold: 2, parties: 3, shareVersion: 2 });
    const secret = Buffer.alloc(200, 0);
    secret.write('c0ffee1234567890deadbeef', 'hex');
    secret.writeUInt32BE(0x9abcdef1, 100);
    await l.addPresignature('pre-1', 'hot', secret);
    await l.addPresignature('pre-2', 'hot', secret);
    l.consume('pre-1', 'd'.repeat(64));
    l.consume('never-seen');
    expect(l.burnAvailable()).toBe(1);
    expect(events(l).map((e) => e.type)).toEqual([
      'daemon.started',
      'key.generated',
      'key.share_updated',
      'checkpoint',
      'presignature.created',
      'presignature.created',
      'presignature.consumed',
      'checkpoint',
      'presignature.consumed',
      'presignatures.burnt',
    ]);
    expect(events(l)[6]).toEqual({
      type: 'presignature.consumed',
      key: 'hot',
      presignature: 'pre-1',
      digest: 'd'.repeat(64),
    });
    expect(events(l)[8]).toEqual({ type: 'presignature.consumed', key: null, presignature: 'never-seen' });
    // no secret in any record: the presignature payload's hex (and its words in decimal) never appear
    const all = l.recordsAfter(0, 1000).map(recordLine).join('\n');
    expect(all).not.toContain('c0ffee1234567890');
    expect(all).not.toContain(String(0x9abcdef1));
    l.close();

    const again = PartyLedger.open(path, 1, { sealer: sealer(), audit: audit() });
    expect(again.auditHead.seq).toBe(10);
    again.appendAudit({ type: 'daemon.stopped', reason: 'sigterm' });
    const rep = verifyAuditLog(again.recordsAfter(0, 1000), trust);
    expect(rep.firstBreak).toBeUndefined();
    expect(rep.emitters['party-1']?.records).toBe(12); // with the checkpoint at seq 12
    expect(again.recordsAfter(9, 10).map((r) => JSON.parse(r.body).seq)).toEqual([10, 11, 12]);
    again.close();
  });

  it('a refused or rolled-back change leaves no record, and its record never exists without it', async () => {
    const path = join(dir, 'b.db');
    let crash = false;
    const l = PartyLedger.open(path, 1, {
      sealer: sealer(),
      audit: audit(0),
      onConsumeStep: (s) => {
        if (crash && s === 'updated') throw new Error('simulated crash inside the transaction');
      },
    });
    await l.addPresignature('pre-1', 'hot', Buffer.alloc(64, 7));
    l.consume('pre-1');
    const before = l.recordsAfter(0, 100).length;
    expect(() => l.consume('pre-1')).toThrow(/ERR_PRESIGNATURE_USED/);
    await expect(l.addPresignature('pre-1', 'hot', Buffer.alloc(64, 7))).rejects.toThrow(/ERR_PRESIGNATURE_USED/);
    expect(l.recordsAfter(0, 100).length).toBe(before);
    await l.addPresignature('pre-2', 'hot', Buffer.alloc(64, 7));
    crash = true;
    expect(() => l.consume('pre-2')).toThrow(/ERR_LEDGER_IO/);
    crash = false;
    expect(l.isConsumed('pre-2')).toBe(false);
    expect(events(l).filter((e) => e.type === 'presignature.consumed')).toHaveLength(1);
    // the chain head did not move with the rolled-back record: the next record continues it
    l.consume('pre-2');
    expect(verifyAuditLog(l.recordsAfter(0, 100), trust).ok).toBe(true);
    expect(events(l).filter((e) => e.type === 'presignature.consumed')).toHaveLength(2);
    l.close();
  });

  it('burning an aborted presignature, a policy document and aux info each record their event', async () => {
    const l = PartyLedger.open(join(dir, 'burn.db'), 1, { sealer: sealer(), audit: audit(0) });
    const key = { keyId: 'k', publicKey: `02${'ab'.repeat(32)}`, threshold: 2, parties: 3, shareVersion: 1 };
    // aux info: the key row and its aux.done record, chained in one transaction
    l.putKey(key, { type: 'aux.done', key: 'k', parties: [0, 1, 2] });
    await l.addPresignature('p-1', 'k', Buffer.alloc(8, 1));
    l.burn('p-1', 'session-aborted');
    l.burn('p-1', 'session-aborted'); // no longer available: no change, no record
    expect(l.isConsumed('p-1')).toBe(true);
    const hash = 'e'.repeat(64);
    l.putPolicyDocument({ kind: 'registry', version: 2, hash, document: new Uint8Array([1]) });
    expect(events(l)).toEqual([
      { type: 'aux.done', key: 'k', parties: [0, 1, 2] },
      { type: 'presignature.created', key: 'k', presignature: 'p-1' },
      { type: 'presignature.burnt', presignature: 'p-1', reason: 'session-aborted' },
      { type: 'policy.changed', version: 2, hash, by: 'admin-quorum', document: 'registry' },
    ]);
    expect(verifyAuditLog(l.recordsAfter(0, 100).map(recordLine), trust).ok).toBe(true);
    l.close();
  });

  it('a ledger opened without audit writes no records (audit is opt-in per deployment)', async () => {
    const l = PartyLedger.open(join(dir, 'c.db'), 1, { sealer: sealer() });
    await l.addPresignature('pre-1', 'hot', Buffer.alloc(64, 7));
    expect(l.recordsAfter(0, 10)).toEqual([]);
    expect(() => l.appendAudit({ type: 'daemon.started', party: 1 })).toThrow(/ERR_CONFIG_INVALID/);
    l.close();
  });
});

describe('a ledger that starts over continues the chain (restore after the data directory was lost)', () => {
  it('the first record extends the anchor; the chain of old and new records verifies as one', () => {
    // the chain as the stream holds it: 5 records from the lost ledger
    const lost = PartyLedger.open(join(dir, 'lost.db'), 1, { sealer: sealer(), audit: audit(0) });
    for (let i = 0; i < 5; i++) lost.appendAudit({ type: 'daemon.started', party: 1 });
    const shipped = lost.recordsAfter(0, 100);
    const head = lost.auditHead;
    lost.close();

    const path = join(dir, 'restored.db');
    const fresh = PartyLedger.open(path, 1, { sealer: sealer(), audit: { ...audit(0), anchor: head } });
    fresh.restoreKey({ keyId: 'hot', publicKey: `02${'ab'.repeat(32)}`, threshold: 2, parties: 3, epoch: 2 });
    expect(fresh.getKey('hot')).toMatchObject({ shareVersion: 0, epoch: 2 });
    // the same key again: refused, nothing recorded
    expect(() =>
      fresh.restoreKey({ keyId: 'hot', publicKey: `02${'ab'.repeat(32)}`, threshold: 2, parties: 3, epoch: 2 }),
    ).toThrow(expect.objectContaining({ code: 'ERR_STORAGE_VERSION_CONFLICT' }));
    const added = fresh.recordsAfter(0, 100);
    expect(added.map((r) => JSON.parse(r.body).seq)).toEqual([6]);
    expect(JSON.parse(added[0]?.body as string).event).toEqual({
      type: 'key.restored',
      key: 'hot',
      epoch: 2,
      publicKey: `02${'ab'.repeat(32)}`,
    });
    expect(verifyAuditLog([...shipped, ...added], trust).firstBreak).toBeUndefined();
    fresh.close();

    // reopened (without the anchor, or with another one): the chain goes on from its own records
    const other = { seq: 99, hash: 'ee'.repeat(32) };
    const again = PartyLedger.open(path, 1, { sealer: sealer(), audit: { ...audit(0), anchor: other } });
    again.appendAudit({ type: 'daemon.stopped', reason: 'sigterm' });
    expect(verifyAuditLog([...shipped, ...again.recordsAfter(0, 100)], trust).firstBreak).toBeUndefined();
    again.close();
  });

  it('an anchor taken before any record is kept across a reopen; without one a new ledger starts at seq 1', () => {
    const head = { seq: 41, hash: 'ab'.repeat(32) };
    const path = join(dir, 'anchored.db');
    PartyLedger.open(path, 1, { sealer: sealer(), audit: { ...audit(0), anchor: head } }).close();
    const l = PartyLedger.open(path, 1, { sealer: sealer(), audit: audit(0) });
    expect(l.auditHead).toEqual(head);
    l.appendAudit({ type: 'daemon.started', party: 1 });
    expect(JSON.parse(l.recordsAfter(0, 10)[0]?.body as string)).toMatchObject({ seq: 42, prev: head.hash });
    l.close();
    const plain = PartyLedger.open(join(dir, 'plain.db'), 1, { sealer: sealer(), audit: audit(0) });
    expect(plain.auditHead.seq).toBe(0);
    plain.close();
    expect(() =>
      PartyLedger.open(join(dir, 'bad-anchor.db'), 1, {
        sealer: sealer(),
        audit: { ...audit(0), anchor: { seq: 0, hash: 'x' } },
      }),
    ).toThrow(expect.objectContaining({ code: 'ERR_AUDIT_EVENT_INVALID' }));
  });
});
