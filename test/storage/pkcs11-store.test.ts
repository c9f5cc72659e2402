import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pkcs11js from 'pkcs11js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hsmInitCommand } from '../../src/cli/hsm-command.js';
import { isMpcError } from '../../src/errors/index.js';
import {
  acquireModule,
  findSlotByLabel,
  kekTemplate,
  Pkcs11Sealer,
  readKeyAttributes,
  releaseModule,
} from '../../src/storage/pkcs11-sealer.js';
import { openPkcs11SecretStore } from '../../src/storage/pkcs11-store.js';
import { unsealBlob } from '../../src/storage/sealed-blob.js';
import { scanForPlaintext, tempDir } from './helpers.js';

const LIB = '/usr/lib/softhsm/libsofthsm2.so';
const LABEL = 'mpc-test';
const PIN = '123456';
const SO_PIN = '87654321';
const KEY = 'party-1-kek';

async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  await expect(p).rejects.toSatisfy((e: unknown) => isMpcError(e) && e.code === code);
}
const throwsCode = (fn: () => unknown, code: string): void => {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(isMpcError(err) ? err.code : err).toBe(code);
};

function findKey(p11: pkcs11js.PKCS11, session: Buffer, label: string): Buffer {
  p11.C_FindObjectsInit(session, [{ type: pkcs11js.CKA_LABEL, value: label }]);
  const [key] = p11.C_FindObjects(session, 1);
  p11.C_FindObjectsFinal(session);
  if (key === undefined) throw new Error('key not found');
  return key;
}

