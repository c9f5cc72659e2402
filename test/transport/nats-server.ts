import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runNatsServer } from '../../src/daemon/nats-server-process.js';
import { freePort } from '../../src/daemon/spawn-party.js';
import { generateNatsSecurity, type NatsSecurityBundle } from '../../src/transport/nats-config.js';

export { freePort };

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

export async function startNatsServer(o: { parties: number; coordinator?: boolean }): Promise<TestNatsServer> {
  const dir = await mkdtemp(join(tmpdir(), 'mpc-nats-'));
  const port = await freePort();
  const bundle = await generateNatsSecurity({
    dir: join(dir, 'sec'),
    parties: o.parties,
    port,
    coordinator: o.coordinator ?? false,
  });
  const server = await runNatsServer(bundle.serverConfigFile, { bin: NATS_SERVER_BIN });
  return {
    port,
    url: `tls://127.0.0.1:${port}`,
    bundle,
    kill: () => server.kill(),
    start: () => server.start(),
    stop: async () => {
      await server.kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
