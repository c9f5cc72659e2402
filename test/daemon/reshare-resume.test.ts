/**
 * A reshare that adds a holder, interrupted and run again (issue 16), on in-process daemons over the
 * in-memory transport: 2-of-3 keys dealt to parties 0..2, party 3 in the roster and joining. One
 * complete reshare session in all (~40-55 s on 2 cores) and one cut short (~15 s).
 *
 * - The joiner is killed (simulated in-process: from right after its first message of the session
 *   its daemon receives and sends nothing, then a new daemon starts on its store and ledger): the
 *   attempt fails, nobody prepared or committed anything, the old committee still signs.
 * - A joiner that prepared an earlier attempt whose commit never came (that state written through
 *   its ledger and store, not by a session: CI time) takes part in the next attempt, its unfinished
 *   join replaced (another threshold here). That attempt's commit reaches only parties 0 and 1 (2
 *   and 3 are cut off from the control plane): the next `reshare` call finishes it (resumed) instead
 *   of running a new one; every party ends on the same rotation and epoch and the two that missed
 *   the commit sign together. Party 0 leaves its reshare session slowly, so the commit reaches it
 *   while the session is still leaving (it must commit all the same: a rotation session lets go of
 *   the key before it reports).
 * - A joiner that holds a share of the key id (a committed one, a committed one whose store step
 *   was cut, a core restored from a backup kit, or a full share its ledger never recorded) refuses
 *   to join, before the session, and keeps it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Coordinator } from '../../src/daemon/coordinator.js';
import { encodePoint } from '../../src/primitives/curve.js';
import type { KeyShare } from '../../src/protocol/key-share.js';
import { encodeCoreKeyShare } from '../../src/protocol/keygen.js';
import { decodeKeyRecord } from '../../src/protocol/reshare.js';
import { putKeyShare } from '../../src/storage/secret-store.js';
import { MemoryHub } from '../../src/transport/memory.js';
import type { Transport } from '../../src/transport/types.js';
import { type DealtKey, dealKeyShares } from '../helpers/dealer.js';
import { nobleVerifies } from '../helpers/verify.js';
import { type ClusterParty, clusterIdentities, installDealtKey, startCluster } from './cluster.js';

let dir: string;
let hub: MemoryHub;
let ids: ReturnType<typeof clusterIdentities>;
let cluster: Awaited<ReturnType<typeof startCluster>>;
/** A coordinator whose commit to a party that is cut off gives up after 5 s. */
let quick: Coordinator;
const keys = new Map<string, DealtKey>();

/** A fresh 2-of-3 key dealt to parties 0..2 (party 3 holds nothing of it). */
async function dealToOldHolders(keyId: string): Promise<DealtKey> {
  const key = await dealKeyShares({ n: 3, t: 2, seed: `reshare-resume-${keyId}` });
  await installDealtKey(cluster.parties.slice(0, 3), keyId, key);
  keys.set(keyId, key);
  return key;
}

/** A fresh presignature of `signers` signs a digest that verifies under the key dealt as `keyId`. */
async function signs(keyId: string, signers: number[]): Promise<void> {
  const digest = sha256(new TextEncoder().encode(`${keyId} signed by ${signers.join(',')}`));
  const pre = await cluster.coordinator.presign({ keyId, signers });
  const sig = await cluster.coordinator.sign({ keyId, presignature: pre, digest });
  expect(nobleVerifies((keys.get(keyId) as DealtKey).publicKey, digest, sig)).toBe(true);
}

/** "epoch:state" of the key's last rotation at every party 0..3. */
async function states(keyId: string): Promise<string[]> {
  return (await cluster.coordinator.rotationStatus({ keyId, parties: 4 })).map((x) => `${x.keyEpoch}:${x.state}`);
}

const party = (i: number) => cluster.parties[i] as ClusterParty;
const storeIds = async (i: number, keyId: string) =>
  (await party(i).store.listShares()).filter((s) => s.partyId === i && s.keyId.startsWith(keyId)).map((s) => s.keyId);

/** Parties that receive no coordinator command (cut off from the control plane) while listed. */
const cutOff = new Set<number>();
/** How long party sessions take to leave their subjects (ms, per party). */
const leaveDelay = new Map<number, number>();
/**
 * Each party's current life: a daemon's subscriptions and sessions belong to the life they were made
 * in, and fall silent for good (nothing in, nothing out) once the party is killed (`kill`).
 */
const lives = new Map<number, number>();
/** Kills party `i` right after its next session frame is sent (see `faulty`'s send). */
const killOnSend = new Set<number>();
let killed: (() => void) | undefined;

/**
 * `t` with the test's faults: commands dropped while cut off, a session's leave delayed, and a
 * kill -9 as the peers see it: from the kill on, that daemon receives and sends nothing (its
 * sessions die with it); a daemon started afterwards on the same transport lives normally.
 */
