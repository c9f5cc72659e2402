import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256 } from '@noble/hashes/sha2.js';
import { Transaction as BtcTransaction, Psbt } from 'bitcoinjs-lib';
import * as ecc from 'tiny-secp256k1';
import { type Hex, recoverTransactionAddress } from 'viem';
import { publicKeyToAddress } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { btcNetwork } from '../../src/chains/btc-network.js';
import { xpub } from '../../src/chains/index.js';
import { demoErc20Transfer, demoPsbt } from '../../src/cli/demo-payloads.js';
import {
  decodeSessionResult,
  decodeStartCommand,
  encodeSessionResult,
  encodeStartCommand,
  newSid,
  openPartyMessage,
  type SessionResult,
  type StartCommand,
  sealControlFrame,
  sealCoordinatorMessage,
} from '../../src/daemon/control.js';
import { CURVE_ORDER, decodePoint } from '../../src/primitives/curve.js';
import { derivePath } from '../../src/protocol/hd.js';
import type { PresignaturePublic } from '../../src/protocol/sign.js';
import { decodePartialSignature, encodePartialSignature } from '../../src/protocol/sign.js';
import { decodeFrame } from '../../src/transport/frame.js';
import { MemoryHub } from '../../src/transport/memory.js';
import { parseSubject, sessionToken } from '../../src/transport/subjects.js';
import { bip32 } from '../chains/helpers.js';
import { rejection } from '../helpers/failure.js';
import { math } from '../helpers/keys.js';
import { memoMath } from '../helpers/memo-math.js';
import { nobleVerifies, opensslVerifies } from '../helpers/verify.js';
import { clusterIdentities, startCluster } from './cluster.js';

/**
 * Three party daemons and a coordinator in one process over the in-memory transport (same frames,
 * subjects and checks as NATS): keygen 2-of-3, aux info, presign, sign, and the daemon's refusals.
 */
const N = 3;
const ids = clusterIdentities(N);
let dir: string;
let cluster: Awaited<ReturnType<typeof startCluster>>;
let hub: MemoryHub;
let publicKey: import('../../src/primitives/curve.js').Point;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mpc-daemon-'));
  hub = new MemoryHub();
  const transports = ids.secrets.map((k, i) => hub.transport(i, k, ids.roster));
  // the three in-process daemons share one cached backend (test/helpers/memo-math.ts): each aux-info
  // proof (Πprm, Πmod) is the same for both its verifiers, so the second verifier's exponentiations
  // are looked up; every daemon still runs every check (CI time)
  const shared = memoMath(math);
  cluster = await startCluster({
    dir,
    ids,
    transports,
    coordinatorBus: hub.bus(),
    roundTimeoutMs: 60_000,
    options: () => ({ math: shared }),
  });
  publicKey = await cluster.coordinator.keygen({ keyId: 'treasury', threshold: 2, parties: N });
  await cluster.coordinator.auxInfo({ keyId: 'treasury', parties: N });
}, 180_000);

