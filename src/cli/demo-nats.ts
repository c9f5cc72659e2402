import { join } from 'node:path';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { Transaction } from 'ethers';
import { addressAt, xpub } from '../chains/index.js';
import { connectCoordinator } from '../daemon/coordinator-client.js';
import { addCachedPrimes } from '../daemon/main.js';
import { runNatsServer } from '../daemon/nats-server-process.js';
import { setupPartySet } from '../daemon/setup.js';
import { freePort, type SpawnedParty, spawnParty } from '../daemon/spawn-party.js';
import type { BackendName } from '../math/raw.js';
import { encodePoint } from '../primitives/curve.js';
import type { PresignaturePublic } from '../protocol/sign.js';
import { verifyAuditStream } from './audit-command.js';
import { demoErc20Transfer, demoPsbt } from './demo-payloads.js';

const AUDIT_DEPLOYMENT = 'demo';

type Step = <T>(label: string, fn: () => T | Promise<T>) => Promise<T>;

const address = (pk: Uint8Array) => `0x${bytesToHex(keccak_256(pk.subarray(1)).subarray(12))}`;

/**
 * The demo over a local nats-server: `mpc-custody setup` in a temp dir (TLS, nkeys, permissions),
 * three `mpc-custody party` processes with encrypted file stores, and a coordinator that runs
 * keygen 2-of-3, aux info, presigning and one signature. `primes[i]` seed party i's prime cache.
 * The parties ship their signed audit records to JetStream; at the end the auditor's credential
 * (read-only) reads the stream and verifies every chain, as `mpc-custody audit verify` does.
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
    setupPartySet({
      dir: join(dir, 'parties'),
      parties: 3,
      natsPort: port,
      httpBasePort: 0,
      math: o.backend,
      // the demo drives the coordinator alone: the explicit opt-out (each party warns at start)
      policy: 'off',
      // every party ships its signed audit records to JetStream (stream AUDIT_demo)
      audit: AUDIT_DEPLOYMENT,
    }),
  );
  for (let i = 0; i < 3; i++) {
    await addCachedPrimes(setup.partyConfigs[i] as string, o.primes.slice(2 * i, 2 * i + 2));
  }
  const nats = await step(`nats-server on 127.0.0.1:${port} (TLS, per-party credentials, JetStream)`, () =>
    runNatsServer(setup.nats.serverConfigFile),
  );
  const parties: SpawnedParty[] = [];
  const cli = process.argv[1] as string;
  let code = 1;
  try {
    await step('start 3 party daemons (separate processes, encrypted file stores)', async () => {
      for (const c of setup.partyConfigs) parties.push(await spawnParty(cli, c, { drainMs: 5000 }));
    });
    for (const [i, p] of parties.entries()) out(`  party ${i}: pid ${p.proc.pid}, health and metrics at ${p.url}`);
    out(
      '  policy: OFF in this demo (the coordinator alone drives signing; each party warns at start). A deployment from `mpc-custody setup` enforces the co-signer check by default.',
    );
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
        'presign ×3 (parties 0 and 1, path m/0/0): Πenc-elg, Πaff-g, Πelog',
        async () => {
          const r: PresignaturePublic[] = [];
          for (let k = 0; k < 3; k++) r.push(await c.presign({ keyId: 'demo', signers: [0, 1], path: [0, 0] }));
          return r;
        },
      );
      const pre = presigs[0] as PresignaturePublic;
      const childPk = pre.publicKey.toBytes(false);
      out(`  derived account ${address(childPk)}`);
      const key = await c.keyInfo({ keyId: 'demo', parties: [0, 1, 2] });
      out(`  xpub ${xpub(key)}`);
      const transfer = demoErc20Transfer(7);
      const eth = await step(
        'sign a real EIP-1559 ERC-20 transfer: each party decodes it and computes the digest',
        () => c.signPayload({ keyId: 'demo', kind: 'eth.transaction', payload: transfer, presignatures: [pre] }),
      );
      const sig = eth.signatures[0] as (typeof eth.signatures)[0];
      const sender = Transaction.from(eth.artifact.hex).from;
      const expected = addressAt(key, [0, 0], 'ethereum');
      out(`  decoded: ${JSON.stringify(eth.decoded.fields.erc20)} on chain ${eth.decoded.fields.chainId}`);
      out(`  signed raw transaction ${eth.artifact.hex}`);
      out(`  sender ${sender} (${sender === expected ? 'the key’s address at m/0/0' : 'WRONG'})`);
      const t0 = performance.now();
      const eth2 = await c.signPayload({
        keyId: 'demo',
        kind: 'eth.transaction',
        payload: demoErc20Transfer(8),
        presignatures: [presigs[1] as PresignaturePublic],
      });
      out(`  a second transfer from the pool took ${(performance.now() - t0).toFixed(1)} ms end to end`);
      try {
        await c.signPayload({ keyId: 'demo', kind: 'eth.transaction', payload: transfer, presignatures: [pre] });
        out('  ✗ a presignature was used twice: this must never happen');
        return code;
      } catch (e) {
        out(`  reusing a presignature is refused by the parties: ${(e as Error).message}`);
      }
      const inputs = [
        { path: [0, 1], value: 150_000n },
        { path: [1, 3], value: 80_000n },
      ];
      const psbt = demoPsbt(key, inputs, [1, 9], 'regtest');
      const psbtPresigs = await step('presign once per PSBT input, each bound to its input’s path', async () => {
        const r: PresignaturePublic[] = [];
        for (const x of inputs) r.push(await c.presign({ keyId: 'demo', signers: [0, 1], path: x.path }));
        return r;
      });
      const btc = await step('sign a 2-input regtest PSBT (BIP143 per input) and finalize it', () =>
        c.signPayload({
          keyId: 'demo',
          kind: 'btc.psbt',
          payload: psbt,
          network: 'regtest',
          presignatures: psbtPresigs,
        }),
      );
      out(`  PSBT fee ${btc.decoded.fields.fee} sat; outputs ${JSON.stringify(btc.decoded.fields.outputs)}`);
      out(`  finalized transaction ${btc.artifact.hex} (txid ${btc.artifact.fields.txid})`);
      const ok = sender === expected && eth2.artifact.hex !== eth.artifact.hex && sig.r > 0n;
      code = ok ? 0 : 1;
    } finally {
      await coord.close();
    }
    // a stopping party ships what its ledger still holds, so the stream is complete after this
    await Promise.all(parties.splice(0).map((p) => p.stop()));
    const audit = await step('audit verify with the read-only auditor credential (TLS + nkey)', () =>
      verifyAuditStream({
        roster: setup.rosterFile,
        deployment: AUDIT_DEPLOYMENT,
        natsConfig: setup.nats.auditor?.configFile ?? '',
      }),
    );
    const perParty = Object.entries(audit.emitters)
      .filter(([id]) => id.startsWith('party-'))
      .map(([id, e]) => `${id} ${e.records}`)
      .join(', ');
    out(
      `  audit: records per party ${perParty}; ${audit.ok ? `chains verified (${audit.records} records)` : `BROKEN ${JSON.stringify(audit.firstBreak)}`}`,
    );
    return audit.ok ? code : 1;
  } finally {
    await Promise.all(parties.map((p) => p.stop()));
    await nats.kill();
  }
}
