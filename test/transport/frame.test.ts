import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { Ed25519Signer } from '../../src/primitives/ed25519.js';
import { ALL } from '../../src/protocol/types.js';
import {
  decodeFrame,
  encodeFrame,
  type Frame,
  FrameCodec,
  FrameRejected,
  frameSignedBytes,
  generatePartyKeys,
  ReplayWindow,
} from '../../src/transport/frame.js';
import { announceSessionKey, sessionPairwiseKey } from '../../src/transport/session-keys.js';
import { exchangeSessionKeys } from '../helpers/session-keys.js';

function party(n: number) {
  const ks = Array.from({ length: n }, () => generatePartyKeys());
  return { secrets: ks.map((k) => k.secret), roster: ks.map((k) => k.public) };
}

const SID = new Uint8Array(32).fill(7);
const OTHER_SID = new Uint8Array(32).fill(8);

function setup(n = 3, sid = SID) {
  const { secrets, roster } = party(n);
  const codecs = secrets.map((keys, self) => new FrameCodec({ self, sid, keys, roster }));
  exchangeSessionKeys(codecs);
  return { secrets, roster, codecs };
}

function rejected(fn: () => unknown): FrameRejected {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(FrameRejected);
    return e as FrameRejected;
  }
  throw new Error('expected a FrameRejected');
}

/** Decodes a frame, lets `edit` change it, and re-signs it with `signer` (default: the sender). */
function resign(bytes: Uint8Array, secret: Uint8Array, edit: (f: Frame) => Frame = (f) => f): Uint8Array {
  const f = edit(decodeFrame(bytes, 1 << 24));
  const sig = ed25519.sign(frameSignedBytes(f), secret);
  return encodeFrame({ ...f, sig });
}

const te = new TextEncoder();

describe('frame codec: round trip', () => {
  it('delivers p2p (encrypted) and broadcast frames', () => {
    const { codecs } = setup();
    const [a, b, c] = codecs as [FrameCodec, FrameCodec, FrameCodec];
    const p2p = a.seal(1, 'r1', te.encode('secret for b'));
    expect(Buffer.from(p2p).includes(Buffer.from('secret for b'))).toBe(false);
    const got = b.open(p2p, { kind: 'p2p', from: 0 });
    expect(got.status).toBe('deliver');
    expect(new TextDecoder().decode(got.frame.payload)).toBe('secret for b');
    expect(got.frame).toMatchObject({ from: 0, to: 1, round: 'r1', seq: 1 });
    // c cannot read or accept a frame addressed to b
    expect(rejected(() => c.open(p2p)).code).toBe('ERR_TRANSPORT_MISROUTED');

    const bc = a.seal(ALL, 'r2', te.encode('hello all'));
    for (const r of [b, c]) {
      const d = r.open(bc, { kind: 'broadcast', from: 0 });
      expect(d.status).toBe('deliver');
      expect(new TextDecoder().decode(d.frame.payload)).toBe('hello all');
    }
  });
});

