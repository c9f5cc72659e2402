import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { type NatsConnection, PermissionViolationError } from '@nats-io/transport-node';
import { ed25519 } from '@noble/curves/ed25519.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALL } from '../../src/protocol/types.js';
import {
  type Delivered,
  decodeFrame,
  encodeFrame,
  FrameCodec,
  type FrameRejected,
  frameSignedBytes,
  generatePartyKeys,
  type PartyKeys,
  type RosterEntry,
} from '../../src/transport/frame.js';
import { connectNats, loadPartyNatsConfig, NatsTransport } from '../../src/transport/nats.js';
import { p2pSubject, sessionToken } from '../../src/transport/subjects.js';
import type { Channel, TransportEvent, TransportSession } from '../../src/transport/types.js';
import { required } from '../helpers/requirements.js';
import { exchangeSessionKeys } from '../helpers/session-keys.js';
import { NATS_SERVER_BIN, startNatsServer, type TestNatsServer } from './nats-server.js';

const N = 3;
const te = new TextEncoder();
const td = new TextDecoder();

interface Inbox {
  frames: { frame: Delivered; channel: Channel }[];
  rejects: FrameRejected[];
  events: TransportEvent[];
}

async function until(cond: () => boolean, ms = 5_000, what = 'condition'): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Skipped without nats-server on a developer machine; a failure in CI. */
const hasNats = required(existsSync(NATS_SERVER_BIN), `nats-server (${NATS_SERVER_BIN})`);

