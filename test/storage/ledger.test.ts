import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isMpcError } from '../../src/errors/index.js';
import { PartyLedger } from '../../src/storage/party-ledger.js';
import { SoftwareSealer } from '../../src/storage/software-sealer.js';
import { compileCrashChild, runChild, scanForPlaintext, tempDir } from './helpers.js';

const sealer = (): SoftwareSealer => new SoftwareSealer(Buffer.alloc(32, 0x42));
const payload = (tag: string): Buffer => Buffer.from(`presignature secret k_i chi_i of ${tag} `.repeat(3));
const used = (fn: () => unknown): void => {
  expect(fn).toThrow(expect.objectContaining({ code: 'ERR_PRESIGNATURE_USED' }));
};

describe('party ledger (better-sqlite3, WAL, synchronous=FULL)', () => {
  const t = tempDir('ledger');
  afterAll(() => t.cleanup());

  it('opens in WAL mode, keeps key metadata, refuses another party and rollback of share versions', async () => {
    const path = join(t.dir, 'meta', 'ledger.db');
    const l = PartyLedger.open(path, 3);
    l.putKey({ keyId: 'w1', publicKey: '02ab', threshold: 2, parties: 3, shareVersion: 1 });
    l.putKey({ keyId: 'w1', publicKey: '02ab', threshold: 2, parties: 3, shareVersion: 2 });
    expect(() => l.putKey({ keyId: 'w1', publicKey: '02ab', threshold: 2, parties: 3, shareVersion: 1 })).toThrow(
      /ERR_STORAGE_VERSION_CONFLICT/,
    );
    expect(l.listKeys()).toEqual([{ keyId: 'w1', publicKey: '02ab', threshold: 2, parties: 3, shareVersion: 2 }]);
    l.close();
    expect(() => PartyLedger.open(path, 4)).toThrow(/ERR_LEDGER_CORRUPT/);
    const again = PartyLedger.open(path, 3);
    expect(again.getKey('w1')?.shareVersion).toBe(2);
    again.close();
  });

  it('consumes once; consumed entries are never loaded again; unknown ids become tombstones', async () => {
    const path = join(t.dir, 'once', 'ledger.db');
    const l = PartyLedger.open(path, 1, { sealer: sealer() });
    await l.addPresignature('a1', 'w1', payload('a1'));
    await l.addPresignature('a2', 'w1', payload('a2'));
    expect(l.listAvailable('w1')).toEqual(['a1', 'a2']);
    expect((await l.loadPresignature('a1'))?.equals(payload('a1'))).toBe(true);
    l.consume('a1');
    used(() => l.consume('a1'));
    expect(await l.loadPresignature('a1')).toBeUndefined();
    expect(l.listAvailable()).toEqual(['a2']);
    await expect(l.addPresignature('a1', 'w1', payload('again'))).rejects.toThrow(/ERR_PRESIGNATURE_USED/);
    l.consume('never-seen');
    used(() => l.consume('never-seen'));
    l.close();
    const r = PartyLedger.open(path, 1, { sealer: sealer() });
    used(() => r.consume('a1'));
    expect(r.isConsumed('a1')).toBe(true);
    expect(r.listAvailable()).toEqual(['a2']);
    r.close();
    // Sealed payloads only: the presignature secrets never appear in the database files.
    expect(scanForPlaintext(join(t.dir, 'once'), [payload('a1'), payload('a2')])).toEqual([]);
  });

  it('a backup carries no presignature; a restore never brings one back', async () => {
    const dir = join(t.dir, 'restore');
    const live = join(dir, 'ledger.db');
    const l = PartyLedger.open(live, 1, { sealer: sealer() });
    l.putKey({ keyId: 'w1', publicKey: '02ab', threshold: 2, parties: 3, shareVersion: 1 });
    await l.addPresignature('b1', 'w1', payload('b1'));
    await l.addPresignature('b2', 'w1', payload('b2'));
    l.consume('b1');
    await l.backupTo(join(dir, 'backup.db'));
    l.consume('b2'); // after the backup
    await l.addPresignature('b3', 'w1', payload('b3'));
    l.close();
    const r = PartyLedger.restore(join(dir, 'backup.db'), live, 1, { sealer: sealer() });
    expect(r.epoch).toBe(2);
    expect(r.listAvailable()).toEqual([]);
    expect(await r.loadPresignature('b2')).toBeUndefined();
    expect(await r.loadPresignature('b3')).toBeUndefined();
    used(() => r.consume('b1'));
    expect(r.getKey('w1')?.shareVersion).toBe(1);
    r.close();
    expect(scanForPlaintext(dir, [payload('b1'), payload('b2'), payload('b3')])).toEqual([]);
  });

  it('records each session id once, durably, and prunes old ones', async () => {
    const path = join(t.dir, 'sessions', 'ledger.db');
    const l = PartyLedger.open(path, 4);
    expect(l.recordSession('ab01', 1_000)).toBe(true);
    expect(l.recordSession('ab01', 2_000)).toBe(false);
    l.close();
    const again = PartyLedger.open(path, 4);
    expect(again.recordSession('ab01', 3_000)).toBe(false); // survives a reopen
    expect(again.recordSession('ab01', 1_000 + 31 * 60_000)).toBe(true); // pruned after the window
    expect(() => again.recordSession('not hex')).toThrow(expect.objectContaining({ code: 'ERR_STORAGE_KEY_INVALID' }));
    again.close();
  });

  it('an exclusive ledger (the daemon) refuses a second opener with ERR_LEDGER_BUSY until it closes', async () => {
    const path = join(t.dir, 'exclusive', 'ledger.db');
    const first = PartyLedger.open(path, 3, { exclusive: true });
    let err: unknown;
    try {
      PartyLedger.open(path, 3);
    } catch (e) {
      err = e;
    }
    expect(isMpcError(err, 'ERR_LEDGER_BUSY')).toBe(true);
    first.close();
    const second = PartyLedger.open(path, 3, { exclusive: true });
    expect(second.partyId).toBe(3);
    second.close();
  });

  it('a write that SQLite refuses marks the ledger unwritable until a write commits again; nothing is consumed', async () => {
    const path = join(t.dir, 'fault', 'ledger.db');
    const l = PartyLedger.open(path, 1, { sealer: sealer(), busyTimeoutMs: 20 });
    await l.addPresignature('f1', 'w1', payload('f1'));
    expect(l.writeHealth()).toEqual({ writable: true });
    // another connection holds the write lock: the ledger's writes cannot commit (a real SQLite error)
    const other = new Database(path);
    other.exec('BEGIN IMMEDIATE');
    expect(() => l.consume('f1')).toThrow(expect.objectContaining({ code: 'ERR_LEDGER_BUSY' }));
    expect(l.writeHealth()).toEqual({ writable: false, reason: 'SQLITE_BUSY' });
    expect(l.probeWrite()).toBe(false);
    other.exec('ROLLBACK');
    other.close();
    // the probe commits again: writable; the failed consume changed nothing
    expect(l.probeWrite()).toBe(true);
    expect(l.writeHealth()).toEqual({ writable: true });
    expect(l.isConsumed('f1')).toBe(false);
    expect((await l.loadPresignature('f1'))?.equals(payload('f1'))).toBe(true);
    // a refusal of ours (a second consume) is not a storage fault
    l.consume('f1');
    used(() => l.consume('f1'));
    expect(l.writeHealth()).toEqual({ writable: true });
    l.close();
    expect(l.writeHealth()).toEqual({ writable: false, reason: 'closed' });
  });

  it('typed errors: a non-database file is refused', async () => {
    const { writeFileSync, mkdirSync } = await import('node:fs');
    mkdirSync(join(t.dir, 'junk'));
    writeFileSync(join(t.dir, 'junk', 'ledger.db'), Buffer.alloc(4096, 0x55));
    let err: unknown;
    try {
      PartyLedger.open(join(t.dir, 'junk', 'ledger.db'), 1);
    } catch (e) {
      err = e;
    }
    expect(isMpcError(err, 'ERR_LEDGER_CORRUPT')).toBe(true);
  });
});

