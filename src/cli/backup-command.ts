import Type from 'typebox';
import { isMpcError, MpcError } from '../errors/index.js';
import type { OpenedPiece } from '../protocol/backup.js';
import type { CoreKeyShare } from '../protocol/key-share.js';
import type { SecretStore } from '../storage/secret-store.js';
import { assertReadableFile, assertWritableFile, nameFile, readInputFile } from './boundary.js';
import { type CommandGroup, defineCommand, EXIT, runCli } from './command.js';
import { FileFlag, KeyIdFlag } from './flags.js';

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
 * info) before it can presign. The protocol modules load lazily: `--help` and usage errors stay fast.
 */

/** Where the party daemon keeps a key's core share (party-daemon.ts `#coreId`): stored at version 1. */
export function coreShareId(partyId: number, keyId: string) {
  return { partyId, keyId: `${keyId}.core` };
}

/**
 * Reads the party's core share of `keyId` from its store and makes a kit for the custodians.
 * @throws MpcError ERR_DAEMON_KEY_UNKNOWN when the store has no share of the key; ERR_PROTOCOL_INPUT for bad k / custodians
 * @example const kit = await createKitFromStore(store, 1, 'treasury', { k: 2, custodians });
 */
export async function createKitFromStore(
  store: SecretStore,
  partyId: number,
  keyId: string,
  opts: { readonly k: number; readonly custodians: readonly Uint8Array[] },
): Promise<Uint8Array> {
  const { createBackupKit, encodeBackupKit } = await import('../protocol/backup.js');
  const { decodeCoreKeyShare } = await import('../protocol/keygen.js');
  const got = await store.getShare(coreShareId(partyId, keyId), 1).catch((e: unknown) => {
    if (!isMpcError(e, 'ERR_STORAGE_NOT_FOUND')) throw e;
    throw new MpcError('ERR_DAEMON_KEY_UNKNOWN', `party ${partyId} holds no share of key "${keyId}" (--key)`, {
      details: { key: keyId },
      cause: e,
    });
  });
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
  const { decodeBackupKit, openBackupPiece, restoreFromBackup } = await import('../protocol/backup.js');
  const { encodeCoreKeyShare } = await import('../protocol/keygen.js');
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
  const bytes = await readInputFile(path, 'custodian secret file');
  const text = new TextDecoder().decode(bytes).trim();
  bytes.fill(0);
  if (!/^[0-9a-f]{64}$/i.test(text)) {
    throw new MpcError('ERR_INPUT_INVALID', 'a custodian secret file holds 64 hex digits', { details: { path } });
  }
  return Uint8Array.from(Buffer.from(text, 'hex'));
}

const Hex32 = Type.String({
  pattern: '^[0-9a-fA-F]{64}$',
  metavar: 'HEX',
  description: "a custodian's X25519 public key (64 hex digits)",
});
const Piece = Type.Integer({ minimum: 0, maximum: 255, metavar: 'J', description: 'piece index' });

async function partyStore(config: string) {
  await assertReadableFile(config, 'party config');
  const { loadPartyConfig } = await import('../daemon/config.js');
  const { openConfiguredStore } = await import('../daemon/main.js');
  const cfg = await loadPartyConfig(config);
  return { cfg, store: await openConfiguredStore(cfg) };
}