describe.runIf(hasNats)('NatsTransport over a real nats-server (TLS + nkeys)', () => {
  let server: TestNatsServer;
  let secrets: PartyKeys[];
  let roster: RosterEntry[];
  const transports: NatsTransport[] = [];
  const inboxes: Inbox[] = [];

  beforeAll(async () => {
    server = await startNatsServer({ parties: N });
    const ks = Array.from({ length: N }, () => generatePartyKeys());
    secrets = ks.map((k) => k.secret);
    roster = ks.map((k) => k.public);
    for (let i = 0; i < N; i++) {
      const inbox: Inbox = { frames: [], rejects: [], events: [] };
      inboxes.push(inbox);
      const cfg = await loadPartyNatsConfig(server.bundle.parties[i]!.configFile);
      transports.push(
        await NatsTransport.connect({
          ...cfg,
          self: i,
          keys: secrets[i]!,
          roster,
          reconnectTimeWaitMs: 100,
          onEvent: (e) => inbox.events.push(e),
        }),
      );
    }
  }, 30_000);

  afterAll(async () => {
    for (const t of transports) await t.close().catch(() => undefined);
    await server?.stop();
  });

  /** Joins every party; with `exchange`, also what ready/go does: every party gets every session key. */
  async function joinAll(sid: Uint8Array, exchange = true): Promise<TransportSession[]> {
    for (const ib of inboxes) {
      ib.frames.length = 0;
      ib.rejects.length = 0;
    }
    const sessions = await Promise.all(
      transports.map((t, i) =>
        t.join(sid, {
          onFrame: (frame, channel) => inboxes[i]!.frames.push({ frame, channel }),
          onReject: (err) => inboxes[i]!.rejects.push(err),
        }),
      ),
    );
    if (exchange) exchangeSessionKeys(sessions);
    return sessions;
  }

  const raw = async (party: number, events?: TransportEvent[]): Promise<NatsConnection> => {
    const cfg = await loadPartyNatsConfig(server.bundle.parties[party]!.configFile);
    const nc = await connectNats(cfg);
    if (events) {
      void (async () => {
        for await (const s of nc.status()) {
          if (s.type === 'error' && s.error instanceof PermissionViolationError) {
            events.push({ type: 'permission', error: s.error as never });
          }
        }
      })();
    }
    return nc;
  };

  it('generated secrets are private files; the server config holds only public nkeys', async () => {
    const b = server.bundle;
    for (const f of [b.serverKeyFile, b.parties[0]!.nkeySeedFile]) {
      expect((await stat(f)).mode & 0o077).toBe(0);
    }
    const { readFile } = await import('node:fs/promises');
    const conf = await readFile(b.serverConfigFile, 'utf8');
    expect(conf).toContain(b.parties[0]!.nkeyPublic);
    // A seed is a whole 58-character token starting with SU (a public key may contain "SU" inside it).
    const seedToken = /(?<![A-Z2-7])SU[A-Z2-7]{56}(?![A-Z2-7])/;
    expect(await readFile(b.parties[0]!.nkeySeedFile, 'utf8')).toMatch(seedToken); // the pattern does find seeds
    expect(conf).not.toMatch(seedToken);
  });

  it('refuses an unknown nkey and a client that does not trust the private CA', async () => {
    const { nkeys } = await import('@nats-io/transport-node');
    const stranger = nkeys.createUser();
    const cfg = await loadPartyNatsConfig(server.bundle.parties[0]!.configFile);
    await expect(connectNats({ ...cfg, nkeySeed: stranger.getSeed(), reconnectTimeWaitMs: 50 })).rejects.toThrow(
      /ERR_TRANSPORT_CONNECT/,
    );
    await expect(
      connectNats({ ...cfg, caFile: server.bundle.serverCertFile.replace('server.crt', 'missing.crt') }),
    ).rejects.toThrow(/ERR_TRANSPORT_CONNECT/);
  });

  it('exchanges broadcast and encrypted p2p frames between all parties', async () => {
    const sid = new Uint8Array(32).fill(1);
    const sessions = await joinAll(sid);
    for (let i = 0; i < N; i++) {
      await sessions[i]!.send(ALL, 'r1', te.encode(`bc from ${i}`));
      for (let j = 0; j < N; j++) if (j !== i) await sessions[i]!.send(j, 'r2', te.encode(`p2p ${i}->${j}`));
      await sessions[i]!.sendControl('ready', new Uint8Array(0));
    }
    await until(() => inboxes.every((ib) => ib.frames.length === 3 * (N - 1)), 5_000, 'all frames');
    for (let j = 0; j < N; j++) {
      const got = inboxes[j]!.frames.map((f) => `${f.channel}:${td.decode(f.frame.payload)}`).sort();
      const want: string[] = [];
      for (let i = 0; i < N; i++) {
        if (i === j) continue;
        want.push(`broadcast:bc from ${i}`, `p2p:p2p ${i}->${j}`, 'control:');
      }
      expect(got).toEqual(want.sort());
      expect(inboxes[j]!.rejects).toEqual([]);
    }
    await Promise.all(sessions.map((s) => s.leave()));
  });

  it('faults: corrupted / re-signed / duplicated / other-session frames (A11, A12, A24, A25)', async () => {
    const sid = new Uint8Array(32).fill(2);
    const session = sessionToken(sid);
    const sessions = await joinAll(sid, false);
    const nc1 = await raw(1);
    // party 1 builds its own frames with its real keys and publishes them raw on its own subject
    const c1 = new FrameCodec({ self: 1, sid, keys: secrets[1]!, roster });
    exchangeSessionKeys([sessions[0]!, c1, sessions[2]!]);
    const subj = p2pSubject(session, 0, 1);

    const good = c1.seal(0, 'r1', te.encode('once'));
    nc1.publish(subj, good);
    nc1.publish(subj, good); // duplicate

    const flipped = c1.seal(0, 'r1', te.encode('flip'));
    flipped[flipped.length - 5] = (flipped[flipped.length - 5] as number) ^ 1; // inside the signature
    nc1.publish(subj, flipped);

    nc1.publish(subj, c1.seal(0, 'r1', te.encode('truncated')).subarray(0, 40));

    // ciphertext corrupted, then validly signed by party 1: provable fault of party 1
    const f = decodeFrame(c1.seal(0, 'r1', te.encode('bad ct')), 1 << 24);
    const p = Uint8Array.from(f.payload);
    p[20] = (p[20] as number) ^ 0xff;
    const badCt = encodeFrame({
      ...f,
      payload: p,
      sig: ed25519.sign(frameSignedBytes({ ...f, payload: p }), secrets[1]!.ed25519Secret),
    });
    nc1.publish(subj, badCt);

    // a frame party 1 sent in another session, replayed here
    const other = new FrameCodec({ self: 1, sid: new Uint8Array(32).fill(3), keys: secrets[1]!, roster });
    exchangeSessionKeys([new FrameCodec({ self: 0, sid: other.sid, keys: secrets[0]!, roster }), other]);
    nc1.publish(subj, other.seal(0, 'r1', te.encode('old session')));

    // party 1 re-signs a frame claiming from = 2 (spoofing): its subject still says 1
    const spoof = decodeFrame(c1.seal(0, 'r1', te.encode('spoof')), 1 << 24);
    const asTwo = { ...spoof, from: 2 };
    nc1.publish(subj, encodeFrame({ ...asTwo, sig: ed25519.sign(frameSignedBytes(asTwo), secrets[1]!.ed25519Secret) }));

    await nc1.flush();
    await until(() => inboxes[0]!.rejects.length >= 5, 5_000, 'rejections');
    await new Promise((r) => setTimeout(r, 100));
    const ib = inboxes[0]!;
    expect(ib.frames.map((x) => td.decode(x.frame.payload))).toEqual(['once']);
    const codes = ib.rejects.map((e) => `${e.code}:${e.attributable}:${e.sender}`);
    expect(codes).toEqual([
      'ERR_TRANSPORT_SIGNATURE:false:1',
      'ERR_TRANSPORT_FRAME_MALFORMED:false:undefined',
      'ERR_TRANSPORT_FAULT:true:1',
      'ERR_TRANSPORT_SESSION:false:1',
      'ERR_TRANSPORT_MISROUTED:false:2',
    ]);
    expect(ib.rejects[2]!.blame.map((x) => x.party)).toEqual([1]);
    // the transport is still healthy (party 2: party 1's sequence numbers were used by c1 above)
    await sessions[2]!.send(0, 'r2', te.encode('still fine'));
    await until(() => ib.frames.length === 2, 5_000, 'frame after faults');
    c1.dispose();
    other.dispose();
    await nc1.close();
    await Promise.all(sessions.map((s) => s.leave()));
  });

  it('the server refuses publishing as another party and subscribing to another inbox', async () => {
    const sid = new Uint8Array(32).fill(4);
    const session = sessionToken(sid);
    const sessions = await joinAll(sid);
    const events: TransportEvent[] = [];
    const nc1 = await raw(1, events);
    // subscribe to party 0's inbox
    const subErr: Error[] = [];
    nc1.subscribe(`mpc.${session}.party.0.*`, {
      callback: (err) => {
        if (err) subErr.push(err);
      },
    });
    // publish into party 0's inbox claiming to be party 2, and a broadcast as party 0
    const c2like = new FrameCodec({ self: 2, sid, keys: secrets[1]!, roster }); // wrong keys anyway
    c2like.acceptSessionKeys(new Map([[0, sessions[0]!.sessionKey]]), [0]);
    nc1.publish(p2pSubject(session, 0, 2), c2like.seal(0, 'r1', te.encode('x')));
    nc1.publish(`mpc.${session}.broadcast.0`, te.encode('x'));
    await nc1.flush();
    const refusedPublishes = () =>
      events
        .map((e) => (e.type === 'permission' ? (e.error as unknown as PermissionViolationError) : undefined))
        .filter((e) => e?.operation === 'publish')
        .map((e) => e?.subject)
        .sort();
    const wantRefused = [p2pSubject(session, 0, 2), `mpc.${session}.broadcast.0`].sort();
    await until(() => subErr.length >= 1 && refusedPublishes().length >= 2, 5_000, 'permission violations');
    expect(subErr[0]).toBeInstanceOf(PermissionViolationError);
    expect((subErr[0] as PermissionViolationError).operation).toBe('subscription');
    expect(refusedPublishes()).toEqual(wantRefused);
    await new Promise((r) => setTimeout(r, 100));
    expect(inboxes[0]!.frames).toEqual([]);
    expect(inboxes[0]!.rejects).toEqual([]);
    c2like.dispose();
    await nc1.close();
    await Promise.all(sessions.map((s) => s.leave()));
  });

  it('survives a nats-server restart: reconnects, resubscribes, later frames flow (A28)', async () => {
    const sid = new Uint8Array(32).fill(5);
    const sessions = await joinAll(sid);
    await sessions[0]!.send(ALL, 'r1', te.encode('before'));
    await until(() => inboxes[1]!.frames.length === 1 && inboxes[2]!.frames.length === 1, 5_000, 'before');
    for (const ib of inboxes) ib.events.length = 0;
    await server.kill();
    await until(() => inboxes.every((ib) => ib.events.some((e) => e.type === 'disconnect')), 5_000, 'disconnect');
    await server.start();
    await until(() => inboxes.every((ib) => ib.events.some((e) => e.type === 'reconnect')), 10_000, 'reconnect');
    await sessions[0]!.send(ALL, 'r2', te.encode('after'));
    await sessions[2]!.send(1, 'r2', te.encode('p2p after'));
    await until(
      () => inboxes[1]!.frames.length === 3 && inboxes[2]!.frames.length === 2,
      5_000,
      'frames after restart',
    );
    expect(inboxes[1]!.frames.map((f) => td.decode(f.frame.payload)).sort()).toEqual(['after', 'before', 'p2p after']);
    await Promise.all(sessions.map((s) => s.leave()));
  }, 30_000);
});
