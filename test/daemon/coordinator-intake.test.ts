import { describe, expect, it, vi } from 'vitest';
import * as control from '../../src/daemon/control.js';
import { Coordinator } from '../../src/daemon/coordinator.js';
import { MemoryHub } from '../../src/transport/memory.js';
import { controlSubject, sessionToken } from '../../src/transport/subjects.js';
import { rejection } from '../helpers/failure.js';
import { clusterIdentities } from './cluster.js';

vi.mock('../../src/daemon/control.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../src/daemon/control.js')>();
  return { ...actual, openPartyMessage: vi.fn(actual.openPartyMessage) };
});

/**
 * Issue 17 item 3: the coordinator reads a party frame's subject (a session it runs, a member of
 * it) before it decodes the frame or verifies its signature, so a roster party flooding control
 * subjects costs it no verification.
 */
describe('coordinator intake order (item 3)', () => {
  it('verifies nothing for sessions it does not run or senders outside the session', async () => {
    const ids = clusterIdentities(3);
    const hub = new MemoryHub();
    const seen: string[] = [];
    hub.bus().subscribe('mpc.*.control.coord', (_s, bytes) => {
      seen.push(sessionToken(control.openCoordinatorMessage(bytes, ids.coordinatorKey).sid));
    });
    const coordinator = new Coordinator({
      bus: hub.bus(),
      roster: ids.roster,
      secret: ids.coordinatorSecret,
      readyTimeoutMs: 30_000,
    });
    await coordinator.start();
    const opened = vi.mocked(control.openPartyMessage);
    opened.mockClear();
    const pending = rejection(coordinator.presign({ keyId: 'k', signers: [0, 1] }));
    for (let i = 0; i < 500 && seen.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    const token = seen[0] as string;
    const frame = (from: number, sid: Uint8Array) =>
      control.sealControlFrame((ids.secrets[from] as { ed25519Secret: Uint8Array }).ed25519Secret, {
        sid,
        from,
        round: 'ready',
        seq: 1,
        payload: new Uint8Array(0),
      });
    const other = control.newSid();
    for (let i = 0; i < 50; i++) {
      // signed frames of a session the coordinator does not run
      await hub.bus().publish(controlSubject(sessionToken(other), 2), frame(2, other));
      // signed frames of a non-member on its own subject of the running session
      await hub.bus().publish(`mpc.${token}.control.2`, frame(2, Buffer.from(token, 'hex')));
    }
    await new Promise((r) => setTimeout(r, 50));
    expect(opened).not.toHaveBeenCalled();
    // a member's report is read (and verified): its refusal ends the session
    const refusal = control.encodeSessionResult({
      ok: false,
      code: 'ERR_DAEMON_BUSY',
      message: 'busy',
      blame: [],
      summary: new Uint8Array(0),
    });
    await hub.bus().publish(
      `mpc.${token}.control.0`,
      control.sealControlFrame((ids.secrets[0] as { ed25519Secret: Uint8Array }).ed25519Secret, {
        sid: Buffer.from(token, 'hex'),
        from: 0,
        round: 'result',
        seq: 1,
        payload: refusal,
      }),
    );
    const err = await pending;
    expect(opened).toHaveBeenCalledTimes(1);
    expect(err.code).toBe('ERR_DAEMON_SESSION_FAILED');
    expect(err.details.codes).toBe('ERR_DAEMON_BUSY');
    await coordinator.close();
  });
});
