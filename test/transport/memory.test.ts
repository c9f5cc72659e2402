import { describe, expect, it } from 'vitest';
import { ALL } from '../../src/protocol/types.js';
import { type Delivered, type FrameRejected, generatePartyKeys } from '../../src/transport/frame.js';
import { MemoryHub } from '../../src/transport/memory.js';
import { renderServerConfig } from '../../src/transport/nats-config.js';
import { p2pSubject, parseSubject, partyPermissions, sessionToken } from '../../src/transport/subjects.js';
import { exchangeSessionKeys } from '../helpers/session-keys.js';

const tick = () => new Promise((r) => setTimeout(r, 0));

describe('MemoryTransport', () => {
  it('routes like NATS, de-duplicates and reports tampering without stopping', async () => {
    const ks = Array.from({ length: 3 }, () => generatePartyKeys());
    const roster = ks.map((k) => k.public);
    const hub = new MemoryHub();
    const got: Delivered[][] = [[], [], []];
    const rej: FrameRejected[][] = [[], [], []];
    const sid = new Uint8Array(16).fill(9);
    const sessions = await Promise.all(
      ks.map((k, i) =>
        hub.transport(i, k.secret, roster).join(sid, {
          onFrame: (f) => got[i]!.push(f),
          onReject: (e) => rej[i]!.push(e),
        }),
      ),
    );
    exchangeSessionKeys(sessions);
    hub.intercept = (subject, bytes) => {
      if (subject.endsWith('.party.2.0')) {
        const bad = Uint8Array.from(bytes);
        bad[bad.length - 1] = (bad[bad.length - 1] as number) ^ 1;
        return [bad, bytes];
      }
      return [bytes, bytes]; // everything else is duplicated
    };
    await sessions[0]!.send(ALL, 'r1', Uint8Array.of(1));
    await sessions[0]!.send(1, 'r2', Uint8Array.of(2));
    await sessions[0]!.send(2, 'r2', Uint8Array.of(3));
    await tick();
    expect(got[1]!.map((f) => [f.round, f.payload[0]])).toEqual([
      ['r1', 1],
      ['r2', 2],
    ]);
    expect(got[2]!.map((f) => [f.round, f.payload[0]])).toEqual([
      ['r1', 1],
      ['r2', 3],
    ]);
    expect(got[0]).toEqual([]);
    expect(rej[2]!.map((e) => [e.code, e.attributable])).toEqual([['ERR_TRANSPORT_SIGNATURE', false]]);
    await Promise.all(sessions.map((s) => s.leave()));
  });
});

describe('session keys over the in-memory transport', () => {
  it('holds P2P frames that arrive before the keys (a few per sender) and delivers them after', async () => {
    const ks = Array.from({ length: 2 }, () => generatePartyKeys());
    const roster = ks.map((k) => k.public);
    const hub = new MemoryHub();
    const got: Delivered[] = [];
    const rej: FrameRejected[] = [];
    const sid = new Uint8Array(16).fill(10);
    const a = await hub.transport(0, ks[0]!.secret, roster).join(sid, { onFrame: () => undefined });
    const b = await hub.transport(1, ks[1]!.secret, roster).join(sid, {
      onFrame: (f) => got.push(f),
      onReject: (e) => rej.push(e),
    });
    const keys = new Map([
      [0, a.sessionKey],
      [1, b.sessionKey],
    ]);
    a.acceptSessionKeys(keys, [0, 1]); // a got its go first; b's is still on its way
    for (let i = 1; i <= 5; i++) await a.send(1, `r${i}`, Uint8Array.of(i));
    await tick();
    expect(got).toEqual([]);
    // the fifth is over the bound: refused without blame, the first four are held
    expect(rej.map((e) => [e.code, e.attributable])).toEqual([['ERR_TRANSPORT_SESSION_KEY_MISSING', false]]);
    b.acceptSessionKeys(keys, [0, 1]);
    expect(got.map((f) => f.payload[0])).toEqual([1, 2, 3, 4]);
    await a.send(1, 'r6', Uint8Array.of(6));
    await tick();
    expect(got.map((f) => f.payload[0])).toEqual([1, 2, 3, 4, 6]);
    await Promise.all([a.leave(), b.leave()]);
  });
});

describe('subjects and server permissions', () => {
  it('parses only well-formed subjects', () => {
    const s = sessionToken(Uint8Array.of(0xab));
    expect(parseSubject(p2pSubject(s, 1, 2))).toEqual({ kind: 'p2p', session: 'ab', to: 1, from: 2 });
    expect(parseSubject('mpc.ab.broadcast.3')).toEqual({ kind: 'broadcast', session: 'ab', from: 3 });
    expect(parseSubject('mpc.ab.control.coord')).toEqual({ kind: 'control', session: 'ab', from: 'coord' });
    for (const bad of [
      'mpc.ab.party.01.2',
      'mpc.ab.party.1',
      'mpc.ab.broadcast.x',
      'x.ab.broadcast.1',
      'mpc.ab.other.1',
    ]) {
      expect(parseSubject(bad)).toBeUndefined();
    }
  });

  it('party permissions: publish only as itself, subscribe only to its own inbox', () => {
    const p = partyPermissions(1);
    expect(p.publish.allow).toEqual(['mpc.*.party.*.1', 'mpc.*.broadcast.1', 'mpc.*.control.1']);
    expect(p.subscribe.allow).toEqual(['mpc.*.party.1.*', 'mpc.*.broadcast.*', 'mpc.*.control.*']);
    const conf = JSON.parse(
      renderServerConfig({ host: '127.0.0.1', port: 1, maxPayload: 10, certFile: 'c', keyFile: 'k', users: [] }),
    );
    expect(conf.tls).toMatchObject({ cert_file: 'c', key_file: 'k' });
    expect(conf.max_payload).toBe(10);
  });
});
