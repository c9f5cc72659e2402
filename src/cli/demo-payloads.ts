import { Psbt, payments } from 'bitcoinjs-lib';
import { getBytes, Interface, Transaction } from 'ethers';
import { btcNetwork } from '../chains/btc-network.js';
import { type BtcNetwork, type ChainKey, childPublicKey, rootFingerprint } from '../chains/index.js';
import { encodePoint } from '../primitives/curve.js';

/**
 * Unsigned payloads for the demo and the daemon tests: what a wallet would hand to custody. They are
 * built with the same libraries src/chains parses with (ethers, bitcoinjs-lib); the tests verify the
 * signed results with independent ones.
 */

/** An unsigned EIP-1559 ERC-20 transfer (USDT-like token on mainnet): 250 tokens of 6 decimals. */
export function demoErc20Transfer(nonce = 0): Uint8Array {
  const data = new Interface(['function transfer(address to, uint256 amount)']).encodeFunctionData('transfer', [
    '0x52908400098527886E0F7030069857D2E4169EE7',
    250_000_000n,
  ]);
  const tx = Transaction.from({
    type: 2,
    chainId: 1n,
    nonce,
    to: '0xdAC17F958D2ee523a2206206994597C13D831ec7',
    value: 0n,
    gasLimit: 65_000n,
    maxFeePerGas: 30_000_000_000n,
    maxPriorityFeePerGas: 1_000_000_000n,
    data,
  });
  return getBytes(tx.unsignedSerialized);
}

/**
 * An unsigned PSBT spending one P2WPKH output of `key` per path (amounts `values`, outpoints made
 * up), paying 0.001 BTC to an external address and the rest minus a 1000 sat fee to change at
 * `changePath`; every input and the change output carry their BIP32 derivation record.
 */
export function demoPsbt(
  key: ChainKey,
  inputs: ReadonlyArray<{ path: number[]; value: bigint }>,
  changePath: number[],
  networkName: BtcNetwork = 'regtest',
): Uint8Array {
  const network = btcNetwork(networkName);
  const fp = new Uint8Array(4);
  new DataView(fp.buffer).setUint32(0, rootFingerprint(key));
  const psbt = new Psbt({ network });
  inputs.forEach((x, i) => {
    const pubkey = encodePoint(childPublicKey(key, x.path));
    psbt.addInput({
      hash: new Uint8Array(32).fill(0xa0 + i),
      index: i,
      witnessUtxo: { script: payments.p2wpkh({ pubkey, network }).output as Uint8Array, value: x.value },
      bip32Derivation: [{ masterFingerprint: fp, pubkey, path: `m/${x.path.join('/')}` }],
    });
  });
  const total = inputs.reduce((s, x) => s + x.value, 0n);
  const external = payments.p2wpkh({ hash: new Uint8Array(20).fill(0x5a), network }).output as Uint8Array;
  psbt.addOutput({ script: external, value: 100_000n });
  const change = encodePoint(childPublicKey(key, changePath));
  psbt.addOutput({
    script: payments.p2wpkh({ pubkey: change, network }).output as Uint8Array,
    value: total - 101_000n,
  });
  psbt.updateOutput(1, {
    bip32Derivation: [{ masterFingerprint: fp, pubkey: change, path: `m/${changePath.join('/')}` }],
  });
  return psbt.toBuffer();
}
