import { ripemd160 } from '@noble/hashes/legacy.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bech32 } from '@scure/base';
import { publicKeyToAddress } from 'viem/accounts';
import { describe, expect, it } from 'vitest';
import { addressAt, rootFingerprint, xpub } from '../../src/chains/index.js';
import { decodePoint, encodePoint } from '../../src/primitives/curve.js';
import { derivePath } from '../../src/protocol/hd.js';
import { errorCode } from '../helpers/failure.js';
import { bip32, hex, testKey } from './helpers.js';

const MAX_INDEX = 2 ** 31 - 1;
const PATHS = [
  [],
  [0],
  [MAX_INDEX],
  [0, 1],
  [44, MAX_INDEX, 7],
  [1, 2, 3, 4, MAX_INDEX],
  [MAX_INDEX, MAX_INDEX, MAX_INDEX],
];

describe('xpub', () => {
  it('reproduces the BIP32 test vector 1 master xpub from its public key and chain code', () => {
    const vector =
      'xpub661MyMwAqRbcFtXgS5sYJABqqG9YLmC4Q1Rdap9gSE8NqtwybGhePY2gZ29ESFjqJoCu1Rupje8YtGqsefD265TMg7usUDFdp6W1EGMcet8';
    const node = bip32.fromBase58(vector);
    const key = { publicKey: decodePoint(node.publicKey), chainCode: node.chainCode };
    expect(xpub(key, 'mainnet')).toBe(vector);
    expect(rootFingerprint(key)).toBe(Buffer.from(node.fingerprint).readUInt32BE(0));
  });

  for (const network of ['mainnet', 'testnet', 'regtest'] as const) {
    it(`${network}: child keys a standard BIP32 library derives from the xpub equal the parties' (hd.ts)`, () => {
      const key = testKey(3);
      const x = xpub(key, network);
      expect(x.slice(0, 4)).toBe(network === 'mainnet' ? 'xpub' : 'tpub');
      const net = network === 'mainnet' ? undefined : { ...bitcoinTestnetVersions() };
      const node = bip32.fromBase58(x, net as never);
      expect(node.depth).toBe(0);
      for (const path of PATHS) {
        const theirs = path.reduce((n, i) => n.derive(i), node);
        const ours = derivePath(key.publicKey, key.chainCode, path);
        expect(hex(theirs.publicKey)).toBe(hex(encodePoint(ours.publicKey)));
        expect(hex(theirs.chainCode)).toBe(hex(ours.chainCode));
      }
    });
  }

  it('refuses an unknown network with a typed error', () => {
    expect(errorCode(() => xpub(testKey(1), 'signet' as never))).toBe('ERR_CHAIN_NETWORK_UNKNOWN');
  });
});

function bitcoinTestnetVersions() {
  return {
    messagePrefix: '\x18Bitcoin Signed Message:\n',
    bech32: 'tb',
    bip32: { public: 0x043587cf, private: 0x04358394 },
    pubKeyHash: 0x6f,
    scriptHash: 0xc4,
    wif: 0xef,
  };
}

describe('addresses', () => {
  const key = testKey(5);
  const node = bip32.fromBase58(xpub(key));
  for (const path of PATHS) {
    it(`at ${path.join('/') || 'the root'} equal what wallets derive (viem, bech32 by hand from bip32)`, () => {
      const child = path.reduce((n, i) => n.derive(i), node);
      const uncompressed = `0x${hex(decodePoint(child.publicKey).toBytes(false))}` as const;
      expect(addressAt(key, path, 'ethereum')).toBe(publicKeyToAddress(uncompressed));
      const program = ripemd160(sha256(child.publicKey));
      for (const [network, hrp] of [
        ['mainnet', 'bc'],
        ['testnet', 'tb'],
        ['regtest', 'bcrt'],
      ] as const) {
        const expected = bech32.encode(hrp, [0, ...bech32.toWords(program)]);
        expect(addressAt(key, path, 'bitcoin', network)).toBe(expected);
      }
    });
  }

  it('refuses a hardened path and an unknown chain', () => {
    expect(errorCode(() => addressAt(key, [2 ** 31], 'ethereum'))).toBe('ERR_PROTOCOL_INPUT');
    expect(errorCode(() => addressAt(key, [0], 'solana' as never))).toBe('ERR_CHAIN_KIND_UNKNOWN');
  });
});