function faulty(t: Transport): Transport {
  const self = t.self;
  const life = () => lives.get(self) ?? 0;
  return {
    self,
    async join(sid, handler) {
      const born = life();
      const alive = () => life() === born;
      const s = await t.join(sid, {
        onFrame: (frame, channel) => (alive() ? handler.onFrame(frame, channel) : undefined),
        onReject: (err, channel, from) => (alive() ? handler.onReject?.(err, channel, from) : undefined),
        ...(handler.admit ? { admit: (from: number, bytes: number) => handler.admit?.(from, bytes) } : {}),
      });
      return {
        sid: s.sid,
        sessionKey: s.sessionKey,
        acceptSessionKeys: (keys, peers) => s.acceptSessionKeys(keys, peers),
        async send(to, round, payload) {
          if (!alive()) return;
          await s.send(to, round, payload);
          if (killOnSend.delete(self)) {
            lives.set(self, born + 1);
            killed?.();
          }
        },
        sendControl: async (round, payload) => (alive() ? s.sendControl(round, payload) : undefined),
        async leave() {
          await new Promise((r) => setTimeout(r, leaveDelay.get(self) ?? 0));
          await s.leave();
        },
      };
    },
    bus() {
      const bus = t.bus();
      const born = life();
      return {
        publish: async (subject, bytes) => (life() === born ? bus.publish(subject, bytes) : undefined),
        subscribe: (pattern, onMessage) =>
          bus.subscribe(pattern, (subject, bytes) => {
            if (life() === born && !cutOff.has(self)) onMessage(subject, bytes);
          }),
      };
    },
    close: () => t.close(),
  };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mpc-reshare-resume-'));
  ids = clusterIdentities(4);
  hub = new MemoryHub();
  cluster = await startCluster({
    dir,
    ids,
    transports: ids.secrets.map((k, i) => faulty(hub.transport(i, k, ids.roster))),
    coordinatorBus: hub.bus(),
    // reshare sessions (two primes each): parties 0..2 draw for six (four refused, one cut off),
    // party 3 for two
    primesPerParty: 12,
  });
  quick = new Coordinator({ bus: hub.bus(), roster: ids.roster, secret: ids.coordinatorSecret, roundTimeoutMs: 5_000 });
  await quick.start();
}, 60_000);

