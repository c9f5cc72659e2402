/**
 * The refresh control plane's pure parts (issue #16): the commit / status / report encodings and the
 * coordinator's rule for completing a half-done commit (pendingCommit).
 */
import { describe, expect, it } from 'vitest';
import {
  decodeRotationCommit,
  decodeRotationReport,
  decodeRotationStatus,
  decodeStartCommand,
  encodeRotationCommit,
  encodeRotationReport,
  encodeRotationStatus,
  encodeStartCommand,
  type RotationStatus,
  type StartCommand,
} from '../../src/daemon/control.js';
import { committedRotation, pendingCommit } from '../../src/daemon/coordinator.js';

const sid = Uint8Array.from({ length: 16 }, (_, k) => k + 1);
const digest = new Uint8Array(32).fill(7);
const sig = (h: number) => new Uint8Array(64).fill(h + 1);
const status = (state: RotationStatus['state'], keyEpoch: number, h: number, over?: Partial<RotationStatus>) => ({
  keyEpoch,
  state,
  sid,
  epoch: 2,
  digest,
  sig: sig(h),
  ...over,
});

describe('refresh control plane', () => {
  it('round-trips reports, commits, statuses and the commit command; refuses malformed ones', () => {
    const report = { epoch: 3, digest, sig: sig(0) };
    expect(decodeRotationReport(encodeRotationReport(report))).toEqual(report);
    const commit = { sid, epoch: 3, digest, acks: [0, 1, 2].map((holder) => ({ holder, sig: sig(holder) })) };
    expect(decodeRotationCommit(encodeRotationCommit(commit))).toEqual(commit);
    const st = status('prepared', 1, 2);
    expect(decodeRotationStatus(encodeRotationStatus(st))).toEqual(st);
    expect(() => decodeRotationReport(encodeRotationReport(report).subarray(1))).toThrow(/ERR_DAEMON_COMMAND_INVALID/);
    const bad = encodeRotationStatus(st);
    bad[4] = 9; // state byte
    expect(() => decodeRotationStatus(bad)).toThrow(/ERR_DAEMON_COMMAND_INVALID/);

    const cmd: StartCommand = {
      op: 'commit',
      keyId: 'k',
      members: [0, 1, 2],
      threshold: 0,
      path: [],
      presignatureId: '',
      payload: encodeRotationCommit(commit),
      roundTimeoutMs: 1000,
    };
    expect(decodeStartCommand(encodeStartCommand(cmd))).toMatchObject({ op: 'commit', payload: cmd.payload });
    expect(() => encodeStartCommand({ ...cmd, payload: new Uint8Array(0) })).toThrow(/commit payload/);
    expect(() => encodeStartCommand({ ...cmd, op: 'refresh' })).toThrow(/presignature\/payload are for sign only/);
    expect(() => encodeStartCommand({ ...cmd, op: 'refresh', payload: new Uint8Array(0), members: [1, 2] })).toThrow(
      /members must be 0..n-1/,
    );
  });

  it("a reshare's leavers get the commit with the new key record; their commit names only them", () => {
    const commit = {
      sid,
      epoch: 3,
      digest,
      acks: [0, 1].map((holder) => ({ holder, sig: sig(holder) })),
      record: new Uint8Array(120).fill(9),
    };
    expect(decodeRotationCommit(encodeRotationCommit(commit))).toEqual(commit);
    const cmd: StartCommand = {
      op: 'commit',
      keyId: 'k',
      members: [2, 3],
      threshold: 0,
      path: [],
      presignatureId: '',
      payload: encodeRotationCommit(commit),
      roundTimeoutMs: 1000,
    };
    expect(decodeStartCommand(encodeStartCommand(cmd))).toMatchObject({ members: [2, 3] });
    expect(decodeStartCommand(encodeStartCommand({ ...cmd, members: [3] }))).toMatchObject({ members: [3] });
    expect(() => encodeStartCommand({ ...cmd, members: [3, 2] })).toThrow(/commit members must be ascending/);
  });

  it('a rotation every holder committed and is on is relayed again to the leavers; anything else is not', () => {
    const done = [0, 1, 2].map((h) => status('committed', 2, h));
    expect(committedRotation(done)).toEqual({
      sid,
      epoch: 2,
      digest,
      acks: [0, 1, 2].map((holder) => ({ holder, sig: sig(holder) })),
    });
    expect(committedRotation([done[0], done[1], status('prepared', 1, 2)] as RotationStatus[])).toBeUndefined();
    // an older committed rotation (a later one prepared elsewhere moved no key epoch, but a holder is past it)
    expect(committedRotation([done[0], done[1], status('committed', 3, 2)] as RotationStatus[])).toBeUndefined();
    expect(
      committedRotation([done[0], done[1], status('committed', 2, 2, { sid: new Uint8Array(16) })] as RotationStatus[]),
    ).toBeUndefined();
  });

  it('completes a commit only when every holder holds the same rotation and some have not committed it', () => {
    const half = [status('committed', 2, 0), status('committed', 2, 1), status('prepared', 1, 2)];
    expect(pendingCommit(half)).toEqual({
      sid,
      epoch: 2,
      digest,
      acks: [0, 1, 2].map((holder) => ({ holder, sig: sig(holder) })),
    });
    // all prepared (the coordinator stopped between the phases): commit too
    expect(pendingCommit(half.map((x, h) => ({ ...x, state: 'prepared', keyEpoch: 1, sig: sig(h) })))).toBeDefined();
    // everyone committed: nothing pending, a new refresh runs
    expect(pendingCommit(half.map((x) => ({ ...x, state: 'committed' })))).toBeUndefined();
    // a holder without that rotation (or another one): no holder can have committed it
    expect(pendingCommit([half[0], half[1], status('none', 1, 2)] as RotationStatus[])).toBeUndefined();
    expect(pendingCommit([half[0], half[1], status('prepared', 1, 2, { epoch: 3 })] as RotationStatus[])).toBe(
      undefined,
    );
    expect(
      pendingCommit([half[0], half[1], status('prepared', 1, 2, { digest: new Uint8Array(32) })] as RotationStatus[]),
    ).toBeUndefined();
  });
});
