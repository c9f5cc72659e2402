/**
 * Backup and recovery against a real sealed file store: a party's core share goes into a kit, the
 * party's data directory is lost, and two custodians' pieces rebuild the share into a fresh store.
 * Bad input (tampered piece, wrong custodian key, kit of another party, a store that already holds
 * the key) is refused with a typed error and nothing is written. `backup verify` runs through the
 * command function with files on disk.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { x25519 } from '@noble/curves/ed25519.js';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { backupCommand, coreShareId, createKitFromStore, restoreKitIntoStore } from '../../src/cli/backup-command.js';
import { MpcError } from '../../src/errors/index.js';
import type { CoreKeyShare } from '../../src/protocol/key-share.js';
import { decodeCoreKeyShare, encodeCoreKeyShare } from '../../src/protocol/keygen.js';
import { openFileSecretStore } from '../../src/storage/file-store.js';
import { putKeyShare, type SealedSecretStore } from '../../src/storage/secret-store.js';
import { createKeyFile } from '../../src/storage/software-sealer.js';
import { type DealtKey, dealKeyShares } from '../helpers/dealer.js';
import { math } from '../helpers/keys.js';
import { tempDir } from '../storage/helpers.js';

const secrets = [1, 2, 3].map((i) => new Uint8Array(32).fill(0x60 + i));
const custodians = secrets.map((s) => x25519.getPublicKey(s));
const cleanups: Array<() => void> = [];
let dealt: DealtKey;

async function freshStore(): Promise<{ store: SealedSecretStore; dir: string }> {
  const t = tempDir('backup');
  cleanups.push(t.cleanup);
  const keyFile = join(t.dir, 'store.key');
  await createKeyFile(keyFile);
  const store = await openFileSecretStore({ dir: join(t.dir, 'data'), keyFile });
  return { store, dir: t.dir };
}

async function storeWithShare(party: number): Promise<SealedSecretStore> {
  const { store } = await freshStore();
  await store.putShare(
    coreShareId(party, 'treasury'),
    1,
    encodeCoreKeyShare(dealt.shares[party]?.core as CoreKeyShare),
  );
  return store;
}

async function refused(p: Promise<unknown>): Promise<{ code: string; piece?: unknown }> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(MpcError);
    return { code: (e as MpcError).code, piece: (e as MpcError).details.piece };
  }
  return { code: 'accepted' };
}

beforeAll(async () => {
  dealt = await dealKeyShares({ n: 3, t: 2, seed: 'backup-cli' });
});

afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

describe('backup → loss → recovery through the sealed store', () => {
  it('rebuilds the lost share from two custodians into a fresh store', async () => {
    const old = await storeWithShare(1);
    const kit = await createKitFromStore(old, math, 1, 'treasury', { k: 2, custodians });
    await old.close(); // the party's disk is gone
    const { store } = await freshStore();
    const core = await restoreKitIntoStore(store, 1, 'treasury', kit, [
      { piece: 2, secret: secrets[2] as Uint8Array },
      { piece: 0, secret: secrets[0] as Uint8Array },
    ]);
    expect(core.x).toBe(dealt.shares[1]?.core.x);
    const back = await store.getShare(coreShareId(1, 'treasury'), 1);
    expect(decodeCoreKeyShare(back.plaintext).x).toBe(dealt.shares[1]?.core.x);
    await store.close();
  });

  it('backs up the share a daemon holds after aux info (the full share; the keygen output is gone), not a prepared refresh', async () => {
    const { store } = await freshStore();
    const full = dealt.shares[1] as (typeof dealt.shares)[number];
    await putKeyShare(store, { partyId: 1, keyId: 'treasury' }, 3, full);
    // a refresh prepared but not committed: another share under `<key>.next`
    const other = dealt.shares[2] as (typeof dealt.shares)[number];
    await putKeyShare(store, { partyId: 1, keyId: 'treasury.next' }, 4, other);
    const kit = await createKitFromStore(store, math, 1, 'treasury', { k: 2, custodians });
    await store.close();
    const { store: fresh } = await freshStore();
    const core = await restoreKitIntoStore(fresh, 1, 'treasury', kit, [
      { piece: 0, secret: secrets[0] as Uint8Array },
      { piece: 1, secret: secrets[1] as Uint8Array },
    ]);
    expect(core.x).toBe(full.core.x);
    await fresh.close();
    const { store: empty } = await freshStore();
    expect((await refused(createKitFromStore(empty, math, 1, 'treasury', { k: 2, custodians }))).code).toBe(
      'ERR_DAEMON_KEY_UNKNOWN',
    );
    await empty.close();
  });

  it('writes nothing on a tampered piece, a wrong custodian key or a kit of another party', async () => {
    const source = await storeWithShare(1);
    const kit = await createKitFromStore(source, math, 1, 'treasury', { k: 2, custodians });
    await source.close();
    const tampered = Uint8Array.from(kit);
    tampered[tampered.length - 10] = (tampered[tampered.length - 10] as number) ^ 1; // inside piece 2's ciphertext
    const { store } = await freshStore();
    const good = { piece: 0, secret: secrets[0] as Uint8Array };
    expect(
      await refused(
        restoreKitIntoStore(store, 1, 'treasury', tampered, [good, { piece: 2, secret: secrets[2] as Uint8Array }]),
      ),
    ).toEqual({ code: 'ERR_BACKUP_PIECE_INVALID', piece: 2 });
    expect(
      await refused(
        restoreKitIntoStore(store, 1, 'treasury', kit, [good, { piece: 1, secret: secrets[2] as Uint8Array }]),
      ),
    ).toEqual({ code: 'ERR_BACKUP_PIECE_INVALID', piece: 1 });
    expect(
      (
        await refused(
          restoreKitIntoStore(store, 2, 'treasury', kit, [good, { piece: 1, secret: secrets[1] as Uint8Array }]),
        )
      ).code,
    ).toBe('ERR_BACKUP_KIT_INVALID');
    expect(await store.listShares()).toEqual([]);
    await store.close();
  });

  it('never overwrites a share the store already holds', async () => {
    const store = await storeWithShare(1);
    const kit = await createKitFromStore(store, math, 1, 'treasury', { k: 2, custodians });
    const pieces = [0, 1].map((piece) => ({ piece, secret: secrets[piece] as Uint8Array }));
    expect((await refused(restoreKitIntoStore(store, 1, 'treasury', kit, pieces))).code).toBe(
      'ERR_STORAGE_VERSION_CONFLICT',
    );
    await store.close();
  });

  it('`backup verify` checks one custodian piece from files, and names the piece it refuses', async () => {
    const store = await storeWithShare(0);
    const kit = await createKitFromStore(store, math, 0, 'treasury', { k: 2, custodians });
    await store.close();
    const t = tempDir('backup-verify');
    cleanups.push(t.cleanup);
    const kitFile = join(t.dir, 'kit.bin');
    writeFileSync(kitFile, kit);
    const secretFile = join(t.dir, 'custodian.hex');
    writeFileSync(secretFile, `${Buffer.from(secrets[1] as Uint8Array).toString('hex')}\n`);
    const lines: string[] = [];
    const ok = await backupCommand(
      'backup',
      ['verify', '--kit', kitFile, '--piece', '1', '--secret', secretFile],
      (l) => lines.push(l),
    );
    expect(ok).toBe(0);
    expect(JSON.parse(lines[0] as string)).toMatchObject({ ok: true, piece: 1, party: 0, key: 'treasury' });
    const bad = await backupCommand(
      'backup',
      ['verify', '--kit', kitFile, '--piece', '2', '--secret', secretFile, '--json'],
      (l) => lines.push(l),
    );
    expect(bad).toBe(1);
    expect(JSON.parse(lines[1] as string)).toMatchObject({
      ok: false,
      code: 'ERR_BACKUP_PIECE_INVALID',
      details: { piece: 2 },
      exit: 1,
    });
    expect(lines.join('\n')).not.toContain(Buffer.from(secrets[1] as Uint8Array).toString('hex'));
  });
});
