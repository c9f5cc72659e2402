import { getBytes, TypedDataEncoder, type TypedDataField } from 'ethers';
import { ethSignatureBytes } from './eth-message.js';
import {
  assertSignatureCount,
  assertSize,
  type ChainContext,
  chainError,
  type DecodedPayload,
  type DigestSignature,
  type Fields,
  type PayloadCodec,
  type SignedArtifact,
} from './types.js';

/**
 * `eth.typed_data`: EIP-712 structured data, given as the UTF-8 JSON wallets pass to
 * `eth_signTypedData_v4` ({ types, primaryType, domain, message }). ethers v6's TypedDataEncoder
 * validates the types (no cycles, known base types), the domain and the message and computes
 * keccak256(0x1901 ‖ domainSeparator ‖ hashStruct(message)). The domain is part of the decoded
 * fields so a policy can pin chain id and verifying contract. Output: 65-byte r ‖ s ‖ v.
 */

const KIND = 'eth.typed_data' as const;
export const ETH_TYPED_DATA_MAX_BYTES = 64 * 1024;
const TOP_KEYS = ['domain', 'message', 'primaryType', 'types'];
const DOMAIN_ORDER = ['name', 'version', 'chainId', 'verifyingContract', 'salt'];

interface Parsed {
  readonly domain: Record<string, unknown>;
  readonly types: Record<string, TypedDataField[]>;
  readonly message: Record<string, unknown>;
  readonly digest: string;
  readonly fields: Fields;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;

function malformed(why: string, cause?: unknown): never {
  throw chainError('ERR_CHAIN_PAYLOAD_MALFORMED', `typed data: ${why}`, { kind: KIND }, cause);
}

function parse(bytes: Uint8Array): Parsed {
  assertSize(KIND, bytes, ETH_TYPED_DATA_MAX_BYTES);
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e) {
    malformed('not UTF-8 JSON', e);
  }
  if (!isPlainObject(doc)) malformed('not an object');
  const keys = Object.keys(doc).sort();
  if (keys.length !== TOP_KEYS.length || keys.some((k, i) => k !== TOP_KEYS[i])) {
    malformed('must have exactly types, primaryType, domain and message');
  }
  const { domain, types, message, primaryType } = doc as Record<string, unknown>;
  if (!isPlainObject(domain) || !isPlainObject(types) || !isPlainObject(message) || typeof primaryType !== 'string') {
    malformed('types, domain and message must be objects and primaryType a string');
  }
  const domainKeys = Object.keys(domain);
  if (domainKeys.some((k) => !DOMAIN_ORDER.includes(k))) malformed('unknown domain field');
  // EIP712Domain, when listed, must be exactly the fields the domain carries, in EIP-712 order
  const { EIP712Domain, ...structTypes } = types as Record<string, unknown>;
  if (EIP712Domain !== undefined) {
    const want = DOMAIN_ORDER.filter((k) => domainKeys.includes(k));
    const got = Array.isArray(EIP712Domain) ? EIP712Domain.map((f) => (isPlainObject(f) ? f.name : undefined)) : [];
    if (got.length !== want.length || got.some((n, i) => n !== want[i])) {
      malformed('EIP712Domain does not match the domain fields');
    }
  }
  let digest: string;
  let payload: ReturnType<typeof TypedDataEncoder.getPayload>;
  try {
    const st = structTypes as Record<string, TypedDataField[]>;
    const encoder = TypedDataEncoder.from(st);
    if (encoder.primaryType !== primaryType) malformed('primaryType is not the types’ primary type');
    payload = TypedDataEncoder.getPayload(domain, st, message);
    digest = TypedDataEncoder.hash(domain, st, message);
  } catch (e) {
    if (e instanceof Error && 'code' in e && (e as { code: unknown }).code === 'ERR_CHAIN_PAYLOAD_MALFORMED') throw e;
    malformed('types, domain or message do not encode', e);
  }
  const d = payload.domain;
  const fields: Fields = {
    domain: {
      name: d.name ?? null,
      version: d.version ?? null,
      chainId: d.chainId === undefined || d.chainId === null ? null : BigInt(d.chainId).toString(),
      verifyingContract: d.verifyingContract ?? null,
      salt: d.salt === undefined || d.salt === null ? null : String(d.salt),
    },
    primaryType,
    message: JSON.parse(JSON.stringify(payload.message)) as Fields,
  };
  return { domain, types: structTypes as Record<string, TypedDataField[]>, message, digest, fields };
}

function decode(bytes: Uint8Array, _ctx: ChainContext): DecodedPayload {
  const p = parse(bytes);
  return { kind: KIND, fields: p.fields, digests: [{ digest: getBytes(p.digest) }] };
}

function assemble(bytes: Uint8Array, signed: readonly DigestSignature[], _ctx: ChainContext): SignedArtifact {
  const p = parse(bytes);
  assertSignatureCount(KIND, signed.length, 1);
  const { hex, signer } = ethSignatureBytes(p.digest, signed[0] as DigestSignature);
  return { kind: KIND, hex, fields: { signer } };
}

export const ethTypedData: PayloadCodec = { kind: KIND, maxBytes: ETH_TYPED_DATA_MAX_BYTES, decode, assemble };
