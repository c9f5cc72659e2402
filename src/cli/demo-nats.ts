import { join } from 'node:path';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { connectCoordinator } from '../daemon/coordinator-client.js';
import { addCachedPrimes } from '../daemon/main.js';
import { runNatsServer } from '../daemon/nats-server-process.js';
import { setupPartySet } from '../daemon/setup.js';
import { freePort, type SpawnedParty, spawnParty } from '../daemon/spawn-party.js';
import type { BackendName } from '../math/raw.js';
import { encodePoint } from '../primitives/curve.js';
import type { PresignaturePublic } from '../protocol/sign.js';

type Step = <T>(label: string, fn: () => T | Promise<T>) => Promise<T>;

const address = (pk: Uint8Array) => `0x${bytesToHex(keccak_256(pk.subarray(1)).subarray(12))}`;

/**
 * The demo over a local nats-server: `mpc-custody setup` in a temp dir (TLS, nkeys, permissions),
 * three `mpc-custody party` processes with encrypted file stores, and a coordinator that runs
 * keygen 2-of-3, aux info, presigning and one signature. `primes[i]` seed party i's prime cache.
 */
export async function demoOverNats(o: {
  dir: string;
  backend: BackendName;
  primes: readonly bigint[];
  out: (line: string) => void;
  step: Step;
}): Promise<number> {
  const { dir, out, step } = o;
  const port = await freePort();
  const setup = await step('setup: private CA, TLS server cert, nkeys + permissions, party identities', () =>
    setupPartySet({ dir: join(dir, 'parties'), parties: 3, natsPort: port, httpBasePort: 0, math: o.backend }),
  );
  for (let i = 0; i < 3; i++) {
    await addCachedPrimes(setup.partyConfigs[i] as string, o.primes.slice(2 * i, 2 * i + 2));
  }
  const nats = await step(`nats-server on 127.0.0.1:${port} (TLS, per-party credentials)`, () =>
    runNatsServer(setup.nats.serverConfigFile),
  );
  const parties: SpawnedParty[] = [];
  const cli = process.argv[1] as string;
  try {
    await step('start 3 party daemons (separate processes, encrypted file stores)', async () => {
      for (const c of setup.partyConfigs) parties.push(await spawnParty(cli, c, { drainMs: 5000 }));
    });
    for (const [i, p] of parties.entries()) out(`  party ${i}: pid ${p.proc.pid}, health and metrics at ${p.url}`);
    const coord = await connectCoordinator(setup.coordinatorConfig);
    try {
      const c = coord.coordinator;
      const Y = await step('keygen: 2-of-3 Feldman VSS with Schnorr proofs, echo broadcast, over NATS', () =>
        c.keygen({ keyId: 'demo', threshold: 2, parties: 3 }),
      );
      out(`  public key ${bytesToHex(encodePoint(Y))}`);
      await step('aux info: 3072-bit Paillier-Blum moduli, ring-Pedersen, Πprm/Πmod/Πfac', () =>
        c.auxInfo({ keyId: 'demo', parties: 3 }),
      );
      // Ethereum's m/44'/60'/… needs hardened steps; threshold keys derive non-hardened only: m/0/0.
      const presigs: PresignaturePublic[] = await step(
        'presign ×3 (parties 0 and 1, path m/0/0): Πenc, Πaff-g, Πlog*',
        async () => {
          const r: PresignaturePublic[] = [];
          for (let k = 0; k < 3; k++) r.push(await c.presign({ keyId: 'demo', signers: [0, 1], path: [0, 0] }));
          return r;
        },
      );
      const pre = presigs[0] as PresignaturePublic;
      const childPk = pre.publicKey.toBytes(false);
      out(`  derived account ${address(childPk)}`);
      const tx = new TextEncoder().encode(
        `{"chainId":1,"nonce":7,"to":"0x52908400098527886E0F7030069857D2E4169EE7","value":"1500000000000000000"}`,
      );
      const digest = keccak_256(tx);
      const sig = await step('sign the transaction hash (one message each way) and verify', () =>
        c.sign({ keyId: 'demo', presignature: pre, digest }),
      );
      const ok = secp256k1.verify(sig.compact, digest, encodePoint(pre.publicKey), { prehash: false, lowS: true });
      const recovered = new secp256k1.Signature(sig.r, sig.s, sig.recovery).recoverPublicKey(digest).toBytes(false);
      out(`  tx hash ${bytesToHex(digest)}`);
      out(`  signature r=${sig.r.toString(16)} s=${sig.s.toString(16)} v=${27 + sig.recovery}`);
      out(`  @noble/curves verify: ${ok ? 'valid' : 'INVALID'}; recovered signer ${address(recovered)}`);
      const t0 = performance.now();
      const sig2 = await c.sign({ keyId: 'demo', presignature: presigs[1] as PresignaturePublic, digest });
      out(`  a second signature from the pool took ${(performance.now() - t0).toFixed(1)} ms end to end`);
      try {
        await c.sign({ keyId: 'demo', presignature: pre, digest });
        out('  ✗ a presignature was used twice: this must never happen');
        return 1;
      } catch (e) {
        out(`  reusing a presignature is refused by the parties: ${(e as Error).message}`);
      }
      return ok && sig2.r !== sig.r && address(recovered) === address(childPk) ? 0 : 1;
    } finally {
      await coord.close();
    }
  } finally {
    await Promise.all(parties.map((p) => p.stop()));
    await nats.kill();
  }
}