afterAll(async () => {
  await cluster?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('party daemon over the in-memory transport', () => {
  it('keeps every share sealed and records the key in each ledger', async () => {
    for (const [i, p] of cluster.parties.entries()) {
      const shares = await p.store.listShares();
      expect(shares).toEqual([{ partyId: i, keyId: 'treasury', version: 1 }]);
      expect(p.ledger.getKey('treasury')?.threshold).toBe(2);
      expect(p.ledger.getKey('treasury')?.publicKey).toBe(Buffer.from(publicKey.toBytes(true)).toString('hex'));
    }
  });

  it('presigns among any two parties and signs; noble and OpenSSL verify under the derived key', async () => {
    const msg = new TextEncoder().encode('withdraw 1.5 BTC to bc1q...');
    const digest = sha256(msg);
    for (const signers of [
      [0, 1],
      [0, 2],
      [1, 2],
    ]) {
      const pre = await cluster.coordinator.presign({ keyId: 'treasury', signers, path: [0, 7] });
      for (const s of signers) expect(cluster.parties[s]?.ledger.listAvailable('treasury')).toContain(pre.id);
      const sig = await cluster.coordinator.sign({ keyId: 'treasury', presignature: pre, digest });
      expect(nobleVerifies(pre.publicKey, digest, sig)).toBe(true);
      expect(opensslVerifies(pre.publicKey, msg, sig.der)).toBe(true);
      for (const s of signers) expect(cluster.parties[s]?.ledger.isConsumed(pre.id)).toBe(true);
    }
  });

  it('refuses a second signature with the same presignature (every signer says so)', async () => {
    const pre = await cluster.coordinator.presign({ keyId: 'treasury', signers: [0, 2] });
    expect(pre.publicKey.equals(publicKey)).toBe(true);
    await cluster.coordinator.sign({ keyId: 'treasury', presignature: pre, digest: sha256(new Uint8Array([1])) });
    const err = await rejection(
      cluster.coordinator.sign({ keyId: 'treasury', presignature: pre, digest: sha256(new Uint8Array([2])) }),
    );
    expect(err.code).toBe('ERR_DAEMON_SESSION_FAILED');
    expect(err.message).toContain('ERR_PRESIGNATURE_USED');
  });

  it('refuses an unknown presignature and a presignature named with other signers', async () => {
    const pre = await cluster.coordinator.presign({ keyId: 'treasury', signers: [1, 2] });
    const unknown: PresignaturePublic = { ...pre, id: 'ab'.repeat(32) };
    const err = await rejection(
      cluster.coordinator.sign({ keyId: 'treasury', presignature: unknown, digest: new Uint8Array(32).fill(9) }),
    );
    expect(err.message).toContain('ERR_DAEMON_PRESIGNATURE_UNKNOWN');
    const wrongSigners: PresignaturePublic = { ...pre, signers: [0, 1] };
    const err2 = await rejection(
      cluster.coordinator.sign({ keyId: 'treasury', presignature: wrongSigners, digest: new Uint8Array(32).fill(9) }),
    );
    expect(err2.code).toBe('ERR_DAEMON_SESSION_FAILED');
    // the real signers still hold it, untouched
    expect(cluster.parties[1]?.ledger.listAvailable('treasury')).toContain(pre.id);
    // named under an unknown key, or under another key the parties hold: each refused with its own
    // code before anything is consumed (a ledger record of 'cold' suffices: the refusal comes first)
    const unknownKey = await rejection(
      cluster.coordinator.sign({ keyId: 'nosuch', presignature: pre, digest: new Uint8Array(32).fill(9) }),
    );
    expect(unknownKey.details.codes).toBe('ERR_DAEMON_KEY_UNKNOWN');
    for (const p of cluster.parties) {
      const meta = p.ledger.getKey('treasury');
      if (meta !== undefined && p.ledger.getKey('cold') === undefined) p.ledger.putKey({ ...meta, keyId: 'cold' });
    }
    const err3 = await rejection(
      cluster.coordinator.sign({ keyId: 'cold', presignature: pre, digest: new Uint8Array(32).fill(9) }),
    );
    expect(err3.details.codes).toBe('ERR_DAEMON_PRESIGNATURE_OTHER_KEY');
    expect(cluster.parties[2]?.ledger.listAvailable('treasury')).toContain(pre.id);
  });

  it('derives the HD child key exactly as BIP32 non-hardened derivation of the group key', async () => {
    const pre = await cluster.coordinator.presign({ keyId: 'treasury', signers: [0, 1], path: [3, 1] });
    const share = await cluster.parties[0]?.store.listShares();
    expect(share?.length).toBe(1);
    // the chain code is public key-share data; re-derive from party 0's stored share via the protocol
    const { getKeyShare } = await import('../../src/storage/secret-store.js');
    const { share: ks } = await getKeyShare(cluster.parties[0]?.store as never, math, {
      partyId: 0,
      keyId: 'treasury',
    });
    expect(pre.publicKey.equals(derivePath(publicKey, ks.core.chainCode, [3, 1]).publicKey)).toBe(true);
  });

  it('ignores commands signed by anyone but the coordinator, and never runs a start twice', async () => {
    const before = cluster.parties.map((p) => p.daemon.stats);
    const forger = clusterIdentities(1).coordinatorSecret;
    const sid = newSid();
    const cmd = encodeStartCommand({
      op: 'keygen',
      keyId: 'forged',
      members: [0, 1, 2],
      threshold: 2,
      path: [],
      presignatureId: '',
      payload: new Uint8Array(0),
      roundTimeoutMs: 1000,
    });
    const subject = `mpc.${sessionToken(sid)}.control.coord`;
    await hub.bus().publish(subject, sealCoordinatorMessage(forger, { sid, round: 'start', seq: 1, payload: cmd }));
    await hub.bus().publish(subject, new Uint8Array([0x81, 0xa1, 0x76, 0x01])); // garbage
    await new Promise((r) => setTimeout(r, 50));
    for (const [i, p] of cluster.parties.entries()) {
      expect(p.daemon.stats.commandsRefused).toBe((before[i]?.commandsRefused ?? 0) + 2);
      expect(p.daemon.activeSessions).toBe(0);
      expect(await p.store.listShares()).toHaveLength(1);
    }
    // a genuine presign start, replayed: the second copy is ignored (one session, one presignature)
    let captured: Uint8Array | undefined;
    let capturedSubject = '';
    hub.intercept = (s, b) => {
      if (s.endsWith('.control.coord') && captured === undefined) {
        captured = b;
        capturedSubject = s;
      }
      return [b];
    };
    const pre = await cluster.coordinator.presign({ keyId: 'treasury', signers: [0, 1] });
    hub.intercept = undefined;
    const count = cluster.parties[0]?.ledger.listAvailable('treasury').length;
    expect(captured?.length).toBeGreaterThan(0);
    await hub.bus().publish(capturedSubject, captured as Uint8Array);
    await new Promise((r) => setTimeout(r, 100));
    expect(cluster.parties[0]?.ledger.listAvailable('treasury').length).toBe(count);
    expect(cluster.parties[0]?.daemon.activeSessions).toBe(0);
    // after a restart (empty memory) the replay is still refused: presign sids are in the ledger
    await cluster.restart(0);
    await cluster.restart(1);
    await hub.bus().publish(capturedSubject, captured as Uint8Array);
    await new Promise((r) => setTimeout(r, 200));
    for (const i of [0, 1]) {
      expect(cluster.parties[i]?.daemon.stats.commandsRefused).toBe(1);
      expect(cluster.parties[i]?.daemon.activeSessions).toBe(0);
    }
    expect(cluster.parties[0]?.ledger.listAvailable('treasury').length).toBe(count);
    expect(pre.id).toMatch(/^[0-9a-f]{64}$/);
  });

  it('a duplicated sign start runs the signing once: one partial per signer, no second attempt', async () => {
    const settled = async () => {
      for (let i = 0; i < 100 && cluster.parties.some((p) => p.daemon.activeSessions > 0); i++) {
        await new Promise((r) => setTimeout(r, 20));
      }
      await new Promise((r) => setTimeout(r, 50));
    };
    const pre = await cluster.coordinator.presign({ keyId: 'treasury', signers: [0, 1] });
    await settled(); // the presign's own bookkeeping is done before the counters are read
    const before = [0, 1].map((i) => cluster.parties[i]?.daemon.stats);
    const answers: string[] = [];
    let sid = '';
    let duplicated = 0;
    hub.intercept = (subject, bytes) => {
      const s = parseSubject(subject);
      if (s?.kind !== 'control') return [bytes];
      const f = decodeFrame(bytes, 1 << 20);
      if (f.round === 'ctl.start' && decodeStartCommand(f.payload).presignatureId === pre.id) {
        sid = s.session;
        duplicated++;
        return [bytes, bytes]; // the same signed start delivered twice
      }
      if (s.session === sid && typeof s.from === 'number') answers.push(`${s.from}:${f.round}`);
      return [bytes];
    };
    const digest = sha256(new TextEncoder().encode('sign once'));
    try {
      const sig = await cluster.coordinator.sign({ keyId: 'treasury', presignature: pre, digest });
      expect(nobleVerifies(pre.publicKey, digest, sig)).toBe(true);
      await settled();
    } finally {
      hub.intercept = undefined;
    }
    expect(duplicated).toBe(1);
    // a second run would consume nothing (the ledger refuses) but answer again with a failure
    expect(answers.sort()).toEqual(['0:ctl.partial', '1:ctl.partial']);
    for (const [k, i] of [0, 1].entries()) {
      const now = cluster.parties[i]?.daemon.stats;
      expect(now?.sessionsOk).toBe((before[k]?.sessionsOk ?? 0) + 1);
      expect(now?.sessionsFailed).toBe(before[k]?.sessionsFailed);
    }
  });

  it('the coordinator never releases a signature built on a bad partial, and names the sender', async () => {
    /** Replaces party 1's partial with `rewrite(bytes)`, re-signed with party 1's own identity key. */
    const forgeParty1 = (rewrite: (payload: Uint8Array) => Uint8Array) => {
      hub.intercept = (subject, bytes) => {
        const s = parseSubject(subject);
        if (s?.kind !== 'control' || s.from !== 1) return [bytes];
        const f = decodeFrame(bytes, 1 << 20);
        if (f.round !== 'ctl.partial') return [bytes];
        const secret = ids.secrets[1]?.ed25519Secret as Uint8Array;
        return [
          sealControlFrame(secret, { sid: f.sid, from: 1, round: 'partial', seq: 1, payload: rewrite(f.payload) }),
        ];
      };
    };
    const digest = sha256(new TextEncoder().encode('tampered partial'));
    const cases: Array<[string, (p: Uint8Array) => Uint8Array, (e: Awaited<ReturnType<typeof rejection>>) => void]> = [
      [
        'σ off by one: the combined signature does not verify',
        (p) => {
          const d = decodePartialSignature(p);
          return encodePartialSignature({ ...d, sigma: (d.sigma + 1n) % CURVE_ORDER });
        },
        (e) => expect(e.details.reason).toBe('signature-invalid'),
      ],
      [
        "a partial for another r'",
        (p) => {
          const d = decodePartialSignature(p);
          return encodePartialSignature({ ...d, r: (d.r + 1n) % CURVE_ORDER });
        },
        (e) => expect(e.blame.map((b) => b.party)).toEqual([1]),
      ],
      [
        'malformed bytes',
        () => new Uint8Array([0x55, 1, 2, 3]),
        (e) => expect(e.blame.map((b) => b.party)).toEqual([1]),
      ],
      [
        'another signer position',
        (p) => encodePartialSignature({ ...decodePartialSignature(p), signer: 0 }),
        (e) => expect(e.blame.map((b) => b.party)).toEqual([1]),
      ],
    ];
    try {
      for (const [, rewrite, check] of cases) {
        const pre = await cluster.coordinator.presign({ keyId: 'treasury', signers: [0, 1] });
        forgeParty1(rewrite);
        const err = await rejection(cluster.coordinator.sign({ keyId: 'treasury', presignature: pre, digest }));
        hub.intercept = undefined;
        check(err);
        // both signers consumed it before answering: a retry cannot reuse the presignature
        for (const i of [0, 1]) expect(cluster.parties[i]?.ledger.isConsumed(pre.id)).toBe(true);
      }
    } finally {
      hub.intercept = undefined;
    }
  });

  it("the coordinator ignores a non-member's report and a frame on another party's subject", async () => {
    const pre = await cluster.coordinator.presign({ keyId: 'treasury', signers: [0, 1] });
    const digest = sha256(new TextEncoder().encode('only members count'));
    let injected = 0;
    hub.intercept = (subject, bytes) => {
      if (injected === 0 && subject.endsWith('.control.coord') && decodeFrame(bytes, 1 << 20).round === 'ctl.start') {
        injected++;
        const sid = decodeFrame(bytes, 1 << 20).sid;
        const seal = (from: number, round: 'partial' | 'result', payload: Uint8Array) =>
          sealControlFrame(ids.secrets[from]?.ed25519Secret as Uint8Array, { sid, from, round, seq: 1, payload });
        const other = `mpc.${sessionToken(sid)}.control.2`;
        const failed = encodeSessionResult({
          ok: false,
          code: 'ERR_X',
          message: 'no',
          blame: [],
          summary: new Uint8Array(0),
        });
        const garbage = encodePartialSignature({ presignatureId: pre.id, signer: 1, r: 1n, sigma: 1n });
        // queued ahead of every genuine answer: if either were taken, the signing would fail
        queueMicrotask(() => {
          hub.publish(other, seal(2, 'result', failed)); // party 2 is no signer of this session
          hub.publish(other, seal(1, 'partial', garbage)); // party 1's signature, party 2's subject
        });
      }
      return [bytes];
    };
    try {
      const sig = await cluster.coordinator.sign({ keyId: 'treasury', presignature: pre, digest });
      expect(injected).toBe(1);
      expect(nobleVerifies(pre.publicKey, digest, sig)).toBe(true);
    } finally {
      hub.intercept = undefined;
    }
  });

  it('a presignature from a session the coordinator aborted is burnt, even if it finished later here', async () => {
    const before = [0, 1].map((i) => cluster.parties[i]?.ledger.countAvailable('treasury'));
    let injected = 0;
    hub.intercept = (subject, bytes) => {
      if (injected === 0 && subject.endsWith('.control.coord') && decodeFrame(bytes, 1 << 20).round === 'ctl.go') {
        injected++;
        const sid = decodeFrame(bytes, 1 << 20).sid;
        const failed = encodeSessionResult({
          ok: false,
          code: 'ERR_X',
          message: 'no',
          blame: [],
          summary: new Uint8Array(0),
        });
        // party 1 (its own key, its own subject) reports failure first: the coordinator aborts
        // while both members are still presigning
        const frame = sealControlFrame(ids.secrets[1]?.ed25519Secret as Uint8Array, {
          sid,
          from: 1,
          round: 'result',
          seq: 99,
          payload: failed,
        });
        queueMicrotask(() => hub.publish(`mpc.${sessionToken(sid)}.control.1`, frame));
      }
      return [bytes];
    };
    try {
      const err = await rejection(cluster.coordinator.presign({ keyId: 'treasury', signers: [0, 1] }));
      expect(err.code).toBe('ERR_DAEMON_SESSION_FAILED');
    } finally {
      hub.intercept = undefined;
    }
    for (let i = 0; i < 200 && cluster.parties.some((p) => p.daemon.activeSessions > 0); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect([0, 1].map((i) => cluster.parties[i]?.ledger.countAvailable('treasury'))).toEqual(before);
  });

  it('times out with blame when a signer is not running', async () => {
    await cluster.parties[2]?.daemon.drain(1000);
    const err = await rejection(
      (async () => {
        const { Coordinator } = await import('../../src/daemon/coordinator.js');
        const c = new Coordinator({
          bus: hub.bus(),
          roster: ids.roster,
          secret: ids.coordinatorSecret,
          readyTimeoutMs: 3000,
        });
        await c.start();
        try {
          return await c.presign({ keyId: 'treasury', signers: [1, 2] });
        } finally {
          await c.close();
        }
      })(),
    );
    expect(err.code).toBe('ERR_DAEMON_SESSION_TIMEOUT');
    expect(err.blame.map((b) => b.party)).toEqual([2]);
  });
});

describe('chain payloads through the party daemons (issue #12)', () => {
  const signers = [0, 1]; // party 2 was drained by the timeout test above

  /** Sends a sign command straight from the coordinator key (bypassing the coordinator's own checks). */
  async function rawSign(c: Pick<StartCommand, 'presignatureId' | 'payload' | 'kind' | 'digestIndex' | 'network'>) {
    const sid = newSid();
    const token = sessionToken(sid);
    const answers = new Map<number, SessionResult | 'partial'>();
    const unsubscribe = await hub.bus().subscribe(`mpc.${token}.control.*`, (_subject, bytes) => {
      try {
        const m = openPartyMessage(bytes, ids.roster);
        answers.set(m.from, m.round === 'partial' ? 'partial' : decodeSessionResult(m.payload));
      } catch {
        // the coordinator's own frame
      }
    });
    const cmd = encodeStartCommand({
      op: 'sign',
      keyId: 'treasury',
      members: signers,
      threshold: 0,
      path: [],
      roundTimeoutMs: 10_000,
      ...c,
    });
    await hub
      .bus()
      .publish(
        `mpc.${token}.control.coord`,
        sealCoordinatorMessage(ids.coordinatorSecret, { sid, round: 'start', seq: 1, payload: cmd }),
      );
    for (let i = 0; i < 200 && answers.size < signers.length; i++) await new Promise((r) => setTimeout(r, 25));
    unsubscribe();
    return signers.map((m) => answers.get(m));
  }

  it('keyinfo: every party reports the same root key; its xpub derives the presignature keys', async () => {
    const key = await cluster.coordinator.keyInfo({ keyId: 'treasury', parties: signers });
    expect(key.publicKey.equals(publicKey)).toBe(true);
    const pre = await cluster.coordinator.presign({ keyId: 'treasury', signers, path: [5, 2 ** 31 - 1] });
    const child = bip32
      .fromBase58(xpub(key))
      .derive(5)
      .derive(2 ** 31 - 1);
    expect(Buffer.from(child.publicKey).equals(Buffer.from(pre.publicKey.toBytes(true)))).toBe(true);
  });

  it('signs an EIP-1559 ERC-20 transfer: the raw tx recovers (viem) to the xpub-derived address', async () => {
    const path = [0, 9];
    const pre = await cluster.coordinator.presign({ keyId: 'treasury', signers, path });
    const payload = demoErc20Transfer(3);
    const out = await cluster.coordinator.signPayload({
      keyId: 'treasury',
      kind: 'eth.transaction',
      payload,
      presignatures: [pre],
    });
    expect(out.decoded.fields.erc20).toMatchObject({ method: 'transfer', amount: '250000000' });
    const key = await cluster.coordinator.keyInfo({ keyId: 'treasury', parties: signers });
    const child = path.reduce((n, i) => n.derive(i), bip32.fromBase58(xpub(key)));
    const expected = publicKeyToAddress(
      `0x${Buffer.from(decodePoint(child.publicKey).toBytes(false)).toString('hex')}`,
    );
    const from = await recoverTransactionAddress({ serializedTransaction: out.artifact.hex as Hex as never });
    expect(from).toBe(expected);
    for (const s of signers) expect(cluster.parties[s]?.ledger.isConsumed(pre.id)).toBe(true);
  });

  it('signs a 2-input PSBT with one presignature per input path; signatures and witness keys check out', async () => {
    const key = await cluster.coordinator.keyInfo({ keyId: 'treasury', parties: signers });
    const paths = [
      [0, 1],
      [1, 4],
    ];
    const payload = demoPsbt(
      key,
      paths.map((path, i) => ({ path, value: 60_000n + BigInt(i) * 50_000n })),
      [1, 5],
    );
    const presignatures = [];
    for (const path of paths)
      presignatures.push(await cluster.coordinator.presign({ keyId: 'treasury', signers, path }));
    // presignatures in the wrong order: each is bound to the other input's path, refused before any signing
    const swapped = await rejection(
      cluster.coordinator.signPayload({
        keyId: 'treasury',
        kind: 'btc.psbt',
        payload,
        network: 'regtest',
        presignatures: [...presignatures].reverse(),
      }),
    );
    expect(swapped.code).toBe('ERR_CHAIN_PATH_MISMATCH');
    const out = await cluster.coordinator.signPayload({
      keyId: 'treasury',
      kind: 'btc.psbt',
      payload,
      network: 'regtest',
      presignatures,
    });
    expect(out.decoded.fields).toMatchObject({ fee: '1000', network: 'regtest' });
    const tx = BtcTransaction.fromHex(out.artifact.hex);
    const node = bip32.fromBase58(xpub(key, 'regtest'), btcNetwork('regtest') as never);
    paths.forEach((path, i) => {
      const witness = tx.ins[i]?.witness as Uint8Array[];
      expect(
        Buffer.from(witness[1] as Uint8Array).equals(Buffer.from(path.reduce((n, j) => n.derive(j), node).publicKey)),
      ).toBe(true);
    });
    // the same signatures, as partial signatures in the PSBT, validate with tiny-secp256k1
    const check = Psbt.fromBuffer(payload, { network: btcNetwork('regtest') });
    paths.forEach((_, i) => {
      const witness = tx.ins[i]?.witness as Uint8Array[];
      check.updateInput(i, { partialSig: [{ pubkey: witness[1] as Uint8Array, signature: witness[0] as Uint8Array }] });
    });
    expect(check.validateSignaturesOfAllInputs((pk, h, sig) => ecc.verify(h, pk, sig))).toBe(true);
  });

  it('a malformed payload or a presignature for another input path is refused before the presignature is consumed', async () => {
    const pre = await cluster.coordinator.presign({ keyId: 'treasury', signers, path: [0, 2] });
    const good = demoErc20Transfer(4);
    const cases: Array<[string, Parameters<typeof rawSign>[0], string]> = [
      [
        'truncated RLP',
        { presignatureId: pre.id, kind: 'eth.transaction', payload: good.subarray(0, -1) },
        'ERR_CHAIN_PAYLOAD_MALFORMED',
      ],
      [
        'trailing bytes',
        { presignatureId: pre.id, kind: 'eth.transaction', payload: Uint8Array.of(...good, 0) },
        'ERR_CHAIN_PAYLOAD_MALFORMED',
      ],
      [
        'a digest index past the payload',
        { presignatureId: pre.id, kind: 'eth.transaction', payload: good, digestIndex: 1 },
        'ERR_CHAIN_DIGEST_INDEX',
      ],
    ];
    const key = await cluster.coordinator.keyInfo({ keyId: 'treasury', parties: signers });
    const psbt = demoPsbt(key, [{ path: [0, 3], value: 200_000n }], [1, 5]);
    cases.push([
      'a PSBT input at another path',
      { presignatureId: pre.id, kind: 'btc.psbt', payload: psbt, network: 'regtest' },
      'ERR_CHAIN_PATH_MISMATCH',
    ]);
    for (const [name, cmd, code] of cases) {
      const answers = await rawSign(cmd);
      for (const a of answers) {
        expect(a, name).not.toBe('partial');
        expect((a as SessionResult | undefined)?.code, name).toBe(code);
      }
      for (const s of signers) expect(cluster.parties[s]?.ledger.isConsumed(pre.id), name).toBe(false);
    }
    // still usable for a well-formed payload
    const out = await cluster.coordinator.signPayload({
      keyId: 'treasury',
      kind: 'eth.transaction',
      payload: good,
      presignatures: [pre],
    });
    expect(out.artifact.hex).toMatch(/^0x02/);
  });
});
