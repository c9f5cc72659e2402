import { createDecipheriv } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  decodeSessionResult,
  encodeStartCommand,
  newSid,
  openPartyMessage,
  type SessionResult,
  sealCoordinatorMessage,
} from '../../src/daemon/control.js';
import { Ed25519Signer } from '../../src/primitives/ed25519.js';
import { decodeEnvelope } from '../../src/protocol/envelope.js';
import { MAX_BODY_BYTES } from '../../src/protocol/runner.js';
import { decodeFrame, encodeFrame, type Frame, frameAd, frameSignedBytes } from '../../src/transport/frame.js';
import { MemoryHub } from '../../src/transport/memory.js';
import {
  announceSessionKey,
  decodeSessionKeys,
  encodeSessionKeys,
  openSessionKey,
  sessionPairwiseKey,
} from '../../src/transport/session-keys.js';
import { parseSubject, sessionToken } from '../../src/transport/subjects.js';
import { rejection } from '../helpers/failure.js';
import { clusterIdentities, startCluster } from './cluster.js';

/**
 * Forward secrecy of P2P payloads (issue 17, item 6), over three party daemons and a coordinator
 * on the in-memory transport (same frames and subjects as NATS):
 * - a keygen is recorded frame by frame; an attacker who later steals every party's identity keys
 *   (Ed25519 and the static X25519 key) decrypts none of its P2P frames, while the session's own
 *   ephemeral keys (kept by the test through a hook) decrypt every one: the capture is real;
 * - a `go` whose relayed session key for a member is forged, unsigned, missing, or absent
 *   altogether is refused by every member before any protocol message exists;
 * - a party whose signed `ready` carries a key it did not sign properly is named by the coordinator.
 */
const N = 3;
const ids = clusterIdentities(N);
const recorded: Array<{ subject: string; bytes: Uint8Array }> = [];
/** Copies of every session's ephemeral secret, by party and sid (the codec wipes its own). */
const ephemeral = new Map<string, Uint8Array>();
const handedOut: Uint8Array[] = [];
let dir: string;
let hub: MemoryHub;
let cluster: Awaited<ReturnType<typeof startCluster>>;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mpc-fs-'));
  hub = new MemoryHub();
  hub.intercept = (subject, bytes) => {
    recorded.push({ subject, bytes: Uint8Array.from(bytes) });
    return [bytes];
  };
  const transports = ids.secrets.map((k, i) =>
    hub.transport(i, k, ids.roster, {
      ephemeralSecret: (sid) => {
        const secret = x25519.utils.randomSecretKey();
        ephemeral.set(`${i}:${bytesToHex(sid)}`, Uint8Array.from(secret));
        handedOut.push(secret);
        return secret;
      },
    }),
  );
  cluster = await startCluster({ dir, ids, transports, coordinatorBus: hub.bus(), roundTimeoutMs: 20_000 });
}, 60_000);

afterAll(async () => {
  await cluster?.close();
  await rm(dir, { recursive: true, force: true });
});

function chachaOpen(key: Uint8Array, f: Frame): Uint8Array | undefined {
  try {
    const d = createDecipheriv('chacha20-poly1305', key, f.payload.subarray(0, 12), { authTagLength: 16 });
    d.setAAD(frameAd(f), { plaintextLength: f.payload.length - 28 });
    d.setAuthTag(f.payload.subarray(f.payload.length - 16));
    return new Uint8Array(Buffer.concat([d.update(f.payload.subarray(12, f.payload.length - 16)), d.final()]));
  } catch {
    return undefined;
  }
}

/** The P2P key derivation of the static-key design (before this change), as an attacker would run it. */
function staticPairwiseKey(a: number, b: number, sid: Uint8Array): Uint8Array {
  const shared = x25519.getSharedSecret(ids.secrets[a]!.x25519Secret, ids.roster[b]!.x25519);
  const [lo, hi] = a < b ? [a, b] : [b, a];
  const te = new TextEncoder();
  const u32 = (x: number) => Uint8Array.of(x >>> 24, (x >>> 16) & 255, (x >>> 8) & 255, x & 255);
  const lp = (x: Uint8Array) => Uint8Array.of(...u32(x.length), ...x);
  const info = Uint8Array.of(
    ...lp(te.encode('mpc-custody.transport.v1.p2p-key')),
    ...u32(lo),
    ...u32(hi),
    ...lp(ids.roster[lo]!.x25519),
    ...lp(ids.roster[hi]!.x25519),
  );
  return hkdf(sha256, shared, sid, info, 32);
}

