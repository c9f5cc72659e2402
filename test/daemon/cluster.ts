import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { Coordinator } from '../../src/daemon/coordinator.js';
import { type DaemonMetricsSink, PartyDaemon, type PrimeSource } from '../../src/daemon/party-daemon.js';
import { encodePoint } from '../../src/primitives/curve.js';
import type { KeyShare } from '../../src/protocol/key-share.js';
import { openFileSecretStore } from '../../src/storage/file-store.js';
import { type LedgerOptions, PartyLedger } from '../../src/storage/party-ledger.js';
import { putKeyShare, type SealedSecretStore } from '../../src/storage/secret-store.js';
import { createKeyFile, sealerFromKeyFile } from '../../src/storage/software-sealer.js';
import type { Bus } from '../../src/transport/bus.js';
import { generatePartyKeys, type PartyKeys, type RosterEntry } from '../../src/transport/frame.js';
import type { Transport } from '../../src/transport/types.js';
import type { DealtKey } from '../helpers/dealer.js';
import { math } from '../helpers/keys.js';
import { testPrimes } from '../helpers/primes.js';

/** Party identities (transport keys) and a coordinator key for an in-process cluster. */
export function clusterIdentities(n: number) {
  const keys = Array.from({ length: n }, () => generatePartyKeys());
  const coordinatorSecret = ed25519.utils.randomSecretKey();
  return {
    secrets: keys.map((k) => k.secret) as PartyKeys[],
    roster: keys.map((k) => k.public) as RosterEntry[],
    coordinatorSecret,
    coordinatorKey: ed25519.getPublicKey(coordinatorSecret),
  };
}

/** Hands out committed fixture safe primes; each party gets its own disjoint slice. */
export async function fixturePrimeSource(party: number, perParty = 4): Promise<PrimeSource> {
  const all = await testPrimes('safe', 1536);
  const mine = all.slice(party * perParty, (party + 1) * perParty);
  return {
    async take(n: number) {
      if (mine.length < n) throw new Error('fixture primes exhausted');
      return mine.splice(0, n);
    },
  };
}

export interface ClusterParty {
  daemon: PartyDaemon;
  store: SealedSecretStore;
  ledger: PartyLedger;
  transport: Transport;
}

/** Starts n in-process party daemons on the given transports with file stores under `dir`. */
export async function startCluster(o: {
  dir: string;
  ids: ReturnType<typeof clusterIdentities>;
  transports: readonly Transport[];
  coordinatorBus: Bus;
  roundTimeoutMs?: number;
  metrics?: (i: number) => DaemonMetricsSink | undefined;
  /** Extra daemon options for party i (e.g. a malicious party's test hooks). */
  options?: (i: number) => Partial<ConstructorParameters<typeof PartyDaemon>[0]>;
  /** Extra ledger options for party i (e.g. its audit emitter). */
  ledgerOptions?: (i: number) => Partial<LedgerOptions>;
  /** Fixture safe primes each party may draw (default 4: two aux / refresh / reshare sessions). */
  primesPerParty?: number;
}): Promise<{
  parties: ClusterParty[];
  coordinator: Coordinator;
  /** Stops party i's daemon and starts a new one on the same store, ledger and transport (a restart). */
  restart(i: number): Promise<void>;
  close(): Promise<void>;
}> {
  const parties: ClusterParty[] = [];
  const deps: Array<ConstructorParameters<typeof PartyDaemon>[0]> = [];
  for (const [i, transport] of o.transports.entries()) {
    const pdir = join(o.dir, `party-${i}`);
    await mkdir(pdir, { recursive: true });
    const keyFile = join(pdir, 'store.key');
    await createKeyFile(keyFile);
    const store = await openFileSecretStore({ dir: pdir, keyFile });
    const ledger = PartyLedger.open(join(pdir, 'ledger.db'), i, {
      sealer: await sealerFromKeyFile(keyFile),
      ...o.ledgerOptions?.(i),
    });
    const metrics = o.metrics?.(i);
    const opts: ConstructorParameters<typeof PartyDaemon>[0] = {
      self: i,
      transport,
      keys: o.ids.secrets[i] as PartyKeys,
      roster: o.ids.roster,
      coordinatorKey: o.ids.coordinatorKey,
      store,
      ledger,
      math,
      primes: await fixturePrimeSource(i, o.primesPerParty),
      // the in-process daemon tests drive the coordinator alone: enforcement off, explicitly
      policy: { mode: 'off' },
      ...(metrics ? { metrics } : {}),
      ...o.options?.(i),
    };
    deps.push(opts);
    const daemon = new PartyDaemon(opts);
    await daemon.start();
    parties.push({ daemon, store, ledger, transport });
  }
  const coordinator = new Coordinator({
    bus: o.coordinatorBus,
    roster: o.ids.roster,
    secret: o.ids.coordinatorSecret,
    roundTimeoutMs: o.roundTimeoutMs ?? 60_000,
  });
  await coordinator.start();
  return {
    parties,
    coordinator,
    async restart(i: number) {
      const p = parties[i] as ClusterParty;
      await p.daemon.drain(1000);
      p.daemon = new PartyDaemon(deps[i] as ConstructorParameters<typeof PartyDaemon>[0]);
      await p.daemon.start();
    },
    async close() {
      await coordinator.close();
      for (const p of parties) {
        await p.daemon.drain(1000);
        await p.transport.close();
        p.ledger.close();
        await p.store.close();
      }
    },
  };
}

/**
 * Gives every party of the cluster its share of a dealt key as the aux-info step would leave it:
 * the full share sealed at version 1 and the key recorded in its ledger.
 */
export async function installDealtKey(parties: readonly ClusterParty[], keyId: string, key: DealtKey): Promise<void> {
  for (const [i, p] of parties.entries()) {
    await putKeyShare(p.store, { partyId: i, keyId }, 1, key.shares[i] as KeyShare);
    p.ledger.putKey({
      keyId,
      publicKey: bytesToHex(encodePoint(key.publicKey)),
      threshold: key.shares[i]?.core.t as number,
      parties: parties.length,
      shareVersion: 1,
    });
  }
}
