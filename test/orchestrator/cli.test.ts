/**
 * The orchestrator's CLI client against a listening API (fake signing backend), and the config.
 */
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getBytes } from 'ethers';
import { exportJWK } from 'jose';
import { serializeTransaction } from 'viem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { operatorCommand, requestCommand } from '../../src/cli/orchestrator-command.js';
import { parseOrchestratorConfig } from '../../src/orchestrator/config.js';
import type { OperatorKey } from '../helpers/operator-keys.js';
import { type Harness, makeHarness } from './harness.js';

let h: Harness;
let dir: string;
let url: string;

async function keyFile(name: string, k: OperatorKey): Promise<string> {
  const file = join(dir, `${name}.json`);
  const privateJwk = await exportJWK(k.privateKey as Parameters<typeof exportJWK>[0]);
  await writeFile(file, JSON.stringify({ id: k.kid, alg: k.alg, privateJwk }), { mode: 0o600 });
  return file;
}

async function run(cmd: typeof requestCommand, args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await cmd(
    args,
    (l) => out.push(l),
    (l) => err.push(l),
  );
  return { code, json: out.length ? (JSON.parse(out.join('')) as Record<string, unknown>) : {}, err };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'orch-cli-'));
  h = await makeHarness();
  await h.readyKey('k1');
  await h.app.listen({ host: '127.0.0.1', port: 0 });
  const a = h.app.server.address() as { port: number };
  url = `http://127.0.0.1:${a.port}`;
});
afterAll(async () => {
  await h?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('operator and request commands', () => {
  it('operator keygen writes a 0600 key file (never over an existing one); an admin registers it', async () => {
    const file = join(dir, 'new-op.json');
    const k = await run(operatorCommand, ['keygen', '--id', 'newop', '--out', file]);
    expect(k.code).toBe(0);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(k.json).toMatchObject({ id: 'newop', alg: 'EdDSA', publicKey: { kty: 'OKP', crv: 'Ed25519' } });
    await expect(run(operatorCommand, ['keygen', '--id', 'newop', '--out', file])).rejects.toThrow();
    const root = await keyFile('root', h.keys.root as OperatorKey);
    const reg = await run(operatorCommand, [
      'register',
      '--url',
      url,
      '--key',
      root,
      '--id',
      'newop',
      '--roles',
      'viewer,auditor',
      '--public-key',
      JSON.stringify(k.json.publicKey),
    ]);
    expect(reg.code).toBe(0);
    expect(reg.json).toMatchObject({ id: 'newop', roles: ['viewer', 'auditor'], disabled: false });
    // the new operator's own key now authenticates
    const show = await run(requestCommand, ['show', '--url', url, '--key', file, '--id', `sr_${'0'.repeat(28)}`]);
    expect(show.json.code).toBe('ERR_API_REQUEST_UNKNOWN');
    // a non-admin cannot register operators
    const vic = await keyFile('vic', h.keys.vic as OperatorKey);
    const denied = await run(operatorCommand, [
      'register',
      '--url',
      url,
      '--key',
      vic,
      '--id',
      'x2',
      '--roles',
      'admin',
      '--public-key',
      JSON.stringify(k.json.publicKey),
    ]);
    expect([denied.code, denied.json.code]).toEqual([1, 'ERR_API_FORBIDDEN']);
  });

  it('request create signs the request with the operator key; wait returns the signed artifact', async () => {
    const ian = await keyFile('ian', h.keys.ian as OperatorKey);
    const payload = serializeTransaction({
      type: 'eip1559',
      chainId: 1,
      nonce: 5,
      to: '0x3333333333333333333333333333333333333333',
      value: 1n,
      gas: 21_000n,
      maxFeePerGas: 2n,
      maxPriorityFeePerGas: 1n,
    });
    expect(getBytes(payload).length).toBeGreaterThan(0);
    const c = await run(requestCommand, [
      'create',
      '--url',
      url,
      '--key',
      ian,
      '--key-id',
      'k1',
      '--kind',
      'eth.transaction',
      '--payload',
      payload,
      '--path',
      'm/0/7',
      '--idempotency-key',
      'cli-1',
    ]);
    expect(c.code, JSON.stringify(c.json)).toBe(0);
    const w = await run(requestCommand, ['wait', '--url', url, '--key', ian, '--id', String(c.json.id)]);
    expect([w.code, w.json.state]).toEqual([0, 'signed']);
    const s = await run(requestCommand, ['show', '--url', url, '--key', ian, '--id', String(c.json.id)]);
    expect(s.json).toMatchObject({ state: 'signed', idempotencyKey: 'cli-1' });
  });

  it('a group- or world-readable key file is refused', async () => {
    const loose = join(dir, 'loose.json');
    await writeFile(loose, '{}', { mode: 0o644 });
    await expect(run(requestCommand, ['show', '--url', url, '--key', loose, '--id', 'x'])).rejects.toThrow(/chmod 600/);
  });

  it('bad usage exits 2', async () => {
    expect((await run(requestCommand, ['create'])).code).toBe(2);
    expect((await run(operatorCommand, ['nope'])).code).toBe(2);
    expect((await run(operatorCommand, ['--bogus'])).code).toBe(2);
  });
});

describe('orchestrator config', () => {
  const admin = { id: 'root', publicKey: { kty: 'OKP', crv: 'Ed25519', x: 'A'.repeat(43) } };
  it('defaults to SQLite next to the file, resolves paths and is frozen', () => {
    const c = parseOrchestratorConfig({ coordinator: '../coordinator.json', bootstrapAdmin: admin }, '/etc/mpc/orch');
    expect(c.state).toEqual({ kind: 'sqlite', path: '/etc/mpc/orch/orchestrator.db' });
    expect(c.coordinator).toBe('/etc/mpc/coordinator.json');
    expect(c.http).toMatchObject({ host: '127.0.0.1', port: 8080, bodyLimitBytes: 262_144 });
    expect(Object.isFrozen(c) && Object.isFrozen(c.http) && Object.isFrozen(c.bootstrapAdmin.publicKey)).toBe(true);
    const pooled = parseOrchestratorConfig(
      { bootstrapAdmin: admin, pools: [{ keyId: 'hot', path: 'm/0/7', target: 20, lowWater: 5 }] },
      '/',
    );
    expect(pooled.pools).toEqual([{ keyId: 'hot', path: [0, 7], target: 20, lowWater: 5 }]);
    expect(() =>
      parseOrchestratorConfig(
        { bootstrapAdmin: admin, pools: [{ keyId: 'hot', path: 'm', target: 2, lowWater: 5 }] },
        '/',
      ),
    ).toThrow(/ERR_CONFIG_INVALID/);
    const pg = parseOrchestratorConfig(
      { state: { kind: 'postgres', url: 'postgres://u@h/db' }, bootstrapAdmin: admin },
      '/',
    );
    expect(pg.state).toEqual({ kind: 'postgres', url: 'postgres://u@h/db' });
  });

  it('refuses unknown fields, wrong types and a missing bootstrap admin, naming the field', () => {
    for (const [raw, where] of [
      [{ bootstrapAdmin: admin, extra: 1 }, '/extra'],
      [{ bootstrapAdmin: admin, http: { host: 'x', port: 'eighty' } }, '/http/port'],
      [{ bootstrapAdmin: admin, state: { kind: 'mysql' } }, '/state'],
      [{}, '(document)'],
    ] as const) {
      expect(() => parseOrchestratorConfig(raw, '/')).toThrow(/ERR_CONFIG_INVALID/);
      try {
        parseOrchestratorConfig(raw, '/');
      } catch (e) {
        expect((e as { details: { path: string } }).details.path).toBe(where);
      }
    }
  });
});
