/**
 * Issue 17 item 7: a lost HSM session is reopened with bounded exponential backoff instead of
 * failing forever. Against a real SoftHSM2 token: the test ends the store's session from outside
 * (all sessions closed, a logout, the token removed and re-inserted); while it is down every
 * operation is refused with ERR_STORE_UNAVAILABLE and nothing on disk changes; after the backoff
 * the session is back and the sealed share reads as before. Presignatures sealed under the lost
 * session's key are burnt, never used again. No assertion on time: the test waits for the
 * sealer's own health events.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pkcs11js from 'pkcs11js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isMpcError } from '../../src/errors/index.js';
import { ephemeralSealer } from '../../src/storage/ephemeral-sealer.js';
import { PartyLedger } from '../../src/storage/party-ledger.js';
import { acquireModule, findSlotByLabel, Pkcs11Sealer, releaseModule } from '../../src/storage/pkcs11-sealer.js';
import { openPkcs11SecretStore } from '../../src/storage/pkcs11-store.js';
import type { SealerHealth } from '../../src/storage/sealed-blob.js';
import type { SealedSecretStore } from '../../src/storage/secret-store.js';
import { tempDir } from './helpers.js';

const LIB = '/usr/lib/softhsm/libsofthsm2.so';
const LABEL = 'mpc-reopen';
const PIN = '246810';
const opts = { library: LIB, tokenLabel: LABEL, pin: PIN, keyLabel: 'party-1-kek' };
const reopen = { initialMs: 10, maxMs: 80 };
const ID = { partyId: 1, keyId: 'w1' };
const SHARE = Buffer.from('a key share sealed before the HSM session is lost '.repeat(3));

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return isMpcError(e) ? e.code : 'untyped';
  }
  return 'resolved';
}

/** Resolves with the first health report of `store` that satisfies `want` (its own events, no polling of time). */
function healthWhere(store: SealedSecretStore, want: (h: SealerHealth) => boolean): Promise<SealerHealth> {
  const now = store.health();
  if (want(now)) return Promise.resolve(now);
  return new Promise((resolve) => {
    const off = store.onHealthChange((h) => {
      if (!want(h)) return;
      off();
      resolve(h);
    });
  });
}

