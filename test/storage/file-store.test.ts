import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isMpcError } from '../../src/errors/index.js';
import { encodeKeyShare } from '../../src/protocol/key-share-codec.js';
import { writeFileAtomic } from '../../src/storage/atomic-file.js';
import { openFileSecretStore } from '../../src/storage/file-store.js';
import { parseBlob, unsealBlob } from '../../src/storage/sealed-blob.js';
import { getKeyShare, putKeyShare } from '../../src/storage/secret-store.js';
import { createKeyFile, SoftwareSealer } from '../../src/storage/software-sealer.js';
import { dealKeyShares } from '../helpers/dealer.js';
import { math } from '../helpers/keys.js';
import { modeOf, scanForPlaintext, tempDir, walk } from './helpers.js';

const FAST_SCRYPT = { log2N: 14, r: 8, p: 1 };

async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  await expect(p).rejects.toSatisfy((e: unknown) => isMpcError(e) && e.code === code);
}

describe('sealed-blob format and the encrypted file store', () => {
  const t = tempDir('filestore');
  const keyFile = join(t.dir, 'keys', 'store.key');
  const dataDir = join(t.dir, 'data');
  beforeAll(async () => {
    await createKeyFile(keyFile);
  });
  afterAll(() => t.cleanup());

  it('round-trips, lists, versions and deletes; files 0600, directories 0700', async () => {
    expect(modeOf(keyFile)).toBe(0o600);
    const store = await openFileSecretStore({ dir: dataDir, keyFile });
    const a = Buffer.from('share of party one, key k1 — pretend this is an encoded key share');
    await store.putShare({ partyId: 1, keyId: 'k1' }, 1, a);
    await store.putShare({ partyId: 2, keyId: 'k1' }, 1, Buffer.from('party two share bytes, long enough'));
    const got = await store.getShare({ partyId: 1, keyId: 'k1' });
    expect(got.version).toBe(1);
    expect(got.plaintext.equals(a)).toBe(true);
    got.plaintext.fill(0);
    expect(await store.listShares()).toEqual([
      { partyId: 1, keyId: 'k1', version: 1 },
      { partyId: 2, keyId: 'k1', version: 1 },
    ]);
    await rejectsWith(store.putShare({ partyId: 1, keyId: 'k1' }, 1, a), 'ERR_STORAGE_VERSION_CONFLICT');
    await store.putShare({ partyId: 1, keyId: 'k1' }, 2, Buffer.from('version two of the share of party one'));
    await rejectsWith(store.getShare({ partyId: 1, keyId: 'k1' }, 1), 'ERR_STORAGE_VERSION_CONFLICT');
    expect((await store.getShare({ partyId: 1, keyId: 'k1' }, 2)).version).toBe(2);
    for (const f of walk(dataDir)) expect(modeOf(f)).toBe(0o600);
    expect(modeOf(join(dataDir, 'shares'))).toBe(0o700);
    expect(modeOf(join(dataDir, 'shares', '1'))).toBe(0o700);
    expect(await store.deleteShare({ partyId: 2, keyId: 'k1' })).toBe(true);
    expect(await store.deleteShare({ partyId: 2, keyId: 'k1' })).toBe(false);
    await rejectsWith(store.getShare({ partyId: 2, keyId: 'k1' }), 'ERR_STORAGE_NOT_FOUND');
    await rejectsWith(store.putShare({ partyId: 1, keyId: '../x' }, 3, a), 'ERR_STORAGE_KEY_INVALID');
    await store.close();
    await rejectsWith(store.getShare({ partyId: 1, keyId: 'k1' }), 'ERR_STORAGE_CLOSED');
  });

  it('refuses swapped blobs (another party or key) and any tampered byte', async () => {
    const dir = join(t.dir, 'swap');
    const store = await openFileSecretStore({ dir, keyFile });
    await store.putShare({ partyId: 1, keyId: 'kx' }, 1, Buffer.from('party one secret share material'));
    await store.putShare({ partyId: 2, keyId: 'kx' }, 1, Buffer.from('party two secret share material'));
    await store.putShare({ partyId: 1, keyId: 'ky' }, 1, Buffer.from('party one secret share, key y'));
    const p1 = join(dir, 'shares', '1', 'kx.share');
    const p2 = join(dir, 'shares', '2', 'kx.share');
    const b1 = readFileSync(p1);
    const b2 = readFileSync(p2);
    writeFileSync(p1, b2);
    writeFileSync(p2, b1);
    await rejectsWith(store.getShare({ partyId: 1, keyId: 'kx' }), 'ERR_STORAGE_SEAL_AUTH');
    await rejectsWith(store.getShare({ partyId: 2, keyId: 'kx' }), 'ERR_STORAGE_SEAL_AUTH');
    writeFileSync(p1, readFileSync(join(dir, 'shares', '1', 'ky.share')));
    await rejectsWith(store.getShare({ partyId: 1, keyId: 'kx' }), 'ERR_STORAGE_SEAL_AUTH');
    // Flip every byte of a blob in turn: each is refused with a typed error, never returned.
    const sealer = store.sealer;
    for (let i = 0; i < b1.length; i++) {
      const bad = Buffer.from(b1);
      bad[i] = (bad[i] as number) ^ 0x01;
      let code: string | undefined;
      try {
        (await unsealBlob(sealer, { partyId: 1, keyId: 'kx' }, bad)).plaintext.fill(0);
      } catch (e) {
        code = isMpcError(e) ? e.code : 'untyped';
      }
      expect(['ERR_STORAGE_SEAL_AUTH', 'ERR_STORAGE_CORRUPT']).toContain(code);
    }
    // Truncations and trailing bytes are format errors.
    for (const len of [0, 3, 10, 30, b1.length - 1]) {
      expect(() => parseBlob(b1.subarray(0, len))).toThrow(/ERR_STORAGE_CORRUPT/);
    }
    expect(() => parseBlob(Buffer.concat([b1, Buffer.from([0])]))).toThrow(/ERR_STORAGE_CORRUPT/);
    await store.close();
  });

  it('a blob sealed under another key is refused', async () => {
    const dir = join(t.dir, 'otherkey');
    const other = join(t.dir, 'keys', 'other.key');
    await createKeyFile(other);
    const s1 = await openFileSecretStore({ dir, keyFile });
    await s1.putShare({ partyId: 0, keyId: 'k' }, 1, Buffer.from('secret share bytes here'));
    await s1.close();
    const s2 = await openFileSecretStore({ dir, keyFile: other });
    await rejectsWith(s2.getShare({ partyId: 0, keyId: 'k' }), 'ERR_STORAGE_SEAL_AUTH');
    await s2.close();
    // Same key ref forged into the header still fails the tag.
    const fake = new SoftwareSealer(Buffer.alloc(32, 7));
    await expect(
      unsealBlob(fake, { partyId: 0, keyId: 'k' }, readFileSync(join(dir, 'shares', '0', 'k.share'))),
    ).rejects.toThrow(/ERR_STORAGE_SEAL_AUTH/);
  });

  it('key files: wrong size or group-readable refused', async () => {
    const bad = join(t.dir, 'keys', 'bad.key');
    writeFileSync(bad, Buffer.alloc(31), { mode: 0o600 });
    await rejectsWith(openFileSecretStore({ dir: dataDir, keyFile: bad }), 'ERR_STORAGE_KEY_INVALID');
    writeFileSync(bad, Buffer.alloc(32), { mode: 0o600 });
    chmodSync(bad, 0o640);
    await rejectsWith(openFileSecretStore({ dir: dataDir, keyFile: bad }), 'ERR_STORAGE_KEY_INVALID');
    await rejectsWith(openFileSecretStore({ dir: dataDir }), 'ERR_CONFIG_INVALID');
  });

  it('passphrase mode (scrypt): same passphrase reopens, wrong one refused, weak parameters refused', async () => {
    const dir = join(t.dir, 'pass');
    const s1 = await openFileSecretStore({ dir, passphrase: 'correct horse battery staple', scrypt: FAST_SCRYPT });
    await s1.putShare({ partyId: 3, keyId: 'k' }, 1, Buffer.from('passphrase protected share'));
    await s1.close();
    expect(modeOf(join(dir, 'kdf.params'))).toBe(0o600);
    const s2 = await openFileSecretStore({ dir, passphrase: 'correct horse battery staple' });
    expect((await s2.getShare({ partyId: 3, keyId: 'k' })).plaintext.toString()).toBe('passphrase protected share');
    await s2.close();
    await rejectsWith(openFileSecretStore({ dir, passphrase: 'wrong horse battery staple' }), 'ERR_STORAGE_WRONG_KEY');
    await rejectsWith(
      openFileSecretStore({
        dir: join(t.dir, 'weak'),
        passphrase: 'correct horse battery',
        scrypt: { log2N: 10, r: 8, p: 1 },
      }),
      'ERR_STORAGE_KEY_INVALID',
    );
    // A parameter file downgraded on disk is refused, not obeyed.
    const params = readFileSync(join(dir, 'kdf.params'));
    params[5] = 4;
    writeFileSync(join(dir, 'kdf.params'), params);
    await rejectsWith(openFileSecretStore({ dir, passphrase: 'correct horse battery staple' }), 'ERR_STORAGE_CORRUPT');
  });

  it('an fsync failure fails the write and leaves the old share', async () => {
    const dir = join(t.dir, 'fsync');
    let fail = false;
    const store = await openFileSecretStore({
      dir,
      keyFile,
      onWriteStep: (step) => {
        if (fail && step === 'fsync-file') throw Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' });
      },
    });
    await store.putShare({ partyId: 1, keyId: 'k' }, 1, Buffer.from('old share bytes, version 1'));
    fail = true;
    await rejectsWith(
      store.putShare({ partyId: 1, keyId: 'k' }, 2, Buffer.from('new share, version 2')),
      'ERR_STORAGE_IO',
    );
    fail = false;
    const got = await store.getShare({ partyId: 1, keyId: 'k' });
    expect(got.version).toBe(1);
    expect(walk(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    await store.close();
    await expect(writeFileAtomic(join(dir, 'x'), 'y', 0o600, { errorCode: 'ERR_STORAGE_IO' })).resolves.toBeUndefined();
  });

  it('stores real key shares: round trip through the codec, no plaintext share bytes on disk', async () => {
    const dir = join(t.dir, 'real');
    const { shares } = await dealKeyShares({ n: 2, t: 2, seed: 'storage' });
    const store = await openFileSecretStore({ dir, keyFile });
    const encoded: Uint8Array[] = [];
    for (const [i, share] of shares.entries()) {
      await putKeyShare(store, { partyId: i, keyId: 'wallet-1' }, 1, share);
      encoded.push(encodeKeyShare(share));
    }
    for (const [i, share] of shares.entries()) {
      const { share: back } = await getKeyShare(store, math, { partyId: i, keyId: 'wallet-1' });
      expect(encodeKeyShare(back)).toEqual(encodeKeyShare(share));
    }
    await store.close();
    const xs = shares.map((s) => Buffer.from(s.core.x.toString(16).padStart(64, '0'), 'hex'));
    expect(scanForPlaintext(t.dir, [...encoded, ...xs])).toEqual([]);
  });
});