describe('crash tests (child killed with SIGKILL)', () => {
  let child: { script: string; cleanup: () => void };
  const t = tempDir('crash-ledger');
  beforeAll(() => {
    child = compileCrashChild();
  });
  afterAll(() => {
    child?.cleanup();
    t.cleanup();
  });

  for (const step of ['begin', 'updated', 'committed', 'returned', 'never']) {
    it(`consume killed at ${step}: old or new state, never a presignature usable twice`, async () => {
      const dir = join(t.dir, step);
      const setup = PartyLedger.open(join(dir, 'ledger.db'), 1, { sealer: sealer() });
      await setup.addPresignature('p1', 'w1', payload('p1'));
      setup.close();
      const r = await runChild(child.script, ['consume', dir, step]);
      expect(r.signal, r.stderr).toBe('SIGKILL');
      const partialSent = r.messages.some((m) => (m as { partialSent?: boolean }).partialSent === true);
      const l = PartyLedger.open(join(dir, 'ledger.db'), 1, { sealer: sealer() });
      const consumed = l.isConsumed('p1');
      if (partialSent) expect(consumed).toBe(true);
      if (step === 'begin' || step === 'updated') {
        expect(consumed).toBe(false); // old state: never released, still usable once
        expect((await l.loadPresignature('p1'))?.equals(payload('p1'))).toBe(true);
        l.consume('p1');
      } else {
        expect(consumed).toBe(true); // new state
        expect(await l.loadPresignature('p1')).toBeUndefined();
      }
      used(() => l.consume('p1'));
      l.close();
    });
  }
});
