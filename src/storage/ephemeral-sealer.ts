import { randomBytes } from 'node:crypto';
import { Pkcs11Sealer } from './pkcs11-sealer.js';
import type { Sealer } from './sealed-blob.js';
import { AES_KEY_BYTES, SoftwareSealer } from './software-sealer.js';

/**
 * A sealer whose key does not survive the process (issue 17 item 1): the party ledger seals
 * presignatures with it, so after any restart (or a data directory restored from a snapshot)
 * every presignature stored before can no longer be unsealed and is burnt at open. Rollback
 * safety by construction, not by procedure; the price is that a restart empties the pool.
 *
 * - PKCS#11 store: an AES-256 session object (CKA_TOKEN = false, sensitive, non-extractable) in the
 *   store's token session; the token destroys it when the session ends.
 * - File store: 32 random bytes held only in this process's memory (zeroized on close).
 */
export function ephemeralSealer(storeSealer: Sealer): Sealer {
  if (storeSealer instanceof Pkcs11Sealer) return storeSealer.sessionKeySealer();
  return new SoftwareSealer(randomBytes(AES_KEY_BYTES));
}
