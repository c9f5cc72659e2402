import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateNatsSecurity, type NatsSecurityBundle } from '../../src/transport/nats-config.js';

/**
 * Test helper: generates a TLS + nkey configuration for `parties` parties in a temp dir, spawns
 * /usr/sbin/nats-server on a random free port with it, and tears everything down in `stop()`.
 * Never touches a system nats-server on :4222.
 */
export const NATS_SERVER_BIN = process.env.NATS_SERVER_BIN ?? '/usr/sbin/nats-server';

export interface TestNatsServer {
  readonly port: number;
  readonly url: string;
  readonly bundle: NatsSecurityBundle;
  /** Kills the server process (SIGKILL) without removing the config: for restart tests. */
  kill(): Promise<void>;
  /** Starts the server again on the same port with the same config. */
  start(): Promise<void>;
  /** Kills the server and removes the temp dir. */
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
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

function waitReady(proc: ChildProcess, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let log = '';
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`nats-server did not become ready in ${timeoutMs} ms:\n${log}`));
    }, timeoutMs);
    const onData = (d: Buffer) => {
      log += d.toString();
      if (log.includes('Server is ready')) {
        cleanup();
        resolve();
      }
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(new Error(`nats-server exited with ${code}:\n${log}`));
    };
    const cleanup = () => {
      clearTimeout(timer);
      proc.stderr?.off('data', onData);
      proc.off('exit', onExit);
    };
    proc.stderr?.on('data', onData);
    proc.on('exit', onExit);
  });
}

export async function startNatsServer(o: { parties: number; coordinator?: boolean }): Promise<TestNatsServer> {
  const dir = await mkdtemp(join(tmpdir(), 'mpc-nats-'));
  const port = await freePort();
  const bundle = await generateNatsSecurity({
    dir: join(dir, 'sec'),
    parties: o.parties,
    port,
    coordinator: o.coordinator ?? false,
  });
  let proc: ChildProcess | undefined;
  const start = async () => {
    const p = spawn(NATS_SERVER_BIN, ['-c', bundle.serverConfigFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    proc = p;
    await waitReady(p, 10_000);
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
    port,
    url: `tls://127.0.0.1:${port}`,
    bundle,
    kill,
    start,
    stop: async () => {
      await kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
