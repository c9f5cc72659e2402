/**
 * `mpc-custody orchestrator --config FILE`: runs the orchestrator until SIGTERM/SIGINT, then drains.
 * `mpc-custody operator keygen|register …` and `mpc-custody request create|show|wait …`: the REST
 * client, authenticated with an operator key file (0600); every answer is printed as JSON (exit 1
 * when the API answered with an error: the JSON says why).
 */
import Type from 'typebox';
import { PAYLOAD_KINDS } from '../chains/types.js';
import { isMpcError, MpcError } from '../errors/index.js';
import type { Signer } from '../policy/signed-document.js';
import {
  assertReadableFile,
  assertWritableFile,
  fileError,
  nameFile,
  readInputFile,
  readJsonFile,
} from './boundary.js';
import {
  type Command,
  type CommandGroup,
  type CommandIo,
  defineCommand,
  EXIT,
  reportError,
  splitSubcommand,
} from './command.js';
import { FileFlag, NetworkFlag } from './flags.js';

type Out = (line: string) => void;

/** src/orchestrator/config.ts OPERATOR_ID_PATTERN (not imported: that module is heavy). */
const OperatorId = Type.String({
  pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$',
  metavar: 'ID',
  description: 'operator id',
});
const Url = Type.String({ pattern: '^https?://', metavar: 'URL', description: "the orchestrator's base URL" });
const KeyFile = FileFlag('operator key file (0600, from operator keygen)');

export const orchestrator = defineCommand({
  name: 'orchestrator',
  summary: "the orchestrator's REST service (pino logs on stdout; SIGTERM drains)",
  flags: Type.Object({
    config: FileFlag('orchestrator config'),
    drainMs: Type.Integer({ minimum: 0, maximum: 3_600_000, default: 30_000, metavar: 'MS' }),
  }),
  async run(f) {
    const state = await checkOrchestratorConfig(f.config);
    const { startOrchestrator } = await import('../orchestrator/main.js');
    // a refusal of the config's contents names the config; one of the state store names the store
    const running = await startOrchestrator(f.config).catch((e: unknown) => {
      if (isMpcError(e, 'ERR_CONFIG_INVALID')) throw nameFile(e, f.config);
      if (isMpcError(e, 'ERR_ORCH_STORE')) {
        throw new MpcError(e.code, `${e.reason} (${state})`, { details: { ...e.details, state }, cause: e });
      }
      throw e;
    });
    const code = await new Promise<number>((resolve) => {
      const stop = (signal: string) =>
        running.shutdown(signal, f.drainMs).then(
          () => resolve(EXIT.ok),
          () => resolve(EXIT.failed),
        );
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });
    process.exit(code);
  },
});

/** The operator key file, every refusal naming it (checked before anything is sent). */
async function operatorKey(file: string): Promise<Signer> {
  await assertReadableFile(file, 'operator key file');
  const { loadOperatorKey } = await import('../orchestrator/client.js');
  return loadOperatorKey(file).catch((e: unknown) => {
    // a schema refusal carries the JSON pointer of the field as its path: keep it as the field
    if (!(e instanceof MpcError) || e.details.path === file) throw e;
    const details: Record<string, string | number | boolean> = { ...e.details, path: file };
    if (e.details.path !== undefined) details.field = e.details.path;
    throw new MpcError(e.code, e.reason, { details, cause: e });
  });
}

/** One API call; an orchestrator nobody answers at is ERR_TRANSPORT_CONNECT naming the URL. */
async function api(url: string, signer: Signer, method: string, path: string, body?: unknown) {
  const { callApi } = await import('../orchestrator/client.js');
  try {
    return await callApi(url, signer, method, path, body);
  } catch (e) {
    if (e instanceof MpcError) throw e;
    // fetch rejects with a TypeError when nothing answers (refused, DNS, TLS); never print its cause
    throw new MpcError('ERR_TRANSPORT_CONNECT', `cannot reach the orchestrator at ${url} (--url)`, {
      details: { url, reason: e instanceof Error ? e.name : 'unknown' },
    });
  }
}

/**
 * The orchestrator config and every file it names, before anything is opened or connected: its
 * schema and rules (naming the field), the coordinator config, the policy and registry files, the
 * TLS files, the SQLite database's directory. Returns the state store as it may be shown (a
 * PostgreSQL URL without its user:password part).
 */
