import { getBytes } from 'ethers';
import { type Hex, recoverTransactionAddress, serializeTransaction } from 'viem';
import { publicKeyToAddress } from 'viem/accounts';
import { beforeAll, describe, expect, it } from 'vitest';
import { assemblePayload, decodePayload, type SigningDigest, xpub } from '../../src/chains/index.js';
import { decodePoint } from '../../src/primitives/curve.js';
import { runPresign, signDigest } from '../../src/protocol/local.js';
import { MemoryPresignatureLedger } from '../../src/protocol/sign.js';
import { type DealtKey, dealKeyShares } from '../helpers/dealer.js';
import { TestDrbg } from '../helpers/drbg.js';
import { math } from '../helpers/keys.js';
import { bip32, hex } from './helpers.js';

/**
 * Chain payloads signed by the real protocol (dealt 2-of-3 shares with fixture primes, CGGMP
 * presigning bound to the path, one round of partial signatures), checked by viem.
 */
let dealt: DealtKey;
beforeAll(async () => {
  dealt = await dealKeyShares({ n: 3, t: 2, seed: 'chains-protocol' });
});

function thresholdSign(path: number[], d: SigningDigest, label: string) {
  const presigs = runPresign(dealt.shares, [0, 2], path, {
    math,
    sid: `chains-${label}`,
    rng: (i, l) => new TestDrbg(`chains-${label}-${l}-${i}`),
  });
  const first = presigs[0];
  if (first === undefined) throw new Error('no presignature');
  const signature = signDigest(presigs, d.digest, [new MemoryPresignatureLedger(), new MemoryPresignatureLedger()]);
  return { signature, publicKey: first.publicKey };
}

describe('chain payloads signed by the threshold protocol', () => {
  it('an EIP-1559 transfer signed 2-of-3 recovers (viem) to the xpub-derived address at the presignature path', async () => {
    const path = [0, 42];
    const unsigned = serializeTransaction({
      type: 'eip1559',
      chainId: 1,
      nonce: 0,
      to: '0x3333333333333333333333333333333333333333',
      value: 10n ** 16n,
      gas: 21_000n,
      maxFeePerGas: 20_000_000_000n,
      maxPriorityFeePerGas: 1_000_000_000n,
    });
    const bytes = getBytes(unsigned);
    const d = decodePayload('eth.transaction', bytes);
    const signed = thresholdSign(path, d.digests[0] as SigningDigest, 'eip1559');
    const raw = assemblePayload('eth.transaction', bytes, [signed]).hex as Hex;
    const key = { publicKey: dealt.publicKey, chainCode: dealt.chainCode };
    const child = path.reduce((n, i) => n.derive(i), bip32.fromBase58(xpub(key)));
    const expected = publicKeyToAddress(`0x${hex(decodePoint(child.publicKey).toBytes(false))}`);
    expect(await recoverTransactionAddress({ serializedTransaction: raw as never })).toBe(expected);
  });
});