describe('PKCS#11 store: a lost session is reopened with backoff (real SoftHSM2)', () => {
  const t = tempDir('hsm-reopen');
  const tokens = join(t.dir, 'tokens');
  let p11: pkcs11js.PKCS11;
  beforeAll(() => {
    mkdirSync(tokens);
    const conf = join(t.dir, 'softhsm2.conf');
    writeFileSync(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\n`);
    process.env.SOFTHSM2_CONF = conf;
    execFileSync('softhsm2-util', ['--init-token', '--free', '--label', LABEL, '--pin', PIN, '--so-pin', '11223344'], {
      env: process.env,
      stdio: 'ignore',
    });
    Pkcs11Sealer.open({ ...opts, createKey: true }).close();
    p11 = acquireModule(LIB); // the test's own handle on the module, to end sessions from outside
  });
  afterAll(() => {
    releaseModule(LIB);
    t.cleanup();
  });

  it('all sessions closed, then a logout: refused with ERR_STORE_UNAVAILABLE, back after the backoff, no share lost', async () => {
    const dir = join(t.dir, 'data');
    const store = openPkcs11SecretStore({ ...opts, dir, reopen });
    await store.putShare(ID, 1, SHARE);
    const file = join(dir, 'shares', '1', 'w1.share');
    const before = readFileSync(file);
    const seen: SealerHealth[] = [];
    store.onHealthChange((h) => seen.push(h));

    const slot = findSlotByLabel(p11, LABEL);
    for (const end of ['close all sessions', 'logout'] as const) {
      if (end === 'close all sessions') p11.C_CloseAllSessions(slot);
      else {
        // a session of the test logs the token out: the store's session loses its login
        const s = p11.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION);
        p11.C_Logout(s);
        p11.C_CloseSession(s);
      }
      const down = healthWhere(store, (h) => !h.available);
      expect(await code(store.getShare(ID)), end).toBe('ERR_STORE_UNAVAILABLE');
      expect((await down).state).toBe('reopening');
      expect(readFileSync(file).equals(before)).toBe(true);
      await healthWhere(store, (x) => x.available);
      const got = await store.getShare(ID, 1);
      expect(got.plaintext.equals(SHARE)).toBe(true);
      got.plaintext.fill(0);
    }
    expect(seen.filter((h) => !h.available).length).toBeGreaterThanOrEqual(2);
    expect(seen.filter((h) => h.available)).toHaveLength(2);
    await store.putShare(ID, 2, Buffer.from('the next version, sealed after the reopen'));
    await store.close();
  });

  it('token removed: stays down (attempts back off) until it is back, then the module is re-initialized and the share reads', async () => {
    const dir = join(t.dir, 'removed');
    const store = openPkcs11SecretStore({ ...opts, dir, reopen });
    await store.putShare(ID, 1, SHARE);
    const file = join(dir, 'shares', '1', 'w1.share');
    const before = readFileSync(file);
    const [tokenDir] = readdirSync(tokens);
    const away = join(t.dir, 'token-away');
    renameSync(join(tokens, tokenDir as string), away);
    try {
      expect(await code(store.getShare(ID))).toBe('ERR_STORE_UNAVAILABLE');
      // several failed attempts (each with the module re-initialized) and still refused
      const h = await healthWhere(store, (x) => x.attempts >= 3);
      expect(h).toMatchObject({ available: false, state: 'reopening' });
      expect(h.reason).toMatch(/^ERR_HSM_/);
      // while down: reads and writes refused with the typed code, the blob on disk untouched
      expect(await code(store.getShare(ID))).toBe('ERR_STORE_UNAVAILABLE');
      expect(await code(store.putShare(ID, 2, Buffer.from('not while down')))).toBe('ERR_STORE_UNAVAILABLE');
      expect(readFileSync(file).equals(before)).toBe(true);
      expect(store.health().available).toBe(false);
    } finally {
      renameSync(away, join(tokens, tokenDir as string));
    }
    await healthWhere(store, (x) => x.available);
    const got = await store.getShare(ID, 1);
    expect(got.plaintext.equals(SHARE)).toBe(true);
    got.plaintext.fill(0);
    await store.close();
  });

  it('presignatures sealed under the lost session key are burnt, never unsealed again; new ones use a new key', async () => {
    const dir = join(t.dir, 'presign');
    const store = openPkcs11SecretStore({ ...opts, dir, reopen });
    const sealer = ephemeralSealer(store.sealer);
    const ledger = PartyLedger.open(join(dir, 'ledger.db'), 1, { sealer, exclusive: true });
    const pre = Buffer.from('presignature secret of the first session '.repeat(3));
    await ledger.addPresignature('pre-1', 'w1', pre);
    await ledger.addPresignature('pre-2', 'w1', pre);
    const oldRef = sealer.keyRef;
    p11.C_CloseAllSessions(findSlotByLabel(p11, LABEL));
    // the load that finds the session gone is refused as unavailable; the next finds its key gone: burnt
    expect(await code(ledger.loadPresignature('pre-1'))).toBe('ERR_STORE_UNAVAILABLE');
    expect(await code(ledger.loadPresignature('pre-1'))).toBe('ERR_PRESIGNATURE_BURNT');
    expect(ledger.isBurnt('pre-1')).toBe(true);
    expect(await code(ledger.addPresignature('pre-3', 'w1', pre))).not.toBe('resolved');
    await healthWhere(store, (x) => x.available);
    // what the daemon does when the store is back: burn everything sealed under the dead key
    expect(ledger.burnAvailable()).toBe(1);
    expect(await ledger.loadPresignature('pre-2')).toBeUndefined();
    expect(ledger.isBurnt('pre-2')).toBe(true);
    expect(sealer.keyRef).not.toBe(oldRef);
    await ledger.addPresignature('pre-4', 'w1', pre);
    expect((await ledger.loadPresignature('pre-4'))?.equals(pre)).toBe(true);
    ledger.close();
    sealer.close();
    await store.close();
  });

  it('a token call that never answers counts as a lost session after opTimeoutMs: refused, reopened, the share reads', async () => {
    const dir = join(t.dir, 'hung');
    const store = openPkcs11SecretStore({ ...opts, dir, reopen: { ...reopen, opTimeoutMs: 50 } });
    await store.putShare(ID, 1, SHARE);
    // the module handle is process-wide: the store's decrypts now hang like a wedged HSM
    const decrypt = p11.C_DecryptAsync;
    p11.C_DecryptAsync = () => new Promise<Buffer>(() => undefined);
    try {
      expect(await code(store.getShare(ID))).toBe('ERR_STORE_UNAVAILABLE');
      expect(store.health()).toMatchObject({ available: false, state: 'reopening', reason: 'timeout' });
    } finally {
      p11.C_DecryptAsync = decrypt;
    }
    await healthWhere(store, (h) => h.available);
    const got = await store.getShare(ID, 1);
    expect(got.plaintext.equals(SHARE)).toBe(true);
    got.plaintext.fill(0);
    await store.close();
  });

  it('a PIN refused at reopen stops the attempts (a PIN counter is never run down): state failed', async () => {
    const dir = join(t.dir, 'pin');
    const store = openPkcs11SecretStore({ ...opts, dir, reopen });
    await store.putShare(ID, 1, SHARE);
    // the token's user PIN changes under the running store (the store's session is logged in)
    const slot = findSlotByLabel(p11, LABEL);
    const s = p11.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
    p11.C_SetPIN(s, PIN, '999888');
    p11.C_CloseAllSessions(slot);
    expect(await code(store.getShare(ID))).toBe('ERR_STORE_UNAVAILABLE');
    const h = await healthWhere(store, (x) => x.state === 'failed');
    expect(h).toMatchObject({ available: false, attempts: 1 });
    expect(h.reason).toMatch(/^ERR_HSM_PIN_INCORRECT/);
    expect(await code(store.getShare(ID))).toBe('ERR_STORE_UNAVAILABLE');
    await store.close();
  });
});
