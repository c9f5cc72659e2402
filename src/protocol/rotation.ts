/**
 * Two-phase change of a key's epoch (refresh or reshare), as pure state: what a party may sign with
 * while a new epoch is being installed, and when the old share may go (issue 16).
 *
 *   prepare  the refresh / reshare session produced this party's next-epoch share (or, for a leaving
 *            party, nothing); the caller seals it next to the active one. The ACTIVE share still
 *            signs: a failed or abandoned rotation leaves the key fully on the old epoch.
 *   ack      every holder of the next epoch signs, with its identity key, "I hold and have sealed
 *            my share of epoch e + 1 of this key, whose public shares are D, made in session sid".
 *   commit   with a valid ack from EVERY new holder for the same (sid, epoch, D): the prepared share
 *            becomes active (a leaving party retires: it holds no share any more) and the caller
 *            deletes the old share and burns every presignature of the old epoch.
 *
 * D binds Y, the chain code, the new epoch, t′, n′ and every new public share, so an ack for another
 * outcome of the session (a party that ended with different public shares) never counts.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { MpcError } from '../errors/index.js';
import { encodePoint } from '../primitives/curve.js';
import { type Ed25519Signer, ed25519Verify } from '../primitives/ed25519.js';
import { WireWriter } from '../util/wire.js';
import { TAG_PREFIX } from '../zk/common.js';
import type { CoreKeyShare, KeyShare } from './key-share.js';

/** What the rotation installs, as every party of the session knows it (public). */
export interface RotationTarget {
  /** Execution id of the refresh / reshare session. */
  readonly sid: Uint8Array;
  /** The new epoch. */
  readonly epoch: number;
  /** Digest D of the new epoch's public data (`epochDigest`). */
  readonly digest: Uint8Array;
  /** Ed25519 identity keys of the new holders, by new index. */
  readonly holders: readonly Uint8Array[];
}

/** A new holder's signed acknowledgement. */
export interface RotationAck {
  /** New index of the acknowledging holder. */
  readonly holder: number;
  readonly sig: Uint8Array;
}

/** A party's key state across a rotation. */
export type KeyEpochState =
  | { readonly phase: 'active'; readonly active: KeyShare }
  /** A joining party before its first commit: it holds nothing that signs. */
  | { readonly phase: 'joining' }
  | {
      readonly phase: 'prepared';
      /** The share that signs until commit; null for a joining party. */
      readonly active: KeyShare | null;
      /** The next epoch's share, or null for a party leaving the committee. */
      readonly next: KeyShare | null;
      readonly target: RotationTarget;
    }
  | { readonly phase: 'retired'; readonly epoch: number };

/** D = H(tag, Y, chain code, epoch, t, n, X_0..X_{n−1}) of a (new-epoch) share. */
export function epochDigest(
  core: Pick<CoreKeyShare, 'publicKey' | 'chainCode' | 'epoch' | 't' | 'n' | 'publicShares'>,
): Uint8Array {
  const w = new WireWriter()
    .bytes(new TextEncoder().encode(`${TAG_PREFIX}.rotation.epoch`))
    .fixed(encodePoint(core.publicKey))
    .fixed(core.chainCode)
    .u32(core.epoch ?? 0)
    .u32(core.t)
    .u32(core.n);
  for (const X of core.publicShares) w.fixed(encodePoint(X));
  return sha256(w.finish());
}

/** The bytes a holder signs to acknowledge. */
export function ackMessage(target: Omit<RotationTarget, 'holders'>, holder: number): Uint8Array {
  return new WireWriter()
    .bytes(new TextEncoder().encode(`${TAG_PREFIX}.rotation.ack`))
    .bytes(target.sid)
    .u32(target.epoch)
    .fixed(target.digest)
    .u32(holder)
    .finish();
}

function stateError(why: string): never {
  throw new MpcError('ERR_ROTATION_STATE', `key rotation: ${why}`);
}

