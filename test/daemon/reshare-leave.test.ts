/**
 * A reshare in which holders LEAVE (issue 16), on in-process daemons over the in-memory transport:
 * 2-of-4 keys dealt to parties 0..3, party 3 leaving. One complete reshare session in all (parties
 * 0..2, 2-of-4 → 2-of-3).
 *
 * - Cheap (no session): what a leaver checks before it gives up its share. The commit it gets carries
 *   the new epoch's key record and every new holder's acknowledgement; acknowledgements signed here
 *   with the new holders' identity keys stand in for a session's. A missing or forged
 *   acknowledgement, a record of another key, chain code or epoch, a record that is not the one
 *   acknowledged, and a record whose committee includes the party are refused, the share kept; a
 *   party that holds no share of the key refuses too. The commit that checks out retires the key:
 *   share deleted, ledger marked left (audit reshare.step left), every later use refused with
 *   ERR_DAEMON_KEY_RETIRED (presign before ready, record), a repeated commit answers ok. A crash
 *   between the ledger's mark and the store's delete is finished at the next use.
 * - The real reshare: the staying holders re-deal among themselves; until they commit the old
 *   committee signs (with the leaver). Their commit reaches holders 0 and 1 only; `reshare` again
 *   finishes it at holder 2, but its leavers' step does not reach party 3; `reshare` once more sends
 *   only that step (resumed), the leaver retires. The new holders sign under the original key; the
 *   leaver's old share does not combine with a new one. (Two 5 s waits for the commits that do not
 *   arrive.)
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeStartCommand, openCoordinatorMessage, type RotationCommit } from '../../src/daemon/control.js';
import { Coordinator } from '../../src/daemon/coordinator.js';
import { mod } from '../../src/math/bits.js';
import { CURVE_ORDER, encodePoint, Point } from '../../src/primitives/curve.js';
import { Ed25519Signer } from '../../src/primitives/ed25519.js';
import type { CoreKeyShare, KeyShare } from '../../src/protocol/key-share.js';
import { evaluationPoint, lagrangeCoefficient } from '../../src/protocol/lagrange.js';
import { decodeKeyRecord, encodeKeyRecord, type KeyRecord, keyRecordOf } from '../../src/protocol/reshare.js';
import { acknowledgeRotation, epochDigest } from '../../src/protocol/rotation.js';
import { getKeyShare, putKeyShare } from '../../src/storage/secret-store.js';
import { MemoryHub } from '../../src/transport/memory.js';
import type { Transport } from '../../src/transport/types.js';
import { emitterKey } from '../audit/fixtures.js';
import { type DealtKey, dealKeyShares } from '../helpers/dealer.js';
import { math } from '../helpers/keys.js';
import { nobleVerifies } from '../helpers/verify.js';
import { type ClusterParty, clusterIdentities, installDealtKey, startCluster } from './cluster.js';

let dir: string;
let ids: ReturnType<typeof clusterIdentities>;
let cluster: Awaited<ReturnType<typeof startCluster>>;
/** A coordinator that gives up on a silent party after 5 s. */
let quick: Coordinator;
const keys = new Map<string, DealtKey>();
/** Parties that never receive a `commit` command (as if the coordinator stopped before reaching them). */
const noCommit = new Set<number>();
/** Parties that receive no coordinator command at all (down). */
const silent = new Set<number>();

/** `t`, except that a party in `noCommit` does not get commit commands (every other command arrives). */
function dropsCommits(t: Transport): Transport {
  const isCommit = (bytes: Uint8Array) => {
    try {
      const m = openCoordinatorMessage(bytes, ids.coordinatorKey);
      return m.round === 'start' && decodeStartCommand(m.payload).op === 'commit';
    } catch {
      return false;
    }
  };
  return {
    self: t.self,
    join: (sid, handler) => t.join(sid, handler),
    bus() {
      const bus = t.bus();
      return {
        publish: (subject, bytes) => bus.publish(subject, bytes),
        subscribe: (pattern, onMessage) =>
          bus.subscribe(pattern, (subject, bytes) => {
            if (!silent.has(t.self) && !(noCommit.has(t.self) && isCommit(bytes))) onMessage(subject, bytes);
          }),
      };
    },
    close: () => t.close(),
  };
}

const party = (i: number) => cluster.parties[i] as ClusterParty;
const storeIds = async (i: number, keyId: string) =>
  (await party(i).store.listShares())
    .filter((s) => s.partyId === i && (s.keyId === keyId || s.keyId.startsWith(`${keyId}.`)))
    .map((s) => s.keyId)
    .sort();
const events = (i: number) =>
  party(i)
    .ledger.recordsAfter(0, 10_000)
    .map((r) => (JSON.parse(r.body) as { event: Record<string, unknown> }).event);

