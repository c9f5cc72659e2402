import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { MpcError } from '../errors/index.js';

/**
 * Runs a local nats-server with a generated configuration (the demo and the integration tests):
 * found through $NATS_SERVER_BIN, then PATH, then /usr/sbin (Debian's package). Resolves once the
 * server logs "Server is ready"; `stop()` kills it.
 */
export function findNatsServer(): string | undefined {
  const env = process.env.NATS_SERVER_BIN;
  if (env && existsSync(env)) return env;
  for (const dir of [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/bin']) {
    if (dir && existsSync(join(dir, 'nats-server'))) return join(dir, 'nats-server');
  }
  return undefined;
}

export interface NatsServerProcess {
  readonly pid: number | undefined;
  /** SIGKILL, waits for the exit (restart tests use it, then `start` again). */
  kill(): Promise<void>;
  start(): Promise<void>;
}

export async function runNatsServer(
  configFile: string,
  o: { bin?: string; timeoutMs?: number } = {},
): Promise<NatsServerProcess> {
  const bin = o.bin ?? findNatsServer();
  if (bin === undefined) {
    throw new MpcError(
      'ERR_TRANSPORT_SETUP_FAILED',
      'nats-server not found (apt-get install nats-server, or set NATS_SERVER_BIN)',
    );
  }
  let proc: ChildProcess | undefined;
  const start = async () => {
    const p = spawn(bin, ['-c', configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    proc = p;
    await new Promise<void>((resolve, reject) => {
      let log = '';
      const timer = setTimeout(() => done(new Error('timeout')), o.timeoutMs ?? 10_000);
      const onData = (d: Buffer) => {
        log = (log + d.toString()).slice(-8192);
        if (log.includes('Server is ready')) done();
      };
      const onExit = () => done(new Error('exited'));
      const done = (e?: Error) => {
        clearTimeout(timer);
        p.stderr?.off('data', onData);
        p.off('exit', onExit);
        if (e) {
          reject(
            new MpcError('ERR_TRANSPORT_SETUP_FAILED', `nats-server did not start (${e.message})`, {
              details: { log: log.slice(-500) },
            }),
          );
        } else resolve();
      };
      p.stderr?.on('data', onData);
      p.on('exit', onExit);
    });
    p.stderr?.resume();
  };
  const kill = async () => {
    const p = proc;
    proc = undefined;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill('SIGKILL');
    });
  };
  await start();
  return {
    get pid() {
      return proc?.pid;
    },
    kill,
    start,
  };
}
