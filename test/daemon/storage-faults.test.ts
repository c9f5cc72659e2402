import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256 } from '@noble/hashes/sha2.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryHub } from '../../src/transport/memory.js';
import { rejection } from '../helpers/failure.js';
import { nobleVerifies } from '../helpers/verify.js';
import { clusterIdentities, startCluster } from './cluster.js';

/**
 * Issue 17 item 7, storage faults seen by the daemon: a crash between sealing the full key share
 * and recording the key in the ledger used to block the key forever (the share version could not
 * be written again, and the members that finished refused a second aux run). Three daemons and a
 * coordinator in one process over the in-memory transport.
 */
const N = 3;
const ids = clusterIdentities(N);
let dir: string;
let cluster: Awaited<ReturnType<typeof startCluster>>;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mpc-storage-faults-'));
  const hub = new MemoryHub();
  const transports = ids.secrets.map((k, i) => hub.transport(i, k, ids.roster));
  cluster = await startCluster({ dir, ids, transports, coordinatorBus: hub.bus(), roundTimeoutMs: 60_000 });
}, 60_000);

afterAll(async () => {
  await cluster?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('storage faults in the party daemon', () => {
  it('aux info interrupted after the share was sealed but before the ledger recorded it is resumable', async () => {
    const publicKey = await cluster.coordinator.keygen({ keyId: 'vault', threshold: 2, parties: N });
    // party 0 "crashes" right after sealing its full share: the ledger write never happens
    const ledger0 = cluster.parties[0]?.ledger as NonNullable<(typeof cluster.parties)[0]>['ledger'];
    const putKey = ledger0.putKey.bind(ledger0);
    ledger0.putKey = () => {
      ledger0.putKey = putKey;
      throw new Error('crash between the share write and the ledger write');
    };
    const first = await rejection(cluster.coordinator.auxInfo({ keyId: 'vault', parties: N }));
    expect(first.message).toContain('aux failed at 0');
    // the members that finished may still be sealing when the coordinator reports the failure
    const settled = async () =>
      cluster.parties.slice(1).every((p) => p.ledger.getKey('vault')) &&
      (await cluster.parties[0]?.store.listShares())?.some((s) => s.keyId === 'vault');
    for (let k = 0; k < 300 && !(await settled()); k++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(ledger0.getKey('vault')).toBeUndefined();
    expect((await cluster.parties[0]?.store.listShares())?.map((s) => s.keyId).sort()).toEqual(['vault', 'vault.core']);
    expect(cluster.parties[1]?.ledger.getKey('vault')?.shareVersion).toBe(1);

    // a rerun completes at every member (the one that crashed and the ones that had finished)
    await cluster.coordinator.auxInfo({ keyId: 'vault', parties: N });
    for (const [i, p] of cluster.parties.entries()) {
      expect(p.ledger.getKey('vault')?.shareVersion).toBe(2);
      expect(await p.store.listShares()).toEqual([{ partyId: i, keyId: 'vault', version: 2 }]);
    }
    const pre = await cluster.coordinator.presign({ keyId: 'vault', signers: [0, 1] });
    const digest = sha256(new TextEncoder().encode('after a resumed aux run'));
    const sig = await cluster.coordinator.sign({ keyId: 'vault', presignature: pre, digest });
    expect(nobleVerifies(publicKey, digest, sig)).toBe(true);

    // once the key has presigned, aux info is final: a further run is refused by every member
    const err = await rejection(cluster.coordinator.auxInfo({ keyId: 'vault', parties: N }));
    expect(err.message).toContain('ERR_DAEMON_COMMAND_INVALID');
  }, 600_000);
});
