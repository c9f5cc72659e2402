import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openFileSecretStore } from '../src/storage/file-store.js';
import { Pkcs11Sealer } from '../src/storage/pkcs11-sealer.js';
import { sealBlob, unsealBlob } from '../src/storage/sealed-blob.js';
import { SealedSecretStore } from '../src/storage/secret-store.js';
import { createKeyFile } from '../src/storage/software-sealer.js';
import { fmt, type Measurement, measure } from './lib.js';

const SOFTHSM = '/usr/lib/softhsm/libsofthsm2.so';
/** About the size of an encoded 3-party key share with 3072-bit aux data. */
const SHARE_BYTES = 4096;

/**
 * Seal/unseal time of a share-sized blob for the file store (AES-256-GCM in node:crypto) and the
 * PKCS#11 store (AES-GCM inside SoftHSM2, token initialized in a temp dir), in memory and through
 * the store (atomic write with fsyncs + verify). The PKCS#11 part is skipped without SoftHSM2.
 */
export async function benchStorage(log: (line: string) => void): Promise<Measurement[]> {
  const dir = mkdtempSync(join(tmpdir(), 'mpc-bench-storage-'));
  const results: Measurement[] = [];
  const plain = Buffer.alloc(SHARE_BYTES, 0x5a);
  const id = { partyId: 1, keyId: 'bench' };
  const run = async (name: string, store: SealedSecretStore): Promise<void> => {
    const blob = await sealBlob(store.sealer, id, 1, plain);
    results.push(await measure(`${name} seal (memory)`, () => sealBlob(store.sealer, id, 1, plain), 300, 20));
    results.push(
      await measure(
        `${name} unseal (memory)`,
        async () => (await unsealBlob(store.sealer, id, blob)).plaintext.fill(0),
        300,
        20,
      ),
    );
    let v = 1;
    results.push(await measure(`${name} putShare (fsync)`, () => store.putShare(id, v++, plain), 300, 5));
    results.push(await measure(`${name} getShare`, async () => (await store.getShare(id)).plaintext.fill(0), 300, 20));
  };
  try {
    await createKeyFile(join(dir, 'file.key'));
    const fileStore = await openFileSecretStore({ dir: join(dir, 'file'), keyFile: join(dir, 'file.key') });
    await run('file', fileStore);
    await fileStore.close();
    const tokens = join(dir, 'tokens');
    mkdirSync(tokens);
    writeFileSync(
      join(dir, 'softhsm2.conf'),
      `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\n`,
    );
    process.env.SOFTHSM2_CONF = join(dir, 'softhsm2.conf');
    const init = spawnSync(
      'softhsm2-util',
      ['--init-token', '--free', '--label', 'bench', '--pin', '1234', '--so-pin', '5678'],
      {
        stdio: 'ignore',
      },
    );
    if (init.status === 0) {
      const sealer = Pkcs11Sealer.open({
        library: SOFTHSM,
        tokenLabel: 'bench',
        pin: '1234',
        keyLabel: 'bench-kek',
        createKey: true,
      });
      const hsmStore = new SealedSecretStore(join(dir, 'hsm'), sealer);
      await run('pkcs11', hsmStore);
      await hsmStore.close();
    } else {
      log('storage: softhsm2-util unavailable, PKCS#11 store skipped');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  for (const r of results) log(`storage: ${r.name.padEnd(28)} ${fmt(r.msPerOp)} ms/op (${r.samples} samples)`);
  return results;
}
