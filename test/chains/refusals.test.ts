import { getBytes, Transaction } from 'ethers';
import fc from 'fast-check';
import { concatHex, type Hex, serializeTransaction, toRlp } from 'viem';
import { describe, expect, it } from 'vitest';
import {
  assemblePayload,
  BTC_PSBT_MAX_BYTES,
  decodePayload,
  ETH_MESSAGE_MAX_BYTES,
  ETH_TX_MAX_BYTES,
  ETH_TYPED_DATA_MAX_BYTES,
  PAYLOAD_KINDS,
  type PayloadKind,
  signingDigest,
} from '../../src/chains/index.js';
import { MpcError } from '../../src/errors/index.js';
import { errorCode } from '../helpers/failure.js';
import { typedData } from './fixtures.js';
import { signAt, testKey } from './helpers.js';

const key = testKey(21);
const TO = '0x2222222222222222222222222222222222222222';
const eip1559 = serializeTransaction({
  type: 'eip1559',
  chainId: 1,
  nonce: 1,
  to: TO,
  value: 5n,
  gas: 21_000n,
  maxFeePerGas: 2n,
  maxPriorityFeePerGas: 1n,
});
const legacy = serializeTransaction({
  type: 'legacy',
  chainId: 1,
  nonce: 1,
  to: TO,
  value: 5n,
  gas: 21_000n,
  gasPrice: 2n,
});
const h = (x: number) => `0x${x.toString(16).padStart(2, '0')}` as Hex;

describe('eth.transaction refusals', () => {
  const code = (hex: Hex) => errorCode(() => decodePayload('eth.transaction', getBytes(hex)));

  it('truncated RLP', () => {
    for (const cut of [1, 2, 10]) expect(code(eip1559.slice(0, -2 * cut) as Hex)).toBe('ERR_CHAIN_PAYLOAD_MALFORMED');
    expect(code(legacy.slice(0, -2) as Hex)).toBe('ERR_CHAIN_PAYLOAD_MALFORMED');
  });

  it('trailing bytes', () => {
    expect(code(`${eip1559}00`)).toBe('ERR_CHAIN_PAYLOAD_MALFORMED');
    expect(code(`${legacy}c0` as Hex)).toBe('ERR_CHAIN_PAYLOAD_MALFORMED');
  });

  it('wrong chainId type (a list where an integer belongs), chain id 0, non-canonical integers', () => {
    const fields = ['0x01', '0x01', '0x01', '0x02', '0x5208', TO, '0x05', '0x', []] as const;
    const asList = concatHex(['0x02', toRlp([[h(1)], ...fields.slice(1)] as never)]);
    expect(code(asList)).toBe('ERR_CHAIN_PAYLOAD_MALFORMED');
    const zero = concatHex(['0x02', toRlp(['0x', ...fields.slice(1)] as never)]);
    expect(code(zero)).toBe('ERR_CHAIN_PAYLOAD_MALFORMED');
    const padded = concatHex(['0x02', toRlp(['0x0001', ...fields.slice(1)] as never)]);
    expect(code(padded)).toBe('ERR_CHAIN_PAYLOAD_MALFORMED');
    // the same fields canonically encoded decode fine (the refusals above are for the defect)
    expect(
      decodePayload('eth.transaction', getBytes(concatHex(['0x02', toRlp(['0x01', ...fields.slice(1)] as never)])))
        .kind,
    ).toBe('eth.transaction');
  });

  it('pre-EIP-155 legacy (no chain id), an already signed transaction, unsupported types 3 and 4', () => {
    const pre155 = toRlp(['0x01', '0x02', '0x5208', TO, '0x05', '0x'] as never);
    expect(code(pre155)).toBe('ERR_CHAIN_PAYLOAD_MALFORMED');
    const tx = Transaction.from(eip1559);
    tx.signature = { r: `0x${'11'.repeat(32)}`, s: `0x${'22'.repeat(32)}`, v: 27 } as never;
    expect(code(tx.serialized as Hex)).toBe('ERR_CHAIN_PAYLOAD_MALFORMED');
    expect(code(`0x03${eip1559.slice(4)}`)).toBe('ERR_CHAIN_UNSUPPORTED');
    expect(code(`0x04${eip1559.slice(4)}`)).toBe('ERR_CHAIN_UNSUPPORTED');
  });

  it('ERC-20 transfer calldata with trailing words or dirty address padding', () => {
    const transfer = `0xa9059cbb${'00'.repeat(12)}${'33'.repeat(20)}${'00'.repeat(31)}01`;
    const mk = (data: string) =>
      serializeTransaction({
        type: 'eip1559',
        chainId: 1,
        to: TO,
        gas: 1n,
        maxFeePerGas: 1n,
        maxPriorityFeePerGas: 1n,
        data: data as Hex,
      });
    expect(decodePayload('eth.transaction', getBytes(mk(transfer))).fields.erc20).toMatchObject({ amount: '1' });
    expect(code(mk(`${transfer}${'00'.repeat(32)}`))).toBe('ERR_CHAIN_PAYLOAD_MALFORMED');
    expect(code(mk(`0xa9059cbb${'ff'.repeat(12)}${transfer.slice(34)}`))).toBe('ERR_CHAIN_PAYLOAD_MALFORMED');
  });
});

