import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeStartCommand, newSid, sealCoordinatorMessage } from '../../src/daemon/control.js';
import type { DaemonLog, DaemonMetricsSink } from '../../src/daemon/party-daemon.js';
import { DEFAULT_INBOX_LIMITS } from '../../src/daemon/session-inbox.js';
import { MpcError } from '../../src/errors/index.js';
import { encodePoint } from '../../src/primitives/curve.js';
import type { KeyShare } from '../../src/protocol/key-share.js';
import { ALL } from '../../src/protocol/types.js';
import { putKeyShare } from '../../src/storage/secret-store.js';
import { natsBus } from '../../src/transport/bus.js';
import { FrameCodec, type PartyKeys } from '../../src/transport/frame.js';
import { connectNats, loadNatsConfigFile, loadPartyNatsConfig, NatsTransport } from '../../src/transport/nats.js';
import { broadcastSubject, controlSubject, sessionToken } from '../../src/transport/subjects.js';
import type { Transport, TransportSession } from '../../src/transport/types.js';
import { dealKeyShares } from '../helpers/dealer.js';
import { rejection } from '../helpers/failure.js';
import { startNatsServer, type TestNatsServer } from '../transport/nats-server.js';
import { clusterIdentities, startCluster } from './cluster.js';

/**
 * Issue 17 items 3, 4 and 8 against party daemons over a real nats-server: a compromised member
 * flooding a session, 200 concurrent presign commands against a session cap, a draining daemon, a
 * ready that cannot be sent, a start refused for clock skew.
 */
const N = 3;
const MAX_SESSIONS = 2;
const ids = clusterIdentities(N);
let server: TestNatsServer;
let dir: string;
let cluster: Awaited<ReturnType<typeof startCluster>>;
let coordNc: NatsConnection;
let coordSeq = 1_000_000;
const refusedAt0: string[] = [];
const logAt0: Array<{ obj: Record<string, unknown>; msg: string | undefined }> = [];
/** Party 2's transport fails every ready send while this is set. */
let failReady = false;

const metricsAt0: DaemonMetricsSink = {
  sessionStarted() {},
  sessionEnded() {},
  frameRefused: (code) => refusedAt0.push(code),
  blamed() {},
  partialIssued() {},
  setPresignaturesAvailable() {},
};
const log0: DaemonLog = {
  info() {},
  debug() {},
  warn: (obj, msg) => logAt0.push({ obj: obj as Record<string, unknown>, msg }),
  error: (obj, msg) => logAt0.push({ obj: obj as Record<string, unknown>, msg }),
};

/** A transport whose sessions refuse to send `ready` while `failReady` is set. */
function readyFailing(t: Transport): Transport {
  return {
    self: t.self,
    bus: () => t.bus(),
    close: () => t.close(),
    async join(sid, handler): Promise<TransportSession> {
      const s = await t.join(sid, handler);
      return {
        sid: s.sid,
        sessionKey: s.sessionKey,
        acceptSessionKeys: (keys, peers) => s.acceptSessionKeys(keys, peers),
        send: (to, round, payload) => s.send(to, round, payload),
        leave: () => s.leave(),
        sendControl: async (round, payload) => {
          if (failReady && round === 'ready') throw new MpcError('ERR_TRANSPORT_CONNECT', 'NATS publish failed');
          return s.sendControl(round, payload);
        },
      };
    },
  };
}

/** Publishes a go / abort as the coordinator. */
async function publishControl(sid: Uint8Array, round: 'go' | 'abort'): Promise<void> {
  const bytes = sealCoordinatorMessage(ids.coordinatorSecret, {
    sid,
    round,
    seq: ++coordSeq,
    payload: new Uint8Array(0),
  });
  coordNc.publish(`mpc.${sessionToken(sid)}.control.coord`, bytes);
  await coordNc.flush();
}

