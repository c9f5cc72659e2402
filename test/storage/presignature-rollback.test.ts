/**
 * Issue 17 item 1: restoring a party's data directory from a snapshot must never bring a consumed
 * presignature back (two signatures from one presignature reveal the key). The ledger seals
 * presignatures under an ephemeral key (file store: random bytes in memory; PKCS#11: a session
 * object in a real SoftHSM2 token), so after a restart nothing stored before can be unsealed, and
 * the ledger burns it at open.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pkcs11js from 'pkcs11js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ephemeralSealer } from '../../src/storage/ephemeral-sealer.js';
import { PartyLedger } from '../../src/storage/party-ledger.js';
import { acquireModule, findSlotByLabel, Pkcs11Sealer, releaseModule } from '../../src/storage/pkcs11-sealer.js';
import type { Sealer } from '../../src/storage/sealed-blob.js';
import { SoftwareSealer } from '../../src/storage/software-sealer.js';
import { scanForPlaintext, tempDir } from './helpers.js';

const LIB = '/usr/lib/softhsm/libsofthsm2.so';
const TOKEN = 'rollback';
const PIN = '135790';
const hsm = { library: LIB, tokenLabel: TOKEN, pin: PIN, keyLabel: 'party-1-kek' };
const payload = (tag: string): Buffer => Buffer.from(`presignature secret k_i chi_i of ${tag} `.repeat(3));

/** The party's store sealer: survives restarts (a key file / the token key). */
type StoreKind = 'file' | 'softhsm';
function openStoreSealer(kind: StoreKind): Sealer {
  return kind === 'file' ? new SoftwareSealer(Buffer.alloc(32, 0x42)) : Pkcs11Sealer.open({ ...hsm, createKey: true });
}

/** One run of the party: store sealer, presignature sealer and ledger, opened like the daemon does. */
function startRun(kind: StoreKind, dir: string, ephemeral: boolean, exclusive = true) {
  const store = openStoreSealer(kind);
  const sealer = ephemeral ? ephemeralSealer(store) : store;
  const ledger = PartyLedger.open(join(dir, 'ledger.db'), 1, { sealer, exclusive });
  return {
    ledger,
    stop() {
      ledger.close();
      if (ephemeral) sealer.close();
      store.close();
    },
  };
}

/** presign → snapshot the data dir → sign → restore the snapshot → restart. */
async function snapshotRestore(kind: StoreKind, root: string, ephemeral: boolean) {
  const dir = join(root, 'data');
  const snap = join(root, 'snapshot');
  const first = startRun(kind, dir, ephemeral);
  await first.ledger.addPresignature('pre-1', 'w1', payload('pre-1'));
  await first.ledger.addPresignature('pre-2', 'w1', payload('pre-2'));
  cpSync(dir, snap, { recursive: true }); // a live snapshot, as a VM or filesystem snapshot takes it
  expect((await first.ledger.loadPresignature('pre-1'))?.equals(payload('pre-1'))).toBe(true);
  first.ledger.consume('pre-1'); // signed: the partial signature left
  first.stop();
  rmSync(dir, { recursive: true });
  cpSync(snap, dir, { recursive: true });
  return startRun(kind, dir, ephemeral);
}

