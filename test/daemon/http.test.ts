import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { type HealthServer, type HealthStatus, startHealthServer } from '../../src/daemon/http.js';
import { createLogger } from '../../src/daemon/logger.js';
import { storageNotReady, watchStorage } from '../../src/daemon/main.js';
import { DaemonMetrics } from '../../src/daemon/metrics.js';
import { ephemeralSealer } from '../../src/storage/ephemeral-sealer.js';
import { PartyLedger } from '../../src/storage/party-ledger.js';
import { Pkcs11Sealer } from '../../src/storage/pkcs11-sealer.js';
import { openPkcs11SecretStore } from '../../src/storage/pkcs11-store.js';
import type { SealerHealth } from '../../src/storage/sealed-blob.js';
import type { SealedSecretStore } from '../../src/storage/secret-store.js';
import { tempDir } from '../storage/helpers.js';

const SECRET_HEX = 'fe'.repeat(32);

/** One raw HTTP exchange with node:http (fetch hides the Connection header). */
function raw(
  url: string,
  method: string,
  body?: string,
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, agent: false }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        data += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: data }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Resolves once `port` can be bound again on loopback. */
function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen({ host: '127.0.0.1', port, exclusive: true }, () => s.close(() => resolve(true)));
  });
}

describe('daemon health/metrics HTTP server', () => {
  const servers: HealthServer[] = [];
  const start = async (opts: Parameters<typeof startHealthServer>[0]): Promise<HealthServer> => {
    const s = await startHealthServer(opts);
    servers.push(s);
    return s;
  };
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  it('serves /healthz and /readyz from the health callback, following its transitions', async () => {
    let state: HealthStatus = { live: true, ready: false, reasons: ['nats: connecting', 'ledger: opening'] };
    const s = await start({ port: 0, health: () => state });
    expect(s.url).toBe(`http://127.0.0.1:${s.port}`);
    expect(s.port).toBeGreaterThan(0);

    let r = await fetch(`${s.url}/healthz`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^application\/json/);
    expect(r.headers.get('cache-control')).toBe('no-store');
    expect(await r.json()).toEqual({ status: 'ok' });

    r = await fetch(`${s.url}/readyz`);
    expect(r.status).toBe(503);
    expect(await r.json()).toEqual({ ready: false, reasons: ['nats: connecting', 'ledger: opening'] });

    state = { live: true, ready: true, sessions: 2, backend: 'native', nested: { no: 1 } };
    r = await fetch(`${s.url}/readyz?verbose=1`);
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ ready: true, sessions: 2, backend: 'native' });

    state = { live: false, ready: false, reasons: ['event loop stalled'] };
    r = await fetch(`${s.url}/healthz`);
    expect(r.status).toBe(503);
    expect(await r.json()).toEqual({ status: 'unavailable', reasons: ['event loop stalled'] });
    r = await fetch(`${s.url}/readyz`);
    expect(r.status).toBe(503);
    expect(await r.json()).toEqual({ ready: false, reasons: ['event loop stalled'] });

    state = { live: true, ready: true };
    expect((await fetch(`${s.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${s.url}/readyz`)).status).toBe(200);
  });

  it('serves /metrics in the Prometheus text format, and 404 without metrics', async () => {
    const metrics = new DaemonMetrics({ defaultMetrics: false });
    metrics.sessionEnded('sign', 'ok', 0.01);
    const s = await start({ port: 0, health: () => ({ live: true, ready: true }), metrics });
    const r = await fetch(`${s.url}/metrics`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe(metrics.contentType);
    const text = await r.text();
    expect(text).toContain('# TYPE mpc_sessions_total counter');
    expect(text).toMatch(/^mpc_sessions_total\{protocol="sign",outcome="ok"\} 1$/m);

    const bare = await start({ port: 0, health: () => ({ live: true, ready: true }) });
    expect((await fetch(`${bare.url}/metrics`)).status).toBe(404);
  });

  it('answers 404 for unknown paths and 405 (Allow: GET, connection closed) for other methods', async () => {
    const s = await start({ port: 0, health: () => ({ live: true, ready: true }) });
    for (const path of ['/', '/healthz/', '/HEALTHZ', '/readyz/extra', '/metricsx', '/../etc/passwd']) {
      const r = await raw(`${s.url}${path}`, 'GET');
      expect(r.status, path).toBe(404);
      expect(JSON.parse(r.body)).toEqual({ error: 'not found' });
    }
    for (const method of ['POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS']) {
      const r = await raw(`${s.url}/healthz`, method, method === 'HEAD' ? undefined : 'x'.repeat(10_000));
      expect(r.status, method).toBe(405);
      expect(r.headers.allow).toBe('GET');
      expect(r.headers.connection).toBe('close');
    }
    expect((await fetch(`${s.url}/healthz`)).status).toBe(200); // still serving
  });

  it('answers 500 when the health callback throws or returns garbage, logs it scrubbed, and keeps serving', async () => {
    const chunks: string[] = [];
    const log = createLogger({ level: 'debug', destination: { write: (l: string) => void chunks.push(l) } });
    let mode: 'throw' | 'garbage' | 'ok' = 'throw';
    const health = (): HealthStatus => {
      if (mode === 'throw') throw new Error(`health probe broke on ${SECRET_HEX}`);
      if (mode === 'garbage') return { live: 'yes' } as unknown as HealthStatus;
      return { live: true, ready: true };
    };
    const s = await start({ port: 0, health, log });
    for (const path of ['/healthz', '/readyz']) {
      const r = await fetch(`${s.url}${path}`);
      expect(r.status).toBe(500);
      expect(await r.json()).toEqual({ status: 'error' });
    }
    mode = 'garbage';
    expect((await fetch(`${s.url}/readyz`)).status).toBe(500);
    mode = 'ok';
    expect((await fetch(`${s.url}/readyz`)).status).toBe(200);
    const lines = chunks
      .join('')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const errors = lines.filter((l) => l.level === 'error');
    expect(errors).toHaveLength(3);
    expect(errors[0]).toMatchObject({ path: '/healthz', err: { type: 'Error' } });
    expect(chunks.join('')).not.toContain(SECRET_HEX);
    expect(lines.some((l) => l.msg === 'http request' && l.status === 200)).toBe(true);
  });

  // The timeout is the assertion that close() does not wait for the half-sent request to time out
  // on its own (headersTimeout is 5 s); the close itself takes milliseconds.
  it('close() stops accepting, drops idle keep-alive and half-sent requests, and releases the port', {
    timeout: 4_000,
  }, async () => {
    const s = await startHealthServer({ port: 0, health: () => ({ live: true, ready: true }) });
    // an idle keep-alive connection (fetch pools it) and a request whose headers never finish
    expect((await fetch(`${s.url}/healthz`)).status).toBe(200);
    const slow: Socket = connect(s.port, '127.0.0.1');
    await new Promise<void>((resolve) => slow.once('connect', () => resolve()));
    slow.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\n');
    const slowClosed = new Promise<void>((resolve) => slow.once('close', () => resolve()));
    slow.on('error', () => undefined);

    await s.close();
    await slowClosed;
    await s.close(); // idempotent
    await expect(fetch(`${s.url}/healthz`)).rejects.toMatchObject({ cause: { code: 'ECONNREFUSED' } });
    expect(await canBind(s.port)).toBe(true);
  });

  it('rejects a bad configuration and a port in use with typed errors', async () => {
    const health = (): HealthStatus => ({ live: true, ready: true });
    for (const port of [-1, 65536, 1.5, Number.NaN]) {
      await expect(startHealthServer({ port, health })).rejects.toMatchObject({ code: 'ERR_CONFIG_INVALID' });
    }
    await expect(startHealthServer({ port: 0, host: '', health })).rejects.toMatchObject({
      code: 'ERR_CONFIG_INVALID',
    });
    await expect(startHealthServer({ port: 0, health: undefined as never })).rejects.toMatchObject({
      code: 'ERR_CONFIG_INVALID',
    });
    const s = await start({ port: 0, health });
    await expect(startHealthServer({ port: s.port, health })).rejects.toMatchObject({
      code: 'ERR_DAEMON_HTTP_LISTEN',
      details: { reason: 'EADDRINUSE' },
    });
  });
});

