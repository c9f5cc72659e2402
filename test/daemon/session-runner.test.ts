import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { joinSession, runSession, type SessionStats } from '../../src/daemon/session-runner.js';
import { MpcError } from '../../src/errors/index.js';
import { encodeEnvelope } from '../../src/protocol/envelope.js';
import type { CoreKeyShare } from '../../src/protocol/key-share.js';
import { keygen } from '../../src/protocol/keygen.js';
import { ed25519Authenticator, simulate, simulationKeys } from '../../src/protocol/simulation.js';
import { ALL } from '../../src/protocol/types.js';
import { decodeFrame, generatePartyKeys, type PartyKeys, type RosterEntry } from '../../src/transport/frame.js';
import { MemoryHub } from '../../src/transport/memory.js';
import { loadPartyNatsConfig, NatsTransport } from '../../src/transport/nats.js';
import { parseSubject } from '../../src/transport/subjects.js';
import type { Transport } from '../../src/transport/types.js';
import { TestDrbg } from '../helpers/drbg.js';
import { math, sid } from '../helpers/keys.js';
import { required } from '../helpers/requirements.js';
import { exchangeSessionKeys } from '../helpers/session-keys.js';
import { NATS_SERVER_BIN, startNatsServer, type TestNatsServer } from '../transport/nats-server.js';

const N = 3;
const T = 2;
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const { secrets: edSecrets, publics: edRoster } = simulationKeys(N, new Uint8Array(32).fill(3));
const auths = edSecrets.map((s) => ed25519Authenticator(s, edRoster));
const transportKeys = Array.from({ length: N }, () => generatePartyKeys());
const tSecrets: PartyKeys[] = transportKeys.map((k) => k.secret);
const tRoster: RosterEntry[] = transportKeys.map((k) => k.public);

const newStats = (): SessionStats => ({ delivered: 0, sent: 0, refused: 0, rounds: 0 });

/** Joins every party first (the daemon's ready barrier), then runs them concurrently. */
async function runAll(
  transports: readonly Transport[],
  tag: string,
  roundTimeoutMs = 10_000,
  beforeRun?: (joined: Awaited<ReturnType<typeof joinSession>>[]) => void,
) {
  const s = sid(tag);
  const joined = await Promise.all(transports.map((t) => joinSession(t, s)));
  exchangeSessionKeys(joined.map((j) => j.session)); // what ready/go does in the daemon
  beforeRun?.(joined);
  const stats = transports.map(newStats);
  const refusals: string[][] = transports.map(() => []);
  const t0 = Date.now();
  const results = await Promise.allSettled(
    joined.map((session, i) =>
      runSession(
        keygen,
        { t: T },
        {
          session,
          ctx: { self: i, n: N, sid: s, math, rng: new TestDrbg(`${tag}-${i}`) },
          auth: auths[i]!,
          roundTimeoutMs,
          stats: stats[i]!,
          onRefused: (e) => refusals[i]!.push(e.code),
        },
      ),
    ),
  );
  return { results, stats, refusals, joined, elapsed: Date.now() - t0 };
}

function expectAllAgree(results: PromiseSettledResult<CoreKeyShare>[]): CoreKeyShare[] {
  for (const r of results) {
    if (r.status === 'rejected') throw r.reason;
  }
  const shares = results.map((r) => (r as PromiseFulfilledResult<CoreKeyShare>).value);
  const y = hex(shares[0]!.publicKey.toBytes(true));
  for (const [i, s] of shares.entries()) {
    expect(s.i).toBe(i);
    expect(s.t).toBe(T);
    expect(hex(s.publicKey.toBytes(true))).toBe(y);
  }
  return shares;
}

