/**
 * Crash-test child (compiled to JS by test/storage/helpers.ts `compileCrashChild`, then forked).
 * argv: <mode> <dir> <step>. It performs one storage operation and SIGKILLs itself when the
 * operation reaches <step>; if the operation finishes it reports over IPC (for consume: "the
 * partial signature left the party") and then dies the same way.
 */
import { join } from 'node:path';
import { openFileSecretStore } from '../../src/storage/file-store.js';
import { PartyLedger } from '../../src/storage/party-ledger.js';

const [mode, dir, target] = process.argv.slice(2) as [string, string, string];
const die = (step: string): void => {
  if (step === target) process.kill(process.pid, 'SIGKILL');
};
const report = (msg: unknown): void => {
  process.send?.(msg, () => process.kill(process.pid, 'SIGKILL'));
};

if (mode === 'consume') {
  const ledger = PartyLedger.open(join(dir, 'ledger.db'), 1, { onConsumeStep: die });
  ledger.consume('p1');
  die('returned');
  report({ partialSent: true });
} else if (mode === 'put-share') {
  const store = await openFileSecretStore({
    dir: join(dir, 'data'),
    keyFile: join(dir, 'store.key'),
    onWriteStep: die,
  });
  await store.putShare({ partyId: 1, keyId: 'k1' }, 2, Buffer.from(process.env.NEW_SHARE ?? '', 'hex'));
  die('returned');
  report({ written: true });
} else {
  throw new Error(`unknown mode ${mode}`);
}
