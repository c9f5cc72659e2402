/**
 * Crash-test child (compiled to JS by test/storage/helpers.ts `compileCrashChild`, then forked).
 * argv: <mode> <dir> <step>. It performs one storage operation and SIGKILLs itself when the
 * operation reaches <step> (or `<step>#<n>`, its n-th time); if the operation finishes it reports over IPC (for consume: "the
 * partial signature left the party") and then dies the same way.
 */
import { join } from 'node:path';
import { openFileSecretStore } from '../../src/storage/file-store.js';
import { PartyLedger } from '../../src/storage/party-ledger.js';

const [mode, dir, target] = process.argv.slice(2) as [string, string, string];
/** How often each step was reached: `step#n` targets its n-th time (a group runs each step per consume). */
const reached = new Map<string, number>();
const die = (step: string): void => {
  const n = (reached.get(step) ?? 0) + 1;
  reached.set(step, n);
  if (step === target || `${step}#${n}` === target) process.kill(process.pid, 'SIGKILL');
};
const report = (msg: unknown): void => {
  process.send?.(msg, () => process.kill(process.pid, 'SIGKILL'));
};

if (mode === 'consume') {
  const ledger = PartyLedger.open(join(dir, 'ledger.db'), 1, { onConsumeStep: die });
  ledger.consume('p1');
  die('returned');
  report({ partialSent: true });
} else if (mode === 'group') {
  // two consumes in one group commit (the signing path's ConsumeGroup): one transaction, one fsync
  const ledger = PartyLedger.open(join(dir, 'ledger.db'), 1, { onConsumeStep: die });
  const errors = ledger.group([() => void ledger.consume('p1'), () => void ledger.consume('p2')]);
  if (errors.some((e) => e !== undefined)) throw new Error('a grouped consume failed');
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
