/**
 * The REST API (fastify 5). Every route declares its request and response schemas (schemas.ts) and
 * its roles (../rbac.ts). The pipeline of a request:
 *
 *   size limit (bodyLimit, 413) → JSON body kept as raw bytes (415 for other media types) →
 *   authentication over the raw bytes (auth.ts, 401) → role check (403) → malformed JSON (400) →
 *   schema validation (400: unknown fields refused, no coercion) → handler → typed errors (errors.ts)
 *
 * Authentication comes before the JSON and schema checks so that an unauthenticated caller learns
 * nothing about the schema; the body hash needs the raw bytes, which is why JSON is parsed here.
 */
import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { BtcNetwork, PayloadKind } from '../../chains/types.js';
import { MpcError } from '../../errors/index.js';
import type { Role } from '../../policy/registry.js';
import { TokenVerifier } from '../auth.js';
import type { OrchestratorMetrics } from '../metrics.js';
import { accessFor, allowed } from '../rbac.js';
import { OrchestratorService, sha256Hex } from '../service.js';
import {
  FINAL_STATES,
  type KeyRecord,
  type OperatorRecord,
  SIGN_REQUEST_STATES,
  type SignRequestRecord,
  type SignRequestState,
} from '../store/store.js';
import { httpError } from './errors.js';
import * as S from './schemas.js';

declare module 'fastify' {
  interface FastifyRequest {
    rawBody: Uint8Array | undefined;
    operator: OperatorRecord | undefined;
  }
}

const MALFORMED = Symbol('malformed JSON');

export interface ApiOptions {
  readonly service: OrchestratorService;
  readonly metrics: OrchestratorMetrics;
  readonly bodyLimitBytes: number;
  /** A pino logger for fastify, or false (tests). */
  readonly logger?: FastifyServerOptions['loggerInstance'] | false;
  readonly https?: { readonly cert: Buffer; readonly key: Buffer };
  /** Unix seconds (tests move time). */
  readonly now?: () => number;
}

const keyJson = (k: KeyRecord) => ({
  id: k.id,
  state: k.state,
  progress: k.progress,
  threshold: k.threshold,
  parties: [...Array(k.parties).keys()],
  publicKey: k.publicKey,
  xpub: OrchestratorService.xpub(k),
  errorCode: k.errorCode,
  createdAt: k.createdAt,
  updatedAt: k.updatedAt,
});

const operatorJson = (o: OperatorRecord) => ({
  id: o.id,
  roles: [...o.roles],
  publicKey: o.publicKey,
  disabled: o.disabled,
  createdAt: o.createdAt,
  updatedAt: o.updatedAt,
});

const requestJson = (r: SignRequestRecord) => ({
  id: r.id,
  idempotencyKey: r.idempotencyKey,
  keyId: r.keyId,
  kind: r.kind,
  network: r.network,
  state: r.state,
  initiator: r.initiator,
  createdBy: r.createdBy,
  requestDigest: r.requestDigest,
  policyVersion: r.policyVersion,
  approvals: r.approvals.length,
  artifact:
    r.artifact === null ? null : { kind: r.artifact.kind, hex: r.artifact.hex, fields: { ...r.artifact.fields } },
  error: r.error,
  createdAt: r.createdAt,
  updatedAt: r.updatedAt,
  expiresAt: r.expiresAt,
});

function payloadBytes(payload: string, encoding: 'hex' | 'base64' | undefined): Uint8Array {
  if ((encoding ?? 'hex') === 'hex') {
    if (!/^0x([0-9a-fA-F]{2})*$/.test(payload)) {
      throw new MpcError('ERR_API_BAD_REQUEST', 'body/payload must be 0x-prefixed hex of whole bytes');
    }
    return new Uint8Array(Buffer.from(payload.slice(2), 'hex'));
  }
  const bytes = Buffer.from(payload, 'base64');
  if (bytes.toString('base64') !== payload)
    throw new MpcError('ERR_API_BAD_REQUEST', 'body/payload is not canonical base64');
  return new Uint8Array(bytes);
}

function parsePath(p: string): number[] {
  const rest = p.replace(/^m\/?/, '');
  if (rest === '') return [];
  const path = rest.split('/').map(Number);
  if (path.some((i) => !Number.isSafeInteger(i) || i >= 2 ** 31)) {
    throw new MpcError('ERR_API_BAD_REQUEST', 'querystring/path must be non-hardened indices below 2^31');
  }
  return path;
}