/** The P2P frames recorded in session `sid`. */
function p2pFramesOf(sid: Uint8Array) {
  const token = sessionToken(sid);
  return recorded
    .filter((r) => {
      const s = parseSubject(r.subject);
      return s?.session === token && s.kind === 'p2p';
    })
    .map((r) => decodeFrame(r.bytes, 1 << 24));
}

describe('forward secrecy of a recorded keygen', () => {
  it('stolen identity keys decrypt no P2P frame; the session ephemeral keys decrypt every one', async () => {
    recorded.length = 0;
    await cluster.coordinator.keygen({ keyId: 'fs-key', threshold: 2, parties: N });
    const goFrames = recorded
      .map((r) => decodeFrame(r.bytes, 1 << 24))
      .filter((f) => f.round === 'ctl.go' && f.from === 0xfffffffe);
    expect(goFrames).toHaveLength(1);
    const sid = goFrames[0]!.sid;
    // the ephemeral publics as anyone on the wire sees them (relayed in go, signed by each party)
    const relayed = decodeSessionKeys(goFrames[0]!.payload);
    const E = [0, 1, 2].map((i) => openSessionKey(relayed.get(i)!, sid, i, ids.roster[i]!.ed25519));
    const p2p = p2pFramesOf(sid);
    expect(p2p.length).toBeGreaterThanOrEqual(N * (N - 1)); // keygen sends every share P2P
    const rounds = new Set<string>();
    for (const f of p2p) {
      const [a, b] = [f.from, f.to];
      const withSecret = (bSecret: Uint8Array) =>
        sessionPairwiseKey({
          sid,
          self: b,
          selfSecret: bSecret,
          selfPublic: E[b]!,
          selfIdentity: ids.roster[b]!.ed25519,
          peer: a,
          peerPublic: E[a]!,
          peerIdentity: ids.roster[a]!.ed25519,
        });
      // 1. the static-key derivation with the stolen identity keys
      expect(chachaOpen(staticPairwiseKey(b, a, sid), f)).toBeUndefined();
      // 2. today's derivation, the stolen static X25519 key standing in for the wiped ephemeral one
      expect(chachaOpen(withSecret(ids.secrets[b]!.x25519Secret), f)).toBeUndefined();
      // 3. with the ephemeral secret the session really used: the capture decrypts to a signed envelope
      const plain = chachaOpen(withSecret(ephemeral.get(`${b}:${bytesToHex(sid)}`)!), f);
      expect(plain).toBeDefined();
      const env = decodeEnvelope(plain!, MAX_BODY_BYTES);
      expect([env.from, env.to, env.round]).toEqual([a, b, f.round]);
      rounds.add(env.round);
    }
    expect(rounds.size).toBeGreaterThan(0);
    // every ephemeral secret handed to a codec was wiped once its keys existed
    for (const s of handedOut) expect(s.every((x) => x === 0)).toBe(true);
  }, 60_000);
});

