import { MpcError } from '../errors/index.js';
import type { PartyLedger } from '../storage/party-ledger.js';
import type { SecretStore } from '../storage/secret-store.js';

/**
 * What a party holds for one key id, and the one repair that is always safe (issue 17 item 7): an
 * *unfinished* key — keygen output (`<key>.core`) and possibly a full share sealed by an aux run
 * that crashed before the ledger recorded it — can be deleted, so a keygen that aborted at some
 * members does not block the key id forever. A key recorded in the ledger (aux info completed
 * here) or with any presignature is never deleted by this path. (An interrupted aux run needs no
 * repair: aux info can be run again until the key presigns.)
 */
export interface KeyState {
  readonly keyId: string;
  /** The ledger records the key (aux info completed here) at this share version; 0 when not. */
  readonly ledgerVersion: number;
  /** A keygen output (core share) is sealed in the store. */
  readonly core: boolean;
  /** Version of the sealed full share (0: none). */
  readonly fullShareVersion: number;
  /** Any presignature (available, consumed or burnt) was ever stored for the key. */
  readonly presignatures: boolean;
}

export async function inspectKey(
  store: SecretStore,
  ledger: PartyLedger,
  partyId: number,
  keyId: string,
): Promise<KeyState> {
  const shares = (await store.listShares()).filter((s) => s.partyId === partyId);
  return {
    keyId,
    ledgerVersion: ledger.getKey(keyId)?.shareVersion ?? 0,
    core: shares.some((s) => s.keyId === `${keyId}.core`),
    fullShareVersion: shares.find((s) => s.keyId === keyId)?.version ?? 0,
    presignatures: ledger.hasPresignatures(keyId),
  };
}

/**
 * Deletes an unfinished key's keygen output and orphan full share; returns the deleted store ids.
 * @throws ERR_KEY_REPAIR_REFUSED when the ledger records the key or it ever presigned
 */
export async function deleteUnfinishedKey(
  store: SecretStore,
  ledger: PartyLedger,
  partyId: number,
  keyId: string,
): Promise<string[]> {
  const state = await inspectKey(store, ledger, partyId, keyId);
  if (state.ledgerVersion > 0 || state.presignatures) {
    throw new MpcError('ERR_KEY_REPAIR_REFUSED', 'the key completed aux info here or has presignatures; not deleted', {
      details: { keyId, ledgerVersion: state.ledgerVersion, presignatures: state.presignatures },
    });
  }
  const deleted: string[] = [];
  for (const id of [`${keyId}.core`, keyId]) {
    if (await store.deleteShare({ partyId, keyId: id })) deleted.push(id);
  }
  return deleted;
}