/** Publishes a start command as the coordinator (for sessions the test drives itself). */
async function publishStart(o: { op: 'presign' | 'keygen'; members: number[]; ts?: number }): Promise<Uint8Array> {
  const sid = newSid();
  const payload = encodeStartCommand({
    op: o.op,
    keyId: o.op === 'presign' ? 'hot' : 'never-run',
    members: o.members,
    threshold: o.op === 'keygen' ? 2 : 0,
    path: [],
    presignatureId: '',
    payload: new Uint8Array(0),
    roundTimeoutMs: 30_000,
  });
  const bytes = sealCoordinatorMessage(ids.coordinatorSecret, {
    sid,
    round: 'start',
    seq: ++coordSeq,
    payload,
    ...(o.ts !== undefined ? { ts: o.ts } : {}),
  });
  coordNc.publish(`mpc.${sessionToken(sid)}.control.coord`, bytes);
  await coordNc.flush();
  return sid;
}

beforeAll(async () => {
  server = await startNatsServer({ parties: N, coordinator: true });
  dir = await mkdtemp(join(tmpdir(), 'mpc-limits-'));
  const transports: Transport[] = [];
  for (let i = 0; i < N; i++) {
    const cfg = await loadPartyNatsConfig((server.bundle.parties[i] as { configFile: string }).configFile);
    const t = await NatsTransport.connect({
      ...cfg,
      self: i,
      keys: ids.secrets[i] as PartyKeys,
      roster: ids.roster,
    });
    transports.push(i === 2 ? readyFailing(t) : t);
  }
  const cc = await loadNatsConfigFile((server.bundle.coordinator as { configFile: string }).configFile);
  coordNc = await connectNats({ ...cc, name: 'test-coordinator' });
  cluster = await startCluster({
    dir,
    ids,
    transports,
    coordinatorBus: natsBus(coordNc),
    roundTimeoutMs: 120_000, // generous: the test machine's two cores are shared
    options: (i) => ({
      maxSessions: MAX_SESSIONS,
      readyTimeoutMs: i === 2 ? 8_000 : 60_000,
      ...(i === 0 ? { metrics: metricsAt0, log: log0 } : {}),
    }),
  });
  // dealt key shares (keygen and aux info have their own tests): what aux info would have sealed
  const dealt = await dealKeyShares({ n: N, t: 2, seed: 'limits' });
  for (const [i, p] of cluster.parties.entries()) {
    await putKeyShare(p.store, { partyId: i, keyId: 'hot' }, 1, dealt.shares[i] as KeyShare);
    p.ledger.putKey({
      keyId: 'hot',
      publicKey: Buffer.from(encodePoint(dealt.publicKey)).toString('hex'),
      threshold: 2,
      parties: N,
      shareVersion: 1,
    });
  }
}, 300_000);

