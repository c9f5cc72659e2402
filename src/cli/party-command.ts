import Type from 'typebox';
import { assertReadableFile } from './boundary.js';
import { defineCommand, EXIT } from './command.js';
import { FileFlag } from './flags.js';

/**
 * `mpc-custody party --config FILE`: runs one party daemon until SIGTERM or SIGINT, then drains
 * (running sessions finish, new commands are refused with ERR_DAEMON_DRAINING) and exits 0.
 * Logs are JSON lines on stdout (pino); nothing secret is ever logged.
 */
export const partyCommand = defineCommand({
  name: 'party',
  summary: 'run one party daemon (JSON logs on stdout, health/metrics over HTTP; SIGTERM drains)',
  flags: Type.Object({
    config: FileFlag('party config (written by setup)'),
    drainMs: Type.Integer({
      minimum: 0,
      maximum: 3_600_000,
      default: 30_000,
      metavar: 'MS',
      description: 'how long running sessions may finish after SIGTERM',
    }),
  }),
  async run(f) {
    await assertReadableFile(f.config, 'party config');
    const { startParty } = await import('../daemon/main.js');
    // startParty names the file or directory of the failing step (details.path); never secrets
    const party = await startParty(f.config);
    const code = await new Promise<number>((resolve) => {
      const stop = (signal: string) => {
        party.shutdown(signal, f.drainMs).then(
          () => resolve(EXIT.ok),
          () => resolve(EXIT.failed),
        );
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });
    // Sessions that did not finish within the drain window were abandoned; their timers must not
    // keep the process alive (a supervisor expects the exit after a graceful stop).
    process.exit(code);
  },
});