/**
 * Records the session's outcome without changing what signs.
 * @throws MpcError ERR_ROTATION_STATE when a rotation is already prepared, the state is retired, or
 *   the next share is not of the target's epoch and digest
 * @example state = prepareRotation(state, output.share && { core: output.share, aux }, target);
 */
export function prepareRotation(state: KeyEpochState, next: KeyShare | null, target: RotationTarget): KeyEpochState {
  if (state.phase !== 'active' && state.phase !== 'joining') stateError(`cannot prepare in phase ${state.phase}`);
  const active = state.phase === 'active' ? state.active : null;
  if (active !== null && target.epoch !== (active.core.epoch ?? 0) + 1) {
    stateError('the target epoch must follow the active one');
  }
  if (active === null && next === null) stateError('a joining party must receive a share');
  if (next !== null) {
    if ((next.core.epoch ?? 0) !== target.epoch) stateError('the prepared share is of another epoch');
    const d = epochDigest(next.core);
    if (d.length !== target.digest.length || !d.every((b, k) => b === target.digest[k])) {
      stateError('the prepared share does not have the target public data');
    }
  }
  return { phase: 'prepared', active, next, target };
}

/** The share to sign with: always the active one (never a prepared, uncommitted share). */
export function signingShare(state: KeyEpochState): KeyShare {
  if (state.phase === 'retired') stateError('this party left the committee: it holds no share');
  if (state.phase === 'joining' || state.active === null) stateError('no share signs before the first commit');
  return state.active;
}

/**
 * A new holder's acknowledgement, signed with its identity key once its share is sealed.
 * @example const ack = acknowledgeRotation(identitySigner, target, share.core.i);
 */
export function acknowledgeRotation(signer: Ed25519Signer, target: RotationTarget, holder: number): RotationAck {
  return { holder, sig: signer.sign(ackMessage(target, holder)) };
}

/**
 * Commits when every new holder acknowledged the target: returns the new state (the next share
 * active, or retired for a leaving party). The caller then deletes the old share and burns the
 * old epoch's presignatures.
 * @throws MpcError ERR_ROTATION_ACK_INVALID naming the holder whose ack is missing, repeated or
 *   does not verify; ERR_ROTATION_STATE when nothing is prepared
 * @example state = commitRotation(state, acks);
 */
export function commitRotation(state: KeyEpochState, acks: readonly RotationAck[]): KeyEpochState {
  if (state.phase !== 'prepared') stateError(`nothing to commit in phase ${state.phase}`);
  const { target } = state;
  const seen = new Set<number>();
  for (const ack of acks) {
    const pk = target.holders[ack.holder];
    if (!Number.isInteger(ack.holder) || pk === undefined || seen.has(ack.holder)) {
      throw ackError(ack.holder, 'not a new holder, or acknowledged twice');
    }
    if (!(ack.sig instanceof Uint8Array) || !ed25519Verify(pk, ackMessage(target, ack.holder), ack.sig)) {
      throw ackError(ack.holder, 'signature does not verify for this session, epoch and public data');
    }
    seen.add(ack.holder);
  }
  const missing = target.holders.findIndex((_, h) => !seen.has(h));
  if (missing >= 0) throw ackError(missing, 'no acknowledgement yet');
  if (state.next === null) return { phase: 'retired', epoch: target.epoch };
  return { phase: 'active', active: state.next };
}

/**
 * Drops a prepared rotation (the session failed, or the coordinator gave up): the old share stays
 * active, the prepared one is discarded.
 * @example state = abandonRotation(state);
 */
export function abandonRotation(state: KeyEpochState): KeyEpochState {
  if (state.phase !== 'prepared') return state;
  return state.active === null ? { phase: 'joining' } : { phase: 'active', active: state.active };
}

function ackError(holder: number, why: string): MpcError {
  return new MpcError('ERR_ROTATION_ACK_INVALID', `rotation acknowledgement of holder ${holder} refused: ${why}`, {
    details: { holder },
  });
}
