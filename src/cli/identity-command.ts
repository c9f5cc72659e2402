import Type from 'typebox';
import { isMpcError, MpcError } from '../errors/index.js';
import { assertReadableFile, readJsonFile } from './boundary.js';
import { defineCommand, EXIT } from './command.js';
import { FileFlag } from './flags.js';

/**
 * `mpc-custody identity-seal --config FILE`: moves the party's transport identity (Ed25519 signing
 * key, X25519 key that protects every P2P payload — keygen shares included) from its plaintext
 * file into the party's secret store (HSM-sealed with a PKCS#11 store), drops `identityFile` from
 * the config, then overwrites and removes the file. Idempotent refusal: an identity already sealed
 * is never replaced.
 */
export const identitySealCommand = defineCommand({
  name: 'identity-seal',
  summary: "move a party's identity keys from their 0600 file into its (HSM) store and remove the file",
  flags: Type.Object({ config: FileFlag('party config (rewritten without identityFile)') }),
  async run(f, io) {
    await assertReadableFile(f.config, 'party config');
    const { open, stat, unlink } = await import('node:fs/promises');
    const { encodeIdentity, IDENTITY_KEY_ID, loadIdentity, loadPartyConfig, loadRoster } = await import(
      '../daemon/config.js'
    );
    const { loadConfiguredIdentity, openConfiguredStore } = await import('../daemon/main.js');
    const { writeFileAtomic } = await import('../storage/atomic-file.js');
    const cfg = await loadPartyConfig(f.config);
    const roster = await loadRoster(cfg.roster);
    const me = roster.parties[cfg.party];
    if (me === undefined) {
      throw new MpcError('ERR_CONFIG_INVALID', `party ${cfg.party} is not in the roster`, {
        details: { path: cfg.roster },
      });
    }
    if (cfg.identityFile === undefined) {
      throw new MpcError('ERR_CONFIG_INVALID', 'the config names no identityFile (already sealed?)', {
        details: { path: f.config },
      });
    }
    const plainFile = cfg.identityFile;
    // a running daemon holds its ledger exclusively: refuse to reseal under its feet
    const { existsSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { PartyLedger } = await import('../storage/party-ledger.js');
    const at = join(cfg.dataDir, 'ledger.db');
    let ledger: ReturnType<typeof PartyLedger.open> | undefined;
    try {
      ledger = existsSync(at) ? PartyLedger.open(at, cfg.party, { exclusive: true }) : undefined;
    } catch (e) {
      if (!isMpcError(e, 'ERR_LEDGER_BUSY')) throw e;
      throw new MpcError('ERR_LEDGER_BUSY', `the party's ledger ${at} is in use: stop the party daemon first`, {
        details: { path: at },
        cause: e,
      });
    }
    try {
      await seal();
    } finally {
      ledger?.close();
    }
    io.out(
      `identity-seal: party ${cfg.party}'s identity is sealed in its ${cfg.store.kind} store; ${plainFile} removed`,
    );
    return EXIT.ok;

    async function seal(): Promise<void> {
      const keys = await loadIdentity(plainFile, me as NonNullable<typeof me>);
      const store = await openConfiguredStore(cfg);
      try {
        const id = { partyId: cfg.party, keyId: IDENTITY_KEY_ID };
        if ((await store.listShares()).some((s) => s.partyId === id.partyId && s.keyId === id.keyId)) {
          throw new MpcError('ERR_STORAGE_VERSION_CONFLICT', 'an identity is already sealed in this store');
        }
        const bytes = Buffer.from(encodeIdentity(keys));
        try {
          await store.putShare(id, 1, bytes);
        } finally {
          bytes.fill(0);
          keys.ed25519Secret.fill(0);
          keys.x25519Secret.fill(0);
        }
        // read it back the way the daemon will before touching the plaintext copy
        const sealedCfg = { ...cfg, identityFile: undefined };
        const check = await loadConfiguredIdentity(sealedCfg, store, me as NonNullable<typeof me>);
        check.ed25519Secret.fill(0);
        check.x25519Secret.fill(0);
      } finally {
        await store.close();
      }
      const raw = (await readJsonFile(f.config, 'party config')) as Record<string, unknown>;
      delete raw.identityFile;
      await writeFileAtomic(f.config, `${JSON.stringify(raw, null, 2)}\n`, 0o600);
      // overwrite, sync, remove (best effort against recovery from the same filesystem)
      const size = (await stat(plainFile)).size;
      const fh = await open(plainFile, 'r+');
      try {
        await fh.write(Buffer.alloc(size), 0, size, 0);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await unlink(plainFile);
    }
  },
});
