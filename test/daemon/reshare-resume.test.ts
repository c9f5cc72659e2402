/**
 * A reshare that adds a holder, interrupted and run again (issue 16), on in-process daemons over the
 * in-memory transport: 2-of-3 keys dealt to parties 0..2, party 3 in the roster and joining.
 *
 * - A joiner that holds a share of the key id (a committed one, a committed one whose store step
 *   was cut, a core restored from a backup kit, or a full share its ledger never recorded) refuses
 *   to join, before the session, and keeps it. (An unfinished join is no share: see the retry case.)
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
import { putKeyShare } from '../../src/storage/secret-store.js';
import { MemoryHub } from '../../src/transport/memory.js';
import type { Transport } from '../../src/transport/types.js';
import { type DealtKey, dealKeyShares } from '../helpers/dealer.js';
import { nobleVerifies } from '../helpers/verify.js';
import { type ClusterParty, clusterIdentities, installDealtKey, startCluster } from './cluster.js';

let dir: string;
let cluster: Awaited<ReturnType<typeof startCluster>>;
/** A coordinator whose commit to a party that is cut off gives up after 2 s. */
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

const party = (i: number) => cluster.parties[i] as ClusterParty;
const storeIds = async (i: number, keyId: string) =>
  (await party(i).store.listShares()).filter((s) => s.partyId === i && s.keyId.startsWith(keyId)).map((s) => s.keyId);

/** Parties that receive no coordinator command (cut off from the control plane) while listed. */
const cutOff = new Set<number>();
/** How long party sessions take to leave their subjects (ms, per party). */
const leaveDelay = new Map<number, number>();

/** `t` with the test's faults: commands dropped while cut off, a session's leave delayed. */
function faulty(t: Transport): Transport {
  return {
    self: t.self,
    async join(sid, handler) {
      const s = await t.join(sid, handler);
      return {
        sid: s.sid,
        sessionKey: s.sessionKey,
        acceptSessionKeys: (keys, peers) => s.acceptSessionKeys(keys, peers),
        send: (to, round, payload) => s.send(to, round, payload),
        sendControl: (round, payload) => s.sendControl(round, payload),
        async leave() {
          await new Promise((r) => setTimeout(r, leaveDelay.get(t.self) ?? 0));
          await s.leave();
        },
      };
    },
    bus() {
      const bus = t.bus();
      return {
        publish: (subject, bytes) => bus.publish(subject, bytes),
        subscribe: (pattern, onMessage) =>
          bus.subscribe(pattern, (subject, bytes) => {
            if (!cutOff.has(t.self)) onMessage(subject, bytes);
          }),
      };
    },
    close: () => t.close(),
  };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mpc-reshare-resume-'));
  const ids = clusterIdentities(4);
  const hub = new MemoryHub();
  cluster = await startCluster({
    dir,
    ids,
    transports: ids.secrets.map((k, i) => faulty(hub.transport(i, k, ids.roster))),
    coordinatorBus: hub.bus(),
    // reshare sessions (two primes each): parties 0..2 draw for five (four refused), party 3 for one
    primesPerParty: 10,
  });
  quick = new Coordinator({ bus: hub.bus(), roster: ids.roster, secret: ids.coordinatorSecret, roundTimeoutMs: 2_000 });
  await quick.start();
}, 60_000);

afterAll(async () => {
  await quick?.close();
  await cluster?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('reshare: interrupted, then run again', () => {
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