afterAll(async () => {
  await quick?.close();
  await cluster?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('reshare: interrupted, then run again', () => {
  it('kill -9 of the joiner during the reshare session: nobody prepares or commits, the old committee still signs', async () => {
    await dealToOldHolders('a');
    // party 3 dies right after it sent its first message of the session (primes drawn, rounds running);
    // the others give up on it after a round deadline of 8 s (long enough for a loaded machine's rounds)
    killOnSend.add(3);
    const dead = new Promise<void>((resolve) => {
      killed = resolve;
    });
    const c = new Coordinator({
      bus: hub.bus(),
      roster: ids.roster,
      secret: ids.coordinatorSecret,
      roundTimeoutMs: 8_000,
    });
    await c.start();
    try {
      const attempt = c.reshare({ keyId: 'a', from: 3, to: 4, threshold: 2 });
      const first = await Promise.race([
        dead.then(() => 'killed'),
        attempt.then(
          () => 'done',
          () => 'failed',
        ),
      ]);
      expect(first).toBe('killed');
      await expect(attempt).rejects.toMatchObject({
        code: expect.stringMatching(/^ERR_DAEMON_SESSION_(FAILED|TIMEOUT)$/),
      });
    } finally {
      await c.close();
    }
    // restarted on its store and ledger: it holds nothing of the key; nobody prepared or committed
    await cluster.restart(3);
    expect(party(3).ledger.getKey('a')).toBeUndefined();
    expect(await storeIds(3, 'a')).toEqual([]);
    for (const p of cluster.parties) expect(p.ledger.getRotation('a')).toBeUndefined();
    await signs('a', [0, 1]);
  }, 120_000);

  it('a joiner whose prepared join never got its commit takes part in the next attempt, whose commit reaches only some; the next reshare finishes it', async () => {
    const Y = bytesToHex(encodePoint((keys.get('a') as DealtKey).publicKey));
    // Party 3 as an earlier attempt (3-of-4) left it: joining, its next share sealed, the rotation
    // prepared, the commit never came. Written through the ledger and store as #prepareReshare
    // writes them (not by a session: one reshare session costs ~40 s of CI time in-process).
    const earlier = await dealKeyShares({ n: 4, t: 3, seed: 'reshare-resume-earlier' });
    party(3).ledger.joinKey({ keyId: 'a', publicKey: Y, threshold: 3, parties: 4, epoch: 0 });
    await putKeyShare(party(3).store, { partyId: 3, keyId: 'a.next' }, 1, earlier.shares[3] as KeyShare);
    party(3).ledger.prepareRotation({
      keyId: 'a',
      sid: 'ee'.repeat(16),
      epoch: 1,
      digest: 'dd'.repeat(32),
      shareVersion: 1,
    });

    // the next attempt, 2-of-4: the joiner replaces its unfinished join and prepares this one
    leaveDelay.set(0, 3_000);
    const commit = await cluster.coordinator.prepareReshare({ keyId: 'a', from: 3, to: 4, threshold: 2 });
    expect(party(3).ledger.getKey('a')).toMatchObject({ shareVersion: 0, threshold: 2, parties: 4 });
    expect(party(3).ledger.getRotation('a')).toMatchObject({ state: 'prepared', sid: bytesToHex(commit.sid) });

    // its commit reaches 0 (still leaving the session) and 1; 2 and 3 are cut off
    cutOff.add(2).add(3);
    await expect(quick.commitRotation({ keyId: 'a', parties: 4, commit })).rejects.toMatchObject({
      code: 'ERR_DAEMON_SESSION_TIMEOUT',
      details: { missing: '2,3' },
    });
    cutOff.clear();
    leaveDelay.clear();
    expect(await states('a')).toEqual(['1:committed', '1:committed', '0:prepared', '0:prepared']);
    expect(await storeIds(3, 'a')).toEqual(['a.next']);

    // the same request again finishes that commit (no new session: the rotation stays that one)
    const r = await cluster.coordinator.reshare({ keyId: 'a', from: 3, to: 4, threshold: 2 });
    expect(r).toMatchObject({ epoch: 1, resumed: true });
    expect(bytesToHex(r.digest)).toBe(bytesToHex(commit.digest));
    const after = await cluster.coordinator.rotationStatus({ keyId: 'a', parties: 4 });
    for (const x of after) {
      expect(`${x.keyEpoch}:${x.state}`).toBe('1:committed');
      expect(bytesToHex(x.sid)).toBe(bytesToHex(commit.sid));
    }
    // one record at every party (identical bytes): the same key, 2-of-4, epoch 1
    const record = decodeKeyRecord(await cluster.coordinator.keyRecord({ keyId: 'a', parties: 4 }));
    expect({ t: record.t, n: record.n, epoch: record.epoch }).toEqual({ t: 2, n: 4, epoch: 1 });
    expect(bytesToHex(encodePoint(record.publicKey))).toBe(Y);
    for (const i of [2, 3]) expect(await storeIds(i, 'a')).toEqual(['a']);
    // the two that missed the commit sign together, under the original key
    await signs('a', [2, 3]);
  }, 300_000);

  it('a joiner that holds a share of the key id (committed, store step cut, restored core, unrecorded) refuses before the session', async () => {
    const other = await dealKeyShares({ n: 4, t: 2, seed: 'reshare-resume-other' });
    const otherKey = { publicKey: bytesToHex(encodePoint(other.publicKey)), threshold: 2, parties: 4 };
    const mine = other.shares[3] as KeyShare;
    // 'x': party 3 holds a committed full share under that id (another key of the same id)
    await dealToOldHolders('x');
    await putKeyShare(party(3).store, { partyId: 3, keyId: 'x' }, 1, mine);
    party(3).ledger.putKey({ keyId: 'x', ...otherKey, shareVersion: 1 });
    // 'y': party 3 restored its core share of that id from a backup kit (ledger share version 0)
    await dealToOldHolders('y');
    await party(3).store.putShare({ partyId: 3, keyId: 'y.core' }, 1, encodeCoreKeyShare(mine.core));
    party(3).ledger.restoreKey({ keyId: 'y', ...otherKey, epoch: 0 });
    // 'z': party 3 committed a join of that id and stopped before its store step (only 'z.next' sealed)
    await dealToOldHolders('z');
    party(3).ledger.joinKey({ keyId: 'z', ...otherKey, epoch: 0 });
    await putKeyShare(party(3).store, { partyId: 3, keyId: 'z.next' }, 1, mine);
    party(3).ledger.prepareRotation({
      keyId: 'z',
      sid: 'ee'.repeat(16),
      epoch: 1,
      digest: 'dd'.repeat(32),
      shareVersion: 1,
    });
    party(3).ledger.commitRotation('z', 'ee'.repeat(16), 1);
    // 'w': party 3 sealed a full share of that id and stopped before its ledger recorded it
    await dealToOldHolders('w');
    await putKeyShare(party(3).store, { partyId: 3, keyId: 'w' }, 1, mine);
    const held = { x: ['x'], y: ['y.core'], z: ['z.next'], w: ['w'] };

    for (const keyId of ['x', 'y', 'z', 'w'] as const) {
      const before = party(3).ledger.getKey(keyId);
      const attempt = cluster.coordinator.reshare({ keyId, from: 3, to: 4, threshold: 3 });
      // refused by the joiner alone, before the session ran ("ready"): no share dealt to it
      await expect(attempt).rejects.toMatchObject({
        reason: 'reshare ready failed at 3: ERR_DAEMON_COMMAND_INVALID',
      });
      expect(party(3).ledger.getKey(keyId)).toEqual(before);
      expect(await storeIds(3, keyId)).toEqual(held[keyId]);
      for (const p of cluster.parties.slice(0, 3)) expect(p.ledger.getRotation(keyId)).toBeUndefined();
    }
    // the old committee still signs
    await signs('x', [0, 2]);
  }, 300_000);
});