afterAll(async () => {
  await cluster?.close();
  await coordNc?.close();
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('party daemon resource limits over NATS', () => {
  it('item 3: a member floods 2,000 signed frames into a session; pending stays bounded and honest sessions finish', async () => {
    // the attacker holds party 1's NATS credential and identity key (a compromised custodian)
    const cfg1 = await loadPartyNatsConfig((server.bundle.parties[1] as { configFile: string }).configFile);
    const attacker = await connectNats({ ...cfg1, name: 'attacker' });
    // a session the coordinator never sends go for: party 0 buffers what arrives for it
    const sid = await publishStart({ op: 'presign', members: [0, 1] });
    try {
      const token = sessionToken(sid);
      // wait until party 0 announced ready (it has joined and buffers)
      await new Promise<void>((resolve) => {
        const sub = attacker.subscribe(controlSubject(token, 0), {
          callback: () => {
            sub.unsubscribe();
            resolve();
          },
        });
      });
      const honest = cluster.coordinator.presign({ keyId: 'hot', signers: [0, 2] });
      const codec = new FrameCodec({ self: 1, sid, keys: ids.secrets[1] as PartyKeys, roster: ids.roster });
      const subject = broadcastSubject(token, 1);
      for (let i = 0; i < 2000; i++) {
        // the first four carry 4 MiB (about what the server's max_payload admits); the rest 16 KiB
        attacker.publish(subject, codec.seal(ALL, 'presign.r1', new Uint8Array(i < 4 ? 4 << 20 : 16 << 10).fill(i)));
        if (i % 50 === 0) await attacker.flush();
      }
      await attacker.flush();
      const pre = await honest;
      expect(pre.signers).toEqual([0, 2]);
      const peaks = cluster.parties[0]?.daemon.inboxPeaks;
      expect(peaks?.senderFrames).toBeLessThanOrEqual(DEFAULT_INBOX_LIMITS.maxFramesPerSender);
      expect(peaks?.senderBytes).toBeLessThanOrEqual(DEFAULT_INBOX_LIMITS.maxBytesPerSender);
      expect(peaks?.sessionBytes).toBeLessThanOrEqual(DEFAULT_INBOX_LIMITS.maxBytesPerSession);
      expect(peaks?.senderBytes).toBeGreaterThan(DEFAULT_INBOX_LIMITS.maxBytesPerSender / 2); // it did fill
      expect(refusedAt0.filter((c) => c === 'ERR_DAEMON_INBOX_SENDER_FULL').length).toBeGreaterThan(1900);
    } finally {
      // end the session that never got its go: party 0 drops what it buffered
      await publishControl(sid, 'abort');
      await attacker.close();
    }
  }, 180_000);

  it('item 4: 200 concurrent presign commands; at most the cap run, the rest get ERR_DAEMON_BUSY, a later one succeeds', async () => {
    const busyBefore = cluster.parties.map((p) => p.daemon.stats.busyRefused);
    const results = await Promise.allSettled(
      Array.from({ length: 200 }, () => cluster.coordinator.presign({ keyId: 'hot', signers: [0, 1] })),
    );
    for (const p of cluster.parties) expect(p.daemon.stats.peakSessions).toBeLessThanOrEqual(MAX_SESSIONS);
    const rejected = results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason);
    expect(rejected.length).toBeGreaterThanOrEqual(150);
    for (const e of rejected) {
      expect(e).toBeInstanceOf(MpcError);
      expect((e as MpcError).details.codes).toContain('ERR_DAEMON_BUSY');
    }
    const busy = cluster.parties.map((p, i) => p.daemon.stats.busyRefused - (busyBefore[i] as number));
    expect((busy[0] as number) + (busy[1] as number)).toBeGreaterThanOrEqual(rejected.length);
    const later = await cluster.coordinator.presign({ keyId: 'hot', signers: [0, 1] });
    expect(later.signers).toEqual([0, 1]);
  }, 300_000);

  it('item 8: a start outside the clock skew is refused and logged as such', async () => {
    const before = logAt0.length;
    await publishStart({ op: 'presign', members: [0, 1], ts: Date.now() - 10 * 60_000 });
    await new Promise((r) => setTimeout(r, 300));
    const entry = logAt0.slice(before).find((l) => l.msg === 'refused a control message');
    expect(entry?.obj.reason).toMatch(/clock skew/);
  });

  it('item 8: a ready that cannot be sent fails the session without an unhandled rejection', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    failReady = true;
    try {
      const err = await rejection(cluster.coordinator.keygen({ keyId: 'ready-fails', threshold: 2, parties: N }));
      expect((err as MpcError).details.codes).toContain('ERR_TRANSPORT_CONNECT');
      // party 2's ready deadline (8 s) passes: before the fix it then rejected with nobody listening
      await new Promise((r) => setTimeout(r, 9_000));
      expect(unhandled).toEqual([]);
    } finally {
      failReady = false;
      process.off('unhandledRejection', onUnhandled);
    }
    expect(cluster.parties[2]?.daemon.draining).toBe(false);
  }, 60_000);

  it('item 8: a draining daemon answers a start with ERR_DAEMON_DRAINING at once', async () => {
    // keep party 2 busy with a session that waits for a go that never comes, then drain it
    await publishStart({ op: 'presign', members: [0, 2] });
    await new Promise((r) => setTimeout(r, 300));
    const daemon2 = cluster.parties[2]?.daemon;
    expect(daemon2?.activeSessions).toBeGreaterThan(0);
    const drained = daemon2?.drain(20_000);
    const err = await rejection(cluster.coordinator.presign({ keyId: 'hot', signers: [1, 2] }));
    expect((err as MpcError).code).toBe('ERR_DAEMON_SESSION_FAILED');
    expect((err as MpcError).details.codes).toContain('ERR_DAEMON_DRAINING');
    await drained;
    await cluster.restart(2);
  }, 60_000);
});