/** A fresh 2-of-4 key dealt to `holders` (default parties 0..3). */
async function deal(keyId: string, holders = 4): Promise<DealtKey> {
  const key = await dealKeyShares({ n: 4, t: 2, seed: `reshare-leave-${keyId}` });
  await installDealtKey(cluster.parties.slice(0, holders), keyId, key);
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

/**
 * A leavers' commit for `record` as the coordinator relays it, with the acknowledgements of
 * `signers[h]` for holder h (default: every holder of the record, each with its own identity key).
 */
function leaveCommit(
  record: KeyRecord,
  o: { signers?: number[]; digest?: Uint8Array; sid?: Uint8Array } = {},
): RotationCommit {
  const sid = o.sid ?? sha256(encodeKeyRecord(record)).subarray(0, 16);
  const digest = o.digest ?? epochDigest(record);
  const target = { sid, epoch: record.epoch, digest, holders: [] };
  const signers = o.signers ?? Array.from({ length: record.n }, (_, h) => h);
  const acks = signers.map((who, h) =>
    acknowledgeRotation(new Ed25519Signer(ids.secrets[who]?.ed25519Secret as Uint8Array), target, h),
  );
  return { sid, epoch: record.epoch, digest, acks, record: encodeKeyRecord(record) };
}

/** The record of a 2-of-3 epoch-1 sharing continuing `keyId` (public shares of another dealing: only signed, never used). */
function nextRecord(keyId: string, other: DealtKey): KeyRecord {
  const key = keys.get(keyId) as DealtKey;
  return {
    ...keyRecordOf(key.shares[0]?.core as CoreKeyShare),
    epoch: 1,
    t: 2,
    n: 3,
    publicShares: other.publicShares.slice(0, 3),
  };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mpc-reshare-leave-'));
  ids = clusterIdentities(4);
  const hub = new MemoryHub();
  cluster = await startCluster({
    dir,
    ids,
    transports: ids.secrets.map((k, i) => dropsCommits(hub.transport(i, k, ids.roster))),
    coordinatorBus: hub.bus(),
    // the leaver writes audit records (its reshare.step left)
    ledgerOptions: (i) =>
      i === 3
        ? {
            audit: {
              deployment: 'dep-leave',
              emitter: 'party-3',
              signer: new Ed25519Signer(emitterKey('party-3').secret),
              checkpointEvery: 100,
            },
          }
        : {},
  });
  quick = new Coordinator({ bus: hub.bus(), roster: ids.roster, secret: ids.coordinatorSecret, roundTimeoutMs: 5_000 });
  await quick.start();
}, 60_000);

