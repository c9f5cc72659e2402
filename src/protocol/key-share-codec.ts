import { MpcError } from '../errors/index.js';
import type { MathBackend } from '../math/backend.js';
import { WireReader, WireWriter } from '../util/wire.js';
import { decodeAuxInfo, encodeAuxInfo } from './aux-info.js';
import type { KeyShare } from './key-share.js';
import { validateKeyShare } from './key-share-validate.js';
import { decodeCoreKeyShare, encodeCoreKeyShare } from './keygen.js';

/**
 * The stored form of a full key share: a versioned envelope around the keygen share and the
 * aux-info, both in their own strict codecs. It contains secrets (x_i, p, q): store it only sealed
 * (encrypted file store or HSM). Decoding validates everything before the share can be used
 * (SECURITY.md: "validated on load"), so a corrupted or tampered blob never reaches a protocol.
 */
const TAG = 0x4b53; // "KS"
const VERSION = 1;
/** Upper bound of an encoded share: n ≤ 64 parties of 4096-bit aux data plus the core share. */
export const KEY_SHARE_MAX_BYTES = 1 << 20;

export function encodeKeyShare(share: KeyShare): Uint8Array {
  return new WireWriter()
    .u16(TAG)
    .u8(VERSION)
    .bytes(encodeCoreKeyShare(share.core))
    .bytes(encodeAuxInfo(share.aux))
    .finish();
}

/** @throws MpcError ERR_KEY_SHARE_INVALID for any malformed, inconsistent or unsupported blob. */
export function decodeKeyShare(math: MathBackend, bytes: Uint8Array): KeyShare {
  try {
    const r = new WireReader(bytes, KEY_SHARE_MAX_BYTES);
    if (r.u16('keyShare.tag') !== TAG) throw new MpcError('ERR_WIRE_BAD_TAG', 'not a key share');
    const version = r.u8('keyShare.version');
    if (version !== VERSION) throw new MpcError('ERR_WIRE_BAD_TAG', `unsupported key share version ${version}`);
    const core = decodeCoreKeyShare(r.bytes('keyShare.core', KEY_SHARE_MAX_BYTES));
    const aux = decodeAuxInfo(r.bytes('keyShare.aux', KEY_SHARE_MAX_BYTES));
    r.end();
    return validateKeyShare(math, { core, aux });
  } catch (e) {
    if (e instanceof MpcError && e.code === 'ERR_KEY_SHARE_INVALID') throw e;
    throw new MpcError('ERR_KEY_SHARE_INVALID', 'stored key share is malformed', { cause: e });
  }
}
