/**
 * The ledger's side of a key refresh (issue #16): prepared / committed rotations, the burn of the
 * older epoch's presignatures in the commit's transaction, and the refusal to store a presignature
 * of an epoch the key has left.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { Ed25519Signer } from '../../src/primitives/ed25519.js';
import { PartyLedger } from '../../src/storage/party-ledger.js';
import { SoftwareSealer } from '../../src/storage/software-sealer.js';
import { emitterKey } from '../audit/fixtures.js';
import { tempDir } from './helpers.js';

const sealer = () => new SoftwareSealer(Buffer.alloc(32, 0x42));
const audit = {
  deployment: 'dep-r',
  emitter: 'party-1',
  signer: new Ed25519Signer(emitterKey('party-1').secret),
  checkpointEvery: 100,
};
const events = (l: PartyLedger) =>
  l.recordsAfter(0, 1000).map((r) => (JSON.parse(r.body) as { event: Record<string, unknown> }).event);
const id = (n: number) => n.toString(16).padStart(64, '0');
const sid = 'aa'.repeat(16);
const digest = 'dd'.repeat(32);

const { dir, cleanup } = tempDir('mpc-ledger-rotation-');
afterAll(cleanup);

describe('ledger rotations (refresh)', () => {
  it('commit moves the key to the new epoch and burns its older presignatures in one transaction', async () => {
    const l = PartyLedger.open(join(dir, 'a.db'), 1, { sealer: sealer(), audit });
    try {
      const key = { publicKey: '02ab', threshold: 2, parties: 3, shareVersion: 2 };
      l.putKey({ keyId: 'k', ...key });
      l.putKey({ keyId: 'other', ...key });
      await l.addPresignature(id(1), 'k', Buffer.from('secret one'));
      await l.addPresignature(id(2), 'other', Buffer.from('secret two'));
      expect(l.presignatureKeyEpoch(id(1))).toBe(0);

      expect(() => l.prepareRotation({ keyId: 'k', sid, epoch: 2, digest, shareVersion: 3 })).toThrow(
        /ERR_ROTATION_STATE/,
      );
      l.prepareRotation({ keyId: 'k', sid, epoch: 1, digest, shareVersion: 3 });
      // prepared: nothing changes for signing
      expect(l.getKey('k')).toMatchObject({ shareVersion: 2 });
      expect(l.getKey('k')?.epoch).toBeUndefined();
      expect(l.countAvailable('k')).toBe(1);
      expect(() => l.commitRotation('k', 'bb'.repeat(16), 1)).toThrow(/ERR_ROTATION_STATE/);

      expect(l.commitRotation('k', sid, 1)).toBe(1);
      expect(l.getKey('k')).toMatchObject({ shareVersion: 3, epoch: 1 });
      expect(l.getRotation('k')).toMatchObject({ state: 'committed', epoch: 1, shareVersion: 3 });
      expect(l.isBurnt(id(1))).toBe(true);
      expect(await l.loadPresignature(id(1))).toBeUndefined();
      // another key's presignature is untouched
      expect(l.countAvailable('other')).toBe(1);
      // committed once only
      expect(() => l.commitRotation('k', sid, 1)).toThrow(/ERR_ROTATION_STATE/);

      // a presign that began under epoch 0 and ends after the commit is not stored
      await expect(l.addPresignature(id(3), 'k', Buffer.from('late'))).rejects.toMatchObject({
        code: 'ERR_PRESIGNATURE_EPOCH',
      });
      await l.addPresignature(id(4), 'k', Buffer.from('fresh'), 1);
      expect(l.presignatureKeyEpoch(id(4))).toBe(1);

      const lifecycle = events(l).filter((e) => e.type === 'refresh.step' || e.type === 'presignatures.burnt');
      expect(lifecycle).toEqual([
        { type: 'refresh.step', key: 'k', step: 'prepared', epoch: 1 },
        { type: 'presignatures.burnt', count: 1, reason: 'epoch' },
        { type: 'refresh.step', key: 'k', step: 'committed', epoch: 1 },
      ]);
    } finally {
      l.close();
    }
  });

  it('an abandoned rotation leaves the key on its epoch', () => {
    const l = PartyLedger.open(join(dir, 'b.db'), 1, { sealer: sealer(), audit });
    try {
      l.putKey({ keyId: 'k', publicKey: '02ab', threshold: 2, parties: 3, shareVersion: 1 });
      l.prepareRotation({ keyId: 'k', sid, epoch: 1, digest, shareVersion: 2 });
      l.abandonRotation('k');
      expect(l.getRotation('k')).toBeUndefined();
      expect(() => l.commitRotation('k', sid, 1)).toThrow(/ERR_ROTATION_STATE/);
      expect(l.getKey('k')).toMatchObject({ shareVersion: 1 });
      expect(events(l).at(-1)).toEqual({ type: 'refresh.step', key: 'k', step: 'abandoned', epoch: 1 });
    } finally {
      l.close();
    }
  });
  it('an unfinished join is replaced by a new attempt; a committed share of the key never is', () => {
    const l = PartyLedger.open(join(dir, 'd.db'), 3, { sealer: sealer(), audit });
    try {
      const join1 = { keyId: 'k', publicKey: '02ab', threshold: 3, parties: 4, epoch: 0 };
      l.joinKey(join1);
      l.prepareRotation({ keyId: 'k', sid, epoch: 1, digest, shareVersion: 1 });
      // the commit never came: a new attempt (another threshold, another key epoch) replaces it
      l.rejoinKey({ ...join1, threshold: 2, epoch: 4 });
      expect(l.getKey('k')).toEqual({ ...join1, threshold: 2, epoch: 4, shareVersion: 0 });
      expect(l.getRotation('k')).toBeUndefined();
      expect(events(l).slice(-2)).toEqual([
        { type: 'refresh.step', key: 'k', step: 'abandoned', epoch: 1 },
        { type: 'reshare.step', key: 'k', step: 'joining', epoch: 4, parties: [0, 1, 2, 3] },
      ]);
      // this attempt is committed: the share is real, a later "join" of the key id is refused
      l.prepareRotation({ keyId: 'k', sid, epoch: 5, digest, shareVersion: 2 });
      l.commitRotation('k', sid, 5, { threshold: 2, parties: 4 });
      const held = l.getKey('k');
      expect(() => l.rejoinKey({ ...join1, epoch: 5 })).toThrow(/ERR_STORAGE_VERSION_CONFLICT/);
      expect(l.getKey('k')).toEqual(held);
      expect(l.getRotation('k')).toMatchObject({ state: 'committed', epoch: 5 });
      // a key generated or imported here (a full share) is refused the same way; an unknown one too
      l.putKey({ keyId: 'own', publicKey: '02cd', threshold: 2, parties: 3, shareVersion: 1 });
      expect(() => l.rejoinKey({ ...join1, keyId: 'own' })).toThrow(/ERR_STORAGE_VERSION_CONFLICT/);
      expect(l.getKey('own')).toMatchObject({ publicKey: '02cd', shareVersion: 1 });
      expect(() => l.rejoinKey({ ...join1, keyId: 'none' })).toThrow(/ERR_DAEMON_KEY_UNKNOWN/);
    } finally {
      l.close();
    }
  });

  it('a leaving party retires the key: one transaction marks it, burns its presignatures, drops a prepared rotation', async () => {
    const l = PartyLedger.open(join(dir, 'e.db'), 3, { sealer: sealer(), audit });
    try {
      const key = { publicKey: '02ab', threshold: 2, parties: 4, shareVersion: 2 };
      l.putKey({ keyId: 'k', ...key });
      l.putKey({ keyId: 'other', ...key });
      await l.addPresignature(id(1), 'k', Buffer.from('secret one'));
      await l.addPresignature(id(2), 'other', Buffer.from('secret two'));
      l.prepareRotation({ keyId: 'k', sid, epoch: 1, digest, shareVersion: 3 });
      // only the epoch after the key's
      expect(() => l.retireKey('k', 2, 3)).toThrow(/ERR_ROTATION_STATE/);
      expect(() => l.retireKey('none', 1, 3)).toThrow(/ERR_DAEMON_KEY_UNKNOWN/);
      expect(l.getKey('k')?.retired).toBeUndefined();

      expect(l.retireKey('k', 1, 3)).toBe(1);
      expect(l.getKey('k')).toEqual({ keyId: 'k', ...key, retired: 1 });
      expect(l.getRotation('k')).toBeUndefined();
      expect(await l.loadPresignature(id(1))).toBeUndefined();
      expect(l.countAvailable('other')).toBe(1);
      // retired once only
      expect(() => l.retireKey('k', 1, 3)).toThrow(/ERR_ROTATION_STATE/);
      expect(events(l).slice(-3)).toEqual([
        { type: 'refresh.step', key: 'k', step: 'abandoned', epoch: 1 },
        { type: 'presignatures.burnt', count: 1, reason: 'retired' },
        { type: 'reshare.step', key: 'k', step: 'left', epoch: 1, parties: [0, 1, 2] },
      ]);
    } finally {
      l.close();
    }
    // the mark survives a reopen
    const again = PartyLedger.open(join(dir, 'e.db'), 3, { sealer: sealer(), audit });
    try {
      expect(again.getKey('k')?.retired).toBe(1);
    } finally {
      again.close();
    }
  });

  it('a schema-4 ledger gains keys.retired_epoch at open (every key held)', () => {
    const path = join(dir, 'f.db');
    const l = PartyLedger.open(path, 1, { sealer: sealer() });
    l.putKey({ keyId: 'k', publicKey: '02ab', threshold: 2, parties: 3, shareVersion: 1 });
    l.close();
    const db = new Database(path);
    db.exec('ALTER TABLE keys DROP COLUMN retired_epoch');
    db.prepare(`UPDATE meta SET v = '4' WHERE k = 'schema_version'`).run();
    db.close();
    const again = PartyLedger.open(path, 1, { sealer: sealer() });
    try {
      expect(again.getKey('k')).toEqual({ keyId: 'k', publicKey: '02ab', threshold: 2, parties: 3, shareVersion: 1 });
      expect(again.retireKey('k', 1, 2)).toBe(0);
      expect(again.getKey('k')?.retired).toBe(1);
    } finally {
      again.close();
    }
    const check = new Database(path, { readonly: true });
    expect(check.prepare(`SELECT v FROM meta WHERE k = 'schema_version'`).get()).toEqual({ v: '5' });
    check.close();
  });

  it('a schema-3 ledger gains the epoch columns and the rotations table at open (everything of epoch 0)', async () => {
    const path = join(dir, 'c.db');
    const l = PartyLedger.open(path, 1, { sealer: sealer() });
    l.putKey({ keyId: 'k', publicKey: '02ab', threshold: 2, parties: 3, shareVersion: 1 });
    await l.addPresignature(id(7), 'k', Buffer.from('v3 era'));
    l.close();
    // the same database as schema 3 wrote it: no epoch columns, no rotations table
    const db = new Database(path);
    db.exec('ALTER TABLE keys DROP COLUMN epoch');
    db.exec('ALTER TABLE keys DROP COLUMN retired_epoch');
    db.exec('ALTER TABLE presignatures DROP COLUMN key_epoch');
    db.exec('DROP TABLE rotations');
    db.prepare(`UPDATE meta SET v = '3' WHERE k = 'schema_version'`).run();
    db.close();
    const again = PartyLedger.open(path, 1, { sealer: sealer() });
    try {
      expect(again.getKey('k')).toEqual({ keyId: 'k', publicKey: '02ab', threshold: 2, parties: 3, shareVersion: 1 });
      expect(again.presignatureKeyEpoch(id(7))).toBe(0);
      again.prepareRotation({ keyId: 'k', sid, epoch: 1, digest, shareVersion: 2 });
      expect(again.getRotation('k')).toMatchObject({ state: 'prepared', epoch: 1 });
      expect(again.commitRotation('k', sid, 1)).toBe(1); // the v3-era presignature is of epoch 0
      expect(again.getKey('k')).toMatchObject({ shareVersion: 2, epoch: 1 });
    } finally {
      again.close();
    }
    const check = new Database(path, { readonly: true });
    expect(check.prepare(`SELECT v FROM meta WHERE k = 'schema_version'`).get()).toEqual({ v: '5' });
    check.close();
  });
});
