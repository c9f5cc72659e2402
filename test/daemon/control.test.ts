import { ed25519 } from '@noble/curves/ed25519.js';
import { describe, expect, it } from 'vitest';
import {
  decodeSessionResult,
  decodeStartCommand,
  encodeSessionResult,
  encodeStartCommand,
  newSid,
  openCoordinatorMessage,
  openPartyMessage,
  type StartCommand,
  sealCoordinatorMessage,
} from '../../src/daemon/control.js';
import { ALL } from '../../src/protocol/types.js';
import { FrameCodec, generatePartyKeys } from '../../src/transport/frame.js';
import { errorCode } from '../helpers/failure.js';

const presign: StartCommand = {
  op: 'presign',
  keyId: 'hot-1',
  members: [0, 2],
  threshold: 0,
  path: [0, 7],
  presignatureId: '',
  payload: new Uint8Array(0),
  roundTimeoutMs: 30_000,
};

describe('start commands', () => {
  it('a reshare carries the key record and the new threshold; anything else is refused', () => {
    const reshare: StartCommand = {
      ...presign,
      op: 'reshare',
      members: [0, 1, 2, 3],
      threshold: 3,
      path: [],
      payload: new Uint8Array(200).fill(5),
    };
    expect(decodeStartCommand(encodeStartCommand(reshare))).toEqual(reshare);
    const refused = (c: StartCommand) => () => encodeStartCommand(c);
    expect(refused({ ...reshare, payload: new Uint8Array(0) })).toThrow(/reshare payload missing/);
    expect(refused({ ...reshare, threshold: 5 })).toThrow(/threshold/);
    expect(refused({ ...reshare, members: [0, 1, 3] })).toThrow(/0\.\.n-1/);
    expect(refused({ ...reshare, op: 'record', threshold: 0 })).toThrow(/payload are for sign only/);
    const record: StartCommand = { ...reshare, op: 'record', threshold: 0, payload: new Uint8Array(0) };
    expect(decodeStartCommand(encodeStartCommand(record))).toEqual(record);
  });

  it('round-trip exactly', () => {
    expect(decodeStartCommand(encodeStartCommand(presign))).toEqual(presign);
    const sign: StartCommand = {
      ...presign,
      op: 'sign',
      path: [],
      presignatureId: 'ab'.repeat(32),
      payload: new Uint8Array(32).fill(7),
      kind: 'raw.digest',
      digestIndex: 0,
      network: 'mainnet',
    };
    expect(decodeStartCommand(encodeStartCommand(sign))).toEqual(sign);
    const psbt: StartCommand = {
      ...sign,
      kind: 'btc.psbt',
      payload: new Uint8Array(300).fill(1),
      digestIndex: 3,
      network: 'regtest',
    };
    expect(decodeStartCommand(encodeStartCommand(psbt))).toEqual(psbt);
    // defaults: a sign command without kind is a raw digest at index 0 on mainnet
    const bare: StartCommand = {
      ...presign,
      op: 'sign',
      path: [],
      presignatureId: 'ab'.repeat(32),
      payload: new Uint8Array(32),
    };
    expect(decodeStartCommand(encodeStartCommand(bare))).toEqual({
      ...bare,
      kind: 'raw.digest',
      digestIndex: 0,
      network: 'mainnet',
    });
  });

  it.each([
    ['keygen members that are not 0..n-1', { ...presign, op: 'keygen', members: [0, 2], threshold: 2, path: [] }],
    ['a keygen threshold above n', { ...presign, op: 'keygen', members: [0, 1], threshold: 3, path: [] }],
    ['signers out of order', { ...presign, members: [2, 0] }],
    ['a hardened derivation step', { ...presign, path: [0x8000_0000] }],
    [
      'a payload over its kind’s size limit (raw.digest: 32 bytes)',
      { ...presign, op: 'sign', path: [], presignatureId: 'ab'.repeat(32), payload: new Uint8Array(33) },
    ],
    [
      'an unknown payload kind',
      {
        ...presign,
        op: 'sign',
        path: [],
        presignatureId: 'ab'.repeat(32),
        payload: new Uint8Array(32),
        kind: 'eth.blob',
      },
    ],
    [
      'a digest index past the input limit',
      {
        ...presign,
        op: 'sign',
        path: [],
        presignatureId: 'ab'.repeat(32),
        payload: new Uint8Array(32),
        digestIndex: 32,
      },
    ],
    [
      'an unknown network',
      {
        ...presign,
        op: 'sign',
        path: [],
        presignatureId: 'ab'.repeat(32),
        payload: new Uint8Array(32),
        network: 'signet',
      },
    ],
    ['a payload on a presign command', { ...presign, payload: new Uint8Array(1) }],
    ['a kind on a presign command', { ...presign, kind: 'raw.digest' }],
    ['a key id with a dot', { ...presign, keyId: 'a.b' }],
    ["a key id with a leading '_' (reserved: the party's sealed identity)", { ...presign, keyId: '_identity' }],
    [
      'a path on a sign command',
      { ...presign, op: 'sign', presignatureId: 'ab'.repeat(32), payload: new Uint8Array(32) },
    ],
  ])('refuses %s', (_name, c) => {
    expect(errorCode(() => encodeStartCommand(c as StartCommand))).toBe('ERR_DAEMON_COMMAND_INVALID');
  });

  it('the decoder refuses trailing bytes, truncation, a bad op and oversize lists', () => {
    const bytes = encodeStartCommand(presign);
    expect(errorCode(() => decodeStartCommand(Uint8Array.of(...bytes, 0)))).toBe('ERR_DAEMON_COMMAND_INVALID');
    expect(errorCode(() => decodeStartCommand(bytes.subarray(0, bytes.length - 1)))).toBe('ERR_DAEMON_COMMAND_INVALID');
    const badOp = Uint8Array.from(bytes);
    badOp[2] = 9;
    expect(errorCode(() => decodeStartCommand(badOp))).toBe('ERR_DAEMON_COMMAND_INVALID');
    const huge = Uint8Array.from(bytes);
    // members count field sits after tag, version, op and the length-prefixed key id
    new DataView(huge.buffer).setUint32(3 + 4 + presign.keyId.length, 0xffff_ffff);
    expect(errorCode(() => decodeStartCommand(huge))).toBe('ERR_DAEMON_COMMAND_INVALID');
  });
});

