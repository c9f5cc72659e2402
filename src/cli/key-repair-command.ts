import { join } from 'node:path';
import { loadPartyConfig } from '../daemon/config.js';
import { deleteUnfinishedKey, inspectKey } from '../daemon/key-repair.js';
import { openConfiguredStore } from '../daemon/main.js';
import { isMpcError } from '../errors/index.js';
import { PartyLedger } from '../storage/party-ledger.js';

const USAGE = 'usage: mpc-custody key-repair --config FILE --key ID [--delete]';

/**
 * `mpc-custody key-repair --config FILE --key ID [--delete]`: prints (one JSON line) what the
 * (stopped) party holds for the key; with --delete removes an unfinished key's keygen output and
 * orphan full share, refused for a key the ledger records or that ever presigned. The ledger is
 * opened exclusively, so this refuses to run beside the party's daemon (ERR_LEDGER_BUSY).
 */
export async function keyRepairCommand(args: readonly string[], out: (line: string) => void): Promise<number> {
  const arg = (name: string): string | undefined => {
    const at = args.indexOf(name);
    return at >= 0 ? args[at + 1] : undefined;
  };
  const file = arg('--config');
  const keyId = arg('--key');
  if (file === undefined || keyId === undefined) {
    out(USAGE);
    return 2;
  }
  try {
    const cfg = await loadPartyConfig(file);
    const store = await openConfiguredStore(cfg);
    try {
      const ledger = PartyLedger.open(join(cfg.dataDir, 'ledger.db'), cfg.party, { exclusive: true });
      try {
        const before = await inspectKey(store, ledger, cfg.party, keyId);
        const deleted = args.includes('--delete') ? await deleteUnfinishedKey(store, ledger, cfg.party, keyId) : [];
        out(JSON.stringify({ party: cfg.party, ...before, deleted }));
      } finally {
        ledger.close();
      }
    } finally {
      await store.close();
    }
    return 0;
  } catch (e) {
    out(`key-repair: ${isMpcError(e) ? `${e.code}: ${e.message}` : 'failed'}`);
    return 1;
  }
}