describe('frame codec: faults', () => {
  it('a bit flip anywhere is refused or blamed, never a crash', () => {
    const { codecs } = setup();
    const [a, b] = codecs as [FrameCodec, FrameCodec];
    const frame = a.seal(1, 'r1', te.encode('payload payload payload'));
    for (let i = 0; i < frame.length; i++) {
      for (const bit of [0x01, 0x80]) {
        const bad = Uint8Array.from(frame);
        bad[i] = (bad[i] as number) ^ bit;
        const e = rejected(() => b.open(bad));
        expect(e.code.startsWith('ERR_TRANSPORT_')).toBe(true);
        // a flip cannot be attributed: the signature no longer verifies (or the frame does not parse)
        expect(e.attributable).toBe(false);
      }
    }
    expect(b.open(frame).status).toBe('deliver');
  });

  it('every truncation and an extension are refused', () => {
    const { codecs } = setup();
    const [a, b] = codecs as [FrameCodec, FrameCodec];
    const frame = a.seal(1, 'r1', te.encode('x'.repeat(100)));
    for (let len = 0; len < frame.length; len++) {
      const e = rejected(() => b.open(frame.subarray(0, len)));
      expect(e.attributable).toBe(false);
    }
    const ext = new Uint8Array(frame.length + 1);
    ext.set(frame);
    expect(rejected(() => b.open(ext)).code).toBe('ERR_TRANSPORT_FRAME_MALFORMED');
  });

  it('corrupted ciphertext signed by its sender is blame naming the sender', () => {
    const { codecs, secrets } = setup();
    const [a, b] = codecs as [FrameCodec, FrameCodec];
    const frame = a.seal(1, 'r1', te.encode('hello'));
    const bad = resign(frame, secrets[0]!.ed25519Secret, (f) => {
      const p = Uint8Array.from(f.payload);
      p[p.length - 1] = (p[p.length - 1] as number) ^ 1;
      return { ...f, payload: p };
    });
    const e = rejected(() => b.open(bad));
    expect(e.code).toBe('ERR_TRANSPORT_FAULT');
    expect(e.attributable).toBe(true);
    expect(e.sender).toBe(0);
    expect(e.blame.map((x) => x.party)).toEqual([0]);
    // truncated ciphertext (shorter than nonce + tag), also signed by the sender
    const short = resign(frame, secrets[0]!.ed25519Secret, (f) => ({ ...f, payload: f.payload.subarray(0, 10) }));
    expect(rejected(() => b.open(short)).blame[0]?.party).toBe(0);
  });

  it('the header is the AEAD associated data: round, seq or ts changed and re-signed by the sender is blame', () => {
    // The sender's own signature covers the edited header, so only the AEAD can notice that the
    // ciphertext was sealed under another header (a sender moving a payload between rounds).
    const { codecs, secrets } = setup();
    const [a, b] = codecs as [FrameCodec, FrameCodec];
    const edits: Array<[string, (f: Frame) => Frame]> = [
      ['round', (f) => ({ ...f, round: 'r2' })],
      ['seq', (f) => ({ ...f, seq: f.seq + 100 })],
      ['ts', (f) => ({ ...f, ts: f.ts + 1 })],
    ];
    for (const [name, edit] of edits) {
      const frame = a.seal(1, 'r1', te.encode(`moved ${name}`));
      const e = rejected(() => b.open(resign(frame, secrets[0]!.ed25519Secret, edit), { kind: 'p2p', from: 0 }));
      expect(e.code, name).toBe('ERR_TRANSPORT_FAULT');
      expect(e.message, name).toContain('frame payload does not decrypt');
      expect(
        e.blame.map((x) => x.party),
        name,
      ).toEqual([0]);
    }
  });

  it('a frame re-signed by another party claiming to be the sender is refused (A12)', () => {
    const { codecs, secrets } = setup();
    const [a, b] = codecs as [FrameCodec, FrameCodec];
    const frame = a.seal(1, 'r1', te.encode('hello'));
    const forged = resign(frame, secrets[2]!.ed25519Secret); // party 2 signs, from stays 0
    const e = rejected(() => b.open(forged));
    expect(e.code).toBe('ERR_TRANSPORT_SIGNATURE');
    expect(e.attributable).toBe(false);
    expect(e.sender).toBe(0); // the claimed sender, for logs only
    // re-signed as itself but sent on party 0's channel: refused by the channel check
    const own = resign(frame, secrets[2]!.ed25519Secret, (f) => ({ ...f, from: 2 }));
    expect(rejected(() => b.open(own, { from: 0 })).code).toBe('ERR_TRANSPORT_MISROUTED');
  });

  it('duplicates are reported as duplicates (delivered once); same seq with other content is blame', () => {
    const { codecs, secrets } = setup();
    const [a, b] = codecs as [FrameCodec, FrameCodec];
    const frame = a.seal(ALL, 'r1', te.encode('m'));
    expect(b.open(frame).status).toBe('deliver');
    expect(b.open(frame).status).toBe('duplicate');
    expect(b.open(frame).status).toBe('duplicate');
    const other = resign(frame, secrets[0]!.ed25519Secret, (f) => ({ ...f, payload: te.encode('n') }));
    const e = rejected(() => b.open(other));
    expect(e.code).toBe('ERR_TRANSPORT_FAULT');
    expect(e.blame[0]?.party).toBe(0);
  });

  it('a frame replayed from another session is rejected (A11)', () => {
    const { secrets, roster } = party(2);
    const s1 = [0, 1].map((self) => new FrameCodec({ self, sid: SID, keys: secrets[self]!, roster }));
    const s2 = [0, 1].map((self) => new FrameCodec({ self, sid: OTHER_SID, keys: secrets[self]!, roster }));
    exchangeSessionKeys(s1);
    exchangeSessionKeys(s2);
    const old = s1[0]!.seal(1, 'r1', te.encode('old'));
    expect(s1[1]!.open(old).status).toBe('deliver');
    expect(rejected(() => s2[1]!.open(old)).code).toBe('ERR_TRANSPORT_SESSION');
    // even if the attacker rewrites the sid, the signature (and the AEAD) no longer match
    const rewritten = encodeFrame({ ...decodeFrame(old, 1 << 24), sid: OTHER_SID });
    expect(rejected(() => s2[1]!.open(rewritten)).code).toBe('ERR_TRANSPORT_SIGNATURE');
  });

  it('old sequence numbers outside the window and stale timestamps are refused', () => {
    const { secrets, roster } = party(2);
    const sent = 1_000_000;
    let now = sent;
    const mk = (self: number) =>
      new FrameCodec({
        self,
        sid: SID,
        keys: secrets[self]!,
        roster,
        replayWindow: 4,
        now: () => (self === 0 ? sent : now),
      });
    const [a, b] = [mk(0), mk(1)];
    const frames = Array.from({ length: 8 }, (_, i) => a.seal(ALL, 'r1', Uint8Array.of(i)));
    expect(b.open(frames[0]!).status).toBe('deliver');
    for (const f of frames.slice(3)) expect(b.open(f).status).toBe('deliver');
    expect(rejected(() => b.open(frames[1]!)).code).toBe('ERR_TRANSPORT_REPLAY');
    expect(b.open(frames[4]!).status).toBe('duplicate');
    now += 10 * 60_000;
    expect(rejected(() => b.open(a.seal(ALL, 'r1', Uint8Array.of(9)))).code).toBe('ERR_TRANSPORT_REPLAY');
  });

  it('replay window unit', () => {
    const w = new ReplayWindow(3);
    expect(w.check(5, 'a')).toBe('fresh');
    w.commit(5, 'a');
    expect(w.check(5, 'a')).toBe('duplicate');
    expect(w.check(5, 'b')).toBe('conflict');
    expect(w.check(3, 'c')).toBe('fresh');
    expect(w.check(2, 'c')).toBe('stale');
    w.commit(8, 'd');
    expect(w.check(5, 'a')).toBe('stale');
  });
});

