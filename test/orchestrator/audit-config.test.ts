/**
 * The orchestrator's audit log as deployed (issue #15): the config section and its defaults, and
 * the coordinator's NATS credential from `generateNatsSecurity` with `audit` (what setup --audit
 * writes) on a real TLS + nkey nats-server with JetStream: the orchestrator publishes its own
 * subject and reads the stream (GET /v1/audit), and may not publish to a party's subject.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ed25519 } from '@noble/curves/ed25519.js';
import { afterAll, describe, expect, it } from 'vitest';
import { parseRecord } from '../../src/audit/index.js';
import { type NatsServerProcess, runNatsServer } from '../../src/daemon/nats-server-process.js';
import { freePort } from '../../src/daemon/spawn-party.js';
import { OrchestratorAudit } from '../../src/orchestrator/audit.js';
import { parseOrchestratorConfig } from '../../src/orchestrator/config.js';
import { Ed25519Signer } from '../../src/primitives/ed25519.js';
import { readAuditStream } from '../../src/transport/audit-sink.js';
import { connectNats, loadNatsConfigFile } from '../../src/transport/nats.js';
import { generateNatsSecurity } from '../../src/transport/nats-config.js';
import { NATS_SERVER_BIN } from '../transport/nats-server.js';

const boot = { id: 'root', publicKey: { kty: 'OKP', crv: 'Ed25519', x: 'A'.repeat(43) } };
let dir: string | undefined;
let server: NatsServerProcess | undefined;

afterAll(async () => {
  await server?.kill();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('orchestrator audit deployment', () => {
  it('config: the audit section with its defaults; unknown fields refused', () => {
    const c = parseOrchestratorConfig({ bootstrapAdmin: boot, audit: { deployment: 'dep-a' } }, '/tmp');
    expect(c.audit).toEqual({
      deployment: 'dep-a',
      createStream: false,
      replicas: 1,
      checkpointEvery: 100,
      ackTimeoutMs: 2000,
    });
    expect(parseOrchestratorConfig({ bootstrapAdmin: boot }, '/tmp').audit).toBeUndefined();
    expect(() => parseOrchestratorConfig({ bootstrapAdmin: boot, audit: { deployment: 'a.b' } }, '/tmp')).toThrow(
      /ERR_CONFIG_INVALID|orchestrator config/,
    );
    expect(() =>
      parseOrchestratorConfig({ bootstrapAdmin: boot, audit: { deployment: 'd', extra: 1 } }, '/tmp'),
    ).toThrow();
  });

  it('the coordinator credential publishes the orchestrator subject, reads the stream, not a party subject', async () => {
    dir = await mkdtemp(join(tmpdir(), 'orch-audit-cfg-'));
    const bundle = await generateNatsSecurity({
      dir: join(dir, 'sec'),
      parties: 2,
      port: await freePort(),
      coordinator: true,
      audit: { deployment: 'dep-c' },
    });
    server = await runNatsServer(bundle.serverConfigFile, { bin: NATS_SERVER_BIN });
    const nc = await connectNats(await loadNatsConfigFile(bundle.coordinator?.configFile as string));
    try {
      const secret = ed25519.utils.randomSecretKey();
      const audit = await OrchestratorAudit.open({
        nc,
        deployment: 'dep-c',
        signer: new Ed25519Signer(secret),
        publicKey: ed25519.getPublicKey(secret),
        createStream: true,
        ackTimeoutMs: 2000,
      });
      expect(audit.ready).toBe(true);
      await audit.write({ type: 'daemon.started', party: null });
      await audit.close(0);
      const lines = await readAuditStream(nc, 'dep-c');
      expect(lines.map((l) => parseRecord(l).parsed.emitter)).toEqual(['orchestrator']);
      const { jetstream } = await import('@nats-io/jetstream');
      await expect(jetstream(nc, { timeout: 1000 }).publish('audit.dep-c.party-0', 'x')).rejects.toThrow();
    } finally {
      await nc.close();
    }
  }, 60_000);
});