describe('presignatures do not survive a restart (rollback by snapshot)', () => {
  const t = tempDir('rollback');
  beforeAll(() => {
    mkdirSync(join(t.dir, 'tokens'));
    const conf = join(t.dir, 'softhsm2.conf');
    writeFileSync(
      conf,
      `directories.tokendir = ${join(t.dir, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\n`,
    );
    process.env.SOFTHSM2_CONF = conf; // before the module is loaded (C_Initialize reads it)
    execFileSync('softhsm2-util', ['--init-token', '--free', '--label', TOKEN, '--pin', PIN, '--so-pin', '24680'], {
      env: process.env,
      stdio: 'ignore',
    });
  });
  afterAll(() => t.cleanup());

  for (const kind of ['file', 'softhsm'] as const) {
    it(`${kind} store: the hole — with the persistent store key the restored snapshot signs twice`, async () => {
      const run = await snapshotRestore(kind, join(t.dir, `${kind}-persistent`), false);
      // what the ledger did before: the consumed presignature is back and loads again
      expect((await run.ledger.loadPresignature('pre-1'))?.equals(payload('pre-1'))).toBe(true);
      run.stop();
    });

    it(`${kind} store: after snapshot, sign, restore and restart the presignature is refused and burnt`, async () => {
      const root = join(t.dir, `${kind}-ephemeral`);
      const run = await snapshotRestore(kind, root, true);
      const { ledger } = run;
      expect(ledger.burntAtOpen).toBe(2); // pre-1 (the restored one) and pre-2 (unused, but of a past run)
      expect(await ledger.loadPresignature('pre-1')).toBeUndefined();
      expect(ledger.isBurnt('pre-1')).toBe(true);
      expect(ledger.isBurnt('pre-2')).toBe(true);
      expect(ledger.countAvailable('w1')).toBe(0);
      expect(ledger.listAvailable()).toEqual([]);
      expect(() => ledger.consume('pre-1')).toThrow(expect.objectContaining({ code: 'ERR_PRESIGNATURE_USED' }));
      // the pool refills in the new run
      await ledger.addPresignature('pre-3', 'w1', payload('pre-3'));
      expect((await ledger.loadPresignature('pre-3'))?.equals(payload('pre-3'))).toBe(true);
      run.stop();
      expect(scanForPlaintext(root, [payload('pre-1'), payload('pre-2'), payload('pre-3')])).toEqual([]);
    });

    it(`${kind} store: a row that survives open but cannot be unsealed is burnt (ERR_PRESIGNATURE_BURNT)`, async () => {
      const dir = join(t.dir, `${kind}-tampered`);
      const run = startRun(kind, dir, true, false);
      await run.ledger.addPresignature('pre-9', 'w1', payload('pre-9'));
      // flip the last ciphertext byte behind the ledger's back (the header, with its key ref, stays)
      const db = new Database(join(dir, 'ledger.db'));
      const row = db.prepare(`SELECT payload FROM presignatures WHERE id = 'pre-9'`).get() as { payload: Buffer };
      row.payload.writeUInt8(row.payload.readUInt8(row.payload.length - 1) ^ 1, row.payload.length - 1);
      db.prepare(`UPDATE presignatures SET payload = ? WHERE id = 'pre-9'`).run(row.payload);
      db.close();
      await expect(run.ledger.loadPresignature('pre-9')).rejects.toThrow(
        expect.objectContaining({ code: 'ERR_PRESIGNATURE_BURNT' }),
      );
      expect(run.ledger.isBurnt('pre-9')).toBe(true);
      expect(await run.ledger.loadPresignature('pre-9')).toBeUndefined();
      run.stop();
    });
  }

  it('the PKCS#11 presignature key is a sensitive, non-extractable session object that dies with the session', async () => {
    const store = Pkcs11Sealer.open({ ...hsm, createKey: true });
    const eph = ephemeralSealer(store);
    expect(eph.keyRef).toMatch(/^p11:mpc-eph-[0-9a-f]{16}$/);
    const label = eph.keyRef.slice(4);
    const p11 = acquireModule(LIB);
    const session = p11.C_OpenSession(findSlotByLabel(p11, TOKEN), pkcs11js.CKF_SERIAL_SESSION);
    const find = (): Buffer[] => {
      p11.C_FindObjectsInit(session, [{ type: pkcs11js.CKA_LABEL, value: label }]);
      try {
        return p11.C_FindObjects(session, 2);
      } finally {
        p11.C_FindObjectsFinal(session);
      }
    };
    const [key] = find();
    expect(key).toBeDefined();
    const attrs = p11.C_GetAttributeValue(session, key as Buffer, [
      { type: pkcs11js.CKA_TOKEN },
      { type: pkcs11js.CKA_SENSITIVE },
      { type: pkcs11js.CKA_EXTRACTABLE },
    ]);
    expect(attrs.map((a) => (a.value as Buffer)[0])).toEqual([0, 1, 0]);
    expect(() => p11.C_GetAttributeValue(session, key as Buffer, [{ type: pkcs11js.CKA_VALUE }])).toThrow(
      /CKR_ATTRIBUTE_SENSITIVE/,
    );
    eph.close();
    expect(find()).toEqual([]);
    p11.C_CloseSession(session);
    store.close();
    releaseModule(LIB);
  });
});