export const backupCreate = defineCommand({
  name: 'backup create',
  summary: "split a party's key share k-of-m among recovery custodians (X25519 public keys) into an offline kit",
  flags: Type.Object({
    config: FileFlag('party config'),
    key: KeyIdFlag,
    k: Type.Integer({ minimum: 1, maximum: 255, metavar: 'K', description: 'pieces needed to restore' }),
    custodian: Type.Array(Hex32, { minItems: 1, maxItems: 255 }),
    out: FileFlag('kit file to write (0600)'),
  }),
  async run(f, io) {
    const custodians = f.custodian.map((h) => Uint8Array.from(Buffer.from(h, 'hex')));
    await assertWritableFile(f.out, 'kit file');
    const { cfg, store } = await partyStore(f.config);
    let kit: Uint8Array;
    try {
      kit = await createKitFromStore(store, cfg.party, f.key, { k: f.k, custodians });
    } finally {
      await store.close();
    }
    const { writeFileAtomic } = await import('../storage/atomic-file.js');
    await writeFileAtomic(f.out, kit, 0o600);
    io.out(JSON.stringify({ ok: true, kit: f.out, party: cfg.party, key: f.key, custodians: custodians.length }));
    return EXIT.ok;
  },
});

export const backupVerify = defineCommand({
  name: 'backup verify',
  summary: 'one custodian checks its piece of a kit alone',
  flags: Type.Object({
    kit: FileFlag('backup kit'),
    piece: Piece,
    secret: FileFlag("the custodian's X25519 secret (64 hex digits)"),
  }),
  async run(f, io) {
    const { decodeBackupKit, openBackupPiece } = await import('../protocol/backup.js');
    const bytes = await readInputFile(f.kit, 'backup kit');
    const secret = await readSecret(f.secret);
    let kit: ReturnType<typeof decodeBackupKit>;
    try {
      try {
        kit = decodeBackupKit(bytes);
      } catch (e) {
        throw nameFile(e, f.kit);
      }
      openBackupPiece(kit, f.piece, secret);
    } finally {
      secret.fill(0);
    }
    io.out(JSON.stringify({ ok: true, piece: f.piece, party: kit.party, key: kit.keyId, epoch: kit.epoch }));
    return EXIT.ok;
  },
});

export const recoveryRestore = defineCommand({
  name: 'recovery restore',
  summary: "rebuild a party's share from k custodians' pieces into its store (then run a refresh)",
  flags: Type.Object({
    config: FileFlag('party config'),
    key: KeyIdFlag,
    kit: FileFlag('backup kit'),
    piece: Type.Array(
      Type.String({
        pattern: '^(0|[1-9][0-9]{0,2}):.+$',
        metavar: 'J:SECRETFILE',
        description: "a piece index and its custodian's secret file",
      }),
      { minItems: 1, maxItems: 255 },
    ),
  }),
  async run(f, io) {
    const kitBytes = await readInputFile(f.kit, 'backup kit');
    const custodians: Array<{ piece: number; secret: Uint8Array }> = [];
    try {
      for (const spec of f.piece) {
        const at = spec.indexOf(':');
        custodians.push({ piece: Number(spec.slice(0, at)), secret: await readSecret(spec.slice(at + 1)) });
      }
      const { cfg, store } = await partyStore(f.config);
      try {
        const core = await restoreKitIntoStore(store, cfg.party, f.key, kitBytes, custodians).catch((e: unknown) => {
          throw nameFile(e, f.kit);
        });
        io.out(JSON.stringify({ ok: true, party: core.i, key: f.key, epoch: core.epoch ?? 0, next: 'run a refresh' }));
      } finally {
        await store.close();
      }
    } finally {
      for (const c of custodians) c.secret.fill(0);
    }
    return EXIT.ok;
  },
});

export const backupGroup: CommandGroup = {
  name: 'backup',
  summary: "a party's key share split k-of-m among recovery custodians (X25519) / a custodian's check",
  commands: [backupCreate, backupVerify],
};

export const recoveryGroup: CommandGroup = {
  name: 'recovery',
  summary: "rebuild a party's share from k custodians' pieces into its store",
  commands: [recoveryRestore],
};

/** `backup …` / `recovery …` with output and error line on one stream (tests holding argv). */
export const backupCommand = (
  group: 'backup' | 'recovery',
  args: readonly string[],
  out: (line: string) => void,
): Promise<number> => runCli([backupGroup, recoveryGroup], [group, ...args], { out, err: out });
