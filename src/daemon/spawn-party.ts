import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { MpcError } from '../errors/index.js';

/**
 * Starts `mpc-custody party --config FILE` as a child process and resolves once it logs
 * "party daemon ready" (the demo, the process-per-party tests and the daemon benchmark).
 */
export interface SpawnedParty {
  readonly proc: ChildProcess;
  /** Health/metrics base URL from the ready line. */
  readonly url: string;
  /** Every stdout line so far (JSON log lines). */
  readonly lines: string[];
  readonly exit: Promise<number | null>;
  /** SIGTERM, then wait for the exit (SIGKILL after `graceMs`). */
  stop(graceMs?: number): Promise<number | null>;
}

export function spawnParty(
  cli: string,
  config: string,
  o: { env?: NodeJS.ProcessEnv; timeoutMs?: number; drainMs?: number; onLine?: (line: string) => void } = {},
): Promise<SpawnedParty> {
  const drain = o.drainMs === undefined ? [] : ['--drain-ms', String(o.drainMs)];
  const proc = spawn(process.execPath, [cli, 'party', '--config', config, ...drain], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: o.env ?? process.env,
  });
  const lines: string[] = [];
  const exit = new Promise<number | null>((res) => proc.once('exit', (code) => res(code)));
  const stop = async (graceMs = 10_000) => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      const code = await exit;
      clearTimeout(t);
      return code;
    }
    return exit;
  };
  return new Promise((resolve, reject) => {
    let buf = '';
    let stderr = '';
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new MpcError('ERR_DAEMON_SESSION_TIMEOUT', 'party daemon did not become ready', { details: { config } }));
    }, o.timeoutMs ?? 60_000);
    proc.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-2000);
    });
    proc.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        lines.push(line);
        o.onLine?.(line);
        try {
          const j = JSON.parse(line) as { msg?: string; http?: unknown };
          if (j.msg === 'party daemon ready') {
            clearTimeout(timer);
            resolve({ proc, url: typeof j.http === 'string' ? j.http : '', lines, exit, stop });
          }
        } catch {
          // not a log line
        }
      }
    });
    void exit.then((code) => {
      clearTimeout(timer);
      reject(
        new MpcError('ERR_DAEMON_SESSION_FAILED', `party daemon exited with ${code} before it was ready`, {
          details: { config, stderr: stderr.trim().slice(-300) },
        }),
      );
    });
  });
}

/** A TCP port that was free a moment ago (for generated configs). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}