function waitStates(waitFor: string): SignRequestState[] {
  const out: SignRequestState[] = [];
  for (const w of waitFor.split(',')) {
    if (w === 'final') out.push(...FINAL_STATES);
    else if ((SIGN_REQUEST_STATES as readonly string[]).includes(w)) out.push(w as SignRequestState);
    else throw new MpcError('ERR_API_BAD_REQUEST', `querystring/waitFor: unknown state ${w.slice(0, 32)}`);
  }
  return out;
}

/** Fastify's own errors (parsing, limits, validation) as catalogue errors. */
function asMpcError(err: unknown): unknown {
  if (err instanceof MpcError) return err;
  const e = err as {
    code?: string;
    statusCode?: number;
    validation?: { instancePath?: string; message?: string }[];
    validationContext?: string;
  };
  if (Array.isArray(e.validation)) {
    const first = e.validation[0];
    return new MpcError(
      'ERR_API_BAD_REQUEST',
      `${e.validationContext ?? 'request'}${first?.instancePath ?? ''} ${first?.message ?? 'is invalid'}`,
    );
  }
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new MpcError('ERR_API_BODY_TOO_LARGE', 'request body is too large');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_TYPE':
      return new MpcError('ERR_API_UNSUPPORTED_MEDIA_TYPE', 'request body must be application/json');
  }
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return new MpcError('ERR_API_BAD_REQUEST', 'request is malformed');
  }
  return err;
}