describe('limits before decoding', () => {
  const limits: Array<[PayloadKind, number]> = [
    ['eth.transaction', ETH_TX_MAX_BYTES],
    ['eth.message', ETH_MESSAGE_MAX_BYTES],
    ['eth.typed_data', ETH_TYPED_DATA_MAX_BYTES],
    ['btc.psbt', BTC_PSBT_MAX_BYTES],
    ['raw.digest', 32],
  ];
  for (const [kind, max] of limits) {
    it(`${kind}: ${max + 1} bytes are refused as too large`, () => {
      const e = (() => {
        try {
          decodePayload(kind, new Uint8Array(max + 1), { key });
        } catch (err) {
          return err as MpcError;
        }
        return undefined;
      })();
      expect(e?.code).toBe('ERR_CHAIN_PAYLOAD_TOO_LARGE');
      expect(e?.details).toMatchObject({ size: max + 1, limit: max });
    });
  }

  it('unknown kinds, a bad digest index, raw digests of the wrong size', () => {
    expect(errorCode(() => decodePayload('eth.blob', new Uint8Array(1)))).toBe('ERR_CHAIN_KIND_UNKNOWN');
    expect(errorCode(() => signingDigest('raw.digest', new Uint8Array(32), 1))).toBe('ERR_CHAIN_DIGEST_INDEX');
    expect(errorCode(() => signingDigest('raw.digest', new Uint8Array(32), -1))).toBe('ERR_CHAIN_DIGEST_INDEX');
    expect(errorCode(() => decodePayload('raw.digest', new Uint8Array(31)))).toBe('ERR_CHAIN_PAYLOAD_MALFORMED');
    expect(errorCode(() => decodePayload('eth.message', new Uint8Array(0)))).toBe('ERR_CHAIN_PAYLOAD_MALFORMED');
  });

  it('raw.digest is marked dangerous and signs the 32 bytes as they are', () => {
    const digest = new Uint8Array(32).fill(0xab);
    const d = decodePayload('raw.digest', digest);
    expect(d.fields).toEqual({ digest: `0x${'ab'.repeat(32)}`, dangerous: true });
    const out = assemblePayload('raw.digest', digest, [signAt(key, [], digest)]);
    expect(out.hex).toMatch(/^[0-9a-f]{130}$/);
    const wrong = signAt(key, [], new Uint8Array(32).fill(1));
    expect(errorCode(() => assemblePayload('raw.digest', digest, [wrong]))).toBe('ERR_CHAIN_SIGNATURE_INVALID');
    expect(errorCode(() => assemblePayload('raw.digest', digest, []))).toBe('ERR_CHAIN_SIGNATURE_INVALID');
  });
});

/** Every outcome of a decoder on arbitrary bytes: a decoded payload or a typed ERR_CHAIN_* refusal. */
function typedOrOk(kind: PayloadKind, bytes: Uint8Array): void {
  try {
    const d = decodePayload(kind, bytes, { key });
    expect(d.digests.length).toBeGreaterThan(0);
  } catch (e) {
    if (!(e instanceof MpcError) || !e.code.startsWith('ERR_CHAIN_')) throw e;
  }
}

/** Bytes near a valid payload: random flips, cuts and insertions, plus fully random bytes. */
function near(seed: Uint8Array): fc.Arbitrary<Uint8Array> {
  const mutated = fc
    .array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 2 })), {
      minLength: 1,
      maxLength: 4,
    })
    .map((edits) => {
      let b = Array.from(seed);
      for (const [at, v, op] of edits) {
        const i = at % (b.length + 1);
        if (op === 0 && i < b.length) b[i] = v;
        else if (op === 1) b.splice(i, 0, v);
        else b = b.slice(0, i);
      }
      return Uint8Array.from(b);
    });
  return fc.oneof(mutated, fc.uint8Array({ maxLength: 300 }));
}

describe('fuzz: 10^4 inputs per decoder, each decoded or refused with a typed error', () => {
  const psbt = getBytes(
    '0x70736274ff01007102000000010101010101010101010101010101010101010101010101010101010101010100000000' +
      '00ffffffff02400d0300000000001600147f2ee1f6b8a1c0b2cb3cb2b5e3a3e1a2f8e5d5c4a0860100000000001600' +
      '14000000000000000000000000000000000000000000000000000001011f40420f0000000000160014000000000000' +
      '000000000000000000000000000000',
  );
  const seeds: Record<PayloadKind, Uint8Array> = {
    'eth.transaction': getBytes(eip1559),
    'eth.message': new TextEncoder().encode('hello'),
    'eth.typed_data': new TextEncoder().encode(JSON.stringify(typedData)),
    'btc.psbt': psbt,
    'raw.digest': new Uint8Array(32),
  };
  for (const kind of PAYLOAD_KINDS) {
    it(kind, () => {
      fc.assert(
        fc.property(near(seeds[kind]), (bytes) => typedOrOk(kind, bytes)),
        { numRuns: 10_000 },
      );
    });
  }
  it('eth.transaction: legacy seed too', () => {
    fc.assert(
      fc.property(near(getBytes(legacy)), (bytes) => typedOrOk('eth.transaction', bytes)),
      { numRuns: 10_000 },
    );
  });
});