afterAll(async () => {
  await quick?.close();
  await cluster?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('reshare: what a leaving party checks at the commit', () => {
  it('refuses a missing or forged acknowledgement, another key, chain code or epoch, an unacknowledged record, a committee that includes it; keeps its share', async () => {
    await deal('u');
    const other = await dealKeyShares({ n: 3, t: 2, seed: 'reshare-leave-other' });
    const good = nextRecord('u', other);
    const shifted = [...good.publicShares];
    shifted[1] = (shifted[1] as Point).add(Point.BASE);
    const bad: Array<[string, RotationCommit, string]> = [
      ['missing ack', { ...leaveCommit(good), acks: leaveCommit(good).acks.slice(0, 2) }, 'ERR_ROTATION_ACK_INVALID'],
      ['ack of holder 2 signed by party 3', leaveCommit(good, { signers: [0, 1, 3] }), 'ERR_ROTATION_ACK_INVALID'],
      ['another key', leaveCommit({ ...good, publicKey: other.publicKey }), 'ERR_ROTATION_STATE'],
      ['another chain code', leaveCommit({ ...good, chainCode: other.chainCode }), 'ERR_ROTATION_STATE'],
      ['another epoch', leaveCommit({ ...good, epoch: 2 }), 'ERR_ROTATION_STATE'],
      [
        'a record other than the acknowledged one',
        { ...leaveCommit(good), record: encodeKeyRecord({ ...good, publicShares: shifted }) },
        'ERR_ROTATION_STATE',
      ],
      [
        'a committee that includes the party',
        leaveCommit({ ...good, n: 4, publicShares: [...good.publicShares, Point.BASE] }),
        'ERR_ROTATION_STATE',
      ],
    ];
    for (const [what, commit, code] of bad) {
      const attempt = quick.commitRotation({ keyId: 'u', parties: 4, members: [3], commit });
      await expect(attempt, what).rejects.toMatchObject({ details: { codes: code } });
      expect(party(3).ledger.getKey('u')?.retired, what).toBeUndefined();
      expect(await storeIds(3, 'u'), what).toEqual(['u']);
    }
    // a party that holds no share of the key has nothing to leave
    await deal('v', 3);
    const attempt = quick.commitRotation({
      keyId: 'v',
      parties: 4,
      members: [3],
      commit: leaveCommit(nextRecord('v', other)),
    });
    await expect(attempt).rejects.toMatchObject({ details: { codes: 'ERR_DAEMON_KEY_UNKNOWN' } });
    expect(party(3).ledger.getKey('v')).toBeUndefined();
  });

  it('retires on a commit that checks out: share deleted, key marked left, every later use refused; a repeated commit answers ok', async () => {
    const other = await dealKeyShares({ n: 3, t: 2, seed: 'reshare-leave-other' });
    const commit = leaveCommit(nextRecord('u', other));
    await quick.commitRotation({ keyId: 'u', parties: 4, members: [3], commit });
    expect(party(3).ledger.getKey('u')?.retired).toBe(1);
    expect(await storeIds(3, 'u')).toEqual([]);
    expect(events(3).filter((e) => e.key === 'u' && e.type === 'reshare.step')).toEqual([
      { type: 'reshare.step', key: 'u', step: 'left', epoch: 1, parties: [0, 1, 2] },
    ]);
    // party 2 still holds its share of epoch 0 (no session ran): only the leaver refuses
    await expect(cluster.coordinator.presign({ keyId: 'u', signers: [2, 3] })).rejects.toMatchObject({
      reason: 'presign ready failed at 3: ERR_DAEMON_KEY_RETIRED',
    });
    await expect(quick.keyRecord({ keyId: 'u', parties: 4 })).rejects.toMatchObject({
      details: { codes: 'ERR_DAEMON_KEY_RETIRED' },
    });
    // the same commit again: ok; one of another epoch: refused
    await quick.commitRotation({ keyId: 'u', parties: 4, members: [3], commit });
    const later = leaveCommit({ ...nextRecord('u', other), epoch: 2 });
    await expect(quick.commitRotation({ keyId: 'u', parties: 4, members: [3], commit: later })).rejects.toMatchObject({
      details: { codes: 'ERR_DAEMON_KEY_RETIRED' },
    });
  });

  it("a holder's commit names exactly the new holders 0..n′−1: a leaver's acknowledgement in a holder's place is refused", async () => {
    await deal('p');
    // party 0 prepared epoch 1 of 'p' as a 2-of-3 holder (written as #sealPrepared writes it: no session)
    const next = await dealKeyShares({ n: 3, t: 2, seed: 'reshare-leave-next' });
    await putKeyShare(party(0).store, { partyId: 0, keyId: 'p.next' }, 2, next.shares[0] as KeyShare);
    const sid = new Uint8Array(16).fill(0xc1);
    const digest = new Uint8Array(32).fill(0xd1);
    party(0).ledger.prepareRotation({
      keyId: 'p',
      sid: bytesToHex(sid),
      epoch: 1,
      digest: bytesToHex(digest),
      shareVersion: 2,
    });
    // holders "0, 1, 3": party 3 (leaving, colluding with the coordinator) signs for new holder 2
    const target = { sid, epoch: 1, digest, holders: [] };
    const acks = [0, 1, 3].map((who, h) =>
      acknowledgeRotation(new Ed25519Signer(ids.secrets[who]?.ed25519Secret as Uint8Array), target, h),
    );
    const attempt = quick.commitRotation({
      keyId: 'p',
      parties: 4,
      members: [0, 1, 3],
      commit: { sid, epoch: 1, digest, acks },
    });
    await expect(attempt).rejects.toMatchObject({
      details: { codes: expect.stringContaining('ERR_DAEMON_COMMAND_INVALID') },
    });
    expect(party(0).ledger.getRotation('p')).toMatchObject({ state: 'prepared', epoch: 1 });
    expect(party(0).ledger.getKey('p')?.epoch).toBeUndefined();
  });

  it('a crash between the ledger mark and the delete: the share goes at the next use of the key', async () => {
    await deal('w');
    // the ledger committed the retirement, the store step never ran
    party(3).ledger.retireKey('w', 1, 3);
    expect(await storeIds(3, 'w')).toEqual(['w']);
    await expect(quick.keyRecord({ keyId: 'w', parties: 4 })).rejects.toMatchObject({
      details: { codes: 'ERR_DAEMON_KEY_RETIRED' },
    });
    expect(await storeIds(3, 'w')).toEqual([]);
  });
});

describe('reshare 2-of-4 → 2-of-3: party 3 leaves', () => {
  it('the old committee signs until the commit; a commit cut at a holder, then before the leaver, is finished by reshare again; the new holders sign, the leaver holds nothing', async () => {
    const key = await deal('k');
    const Y = bytesToHex(encodePoint(key.publicKey));
    const digest = sha256(new TextEncoder().encode('signed by the old committee before the commit'));
    const old = await cluster.coordinator.presign({ keyId: 'k', signers: [1, 3] });

    // the staying holders re-deal among themselves (the leaver takes no part) and prepare
    const commit = await cluster.coordinator.prepareReshare({ keyId: 'k', from: 4, to: 3, threshold: 2 });
    for (const i of [0, 1, 2]) expect(party(i).ledger.getRotation('k')).toMatchObject({ state: 'prepared', epoch: 1 });
    expect(party(3).ledger.getRotation('k')).toBeUndefined();
    // until the commit the old committee signs, the leaver with it
    const before = await cluster.coordinator.sign({ keyId: 'k', presignature: old, digest });
    expect(nobleVerifies(key.publicKey, digest, before)).toBe(true);

    const states = async () =>
      (await cluster.coordinator.rotationStatus({ keyId: 'k', parties: 4 })).map((x) => `${x.keyEpoch}:${x.state}`);
    // the commit reaches holders 0 and 1 only
    noCommit.add(2);
    await expect(quick.commitRotation({ keyId: 'k', parties: 3, commit })).rejects.toMatchObject({
      code: 'ERR_DAEMON_SESSION_TIMEOUT',
      details: { missing: '2' },
    });
    expect(await states()).toEqual(['1:committed', '1:committed', '0:prepared', '0:none']);
    // reshare again with the leaver down (it answers nothing, not even the status query): the
    // holders' commit is finished without it, then its step times out
    noCommit.clear();
    silent.add(3);
    await expect(quick.reshare({ keyId: 'k', from: 4, to: 3, threshold: 2 })).rejects.toMatchObject({
      code: 'ERR_DAEMON_SESSION_TIMEOUT',
      details: { missing: '3' },
    });
    // still down: reshare again only retries its step (no new reshare, which would leave it two
    // epochs behind: the holders stay on epoch 1)
    await expect(quick.reshare({ keyId: 'k', from: 4, to: 3, threshold: 2 })).rejects.toMatchObject({
      code: 'ERR_DAEMON_SESSION_TIMEOUT',
      details: { missing: '3' },
    });
    silent.clear();
    expect(await states()).toEqual(['1:committed', '1:committed', '1:committed', '0:none']);
    expect(await storeIds(3, 'k')).toEqual(['k']);

    // and again: only the leavers' step is left; the leaver checks the acknowledgements and retires
    const r = await cluster.coordinator.reshare({ keyId: 'k', from: 4, to: 3, threshold: 2 });
    expect(r).toMatchObject({ epoch: 1, resumed: true });
    expect(bytesToHex(r.digest)).toBe(bytesToHex(commit.digest));
    expect(party(3).ledger.getKey('k')?.retired).toBe(1);
    expect(await storeIds(3, 'k')).toEqual([]);
    expect(events(3).filter((e) => e.key === 'k' && e.type === 'reshare.step')).toEqual([
      { type: 'reshare.step', key: 'k', step: 'left', epoch: 1, parties: [0, 1, 2] },
    ]);
    await expect(quick.keyRecord({ keyId: 'k', parties: 4 })).rejects.toMatchObject({
      details: { codes: 'ERR_DAEMON_KEY_RETIRED' },
    });
    // nothing left to do: a third run says so
    await expect(cluster.coordinator.reshare({ keyId: 'k', from: 4, to: 3, threshold: 2 })).rejects.toMatchObject({
      code: 'ERR_DAEMON_KEY_RETIRED',
    });

    // the new committee: the same key and chain code, 2-of-3 at epoch 1
    const record = decodeKeyRecord(await cluster.coordinator.keyRecord({ keyId: 'k', parties: 3 }));
    expect({ t: record.t, n: record.n, epoch: record.epoch }).toEqual({ t: 2, n: 3, epoch: 1 });
    expect(bytesToHex(encodePoint(record.publicKey))).toBe(Y);
    expect(bytesToHex(record.chainCode)).toBe(bytesToHex(key.chainCode));
    await signs('k', [0, 2]);

    // two new shares give the key; the leaver's old share with a new one does not
    const news: CoreKeyShare[] = [];
    for (const i of [0, 1]) {
      const version = party(i).ledger.getKey('k')?.shareVersion as number;
      news.push((await getKeyShare(party(i).store, math, { partyId: i, keyId: 'k' }, version)).share.core);
    }
    const combine = (xs: bigint[], at: number[]) => {
      const pts = at.map(evaluationPoint);
      return xs.reduce((acc, x, j) => mod(acc + lagrangeCoefficient(pts, j) * x, CURVE_ORDER), 0n);
    };
    const [n0, n1] = news as [CoreKeyShare, CoreKeyShare];
    expect(combine([n0.x, n1.x], [0, 1])).toBe(key.secret);
    const leaverOld = key.shares[3]?.core.x as bigint;
    for (const at of [3, 1, 2]) expect(combine([n0.x, leaverOld], [0, at])).not.toBe(key.secret);
  }, 300_000);
});
