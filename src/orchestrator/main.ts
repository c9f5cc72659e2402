/**
 * Starts the orchestrator process: config (frozen), pino logs, store (migrated), the embedded
 * coordinator on NATS (setup's coordinator.json), the service (bootstrap admin, held documents,
 * recovery) and the REST API (TLS when configured). `shutdown` drains: new state changes are refused
 * with ERR_API_UNAVAILABLE, running jobs finish (up to the drain window), then everything closes.
 */
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { connectCoordinator } from '../daemon/coordinator-client.js';
import { createLogger } from '../daemon/logger.js';
import { MpcError } from '../errors/index.js';
import { buildApi } from './api/server.js';
import { OrchestratorAudit } from './audit.js';
import { coordinatorBackend } from './backend.js';
import { loadOrchestratorConfig } from './config.js';
import { OrchestratorMetrics } from './metrics.js';
import { PresignaturePools } from './pool.js';
import { OrchestratorService } from './service.js';
import { OrchestratorStore } from './store/store.js';

export interface RunningOrchestrator {
  readonly url: string;
  shutdown(signal: string, drainMs: number): Promise<void>;
}

export async function startOrchestrator(file: string): Promise<RunningOrchestrator> {
  const cfg = await loadOrchestratorConfig(file);
  const log = createLogger({ level: cfg.logLevel, name: 'mpc-orchestrator' });
  if (cfg.coordinator === undefined) {
    throw new MpcError('ERR_CONFIG_INVALID', 'orchestrator config: coordinator (setup’s coordinator.json) is required');
  }
  const store = await OrchestratorStore.open(cfg.state, (e) =>
    log.warn({ code: (e as { code?: string }).code }, 'a database connection was closed by the server; reconnecting'),
  );
  const coord = await connectCoordinator(cfg.coordinator).catch(async (e: unknown) => {
    await store.close();
    throw e;
  });
  const metrics = new OrchestratorMetrics();
  const backend = coordinatorBackend(coord.coordinator);
  const serviceLog = {
    info: (o: object, m: string) => log.info(o, m),
    warn: (o: object, m: string) => log.warn(o, m),
    error: (o: object, m: string) => log.error(o, m),
  };
  const pools =
    cfg.pools.length > 0
      ? new PresignaturePools({
          store,
          backend,
          specs: cfg.pools,
          concurrency: cfg.poolConcurrency,
          ttlSeconds: cfg.presignatureTtlSeconds,
          replica: { id: cfg.replicaId },
          metrics,
          log: serviceLog,
        })
      : undefined;
  // the audit log (issue 15): the coordinator's key, on its NATS connection; fail closed
  const audit = cfg.audit
    ? await OrchestratorAudit.open({
        nc: coord.nc,
        deployment: cfg.audit.deployment,
        signer: coord.signer,
        publicKey: coord.roster.coordinator,
        createStream: cfg.audit.createStream,
        replicas: cfg.audit.replicas,
        checkpointEvery: cfg.audit.checkpointEvery,
        ackTimeoutMs: cfg.audit.ackTimeoutMs,
        onError: (e) => log.warn({ err: e }, 'audit log: JetStream did not acknowledge'),
      })
    : undefined;
  const service = new OrchestratorService({
    ...(audit ? { audit } : {}),
    store,
    backend,
    ...(pools ? { pools } : {}),
    replicaId: cfg.replicaId,
    config: cfg,
    metrics,
    log: serviceLog,
  });
  let app: Awaited<ReturnType<typeof buildApi>> | undefined;
  try {
    await service.init();
    const https = cfg.http.tls
      ? { cert: await readFile(cfg.http.tls.certFile), key: await readFile(cfg.http.tls.keyFile) }
      : undefined;
    app = await buildApi({
      service,
      metrics,
      bodyLimitBytes: cfg.http.bodyLimitBytes,
      logger: log,
      ...(https ? { https } : {}),
    });
    await app.listen({ host: cfg.http.host, port: cfg.http.port }).catch((e: unknown) => {
      throw new MpcError('ERR_DAEMON_HTTP_LISTEN', `cannot listen on ${cfg.http.host}:${cfg.http.port}`, { cause: e });
    });
  } catch (e) {
    // nothing may keep the process alive after a failed start
    await service.drain(0);
    await audit?.close(0);
    await app?.close().catch(() => undefined);
    await coord.close().catch(() => undefined);
    await store.close().catch(() => undefined);
    throw e;
  }
  const server = app;
  const addr = server.server.address() as AddressInfo;
  const url = `${cfg.http.tls ? 'https' : 'http'}://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
  log.info({ url, store: cfg.state.kind }, 'orchestrator listening');
  return {
    url,
    async shutdown(signal, drainMs) {
      log.info({ signal }, 'draining');
      await service.drain(drainMs);
      await server.close();
      await audit?.close();
      await coord.close();
      await store.close();
      log.info({}, 'stopped');
    },
  };
}
