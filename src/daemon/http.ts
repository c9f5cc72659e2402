import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MpcError } from '../errors/index.js';
import type { Logger } from './logger.js';
import type { DaemonMetrics } from './metrics.js';

/**
 * The party daemon's health and metrics endpoint: a minimal node:http server, bound to loopback by
 * default (it carries no secrets, but nothing outside the host needs it unless configured).
 *
 * | route         | answer                                                                       |
 * |---------------|------------------------------------------------------------------------------|
 * | GET /healthz  | 200 `{"status":"ok"}` while live, else 503 `{"status":"unavailable",…}`     |
 * | GET /readyz   | 200 `{"ready":true,…}` while ready, else 503 `{"ready":false,"reasons":[…]}` |
 * | GET /metrics  | 200, Prometheus text format (404 when the server has no metrics)              |
 * | other path    | 404; any method but GET: 405 with `Allow: GET`                               |
 *
 * A health callback that throws (or returns something malformed) gives 500 and a log line, never a
 * crash. Request bodies are never read: a request with one, or any non-GET request, is answered
 * and its connection closed. Small header/request timeouts, checked every second, stop slow
 * clients from holding sockets; the connection count is capped.
 */

/** What the daemon reports about itself; extra string/number/boolean fields appear in /readyz. */
export interface HealthStatus {
  /** The process works (event loop turning, not wedged): false makes the supervisor restart it. */
  readonly live: boolean;
  /** The daemon can take sessions now (storage open, NATS connected, not draining). */
  readonly ready: boolean;
  /** Why not ready (or not live), for operators. */
  readonly reasons?: readonly string[];
  readonly [k: string]: unknown;
}

export interface HealthServerOptions {
  /** Interface to bind; default '127.0.0.1'. */
  readonly host?: string;
  /** TCP port; 0 picks an ephemeral one (see the returned `port`). */
  readonly port: number;
  readonly health: () => HealthStatus | Promise<HealthStatus>;
  readonly metrics?: DaemonMetrics;
  readonly log?: Logger;
}

export interface HealthServer {
  /** The bound port (the real one when 0 was asked for). */
  readonly port: number;
  /** `http://host:port` */
  readonly url: string;
  /** Stops accepting, closes every connection (idle keep-alive ones included); idempotent. */
  close(): Promise<void>;
}

const HEADERS_TIMEOUT_MS = 5_000;
const REQUEST_TIMEOUT_MS = 10_000;
const KEEP_ALIVE_TIMEOUT_MS = 5_000;
const MAX_CONNECTIONS = 64;
const MAX_REASONS = 32;
const MAX_TEXT = 200;
const EXTRA_KEY_RE = /^[A-Za-z0-9_.-]{1,64}$/;
const RESERVED = new Set(['live', 'ready', 'reasons', 'status']);

class HealthError extends Error {}

function text(v: string): string {
  return v.length > MAX_TEXT ? `${v.slice(0, MAX_TEXT)}…` : v;
}

/** Checks the callback's answer: both flags must be booleans. */
async function evaluate(health: HealthServerOptions['health']): Promise<HealthStatus> {
  const h = await health();
  if (h === null || typeof h !== 'object' || typeof h.live !== 'boolean' || typeof h.ready !== 'boolean') {
    throw new HealthError('health callback returned no {live, ready} booleans');
  }
  return h;
}

function reasonsOf(h: HealthStatus): string[] | undefined {
  if (!Array.isArray(h.reasons)) return undefined;
  const r = h.reasons.filter((x): x is string => typeof x === 'string').slice(0, MAX_REASONS);
  return r.length === 0 ? undefined : r.map(text);
}

/** The callback's extra scalar fields (bounded), for /readyz. */
function extrasOf(h: HealthStatus): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  let n = 0;
  for (const [k, v] of Object.entries(h)) {
    if (n >= MAX_REASONS || RESERVED.has(k) || !EXTRA_KEY_RE.test(k)) continue;
    if (typeof v === 'string') out[k] = text(v);
    else if ((typeof v === 'number' && Number.isFinite(v)) || typeof v === 'boolean') out[k] = v;
    else continue;
    n++;
  }
  return out;
}

function send(res: ServerResponse, status: number, body: string, contentType: string, close: boolean): void {
  const buf = Buffer.from(body, 'utf8');
  res.statusCode = status;
  res.setHeader('content-type', contentType);
  res.setHeader('content-length', buf.length);
  res.setHeader('cache-control', 'no-store');
  res.setHeader('x-content-type-options', 'nosniff');
  if (status === 405) res.setHeader('allow', 'GET');
  if (close) res.setHeader('connection', 'close');
  res.end(buf);
}