describe('coordinator and party frames', () => {
  const coord = ed25519.utils.randomSecretKey();
  const coordPub = ed25519.getPublicKey(coord);
  const sid = newSid();

  it('a coordinator frame opens only under the coordinator key and within the clock skew', () => {
    const payload = encodeStartCommand(presign);
    const bytes = sealCoordinatorMessage(coord, { sid, round: 'start', seq: 1, payload });
    const m = openCoordinatorMessage(bytes, coordPub);
    expect(m.round).toBe('start');
    expect(decodeStartCommand(m.payload)).toEqual(presign);
    const other = ed25519.getPublicKey(ed25519.utils.randomSecretKey());
    expect(errorCode(() => openCoordinatorMessage(bytes, other))).toBe('ERR_DAEMON_COMMAND_INVALID');
    expect(errorCode(() => openCoordinatorMessage(bytes, coordPub, Date.now() + 10 * 60_000))).toBe(
      'ERR_DAEMON_COMMAND_INVALID',
    );
    const flipped = Uint8Array.from(bytes);
    flipped[flipped.length - 70] = (flipped[flipped.length - 70] as number) ^ 1;
    expect(errorCode(() => openCoordinatorMessage(flipped, coordPub))).toBe('ERR_DAEMON_COMMAND_INVALID');
    expect(errorCode(() => openCoordinatorMessage(new Uint8Array(3), coordPub))).toBe('ERR_DAEMON_COMMAND_INVALID');
  });

  it('a party control frame verifies under its roster key; a frame signed by another party is refused', () => {
    const keys = [generatePartyKeys(), generatePartyKeys()];
    const roster = keys.map((k) => k.public);
    const codec = new FrameCodec({ self: 1, sid, keys: keys[1]!.secret, roster });
    const result = encodeSessionResult({
      ok: false,
      code: 'ERR_X',
      message: 'm',
      blame: [{ party: 0, reason: 'r' }],
      summary: new Uint8Array([1]),
    });
    const bytes = codec.seal(ALL, 'ctl.result', result);
    const m = openPartyMessage(bytes, roster);
    expect(m.from).toBe(1);
    expect(decodeSessionResult(m.payload)).toEqual({
      ok: false,
      code: 'ERR_X',
      message: 'm',
      blame: [{ party: 0, reason: 'r', verified: false }],
      summary: new Uint8Array([1]),
      reason: '',
    });
    // party 0 claims to be party 1: signature check fails
    const liar = new FrameCodec({ self: 0, sid, keys: keys[0]!.secret, roster });
    const forged = liar.seal(ALL, 'ctl.result', result);
    expect(errorCode(() => openPartyMessage(forged, [roster[1]!, roster[0]!]))).toBe('ERR_DAEMON_COMMAND_INVALID');
    expect(errorCode(() => openPartyMessage(codec.seal(ALL, 'ctl.other', result), roster))).toBe(
      'ERR_DAEMON_COMMAND_INVALID',
    );
    expect(errorCode(() => decodeSessionResult(Uint8Array.of(0x52, 2)))).toBe('ERR_DAEMON_COMMAND_INVALID');
  });
});
