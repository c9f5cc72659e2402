export { BTC_PSBT_MAX_BYTES, BTC_PSBT_MAX_INPUTS, BTC_PSBT_MAX_OUTPUTS } from './btc-psbt.js';
export { ETH_MESSAGE_MAX_BYTES } from './eth-message.js';
export { ETH_TX_MAX_BYTES } from './eth-transaction.js';
export { ETH_TYPED_DATA_MAX_BYTES } from './eth-typed-data.js';
export {
  type AddressChain,
  addressAt,
  childPublicKey,
  ethereumAddress,
  p2wpkhAddress,
  rootFingerprint,
  XPUB_VERSIONS,
  xpub,
} from './keys.js';
export { RAW_DIGEST_BYTES } from './raw-digest.js';
export {
  assemblePayload,
  decodePayload,
  digestAt,
  isPayloadKind,
  PAYLOAD_CODECS,
  payloadCodec,
  signingDigest,
} from './registry.js';
export {
  BTC_NETWORKS,
  type BtcNetwork,
  type ChainContext,
  type ChainKey,
  type DecodedPayload,
  type DigestSignature,
  type Fields,
  PAYLOAD_KINDS,
  type PayloadKind,
  type SignedArtifact,
  type SigningDigest,
} from './types.js';