async function checkOrchestratorConfig(file: string): Promise<string> {
  const { dirname, resolve } = await import('node:path');
  const { OrchestratorConfigSchema, parseOrchestratorConfig } = await import('../orchestrator/config.js');
  const raw = await readJsonFile(file, 'orchestrator config', OrchestratorConfigSchema);
  let cfg: ReturnType<typeof parseOrchestratorConfig>;
  try {
    cfg = parseOrchestratorConfig(raw, dirname(resolve(file)));
  } catch (e) {
    throw nameFile(e, file);
  }
  if (cfg.coordinator === undefined) {
    throw new MpcError(
      'ERR_CONFIG_INVALID',
      'orchestrator config: coordinator (setup’s coordinator.json) is required',
      {
        details: { path: file, field: '/coordinator' },
      },
    );
  }
  await assertReadableFile(cfg.coordinator, 'coordinator config (orchestrator config /coordinator)');
  if (cfg.policy?.policyFile) await assertReadableFile(cfg.policy.policyFile, 'policy file (/policy/policyFile)');
  if (cfg.policy?.registryFile) {
    await assertReadableFile(cfg.policy.registryFile, 'registry file (/policy/registryFile)');
  }
  if (cfg.http.tls) {
    await assertReadableFile(cfg.http.tls.certFile, 'TLS certificate (/http/tls/certFile)');
    await assertReadableFile(cfg.http.tls.keyFile, 'TLS key (/http/tls/keyFile)');
  }
  if (cfg.state.kind === 'sqlite') {
    await assertWritableFile(cfg.state.path, 'orchestrator database (/state/path)');
    return cfg.state.path;
  }
  return cfg.state.url.replace(/\/\/[^@/]*@/, '//');
}

/** Exit status of an API answer: 0 for 2xx, 1 otherwise (the JSON says why). */
const statusOf = (s: number) => (s >= 200 && s < 300 ? EXIT.ok : EXIT.failed);

export const operatorKeygen = defineCommand({
  name: 'operator keygen',
  summary: 'make an operator key file (0600, never overwritten); prints the public JWK',
  flags: Type.Object({
    id: OperatorId,
    out: FileFlag('key file to write'),
    alg: Type.Union([Type.Literal('EdDSA'), Type.Literal('ES256')], { default: 'EdDSA', metavar: 'ALG' }),
  }),
  async run(f, io) {
    await assertWritableFile(f.out, 'operator key file', true);
    const { generateOperatorKey } = await import('../orchestrator/client.js');
    const publicKey = await generateOperatorKey(f.out, f.id, f.alg).catch((e: unknown) => {
      throw fileError(e, f.out, 'operator key file');
    });
    io.out(JSON.stringify({ id: f.id, alg: f.alg, publicKey, keyFile: f.out }));
    return EXIT.ok;
  },
});

export const operatorRegister = defineCommand({
  name: 'operator register',
  summary: 'register an operator (an admin key signs the call)',
  flags: Type.Object({
    url: Url,
    key: FileFlag("the admin's operator key file"),
    id: OperatorId,
    roles: Type.String({ pattern: '^[A-Za-z0-9_-]+(,[A-Za-z0-9_-]+)*$', metavar: 'R[,R…]', description: 'roles' }),
    publicKey: Type.String({ minLength: 2, metavar: 'JWK_JSON', description: "the operator's public JWK (JSON)" }),
  }),
  async run(f, io) {
    let jwk: unknown;
    try {
      jwk = JSON.parse(f.publicKey);
    } catch {
      throw new MpcError('ERR_CLI_USAGE', '--public-key must be a JSON JWK', { details: { flag: '--public-key' } });
    }
    const signer = await operatorKey(f.key);
    const r = await api(f.url, signer, 'POST', '/v1/operators', {
      id: f.id,
      roles: f.roles.split(','),
      publicKey: jwk,
    });
    io.out(JSON.stringify(r.body));
    return statusOf(r.status);
  },
});

const PathText = Type.String({
  pattern: '^(m(/(0|[1-9][0-9]{0,9}))*|(0|[1-9][0-9]{0,9})(/(0|[1-9][0-9]{0,9}))*)$',
  metavar: 'm/A/B',
  description: 'non-hardened derivation path',
});

function pathOf(p: string | undefined): number[] | undefined {
  if (p === undefined) return undefined;
  const rest = p.replace(/^m\/?/, '');
  return rest === '' ? [] : rest.split('/').map(Number);
}

