import Type from 'typebox';
import type { PartyConfig } from '../daemon/config.js';
import { isMpcError, MpcError } from '../errors/index.js';
import type { MathBackend } from '../math/backend.js';
import type { OpenedPiece } from '../protocol/backup.js';
import type { CoreKeyShare } from '../protocol/key-share.js';
import type { LedgerOptions, PartyLedger } from '../storage/party-ledger.js';
import type { SealedSecretStore, SecretStore } from '../storage/secret-store.js';
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
 * piece before anything is written, refuses to overwrite a share the store or the ledger already
 * holds, seals the core share where the daemon looks for it and records the key in the party's
 * ledger as restored (share version 0, the kit's epoch; audit `key.restored`); the party then needs
 * a refresh (it has no aux info) before it can presign: `coord refresh --key` with every holder. The protocol modules load lazily: `--help` and usage errors stay fast.
 */

/** Where the party daemon keeps a key's core share (party-daemon.ts `#coreId`): stored at version 1. */
export function coreShareId(partyId: number, keyId: string) {
  return { partyId, keyId: `${keyId}.core` };
}

/**
 * The core share of `keyId` the party holds now: the one inside its active full share (the newest
 * version of `<key>`, after aux info or a refresh), else the keygen output (`<key>.core`, before aux
 * info, or restored from a kit). A prepared, uncommitted refresh (`<key>.next`) is not the key yet.
 * @throws MpcError ERR_DAEMON_KEY_UNKNOWN when the store holds neither
 */
export async function activeCoreShare(
  store: SecretStore,
  math: MathBackend,
  partyId: number,
  keyId: string,
): Promise<CoreKeyShare> {
  const held = (await store.listShares()).filter((s) => s.partyId === partyId);
  const full = held.find((s) => s.keyId === keyId);
  if (full !== undefined) {
    const { getKeyShare } = await import('../storage/secret-store.js');
    return (await getKeyShare(store, math, { partyId, keyId }, full.version)).share.core;
  }
  if (!held.some((s) => s.keyId === coreShareId(partyId, keyId).keyId)) {
    throw new MpcError('ERR_DAEMON_KEY_UNKNOWN', `party ${partyId} holds no share of key "${keyId}" (--key)`, {
      details: { key: keyId },
    });
  }
  const { decodeCoreKeyShare } = await import('../protocol/keygen.js');
  const got = await store.getShare(coreShareId(partyId, keyId), 1);
  try {
    return decodeCoreKeyShare(got.plaintext);
  } finally {
    got.plaintext.fill(0);
  }
}

/**
 * Reads the party's current core share of `keyId` from its store and makes a kit for the custodians.
 * A kit restores the key's epoch it was made at: make a new one after every refresh.
 * @throws MpcError ERR_DAEMON_KEY_UNKNOWN when the store has no share of the key; ERR_PROTOCOL_INPUT for bad k / custodians
 * @example const kit = await createKitFromStore(store, math, 1, 'treasury', { k: 2, custodians });
 */
export async function createKitFromStore(
  store: SecretStore,
  math: MathBackend,
  partyId: number,
  keyId: string,
  opts: { readonly k: number; readonly custodians: readonly Uint8Array[] },
): Promise<Uint8Array> {
  const { createBackupKit, encodeBackupKit } = await import('../protocol/backup.js');
  const core = await activeCoreShare(store, math, partyId, keyId);
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
  const core = await openKit(partyId, keyId, kitBytes, custodians);
  await sealRestoredCore(store, partyId, keyId, core);
  return core;
}

/**
 * Decodes the kit and opens the pieces: the rebuilt core share, or a typed refusal naming the piece.
 * Reads nothing but its arguments (every check before any store, ledger or network is touched).
 */
async function openKit(
  partyId: number,
  keyId: string,
  kitBytes: Uint8Array,
  custodians: ReadonlyArray<{ readonly piece: number; readonly secret: Uint8Array }>,
): Promise<CoreKeyShare> {
  const { decodeBackupKit, openBackupPiece, restoreFromBackup } = await import('../protocol/backup.js');
  const kit = decodeBackupKit(kitBytes);
  if (kit.party !== partyId || kit.keyId !== keyId) {
    throw new MpcError('ERR_BACKUP_KIT_INVALID', 'backup kit refused: it is for another party or key');
  }
  const pieces: OpenedPiece[] = custodians.map((c) => openBackupPiece(kit, c.piece, c.secret));
  return restoreFromBackup(kit, pieces);
}

/** Seals a rebuilt core share where the daemon looks for it, unless the store holds the key already. */
async function sealRestoredCore(store: SecretStore, partyId: number, keyId: string, core: CoreKeyShare): Promise<void> {
  const { encodeCoreKeyShare } = await import('../protocol/keygen.js');
  const id = coreShareId(partyId, keyId);
  const ids = [id.keyId, keyId, `${keyId}.next`];
  if ((await store.listShares()).some((s) => s.partyId === id.partyId && ids.includes(s.keyId))) {
    throw new MpcError('ERR_STORAGE_VERSION_CONFLICT', 'the store already holds a share of this key');
  }
  const bytes = encodeCoreKeyShare(core);
  try {
    await store.putShare(id, 1, bytes);
  } finally {
    bytes.fill(0);
  }
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

/**
 * The party's ledger, opened exclusively (a running daemon holds it: refused), with the party's
 * signed audit chain when the config ships audit records, so a restore is recorded like any change.
 * A new ledger (the data directory was lost) continues the chain from the party's last record in
 * the stream, so what it records next ships instead of forking the chain.
 */
async function partyLedger(cfg: PartyConfig, store: SealedSecretStore): Promise<PartyLedger> {
  const { join } = await import('node:path');
  const { PartyLedger } = await import('../storage/party-ledger.js');
  const at = join(cfg.dataDir, 'ledger.db');
  let audit: LedgerOptions['audit'];
  if (cfg.audit !== undefined) {
    const { loadRoster } = await import('../daemon/config.js');
    const { loadConfiguredIdentity } = await import('../daemon/main.js');
    const { partyAuditEmitter } = await import('../daemon/party-audit.js');
    const me = (await loadRoster(cfg.roster)).parties[cfg.party];
    if (me === undefined) throw new MpcError('ERR_CONFIG_INVALID', 'party index is not in the roster');
    const keys = await loadConfiguredIdentity(cfg, store, me);
    let emitter: ReturnType<typeof partyAuditEmitter>;
    try {
      // the signer keeps its own copy (an OpenSSL key object): the raw identity secrets are wiped here
      emitter = partyAuditEmitter(cfg.audit, cfg.party, keys.ed25519Secret);
    } finally {
      keys.ed25519Secret.fill(0);
      keys.x25519Secret.fill(0);
    }
    const { streamAnchor } = await import('../daemon/audit-anchor.js');
    const anchor = await streamAnchor(cfg, me.ed25519);
    audit = { ...emitter, ...(anchor ? { anchor } : {}) };
  }
  try {
    return PartyLedger.open(at, cfg.party, { exclusive: true, ...(audit ? { audit } : {}) });
  } catch (e) {
    if (!isMpcError(e, 'ERR_LEDGER_BUSY')) throw e;
    throw new MpcError('ERR_LEDGER_BUSY', `the party's ledger ${at} is in use: stop the party daemon first`, {
      details: { path: at },
      cause: e,
    });
  }
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
      const { pickBackend } = await import('../daemon/main.js');
      kit = await createKitFromStore(store, pickBackend(cfg.math), cfg.party, f.key, { k: f.k, custodians });
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
  summary: "rebuild a party's share from k custodians' pieces into its store and ledger (then coord refresh)",
  help:
    'Run with the party daemon stopped. Every piece is checked before anything is written; a key the\n' +
    "store or the ledger already holds is refused. The key is recorded in the party's ledger as restored:\n" +
    'it presigns only after `mpc-custody coord refresh --key ID` gives it a new share and aux info. With\n' +
    "audit configured, the party's last record is read from the JetStream stream (its own NATS credential)\n" +
    'so the new ledger continues the chain; NATS must be reachable.',
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
        // the kit and the pieces first, then the ledger (a running daemon, or a key the ledger knows,
        // refuses): nothing is written before every check passed
        const core = await openKit(cfg.party, f.key, kitBytes, custodians).catch((e: unknown) => {
          throw nameFile(e, f.kit);
        });
        const ledger = await partyLedger(cfg, store);
        try {
          if (ledger.getKey(f.key) !== undefined) {
            throw new MpcError(
              'ERR_STORAGE_VERSION_CONFLICT',
              `party ${cfg.party}'s ledger already holds key "${f.key}"`,
              {
                details: { key: f.key },
              },
            );
          }
          await sealRestoredCore(store, cfg.party, f.key, core);
          const { encodePoint } = await import('../primitives/curve.js');
          ledger.restoreKey({
            keyId: f.key,
            publicKey: Buffer.from(encodePoint(core.publicKey)).toString('hex'),
            threshold: core.t,
            parties: core.n,
            epoch: core.epoch ?? 0,
          });
          io.out(
            JSON.stringify({
              ok: true,
              party: core.i,
              key: f.key,
              epoch: core.epoch ?? 0,
              next: 'coord refresh --key',
            }),
          );
        } finally {
          ledger.close();
        }
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