const JSON_TYPE = 'application/json; charset=utf-8';

/**
 * Starts the health/metrics server and resolves once it listens.
 *
 * @throws MpcError ERR_CONFIG_INVALID for a bad host, port or callback;
 *   ERR_DAEMON_HTTP_LISTEN when the address cannot be bound (in use, not permitted, unknown host)
 * @example
 * const http = await startHealthServer({ port: 9464, health: () => daemon.health(), metrics, log });
 * // … on shutdown:
 * await http.close();
 */
export async function startHealthServer(opts: HealthServerOptions): Promise<HealthServer> {
  const host = opts.host ?? '127.0.0.1';
  if (typeof host !== 'string' || host.length === 0 || host.length > 255) {
    throw new MpcError('ERR_CONFIG_INVALID', 'health server host must be a non-empty string');
  }
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) {
    throw new MpcError('ERR_CONFIG_INVALID', 'health server port must be an integer in [0, 65535]');
  }
  if (typeof opts.health !== 'function') {
    throw new MpcError('ERR_CONFIG_INVALID', 'health server needs a health callback');
  }
  const { health, metrics, log } = opts;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '').split('?', 1)[0] ?? '';
    const te = req.headers['transfer-encoding'];
    const cl = req.headers['content-length'];
    // A body is never read: answer, then close the connection instead of draining it.
    const close = req.method !== 'GET' || te !== undefined || (cl !== undefined && cl !== '0');
    let status = 500;
    try {
      if (req.method !== 'GET') {
        status = 405;
        send(res, status, JSON.stringify({ error: 'method not allowed' }), JSON_TYPE, close);
      } else if (path === '/healthz') {
        const h = await evaluate(health);
        const reasons = h.live ? undefined : reasonsOf(h);
        status = h.live ? 200 : 503;
        const body = h.live ? { status: 'ok' } : { status: 'unavailable', ...(reasons ? { reasons } : {}) };
        send(res, status, JSON.stringify(body), JSON_TYPE, close);
      } else if (path === '/readyz') {
        const h = await evaluate(health);
        const reasons = reasonsOf(h);
        status = h.ready ? 200 : 503;
        const body = { ready: h.ready, ...(reasons ? { reasons } : h.ready ? {} : { reasons: [] }), ...extrasOf(h) };
        send(res, status, JSON.stringify(body), JSON_TYPE, close);
      } else if (path === '/metrics' && metrics !== undefined) {
        const body = await metrics.render();
        status = 200;
        send(res, status, body, metrics.contentType, close);
      } else {
        status = 404;
        send(res, status, JSON.stringify({ error: 'not found' }), JSON_TYPE, close);
      }
    } catch (e) {
      status = 500;
      log?.error({ err: e, path: text(path) }, e instanceof HealthError ? e.message : 'health server request failed');
      if (!res.headersSent) send(res, status, JSON.stringify({ status: 'error' }), JSON_TYPE, true);
      else res.destroy();
    }
    log?.debug({ method: req.method, path: text(path), status }, 'http request');
  };

  const server = createServer(
    {
      headersTimeout: HEADERS_TIMEOUT_MS,
      requestTimeout: REQUEST_TIMEOUT_MS,
      keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
      connectionsCheckingInterval: 1_000,
      maxHeaderSize: 8 * 1024,
    },
    (req, res) => {
      void handle(req, res).catch(() => res.destroy());
    },
  );
  server.maxConnections = MAX_CONNECTIONS;
  server.maxRequestsPerSocket = 1_000;
  server.timeout = REQUEST_TIMEOUT_MS;

  await new Promise<void>((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException): void => {
      server.off('listening', onListening);
      reject(
        new MpcError('ERR_DAEMON_HTTP_LISTEN', 'health server could not listen', {
          cause: e,
          details: { host, port: opts.port, reason: e.code ?? 'unknown' },
        }),
      );
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ host, port: opts.port, exclusive: true });
  });
  server.on('error', (e) => log?.error({ err: e }, 'health server error'));

  const port = (server.address() as AddressInfo).port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  log?.info({ url }, 'health server listening');
  let closing: Promise<void> | undefined;
  return {
    port,
    url,
    close(): Promise<void> {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
