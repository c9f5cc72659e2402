import { readFile } from 'node:fs/promises';
import { loadPartyConfig } from '../daemon/config.js';
import { openConfiguredStore } from '../daemon/main.js';
import { isMpcError, MpcError } from '../errors/index.js';
import {
  createBackupKit,
  decodeBackupKit,
  encodeBackupKit,
  type OpenedPiece,
  openBackupPiece,
  restoreFromBackup,
} from '../protocol/backup.js';
import type { CoreKeyShare } from '../protocol/key-share.js';
import { decodeCoreKeyShare, encodeCoreKeyShare } from '../protocol/keygen.js';
import { writeFileAtomic } from '../storage/atomic-file.js';
import type { SecretStore } from '../storage/secret-store.js';

/**
 * `mpc-custody backup create|verify` and `mpc-custody recovery restore` (issue 16): backup kits of a
 * party's core key share (protocol/backup.ts) out of and back into its sealed store.
 *
 *   backup create --config FILE --key ID --k K --custodian HEX … --out FILE
 *   backup verify --kit FILE --piece J --secret FILE
 *   recovery restore --config FILE --key ID --kit FILE --piece J:SECRETFILE …
 *
 * A custodian secret file holds the 32-byte X25519 secret as 64 hex digits. The restore checks every
 * piece before anything is written, refuses to overwrite a share the store already holds, and
 * seals the core share where the daemon looks for it; the party then needs a refresh (it has no aux
 * info) before it can presign.
 */
const USAGE = `usage:
  mpc-custody backup create --config FILE --key ID --k K --custodian HEX [--custodian HEX …] --out FILE
  mpc-custody backup verify --kit FILE --piece J --secret FILE
  mpc-custody recovery restore --config FILE --key ID --kit FILE --piece J:SECRETFILE [--piece …]`;

/** Where the party daemon keeps a key's core share (party-daemon.ts `#coreId`): stored at version 1. */
export function coreShareId(partyId: number, keyId: string) {
  return { partyId, keyId: `${keyId}.core` };
}

/**
 * Reads the party's core share of `keyId` from its store and makes a kit for the custodians.
 * @throws MpcError ERR_STORAGE_NOT_FOUND when the store has no such key; ERR_PROTOCOL_INPUT for bad k / custodians
 * @example const kit = await createKitFromStore(store, 1, 'treasury', { k: 2, custodians });
 */
export async function createKitFromStore(
  store: SecretStore,
  partyId: number,
  keyId: string,
  opts: { readonly k: number; readonly custodians: readonly Uint8Array[] },
): Promise<Uint8Array> {
  const got = await store.getShare(coreShareId(partyId, keyId), 1);
  let core: CoreKeyShare;
  try {
    core = decodeCoreKeyShare(got.plaintext);
  } finally {
    got.plaintext.fill(0);
  }
  return encodeBackupKit(createBackupKit(core, { keyId, k: opts.k, custodians: opts.custodians }));
}

/**
 * Opens the given pieces, restores the core share and seals it in `store` — only when every piece
 * checks and the store holds no share of this key yet (nothing is written otherwise).
 * @throws MpcError ERR_BACKUP_KIT_INVALID / ERR_BACKUP_PIECE_INVALID (naming the piece) for bad input;
 *   ERR_STORAGE_VERSION_CONFLICT when the store already holds the key
 * @example const core = await restoreKitIntoStore(store, 1, 'treasury', kitBytes, [{ piece: 0, secret }, …]);
 */
export async function restoreKitIntoStore(
  store: SecretStore,
  partyId: number,
  keyId: string,
  kitBytes: Uint8Array,
  custodians: ReadonlyArray<{ readonly piece: number; readonly secret: Uint8Array }>,
): Promise<CoreKeyShare> {
  const kit = decodeBackupKit(kitBytes);
  if (kit.party !== partyId || kit.keyId !== keyId) {
    throw new MpcError('ERR_BACKUP_KIT_INVALID', 'backup kit refused: it is for another party or key');
  }
  const pieces: OpenedPiece[] = custodians.map((c) => openBackupPiece(kit, c.piece, c.secret));
  const core = restoreFromBackup(kit, pieces);
  const id = coreShareId(partyId, keyId);
  if ((await store.listShares()).some((s) => s.partyId === id.partyId && s.keyId === id.keyId)) {
    throw new MpcError('ERR_STORAGE_VERSION_CONFLICT', 'the store already holds a share of this key');
  }
  const bytes = encodeCoreKeyShare(core);
  try {
    await store.putShare(id, 1, bytes);
  } finally {
    bytes.fill(0);
  }
  return core;
}

