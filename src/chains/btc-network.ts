import { type Network, networks } from 'bitcoinjs-lib';
import type { BtcNetwork } from './types.js';

/** bitcoinjs-lib's network parameters (bech32 prefix bc / tb / bcrt) for a network name. */
export function btcNetwork(name: BtcNetwork): Network {
  return name === 'mainnet' ? networks.bitcoin : name === 'testnet' ? networks.testnet : networks.regtest;
}
