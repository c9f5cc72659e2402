import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { assemblePayload, decodePayload, xpub } from '../chains/index.js';
import { findNatsServer } from '../daemon/nats-server-process.js';
import { MathPool } from '../math/pool.js';
import { systemRng } from '../math/random.js';
import { BACKEND_NAMES, loadBackend, selectBackend } from '../math/select.js';
import { encodePoint } from '../primitives/curve.js';
import { PrimePool } from '../primitives/prime-pool.js';
import type { AuxInfo, KeyShare } from '../protocol/key-share.js';
import { validateKeyShare } from '../protocol/key-share-validate.js';
import { type LocalOptions, runAuxInfo, runKeygen, runPresign, signDigest } from '../protocol/local.js';
import { MemoryPresignatureLedger } from '../protocol/sign.js';
import { FilePrimeStore, primeCachePath } from '../storage/prime-cache-file.js';
import { SoftwareSealer } from '../storage/software-sealer.js';
import { SECURITY } from '../zk/params.js';
import { demoOverNats } from './demo-nats.js';
import { demoErc20Transfer, demoPsbt } from './demo-payloads.js';

/**
 * `npm run demo` on embedded defaults: three custodian parties, a 2-of-3 key, fresh 3072-bit
 * Paillier keys from safe primes generated on the worker pool, presignatures, and an
 * Ethereum-style signature verified independently. With a nats-server on PATH the parties are
 * separate daemon processes talking over TLS NATS, enforcing setup's policy, and everything goes
 * through the orchestrator's REST API (demo-nats.ts); otherwise they run in this process over the
 * in-memory transport.
 */
