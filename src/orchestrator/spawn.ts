/**
 * Starts `mpc-custody orchestrator --config FILE` as a child process (the process tests, later the
 * demo) and resolves once it logged "orchestrator listening" and its `/readyz` answers 200 (the
 * store is open and a registry and a policy are held). With TLS (`http.tls`), pass the CA that
 * signed the server's certificate as `ca` (PEM): the readiness probe trusts it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { MpcError } from '../errors/index.js';
import { httpRequest } from './client.js';

export interface SpawnedOrchestrator {
  readonly proc: ChildProcess;
  /** The REST API's base URL from the listening line. */
  readonly url: string;
  /** Every stdout line so far (JSON log lines). */
  readonly lines: string[];
  readonly exit: Promise<number | null>;
  /** SIGTERM (drain), then wait for the exit (SIGKILL after `graceMs`). */
  stop(graceMs?: number): Promise<number | null>;
  /** SIGKILL, and wait for the exit: a crash. */
  kill(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function spawnOrchestrator(
  cli: string,
  config: string,
  o: { env?: NodeJS.ProcessEnv; timeoutMs?: number; drainMs?: number; ca?: string | Uint8Array } = {},
): Promise<SpawnedOrchestrator> {
  const drain = o.drainMs === undefined ? [] : ['--drain-ms', String(o.drainMs)];
  const proc = spawn(process.execPath, [cli, 'orchestrator', '--config', config, ...drain], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: o.env ?? process.env,
  });
  const lines: string[] = [];
  let stderr = '';
  const exit = new Promise<number | null>((res) => proc.once('exit', (code) => res(code)));
  const running = () => proc.exitCode === null && proc.signalCode === null;
  const stop = async (graceMs = 30_000) => {
    if (running()) {
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      const code = await exit;
      clearTimeout(t);
      return code;
    }
    return exit;
  };
  const kill = async () => {
    if (running()) proc.kill('SIGKILL');
    await exit;
  };
  proc.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-2000);
  });
  const listening = new Promise<string>((resolve) => {
    let buf = '';
    proc.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        lines.push(line);
        try {
          const j = JSON.parse(line) as { msg?: string; url?: unknown };
          if (j.msg === 'orchestrator listening' && typeof j.url === 'string') resolve(j.url);
        } catch {
          // not a log line
        }
      }
    });
  });
  const failed = (why: string) =>
    new MpcError('ERR_DAEMON_STARTUP', `orchestrator ${why}`, {
      details: { config, stderr: stderr.trim().slice(-300), log: lines.slice(-5).join('\n').slice(-600) },
    });
  const ready = async (): Promise<SpawnedOrchestrator> => {
    const url = await listening;
    for (;;) {
      if (!running()) throw failed(`exited with ${proc.exitCode} before it was ready`);
      const ok = await httpRequest(new URL('/readyz', url), o.ca === undefined ? {} : { ca: o.ca }).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) return { proc, url, lines, exit, stop, kill };
      await sleep(100);
    }
  };
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    ready(),
    exit.then((code) => {
      throw failed(`exited with ${code} before it was ready`);
    }),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        proc.kill('SIGKILL');
        reject(failed('did not become ready'));
      }, o.timeoutMs ?? 60_000);
    }),
  ]).finally(() => clearTimeout(timer));
}
