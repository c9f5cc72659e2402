/**
 * Two-phase rotation (rotation.ts) around a real reshare: 2-of-3 → 2-of-3 where party 2 leaves and a
 * new party joins. Until commit the old shares sign and the joiner holds nothing that signs; commit
 * needs a valid signed acknowledgement from every new holder (missing, forged, or for other public
 * data: refused naming the holder); after commit the leaver is retired and the new shares sign.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { MpcError } from '../../src/errors/index.js';
import { Ed25519Signer } from '../../src/primitives/ed25519.js';
import type { AuxInfo, CoreKeyShare, KeyShare } from '../../src/protocol/key-share.js';
import { keyRecordOf, type ReshareInput, reshare } from '../../src/protocol/reshare.js';
import {
  abandonRotation,
  acknowledgeRotation,
  commitRotation,
  epochDigest,
  type KeyEpochState,
  prepareRotation,
  type RotationAck,
  type RotationTarget,
  signingShare,
} from '../../src/protocol/rotation.js';
import { simulate } from '../../src/protocol/simulation.js';
import { type DealtKey, dealAux, dealKeyShares } from '../helpers/dealer.js';
import { TestDrbg } from '../helpers/drbg.js';
import { math, sid } from '../helpers/keys.js';

const oldIndex = [0, 1, 2, null];
const newIndex = [0, 1, null, 2];
const SID = sid('rotation-reshare');
const identities = [1, 2, 3, 4].map((i) => new Uint8Array(32).fill(i));
/** Identity keys of the new holders, by new index (session parties 0, 1, 3). */
const holderSecrets = [identities[0], identities[1], identities[3]] as Uint8Array[];
const holders = holderSecrets.map((s) => ed25519.getPublicKey(s));

let dealt: DealtKey;
let next: Array<KeyShare | null>;
let target: RotationTarget;

function code(fn: () => unknown): { code: string; holder?: unknown } {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(MpcError);
    return { code: (e as MpcError).code, holder: (e as MpcError).details.holder };
  }
  return { code: 'accepted' };
}

beforeAll(async () => {
  dealt = await dealKeyShares({ n: 3, t: 2, seed: 'rotation' });
  const record = keyRecordOf(dealt.shares[0]?.core as CoreKeyShare);
  const inputs = oldIndex.map(
    (o): ReshareInput => ({
      key: record,
      roles: { oldIndex, newIndex, newT: 2 },
      ...(o === null ? {} : { share: dealt.shares[o]?.core as CoreKeyShare }),
    }),
  );
  const r = simulate(reshare, inputs, { sid: SID, math, rngs: inputs.map((_, i) => new TestDrbg(`rot-${i}`)) });
  expect(r.errors).toEqual([undefined, undefined, undefined, undefined]);
  const { parties, primes } = await dealAux(3);
  next = r.outputs.map((o) => {
    const core = o?.share;
    if (core === null || core === undefined) return null;
    const own = primes[core.i] as { p: bigint; q: bigint };
    const aux: AuxInfo = { version: 1, i: core.i, n: 3, p: own.p, q: own.q, parties };
    return { core, aux };
  });
  target = { sid: SID, epoch: 1, digest: epochDigest(next[0]?.core as CoreKeyShare), holders };
});

function preparedStates(): KeyEpochState[] {
  return [0, 1, 2, 3].map((u) => {
    const o = oldIndex[u];
    const start: KeyEpochState =
      o === null || o === undefined ? { phase: 'joining' } : { phase: 'active', active: dealt.shares[o] as KeyShare };
    return prepareRotation(start, next[u] ?? null, target);
  });
}

function acks(): RotationAck[] {
  return holderSecrets.map((s, h) => acknowledgeRotation(new Ed25519Signer(s), target, h));
}

describe('two-phase rotation after a reshare', () => {
  it('prepared: the old shares still sign, the joiner has nothing that signs', () => {
    const states = preparedStates();
    expect(signingShare(states[0] as KeyEpochState).core.epoch ?? 0).toBe(0);
    expect(signingShare(states[2] as KeyEpochState)).toBe(dealt.shares[2]); // the leaver, until commit
    expect(code(() => signingShare(states[3] as KeyEpochState)).code).toBe('ERR_ROTATION_STATE');
  });

  it('commits with every new holder’s ack: new shares sign, the leaver retires', () => {
    const committed = preparedStates().map((s) => commitRotation(s, acks()));
    expect(signingShare(committed[0] as KeyEpochState).core.epoch).toBe(1);
    expect(signingShare(committed[3] as KeyEpochState).core.i).toBe(2);
    expect(committed[2]).toEqual({ phase: 'retired', epoch: 1 });
    expect(code(() => signingShare(committed[2] as KeyEpochState)).code).toBe('ERR_ROTATION_STATE');
  });

  it('refuses to commit on a missing ack, naming the holder; the old share still signs', () => {
    const [state] = preparedStates() as [KeyEpochState];
    expect(code(() => commitRotation(state, acks().slice(0, 2)))).toEqual({
      code: 'ERR_ROTATION_ACK_INVALID',
      holder: 2,
    });
    expect(signingShare(state)).toBe(dealt.shares[0]);
    expect(signingShare(abandonRotation(state))).toBe(dealt.shares[0]);
  });

  it('refuses a forged ack, an ack for other public data or another session, and a repeated ack', () => {
    const [state] = preparedStates() as [KeyEpochState];
    const good = acks();
    const forged = acknowledgeRotation(new Ed25519Signer(identities[2] as Uint8Array), target, 1); // the leaver signs for holder 1
    expect(code(() => commitRotation(state, [good[0], forged, good[2]] as RotationAck[]))).toEqual({
      code: 'ERR_ROTATION_ACK_INVALID',
      holder: 1,
    });
    const otherDigest = acknowledgeRotation(
      new Ed25519Signer(holderSecrets[2] as Uint8Array),
      { ...target, digest: new Uint8Array(32) },
      2,
    );
    const otherSession = acknowledgeRotation(
      new Ed25519Signer(holderSecrets[2] as Uint8Array),
      { ...target, sid: sid('another') },
      2,
    );
    for (const bad of [otherDigest, otherSession]) {
      expect(code(() => commitRotation(state, [good[0], good[1], bad] as RotationAck[]))).toEqual({
        code: 'ERR_ROTATION_ACK_INVALID',
        holder: 2,
      });
    }
    expect(code(() => commitRotation(state, [...good, good[0] as RotationAck]))).toEqual({
      code: 'ERR_ROTATION_ACK_INVALID',
      holder: 0,
    });
  });

  it('refuses to prepare a share that is not the target’s (another epoch or other public data)', () => {
    const start: KeyEpochState = { phase: 'active', active: dealt.shares[0] as KeyShare };
    const share = next[0] as KeyShare;
    expect(code(() => prepareRotation(start, share, { ...target, digest: new Uint8Array(32) })).code).toBe(
      'ERR_ROTATION_STATE',
    );
    expect(code(() => prepareRotation(start, share, { ...target, epoch: 2 })).code).toBe('ERR_ROTATION_STATE');
    const prepared = prepareRotation(start, share, target);
    expect(code(() => prepareRotation(prepared, share, target)).code).toBe('ERR_ROTATION_STATE');
  });
});
