import { describe, expect, it } from 'vitest';
import { SessionThreads } from '../../src/daemon/remote-runner.js';
import { DEFAULT_INBOX_LIMITS } from '../../src/daemon/session-inbox.js';
import { joinSession, runSession } from '../../src/daemon/session-runner.js';
import { MpcError } from '../../src/errors/index.js';
import { systemRng } from '../../src/math/random.js';
import { Ed25519Signer } from '../../src/primitives/ed25519.js';
import { encodeEnvelope } from '../../src/protocol/envelope.js';
import { keygen } from '../../src/protocol/keygen.js';
import { ed25519Authenticator } from '../../src/protocol/simulation.js';
import { ALL } from '../../src/protocol/types.js';
import {
  decodeFrame,
  encodeFrame,
  type Frame,
  FrameCodec,
  frameSignedBytes,
  generatePartyKeys,
  type PartyKeys,
  type RosterEntry,
} from '../../src/transport/frame.js';
import { MemoryHub } from '../../src/transport/memory.js';
import { broadcastSubject, parseSubject, sessionToken } from '../../src/transport/subjects.js';
import { math, sid } from '../helpers/keys.js';

/**
 * Issue 17 item 3 at the session layer (in-memory transport: same codec, subjects and checks as
 * NATS): what one compromised roster party can park in another party's memory is bounded, frames
 * from parties outside the session are refused before their signature is checked, and the same
 * envelope signed into a second frame is blamed.
 */
const N = 4;
const ids = Array.from({ length: N }, () => generatePartyKeys());
const secrets: PartyKeys[] = ids.map((k) => k.secret);
const roster: RosterEntry[] = ids.map((k) => k.public);

/** A flooder holding party `from`'s identity: signed broadcast frames of `size` junk bytes. */
function flooder(from: number, s: Uint8Array) {
  const codec = new FrameCodec({ self: from, sid: s, keys: secrets[from] as PartyKeys, roster });
  const subject = broadcastSubject(sessionToken(s), from);
  return (size: number, round = 'r1') => ({ subject, bytes: codec.seal(ALL, round, new Uint8Array(size).fill(7)) });
}