describe('a session key a member did not sign is refused', () => {
  const coordinatorSigner = new Ed25519Signer(ids.coordinatorSecret);
  let seq = 1000;

  /** Starts a keygen as the coordinator would, waits for the readies, sends `go` with `tamper`ed keys. */
  async function runWithGo(keyId: string, tamper: (keys: Map<number, Uint8Array>, sid: Uint8Array) => Uint8Array) {
    const sid = newSid();
    const token = sessionToken(sid);
    const readies = new Map<number, Uint8Array>();
    const results = new Map<number, SessionResult>();
    let notify = () => {};
    const unsubscribe = await hub.bus().subscribe(`mpc.${token}.control.*`, (_subject, bytes) => {
      if (_subject.endsWith('.coord')) return;
      const m = openPartyMessage(bytes, ids.roster);
      if (m.round === 'ready') readies.set(m.from, m.payload);
      if (m.round === 'result') results.set(m.from, decodeSessionResult(m.payload));
      notify();
    });
    const until = (cond: () => boolean) =>
      new Promise<void>((resolve) => {
        notify = () => cond() && resolve();
        notify();
      });
    const publish = (round: 'start' | 'go', payload: Uint8Array) =>
      hub
        .bus()
        .publish(
          `mpc.${token}.control.coord`,
          sealCoordinatorMessage(coordinatorSigner, { sid, round, seq: ++seq, payload }),
        );
    recorded.length = 0;
    const start = encodeStartCommand({
      op: 'keygen',
      keyId,
      members: [0, 1, 2],
      threshold: 2,
      path: [],
      presignatureId: '',
      payload: new Uint8Array(0),
      roundTimeoutMs: 2000,
    });
    await publish('start', start);
    await until(() => readies.size === N);
    await publish('go', tamper(readies, sid));
    await until(() => results.size === N);
    unsubscribe();
    const protocolFrames = recorded.filter((r) => {
      const s = parseSubject(r.subject);
      return s?.session === token && s.kind !== 'control';
    });
    return { results, protocolFrames };
  }

  it('forged, unsigned, missing or absent keys: every member refuses before round 1', async () => {
    const forger = new Ed25519Signer(ed25519.utils.randomSecretKey());
    const variants: Array<[string, (k: Map<number, Uint8Array>, sid: Uint8Array) => Uint8Array, string]> = [
      [
        // the relay substitutes its own key for party 1 (a man in the middle) and signs it itself
        'forged',
        (k, sid) =>
          encodeSessionKeys(
            new Map([
              ...k,
              [1, announceSessionKey(forger, sid, 1, x25519.getPublicKey(x25519.utils.randomSecretKey()))],
            ]),
          ),
        'ERR_TRANSPORT_SESSION_KEY_INVALID',
      ],
      [
        'unsigned',
        (k) => {
          const bare = Uint8Array.from(k.get(1)!);
          bare.fill(0, 34);
          return encodeSessionKeys(new Map([...k, [1, bare]]));
        },
        'ERR_TRANSPORT_SESSION_KEY_INVALID',
      ],
      ['missing', (k) => encodeSessionKeys(new Map([...k].filter(([p]) => p !== 1))), 'ERR_TRANSPORT_SESSION_KEY_'],
      ['absent', () => new Uint8Array(0), 'ERR_TRANSPORT_SESSION_KEY_MISSING'],
    ];
    for (const [name, tamper, code] of variants) {
      const { results, protocolFrames } = await runWithGo(`fs-${name}`, tamper);
      for (const [party, r] of results) {
        expect({ name, party, ok: r.ok, code: r.code.startsWith(code) }).toEqual({
          name,
          party,
          ok: false,
          code: true,
        });
        expect(r.blame).toEqual([]); // the relay, not a member, may be at fault
      }
      expect({ name, frames: protocolFrames.length }).toEqual({ name, frames: 0 });
    }
    for (const p of cluster.parties) expect(await p.store.listShares()).toHaveLength(1); // fs-key only
  }, 60_000);

  it('the coordinator names a member whose signed ready carries a key it did not sign', async () => {
    hub.intercept = (subject, bytes) => {
      const s = parseSubject(subject);
      const f = decodeFrame(bytes, 1 << 24);
      if (s?.kind !== 'control' || s.from !== 2 || f.round !== 'ctl.ready') return [bytes];
      // party 2 (malicious) announces a key with a broken signature inside its validly signed ready
      const payload = Uint8Array.from(f.payload);
      payload[payload.length - 1] = (payload[payload.length - 1] as number) ^ 1;
      const sig = ed25519.sign(frameSignedBytes({ ...f, payload }), ids.secrets[2]!.ed25519Secret);
      return [encodeFrame({ ...f, payload, sig })];
    };
    try {
      const err = await rejection(cluster.coordinator.keygen({ keyId: 'fs-blame', threshold: 2, parties: N }));
      expect(err.code).toBe('ERR_DAEMON_SESSION_FAILED');
      expect(err.blame.map((b) => b.party)).toEqual([2]);
    } finally {
      hub.intercept = undefined;
    }
  }, 60_000);
});
