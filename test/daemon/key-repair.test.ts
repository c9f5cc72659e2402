import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyRepairCommand } from '../../src/cli/key-repair-command.js';
import { loadPartyConfig } from '../../src/daemon/config.js';
import { openConfiguredStore } from '../../src/daemon/main.js';
import { type SetupResult, setupPartySet } from '../../src/daemon/setup.js';
import { PartyLedger } from '../../src/storage/party-ledger.js';
import { SoftwareSealer } from '../../src/storage/software-sealer.js';
import { tempDir } from '../storage/helpers.js';

/**
 * Issue 17 item 7: an aborted keygen leaves its output at some members, and a later keygen with the
 * same key id is refused there forever. `mpc-custody key-repair --delete` removes an unfinished key
 * (keygen output, orphan full share) from a stopped party — never a key the ledger records, never
 * one that presigned, never beside a running daemon.
 */
describe('mpc-custody key-repair', () => {
  const t = tempDir('key-repair');
  let setup: SetupResult;
  let config: string;
  afterAll(() => t.cleanup());
  beforeAll(async () => {
    setup = await setupPartySet({ dir: t.dir, parties: 2, natsPort: 4999, httpBasePort: 0, math: 'native' });
    config = setup.partyConfigs[0] as string;
  });

  const run = async (...args: string[]) => {
    const lines: string[] = [];
    const code = await keyRepairCommand(['--config', config, ...args], (l) => lines.push(l));
    return { code, line: lines.join('\n') };
  };
  const put = async (keyId: string, version = 1) => {
    const store = await openConfiguredStore(await loadPartyConfig(config));
    await store.putShare({ partyId: 0, keyId }, version, Buffer.from(`share bytes of ${keyId}`));
    await store.close();
  };
  const shares = async () => {
    const store = await openConfiguredStore(await loadPartyConfig(config));
    const ids = (await store.listShares()).map((s) => s.keyId);
    await store.close();
    return ids;
  };
  const ledgerPath = () => join(t.dir, 'party-0', 'ledger.db');

  it('deletes an aborted keygen output and an orphan full share of an unfinished key', async () => {
    await put('vault.core');
    await put('vault'); // an aux run that crashed before the ledger recorded the key
    const looked = await run('--key', 'vault');
    expect(looked.code).toBe(0);
    expect(JSON.parse(looked.line)).toMatchObject({ core: true, fullShareVersion: 1, ledgerVersion: 0, deleted: [] });
    const done = await run('--key', 'vault', '--delete');
    expect(done.code).toBe(0);
    expect(JSON.parse(done.line).deleted).toEqual(['vault.core', 'vault']);
    expect(await shares()).not.toContain('vault.core');
    expect(await shares()).not.toContain('vault');
  });

  it('a key the party holds nothing for is named as unknown (exit 1), not printed as an empty state', async () => {
    const none = await run('--key', 'nosuchkey');
    expect(none.code).toBe(1);
    expect(none.line).toContain('ERR_DAEMON_KEY_UNKNOWN');
    expect(none.line).toContain('nosuchkey');
    expect((await run('--key', 'nosuchkey', '--delete')).code).toBe(1);
  });

  it('refuses a key the ledger records, and a key that ever presigned', async () => {
    await put('hot');
    const ledger = PartyLedger.open(ledgerPath(), 0, { sealer: new SoftwareSealer(Buffer.alloc(32, 1)) });
    ledger.putKey({ keyId: 'hot', publicKey: '02ab', threshold: 1, parties: 2, shareVersion: 1 });
    await ledger.addPresignature('pre-1', 'cold', Buffer.from('presignature'));
    ledger.close();
    await put('cold.core');
    const hot = await run('--key', 'hot', '--delete');
    expect(hot.code).toBe(1);
    expect(hot.line).toContain('ERR_KEY_REPAIR_REFUSED');
    const cold = await run('--key', 'cold', '--delete');
    expect(cold.code).toBe(1);
    expect(cold.line).toContain('ERR_KEY_REPAIR_REFUSED');
    expect(await shares()).toEqual(expect.arrayContaining(['hot', 'cold.core']));
  });

  it('refuses to run beside the party daemon (its ledger is held exclusively)', async () => {
    await put('busy.core');
    const daemonLedger = PartyLedger.open(ledgerPath(), 0, { exclusive: true });
    try {
      const r = await run('--key', 'busy', '--delete');
      expect(r.code).toBe(1);
      expect(r.line).toContain('ERR_LEDGER_BUSY');
    } finally {
      daemonLedger.close();
    }
    expect(await shares()).toContain('busy.core');
  });
});