describe('inbound frame bounds of a joined session (item 3)', () => {
  it('a member flooding 2,000 signed 4 MiB-class frames before go: pending frames and bytes stay at the caps', async () => {
    const hub = new MemoryHub();
    const s = sid('flood-before-go');
    const refused: string[] = [];
    const limits = DEFAULT_INBOX_LIMITS;
    const joined = await joinSession(hub.transport(0, secrets[0] as PartyKeys, roster), s, {
      members: [0, 1, 2],
      onRefused: (e) => refused.push(e.code),
    });
    const flood = flooder(1, s);
    // 2,000 frames; the first four carry 4 MiB (about the largest a frame may carry), which fills the
    // byte budget; the rest must be refused whatever their size
    let peakFrames = 0;
    let peakBytes = 0;
    for (let i = 0; i < 2000; i++) {
      const f = flood(i < 4 ? 4 << 20 : 16 << 10);
      hub.publish(f.subject, f.bytes);
      if (i % 100 === 0) await new Promise((r) => setImmediate(r));
      peakFrames = Math.max(peakFrames, joined.pending.frames);
      peakBytes = Math.max(peakBytes, joined.pending.bytes);
    }
    await new Promise((r) => setImmediate(r));
    peakFrames = Math.max(peakFrames, joined.pending.frames);
    peakBytes = Math.max(peakBytes, joined.pending.bytes);
    expect(peakFrames).toBeLessThanOrEqual(limits.maxFramesPerSender);
    expect(peakBytes).toBeLessThanOrEqual(limits.maxBytesPerSender);
    expect(peakBytes).toBeGreaterThan(limits.maxBytesPerSender / 2); // it did fill up
    expect(refused.filter((c) => c === 'ERR_DAEMON_INBOX_SENDER_FULL').length).toBeGreaterThan(1500);
    // an honest member's frame still fits the session budget
    const honest = flooder(2, s)(1024);
    hub.publish(honest.subject, honest.bytes);
    await new Promise((r) => setImmediate(r));
    expect(joined.pending.frames).toBe(peakFrames + 1);
    await joined.leave();
    expect(joined.pending).toEqual({ frames: 0, bytes: 0 });
  }, 60_000);

  it('after go: envelopes queued for a busy session thread stay within the caps', async () => {
    const hub = new MemoryHub();
    const s = sid('flood-after-go');
    const refused: string[] = [];
    const joined = await joinSession(hub.transport(0, secrets[0] as PartyKeys, roster), s, {
      onRefused: (e) => refused.push(e.code),
    });
    // a runner that is slow to take each message (a session thread computing a round)
    let open!: () => void;
    const gate = new Promise<void>((r) => {
      open = r;
    });
    let received = 0;
    const runner = {
      start: () => [],
      receive: async () => {
        await gate;
        received++;
        throw new MpcError('ERR_MSG_UNEXPECTED', 'message signature does not verify');
      },
      status: 'running' as const,
      round: 'r1',
      missing: () => [],
      output: undefined,
      error: undefined,
    };
    const run = runSession(
      keygen,
      { t: 2 },
      {
        session: joined,
        ctx: { self: 0, n: N, sid: s, math, rng: systemRng },
        auth: ed25519Authenticator(
          (secrets[0] as PartyKeys).ed25519Secret,
          roster.map((r) => r.ed25519),
        ),
        roundTimeoutMs: 60_000,
        runner,
      },
    );
    const codec = new FrameCodec({ self: 1, sid: s, keys: secrets[1] as PartyKeys, roster });
    const subject = broadcastSubject(sessionToken(s), 1);
    let peakFrames = 0;
    for (let i = 0; i < 2000; i++) {
      const env = encodeEnvelope({
        protocol: 'keygen',
        sid: s,
        round: 'r1',
        from: 1,
        to: ALL,
        body: new Uint8Array(i < 4 ? 3 << 20 : 8 << 10).fill(i & 0xff),
        sig: new Uint8Array(64),
      });
      hub.publish(subject, codec.seal(ALL, 'r1', env));
      if (i % 100 === 0) await new Promise((r) => setImmediate(r));
      peakFrames = Math.max(peakFrames, joined.pending.frames);
    }
    await new Promise((r) => setImmediate(r));
    peakFrames = Math.max(peakFrames, joined.pending.frames);
    expect(peakFrames).toBeLessThanOrEqual(DEFAULT_INBOX_LIMITS.maxFramesPerSender);
    expect(joined.pending.bytes).toBeLessThanOrEqual(DEFAULT_INBOX_LIMITS.maxBytesPerSender);
    expect(refused.filter((c) => c === 'ERR_DAEMON_INBOX_SENDER_FULL').length).toBeGreaterThan(1900);
    open();
    for (let i = 0; i < 50 && joined.pending.frames > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(joined.pending.frames).toBe(0); // each frame is released once the runner is done with it
    expect(received).toBe(2000 - refused.filter((c) => c === 'ERR_DAEMON_INBOX_SENDER_FULL').length);
    await joined.leave();
    void run.catch(() => undefined); // ends at its round deadline; nothing more to see
  }, 120_000);

  it('refuses a frame from a roster party outside the session before checking its signature', async () => {
    const hub = new MemoryHub();
    const s = sid('not-member');
    const refused: string[] = [];
    const joined = await joinSession(hub.transport(0, secrets[0] as PartyKeys, roster), s, {
      members: [0, 1, 2],
      onRefused: (e) => refused.push(e.code),
    });
    const f = flooder(3, s)(1024);
    const forged = decodeFrame(f.bytes, 1 << 24);
    // a bad signature: a check order that verified first would say ERR_TRANSPORT_SIGNATURE
    hub.publish(f.subject, encodeFrame({ ...forged, sig: new Uint8Array(64).fill(1) }));
    await new Promise((r) => setImmediate(r));
    expect(refused).toEqual(['ERR_DAEMON_NOT_MEMBER']);
    expect(joined.pending.frames).toBe(0);
    await joined.leave();
  });

  it('blames a member that signs one of its envelopes into a second frame (new sequence number)', async () => {
    const hub = new MemoryHub();
    const s = sid('resent-envelope');
    const n = 3;
    let resent = false;
    hub.intercept = (subject, bytes) => {
      const p = parseSubject(subject);
      if (!resent && p?.kind === 'broadcast' && p.from === 2) {
        resent = true;
        return [bytes, reseq(bytes, decodeFrame(bytes, 1 << 24).seq + 100, secrets[2] as PartyKeys)];
      }
      return [bytes];
    };
    const transports = [0, 1, 2].map((i) => hub.transport(i, secrets[i] as PartyKeys, roster));
    const joined = await Promise.all(transports.map((t) => joinSession(t, s)));
    const results = await Promise.allSettled(
      joined.map((session, i) =>
        runSession(
          keygen,
          { t: 2 },
          {
            session,
            ctx: { self: i, n, sid: s, math, rng: systemRng },
            auth: ed25519Authenticator(
              (secrets[i] as PartyKeys).ed25519Secret,
              roster.slice(0, n).map((r) => r.ed25519),
            ),
            roundTimeoutMs: 10_000,
            blameTransportFaults: true,
          },
        ),
      ),
    );
    expect(resent).toBe(true);
    for (const i of [0, 1]) {
      const r = results[i] as PromiseSettledResult<unknown>;
      expect(r.status).toBe('rejected');
      const e = (r as PromiseRejectedResult).reason as MpcError;
      expect(e).toBeInstanceOf(MpcError);
      expect(e.code).toBe('ERR_PROTOCOL_ABORT');
      expect(e.blame.map((b) => b.party)).toEqual([2]);
      expect(e.blame[0]?.reason).toMatch(/re-sent envelope/);
    }
  }, 60_000);
});

describe('session threads (item 4)', () => {
  it('every session thread runs under resourceLimits (its own heap cap)', async () => {
    const threads = new SessionThreads({ maxIdle: 1, heapMb: 128 });
    try {
      const w = threads.acquire();
      expect(w.resourceLimits?.maxOldGenerationSizeMb).toBe(128);
      expect(w.resourceLimits?.stackSizeMb).toBe(4);
      threads.release(w, false);
    } finally {
      await threads.close();
    }
  });
});

/** The same frame content under another sequence number, signed again by its sender. */
function reseq(bytes: Uint8Array, seq: number, keys: PartyKeys): Uint8Array {
  const f: Frame = decodeFrame(bytes, 1 << 24);
  const g = { ...f, seq, ts: Date.now() };
  return encodeFrame({ ...g, sig: new Ed25519Signer(keys.ed25519Secret).sign(frameSignedBytes(g)) });
}
