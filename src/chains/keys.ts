import { HDKey, type Versions } from '@scure/bip32';
import { payments } from 'bitcoinjs-lib';
import { computeAddress } from 'ethers';
import { encodePoint, type Point } from '../primitives/curve.js';
import { derivePath } from '../protocol/hd.js';
import { btcNetwork } from './btc-network.js';
import { BTC_NETWORKS, type BtcNetwork, type ChainKey, chainError } from './types.js';

/**
 * Key metadata for wallets (issue #12): the threshold key's xpub and its addresses at a path.
 * Serialization is @scure/bip32's (base58check, version bytes, depth 0, no parent); derivation is
 * the parties' own (src/protocol/hd.ts), so an address printed here is the one presignatures at that
 * path sign for. Tests check both against an independent BIP32 library.
 */

/** BIP32 version bytes: xpub/xprv on mainnet, tpub/tprv on testnet and regtest. */
export const XPUB_VERSIONS: Readonly<Record<BtcNetwork, Versions>> = {
  mainnet: { public: 0x0488b21e, private: 0x0488ade4 },
  testnet: { public: 0x043587cf, private: 0x04358394 },
  regtest: { public: 0x043587cf, private: 0x04358394 },
};

export function assertNetwork(network: unknown): asserts network is BtcNetwork {
  if (!BTC_NETWORKS.includes(network as BtcNetwork)) {
    throw chainError('ERR_CHAIN_NETWORK_UNKNOWN', 'network must be mainnet, testnet or regtest');
  }
}

function rootHdKey(key: ChainKey, network: BtcNetwork): HDKey {
  assertNetwork(network);
  return new HDKey({
    publicKey: encodePoint(key.publicKey),
    chainCode: key.chainCode,
    versions: XPUB_VERSIONS[network],
  });
}

/** The key's extended public key (depth 0): the root every path in a PSBT is relative to. */
export function xpub(key: ChainKey, network: BtcNetwork = 'mainnet'): string {
  return rootHdKey(key, network).publicExtendedKey;
}

/** BIP32 fingerprint of the root key (first 4 bytes of HASH160(Y)), as PSBT derivation records carry it. */
export function rootFingerprint(key: ChainKey): number {
  return rootHdKey(key, 'mainnet').fingerprint;
}

/** The child public key at a non-hardened path (the parties' derivation). */
export function childPublicKey(key: ChainKey, path: readonly number[]): Point {
  return derivePath(key.publicKey, key.chainCode, path).publicKey;
}

/** EIP-55 checksummed Ethereum address of a public key. */
export function ethereumAddress(publicKey: Point): string {
  return computeAddress(`0x${Buffer.from(encodePoint(publicKey)).toString('hex')}`);
}

/** Native segwit v0 (P2WPKH, bech32) address of a public key. */
export function p2wpkhAddress(publicKey: Point, network: BtcNetwork = 'mainnet'): string {
  const address = payments.p2wpkh({ pubkey: encodePoint(publicKey), network: btcNetwork(network) }).address;
  if (address === undefined) throw chainError('ERR_CHAIN_UNSUPPORTED', 'no P2WPKH address for this key');
  return address;
}

export type AddressChain = 'ethereum' | 'bitcoin';

/** The address of the key at `path` on a chain (bitcoin: P2WPKH on `network`). */
export function addressAt(
  key: ChainKey,
  path: readonly number[],
  chain: AddressChain,
  network: BtcNetwork = 'mainnet',
): string {
  const child = childPublicKey(key, path);
  if (chain === 'ethereum') return ethereumAddress(child);
  if (chain === 'bitcoin') return p2wpkhAddress(child, network);
  throw chainError('ERR_CHAIN_KIND_UNKNOWN', 'chain must be ethereum or bitcoin');
}
