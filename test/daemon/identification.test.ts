import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  decodeSessionResult,
  openPartyMessage,
  type SessionResult,
  sealControlFrame,
  sealCoordinatorMessage,
} from '../../src/daemon/control.js';
import { encodeRelayedPartials, identificationSid } from '../../src/daemon/identification.js';
import { DaemonMetrics } from '../../src/daemon/metrics.js';
import type { DaemonLog } from '../../src/daemon/party-daemon.js';
import { mod } from '../../src/math/bits.js';
import { CURVE_ORDER, encodePoint } from '../../src/primitives/curve.js';
import {
  type MsgR3,
  type Presignature,
  type PresignInput,
  type PresignState,
  presign,
} from '../../src/protocol/presign.js';
import type { PartialSignature } from '../../src/protocol/sign.js';
import type { ProtocolDef } from '../../src/protocol/types.js';
import { putKeyShare } from '../../src/storage/secret-store.js';
import { type Bus, natsBus } from '../../src/transport/bus.js';
import { decodeFrame, type PartyKeys } from '../../src/transport/frame.js';
import { connectNats, loadNatsConfigFile, loadPartyNatsConfig, NatsTransport } from '../../src/transport/nats.js';
import { sessionToken } from '../../src/transport/subjects.js';
import { dealKeyShares } from '../helpers/dealer.js';
import { rejection } from '../helpers/failure.js';
import { NATS_SERVER_BIN, startNatsServer, type TestNatsServer } from '../transport/nats-server.js';
import { clusterIdentities, startCluster } from './cluster.js';

/**
 * Issue 17 item 5: identifiable abort in the daemon. Three party daemons and the coordinator over a
 * real nats-server (TLS, nkeys, per-party permissions); a 3-of-3 key dealt to them (keygen and aux
 * info are covered elsewhere). Party 1 is patched: its presigning sends δ_1 + 1 (its proofs stay
 * those of the true values). The honest parties' δ check fails without naming anyone; the daemon's
 * identification (identify.ts §7.2) then names party 1 at every honest party and at the coordinator.
 */
const N = 3;
const CULPRIT = 1;
const KEY = 'vault';
const ids = clusterIdentities(N);

/** The patched party's switches. */
const cheat = { delta: false, sigma: false };

/** presign.ts, except that every round-3 message carries δ_i + 1 (signed as usual by the runner). */
const wrongDelta: ProtocolDef<PresignInput, PresignState, Presignature> = {
  ...presign,
  process(round, state, inbox, ctx) {
    const r = presign.process(round, state, inbox, ctx);
    if (r.outbox === undefined || !cheat.delta) return r;
    const outbox = r.outbox.map((o) =>
      o.round === 'r3'
        ? { ...o, body: { ...(o.body as MsgR3), delta: mod((o.body as MsgR3).delta + 1n, CURVE_ORDER) } }
        : o,
    );
    return { ...r, outbox };
  },
};

interface Logged {
  readonly msg: string | undefined;
  readonly obj: Record<string, unknown>;
}

let server: TestNatsServer;
let dir: string;
let cluster: Awaited<ReturnType<typeof startCluster>>;
let closeCoordinatorBus: () => Promise<void>;
let observer: Bus;
const metrics = Array.from({ length: N }, () => new DaemonMetrics({ defaultMetrics: false }));
const logs: Logged[][] = Array.from({ length: N }, () => []);

function recorder(into: Logged[]): DaemonLog {
  const keep = (obj: object, msg?: string) => into.push({ msg, obj: obj as Record<string, unknown> });
  return { info: keep, warn: keep, error: keep, debug() {} };
}

async function blameCount(i: number, protocol: string): Promise<number> {
  const text = await (metrics[i] as DaemonMetrics).render();
  const line = text.split('\n').find((l) => l.startsWith(`mpc_blame_total{protocol="${protocol}"}`));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}

