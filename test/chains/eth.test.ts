import { getBytes } from 'ethers';
import {
  encodeFunctionData,
  erc20Abi,
  type Hex,
  parseTransaction,
  recoverTransactionAddress,
  serializeTransaction,
  verifyMessage,
  verifyTypedData,
} from 'viem';
import { publicKeyToAddress } from 'viem/accounts';
import { describe, expect, it } from 'vitest';
import { addressAt, assemblePayload, decodePayload, xpub } from '../../src/chains/index.js';
import { decodePoint } from '../../src/primitives/curve.js';
import { errorCode } from '../helpers/failure.js';
import { typedData } from './fixtures.js';
import { bip32, hex, signAt, testKey } from './helpers.js';

const key = testKey(7);
const PATH = [0, 3];
const TOKEN = '0xdAC17F958D2ee523a2206206994597C13D831ec7';
const RECIPIENT = '0x1111111111111111111111111111111111111111';

/** The sender the tx must recover to: derived by an independent BIP32 library from the xpub. */
function walletAddress(path: readonly number[]): string {
  const child = path.reduce((n, i) => n.derive(i), bip32.fromBase58(xpub(key)));
  return publicKeyToAddress(`0x${hex(decodePoint(child.publicKey).toBytes(false))}`);
}

const bytes = (h: Hex) => getBytes(h);

const eip1559 = serializeTransaction({
  type: 'eip1559',
  chainId: 1,
  nonce: 7,
  to: TOKEN,
  value: 0n,
  gas: 65_000n,
  maxFeePerGas: 30_000_000_000n,
  maxPriorityFeePerGas: 1_000_000_000n,
  data: encodeFunctionData({ abi: erc20Abi, functionName: 'transfer', args: [RECIPIENT, 1_234_567n] }),
});
const legacy = serializeTransaction({
  type: 'legacy',
  chainId: 137,
  nonce: 0,
  to: RECIPIENT,
  value: 10n ** 18n,
  gas: 21_000n,
  gasPrice: 50_000_000_000n,
});
const eip2930 = serializeTransaction({
  type: 'eip2930',
  chainId: 11155111,
  nonce: 1,
  to: TOKEN,
  value: 0n,
  gas: 80_000n,
  gasPrice: 2_000_000_000n,
  accessList: [{ address: TOKEN, storageKeys: [`0x${'00'.repeat(31)}01`] }],
  data: encodeFunctionData({ abi: erc20Abi, functionName: 'approve', args: [RECIPIENT, 2n ** 256n - 1n] }),
});

function signTx(unsigned: Hex): Hex {
  const d = decodePayload('eth.transaction', bytes(unsigned));
  const signed = signAt(key, PATH, (d.digests[0] as { digest: Uint8Array }).digest);
  return assemblePayload('eth.transaction', bytes(unsigned), [signed]).hex as Hex;
}

describe('eth.transaction', () => {
  it('EIP-1559 ERC-20 transfer: decoded fields, and the signed raw tx parses back (viem) from the derived address', async () => {
    const d = decodePayload('eth.transaction', bytes(eip1559));
    expect(d.fields).toMatchObject({
      type: 2,
      chainId: '1',
      nonce: 7,
      to: TOKEN,
      value: '0',
      gasLimit: '65000',
      maxFeePerGas: '30000000000',
      maxPriorityFeePerGas: '1000000000',
      gasPrice: null,
      erc20: { method: 'transfer', token: TOKEN, recipient: RECIPIENT, amount: '1234567' },
    });
    const raw = signTx(eip1559);
    const parsed = parseTransaction(raw);
    expect(parsed).toMatchObject({ type: 'eip1559', chainId: 1, nonce: 7, to: TOKEN.toLowerCase() });
    const from = await recoverTransactionAddress({ serializedTransaction: raw as never });
    expect(from).toBe(walletAddress(PATH));
    expect(from).toBe(addressAt(key, PATH, 'ethereum'));
  });

  it('legacy EIP-155: signed tx parses back with its chain id and recovers the derived address', async () => {
    const d = decodePayload('eth.transaction', bytes(legacy));
    expect(d.fields).toMatchObject({
      type: 0,
      chainId: '137',
      value: '1000000000000000000',
      gasPrice: '50000000000',
      erc20: null,
    });
    const raw = signTx(legacy);
    const parsed = parseTransaction(raw);
    expect(parsed.chainId).toBe(137);
    expect(parsed.v === 309n || parsed.v === 310n).toBe(true); // EIP-155: v = 2·chainId + 35 + parity
    expect(await recoverTransactionAddress({ serializedTransaction: raw as never })).toBe(walletAddress(PATH));
  });

  it('EIP-2930 with an ERC-20 approve: access list and spender decoded, signature recovers', async () => {
    const d = decodePayload('eth.transaction', bytes(eip2930));
    expect(d.fields).toMatchObject({
      type: 1,
      chainId: '11155111',
      erc20: { method: 'approve', spender: RECIPIENT, amount: (2n ** 256n - 1n).toString() },
      accessList: [{ address: TOKEN, storageKeys: [`0x${'00'.repeat(31)}01`] }],
    });
    const raw = signTx(eip2930);
    expect(await recoverTransactionAddress({ serializedTransaction: raw as never })).toBe(walletAddress(PATH));
  });

  it('refuses a signature made under another key at assembly', () => {
    const d = decodePayload('eth.transaction', bytes(eip1559));
    const digest = (d.digests[0] as { digest: Uint8Array }).digest;
    const wrong = { ...signAt(key, [9], digest), publicKey: signAt(key, PATH, digest).publicKey };
    expect(errorCode(() => assemblePayload('eth.transaction', bytes(eip1559), [wrong]))).toBe(
      'ERR_CHAIN_SIGNATURE_INVALID',
    );
  });
});