describe('runSession over the in-memory transport', () => {
  it('3-party keygen (t=2): every party succeeds with the same public key', async () => {
    const hub = new MemoryHub();
    const ts = tSecrets.map((k, i) => hub.transport(i, k, tRoster));
    const { results, stats } = await runAll(ts, 'sr-mem-ok');
    expectAllAgree(results);
    for (const s of stats) {
      expect(s.refused).toBe(0);
      expect(s.rounds).toBe(keygen.rounds.length);
      expect(s.sent).toBeGreaterThan(0);
    }
    // the sessions were left: a late frame reaches nobody
    await Promise.all(ts.map((t) => t.close()));
  });

  it('a dropped round-1 broadcast becomes timeout blame after the deadline', async () => {
    const hub = new MemoryHub();
    hub.intercept = (subject, bytes) => {
      const s = parseSubject(subject);
      if (s?.kind === 'broadcast' && s.from === 2 && decodeFrame(bytes, 1 << 24).round === 'r1') return [];
      return [bytes];
    };
    const ts = tSecrets.map((k, i) => hub.transport(i, k, tRoster));
    const { results, joined, elapsed } = await runAll(ts, 'sr-mem-drop', 500);
    expect(elapsed).toBeGreaterThanOrEqual(450);
    expect(elapsed).toBeLessThan(5_000);
    for (const i of [0, 1]) {
      const r = results[i]!;
      expect(r.status).toBe('rejected');
      const e = (r as PromiseRejectedResult).reason as MpcError;
      expect(e).toBeInstanceOf(MpcError);
      expect(e.code).toBe('ERR_PROTOCOL_ABORT');
      expect(e.details.round).toBe('r1');
      expect(e.blame.map((b) => b.party)).toEqual([2]);
      expect(e.blame[0]!.reason).toContain('timeout');
    }
    // party 2 got everyone's r1 but nobody's echo: it times out too (blaming 0 and 1)
    expect(results[2]!.status).toBe('rejected');
    // the sessions were left on abort (subscriptions gone)
    for (const j of joined)
      await expect(j.session.send(ALL, 'x', Uint8Array.of(1))).rejects.toThrow('ERR_TRANSPORT_CLOSED');
    await Promise.all(ts.map((t) => t.close()));
  });

  it('frames and envelopes replayed from another session are refused; the session still succeeds', async () => {
    // traffic of an earlier session: raw frames (transport level) and envelopes (protocol level)
    const hub = new MemoryHub();
    const old: Array<{ subject: string; bytes: Uint8Array }> = [];
    hub.intercept = (subject, bytes) => {
      old.push({ subject, bytes });
      return [bytes];
    };
    const ts = tSecrets.map((k, i) => hub.transport(i, k, tRoster));
    expectAllAgree((await runAll(ts, 'sr-mem-old')).results);
    const oldR1 = old.find((m) => {
      const s = parseSubject(m.subject);
      return s?.kind === 'broadcast' && s.from === 2;
    });
    expect(oldR1).toBeDefined();
    const oldFrame = decodeFrame(oldR1!.bytes, 1 << 24);
    const oldSubject = parseSubject(oldR1!.subject)!;
    const oldEnvelope = simulate(keygen, [{ t: T }, { t: T }, { t: T }], {
      sid: sid('sr-mem-other'),
      math,
      rngs: [0, 1, 2].map((i) => new TestDrbg(`other-${i}`)),
    }).traffic.find((e) => e.from === 1 && e.to === ALL)!;

    // new session: every frame is delivered, and the old frame is injected into each new broadcast subject
    let injected = 0;
    hub.intercept = (subject, bytes) => {
      const s = parseSubject(subject);
      if (s?.kind === 'broadcast' && s.from === oldSubject.from && injected < 3) {
        injected++;
        return [bytes, oldR1!.bytes];
      }
      return [bytes];
    };
    const { results, stats, refusals } = await runAll(ts, 'sr-mem-new', 10_000, (joined) => {
      // as if party 1 had (authentically) relayed an envelope from another session
      joined[0]!.onFrame(
        {
          sid: sid('sr-mem-new'),
          round: oldEnvelope.round,
          from: 1,
          to: ALL,
          seq: 1_000_000,
          ts: Date.now(),
          payload: encodeEnvelope(oldEnvelope),
          id: 'relayed',
        },
        'broadcast',
      );
    });
    expectAllAgree(results);
    expect(oldFrame.round).toBe('r1');
    expect(injected).toBeGreaterThan(0);
    // party 0: the relayed foreign envelope (runner) and the replayed old frames (transport)
    expect(stats[0]!.refused).toBeGreaterThanOrEqual(2);
    expect(refusals[0]).toContain('ERR_MSG_UNEXPECTED'); // runner: other session
    expect(refusals[0]!.some((c) => c.startsWith('ERR_TRANSPORT_'))).toBe(true); // transport: foreign frame
    expect(stats[1]!.refused).toBeGreaterThan(0);
    expect(stats[2]!.refused).toBe(0); // own broadcast subject: never delivered back to the sender
    await Promise.all(ts.map((t) => t.close()));
  });
});

/** Skipped without nats-server on a developer machine; a failure in CI. */
const hasNats = required(existsSync(NATS_SERVER_BIN), `nats-server (${NATS_SERVER_BIN})`);

describe.runIf(hasNats)('runSession over a real nats-server (TLS + nkeys)', () => {
  let server: TestNatsServer;
  const transports: NatsTransport[] = [];

  beforeAll(async () => {
    server = await startNatsServer({ parties: N });
    for (let i = 0; i < N; i++) {
      const cfg = await loadPartyNatsConfig(server.bundle.parties[i]!.configFile);
      transports.push(await NatsTransport.connect({ ...cfg, self: i, keys: tSecrets[i]!, roster: tRoster }));
    }
  }, 30_000);

  afterAll(async () => {
    for (const t of transports) await t.close().catch(() => undefined);
    await server?.stop();
  });

  it('3-party keygen (t=2): every party succeeds with the same public key', async () => {
    const { results, stats } = await runAll(transports, 'sr-nats-ok');
    expectAllAgree(results);
    for (const s of stats) expect(s.refused).toBe(0);
  }, 20_000);
});