describe.skipIf(!existsSync(NATS_SERVER_BIN))('identifiable abort in the daemon over a real nats-server', () => {
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mpc-identify-'));
    server = await startNatsServer({ parties: N, coordinator: true });
    const transports: NatsTransport[] = [];
    for (let i = 0; i < N; i++) {
      const cfg = await loadPartyNatsConfig(server.bundle.parties[i]?.configFile as string);
      transports.push(
        await NatsTransport.connect({ ...cfg, self: i, keys: ids.secrets[i] as PartyKeys, roster: ids.roster }),
      );
    }
    const coordCfg = await loadNatsConfigFile(server.bundle.coordinator?.configFile as string);
    const nc = await connectNats(coordCfg);
    observer = natsBus(nc);
    closeCoordinatorBus = async () => {
      await nc.close();
    };
    cluster = await startCluster({
      dir,
      ids,
      transports,
      coordinatorBus: natsBus(nc),
      roundTimeoutMs: 120_000, // generous: the machine is shared; a deadline only matters on failure
      metrics: (i) => metrics[i],
      // the patched party runs its rounds on the daemon's thread (the hook is not sent to workers);
      // the honest parties use session threads as in production
      options: (i) => ({
        log: recorder(logs[i] as Logged[]),
        ...(i === CULPRIT
          ? {
              sessionThreads: false,
              testPresign: wrongDelta,
              // σ_i + 1 as published (signed with the party's identity key like any partial)
              testPartial: (p: PartialSignature) => (cheat.sigma ? { ...p, sigma: mod(p.sigma + 1n, CURVE_ORDER) } : p),
            }
          : {}),
      }),
    });
    const key = await dealKeyShares({ n: N, t: N, seed: 'daemon-identify' });
    for (const [i, p] of cluster.parties.entries()) {
      await putKeyShare(p.store, { partyId: i, keyId: KEY }, 1, key.shares[i] as never);
      p.ledger.putKey({
        keyId: KEY,
        publicKey: Buffer.from(encodePoint(key.publicKey)).toString('hex'),
        threshold: N,
        parties: N,
        shareVersion: 1,
      });
    }
  }, 120_000);

  afterAll(async () => {
    await cluster?.close();
    await closeCoordinatorBus?.();
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('a party sending δ_j + 1 in presigning is named, with signed evidence, by every honest party and the coordinator', async () => {
    cheat.delta = true;
    const err = await rejection(cluster.coordinator.presign({ keyId: KEY, signers: [0, 1, 2] }));
    expect(err.code).toBe('ERR_DAEMON_SESSION_FAILED');
    expect(err.details.identification).toBe('delta');
    expect(err.blame.map((b) => b.party)).toEqual([CULPRIT]);
    expect(err.details.verified).toBe(String(CULPRIT));
    expect(err.details.unverified).toBe('');
    const reason = err.blame[0]?.reason ?? '';
    expect(reason).not.toMatch(/^unverified/);
    expect(reason).toMatch(/Πdec/);
    expect(reason).toMatch(/named by 0, 2|named by 2, 0/);
    // each honest party reached the verdict itself, on signed evidence, and counted it
    await expectNamedByHonest('identify-delta');
    // nobody holds a usable presignature of the failed run
    for (const p of cluster.parties) expect(p.ledger.listAvailable(KEY)).toEqual([]);
    cheat.delta = false;
  }, 180_000);

  it('a party sending σ_j + 1 in signing is named, with signed evidence, by every honest party and the coordinator', async () => {
    const pre = await cluster.coordinator.presign({ keyId: KEY, signers: [0, 1, 2] });
    cheat.sigma = true;
    const digest = sha256(new TextEncoder().encode('identify the bad partial'));
    const err = await rejection(cluster.coordinator.sign({ keyId: KEY, presignature: pre, digest }));
    cheat.sigma = false;
    expect(err.code).toBe('ERR_DAEMON_SESSION_FAILED');
    expect(err.details.reason).toBe('signature-invalid');
    expect(err.details.identification).toBe('signature');
    expect(err.blame.map((b) => b.party)).toEqual([CULPRIT]);
    expect(err.details.verified).toBe(String(CULPRIT));
    expect(err.details.unverified).toBe('');
    const reason = err.blame[0]?.reason ?? '';
    expect(reason).not.toMatch(/^unverified/);
    expect(reason).toMatch(/σ_i differs from the partial signature it issued/);
    expect(reason).toMatch(/named by 0, 2|named by 2, 0/);
    await expectNamedByHonest('identify-signature');
    // the presignature was consumed everywhere before any partial left: it never signs again
    for (const p of cluster.parties) expect(p.ledger.isConsumed(pre.id)).toBe(true);
  }, 180_000);

  it('a partial frame its signer did not sign is refused by every other signer (the coordinator cannot forge evidence)', async () => {
    const pre = await cluster.coordinator.presign({ keyId: KEY, signers: [0, 1, 2] });
    const frames = new Map<number, Uint8Array>();
    let signSid: Uint8Array | undefined;
    const stopPartials = await observer.subscribe('mpc.*.control.*', (_subject, bytes) => {
      try {
        const m = openPartyMessage(bytes, ids.roster);
        if (m.round !== 'partial') return;
        frames.set(m.from, bytes);
        signSid = m.sid;
      } catch {
        // not a party frame
      }
    });
    await cluster.coordinator.sign({ keyId: KEY, presignature: pre, digest: sha256(Uint8Array.of(5)) });
    await until(() => frames.size === N);
    stopPartials();
    const sid = signSid as Uint8Array;
    const idToken = sessionToken(identificationSid(sid, 'signature'));
    const results = new Map<number, SessionResult>();
    const stopResults = await observer.subscribe(`mpc.${idToken}.control.*`, (_subject, bytes) => {
      try {
        const m = openPartyMessage(bytes, ids.roster);
        if (m.round === 'result') results.set(m.from, decodeSessionResult(m.payload));
      } catch {
        // not a result
      }
    });
    // party 1's genuine partial, re-signed by a key outside the roster, relayed by a signed coordinator frame
    const genuine = decodeFrame(frames.get(1) as Uint8Array, 1 << 20);
    const forged = sealControlFrame(ed25519.utils.randomSecretKey(), {
      sid,
      from: 1,
      round: 'partial',
      seq: 1,
      payload: genuine.payload,
    });
    const relayed = encodeRelayedPartials([frames.get(0) as Uint8Array, forged, frames.get(2) as Uint8Array]);
    await observer.publish(
      `mpc.${sessionToken(sid)}.control.coord`,
      sealCoordinatorMessage(ids.coordinatorSecret, {
        sid,
        round: 'identify',
        seq: 1_000,
        payload: Uint8Array.from([1, ...relayed]),
      }),
    );
    await until(() => results.has(0) && results.has(2));
    stopResults();
    for (const i of [0, 2]) {
      const r = results.get(i) as SessionResult;
      expect(r.ok).toBe(false);
      expect(r.code).toBe('ERR_DAEMON_COMMAND_INVALID');
      expect(r.message).toMatch(/not a signer-signed frame/);
      expect(r.blame).toEqual([]);
    }
  }, 180_000);

  /** Polls `done` (bounded: 600 × 50 ms), then fails. */
  async function until(done: () => boolean): Promise<void> {
    for (let i = 0; i < 600 && !done(); i++) await new Promise((r) => setTimeout(r, 50));
    expect(done()).toBe(true);
  }

  /** Parties 0 and 2 each named the culprit themselves in `protocol`, on signed evidence, and counted it. */
  async function expectNamedByHonest(protocol: string): Promise<void> {
    for (const i of [0, 2]) {
      const named = (logs[i] as Logged[]).filter(
        (l) => l.msg === 'identification named culprits' && l.obj.protocol === protocol,
      );
      expect(named.map((l) => l.obj.blame)).toEqual([[CULPRIT]]);
      expect(named[0]?.obj.verified).toBe(1);
      expect(await blameCount(i, protocol)).toBe(1);
    }
    // the culprit's honest identification code finds nobody else at fault
    expect(
      (logs[CULPRIT] as Logged[]).some((l) => l.msg === 'identification named culprits' && l.obj.protocol === protocol),
    ).toBe(false);
  }
});
