import { type Pkcs11Options, Pkcs11Sealer } from './pkcs11-sealer.js';
import { SealedSecretStore, type SealedStoreOptions } from './secret-store.js';

export interface Pkcs11StoreOptions extends Pkcs11Options, SealedStoreOptions {
  /** Directory of the sealed blobs (the token holds only the key). */
  readonly dir: string;
}

/** The PKCS#11 store: blobs sealed with AES-GCM inside the token, stored like the file store's. */
export function openPkcs11SecretStore(opts: Pkcs11StoreOptions): SealedSecretStore {
  return new SealedSecretStore(opts.dir, Pkcs11Sealer.open(opts), opts);
}