export const requestCreate = defineCommand({
  name: 'request create',
  summary: "create a sign request, signed with the initiator's operator key; prints the API's answer",
  flags: Type.Object({
    url: Url,
    key: KeyFile,
    keyId: Type.String({ minLength: 1, maxLength: 120, metavar: 'K', description: 'the key to sign with' }),
    kind: Type.Union(
      PAYLOAD_KINDS.map((k) => Type.Literal(k)),
      { metavar: 'KIND' },
    ),
    payload: Type.Optional(
      Type.String({ pattern: '^(0x)?([0-9a-fA-F]{2})+$', metavar: '0xHEX', description: 'the payload as hex' }),
    ),
    payloadFile: Type.Optional(FileFlag('the payload as a file of bytes')),
    path: Type.Optional(PathText),
    network: Type.Optional(NetworkFlag),
    idempotencyKey: Type.Optional(Type.String({ minLength: 1, maxLength: 128, metavar: 'X' })),
    ttl: Type.Integer({ minimum: 1, maximum: 30 * 86400, default: 3600, metavar: 'SECONDS' }),
  }),
  async run(f, io) {
    if ((f.payload === undefined) === (f.payloadFile === undefined)) {
      throw new MpcError('ERR_CLI_USAGE', 'give exactly one of --payload and --payload-file', {
        details: { flag: '--payload' },
      });
    }
    const bytes =
      f.payload !== undefined
        ? new Uint8Array(Buffer.from(f.payload.replace(/^0x/, ''), 'hex'))
        : await readInputFile(f.payloadFile as string, 'payload file');
    const payloadHex = `0x${Buffer.from(bytes).toString('hex')}`;
    const { payloadDigest, signSignRequest } = await import('../policy/index.js');
    const signer = await operatorKey(f.key);
    const now = Math.floor(Date.now() / 1000);
    const idempotencyKey = f.idempotencyKey ?? crypto.randomUUID();
    const path = pathOf(f.path);
    const signedRequest = await signSignRequest(
      {
        v: 1,
        keyId: f.keyId,
        kind: f.kind,
        payloadSha256: payloadDigest(bytes),
        ...(path ? { path } : {}),
        ...(f.kind === 'btc.psbt' && f.network ? { network: f.network } : {}),
        idempotencyKey,
        iat: now,
        exp: now + f.ttl,
      },
      signer,
    );
    const r = await api(f.url, signer, 'POST', '/v1/sign-requests', {
      keyId: f.keyId,
      kind: f.kind,
      payload: payloadHex,
      ...(f.network ? { network: f.network } : {}),
      signedRequest,
      idempotencyKey,
    });
    io.out(JSON.stringify(r.body));
    return statusOf(r.status);
  },
});

const RequestId = Type.String({ minLength: 1, maxLength: 128, metavar: 'ID', description: 'sign request id' });

async function showOrWait(f: { url: string; key: string; id: string; timeout?: number }, io: CommandIo, wait: boolean) {
  const signer = await operatorKey(f.key);
  const deadline = Date.now() + (f.timeout ?? 300) * 1000;
  for (;;) {
    const q = wait ? '?waitFor=final&timeoutSeconds=30' : '';
    const r = await api(f.url, signer, 'GET', `/v1/sign-requests/${encodeURIComponent(f.id)}${q}`);
    const final = ['signed', 'rejected', 'failed', 'expired'].includes(String(r.body.state));
    if (!wait || r.status !== 200 || final || Date.now() > deadline) {
      io.out(JSON.stringify(r.body));
      return r.status === 200 && (!wait || r.body.state === 'signed') ? EXIT.ok : EXIT.failed;
    }
  }
}

export const requestShow = defineCommand({
  name: 'request show',
  summary: 'a sign request as the API reports it',
  flags: Type.Object({ url: Url, key: KeyFile, id: RequestId }),
  run: (f, io) => showOrWait(f, io, false),
});

export const requestWait = defineCommand({
  name: 'request wait',
  summary: 'wait (long-poll) until a sign request is final; exit 0 only when signed',
  flags: Type.Object({
    url: Url,
    key: KeyFile,
    id: RequestId,
    timeout: Type.Integer({ minimum: 1, maximum: 86400, default: 300, metavar: 'SECONDS' }),
  }),
  run: (f, io) => showOrWait(f, io, true),
});

export const operatorGroup: CommandGroup = {
  name: 'operator',
  summary: 'operator keys and registration (the REST client)',
  commands: [operatorKeygen, operatorRegister],
};

export const requestGroup: CommandGroup = {
  name: 'request',
  summary: 'sign requests through the orchestrator: create, show, wait (the REST client)',
  commands: [requestCreate, requestShow, requestWait],
};

/**
 * A group's subcommand from argv, for callers holding the args (tests): usage errors are printed
 * and return 2, anything else is thrown to the caller.
 */
async function invokeGroup(group: CommandGroup, args: readonly string[], out: Out, err: Out): Promise<number> {
  const io = { out, err };
  const { verb, rest } = splitSubcommand(group, args);
  const cmd: Command | undefined = group.commands.find((c) => c.name === `${group.name} ${verb}`);
  try {
    if (cmd === undefined) {
      throw new MpcError('ERR_CLI_USAGE', `unknown subcommand; one of ${group.commands.map((c) => c.name).join(', ')}`);
    }
    return await cmd.invoke(rest, io);
  } catch (e) {
    if (e instanceof MpcError && e.code === 'ERR_CLI_USAGE') return reportError(cmd?.name ?? group.name, e, io, false);
    throw e;
  }
}

export const operatorCommand = (args: readonly string[], out: Out, err: Out): Promise<number> =>
  invokeGroup(operatorGroup, args, out, err);

export const requestCommand = (args: readonly string[], out: Out, err: Out): Promise<number> =>
  invokeGroup(requestGroup, args, out, err);
