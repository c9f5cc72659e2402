/**
 * Ledger race child (compiled to JS by test/storage/helpers.ts `compileCrashChild('race-child.ts')`,
 * then forked). argv: <ledger path>. It opens the ledger as party 1, reports `ready` over IPC and
 * then obeys the parent:
 *
 * - `{ op: 'consume', id }`: consumes one id and replies `{ id, result }` (lockstep races: the parent
 *   sends the same id to every child at once, then waits for all the replies);
 * - `{ op: 'run', ids }`: consumes every id in order as fast as it can and replies `{ results }`;
 * - `{ op: 'exit' }`: closes the ledger and exits.
 *
 * A result is `ok` (this process consumed the id: its partial signature may leave), `used`
 * (ERR_PRESIGNATURE_USED) or `<code>/<sqlite code>` for any other error.
 */
import { isMpcError } from '../../src/errors/index.js';
import { PartyLedger } from '../../src/storage/party-ledger.js';

type Command = { op: 'consume'; id: string } | { op: 'run'; ids: string[] } | { op: 'exit' };

const ledger = PartyLedger.open(process.argv[2] as string, 1);

function consume(id: string): string {
  try {
    ledger.consume(id);
    return 'ok';
  } catch (e) {
    if (isMpcError(e, 'ERR_PRESIGNATURE_USED')) return 'used';
    const err = e as { code?: unknown; details?: { sqlite?: unknown } };
    return `${String(err.code)}/${String(err.details?.sqlite ?? '')}`;
  }
}

process.on('message', (m: Command) => {
  if (m.op === 'consume') {
    process.send?.({ id: m.id, result: consume(m.id) });
  } else if (m.op === 'run') {
    const results: Record<string, string> = {};
    for (const id of m.ids) results[id] = consume(id);
    process.send?.({ results });
  } else {
    ledger.close();
    process.disconnect();
  }
});
process.send?.('ready');
