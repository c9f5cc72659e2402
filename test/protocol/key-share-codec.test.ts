import { describe, expect, it } from 'vitest';
import { MpcError } from '../../src/errors/index.js';
import { decodeKeyShare, encodeKeyShare } from '../../src/protocol/key-share-codec.js';
import { dealKeyShares } from '../helpers/dealer.js';
import { math } from '../helpers/keys.js';

describe('stored key share codec', () => {
  it('round-trips a full share and validates it on load', async () => {
    const { shares } = await dealKeyShares({ n: 3, t: 2, seed: 'codec' });
    const share = shares[1];
    if (share === undefined) throw new Error('no share');
    const back = decodeKeyShare(math, encodeKeyShare(share));
    expect(back.core.x).toBe(share.core.x);
    expect(back.core.publicKey.equals(share.core.publicKey)).toBe(true);
    expect(back.aux.p).toBe(share.aux.p);
    expect(back.aux.parties.map((p) => p.N)).toEqual(share.aux.parties.map((p) => p.N));
  });

  it('refuses truncated, extended, re-tagged and inconsistent blobs with ERR_KEY_SHARE_INVALID', async () => {
    const { shares } = await dealKeyShares({ n: 3, t: 2, seed: 'codec' });
    const [a, b] = shares;
    if (a === undefined || b === undefined) throw new Error('no share');
    const bytes = encodeKeyShare(a);
    const bad: Uint8Array[] = [
      bytes.subarray(0, bytes.length - 1),
      bytes.subarray(0, 10),
      Uint8Array.of(...bytes, 0),
      Uint8Array.of(0, 0, ...bytes.subarray(2)),
      Uint8Array.of(bytes[0] as number, bytes[1] as number, 2, ...bytes.subarray(3)),
      // party 0's core share with party 1's aux-info: own p·q is not this party's N_i
      encodeKeyShare({ core: a.core, aux: b.aux }),
    ];
    const flipped = Uint8Array.from(bytes);
    flipped[40] = (flipped[40] as number) ^ 1; // inside x_i: x_i·G no longer matches X_i
    bad.push(flipped);
    for (const blob of bad) {
      try {
        decodeKeyShare(math, blob);
        expect.fail('a bad blob was accepted');
      } catch (e) {
        expect(e).toBeInstanceOf(MpcError);
        expect((e as MpcError).code).toBe('ERR_KEY_SHARE_INVALID');
        expect((e as MpcError).message).not.toContain(a.core.x.toString(16));
      }
    }
  });
});
