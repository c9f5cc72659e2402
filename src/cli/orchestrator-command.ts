/**
 * `mpc-custody orchestrator --config FILE`: runs the orchestrator until SIGTERM/SIGINT, then drains.
 * `mpc-custody operator keygen|register …` and `mpc-custody request create|show|wait …`: the REST
 * client, authenticated with an operator key file (0600); every answer is printed as JSON.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { isMpcError } from '../errors/index.js';
import { callApi, generateOperatorKey, loadOperatorKey } from '../orchestrator/client.js';
import { startOrchestrator } from '../orchestrator/main.js';
import { payloadDigest, signSignRequest } from '../policy/index.js';

type Out = (line: string) => void;

const ORCH_USAGE = 'usage: mpc-custody orchestrator --config FILE [--drain-ms MS]';
const OPERATOR_USAGE = `usage: mpc-custody operator keygen --id ID --out FILE [--alg EdDSA|ES256]
       mpc-custody operator register --url URL --key ADMIN_KEY_FILE --id ID --roles R[,R…] --public-key JWK_JSON`;
const REQUEST_USAGE = `usage: mpc-custody request create --url URL --key KEY_FILE --key-id K --kind KIND
                          (--payload 0xHEX | --payload-file FILE) [--path m/0/7] [--network N]
                          [--idempotency-key X] [--ttl SECONDS]
       mpc-custody request show --url URL --key KEY_FILE --id ID
       mpc-custody request wait --url URL --key KEY_FILE --id ID [--timeout SECONDS]`;

function parse(args: readonly string[], options: Record<string, { type: 'string' }>) {
  return parseArgs({ args: [...args], options, allowPositionals: true, strict: true });
}

export async function orchestratorCommand(args: readonly string[], err: Out): Promise<number> {
  let values: Record<string, string | undefined>;
  try {
    ({ values } = parse(args, { config: { type: 'string' }, 'drain-ms': { type: 'string' } }));
  } catch {
    err(ORCH_USAGE);
    return 2;
  }
  const drainMs = Number(values['drain-ms'] ?? '30000');
  if (values.config === undefined || !Number.isInteger(drainMs) || drainMs < 0) {
    err(ORCH_USAGE);
    return 2;
  }
  let running: Awaited<ReturnType<typeof startOrchestrator>>;
  try {
    running = await startOrchestrator(values.config);
  } catch (e) {
    const path = isMpcError(e) && e.details.path !== undefined ? ` (path: ${String(e.details.path)})` : '';
    err(`mpc-custody orchestrator: ${isMpcError(e) ? `${e.message}${path}` : 'failed to start'}`);
    process.exit(1);
  }
  const code = await new Promise<number>((resolve) => {
    const stop = (signal: string) =>
      running.shutdown(signal, drainMs).then(
        () => resolve(0),
        () => resolve(1),
      );
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  process.exit(code);
}

const print = (out: Out, v: unknown) => out(JSON.stringify(v));
/** Exit status of an API answer: 0 for 2xx, 1 otherwise (the JSON says why). */
const statusOf = (s: number) => (s >= 200 && s < 300 ? 0 : 1);

export async function operatorCommand(args: readonly string[], out: Out, err: Out): Promise<number> {
  let values: Record<string, string | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parse(args, {
      id: { type: 'string' },
      out: { type: 'string' },
      alg: { type: 'string' },
      url: { type: 'string' },
      key: { type: 'string' },
      roles: { type: 'string' },
      'public-key': { type: 'string' },
    }));
  } catch {
    err(OPERATOR_USAGE);
    return 2;
  }
  const [sub] = positionals;
  if (sub === 'keygen' && values.id && values.out) {
    const alg = values.alg ?? 'EdDSA';
    if (alg !== 'EdDSA' && alg !== 'ES256') {
      err(OPERATOR_USAGE);
      return 2;
    }
    const publicKey = await generateOperatorKey(values.out, values.id, alg);
    print(out, { id: values.id, alg, publicKey, keyFile: values.out });
    return 0;
  }
  if (sub === 'register' && values.url && values.key && values.id && values.roles && values['public-key']) {
    const signer = await loadOperatorKey(values.key);
    const r = await callApi(values.url, signer, 'POST', '/v1/operators', {
      id: values.id,
      roles: values.roles.split(','),
      publicKey: JSON.parse(values['public-key']) as unknown,
    });
    print(out, r.body);
    return statusOf(r.status);
  }
  err(OPERATOR_USAGE);
  return 2;
}

