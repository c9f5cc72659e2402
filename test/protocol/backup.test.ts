/**
 * Backup kits (backup.ts): a party's share split 2-of-3 among custodians, each piece sealed to a
 * custodian's X25519 key; custodians check their piece against the party's public share alone;
 * 2 pieces restore the share (what a refresh then takes); every bad input — a tampered piece, a
 * piece for another party, key or kit, a wrong custodian key, a lying custodian, a forged kit — is
 * refused with a typed error naming the piece.
 */
import { x25519 } from '@noble/curves/ed25519.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { MpcError } from '../../src/errors/index.js';
import { mod, toBytesBE } from '../../src/math/bits.js';
import { CURVE_ORDER, type Point } from '../../src/primitives/curve.js';
import {
  type BackupKit,
  createBackupKit,
  decodeBackupKit,
  encodeBackupKit,
  type OpenedPiece,
  openBackupPiece,
  restoreFromBackup,
} from '../../src/protocol/backup.js';
import type { CoreKeyShare } from '../../src/protocol/key-share.js';
import type { RefreshInput } from '../../src/protocol/refresh.js';
import { type DealtKey, dealKeyShares } from '../helpers/dealer.js';
import { TestDrbg } from '../helpers/drbg.js';

const custodianSecrets = [1, 2, 3].map((i) => new Uint8Array(32).fill(0x40 + i));
const custodians = custodianSecrets.map((s) => x25519.getPublicKey(s));
const _rngs = (name: string, n: number) => Array.from({ length: n }, (_, i) => new TestDrbg(`${name}-${i}`));

let dealt: DealtKey;
let other: DealtKey;
let kit: BackupKit;

function kitFor(share: CoreKeyShare, seed: string, keyId = 'treasury'): BackupKit {
  return createBackupKit(share, { keyId, k: 2, custodians, rng: new TestDrbg(seed) });
}

/** The typed refusal: code and the piece it names. */
function refusal(fn: () => unknown): { code: string; piece?: unknown; reason?: unknown } {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(MpcError);
    const err = e as MpcError;
    // No secret (share scalar or piece value) ever appears in an error.
    expect(err.message).not.toContain(dealt.shares[1]?.core.x.toString(16));
    return { code: err.code, piece: err.details.piece, reason: err.details.reason };
  }
  return { code: 'accepted' };
}

beforeAll(async () => {
  dealt = await dealKeyShares({ n: 3, t: 2, seed: 'backup' });
  other = await dealKeyShares({ n: 3, t: 2, seed: 'backup-other' });
  kit = kitFor(dealt.shares[1]?.core as CoreKeyShare, 'kit-1');
});

describe('backup kit: create, verify, restore', () => {
  it('holds only public data and sealed pieces (no share scalar, no presignature)', () => {
    const bytes = encodeBackupKit(kit);
    const x = Buffer.from(toBytesBE(dealt.shares[1]?.core.x as bigint, 32)).toString('hex');
    expect(Buffer.from(bytes).toString('hex')).not.toContain(x);
    expect(kit.commitments[0]?.equals(dealt.publicShares[1] as Point)).toBe(true);
    expect(kit.pieces).toHaveLength(3);
    // The file round-trips exactly.
    expect(encodeBackupKit(decodeBackupKit(bytes))).toEqual(bytes);
  });

  it('each custodian opens and checks only its own piece; any two restore the share', () => {
    const opened = custodianSecrets.map((s, j) =>
      openBackupPiece(kit, j, s, { publicKey: dealt.publicKey, publicShare: dealt.publicShares[1] as Point }),
    );
    for (const pair of [
      [0, 1],
      [0, 2],
      [2, 1],
    ]) {
      const core = restoreFromBackup(
        kit,
        pair.map((j) => opened[j] as OpenedPiece),
      );
      expect(core.x).toBe(dealt.shares[1]?.core.x);
      expect(core.i).toBe(1);
      expect(core.publicKey.equals(dealt.publicKey)).toBe(true);
      expect(core.chainCode).toEqual(dealt.chainCode);
    }
    // One piece is not enough.
    expect(refusal(() => restoreFromBackup(kit, [opened[0] as OpenedPiece])).code).toBe('ERR_BACKUP_KIT_INVALID');
  });

  it('restores from the kit file after it moved offline and back; the restored share is what a refresh takes', () => {
    const decoded = decodeBackupKit(encodeBackupKit(kit));
    const pieces = [0, 2].map((j) => openBackupPiece(decoded, j, custodianSecrets[j] as Uint8Array));
    const restored = restoreFromBackup(decoded, pieces);
    // A refresh needs only the core share (refresh.test.ts runs it from core shares): the restored
    // party joins the refresh at once, which renews its aux info and makes the backed-up scalar obsolete.
    const input: RefreshInput = { core: restored, primes: { p: 3n, q: 7n } };
    expect(input.core.x).toBe(dealt.shares[1]?.core.x);
    expect(input.core.epoch).toBe(0);
  });
});