/** The first health report of `store` that satisfies `want` (the sealer's own events; no clock). */
function healthWhere(store: SealedSecretStore, want: (h: SealerHealth) => boolean): Promise<SealerHealth> {
  if (want(store.health())) return Promise.resolve(store.health());
  return new Promise((resolve) => {
    const off = store.onHealthChange((h) => {
      if (want(h)) {
        off();
        resolve(h);
      }
    });
  });
}

/** One sample of a metric line (`name{labels} value`) from the Prometheus text. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('/readyz follows the storage: a real SoftHSM2 session lost and reopened, a ledger that cannot write', () => {
  const t = tempDir('readyz-hsm');
  afterAll(() => t.cleanup());

  it('not ready while the HSM session is down or the ledger cannot commit; ready again after recovery; metrics follow', async () => {
    const tokens = join(t.dir, 'tokens');
    mkdirSync(tokens);
    const conf = join(t.dir, 'softhsm2.conf');
    writeFileSync(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\n`);
    process.env.SOFTHSM2_CONF = conf;
    const hsm = { library: '/usr/lib/softhsm/libsofthsm2.so', tokenLabel: 'readyz', pin: '975310', keyLabel: 'p1-kek' };
    execFileSync(
      'softhsm2-util',
      ['--init-token', '--free', '--label', 'readyz', '--pin', hsm.pin, '--so-pin', '12121212'],
      {
        env: process.env,
        stdio: 'ignore',
      },
    );
    Pkcs11Sealer.open({ ...hsm, createKey: true }).close();
    const dir = join(t.dir, 'data');
    const store = openPkcs11SecretStore({ ...hsm, dir, reopen: { initialMs: 10, maxMs: 80 } });
    const sealer = ephemeralSealer(store.sealer);
    const ledgerPath = join(dir, 'ledger.db');
    const ledger = PartyLedger.open(ledgerPath, 1, { sealer, busyTimeoutMs: 20 });
    const metrics = new DaemonMetrics({ defaultMetrics: false });
    const log = createLogger({ level: 'silent' });
    const unwatch = watchStorage({ store, ledger, log, metrics });
    const server = await startHealthServer({
      port: 0,
      metrics,
      health: async () => {
        const reasons = await storageNotReady(store, ledger, metrics);
        return { live: true, ready: reasons.length === 0, reasons };
      },
    });
    const readyz = async () => {
      const r = await fetch(`${server.url}/readyz`);
      return { status: r.status, body: (await r.json()) as { ready: boolean; reasons?: string[] } };
    };
    const metric = async (series: string) => sample(await (await fetch(`${server.url}/metrics`)).text(), series);
    try {
      await store.putShare({ partyId: 1, keyId: 'w1' }, 1, Buffer.from('the share that must survive the outage'));
      await ledger.addPresignature('pre-1', 'w1', Buffer.alloc(96, 5));
      expect((await readyz()).status).toBe(200);
      expect(await metric('mpc_storage_available{component="store"}')).toBe(1);

      // the token disappears while the party is idle: the readiness probe finds it
      const [tokenDir] = readdirSync(tokens);
      const away = join(t.dir, 'away');
      renameSync(join(tokens, tokenDir as string), away);
      try {
        let r = await readyz();
        expect(r.status).toBe(503);
        expect(r.body.reasons?.[0]).toMatch(/^store reopening/);
        await healthWhere(store, (h) => h.attempts >= 2);
        r = await readyz();
        expect(r.status).toBe(503);
        expect(await metric('mpc_storage_available{component="store"}')).toBe(0);
        expect(await metric('mpc_store_reopen_attempts_total{outcome="failed"}')).toBeGreaterThanOrEqual(2);
      } finally {
        renameSync(away, join(tokens, tokenDir as string));
      }
      await healthWhere(store, (h) => h.available);
      expect((await readyz()).status).toBe(200);
      expect(await metric('mpc_storage_available{component="store"}')).toBe(1);
      expect(await metric('mpc_store_reopen_attempts_total{outcome="ok"}')).toBe(1);
      // the presignature sealed under the lost session key was burnt when the session came back
      expect(ledger.isBurnt('pre-1')).toBe(true);
      expect(await metric('mpc_presignatures_burnt_total')).toBe(1);
      const got = await store.getShare({ partyId: 1, keyId: 'w1' }, 1);
      expect(got.plaintext.toString()).toBe('the share that must survive the outage');
      got.plaintext.fill(0);

      // the ledger cannot commit (another connection holds the write lock): not ready until it can
      const other = new Database(ledgerPath);
      other.exec('BEGIN IMMEDIATE');
      try {
        expect(() => ledger.recordSession('ab'.repeat(16))).toThrow(/ERR_LEDGER_BUSY/);
        const r = await readyz();
        expect(r.status).toBe(503);
        expect(r.body.reasons).toEqual(['ledger unwritable: SQLITE_BUSY']);
        expect(await metric('mpc_storage_available{component="ledger"}')).toBe(0);
      } finally {
        other.exec('ROLLBACK');
        other.close();
      }
      expect((await readyz()).status).toBe(200);
      expect(await metric('mpc_storage_available{component="ledger"}')).toBe(1);
    } finally {
      await server.close();
      unwatch();
      ledger.close();
      sealer.close();
      await store.close();
    }
  });
});