function pathOf(p: string | undefined): number[] | undefined {
  if (p === undefined) return undefined;
  const rest = p.replace(/^m\/?/, '');
  return rest === '' ? [] : rest.split('/').map(Number);
}

export async function requestCommand(args: readonly string[], out: Out, err: Out): Promise<number> {
  let values: Record<string, string | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parse(args, {
      url: { type: 'string' },
      key: { type: 'string' },
      id: { type: 'string' },
      'key-id': { type: 'string' },
      kind: { type: 'string' },
      payload: { type: 'string' },
      'payload-file': { type: 'string' },
      path: { type: 'string' },
      network: { type: 'string' },
      'idempotency-key': { type: 'string' },
      ttl: { type: 'string' },
      timeout: { type: 'string' },
    }));
  } catch {
    err(REQUEST_USAGE);
    return 2;
  }
  const [sub] = positionals;
  if (!values.url || !values.key) {
    err(REQUEST_USAGE);
    return 2;
  }
  const signer = await loadOperatorKey(values.key);
  if (sub === 'create' && values['key-id'] && values.kind && (values.payload || values['payload-file'])) {
    const payloadHex = values.payload ?? `0x${(await readFile(values['payload-file'] as string)).toString('hex')}`;
    const payload = new Uint8Array(Buffer.from(payloadHex.replace(/^0x/, ''), 'hex'));
    const now = Math.floor(Date.now() / 1000);
    const idempotencyKey = values['idempotency-key'] ?? crypto.randomUUID();
    const path = pathOf(values.path);
    const signedRequest = await signSignRequest(
      {
        v: 1,
        keyId: values['key-id'],
        kind: values.kind as never,
        payloadSha256: payloadDigest(payload),
        ...(path ? { path } : {}),
        idempotencyKey,
        iat: now,
        exp: now + Number(values.ttl ?? '3600'),
      },
      signer,
    );
    const r = await callApi(values.url, signer, 'POST', '/v1/sign-requests', {
      keyId: values['key-id'],
      kind: values.kind,
      payload: payloadHex.startsWith('0x') ? payloadHex : `0x${payloadHex}`,
      ...(values.network ? { network: values.network } : {}),
      signedRequest,
      idempotencyKey,
    });
    print(out, r.body);
    return statusOf(r.status);
  }
  if ((sub === 'show' || sub === 'wait') && values.id) {
    const deadline = Date.now() + Number(values.timeout ?? '300') * 1000;
    for (;;) {
      const q = sub === 'wait' ? '?waitFor=final&timeoutSeconds=30' : '';
      const r = await callApi(values.url, signer, 'GET', `/v1/sign-requests/${encodeURIComponent(values.id)}${q}`);
      const final = ['signed', 'rejected', 'failed', 'expired'].includes(String(r.body.state));
      if (sub === 'show' || r.status !== 200 || final || Date.now() > deadline) {
        print(out, r.body);
        return r.status === 200 && (sub === 'show' || r.body.state === 'signed') ? 0 : 1;
      }
    }
  }
  err(REQUEST_USAGE);
  return 2;
}

/** The dispatcher main.ts calls: undefined when `command` is not one of these. */
export function runOrchestratorCommand(
  command: string | undefined,
  args: readonly string[],
  out: Out,
  err: Out,
): Promise<number> | undefined {
  if (command === 'orchestrator') return orchestratorCommand(args, err);
  if (command === 'operator') return operatorCommand(args, out, err);
  if (command === 'request') return requestCommand(args, out, err);
  return undefined;
}
