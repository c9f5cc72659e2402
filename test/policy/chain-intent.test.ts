/**
 * Policy intents from real chain payloads: the bytes go through src/chains' decoders and
 * intentFromPayload, and the reference policy decides on what they really do (calldata decoded
 * into token transfers, PSBT change left out, raw digests with nothing to check).
 */
import { readFileSync } from 'node:fs';
import { Psbt, payments } from 'bitcoinjs-lib';
import { encodeFunctionData, erc20Abi, type Hex, serializeTransaction } from 'viem';
import { describe, expect, it } from 'vitest';
import { btcNetwork } from '../../src/chains/btc-network.js';
import { type ChainKey, decodePayload, xpub } from '../../src/chains/index.js';
import { evaluatePolicy, intentFromPayload, type PolicyIntent, parsePolicy } from '../../src/policy/index.js';
import { typedData } from '../chains/fixtures.js';
import { bip32, hex, testKey } from '../chains/helpers.js';

const policy = parsePolicy(readFileSync(new URL('../fixtures/policy/reference-policy.yaml', import.meta.url), 'utf8'));
const key = testKey(21);
const chainKey: ChainKey = { publicKey: key.publicKey, chainCode: key.chainCode };
const NOW = Date.UTC(2026, 11, 2, 12) / 1000;
const USDC = '0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48';
const EXCHANGE = '0x1111111111111111111111111111111111111111';
const STRANGER = '0x4444444444444444444444444444444444444444';
const b = (h: Hex) => Uint8Array.from(Buffer.from(h.slice(2), 'hex'));

function intent(kind: string, bytes: Uint8Array, path?: number[]): PolicyIntent {
  const decoded = intentFromPayload(decodePayload(kind, bytes, { key: chainKey }), path);
  return { ...decoded, keyId: 'warm', initiator: { id: 'alice', roles: ['initiator'], groups: [] } };
}
const decide = (i: PolicyIntent) => {
  const d = evaluatePolicy(policy, i, { now: NOW, history: [] });
  return [d.action, d.ruleId];
};
const tx = (o: { to: Hex; value?: bigint; data?: Hex; chainId?: number }) =>
  b(
    serializeTransaction({
      type: 'eip1559',
      chainId: o.chainId ?? 1,
      nonce: 1,
      to: o.to,
      value: o.value ?? 0n,
      gas: 90_000n,
      maxFeePerGas: 30_000_000_000n,
      maxPriorityFeePerGas: 1_000_000_000n,
      ...(o.data === undefined ? {} : { data: o.data }),
    }),
  );

describe('intentFromPayload', () => {
  it('a plain EIP-1559 ether transfer', () => {
    const i = intent('eth.transaction', tx({ to: EXCHANGE, value: 3n * 10n ** 18n }), [0, 3]);
    expect(i).toMatchObject({ operation: 'transfer', chain: 'eth', chainId: 1, paths: [[0, 3]] });
    expect(i.transfers).toEqual([{ asset: 'ETH', destination: EXCHANGE, amount: 3n * 10n ** 18n }]);
    expect(decide(i)).toEqual(['allow', 'whitelisted']);
  });

  it('an ERC-20 transfer decoded from calldata: the token, the real recipient and amount', () => {
    const data = encodeFunctionData({ abi: erc20Abi, functionName: 'transfer', args: [STRANGER, 60_000_000_000n] });
    const i = intent('eth.transaction', tx({ to: USDC, data }), [0, 0]);
    expect(i.operation).toBe('token_transfer');
    expect(i.transfers).toEqual([
      { asset: `erc20:${USDC.toLowerCase()}`, destination: STRANGER, amount: 60_000_000_000n },
    ]);
    expect(decide(i)).toEqual(['require_approvals', 'usdc-large']);
  });

  it('an ERC-20 approve: the spender is the destination', () => {
    const data = encodeFunctionData({ abi: erc20Abi, functionName: 'approve', args: [STRANGER, 1n] });
    const i = intent('eth.transaction', tx({ to: USDC, data }), [0, 0]);
    expect(i.operation).toBe('token_approve');
    expect(i.transfers[0]?.destination).toBe(STRANGER);
    expect(decide(i)).toEqual(['require_approvals', 'token-approve']);
  });

  it('other calldata is a contract call whose destination is the contract', () => {
    const i = intent('eth.transaction', tx({ to: STRANGER, data: '0xdeadbeef' }), [0, 0]);
    expect(i.operation).toBe('contract_call');
    expect(i.transfers).toEqual([{ asset: 'ETH', destination: STRANGER, amount: 0n }]);
    expect(decide(i)).toEqual(['block', '_default_deny']);
  });

  it('a chain id from the transaction decides the Sepolia rule', () => {
    expect(
      decide(intent('eth.transaction', tx({ to: STRANGER, value: 5n * 10n ** 18n, chainId: 11155111 }), [0, 0])),
    ).toEqual(['allow', 'sepolia']);
  });

  it('a PSBT: non-change outputs are transfers, input paths come from the PSBT', () => {
    const network = btcNetwork('mainnet');
    const node = bip32.fromBase58(xpub(chainKey));
    const psbt = new Psbt({ network });
    for (const [k, path] of [
      [0, 0],
      [1, 4],
    ].entries()) {
      const child = path.reduce((n, j) => n.derive(j), node);
      psbt.addInput({
        hash: hex(new Uint8Array(32).fill(k + 1)),
        index: k,
        witnessUtxo: {
          script: payments.p2wpkh({ pubkey: child.publicKey, network }).output as Uint8Array,
          value: 60_000n,
        },
        bip32Derivation: [
          { masterFingerprint: node.fingerprint, pubkey: child.publicKey, path: `m/${path.join('/')}` },
        ],
      });
    }
    psbt.addOutput({ address: 'bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq', value: 1_500n });
    const change = [1, 9].reduce((n, j) => n.derive(j), node);
    psbt.addOutput({
      script: payments.p2wpkh({ pubkey: change.publicKey, network }).output as Uint8Array,
      value: 118_000n,
    });
    psbt.updateOutput(1, {
      bip32Derivation: [{ masterFingerprint: node.fingerprint, pubkey: change.publicKey, path: 'm/1/9' }],
    });
    const i = intent('btc.psbt', psbt.toBuffer());
    expect(i).toMatchObject({
      operation: 'transfer',
      chain: 'btc',
      network: 'mainnet',
      paths: [
        [0, 0],
        [1, 4],
      ],
    });
    expect(i.transfers).toEqual([
      { asset: 'BTC', destination: 'bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq', amount: 1_500n },
    ]);
    // $0.75 to a one-time address: the change (118,000 sat back to us) is not counted.
    expect(decide(i)).toEqual(['allow', 'one-time-small']);
  });

  it('messages, typed data and raw digests move nothing', () => {
    const m = intent('eth.message', new TextEncoder().encode('hello'), [0, 0]);
    expect(m).toMatchObject({ operation: 'message', transfers: [] });
    expect(decide(m)).toEqual(['allow', 'messages']);
    const t = intent('eth.typed_data', new TextEncoder().encode(JSON.stringify(typedData)), [0, 0]);
    expect(t).toMatchObject({ operation: 'typed_data', chainId: 1, transfers: [] });
    expect(decide(t)).toEqual(['require_approvals', 'typed-data']);
    const r = intent('raw.digest', new Uint8Array(32).fill(9), [0, 0]);
    expect(r).toMatchObject({ operation: 'raw_digest', transfers: [] });
    expect(r.chain).toBeUndefined();
    expect(decide(r)).toEqual(['block', 'raw-block']);
  });
});