describe('eth.message (EIP-191 personal_sign)', () => {
  it('the 65-byte signature verifies for the derived address (viem verifyMessage)', async () => {
    const text = 'Sign in to custody: nonce 42';
    const m = new TextEncoder().encode(text);
    const d = decodePayload('eth.message', m);
    expect(d.fields).toMatchObject({ text, length: m.length });
    const out = assemblePayload('eth.message', m, [signAt(key, PATH, (d.digests[0] as { digest: Uint8Array }).digest)]);
    expect(out.hex).toMatch(/^0x[0-9a-f]{130}$/);
    const address = walletAddress(PATH) as Hex;
    expect(await verifyMessage({ address, message: text, signature: out.hex as Hex })).toBe(true);
    expect(await verifyMessage({ address, message: `${text}!`, signature: out.hex as Hex })).toBe(false);
  });

  it('binary messages are signed as raw bytes', async () => {
    const m = Uint8Array.from([0xff, 0x00, 0x80]);
    const d = decodePayload('eth.message', m);
    expect(d.fields.text).toBeNull();
    const out = assemblePayload('eth.message', m, [signAt(key, [], (d.digests[0] as { digest: Uint8Array }).digest)]);
    const address = walletAddress([]) as Hex;
    expect(await verifyMessage({ address, message: { raw: m }, signature: out.hex as Hex })).toBe(true);
  });
});

describe('eth.typed_data (EIP-712)', () => {
  const bytesOf = (o: unknown) => new TextEncoder().encode(JSON.stringify(o));

  it('decodes the domain and the message; the signature verifies for the derived address (viem verifyTypedData)', async () => {
    const payload = bytesOf(typedData);
    const d = decodePayload('eth.typed_data', payload);
    expect(d.fields).toMatchObject({
      primaryType: 'Mail',
      domain: {
        name: 'Ether Mail',
        version: '1',
        chainId: '1',
        verifyingContract: typedData.domain.verifyingContract.toLowerCase(),
      },
      message: { contents: 'Hello, Bob!' },
    });
    // EIP-712's own example digest
    expect(hex((d.digests[0] as { digest: Uint8Array }).digest)).toBe(
      'be609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2',
    );
    const out = assemblePayload('eth.typed_data', payload, [
      signAt(key, PATH, (d.digests[0] as { digest: Uint8Array }).digest),
    ]);
    expect(out.hex).toMatch(/^0x[0-9a-f]{130}$/);
    const ok = await verifyTypedData({
      ...typedData,
      address: walletAddress(PATH) as Hex,
      signature: out.hex as Hex,
    } as never);
    expect(ok).toBe(true);
  });

  it('refuses an EIP712Domain that does not match the domain, a wrong primaryType, unknown fields', () => {
    const t = JSON.parse(JSON.stringify(typedData));
    const cases = [
      { ...t, types: { ...t.types, EIP712Domain: t.types.EIP712Domain.slice(1) } },
      { ...t, primaryType: 'Person' },
      { ...t, extra: 1 },
      { ...t, domain: { ...t.domain, evil: 'x' } },
      { ...t, message: { ...t.message, contents: 5 } },
    ];
    for (const c of cases)
      expect(errorCode(() => decodePayload('eth.typed_data', bytesOf(c)))).toBe('ERR_CHAIN_PAYLOAD_MALFORMED');
  });
});
