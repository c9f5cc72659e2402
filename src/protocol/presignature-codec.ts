import { MpcError } from '../errors/index.js';
import { CURVE_ORDER, decodePoint, encodePoint } from '../primitives/curve.js';
import { WireReader, WireWriter } from '../util/wire.js';
import { assertDerivationPath, MAX_PATH_LENGTH } from './hd.js';
import { type Presignature, presignatureId } from './presign.js';

/**
 * The stored form of one party's presignature (sealed in the party ledger, never sent). It holds
 * the secrets k_i and χ_i, so callers zeroize the encoded buffer after sealing or using it.
 * Decoding re-derives the presignature id from (sid, R, signers, path), so a blob cannot be
 * relabelled to sign under another ledger entry.
 */
const TAG = 0x5053; // "PS"
/** Version 1 has no epoch (epoch 0); version 2 adds a u32 epoch ≥ 1 after the version (one encoding each). */
const VERSION = 1;
const VERSION_EPOCH = 2;
const MAX_SIGNERS = 1024;
const MAX_BYTES = 2 + 1 + 4 + 260 + 4 + 4 * MAX_SIGNERS + 4 + 4 + 4 * MAX_PATH_LENGTH + 2 * 33 + 2 * 36 + 64;

export function encodePresignature(p: Presignature): Uint8Array {
  const epoch = p.epoch ?? 0;
  const w = new WireWriter().u16(TAG).u8(epoch === 0 ? VERSION : VERSION_EPOCH);
  if (epoch !== 0) w.u32(epoch);
  w.bytes(p.sid).u32(p.signers.length);
  for (const s of p.signers) w.u32(s);
  w.u32(p.self).u32(p.path.length);
  for (const i of p.path) w.u32(i);
  return w.fixed(encodePoint(p.publicKey)).fixed(encodePoint(p.R)).biguint(p.k).biguint(p.chi).finish();
}

/** @throws MpcError ERR_PRESIGNATURE_INVALID for any malformed or inconsistent blob (no secret in the error). */
export function decodePresignature(bytes: Uint8Array): Presignature {
  try {
    const r = new WireReader(bytes, MAX_BYTES);
    if (r.u16('presignature.tag') !== TAG) throw new MpcError('ERR_WIRE_BAD_TAG', 'not a presignature');
    const version = r.u8('presignature.version');
    if (version !== VERSION && version !== VERSION_EPOCH) {
      throw new MpcError('ERR_WIRE_BAD_TAG', 'unsupported presignature version');
    }
    const epoch = version === VERSION ? 0 : r.u32('presignature.epoch');
    if (version === VERSION_EPOCH && epoch === 0) {
      throw new MpcError('ERR_WIRE_NON_CANONICAL', 'epoch 0 must use the version-1 encoding');
    }
    const sid = r.bytes('presignature.sid', 256);
    const signers = Array.from({ length: lengthAtMost(r, 'presignature.signers', MAX_SIGNERS) }, () =>
      r.u32('presignature.signer'),
    );
    const self = r.u32('presignature.self');
    const path = Array.from({ length: lengthAtMost(r, 'presignature.path', MAX_PATH_LENGTH) }, () =>
      r.u32('presignature.path'),
    );
    const publicKey = decodePoint(r.fixed('presignature.publicKey', 33), 'presignature.publicKey');
    const R = decodePoint(r.fixed('presignature.R', 33), 'presignature.R');
    const k = r.biguint('presignature.k', 256);
    const chi = r.biguint('presignature.chi', 256);
    r.end();
    if (sid.length === 0) throw new MpcError('ERR_WIRE_BAD_LENGTH', 'empty sid');
    if (signers.length < 2 || signers.some((s, j) => j > 0 && s <= (signers[j - 1] as number))) {
      throw new MpcError('ERR_WIRE_BAD_LENGTH', 'signers must be sorted, distinct and at least two');
    }
    if (self >= signers.length) throw new MpcError('ERR_WIRE_BAD_LENGTH', 'self is not a signer position');
    assertDerivationPath(path);
    if (k === 0n || k >= CURVE_ORDER || chi >= CURVE_ORDER) {
      throw new MpcError('ERR_WIRE_BIGINT_TOO_LARGE', 'secret scalars out of range');
    }
    return {
      version: 1,
      id: presignatureId(sid, R, signers, path),
      sid,
      signers,
      self,
      path,
      publicKey,
      R,
      k,
      chi,
      epoch,
    };
  } catch (e) {
    throw new MpcError('ERR_PRESIGNATURE_INVALID', 'stored presignature is malformed', {
      cause: e instanceof MpcError ? e : undefined,
    });
  }
}

function lengthAtMost(r: WireReader, path: string, max: number): number {
  const n = r.u32(path);
  if (n > max) throw new MpcError('ERR_WIRE_BAD_LENGTH', `${path} has ${n} entries, above ${max}`);
  return n;
}