async function readSecret(path: string): Promise<Uint8Array> {
  const text = (await readFile(path, 'utf8')).trim();
  if (!/^[0-9a-f]{64}$/i.test(text))
    throw new MpcError('ERR_CONFIG_INVALID', 'a custodian secret file holds 64 hex digits');
  return Uint8Array.from(Buffer.from(text, 'hex'));
}

function values(args: readonly string[], flag: string): string[] {
  return args.flatMap((a, i) => (a === flag && args[i + 1] !== undefined ? [args[i + 1] as string] : []));
}

function one(args: readonly string[], flag: string): string {
  const v = values(args, flag);
  if (v.length !== 1) throw new MpcError('ERR_CONFIG_INVALID', `${flag} must be given once`);
  return v[0] as string;
}

function integer(text: string, what: string): number {
  if (!/^\d{1,4}$/.test(text)) throw new MpcError('ERR_CONFIG_INVALID', `${what} must be a small integer`);
  return Number(text);
}

/** `mpc-custody backup …` and `mpc-custody recovery …`. JSON out; typed errors (never secrets). */
export async function backupCommand(
  group: 'backup' | 'recovery',
  args: readonly string[],
  out: (line: string) => void,
): Promise<number> {
  const [verb, ...rest] = args;
  try {
    if (group === 'backup' && verb === 'create') {
      const cfg = await loadPartyConfig(one(rest, '--config'));
      const keyId = one(rest, '--key');
      const custodians = values(rest, '--custodian').map((h) => {
        if (!/^[0-9a-f]{64}$/i.test(h)) throw new MpcError('ERR_CONFIG_INVALID', 'custodian keys are 64 hex digits');
        return Uint8Array.from(Buffer.from(h, 'hex'));
      });
      const store = await openConfiguredStore(cfg);
      let kit: Uint8Array;
      try {
        kit = await createKitFromStore(store, cfg.party, keyId, { k: integer(one(rest, '--k'), '--k'), custodians });
      } finally {
        await store.close();
      }
      const file = one(rest, '--out');
      await writeFileAtomic(file, kit, 0o600);
      out(JSON.stringify({ ok: true, kit: file, party: cfg.party, key: keyId, custodians: custodians.length }));
      return 0;
    }
    if (group === 'backup' && verb === 'verify') {
      const kit = decodeBackupKit(await readFile(one(rest, '--kit')));
      const piece = integer(one(rest, '--piece'), '--piece');
      const secret = await readSecret(one(rest, '--secret'));
      try {
        openBackupPiece(kit, piece, secret);
      } finally {
        secret.fill(0);
      }
      out(JSON.stringify({ ok: true, piece, party: kit.party, key: kit.keyId, epoch: kit.epoch }));
      return 0;
    }
    if (group === 'recovery' && verb === 'restore') {
      const cfg = await loadPartyConfig(one(rest, '--config'));
      const keyId = one(rest, '--key');
      const kitBytes = await readFile(one(rest, '--kit'));
      const custodians = await Promise.all(
        values(rest, '--piece').map(async (spec) => {
          const at = spec.indexOf(':');
          if (at < 1) throw new MpcError('ERR_CONFIG_INVALID', '--piece takes J:SECRETFILE');
          return { piece: integer(spec.slice(0, at), '--piece'), secret: await readSecret(spec.slice(at + 1)) };
        }),
      );
      const store = await openConfiguredStore(cfg);
      try {
        const core = await restoreKitIntoStore(store, cfg.party, keyId, kitBytes, custodians);
        out(JSON.stringify({ ok: true, party: core.i, key: keyId, epoch: core.epoch ?? 0, next: 'run a refresh' }));
      } finally {
        await store.close();
        for (const c of custodians) c.secret.fill(0);
      }
      return 0;
    }
    out(USAGE);
    return 2;
  } catch (e) {
    out(
      JSON.stringify({
        ok: false,
        code: isMpcError(e) ? e.code : 'ERR_INTERNAL',
        message: isMpcError(e) ? e.message : 'failed',
        ...(isMpcError(e) && e.details.piece !== undefined ? { piece: e.details.piece } : {}),
      }),
    );
    return 1;
  }
}
