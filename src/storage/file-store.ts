import { join } from 'node:path';
import { MpcError } from '../errors/index.js';
import { SealedSecretStore, type SealedStoreOptions } from './secret-store.js';
import { type ScryptParams, sealerFromKeyFile, sealerFromPassphrase } from './software-sealer.js';

export interface FileStoreOptions extends SealedStoreOptions {
  /** Data directory (created 0700). */
  readonly dir: string;
  /** A 32-byte key file (mode 0600; see createKeyFile). Exactly one of keyFile / passphrase. */
  readonly keyFile?: string;
  /** A passphrase, stretched with scrypt; salt and parameters live in `<dir>/kdf.params`. */
  readonly passphrase?: string | Buffer;
  readonly scrypt?: ScryptParams;
}

/** The encrypted file store: AES-256-GCM in software, sealed blobs in `dir`. */
export async function openFileSecretStore(opts: FileStoreOptions): Promise<SealedSecretStore> {
  if ((opts.keyFile === undefined) === (opts.passphrase === undefined)) {
    throw new MpcError('ERR_CONFIG_INVALID', 'file store needs exactly one of keyFile or passphrase');
  }
  const sealer =
    opts.keyFile !== undefined
      ? await sealerFromKeyFile(opts.keyFile)
      : await sealerFromPassphrase(join(opts.dir, 'kdf.params'), opts.passphrase as string | Buffer, opts.scrypt);
  return new SealedSecretStore(opts.dir, sealer, opts);
}