describe('PKCS#11 store against a real SoftHSM2 token', () => {
  const t = tempDir('softhsm');
  const opts = { library: LIB, tokenLabel: LABEL, pin: PIN, keyLabel: KEY };
  beforeAll(() => {
    mkdirSync(join(t.dir, 'tokens'));
    const conf = join(t.dir, 'softhsm2.conf');
    writeFileSync(
      conf,
      `directories.tokendir = ${join(t.dir, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`,
    );
    process.env.SOFTHSM2_CONF = conf; // before the module is loaded (C_Initialize reads it)
    execFileSync('softhsm2-util', ['--init-token', '--free', '--label', LABEL, '--pin', PIN, '--so-pin', SO_PIN], {
      env: process.env,
      stdio: 'ignore',
    });
  });
  afterAll(() => t.cleanup());

  it('wrong PIN refused (fail closed), missing token and missing key are typed errors', () => {
    throwsCode(() => Pkcs11Sealer.open({ ...opts, pin: '000000', createKey: true }), 'ERR_HSM_PIN_INCORRECT');
    throwsCode(() => Pkcs11Sealer.open({ ...opts, tokenLabel: 'no-such-token' }), 'ERR_HSM_TOKEN_NOT_FOUND');
    throwsCode(() => Pkcs11Sealer.open(opts), 'ERR_HSM_KEY_NOT_FOUND');
    throwsCode(() => Pkcs11Sealer.open({ ...opts, library: join(t.dir, 'missing.so') }), 'ERR_HSM_UNAVAILABLE');
  });

  it('creates a non-extractable sensitive AES-256 key; its value cannot be read', () => {
    const sealer = Pkcs11Sealer.open({ ...opts, createKey: true });
    // While logged in, a second open with a wrong PIN must still be refused.
    throwsCode(() => Pkcs11Sealer.open({ ...opts, pin: '999999' }), 'ERR_HSM_PIN_INCORRECT');
    const p11 = acquireModule(LIB);
    const session = p11.C_OpenSession(findSlotByLabel(p11, LABEL), pkcs11js.CKF_SERIAL_SESSION);
    try {
      const key = findKey(p11, session, KEY);
      const attrs = readKeyAttributes(p11, session, key);
      expect(attrs).toMatchObject({ extractable: false, sensitive: true, token: true, wrap: false, unwrap: false });
      expect(attrs.valueLen).toBe(32);
      expect(() => p11.C_GetAttributeValue(session, key, [{ type: pkcs11js.CKA_VALUE }])).toThrow(
        /CKR_ATTRIBUTE_SENSITIVE/,
      );
      // Attributes cannot be flipped back (A34).
      expect(() => p11.C_SetAttributeValue(session, key, [{ type: pkcs11js.CKA_EXTRACTABLE, value: true }])).toThrow(
        /CKR_/,
      );
      expect(() => p11.C_SetAttributeValue(session, key, [{ type: pkcs11js.CKA_SENSITIVE, value: false }])).toThrow(
        /CKR_/,
      );
    } finally {
      p11.C_CloseSession(session);
      releaseModule(LIB);
      sealer.close();
    }
  });

  it('seal/unseal round trip through the store; swapped and tampered blobs refused; no plaintext on disk', async () => {
    const dir = join(t.dir, 'data');
    const store = openPkcs11SecretStore({ ...opts, dir });
    const s1 = Buffer.from('HSM-sealed share of party one, key w1 '.repeat(4));
    const s2 = Buffer.from('HSM-sealed share of party two, key w1 '.repeat(4));
    await store.putShare({ partyId: 1, keyId: 'w1' }, 1, s1);
    await store.putShare({ partyId: 2, keyId: 'w1' }, 1, s2);
    const got = await store.getShare({ partyId: 1, keyId: 'w1' });
    expect(got.plaintext.equals(s1)).toBe(true);
    got.plaintext.fill(0);
    expect(await store.listShares()).toHaveLength(2);
    const blob = readFileSync(join(dir, 'shares', '1', 'w1.share'));
    // Tampered ciphertext, tag, IV or AAD byte: refused by the token.
    // (byte 13 is the low byte of the share version: bound as AAD, so the token refuses it too)
    for (const i of [blob.length - 1, blob.length - 10, blob.length - 20, blob.length - s1.length, 13]) {
      const bad = Buffer.from(blob);
      bad[i] = (bad[i] as number) ^ 0x80;
      await rejectsWith(unsealBlob(store.sealer, { partyId: 1, keyId: 'w1' }, bad), 'ERR_STORAGE_SEAL_AUTH');
    }
    // Swapped between parties.
    writeFileSync(join(dir, 'shares', '1', 'w1.share'), readFileSync(join(dir, 'shares', '2', 'w1.share')));
    await rejectsWith(store.getShare({ partyId: 1, keyId: 'w1' }), 'ERR_STORAGE_SEAL_AUTH');
    expect(scanForPlaintext(t.dir, [s1, s2])).toEqual([]);
    await store.close();
  });

  it('AAD mismatch inside the token (not just our header check) is refused', async () => {
    const sealer = Pkcs11Sealer.open(opts);
    const iv = Buffer.alloc(12, 1);
    const sealed = await sealer.seal(iv, Buffer.from('aad-one'), Buffer.from('secret'));
    expect((await sealer.unseal(iv, Buffer.from('aad-one'), sealed)).toString()).toBe('secret');
    await rejectsWith(sealer.unseal(iv, Buffer.from('aad-two'), sealed), 'ERR_STORAGE_SEAL_AUTH');
    sealer.close();
  });

  it('token calls run off the event loop: timers keep firing during a burst of seals and unseals', async () => {
    const sealer = Pkcs11Sealer.open(opts);
    // Counts event-loop turns (macrotasks) while the burst runs. With the cipher call made
    // synchronously on the loop, the whole burst runs in microtasks and this stays 0.
    let turns = 0;
    let burst = true;
    const turn = (): void => {
      turns++;
      if (burst) setImmediate(turn);
    };
    setImmediate(turn);
    const aad = Buffer.from('burst');
    const outs = await Promise.all(
      Array.from({ length: 64 }, async (_, i) => {
        const iv = Buffer.alloc(12, i);
        const plain = Buffer.alloc(2048, i);
        return (await sealer.unseal(iv, aad, await sealer.seal(iv, aad, plain))).equals(plain);
      }),
    );
    burst = false;
    expect(turns).toBeGreaterThan(0);
    expect(outs.every(Boolean)).toBe(true);
    sealer.close();
  });

  it('refuses at open a token key that is extractable, non-sensitive, wrap-capable or not AES-256 (A34)', () => {
    // Each key differs from the sealing template in one attribute; created with pkcs11js directly,
    // as a careless provisioning tool would.
    const unsafe: Array<[string, number, boolean | number, string]> = [
      ['unsafe-extractable', pkcs11js.CKA_EXTRACTABLE, true, 'extractable'],
      ['unsafe-not-sensitive', pkcs11js.CKA_SENSITIVE, false, 'sensitive'],
      ['unsafe-wrap', pkcs11js.CKA_WRAP, true, 'wrap'],
      ['unsafe-unwrap', pkcs11js.CKA_UNWRAP, true, 'unwrap'],
      ['unsafe-aes-128', pkcs11js.CKA_VALUE_LEN, 16, ''],
    ];
    const p11 = acquireModule(LIB);
    const session = p11.C_OpenSession(
      findSlotByLabel(p11, LABEL),
      pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION,
    );
    try {
      p11.C_Login(session, pkcs11js.CKU_USER, PIN);
      const generate = (template: pkcs11js.Template) =>
        p11.C_GenerateKey(session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, template);
      for (const [label, type, value] of unsafe) {
        generate(kekTemplate(label).map((a) => (a.type === type ? { type, value } : a)));
      }
      // two keys under one label: which one seals is ambiguous
      generate(kekTemplate('unsafe-twice'));
      generate(kekTemplate('unsafe-twice'));
      p11.C_Logout(session);
    } finally {
      p11.C_CloseSession(session);
      releaseModule(LIB);
    }
    const refusal = (keyLabel: string) => {
      try {
        Pkcs11Sealer.open({ ...opts, keyLabel }).close();
      } catch (e) {
        if (isMpcError(e)) return e;
        throw e;
      }
      throw new Error(`key ${keyLabel} was accepted`);
    };
    for (const [label, , , attr] of unsafe) {
      const e = refusal(label);
      expect(e.code, label).toBe('ERR_HSM_KEY_UNSAFE');
      if (attr !== '') expect(String(e.details.wrong).split(','), label).toContain(attr);
      else expect(e.details.valueLen, label).toBe(16);
    }
    expect(refusal('unsafe-twice').code).toBe('ERR_HSM_KEY_UNSAFE');
    // the refusals released the login: the safe key still opens
    Pkcs11Sealer.open(opts).close();
  });

  it('CLI hsm-init initializes a second token and its key, PINs from the environment', async () => {
    const lines: string[] = [];
    process.env.T_PIN = '24682468';
    process.env.T_SO_PIN = '13571357';
    const args = [
      '--token',
      'party-7',
      '--party',
      '7',
      '--module',
      LIB,
      '--pin-env',
      'T_PIN',
      '--so-pin-env',
      'T_SO_PIN',
    ];
    expect(await hsmInitCommand([...args, '--init-token'], (l) => lines.push(l)), lines.join('\n')).toBe(0);
    expect(await hsmInitCommand(args, (l) => lines.push(l))).toBe(0); // idempotent
    expect(lines.join('\n')).not.toContain('24682468');
    const sealer = Pkcs11Sealer.open({
      library: LIB,
      tokenLabel: 'party-7',
      pin: '24682468',
      keyLabel: 'mpc-custody-party-7-kek',
    });
    sealer.close();
    expect(await hsmInitCommand(['--party', '7'], (l) => lines.push(l))).toBe(2);
  });

  it('a lost session fails closed with a typed error, no fallback', async () => {
    const dir = join(t.dir, 'lost');
    const store = openPkcs11SecretStore({ ...opts, dir });
    await store.putShare({ partyId: 1, keyId: 'w9' }, 1, Buffer.from('share before the session is lost'));
    const p11 = acquireModule(LIB);
    p11.C_CloseAllSessions(findSlotByLabel(p11, LABEL));
    // refused with the store's typed code (hsm-reopen.test.ts covers the reopen itself)
    await rejectsWith(store.getShare({ partyId: 1, keyId: 'w9' }), 'ERR_STORE_UNAVAILABLE');
    expect(store.health()).toMatchObject({ available: false, state: 'reopening' });
    await store.close();
    releaseModule(LIB);
    // Reopening logs in again and reads the share.
    const again = openPkcs11SecretStore({ ...opts, dir });
    expect((await again.getShare({ partyId: 1, keyId: 'w9' })).plaintext.toString()).toBe(
      'share before the session is lost',
    );
    await again.close();
  });
});