export async function buildApi(o: ApiOptions): Promise<FastifyInstance> {
  const svc = o.service;
  const nowSeconds = o.now ?? (() => Math.floor(Date.now() / 1000));
  const verifier = new TokenVerifier(svc.store);
  const app = Fastify({
    bodyLimit: o.bodyLimitBytes,
    ...(o.logger ? { loggerInstance: o.logger } : { logger: false }),
    ...(o.https ? { https: { cert: o.https.cert, key: o.https.key } } : {}),
    // unknown fields are refused (never stripped), types are never coerced
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: false } },
    return503OnClosing: true,
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.decorateRequest('rawBody', undefined);
  app.decorateRequest('operator', undefined);
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (req, body, done) => {
    const bytes = body as Buffer;
    req.rawBody = new Uint8Array(bytes);
    try {
      done(null, JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)));
    } catch {
      done(null, MALFORMED);
    }
  });

  app.addHook('preValidation', async (req) => {
    const route = req.routeOptions.url;
    if (route === undefined) return; // the 404 handler
    const access = accessFor(req.method, route);
    if (access === undefined) throw new MpcError('ERR_API_FORBIDDEN', 'route has no access rule');
    if (access.roles === 'public') return;
    const op = await verifier.verify(
      req.headers.authorization,
      { method: req.method, url: req.url, body: req.rawBody },
      nowSeconds(),
    );
    if (!allowed(access, op.roles)) {
      throw new MpcError(
        'ERR_API_FORBIDDEN',
        `route needs one of the roles ${(access.roles as readonly Role[]).join(', ')}`,
      );
    }
    req.operator = op;
    if ((req.body as unknown) === MALFORMED) throw new MpcError('ERR_API_MALFORMED_JSON', 'request body is not JSON');
  });

  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    o.metrics.httpRequests.inc({ method: req.method, route, status: String(reply.statusCode) });
    o.metrics.httpDuration.observe({ method: req.method, route }, reply.elapsedTime / 1000);
  });

  app.setErrorHandler(async (err, req, reply) => {
    const mapped = asMpcError(err);
    const { status, body } = httpError(mapped);
    if (status === 401 || status === 403) o.metrics.authRefused.inc({ code: body.code });
    if (status >= 500 && status !== 503) req.log.error({ err: mapped }, 'request failed');
    return reply.status(status).send(body);
  });
  app.setNotFoundHandler(async (_req, reply) =>
    reply.status(404).send({ code: 'ERR_API_NOT_FOUND', message: 'no such route' }),
  );

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'mpc-custody orchestrator', version: '1' },
      components: { securitySchemes: { operatorJws: { type: 'http', scheme: 'bearer', bearerFormat: 'JWS' } } },
      security: [{ operatorJws: [] }],
    },
  });

  const E = S.ERROR_RESPONSES;
  const op = (req: { operator: OperatorRecord | undefined }) => req.operator as OperatorRecord;

  // public --------------------------------------------------------------------------------------
  app.get('/healthz', { schema: { security: [], response: { 200: S.Health, ...E } } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: { security: [], response: { 200: S.Ready, 503: S.Ready } } }, async (_req, reply) => {
    const reasons: string[] = [];
    if (svc.draining) reasons.push('draining');
    if (!svc.auditReady) reasons.push('audit log unavailable');
    if (!(await svc.store.ping())) reasons.push('store unavailable');
    if (svc.registry() === undefined) reasons.push('no operator registry held');
    if (svc.latestPolicy() === undefined) reasons.push('no policy held');
    return reply.status(reasons.length === 0 ? 200 : 503).send({ ready: reasons.length === 0, reasons });
  });
  app.get('/metrics', { schema: { security: [], response: { 200: { type: 'string' } } } }, async (_req, reply) => {
    reply.header('content-type', o.metrics.registry.contentType);
    return o.metrics.registry.metrics();
  });
  app.get(
    '/v1/openapi.json',
    { schema: { security: [], response: { 200: { type: 'object', additionalProperties: true } } } },
    async () => app.swagger() as unknown as Record<string, unknown>,
  );

  // operators -----------------------------------------------------------------------------------
  app.get('/v1/whoami', { schema: { response: { 200: S.WhoAmI, ...E } } }, async (req) => ({
    id: op(req).id,
    roles: [...op(req).roles],
  }));
  app.get('/v1/operators', { schema: { response: { 200: S.OperatorList, ...E } } }, async () => ({
    items: (await svc.store.listOperators()).map(operatorJson),
  }));
  app.post(
    '/v1/operators',
    { schema: { body: S.CreateOperator, response: { 201: S.Operator, ...E } } },
    async (req, reply) => reply.status(201).send(operatorJson(await svc.createOperator(req.body, op(req).id))),
  );
  app.get('/v1/operators/:id', { schema: { params: S.IdParams, response: { 200: S.Operator, ...E } } }, async (req) =>
    operatorJson(await svc.getOperator(req.params.id)),
  );
  app.patch(
    '/v1/operators/:id',
    { schema: { params: S.IdParams, body: S.PatchOperator, response: { 200: S.Operator, ...E } } },
    async (req) => operatorJson(await svc.updateOperator(req.params.id, req.body, op(req).id)),
  );

  // policy --------------------------------------------------------------------------------------
  const docState = () => {
    const p = svc.latestPolicy();
    const r = svc.registry();
    return {
      policy: p ? { version: p.version, hash: p.hash } : null,
      registry: r ? { version: r.version, hash: r.hash } : null,
    };
  };
  app.get('/v1/policy', { schema: { response: { 200: S.PolicyState, ...E } } }, async () => docState());
  app.put('/v1/policy', { schema: { body: S.SignedDocument, response: { 200: S.DocumentPut, ...E } } }, async (req) =>
    svc.putPolicy(req.body, false, op(req).id),
  );
  app.put('/v1/registry', { schema: { body: S.SignedDocument, response: { 200: S.DocumentPut, ...E } } }, async (req) =>
    svc.putRegistry(req.body, false, op(req).id),
  );

  // keys ----------------------------------------------------------------------------------------
  app.get('/v1/keys', { schema: { response: { 200: S.KeyList, ...E } } }, async () => ({
    items: (await svc.store.listKeys()).map(keyJson),
  }));
  app.post('/v1/keys', { schema: { body: S.CreateKey, response: { 202: S.Key, ...E } } }, async (req, reply) =>
    reply.status(202).send(keyJson(await svc.createKey(op(req).id, req.body))),
  );
  app.get('/v1/keys/:id', { schema: { params: S.KeyParams, response: { 200: S.Key, ...E } } }, async (req) =>
    keyJson(await svc.getKey(req.params.id)),
  );
  app.get(
    '/v1/keys/:id/addresses',
    { schema: { params: S.KeyParams, querystring: S.AddressQuery, response: { 200: S.Address, ...E } } },
    async (req) => {
      const path = parsePath(req.query.path);
      const network = (req.query.network ?? 'mainnet') as BtcNetwork;
      const a = await svc.address(req.params.id, path, req.query.chain, network);
      return {
        keyId: req.params.id,
        path,
        chain: req.query.chain,
        network: req.query.chain === 'bitcoin' ? network : null,
        ...a,
      };
    },
  );

  // sign requests -------------------------------------------------------------------------------
  app.post(
    '/v1/sign-requests',
    { schema: { body: S.CreateSignRequest, response: { 200: S.SignRequest, 201: S.SignRequest, ...E } } },
    async (req, reply) => {
      const b = req.body;
      const res = await svc.createSignRequest(
        op(req).id,
        {
          keyId: b.keyId,
          kind: b.kind as PayloadKind,
          payload: payloadBytes(b.payload, b.payloadEncoding),
          ...(b.network ? { network: b.network as BtcNetwork } : {}),
          signedRequest: b.signedRequest,
          idempotencyKey: b.idempotencyKey,
        },
        sha256Hex(req.rawBody ?? new Uint8Array(0)),
      );
      return reply.status(res.created ? 201 : 200).send(requestJson(res.record));
    },
  );
  app.get(
    '/v1/sign-requests',
    { schema: { querystring: S.ListQuery, response: { 200: S.SignRequestList, ...E } } },
    async (req) => {
      const limit = Number(req.query.limit ?? '50');
      const items = await svc.store.listSignRequests({
        limit,
        ...(req.query.state ? { state: req.query.state as SignRequestState } : {}),
        ...(req.query.keyId ? { keyId: req.query.keyId } : {}),
        ...(req.query.initiator ? { initiator: req.query.initiator } : {}),
        ...(req.query.cursor ? { before: req.query.cursor } : {}),
      });
      return {
        items: items.map(requestJson),
        nextCursor: items.length === limit ? (items[items.length - 1] as SignRequestRecord).id : null,
      };
    },
  );
  app.get('/v1/audit', { schema: { querystring: S.AuditQuery, response: { 200: S.AuditPage, ...E } } }, async (req) => {
    const q = req.query;
    const page = await svc.readAudit({
      after: Number(q.cursor ?? '0'),
      limit: Number(q.limit ?? '100'),
      ...(q.emitter ? { emitter: q.emitter } : {}),
      ...(q.type ? { type: q.type } : {}),
      ...(q.request ? { request: q.request } : {}),
    });
    return { items: page.records, nextCursor: page.next === null ? null : String(page.next) };
  });
  app.get(
    '/v1/sign-requests/:id',
    { schema: { params: S.RequestParams, querystring: S.WaitQuery, response: { 200: S.SignRequest, ...E } } },
    async (req) => {
      if (req.query.waitFor === undefined) return requestJson(await svc.getSignRequest(req.params.id));
      const states = waitStates(req.query.waitFor);
      const timeoutMs = Number(req.query.timeoutSeconds ?? '30') * 1000;
      return requestJson(await svc.waitForSignRequest(req.params.id, states, timeoutMs));
    },
  );
  // Server-sent events: the request as JSON at once and on every state change, until a final state
  // (or 5 minutes); a client reconnects with a new token to follow longer.
  app.get(
    '/v1/sign-requests/:id/events',
    {
      schema: {
        params: S.RequestParams,
        response: { 200: { type: 'string', description: 'text/event-stream of `state` events' }, ...E },
      },
    },
    async (req, reply) => {
      let r = await svc.getSignRequest(req.params.id);
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
      const deadline = Date.now() + 300_000;
      let last = '';
      for (;;) {
        if (r.state !== last) {
          res.write(`event: state\ndata: ${JSON.stringify(requestJson(r))}\n\n`);
          last = r.state;
        }
        if ((FINAL_STATES as readonly string[]).includes(r.state) || Date.now() > deadline || res.destroyed) break;
        const others = SIGN_REQUEST_STATES.filter((x) => x !== r.state);
        r = await svc.waitForSignRequest(r.id, others, Math.min(30_000, deadline - Date.now()));
      }
      res.end();
    },
  );
  app.post(
    '/v1/sign-requests/:id/approvals',
    { schema: { params: S.RequestParams, body: S.CreateApproval, response: { 200: S.SignRequest, ...E } } },
    async (req) => requestJson(await svc.addApproval(req.params.id, req.body.approval)),
  );

  await app.ready();
  return app;
}
