import Type from 'typebox';
import { isMpcError, MpcError } from '../errors/index.js';
import { assertReadableFile } from './boundary.js';
import { type CommandIo, defineCommand, EXIT, runCommand } from './command.js';
import { FileFlag, KeyIdFlag } from './flags.js';

/**
 * `mpc-custody key-repair --config FILE --key ID [--delete]`: prints (one JSON line) what the
 * (stopped) party holds for the key; with --delete removes an unfinished key's keygen output and
 * orphan full share, refused for a key the ledger records or that ever presigned. The ledger is
 * opened exclusively, so this refuses to run beside the party's daemon (ERR_LEDGER_BUSY).
 */
export const keyRepair = defineCommand({
  name: 'key-repair',
  summary:
    'what a stopped party holds for a key (one JSON line); --delete removes an unfinished key (keygen output, no completed aux info, no presignatures)',
  flags: Type.Object({
    config: FileFlag('party config'),
    key: KeyIdFlag,
    delete: Type.Optional(Type.Boolean({ description: 'remove the unfinished key' })),
  }),
  async run(f, io) {
    await assertReadableFile(f.config, 'party config');
    const { join } = await import('node:path');
    const { loadPartyConfig } = await import('../daemon/config.js');
    const { deleteUnfinishedKey, inspectKey } = await import('../daemon/key-repair.js');
    const { openConfiguredStore } = await import('../daemon/main.js');
    const { PartyLedger } = await import('../storage/party-ledger.js');
    const cfg = await loadPartyConfig(f.config);
    const store = await openConfiguredStore(cfg);
    try {
      const at = join(cfg.dataDir, 'ledger.db');
      let ledger: ReturnType<typeof PartyLedger.open>;
      try {
        ledger = PartyLedger.open(at, cfg.party, { exclusive: true });
      } catch (e) {
        if (!isMpcError(e, 'ERR_LEDGER_BUSY')) throw e;
        throw new MpcError('ERR_LEDGER_BUSY', `the party's ledger ${at} is in use: stop the party daemon first`, {
          details: { path: at },
          cause: e,
        });
      }
      try {
        const before = await inspectKey(store, ledger, cfg.party, f.key);
        // nothing at all for this id: most likely a mistyped key, say so rather than print an empty state
        if (!before.core && before.fullShareVersion === 0 && before.ledgerVersion === 0 && !before.presignatures) {
          throw new MpcError('ERR_DAEMON_KEY_UNKNOWN', `party ${cfg.party} holds nothing for key ${f.key}`, {
            details: { keyId: f.key, party: cfg.party },
          });
        }
        const deleted = f.delete === true ? await deleteUnfinishedKey(store, ledger, cfg.party, f.key) : [];
        io.out(JSON.stringify({ party: cfg.party, ...before, deleted }));
      } finally {
        ledger.close();
      }
    } finally {
      await store.close();
    }
    return EXIT.ok;
  },
});

/** The command with its output and error line on one stream (tests and callers holding argv). */
export const keyRepairCommand = (args: readonly string[], out: (line: string) => void): Promise<number> =>
  runCommand(keyRepair, args, { out, err: out } satisfies CommandIo);
