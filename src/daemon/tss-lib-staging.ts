import { MpcError } from '../errors/index.js';
import {
  decodeStagedImport,
  encodeStagedImport,
  type StagedTssLibImport,
  tssLibPublicDataHash,
} from '../protocol/tss-lib-import.js';
import type { SecretStore } from '../storage/secret-store.js';

/**
 * A tss-lib share staged for import in a party's store (issue #19), between `mpc-custody import
 * tss-lib` (run at the party, offline) and the coordinated import session (`coord import`):
 *
 *   `<key>.tsslib`           the validated share and chain code (tss-lib-import.ts encoding), sealed;
 *                            removed once the import session sealed the converted share as `<key>.core`
 *   `_tsslib.<public hash>`  a marker naming the key id, kept for good: the same tss-lib key is never
 *                            imported twice at this party (under any key id)
 *
 * Both are ordinary sealed blobs: with a PKCS#11 store the token seals them, nothing is plaintext at rest.
 */

const STAGED_SUFFIX = '.tsslib';
const MARKER_PREFIX = '_tsslib.';

export const stagedShareId = (party: number, keyId: string) => ({ partyId: party, keyId: `${keyId}${STAGED_SUFFIX}` });
const markerId = (party: number, publicDataHash: string) => ({
  partyId: party,
  keyId: `${MARKER_PREFIX}${publicDataHash}`,
});

/**
 * Seals `staged` for `keyId` at `party`, after refusing a key id this party already holds (generated,
 * imported or staged) and a tss-lib key already imported here; reads it back before returning.
 *
 * @throws MpcError ERR_IMPORT_DUPLICATE naming the key id that holds it; storage errors
 */
export async function stageTssLibImport(
  store: SecretStore,
  party: number,
  keyId: string,
  staged: StagedTssLibImport,
): Promise<{ publicDataHash: string }> {
  const publicDataHash = tssLibPublicDataHash(staged.share);
  const held = (await store.listShares()).filter((s) => s.partyId === party);
  if (held.some((s) => s.keyId === keyId || s.keyId === `${keyId}.core` || s.keyId === `${keyId}${STAGED_SUFFIX}`)) {
    throw new MpcError('ERR_IMPORT_DUPLICATE', `key id "${keyId}" is already held or staged at party ${party}`, {
      details: { keyId },
    });
  }
  const marker = markerId(party, publicDataHash);
  if (held.some((s) => s.keyId === marker.keyId)) {
    const got = await store.getShare(marker);
    const under = new TextDecoder().decode(got.plaintext);
    throw new MpcError(
      'ERR_IMPORT_DUPLICATE',
      `this tss-lib key was imported at party ${party} already (key id "${under}"); a file is imported once`,
      { details: { keyId: under, publicDataHash } },
    );
  }
  const bytes = encodeStagedImport(staged);
  try {
    await store.putShare(stagedShareId(party, keyId), 1, bytes);
  } finally {
    bytes.fill(0);
  }
  try {
    await store.putShare(marker, 1, new TextEncoder().encode(keyId));
    // read back the way the import session will, before the caller wipes the plaintext file
    await loadStagedImport(store, party, keyId);
  } catch (e) {
    await store.deleteShare(stagedShareId(party, keyId)).catch(() => undefined);
    await store.deleteShare(marker).catch(() => undefined);
    throw e;
  }
  return { publicDataHash };
}

/** The staged import of `keyId` at `party`, decoded and re-validated. */
export async function loadStagedImport(store: SecretStore, party: number, keyId: string): Promise<StagedTssLibImport> {
  let got: { plaintext: Buffer };
  try {
    got = await store.getShare(stagedShareId(party, keyId), 1);
  } catch (e) {
    if (e instanceof MpcError && e.code === 'ERR_STORAGE_NOT_FOUND') {
      throw new MpcError(
        'ERR_IMPORT_NOT_STAGED',
        `no tss-lib share is staged for key "${keyId}" at party ${party} (run mpc-custody import tss-lib there)`,
        { details: { keyId } },
      );
    }
    throw e;
  }
  try {
    return decodeStagedImport(got.plaintext);
  } finally {
    got.plaintext.fill(0);
  }
}

/** Whether `keyId` has a staged import at `party` (headers only). */
export async function hasStagedImport(store: SecretStore, party: number, keyId: string): Promise<boolean> {
  const id = stagedShareId(party, keyId);
  return (await store.listShares()).some((s) => s.partyId === party && s.keyId === id.keyId);
}

/**
 * Drops a staged import that was not imported (e.g. after the parties disagreed), with its marker, so
 * the right file can be staged. A share already converted (`<key>.core`) is not touched.
 * @returns whether a staged share was removed
 */
export async function discardStagedImport(store: SecretStore, party: number, keyId: string): Promise<boolean> {
  let publicDataHash: string | undefined;
  try {
    publicDataHash = tssLibPublicDataHash((await loadStagedImport(store, party, keyId)).share);
  } catch (e) {
    if (e instanceof MpcError && e.code === 'ERR_IMPORT_NOT_STAGED') return false;
    throw e;
  }
  const removed = await store.deleteShare(stagedShareId(party, keyId));
  await store.deleteShare(markerId(party, publicDataHash));
  return removed;
}
