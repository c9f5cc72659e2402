import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256 } from '@noble/hashes/sha2.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/daemon/logger.js';
import { storageNotReady, watchStorage } from '../../src/daemon/main.js';
import { decodePoint } from '../../src/primitives/curve.js';
import { ephemeralSealer } from '../../src/storage/ephemeral-sealer.js';
import { PartyLedger } from '../../src/storage/party-ledger.js';
import { Pkcs11Sealer } from '../../src/storage/pkcs11-sealer.js';
import { openPkcs11SecretStore } from '../../src/storage/pkcs11-store.js';
import type { Sealer, SealerHealth } from '../../src/storage/sealed-blob.js';
import type { SealedSecretStore } from '../../src/storage/secret-store.js';
import { MemoryHub } from '../../src/transport/memory.js';
import { rejection } from '../helpers/failure.js';
import { math } from '../helpers/keys.js';
import { memoMath } from '../helpers/memo-math.js';
import { nobleVerifies } from '../helpers/verify.js';
import { clusterIdentities, startCluster } from './cluster.js';

/**
 * Issue 17 item 7, storage faults seen by the daemon: a crash between sealing the full key share
 * and recording the key in the ledger used to block the key forever (the share version could not
 * be written again, and the members that finished refused a second aux run); a lost HSM session
 * used to fail every operation forever. Three daemons and a coordinator in one process over the
 * in-memory transport; party 2 keeps its share in a real SoftHSM2 token and seals presignatures
 * under a session key, wired like the daemon process (watchStorage, storageNotReady).
 */
const N = 3;
const ids = clusterIdentities(N);
const HSM = { library: '/usr/lib/softhsm/libsofthsm2.so', tokenLabel: 'faults-p2', pin: '864202', keyLabel: 'p2-kek' };
let dir: string;
let cluster: Awaited<ReturnType<typeof startCluster>>;
let hsm: { store: SealedSecretStore; ledger: PartyLedger; sealer: Sealer; unwatch: () => void; tokens: string };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mpc-storage-faults-'));
  const tokens = join(dir, 'tokens');
  mkdirSync(tokens);
  const conf = join(dir, 'softhsm2.conf');
  writeFileSync(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  process.env.SOFTHSM2_CONF = conf;
  execFileSync(
    'softhsm2-util',
    ['--init-token', '--free', '--label', HSM.tokenLabel, '--pin', HSM.pin, '--so-pin', '13572468'],
    {
      env: process.env,
      stdio: 'ignore',
    },
  );
  Pkcs11Sealer.open({ ...HSM, createKey: true }).close();
  const pdir = join(dir, 'party-2-hsm');
  const store = openPkcs11SecretStore({ ...HSM, dir: pdir, reopen: { initialMs: 10, maxMs: 80 } });
  const sealer = ephemeralSealer(store.sealer);
  const ledger = PartyLedger.open(join(pdir, 'ledger.db'), 2, { sealer, exclusive: true });
  const unwatch = watchStorage({ store, ledger, log: createLogger({ level: 'silent' }) });
  hsm = { store, ledger, sealer, unwatch, tokens };
  const hub = new MemoryHub();
  const shared = memoMath(math);
  const transports = ids.secrets.map((k, i) => hub.transport(i, k, ids.roster));
  cluster = await startCluster({
    dir,
    ids,
    transports,
    coordinatorBus: hub.bus(),
    roundTimeoutMs: 60_000,
    // one cached backend for the three in-process daemons (test/helpers/memo-math.ts): each aux-info
    // proof (Πprm, Πmod) is the same for both its verifiers, so the second verifier's exponentiations
    // are looked up; every daemon still runs every check (CI time: this file runs aux info twice)
    options: (i) => ({ math: shared, ...(i === 2 ? { store, ledger } : {}) }),
  });
  const p2 = cluster.parties[2] as (typeof cluster.parties)[number];
  p2.ledger.close(); // the file-store ledger and store the cluster made for party 2 stay unused
  await p2.store.close();
  p2.store = store;
  p2.ledger = ledger;
}, 60_000);

afterAll(async () => {
  hsm?.unwatch();
  await cluster?.close();
  hsm?.sealer.close();
  await rm(dir, { recursive: true, force: true });
});

function healthWhere(store: SealedSecretStore, want: (h: SealerHealth) => boolean): Promise<SealerHealth> {
  if (want(store.health())) return Promise.resolve(store.health());
  return new Promise((resolve) => {
    const off = store.onHealthChange((h) => {
      if (want(h)) {
        off();
        resolve(h);
      }
    });
  });
}

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

  it('the HSM token of a party disappears: not ready, its presignature burnt, presigning fails with ERR_STORE_UNAVAILABLE; back after the backoff, it presigns and signs again, no share lost', async () => {
    // runs on the key of the test above (one keygen and aux run per file: CI budget)
    const publicKey = decodePoint(Buffer.from(hsm.ledger.getKey('vault')?.publicKey ?? '', 'hex'));
    const before = await cluster.coordinator.presign({ keyId: 'vault', signers: [0, 2] });
    const [tokenDir] = readdirSync(hsm.tokens);
    const away = join(dir, 'token-away');
    renameSync(join(hsm.tokens, tokenDir as string), away);
    try {
      // the readiness probe (one token operation) finds the session gone while the party is idle
      expect((await storageNotReady(hsm.store, hsm.ledger))[0]).toMatch(/^store reopening/);
      // the presignature was sealed under the session key that died with the session: burnt, not used
      const digest = sha256(new TextEncoder().encode('while the token is away'));
      const sign = await rejection(cluster.coordinator.sign({ keyId: 'vault', presignature: before, digest }));
      expect(sign.message).toContain('ERR_PRESIGNATURE_BURNT');
      // nothing can be sealed while it is down: a presigning session fails with the typed code
      const presign = await rejection(cluster.coordinator.presign({ keyId: 'vault', signers: [0, 2] }));
      expect(presign.message).toContain('ERR_STORE_UNAVAILABLE');
      expect((await storageNotReady(hsm.store, hsm.ledger))[0]).toMatch(/^store reopening/);
    } finally {
      renameSync(away, join(hsm.tokens, tokenDir as string));
    }
    await healthWhere(hsm.store, (h) => h.available);
    expect(await storageNotReady(hsm.store, hsm.ledger)).toEqual([]);
    // the presignature made before the outage stays burnt here (party 0 consumed it in the failed sign)
    expect(hsm.ledger.isBurnt(before.id)).toBe(true);
    const digest = sha256(new TextEncoder().encode('after the token came back'));
    const again = await rejection(cluster.coordinator.sign({ keyId: 'vault', presignature: before, digest }));
    expect(again.message).toMatch(/ERR_PRESIGNATURE_(BURNT|USED)/);
    // a fresh presignature signs; the share in the token is still there, at the ledger's version
    const fresh = await cluster.coordinator.presign({ keyId: 'vault', signers: [0, 2] });
    const sig = await cluster.coordinator.sign({ keyId: 'vault', presignature: fresh, digest });
    expect(nobleVerifies(publicKey, digest, sig)).toBe(true);
    const version = hsm.ledger.getKey('vault')?.shareVersion;
    const share = await hsm.store.getShare({ partyId: 2, keyId: 'vault' }, version);
    expect(share.plaintext.length).toBeGreaterThan(0);
    share.plaintext.fill(0);
  }, 300_000);
});
