/**
 * The checks an old holder makes before a reshare (issue 16), on in-process daemons over the
 * in-memory transport with a dealt 2-of-3 key: the key record the coordinator hands to joining
 * parties must be the one each old holder derives from its own share (a coordinator that lies about
 * the public shares, the threshold or the epoch is refused by every holder before any share is
 * dealt or any prime taken), and a reshare that removes holders keeps at least the old threshold of
 * them (they deal the key): the coordinator and every staying holder refuse fewer, before the session.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Point } from '../../src/primitives/curve.js';
import type { CoreKeyShare } from '../../src/protocol/key-share.js';
import { encodeKeyRecord, keyRecordOf } from '../../src/protocol/reshare.js';
import { MemoryHub } from '../../src/transport/memory.js';
import { type DealtKey, dealKeyShares } from '../helpers/dealer.js';
import { clusterIdentities, installDealtKey, startCluster } from './cluster.js';

let dir: string;
let key: DealtKey;
let cluster: Awaited<ReturnType<typeof startCluster>>;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mpc-reshare-guard-'));
  const ids = clusterIdentities(3);
  const hub = new MemoryHub();
  cluster = await startCluster({
    dir,
    ids,
    transports: ids.secrets.map((k, i) => hub.transport(i, k, ids.roster)),
    coordinatorBus: hub.bus(),
    roundTimeoutMs: 5_000,
  });
  key = await dealKeyShares({ n: 3, t: 2, seed: 'reshare-guard' });
  await installDealtKey(cluster.parties, 'hot', key);
  await installDealtKey(cluster.parties, 'cold', await dealKeyShares({ n: 3, t: 3, seed: 'reshare-guard-3of3' }));
}, 60_000);

afterAll(async () => {
  await cluster?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('reshare: what an old holder checks before dealing', () => {
  it('the holders report one record, the one of their shares', async () => {
    const record = await cluster.coordinator.keyRecord({ keyId: 'hot', parties: 3 });
    expect(record).toEqual(encodeKeyRecord(keyRecordOf(key.shares[0]?.core as CoreKeyShare)));
  });

  it('a record with another public share, threshold or epoch is refused by every old holder', async () => {
    const real = keyRecordOf(key.shares[0]?.core as CoreKeyShare);
    const shifted = [...real.publicShares];
    shifted[1] = (shifted[1] as Point).add(Point.BASE);
    const lies = [
      { ...real, publicShares: shifted },
      { ...real, t: 3 },
      { ...real, epoch: 1 },
    ];
    for (const lie of lies) {
      const attempt = cluster.coordinator.reshare({
        keyId: 'hot',
        from: 3,
        to: 3,
        threshold: 2,
        record: encodeKeyRecord(lie),
      });
      // refused at each holder's own check (ERR_ROTATION_STATE), before the protocol would see the record
      await expect(attempt).rejects.toMatchObject({
        details: { codes: expect.stringContaining('ERR_ROTATION_STATE') },
      });
    }
    // nothing was prepared anywhere
    for (const p of cluster.parties) expect(p.ledger.getRotation('hot')).toBeUndefined();
  });

  it('--from must be the key’s holder count: a stale or wrong count is refused before any session', async () => {
    for (const [from, to] of [
      [2, 3],
      [2, 2],
      [2, 1],
    ] as const) {
      await expect(cluster.coordinator.reshare({ keyId: 'hot', from, to, threshold: 1 })).rejects.toMatchObject({
        code: 'ERR_DAEMON_COMMAND_INVALID',
        details: { holders: 3, from },
      });
    }
    for (const p of cluster.parties) expect(p.ledger.getRotation('hot')).toBeUndefined();
  });

  it('a reshare that keeps fewer holders than the old threshold is refused by the coordinator and by each staying holder', async () => {
    // 3-of-3 → 2 holders: two shares cannot deal the key
    await expect(cluster.coordinator.reshare({ keyId: 'cold', from: 3, to: 2, threshold: 2 })).rejects.toMatchObject({
      code: 'ERR_DAEMON_COMMAND_INVALID',
    });
    // a coordinator that skips its own check (it hands out the record): each staying holder refuses at ready
    const record = await cluster.coordinator.keyRecord({ keyId: 'cold', parties: 3 });
    const attempt = cluster.coordinator.reshare({ keyId: 'cold', from: 3, to: 2, threshold: 2, record });
    await expect(attempt).rejects.toMatchObject({
      // the coordinator gives up at the first refusal
      reason: expect.stringMatching(/^reshare ready failed at [01]: ERR_DAEMON_COMMAND_INVALID$/),
    });
    for (const p of cluster.parties) expect(p.ledger.getRotation('cold')).toBeUndefined();
    expect(cluster.parties[2]?.ledger.getKey('cold')?.retired).toBeUndefined();
  });
});
