import { startParty } from '../daemon/main.js';
import { isMpcError } from '../errors/index.js';

const USAGE = 'usage: mpc-custody party --config FILE [--drain-ms MS]';

/**
 * `mpc-custody party --config FILE`: runs one party daemon until SIGTERM or SIGINT, then drains
 * (running sessions finish, new commands are refused with ERR_DAEMON_DRAINING) and exits 0.
 * Logs are JSON lines on stdout (pino); nothing secret is ever logged.
 */
export async function partyCommand(args: readonly string[], err: (line: string) => void): Promise<number> {
  const at = args.indexOf('--config');
  const file = at >= 0 ? args[at + 1] : undefined;
  const drainAt = args.indexOf('--drain-ms');
  const drainMs = drainAt >= 0 ? Number(args[drainAt + 1]) : 30_000;
  if (file === undefined || !Number.isInteger(drainMs) || drainMs < 0) {
    err(USAGE);
    return 2;
  }
  let party: Awaited<ReturnType<typeof startParty>>;
  try {
    party = await startParty(file);
  } catch (e) {
    // startParty names the file or directory of the failing step; the line never carries secrets
    const path = isMpcError(e) && e.details.path !== undefined ? ` (path: ${String(e.details.path)})` : '';
    err(`mpc-custody party: ${isMpcError(e) ? `${e.message}${path}` : 'ERR_DAEMON_STARTUP: failed to start'}`);
    return 1;
  }
  const code = await new Promise<number>((resolve) => {
    const stop = (signal: string) => {
      party.shutdown(signal, drainMs).then(
        () => resolve(0),
        () => resolve(1),
      );
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  // Sessions that did not finish within the drain window were abandoned; their timers must not
  // keep the process alive (a supervisor expects the exit after a graceful stop).
  process.exit(code);
}
