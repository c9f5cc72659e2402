import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type StoredRecord, verifyAuditLog } from '../../src/audit/index.js';
import { type NatsServerProcess, runNatsServer } from '../../src/daemon/nats-server-process.js';
import { freePort } from '../../src/daemon/spawn-party.js';
import { auditEmitterPermissions, auditorPermissions } from '../../src/transport/audit-permissions.js';
import { AuditPublisher, ensureAuditStream, readAuditHeads, readAuditStream } from '../../src/transport/audit-sink.js';
import { makeEmitter, trustFor } from '../audit/fixtures.js';
import { NATS_SERVER_BIN } from './nats-server.js';

/** A real nats-server with JetStream and per-user permissions: two emitters, an auditor, an admin. */
const D = 'dep-p';
let dir: string;
let server: NatsServerProcess;
let url: string;
const conns: NatsConnection[] = [];
const as = async (user: string) => {
  const nc = await connect({ servers: url, user, pass: `${user}-pw`, timeout: 2000 });
  conns.push(nc);
  return nc;
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mpc-audit-perm-'));
  const port = await freePort();
  url = `nats://127.0.0.1:${port}`;
  const user = (name: string, permissions?: unknown) => ({
    user: name,
    password: `${name}-pw`,
    ...(permissions ? { permissions } : {}),
  });
  const conf = {
    listen: `127.0.0.1:${port}`,
    jetstream: { store_dir: join(dir, 'js') },
    authorization: {
      users: [
        user('admin'),
        user('party-0', auditEmitterPermissions(D, 'party-0')),
        user('party-1', auditEmitterPermissions(D, 'party-1')),
        user('auditor', auditorPermissions(D)),
      ],
    },
  };
  await writeFile(join(dir, 'nats.conf'), JSON.stringify(conf));
  server = await runNatsServer(join(dir, 'nats.conf'), { bin: NATS_SERVER_BIN });
  await ensureAuditStream(await as('admin'), { deployment: D });
}, 30_000);

afterAll(async () => {
  for (const nc of conns) await nc.close().catch(() => undefined);
  await server?.kill();
  await rm(dir, { recursive: true, force: true });
});

describe('audit permissions on a real nats-server', () => {
  it('an emitter appends to its own chain; the auditor reads and verifies the whole stream', async () => {
    for (const e of ['party-0', 'party-1']) {
      const em = makeEmitter(D, e);
      const pub = await AuditPublisher.open(await as(e), D, e, 1000);
      for (const r of [
        ...em.append({ type: 'daemon.started', party: 0 }),
        ...em.append({ type: 'daemon.stopped', reason: 'x' }),
      ]) {
        await pub.publish(r);
      }
    }
    const auditor = await as('auditor');
    const lines = await readAuditStream(auditor, D);
    expect(lines).toHaveLength(4);
    const rep = verifyAuditLog(lines, {
      ...trustFor(D, ['party-0', 'party-1']),
      anchors: await readAuditHeads(auditor, D, ['party-0', 'party-1']),
    });
    expect(rep.ok).toBe(true);
  });

  it('an emitter cannot write to another emitter subject, read the stream, or read another head', async () => {
    const nc = await as('party-0');
    const forged = makeEmitter(D, 'party-1').append({ type: 'daemon.started', party: 1 })[0] as StoredRecord;
    const pub = await AuditPublisher.open(nc, D, 'party-1', 1000);
    await expect(pub.publish(forged)).rejects.toThrow(/ERR_AUDIT_SINK_UNAVAILABLE/);
    const { jetstream } = await import('@nats-io/jetstream');
    await expect(jetstream(nc, { timeout: 1000 }).publish(`audit.${D}.party-1`, 'x')).rejects.toThrow();
    await expect(readAuditStream(nc, D)).rejects.toThrow();
    await expect(readAuditHeads(nc, D, ['party-1'])).rejects.toThrow();
    expect(await readAuditStream(await as('auditor'), D)).toHaveLength(4);
  });

  it('the auditor cannot write records', async () => {
    const nc = await as('auditor');
    const { jetstream } = await import('@nats-io/jetstream');
    await expect(jetstream(nc, { timeout: 1000 }).publish(`audit.${D}.party-0`, 'x')).rejects.toThrow();
    expect(await readAuditStream(nc, D)).toHaveLength(4);
  });
});
