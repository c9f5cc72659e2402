import { getBytes, Interface, Signature, Transaction } from 'ethers';
import type { EcdsaSignature } from '../protocol/sign.js';
import { ethereumAddress } from './keys.js';
import {
  assertSignatureCount,
  assertSize,
  type ChainContext,
  chainError,
  type DecodedPayload,
  type DigestSignature,
  type Fields,
  hex0x,
  type PayloadCodec,
  type SignedArtifact,
} from './types.js';

/**
 * `eth.transaction`: the unsigned bytes of a legacy EIP-155, EIP-2930 (type 1) or EIP-1559
 * (type 2) transaction, parsed and re-serialised by ethers v6 (RLP, typed envelopes, signing hash).
 * Strictness: the bytes must be exactly ethers' canonical unsigned serialisation of what they decode
 * to (no trailing bytes, no leading-zero integers, no signature, a chain id ≥ 1), so every party
 * reading the same bytes computes the same digest and the same fields. Blob (type 3) and
 * set-code (type 4) transactions are refused.
 */

const KIND = 'eth.transaction' as const;
/** Calldata can be large (contract deployment); 128 KiB is Ethereum's own transaction size cap. */
export const ETH_TX_MAX_BYTES = 128 * 1024;

const ERC20 = new Interface([
  'function transfer(address to, uint256 amount)',
  'function approve(address spender, uint256 amount)',
]);

function parse(bytes: Uint8Array): Transaction {
  assertSize(KIND, bytes, ETH_TX_MAX_BYTES);
  const first = bytes[0];
  if (first === undefined) throw chainError('ERR_CHAIN_PAYLOAD_MALFORMED', 'empty transaction');
  // typed envelopes 0x01 (EIP-2930) and 0x02 (EIP-1559); a legacy transaction is an RLP list (≥ 0xc0)
  if (first !== 0x01 && first !== 0x02 && first < 0xc0) {
    throw chainError(
      first < 0x7f ? 'ERR_CHAIN_UNSUPPORTED' : 'ERR_CHAIN_PAYLOAD_MALFORMED',
      'transaction type must be legacy (EIP-155), 1 (EIP-2930) or 2 (EIP-1559)',
      { type: first },
    );
  }
  const hex = hex0x(bytes);
  let tx: Transaction;
  try {
    tx = Transaction.from(hex);
  } catch (e) {
    throw chainError('ERR_CHAIN_PAYLOAD_MALFORMED', 'transaction does not decode', { kind: KIND }, e);
  }
  if (tx.signature !== null) throw chainError('ERR_CHAIN_PAYLOAD_MALFORMED', 'transaction is already signed');
  if (tx.chainId < 1n) throw chainError('ERR_CHAIN_PAYLOAD_MALFORMED', 'transaction has no chain id (pre-EIP-155)');
  let canonical: string;
  try {
    canonical = tx.unsignedSerialized;
  } catch (e) {
    throw chainError('ERR_CHAIN_PAYLOAD_MALFORMED', 'transaction does not re-serialise', { kind: KIND }, e);
  }
  if (canonical !== hex) {
    throw chainError('ERR_CHAIN_PAYLOAD_MALFORMED', 'transaction bytes are not canonical (trailing or padded data)');
  }
  return tx;
}

/** ERC-20 transfer/approve calldata as token, recipient/spender and amount (null for other calldata). */
function erc20(tx: Transaction): Fields | null {
  if (tx.to === null) return null;
  const selector = tx.data.slice(0, 10);
  const fn = selector === '0xa9059cbb' ? 'transfer' : selector === '0x095ea7b3' ? 'approve' : undefined;
  if (fn === undefined) return null;
  let args: { to?: string; spender?: string; amount: bigint };
  try {
    const decoded = ERC20.decodeFunctionData(fn, tx.data);
    args = { amount: decoded[1] as bigint, [fn === 'transfer' ? 'to' : 'spender']: decoded[0] as string };
    // strict ABI: exactly the canonical encoding (no trailing words, clean address padding)
    if (ERC20.encodeFunctionData(fn, [decoded[0], decoded[1]]) !== tx.data.toLowerCase()) throw new Error('padding');
  } catch (e) {
    throw chainError('ERR_CHAIN_PAYLOAD_MALFORMED', `ERC-20 ${fn} calldata is malformed`, { kind: KIND }, e);
  }
  return {
    standard: 'erc20',
    method: fn,
    token: tx.to,
    [fn === 'transfer' ? 'recipient' : 'spender']: (args.to ?? args.spender) as string,
    amount: args.amount.toString(),
  };
}

function decode(bytes: Uint8Array, _ctx: ChainContext): DecodedPayload {
  const tx = parse(bytes);
  const n = (v: bigint | null) => (v === null ? null : v.toString());
  const fields: Fields = {
    type: tx.type ?? 0,
    chainId: tx.chainId.toString(),
    nonce: tx.nonce,
    to: tx.to,
    value: tx.value.toString(),
    data: tx.data,
    gasLimit: tx.gasLimit.toString(),
    gasPrice: tx.type === 2 ? null : n(tx.gasPrice),
    maxFeePerGas: tx.type === 2 ? n(tx.maxFeePerGas) : null,
    maxPriorityFeePerGas: tx.type === 2 ? n(tx.maxPriorityFeePerGas) : null,
    accessList: (tx.accessList ?? []).map((a) => ({ address: a.address, storageKeys: [...a.storageKeys] })),
    erc20: erc20(tx),
  };
  return { kind: KIND, fields, digests: [{ digest: getBytes(tx.unsignedHash) }] };
}

/** Ethereum's signature form: y-parity only (an r ≥ q nonce point cannot be expressed; ~2^-127). */
export function ethSignature(sig: EcdsaSignature): Signature {
  if (sig.recovery > 1)
    throw chainError('ERR_CHAIN_SIGNATURE_INVALID', 'signature recovery id cannot be expressed on Ethereum');
  const h = (x: bigint) => `0x${x.toString(16).padStart(64, '0')}`;
  return Signature.from({ r: h(sig.r), s: h(sig.s), v: 27 + sig.recovery });
}

function assemble(bytes: Uint8Array, signed: readonly DigestSignature[], _ctx: ChainContext): SignedArtifact {
  const tx = parse(bytes);
  assertSignatureCount(KIND, signed.length, 1);
  const one = signed[0] as DigestSignature;
  tx.signature = ethSignature(one.signature);
  const from = ethereumAddress(one.publicKey);
  // the recovered sender must be the key that was meant to sign (ethers recovers from the digest)
  if (tx.from !== from) {
    throw chainError('ERR_CHAIN_SIGNATURE_INVALID', 'signature does not recover to the signing key');
  }
  return { kind: KIND, hex: tx.serialized, fields: { from, hash: tx.hash ?? '' } };
}

export const ethTransaction: PayloadCodec = { kind: KIND, maxBytes: ETH_TX_MAX_BYTES, decode, assemble };
