/**
 * The orchestrator's Prometheus metrics, on a registry of its own (never prom-client's global one).
 * Names and labels are a stable interface: add, never rename. Label values are route templates,
 * methods, states and error codes: bounded sets, never request content.
 *
 * | metric                                      | type      | labels                 |
 * |---------------------------------------------|-----------|------------------------|
 * | mpc_orch_http_requests_total                | counter   | method, route, status  |
 * | mpc_orch_http_request_duration_seconds      | histogram | method, route          |
 * | mpc_orch_sign_request_transitions_total     | counter   | state                  |
 * | mpc_orch_presignatures_on_demand_total      | counter   |                        |
 * | mpc_orch_presignatures_pooled_total         | counter   |                        |
 * | mpc_orch_presignatures_taken_total          | counter   | source (pool, demand)  |
 * | mpc_orch_keygen_jobs_total                  | counter   | outcome                |
 * | mpc_orch_auth_refused_total                 | counter   | code                   |
 */
import { Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client';

export class OrchestratorMetrics {
  readonly registry = new Registry();
  readonly httpRequests = new Counter({
    name: 'mpc_orch_http_requests_total',
    help: 'REST requests answered',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });
  readonly httpDuration = new Histogram({
    name: 'mpc_orch_http_request_duration_seconds',
    help: 'REST request handling time',
    labelNames: ['method', 'route'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30],
    registers: [this.registry],
  });
  readonly transitions = new Counter({
    name: 'mpc_orch_sign_request_transitions_total',
    help: 'sign request state transitions made by this process, by new state',
    labelNames: ['state'] as const,
    registers: [this.registry],
  });
  readonly presignOnDemand = new Counter({
    name: 'mpc_orch_presignatures_on_demand_total',
    help: 'presignatures made on demand for a sign request (no pooled one)',
    registers: [this.registry],
  });
  readonly presignPooled = new Counter({
    name: 'mpc_orch_presignatures_pooled_total',
    help: 'presignatures made in the background for a pool',
    registers: [this.registry],
  });
  readonly presignTaken = new Counter({
    name: 'mpc_orch_presignatures_taken_total',
    help: 'presignatures a sign request used, by source: pool, or demand (the pool was empty or absent)',
    labelNames: ['source'] as const,
    registers: [this.registry],
  });
  readonly keygenJobs = new Counter({
    name: 'mpc_orch_keygen_jobs_total',
    help: 'keygen + aux info jobs ended, by outcome',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly authRefused = new Counter({
    name: 'mpc_orch_auth_refused_total',
    help: 'requests refused by authentication or authorization, by code',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });

  constructor(o: { defaultMetrics?: boolean } = {}) {
    if (o.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'mpc_orch_' });
  }
}