describe('frame decoding: hostile msgpack (A35, A36)', () => {
  const packr = new Packr({ useRecords: false, variableMapSize: true });
  const valid = () => {
    const { codecs } = setup(2);
    return decodeFrame(codecs[0]!.seal(ALL, 'r1', Uint8Array.of(1)), 1 << 20);
  };
  const asObj = (f: Frame): Record<string, unknown> => ({
    v: f.v,
    sid: Buffer.from(f.sid),
    round: f.round,
    from: f.from,
    to: f.to,
    seq: f.seq,
    ts: f.ts,
    payload: Buffer.from(f.payload),
    sig: Buffer.from(f.sig),
  });

  it('rejects __proto__ / constructor / prototype keys without touching Object.prototype', () => {
    for (const key of ['__proto__', 'constructor', 'prototype']) {
      const m = new Map<string, unknown>(Object.entries(asObj(valid())));
      m.delete('sig');
      m.set(key, key === '__proto__' ? new Map([['polluted', true]]) : 1);
      const bytes = packr.pack(m);
      const e = rejected(() => decodeFrame(bytes, 1 << 20));
      expect(e.code).toBe('ERR_TRANSPORT_FRAME_MALFORMED');
      // scalar-valued variant reaches the key check after the structural scan
      m.set(key, 1);
      expect(rejected(() => decodeFrame(packr.pack(m), 1 << 20)).code).toBe('ERR_TRANSPORT_FRAME_MALFORMED');
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('rejects unknown keys, missing keys, duplicate keys, wrong types and nested values', () => {
    const base = asObj(valid());
    const cases: Record<string, unknown>[] = [
      { ...base, extra: 1 },
      (() => {
        const { sig: _s, ...rest } = base;
        return rest;
      })(),
      { ...base, from: 'zero' },
      { ...base, from: -3 },
      { ...base, to: -2 },
      { ...base, seq: 0 },
      { ...base, seq: 1.5 },
      { ...base, v: 2 },
      { ...base, round: 'has space' },
      { ...base, round: 'x'.repeat(65) },
      { ...base, sig: Buffer.alloc(63) },
      { ...base, sid: Buffer.alloc(0) },
      { ...base, payload: [1, 2, 3] },
      { ...base, payload: { a: 1 } },
      { ...base, ts: null },
      { ...base, ts: true },
    ];
    for (const c of cases) {
      const e = rejected(() => decodeFrame(packr.pack(c), 1 << 20));
      expect(e.code).toBe('ERR_TRANSPORT_FRAME_MALFORMED');
      expect(e.attributable).toBe(false);
    }
    // duplicate key: hand-built map header with 9 entries where "v" appears twice
    const dup = Buffer.from(packr.pack({ ...base }));
    const withDup = Buffer.concat([
      Buffer.from([0x89]),
      Buffer.from(packr.pack({ v: 1 })).subarray(1),
      dup.subarray(1),
    ]);
    expect(rejected(() => decodeFrame(withDup, 1 << 20)).code).toBe('ERR_TRANSPORT_FRAME_MALFORMED');
    // not a map at all
    for (const v of [[1, 2], 'str', 42, null]) {
      expect(rejected(() => decodeFrame(packr.pack(v), 1 << 20)).code).toBe('ERR_TRANSPORT_FRAME_MALFORMED');
    }
  });

  it('huge declared lengths and deep nesting are rejected quickly without allocation', () => {
    // bin32 payload declaring 2^32-1 bytes inside a 9-entry map
    const lie = Buffer.concat([
      Buffer.from([0x89, 0xa7]),
      Buffer.from('payload'),
      Buffer.from([0xc6, 0xff, 0xff, 0xff, 0xff]),
    ]);
    expect(rejected(() => decodeFrame(lie, 1 << 20)).code).toBe('ERR_TRANSPORT_FRAME_MALFORMED');
    // array32 of 10^6 claimed elements
    const arr = Buffer.concat([Buffer.from([0x89, 0xa1, 0x76, 0xdd, 0x00, 0x0f, 0x42, 0x40])]);
    expect(rejected(() => decodeFrame(arr, 1 << 20)).code).toBe('ERR_TRANSPORT_FRAME_MALFORMED');
    // 100k nested arrays
    const deep = Buffer.concat([Buffer.from([0x89, 0xa1, 0x76]), Buffer.alloc(100_000, 0x91)]);
    const t0 = performance.now();
    expect(rejected(() => decodeFrame(deep, 1 << 20)).code).toBe('ERR_TRANSPORT_FRAME_MALFORMED');
    expect(performance.now() - t0).toBeLessThan(100);
  });

  it('enforces the raw size limit before decoding and per-round payload limits', () => {
    const { secrets, roster } = party(2);
    const limits = {
      maxFrameBytes: { p2p: 600, broadcast: 2000 },
      maxPayloadBytes: (round: string) => (round === 'small' ? 16 : 1000),
    };
    const a = new FrameCodec({ self: 0, sid: SID, keys: secrets[0]!, roster, limits });
    const b = new FrameCodec({ self: 1, sid: SID, keys: secrets[1]!, roster, limits });
    exchangeSessionKeys([a, b]);
    expect(() => a.seal(ALL, 'small', new Uint8Array(17))).toThrow(/ERR_TRANSPORT_FRAME_TOO_LARGE/);
    expect(() => a.seal(1, 'big', new Uint8Array(900))).toThrow(/ERR_TRANSPORT_FRAME_TOO_LARGE/);
    expect(rejected(() => b.open(new Uint8Array(2001))).code).toBe('ERR_TRANSPORT_FRAME_TOO_LARGE');
    // a broadcast frame arriving on a p2p channel is checked against the p2p limit
    const big = a.seal(ALL, 'big', new Uint8Array(900));
    expect(rejected(() => b.open(big, { kind: 'p2p' })).code).toBe('ERR_TRANSPORT_FRAME_TOO_LARGE');
    // a sender that signs an oversized payload for a small round is blamed
    const unlimited = new FrameCodec({ self: 0, sid: SID, keys: secrets[0]!, roster });
    const over = unlimited.seal(ALL, 'small', new Uint8Array(17));
    const e = rejected(() => b.open(over));
    expect(e.code).toBe('ERR_TRANSPORT_FAULT');
    expect(e.blame[0]?.party).toBe(0);
  });

  it('dispose zeroizes and further use is refused', () => {
    const { codecs } = setup(2);
    const [a, b] = codecs as [FrameCodec, FrameCodec];
    const f = a.seal(1, 'r1', Uint8Array.of(1));
    a.dispose();
    expect(() => a.seal(1, 'r1', Uint8Array.of(1))).toThrow(/ERR_TRANSPORT_CLOSED/);
    b.dispose();
    expect(rejected(() => b.open(f)).code).toBe('ERR_TRANSPORT_CLOSED');
  });
});

describe('per-session ephemeral keys (forward secrecy)', () => {
  const fresh = (sid = SID, n = 3) => {
    const { secrets, roster } = party(n);
    const codecs = secrets.map((keys, self) => new FrameCodec({ self, sid, keys, roster }));
    return { secrets, roster, codecs };
  };
  const keysOf = (codecs: readonly FrameCodec[]) => new Map(codecs.map((c, i) => [i, c.sessionKey] as const));

  it('no P2P frame before the peers keys are accepted; broadcasts flow', () => {
    const { codecs } = fresh();
    const [a, b] = codecs as [FrameCodec, FrameCodec];
    expect(() => a.seal(1, 'r1', Uint8Array.of(1))).toThrow(/ERR_TRANSPORT_SESSION_KEY_MISSING/);
    expect(b.open(a.seal(ALL, 'r1', Uint8Array.of(1))).status).toBe('deliver');
    exchangeSessionKeys(codecs.slice(0, 2));
    const p2p = a.seal(1, 'r2', Uint8Array.of(2));
    expect(b.open(p2p).frame.payload).toEqual(Uint8Array.of(2));
  });

  it('a P2P frame from a peer whose key is not accepted yet is refused without blame', () => {
    const { codecs } = fresh();
    const [a, b] = codecs as [FrameCodec, FrameCodec];
    a.acceptSessionKeys(keysOf(codecs), [0, 1, 2]);
    const e = rejected(() => b.open(a.seal(1, 'r1', Uint8Array.of(1))));
    expect(e.code).toBe('ERR_TRANSPORT_SESSION_KEY_MISSING');
    expect(e.attributable).toBe(false);
  });

  it('refuses a missing key, a forged or unsigned key, and keys of another session or party', () => {
    const { secrets, roster, codecs } = fresh();
    const b = codecs[1] as FrameCodec;
    const good = keysOf(codecs);
    const attacker = generatePartyKeys();
    const forger = new FrameCodec({
      self: 0,
      sid: SID,
      keys: attacker.secret,
      roster: [attacker.public, ...roster.slice(1)],
    });
    const otherSession = new FrameCodec({ self: 0, sid: OTHER_SID, keys: secrets[0]!, roster });
    const asParty2 = new FrameCodec({ self: 2, sid: SID, keys: secrets[0]!, roster }); // party 0 signing as 2
    const unsigned = Uint8Array.from(good.get(0)!);
    unsigned.fill(0, 34); // valid key, zero signature
    const flipped = Uint8Array.from(good.get(0)!);
    flipped[flipped.length - 1] = (flipped[flipped.length - 1] as number) ^ 1;
    const cases: Array<[Uint8Array | undefined, string]> = [
      [undefined, 'ERR_TRANSPORT_SESSION_KEY_MISSING'],
      [forger.sessionKey, 'ERR_TRANSPORT_SESSION_KEY_INVALID'], // signed, but not by party 0's identity
      [unsigned, 'ERR_TRANSPORT_SESSION_KEY_INVALID'],
      [flipped, 'ERR_TRANSPORT_SESSION_KEY_INVALID'],
      [otherSession.sessionKey, 'ERR_TRANSPORT_SESSION_KEY_INVALID'], // party 0's, for another sid
      [good.get(2), 'ERR_TRANSPORT_SESSION_KEY_INVALID'], // party 2's key under party 0
      [good.get(0)!.subarray(0, 97), 'ERR_TRANSPORT_SESSION_KEY_INVALID'],
    ];
    for (const [announcement, code] of cases) {
      const keys = new Map(good);
      if (announcement === undefined) keys.delete(0);
      else keys.set(0, announcement);
      expect(() => b.acceptSessionKeys(keys, [0, 1, 2])).toThrow(new RegExp(code));
    }
    // a key signed by party 0 for party 2's slot: party 2 never signed it
    expect(() => b.acceptSessionKeys(new Map([...good, [2, asParty2.sessionKey]]), [0, 1, 2])).toThrow(
      /ERR_TRANSPORT_SESSION_KEY_INVALID/,
    );
    // the relayed copy of b's own key replaced (by a forger signing as party 1 would need 1's key)
    expect(() => b.acceptSessionKeys(new Map([...good, [1, good.get(0)!]]), [0, 1, 2])).toThrow(
      /ERR_TRANSPORT_SESSION_KEY_INVALID/,
    );
    expect(() => b.acceptSessionKeys(new Map([...good].filter(([p]) => p !== 1)), [0, 1, 2])).toThrow(
      /ERR_TRANSPORT_SESSION_KEY_INVALID/,
    );
    // every refusal left the codec without keys (all or nothing); the genuine set is then accepted
    expect(b.sessionKeysAccepted).toBe(false);
    expect(() => b.seal(2, 'r1', Uint8Array.of(1))).toThrow(/ERR_TRANSPORT_SESSION_KEY_MISSING/);
    b.acceptSessionKeys(good, [0, 1, 2]);
    expect(() => b.acceptSessionKeys(good, [0, 1, 2])).toThrow(/ERR_TRANSPORT_ARGS/);
    codecs[0]!.acceptSessionKeys(good, [0, 1, 2]);
    expect(b.open(codecs[0]!.seal(1, 'r1', Uint8Array.of(5))).frame.payload).toEqual(Uint8Array.of(5));
  });

  it('pairwise keys are symmetric, distinct per pair and per session', () => {
    const ids = party(3);
    const e = [0, 1, 2].map(() => x25519.utils.randomSecretKey());
    const key = (self: number, peer: number, sid = SID) =>
      sessionPairwiseKey({
        sid,
        self,
        selfSecret: e[self]!,
        selfPublic: x25519.getPublicKey(e[self]!),
        selfIdentity: ids.roster[self]!.ed25519,
        peer,
        peerPublic: x25519.getPublicKey(e[peer]!),
        peerIdentity: ids.roster[peer]!.ed25519,
      });
    expect(key(0, 1)).toEqual(key(1, 0));
    expect(key(0, 1)).not.toEqual(key(0, 2));
    expect(key(0, 1)).not.toEqual(key(0, 1, OTHER_SID));
  });

  it('refuses a low-order ephemeral key even when its owner signed it', () => {
    const { secrets, roster, codecs } = fresh(SID, 2);
    const low = announceSessionKey(new Ed25519Signer(secrets[0]!.ed25519Secret), SID, 0, new Uint8Array(32));
    const keys = new Map([
      [0, low],
      [1, codecs[1]!.sessionKey],
    ]);
    expect(() => codecs[1]!.acceptSessionKeys(keys, [0, 1])).toThrow(/ERR_TRANSPORT_KEY_INVALID/);
    expect(roster).toHaveLength(2);
  });

  it('wipes the ephemeral secret once the pairwise keys exist, and on dispose otherwise', () => {
    const { secrets, roster } = party(2);
    const e0 = x25519.utils.randomSecretKey();
    const e1 = x25519.utils.randomSecretKey();
    const a = new FrameCodec({ self: 0, sid: SID, keys: secrets[0]!, roster, ephemeralSecret: e0 });
    const b = new FrameCodec({ self: 1, sid: SID, keys: secrets[1]!, roster, ephemeralSecret: e1 });
    expect(e0.some((x) => x !== 0)).toBe(true);
    a.acceptSessionKeys(
      new Map([
        [0, a.sessionKey],
        [1, b.sessionKey],
      ]),
      [0, 1],
    );
    expect(e0.every((x) => x === 0)).toBe(true);
    expect(e1.some((x) => x !== 0)).toBe(true);
    b.dispose();
    expect(e1.every((x) => x === 0)).toBe(true);
  });
});