export async function demoCommand(out: (line: string) => void): Promise<number> {
  const timings: Array<[string, number]> = [];
  const step = async <T>(label: string, fn: () => T | Promise<T>): Promise<T> => {
    out(`… ${label}`);
    const t0 = performance.now();
    const r = await fn();
    const ms = performance.now() - t0;
    timings.push([label, ms]);
    out(`✓ ${label} (${(ms / 1000).toFixed(2)} s)`);
    return r;
  };

  const summary = () => {
    out('\ntiming summary:');
    for (const [label, ms] of timings) out(`  ${(ms / 1000).toFixed(2).padStart(7)} s  ${label}`);
  };
  out('mpc-custody demo — CGGMP24 threshold ECDSA on secp256k1, 2-of-3');
  for (const name of BACKEND_NAMES) {
    try {
      loadBackend(name);
      out(`  math backend ${name.padEnd(6)} self-test passed`);
    } catch (e) {
      out(`  math backend ${name.padEnd(6)} unavailable: ${(e as Error).message}`);
    }
  }
  const math = selectBackend({ log: (l) => out(`  ${l}`) });
  out(
    `  using the ${math.name} backend${math.name === 'js' ? ' (slow: expect minutes; install libgmp-dev for native)' : ''}`,
  );

  const dir = await mkdtemp(join(tmpdir(), 'mpc-custody-demo-'));
  const pool = new MathPool({ backend: math.name });
  try {
    await pool.warmUp();
    // the demo's own stock, sealed under a key that lives only in this process
    const store = new FilePrimeStore({
      path: primeCachePath(dir, 'safe', SECURITY.primeBits),
      sealer: new SoftwareSealer(randomBytes(32)),
      partyId: 0,
      kind: 'safe',
      bits: SECURITY.primeBits,
    });
    const primes = new PrimePool({
      pool,
      store,
      bits: SECURITY.primeBits,
      kind: 'safe',
      target: 6,
      onProgress: (have, target) => out(`  safe prime ${have}/${target}`),
    });
    await step(`generate 6 safe 1536-bit primes on ${pool.threads} worker threads (cached in ${dir})`, () =>
      primes.fill(),
    );
    // MPC_DEMO_TRANSPORT=memory forces the in-process run even with a nats-server installed
    if (process.env.MPC_DEMO_TRANSPORT !== 'memory' && findNatsServer() !== undefined) {
      const code = await demoOverNats({ dir, backend: math.name, primes: await primes.take(6), out, step });
      summary();
      return code;
    }
    out('  no nats-server (or MPC_DEMO_TRANSPORT=memory): the three parties run in this process (in-memory transport)');

    const opts: LocalOptions = { math, sid: `demo-${Date.now()}`, rng: () => systemRng };
    const core = await step('keygen: 2-of-3 Feldman VSS with Schnorr proofs, echo broadcast', () =>
      runKeygen(3, 2, opts),
    );
    const pairs = await Promise.all(
      [0, 1, 2].map(async () => {
        const [p, q] = await primes.take(2);
        return { p: p as bigint, q: q as bigint };
      }),
    );
    const aux = await step('aux info: 3072-bit Paillier-Blum moduli, ring-Pedersen, Πprm/Πmod/Πfac', () =>
      runAuxInfo(pairs, opts),
    );
    const shares: KeyShare[] = core.map((c, i) => validateKeyShare(math, { core: c, aux: aux[i] as AuxInfo }));
    const Y = shares[0]?.core.publicKey;
    if (Y === undefined) throw new Error('keygen produced no key');
    const address = (pk: Uint8Array) => `0x${bytesToHex(keccak_256(pk.subarray(1)).subarray(12))}`;
    out(`  public key ${bytesToHex(encodePoint(Y))}`);

    // Ethereum account m/44/60/0/0/0 needs hardened steps; threshold keys derive non-hardened only, so use m/0/0.
    const path = [0, 0];
    const presigs = await step('presign ×3 (parties 1 and 2, path m/0/0): Πenc-elg, Πaff-g, Πelog', () =>
      [0, 1, 2].map((k) => runPresign(shares, [0, 1], path, { ...opts, sid: `${opts.sid}/${k}` })),
    );
    const child = presigs[0]?.[0]?.publicKey;
    if (child === undefined) throw new Error('presign produced no output');
    const childPk = child.toBytes(false);
    out(`  derived account ${address(childPk)}`);

    // a real EIP-1559 ERC-20 transfer: every party decodes it and computes the digest itself
    const key = { publicKey: Y, chainCode: shares[0]?.core.chainCode as Uint8Array };
    out(`  xpub ${xpub(key)}`);
    const txBytes = demoErc20Transfer(7);
    const decoded = decodePayload('eth.transaction', txBytes);
    out(`  decoded: ${JSON.stringify(decoded.fields.erc20)} on chain ${decoded.fields.chainId}`);
    const digest = (decoded.digests[0] as { digest: Uint8Array }).digest;
    const ledgers = [new MemoryPresignatureLedger(), new MemoryPresignatureLedger()];
    const sig = await step('sign the EIP-1559 transfer (one online round) and assemble the raw transaction', () =>
      signDigest(presigs[0] as never, digest, ledgers),
    );
    const raw = assemblePayload('eth.transaction', txBytes, [{ signature: sig, publicKey: child }]);
    const ok = secp256k1.verify(sig.compact, digest, encodePoint(child), { prehash: false, lowS: true });
    const recovered = new secp256k1.Signature(sig.r, sig.s, sig.recovery).recoverPublicKey(digest).toBytes(false);
    out(`  signed raw transaction ${raw.hex}`);
    out(`  @noble/curves verify: ${ok ? 'valid' : 'INVALID'}; recovered sender ${address(recovered)}`);
    try {
      signDigest(presigs[0] as never, digest, ledgers);
      out('  ✗ a presignature was used twice: this must never happen');
      return 1;
    } catch (e) {
      out(`  reusing the presignature is refused: ${(e as { code?: string }).code}`);
    }
    // a regtest PSBT spending P2WPKH outputs at two paths: one presignature per input, bound to its path
    const inputs = [
      { path: [0, 1], value: 150_000n },
      { path: [1, 3], value: 80_000n },
    ];
    const psbt = demoPsbt(key, inputs, [1, 9], 'regtest');
    const btc = decodePayload('btc.psbt', psbt, { key, network: 'regtest' });
    const btcSigs = await step('presign per PSBT input path and sign both inputs (BIP143)', () =>
      btc.digests.map((d, k) => {
        const pre = runPresign(shares, [0, 1], d.path as number[], { ...opts, sid: `${opts.sid}/psbt-${k}` });
        const l = [new MemoryPresignatureLedger(), new MemoryPresignatureLedger()];
        return { signature: signDigest(pre, d.digest, l), publicKey: (pre[0] as (typeof pre)[0]).publicKey };
      }),
    );
    const finalTx = assemblePayload('btc.psbt', psbt, btcSigs, { key, network: 'regtest' });
    out(`  PSBT fee ${btc.fields.fee} sat; outputs ${JSON.stringify(btc.fields.outputs)}`);
    out(`  finalized transaction ${finalTx.hex} (txid ${finalTx.fields.txid})`);
    summary();
    return ok && address(recovered) === address(childPk) ? 0 : 1;
  } finally {
    await pool.close();
    await rm(dir, { recursive: true, force: true });
  }
}