describe('backup kit: bad input is refused, naming the piece', () => {
  it('a tampered piece (one ciphertext bit) does not open', () => {
    const pieces = kit.pieces.map((p, j) => {
      if (j !== 2) return p;
      const sealed = Uint8Array.from(p.sealed);
      sealed[5] = (sealed[5] as number) ^ 1;
      return { ...p, sealed };
    });
    expect(refusal(() => openBackupPiece({ ...kit, pieces }, 2, custodianSecrets[2] as Uint8Array))).toMatchObject({
      code: 'ERR_BACKUP_PIECE_INVALID',
      piece: 2,
      reason: expect.stringMatching(/does not decrypt/),
    });
  });

  it('a wrong custodian key is refused before decrypting', () => {
    expect(refusal(() => openBackupPiece(kit, 0, custodianSecrets[1] as Uint8Array))).toMatchObject({
      code: 'ERR_BACKUP_PIECE_INVALID',
      piece: 0,
      reason: expect.stringMatching(/custodian key does not match/),
    });
  });

  it('a piece moved from the kit of another party or another key does not open in this kit', () => {
    const otherParty = kitFor(dealt.shares[2]?.core as CoreKeyShare, 'kit-2');
    const otherKey = kitFor(other.shares[1]?.core as CoreKeyShare, 'kit-3');
    for (const donor of [otherParty, otherKey]) {
      const pieces = kit.pieces.map((p, j) => (j === 1 ? (donor.pieces[1] as (typeof kit.pieces)[number]) : p));
      expect(refusal(() => openBackupPiece({ ...kit, pieces }, 1, custodianSecrets[1] as Uint8Array))).toMatchObject({
        code: 'ERR_BACKUP_PIECE_INVALID',
        piece: 1,
        reason: expect.stringMatching(/does not decrypt/),
      });
    }
  });

  it('an opened piece of another party, key or kit is refused by the restore', () => {
    const mine = openBackupPiece(kit, 0, custodianSecrets[0] as Uint8Array);
    const otherParty = kitFor(dealt.shares[2]?.core as CoreKeyShare, 'kit-2');
    const otherKey = kitFor(other.shares[1]?.core as CoreKeyShare, 'kit-3', 'cold-wallet');
    const sameShareNewKit = kitFor(dealt.shares[1]?.core as CoreKeyShare, 'kit-4');
    for (const donor of [otherParty, otherKey, sameShareNewKit]) {
      const foreign = openBackupPiece(donor, 2, custodianSecrets[2] as Uint8Array);
      expect(refusal(() => restoreFromBackup(kit, [mine, foreign]))).toMatchObject({
        code: 'ERR_BACKUP_PIECE_INVALID',
        piece: 2,
        reason: expect.stringMatching(/another kit/),
      });
    }
  });

  it('a custodian lying about its piece value is named by the Feldman check', () => {
    const a = openBackupPiece(kit, 0, custodianSecrets[0] as Uint8Array);
    const b = openBackupPiece(kit, 1, custodianSecrets[1] as Uint8Array);
    const lie = { ...b, value: mod(b.value + 1n, CURVE_ORDER) };
    expect(refusal(() => restoreFromBackup(kit, [a, lie]))).toMatchObject({
      code: 'ERR_BACKUP_PIECE_INVALID',
      piece: 1,
      reason: expect.stringMatching(/Feldman/),
    });
    expect(refusal(() => restoreFromBackup(kit, [a, a]))).toMatchObject({
      code: 'ERR_BACKUP_PIECE_INVALID',
      piece: 0,
      reason: 'given twice',
    });
  });

  it('a forged kit (commitments not opening to the party’s public share) is refused; a custodian expecting another key refuses its piece', () => {
    // A dealer of a forged kit picks its own polynomial: pieces verify against its commitments, but
    // C_0 is not the party's public share.
    const forged = kitFor({ ...(other.shares[1]?.core as CoreKeyShare) }, 'kit-5');
    const franken = { ...forged, publicShares: dealt.publicShares, publicKey: dealt.publicKey };
    expect(refusal(() => openBackupPiece(franken, 0, custodianSecrets[0] as Uint8Array)).code).toBe(
      'ERR_BACKUP_KIT_INVALID',
    );
    expect(
      refusal(() =>
        openBackupPiece(kit, 0, custodianSecrets[0] as Uint8Array, {
          publicKey: other.publicKey,
          publicShare: other.publicShares[1] as Point,
        }),
      ),
    ).toMatchObject({ code: 'ERR_BACKUP_PIECE_INVALID', piece: 0, reason: expect.stringMatching(/another key/) });
  });

  it('a malformed kit file is refused with ERR_BACKUP_KIT_INVALID', () => {
    const bytes = encodeBackupKit(kit);
    const bad = [
      bytes.subarray(0, bytes.length - 1),
      Uint8Array.of(...bytes, 0),
      Uint8Array.of(0, 0, ...bytes.subarray(2)),
      new Uint8Array(1 << 20),
    ];
    const flippedY = Uint8Array.from(bytes);
    // Y sits after tag, version, kit id, key id, five u32, the additive flag and the chain code.
    const yAt = 2 + 1 + 16 + 4 + 'treasury'.length + 20 + 1 + 32;
    flippedY[yAt + 5] = (flippedY[yAt + 5] as number) ^ 1;
    bad.push(flippedY);
    for (const b of bad) expect(refusal(() => decodeBackupKit(b)).code).toBe('ERR_BACKUP_KIT_INVALID');
  });

  it('refuses k outside [2, m], repeated or malformed custodian keys', () => {
    const core = dealt.shares[0]?.core as CoreKeyShare;
    const bad = [
      { keyId: 'x', k: 1, custodians },
      { keyId: 'x', k: 4, custodians },
      { keyId: 'x', k: 2, custodians: [custodians[0], custodians[0], custodians[1]] as Uint8Array[] },
      { keyId: 'x', k: 2, custodians: [custodians[0] as Uint8Array, new Uint8Array(31)] },
    ];
    for (const opts of bad) expect(refusal(() => createBackupKit(core, opts)).code).toBe('ERR_PROTOCOL_INPUT');
  });
});
