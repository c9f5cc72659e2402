import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import { nkeys } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type NatsServerProcess, runNatsServer } from '../../src/daemon/nats-server-process.js';
import { freePort } from '../../src/daemon/spawn-party.js';
import { connectNats, loadPartyNatsConfig } from '../../src/transport/nats.js';
import { generateNatsSecurity, type NatsSecurityBundle } from '../../src/transport/nats-config.js';
import { NATS_SERVER_BIN } from './nats-server.js';

/**
 * Issue 17 item 3: the generated nats-server config carries resource limits that nats-server 2.9
 * accepts and enforces: max_payload (checked against a raw client that ignores the advertised limit),
 * max_subscriptions per connection and max_connections.
 */
const MAX_PAYLOAD = 64 * 1024;
let dir: string;
let bundle: NatsSecurityBundle;
let server: NatsServerProcess;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mpc-nats-limits-'));
  bundle = await generateNatsSecurity({
    dir: join(dir, 'sec'),
    parties: 2,
    port: await freePort(),
    maxPayload: MAX_PAYLOAD,
    maxSubscriptions: 8,
    maxConnections: 3,
  });
  server = await runNatsServer(bundle.serverConfigFile, { bin: NATS_SERVER_BIN });
}, 60_000);

afterAll(async () => {
  await server?.kill();
  await rm(dir, { recursive: true, force: true });
});

/** A raw NATS client over TLS with nkey auth: sends what a well-behaved client library refuses to. */
async function rawClient(
  party: number,
): Promise<{ send(s: string | Uint8Array): void; lines(): string[]; close(): void }> {
  const cfg = await loadPartyNatsConfig((bundle.parties[party] as { configFile: string }).configFile);
  const plain = netConnect(bundle.port, '127.0.0.1');
  const info = await new Promise<{ nonce: string }>((resolve, reject) => {
    let buf = '';
    plain.on('error', reject);
    plain.on('data', function onData(d) {
      buf += d.toString('latin1');
      const nl = buf.indexOf('\r\n');
      if (nl < 0) return;
      plain.off('data', onData);
      resolve(JSON.parse(buf.slice(5, nl)) as { nonce: string });
    });
  });
  const sock: TLSSocket = tlsConnect({ socket: plain, ca: readFileSync(bundle.caCertFile), servername: 'localhost' });
  await new Promise<void>((resolve, reject) => {
    sock.once('secureConnect', () => resolve());
    sock.once('error', reject);
  });
  const received: string[] = [];
  let buf = '';
  sock.on('data', (d) => {
    buf += d.toString('latin1');
    let nl = buf.indexOf('\r\n');
    while (nl >= 0) {
      received.push(buf.slice(0, nl));
      buf = buf.slice(nl + 2);
      nl = buf.indexOf('\r\n');
    }
  });
  sock.on('error', () => undefined);
  const kp = nkeys.fromSeed(cfg.nkeySeed);
  const sig = Buffer.from(kp.sign(new TextEncoder().encode(info.nonce))).toString('base64url');
  sock.write(
    `CONNECT ${JSON.stringify({ verbose: false, pedantic: false, tls_required: true, nkey: kp.getPublicKey(), sig, protocol: 1, echo: true })}\r\nPING\r\n`,
  );
  kp.clear();
  cfg.nkeySeed.fill(0);
  return {
    send: (s) => sock.write(s),
    lines: () => received,
    close: () => sock.destroy(),
  };
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 25));
  if (!cond()) throw new Error(`timed out waiting for ${what}`);
}

describe('generated nats-server limits (nats-server 2.9)', () => {
  it('the server accepts the generated config and advertises its max_payload', async () => {
    execFileSync(NATS_SERVER_BIN, ['-t', '-c', bundle.serverConfigFile]);
    const conf = JSON.parse(readFileSync(bundle.serverConfigFile, 'utf8'));
    expect(conf).toMatchObject({ max_payload: MAX_PAYLOAD, max_subscriptions: 8, max_connections: 3 });
    expect(conf.max_pending).toBeGreaterThanOrEqual(MAX_PAYLOAD);
    const cfg = await loadPartyNatsConfig((bundle.parties[0] as { configFile: string }).configFile);
    const nc = await connectNats(cfg);
    expect(nc.info?.max_payload).toBe(MAX_PAYLOAD);
    await nc.close();
  });

  it('the server cuts a client that publishes above max_payload', async () => {
    const c = await rawClient(0);
    await until(() => c.lines().includes('PONG'), 'the authenticated PONG');
    c.send(`PUB mpc.ab.broadcast.0 ${MAX_PAYLOAD + 1}\r\n`);
    c.send(new Uint8Array(MAX_PAYLOAD + 1));
    c.send('\r\nPING\r\n');
    await until(() => c.lines().some((l) => l.startsWith('-ERR')), 'the server error');
    expect(c.lines().find((l) => l.startsWith('-ERR'))).toMatch(/Maximum Payload/i);
    c.close();
  });

  it('the server refuses subscriptions beyond max_subscriptions on one connection', async () => {
    const c = await rawClient(0);
    await until(() => c.lines().includes('PONG'), 'the authenticated PONG');
    for (let i = 1; i <= 9; i++) c.send(`SUB mpc.s${i}.broadcast.1 ${i}\r\n`);
    c.send('PING\r\n');
    await until(() => c.lines().some((l) => l.startsWith('-ERR')), 'the server error');
    expect(c.lines().find((l) => l.startsWith('-ERR'))).toMatch(/Maximum Subscriptions/i);
    c.close();
  });

  it('the server refuses connections beyond max_connections', async () => {
    const open = [await rawClient(0), await rawClient(1), await rawClient(0)];
    for (const c of open) await until(() => c.lines().includes('PONG'), 'the authenticated PONG');
    // the fourth connection is told so before TLS and closed
    const said = await new Promise<string>((resolve) => {
      let text = '';
      const sock = netConnect(bundle.port, '127.0.0.1');
      sock.on('data', (d) => {
        text += d.toString('latin1');
      });
      sock.on('error', () => undefined);
      sock.on('close', () => resolve(text));
    });
    expect(said).toMatch(/-ERR 'maximum connections exceeded'/i);
    for (const c of open) c.close();
  });
});
