import {
  assemblePayload,
  type BtcNetwork,
  type ChainKey,
  type DecodedPayload,
  decodePayload,
  type PayloadKind,
  type SignedArtifact,
} from '../chains/index.js';
import { MpcError } from '../errors/index.js';
import { decodePoint, type Point } from '../primitives/curve.js';
import { Ed25519Signer } from '../primitives/ed25519.js';
import { decodeKeyRecord } from '../protocol/reshare.js';
import {
  combineSignature,
  decodePartialSignature,
  type EcdsaSignature,
  type PartialSignature,
  type PresignaturePublic,
} from '../protocol/sign.js';
import type { Bus } from '../transport/bus.js';
import type { RosterEntry } from '../transport/frame.js';
import { encodeSessionKeys, openSessionKey } from '../transport/session-keys.js';
import { COORDINATOR, parseSubject, SUBJECT_ROOT, sessionToken } from '../transport/subjects.js';
import {
  type CoordinatorRound,
  decodePresignaturePublic,
  decodeRotationReport,
  decodeRotationStatus,
  decodeSessionResult,
  encodeRotationCommit,
  encodeStartCommand,
  newSid,
  openPartyMessage,
  type PartyMessage,
  type RotationCommit,
  type RotationReport,
  type RotationStatus,
  type SessionResult,
  type SignAuthorization,
  type StartCommand,
  sealCoordinatorMessage,
} from './control.js';
import { encodeRelayedPartials, type IdentificationKind, identificationSid } from './identification.js';

/**
 * The session coordinator: the part of the orchestrator that starts sessions over the control plane
 * and gathers what the parties report (control.ts). It holds no share: it signs commands with its own
 * Ed25519 key, waits for every member's `ready` before `go` (so no party's first message is sent
 * before a peer subscribed, SECURITY.md A28), and treats a session as successful only when every
 * member reports success with the same public outcome. Signing combines the members' partial
 * signatures and verifies the ECDSA signature before returning it.
 */

export interface CoordinatorOptions {
  readonly bus: Bus;
  readonly roster: readonly RosterEntry[];
  /** The coordinator's Ed25519 secret key (32 bytes). */
  readonly secret: Uint8Array;
  /** Per-round deadline the parties apply (default 30 s). */
  readonly roundTimeoutMs?: number;
  /** How long to wait for every member's ready (default 30 s). */
  readonly readyTimeoutMs?: number;
  /**
   * How long a policy / registry push waits for the parties' answers (default 5 s). A party answers
   * one message after a few signature checks and one ledger write; one that is down must not hold
   * an admin's `PUT /v1/policy` for the session ready timeout (the orchestrator relays the document
   * again at every sweep until every party holds it).
   */
  readonly pushTimeoutMs?: number;
}

interface Waiter {
  readonly members: readonly number[];
  readonly ready: Set<number>;
  /** Each ready member's signed session key (its `ready` payload), relayed in `go`. */
  readonly sessionKeys: Map<number, Uint8Array>;
  readonly results: Map<number, SessionResult>;
  readonly partials: Map<number, Uint8Array>;
  /** The signed `ctl.partial` frames as received (relayed to the signers for §7.3 identification). */
  readonly partialFrames: Map<number, Uint8Array>;
  notify: () => void;
}

/** Thrown when a session fails: blame lists the culprits (roster ids) the members reported. */
function sessionFailed(op: string, results: ReadonlyMap<number, SessionResult>, sid: string): MpcError {
  const failed = [...results.entries()].filter(([, r]) => !r.ok);
  const blame = new Map<number, string[]>();
  for (const [, r] of failed) {
    for (const b of r.blame) blame.set(b.party, [...(blame.get(b.party) ?? []), b.reason]);
  }
  const codes = [...new Set(failed.map(([, r]) => r.code))].join(', ');
  // parties a strict majority of the other reporting members blamed (e.g. the one that staged another key)
  const blamers = new Map<number, Set<number>>();
  for (const [from, r] of failed) {
    for (const b of r.blame) if (b.party !== from) blamers.set(b.party, (blamers.get(b.party) ?? new Set()).add(from));
  }
  const outvoted = [...blamers.entries()]
    .filter(([party, by]) => by.size * 2 > [...results.keys()].filter((m) => m !== party).length)
    .map(([party]) => party)
    .sort((a, b) => a - b);
  return new MpcError('ERR_DAEMON_SESSION_FAILED', `${op} failed at ${failed.map(([p]) => p).join(', ')}: ${codes}`, {
    details: { sid, op, codes, outvoted: outvoted.join(',') },
    blame: [...blame.entries()].map(([party, reasons]) => ({ party, msgIds: [], reason: reasons.join('; ') })),
  });
}

/** A reshare of `keyId` from holders 0..from−1 to holders 0..to−1 with threshold `threshold`. */
export interface ReshareRequest {
  readonly keyId: string;
  readonly from: number;
  readonly to: number;
  readonly threshold: number;
  /**
   * The record to hand out instead of reading it from the holders: what a coordinator that lies
   * would send (tests show every old holder refusing it). Never needed otherwise.
   */
  readonly record?: Uint8Array;
}

/** One party's answer to a policy / registry push. */
export interface PushOutcome {
  readonly party: number;
  readonly ok: boolean;
  /** The version the party holds after the push (ok only). */
  readonly version?: number;
  /** Hex SHA-256 of the held document's signed payload (ok only). */
  readonly hash?: string;
  /** The refusal's code ('' when ok; ERR_DAEMON_SESSION_TIMEOUT when the party did not answer). */
  readonly code: string;
  readonly message: string;
}

export interface PushResult {
  /** True when every addressed party holds the pushed version (or the very same document). */
  readonly ok: boolean;
  readonly parties: readonly PushOutcome[];
}

/** An admin-signed document as the admins produced it: General JWS JSON (object, text or bytes). */
export type SignedDocumentInput = string | Uint8Array | object;

function documentBytes(doc: SignedDocumentInput): Uint8Array {
  if (doc instanceof Uint8Array) return doc;
  return new TextEncoder().encode(typeof doc === 'string' ? doc : JSON.stringify(doc));
}

function decodeHeld(summary: Uint8Array): { version: number; hash: string } | undefined {
  if (summary.length !== 40) return undefined;
  const v = new DataView(summary.buffer, summary.byteOffset, summary.byteLength);
  return {
    version: v.getUint32(0) * 2 ** 32 + v.getUint32(4),
    hash: Buffer.from(summary.subarray(8)).toString('hex'),
  };
}

export class Coordinator {
  readonly #o: CoordinatorOptions;
  readonly #waiters = new Map<string, Waiter>();
  readonly #signer: Ed25519Signer;
  #unsubscribe: (() => void) | undefined;
  #seq = 0;

  constructor(o: CoordinatorOptions) {
    if (!(o.secret instanceof Uint8Array) || o.secret.length !== 32) {
      throw new MpcError('ERR_CONFIG_INVALID', 'coordinator secret must be 32 bytes');
    }
    this.#o = o;
    this.#signer = new Ed25519Signer(o.secret);
  }

  async start(): Promise<void> {
    this.#unsubscribe = await this.#o.bus.subscribe(`${SUBJECT_ROOT}.*.control.*`, (subject, bytes) => {
      // Subject first: a session we run and a member of it, before any decoding or signature check,
      // so a roster party flooding other sessions' subjects costs no verification here.
      const s = parseSubject(subject);
      if (s === undefined || s.kind !== 'control' || s.from === COORDINATOR) return;
      const w = this.#waiters.get(s.session);
      if (w === undefined || !w.members.includes(s.from)) return;
      let m: PartyMessage;
      try {
        m = openPartyMessage(bytes, this.#o.roster);
      } catch {
        return; // unauthenticated noise: never evidence, never fatal
      }
      if (m.from !== s.from || sessionToken(m.sid) !== s.session) return;
      if (m.round === 'ready') {
        if (w.ready.has(m.from) || w.results.has(m.from)) return;
        try {
          // checked here too so that a party announcing a bad key is named (its ready is signed)
          openSessionKey(m.payload, m.sid, m.from, (this.#o.roster[m.from] as RosterEntry).ed25519);
          w.sessionKeys.set(m.from, m.payload);
          w.ready.add(m.from);
        } catch (e) {
          const code = e instanceof MpcError ? e.code : 'ERR_TRANSPORT_SESSION_KEY_INVALID';
          const reason = 'announced a session key not signed by its identity';
          w.results.set(m.from, {
            ok: false,
            code,
            message: reason,
            blame: [{ party: m.from, reason }],
            summary: new Uint8Array(0),
          });
        }
      } else if (m.round === 'partial') {
        if (!w.partials.has(m.from)) {
          w.partials.set(m.from, m.payload);
          w.partialFrames.set(m.from, bytes);
        }
      } else {
        let r: SessionResult;
        try {
          r = decodeSessionResult(m.payload);
        } catch {
          r = {
            ok: false,
            code: 'ERR_DAEMON_COMMAND_INVALID',
            message: 'malformed result',
            blame: [],
            summary: new Uint8Array(0),
          };
        }
        if (!w.results.has(m.from)) w.results.set(m.from, r);
      }
      w.notify();
    });
  }

  async close(): Promise<void> {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
  }

  async #publish(sid: Uint8Array, round: CoordinatorRound, payload: Uint8Array): Promise<void> {
    const bytes = sealCoordinatorMessage(this.#signer, { sid, round, seq: ++this.#seq, payload });
    await this.#o.bus.publish(`${SUBJECT_ROOT}.${sessionToken(sid)}.control.${COORDINATOR}`, bytes);
  }

  /** A fresh session id (or `sid`) and the waiter that collects its members' reports. */
  #open(members: readonly number[], sid: Uint8Array = newSid()): { sid: Uint8Array; token: string; w: Waiter } {
    const token = sessionToken(sid);
    const w: Waiter = {
      members,
      ready: new Set(),
      sessionKeys: new Map(),
      results: new Map(),
      partials: new Map(),
      partialFrames: new Map(),
      notify() {},
    };
    this.#waiters.set(token, w);
    return { sid, token, w };
  }

  /** Waits until `done(w)` holds, a member reports failure, or the deadline passes. */
  async #until(
    token: string,
    w: Waiter,
    done: (w: Waiter) => boolean,
    timeoutMs: number,
    what: string,
    failFast = true,
  ): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const check = () => {
        const failed = [...w.results.values()].some((r) => !r.ok);
        if (failed && (failFast || w.members.every((m) => w.results.has(m)))) {
          clearTimeout(timer);
          reject(sessionFailed(what, w.results, token));
        } else if (done(w)) {
          clearTimeout(timer);
          resolve();
        }
      };
      const timer = setTimeout(() => {
        const missing = w.members.filter((m) => !done({ ...w, members: [m] } as Waiter));
        reject(
          new MpcError('ERR_DAEMON_SESSION_TIMEOUT', `${what}: no answer from ${missing.join(', ')} in time`, {
            details: { sid: token, missing: missing.join(',') },
            blame: missing.map((party) => ({ party, msgIds: [], reason: `timeout: no ${what} report` })),
          }),
        );
      }, timeoutMs);
      w.notify = check;
      check();
    });
  }

  /** Runs one keygen / aux / presign session to the end; returns every member's summary. */
  /**
   * `settle`: on a failure, wait for every member's report (up to the deadline) before failing, so the
   * error holds every member's blame (import: who staged another key is the party the others name).
   */
  async #session(cmd: Omit<StartCommand, 'roundTimeoutMs'>, rounds: number, settle = false): Promise<Uint8Array> {
    return (await this.#sessionRun(cmd, rounds, settle)).summaries[0] as Uint8Array;
  }

  /**
   * As #session, returning the sid and every member's summary; `agree` bytes of each summary must be
   * the same at every member (all of it by default; a refresh's reports differ in their signed ack).
   */
  async #sessionRun(
    cmd: Omit<StartCommand, 'roundTimeoutMs'>,
    rounds: number,
    settle = false,
    agree?: number,
  ): Promise<{ sid: Uint8Array; summaries: Uint8Array[] }> {
    const roundTimeoutMs = this.#o.roundTimeoutMs ?? 30_000;
    const full: StartCommand = { ...cmd, roundTimeoutMs };
    const payload = encodeStartCommand(full);
    const { sid, token, w } = this.#open(cmd.members);
    try {
      await this.#publish(sid, 'start', payload);
      try {
        await this.#until(
          token,
          w,
          (x) => x.members.every((m) => x.ready.has(m) || x.results.has(m)),
          this.#o.readyTimeoutMs ?? 30_000,
          `${cmd.op} ready`,
        );
      } catch (e) {
        await this.#publish(sid, 'abort', new Uint8Array(0)).catch(() => undefined);
        throw e;
      }
      // go carries every member's signed session key: no extra round trip for forward secrecy
      await this.#publish(sid, 'go', encodeSessionKeys(w.sessionKeys));
      // every round may take up to its deadline at each party, plus the report itself
      try {
        await this.#until(
          token,
          w,
          (x) => x.members.every((m) => x.results.has(m)),
          roundTimeoutMs * (rounds + 2),
          cmd.op,
          !settle,
        );
      } catch (e) {
        // members that already succeeded discard their output (a presignature is burnt)
        await this.#publish(sid, 'abort', new Uint8Array(0)).catch(() => undefined);
        if (cmd.op === 'presign' && [...w.results.values()].some((r) => !r.ok && r.reason === 'delta-mismatch')) {
          throw await this.#identify(sid, cmd.members, roundTimeoutMs, 'delta');
        }
        throw e;
      }
      const summaries = cmd.members.map((m) => (w.results.get(m) as SessionResult).summary);
      const part = (x: Uint8Array) => (agree === undefined ? x : x.subarray(0, agree));
      const first = part(summaries[0] as Uint8Array);
      const disagree = cmd.members.filter((_, j) => !equal(part(summaries[j] as Uint8Array), first));
      if (disagree.length > 0) {
        if (cmd.op === 'refresh' || cmd.op === 'reshare') {
          await this.#publish(sid, 'abort', new Uint8Array(0)).catch(() => undefined);
        }
        throw new MpcError('ERR_DAEMON_SESSION_FAILED', `${cmd.op}: members report different outcomes`, {
          details: { sid: token, op: cmd.op, disagree: disagree.join(',') },
        });
      }
      return { sid, summaries };
    } finally {
      this.#waiters.delete(token);
    }
  }

  /**
   * Identification after presign session `sid` failed its δ check (PROTOCOL.md §7.2), or signing
   * session `sid` produced an invalid signature (§7.3), without naming anyone: asks the members to
   * run identify.ts's protocol in the derived session, with the usual ready / go barrier, and waits
   * for every member's verdict. For a signature, `ctl.identify` relays every signer's own signed
   * partial-signature frame. Returns the session's failure with the culprits the members named; a
   * member that does not take part is named as well, unverified.
   */
  async #identify(
    sid: Uint8Array,
    members: readonly number[],
    roundTimeoutMs: number,
    kind: IdentificationKind,
    partialFrames: readonly Uint8Array[] = [],
  ): Promise<MpcError> {
    const idSid = identificationSid(sid, kind);
    const { token, w } = this.#open(members, idSid);
    const request = kind === 'delta' ? Uint8Array.of(0) : Uint8Array.from([1, ...encodeRelayedPartials(partialFrames)]);
    try {
      await this.#publish(sid, 'identify', request);
      const notReady = await this.#settle(
        w,
        (m) => w.ready.has(m) || w.results.has(m),
        this.#o.readyTimeoutMs ?? 30_000,
      );
      if (notReady.length > 0) {
        await this.#publish(idSid, 'abort', new Uint8Array(0)).catch(() => undefined);
        return identificationFailed(kind, sessionToken(sid), w.results, notReady, 'no identification ready');
      }
      await this.#publish(idSid, 'go', encodeSessionKeys(w.sessionKeys));
      // one round (+ its reliable-broadcast echo) at each party, plus the report
      const silent = await this.#settle(w, (m) => w.results.has(m), roundTimeoutMs * 3);
      return identificationFailed(kind, sessionToken(sid), w.results, silent, 'no identification result');
    } finally {
      this.#waiters.delete(token);
    }
  }

  /** Waits until `has(m)` holds for every member or the deadline passes; returns the members without. */
  async #settle(w: Waiter, has: (m: number) => boolean, timeoutMs: number): Promise<number[]> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      w.notify = () => {
        if (w.members.every(has)) {
          clearTimeout(timer);
          resolve();
        }
      };
      w.notify();
    });
    return w.members.filter((m) => !has(m));
  }

  /** t-of-n key generation among roster parties 0..n−1; returns the public key. */
  async keygen(o: { keyId: string; threshold: number; parties: number }): Promise<Point> {
    const members = [...Array(o.parties).keys()];
    const summary = await this.#session(
      {
        op: 'keygen',
        keyId: o.keyId,
        members,
        threshold: o.threshold,
        path: [],
        presignatureId: '',
        payload: new Uint8Array(0),
      },
      6,
    );
    return decodePoint(summary, 'keygen.publicKey');
  }

  /**
   * The import session of a tss-lib key (issue #19) among roster parties 0..n−1, each of which staged
   * its share with `mpc-custody import tss-lib`: every party checks that every other staged the same
   * key (public data and chain code) and converts its share into the additive n-of-n key among them.
   * Returns the public key (every member reports the same one). Aux info comes next (auxInfo).
   */
  async importKey(o: { keyId: string; parties: number }): Promise<Point> {
    const members = [...Array(o.parties).keys()];
    const summary = await this.#session(
      { op: 'import', keyId: o.keyId, members, threshold: 0, path: [], presignatureId: '', payload: new Uint8Array(0) },
      2,
      true,
    );
    return decodePoint(summary, 'import.publicKey');
  }

  /** Aux-info generation for a generated key (fresh Paillier-Blum moduli at every party). */
  async auxInfo(o: { keyId: string; parties: number }): Promise<void> {
    const members = [...Array(o.parties).keys()];
    await this.#session(
      { op: 'aux', keyId: o.keyId, members, threshold: 0, path: [], presignatureId: '', payload: new Uint8Array(0) },
      6,
    );
  }

  /**
   * Key refresh (issue #16, refresh.ts) among every holder 0..n−1 of the key, two-phase: the refresh
   * session, in which each holder seals its share of the next epoch beside the active one and reports
   * its signed acknowledgement (prepare, `prepareRefresh`); then `commit`, which relays every
   * acknowledgement: each holder checks all of them and moves the key to the new epoch, burning the
   * older epoch's presignatures. Until a holder commits, its old share signs; a failed refresh session
   * leaves the key on its epoch everywhere.
   *
   * First, every holder reports the key's last rotation: when all of them hold the same prepared
   * rotation and some have not committed it (a holder was down during the commit, or the coordinator
   * stopped between the phases), that commit is completed instead (`resumed`), with the holders'
   * acknowledgements as they report them again. Returns the new epoch and its public-data digest.
   */
  async refresh(o: {
    keyId: string;
    parties: number;
  }): Promise<{ epoch: number; digest: Uint8Array; resumed: boolean }> {
    const pending = pendingCommit(await this.rotationStatus(o));
    const commit = pending ?? (await this.prepareRefresh(o));
    await this.commitRotation({ ...o, commit });
    return { epoch: commit.epoch, digest: commit.digest, resumed: pending !== undefined };
  }

  /** Phase one of `refresh`: the refresh session; returns what `commitRotation` relays. */
  async prepareRefresh(o: { keyId: string; parties: number }): Promise<RotationCommit> {
    return this.#prepareRotation('refresh', o.keyId, o.parties, 0, new Uint8Array(0));
  }

  /**
   * Runs a rotation session (refresh or reshare) among holders 0..parties−1: each new holder reports
   * the new epoch, its public-data digest (identical everywhere) and its signed acknowledgement.
   */
  async #prepareRotation(
    op: 'refresh' | 'reshare',
    keyId: string,
    parties: number,
    threshold: number,
    payload: Uint8Array,
  ): Promise<RotationCommit> {
    const members = [...Array(parties).keys()];
    const cmd = { op, keyId, members, threshold, path: [], presignatureId: '', payload };
    const { sid, summaries } = await this.#sessionRun(cmd, 10, false, 36);
    let reports: RotationReport[];
    try {
      reports = summaries.map(decodeRotationReport);
    } catch (e) {
      await this.#publish(sid, 'abort', new Uint8Array(0)).catch(() => undefined);
      throw e;
    }
    const { epoch, digest } = reports[0] as RotationReport;
    return { sid, epoch, digest, acks: reports.map((r, holder) => ({ holder, sig: r.sig })) };
  }

  /**
   * Reshare that adds holders (issue #16): the key of holders 0..from−1 re-dealt to holders
   * 0..to−1 (to ≥ from; parties from..to−1 join with their roster identities) with threshold
   * `threshold`, then aux info of the new committee — prepared like a refresh (each new holder seals
   * its next-epoch share and acknowledges), then committed with every acknowledgement. The old
   * holders must all report the same key record (handed to the joiners; each old holder checks it
   * against its own share). Until the commit the old committee signs; after it the key is t′-of-n′
   * and every presignature of the old epoch is burnt.
   *
   * First, holders 0..to−1 report the key's last rotation (a joiner that never prepared one holds no
   * key: none). When they all hold the same rotation and some holder committed it (the commit reached
   * only some, the coordinator stopped half way), that commit is finished (`resumed`) instead: once
   * one holder is on the new epoch, only finishing it leaves one committee. When every holder
   * prepared it and none committed, a new reshare runs instead (it replaces the prepared one
   * everywhere, joiners included): the statuses do not say which threshold was prepared.
   * Returns the new epoch and its public-data digest. With to < from, holders leave: `#reshareLeave`.
   * @throws MpcError ERR_DAEMON_SESSION_FAILED when the old holders disagree on the key record
   * @throws MpcError ERR_ROTATION_STATE when the finished reshare has another threshold than asked
   */
  async reshare(o: ReshareRequest): Promise<{ epoch: number; digest: Uint8Array; resumed: boolean }> {
    if (o.to < o.from) return this.#reshareLeave(o);
    const statuses = await this.#reshareStatuses(o);
    const pending = pendingCommit(statuses);
    if (pending !== undefined && statuses.some((x) => x.state === 'committed')) {
      await this.commitRotation({ keyId: o.keyId, parties: o.to, commit: pending });
      const now = decodeKeyRecord(await this.keyRecord({ keyId: o.keyId, parties: o.to }));
      if (now.t !== o.threshold) {
        throw new MpcError(
          'ERR_ROTATION_STATE',
          `finished an interrupted reshare of this key to ${now.t}-of-${now.n} (epoch ${pending.epoch}), not the requested threshold ${o.threshold}; reshare again for it`,
          { details: { epoch: pending.epoch, threshold: now.t, parties: now.n } },
        );
      }
      return { epoch: pending.epoch, digest: pending.digest, resumed: true };
    }
    const commit = await this.prepareReshare(o);
    await this.commitRotation({ keyId: o.keyId, parties: o.to, commit });
    return { epoch: commit.epoch, digest: commit.digest, resumed: false };
  }

  /** Phase one of `reshare`: the reshare session (no status check); returns what `commitRotation` relays. */
  async prepareReshare(o: ReshareRequest): Promise<RotationCommit> {
    const record = o.record ?? (await this.keyRecord({ keyId: o.keyId, parties: o.from }));
    const held = decodeKeyRecord(record);
    if (o.record === undefined && held.n !== o.from) {
      // --from names the key's current holders: a stale count (a reshare run again after it
      // succeeded, a typo) would deal from the wrong committee
      throw new MpcError(
        'ERR_DAEMON_COMMAND_INVALID',
        `the key has ${held.n} holders (epoch ${held.epoch}), not ${o.from}: reshare --from ${held.n}`,
        { details: { holders: held.n, from: o.from, epoch: held.epoch } },
      );
    }
    if (o.to < o.from && o.record === undefined && held.t > o.to) {
      // the staying holders deal the key: at least the old threshold of them (each party checks it too)
      throw new MpcError(
        'ERR_DAEMON_COMMAND_INVALID',
        `a reshare to ${o.to} holders needs at least the key's threshold ${held.t} of its holders to stay`,
      );
    }
    return this.#prepareRotation('reshare', o.keyId, o.to, o.threshold, record);
  }

  /**
   * Reshare that removes holders (issue #16): holders 0..to−1 stay, parties to..from−1 leave. Every
   * old holder 0..from−1 must report the same key record; the staying holders (at least the key's
   * threshold of them) re-deal the key among themselves with threshold `threshold` and run aux info
   * of the new committee: one session among 0..to−1, prepared like a refresh (each seals its
   * next-epoch share and acknowledges). The commit goes to the new holders first; then, with the new
   * epoch's key record as the committed holders report it, to the leavers, which check every
   * acknowledgement and the record themselves and retire (share deleted, key marked left in their
   * ledger). Until the holders commit, the old committee signs.
   *
   * Resuming: parties 0..from−1 report the key's last rotation (a leaver that retired already: its
   * ERR_DAEMON_KEY_RETIRED; a leaver that is down: nothing, and it does not hold up the holders).
   * When the new holders hold the same rotation and some committed it, that commit is finished at
   * the holders (`resumed`); when every holder committed it and some leaver is still on the epoch
   * before or silent, only the leavers' step runs (`resumed`). Otherwise a new reshare runs.
   * @throws MpcError ERR_DAEMON_KEY_RETIRED when every leaver left the key already (nothing to do)
   * @throws MpcError ERR_ROTATION_STATE when a finished reshare has another threshold than asked
   */
  async #reshareLeave(o: ReshareRequest): Promise<{ epoch: number; digest: Uint8Array; resumed: boolean }> {
    const { statuses, retired, silent } = await this.#leaveStatuses(o);
    const holders = statuses.slice(0, o.to);
    const leavers = statuses.slice(o.to);
    const pending = pendingCommit(holders);
    let commit: RotationCommit;
    let resumed = true;
    if (pending !== undefined && holders.some((x) => x.state === 'committed')) {
      await this.commitRotation({ keyId: o.keyId, parties: o.to, commit: pending });
      commit = pending;
    } else if (retired.every((r) => r)) {
      throw new MpcError(
        'ERR_DAEMON_KEY_RETIRED',
        `parties ${o.to}..${o.from - 1} left this key already: it is held by 0..${o.to - 1}`,
      );
    } else {
      const done = committedRotation(holders);
      // a silent leaver may still be on the epoch before: its step is tried (and times out) rather
      // than a new reshare, which would leave it two epochs behind, its step then refused for good
      const waiting = (x: RotationStatus, j: number) => silent[j] || (!retired[j] && x.keyEpoch + 1 === done?.epoch);
      if (done !== undefined && leavers.some(waiting)) {
        commit = done;
      } else {
        commit = await this.prepareReshare(o);
        await this.commitRotation({ keyId: o.keyId, parties: o.to, commit });
        resumed = false;
      }
    }
    const now = await this.#retireLeavers(o, commit);
    if (now.t !== o.threshold) {
      throw new MpcError(
        'ERR_ROTATION_STATE',
        `finished an interrupted reshare of this key to ${now.t}-of-${now.n} (epoch ${commit.epoch}), not the requested threshold ${o.threshold}; reshare again for it`,
        { details: { epoch: commit.epoch, threshold: now.t, parties: now.n } },
      );
    }
    return { epoch: commit.epoch, digest: commit.digest, resumed };
  }

  /**
   * The leavers' step of a reshare that removes holders: the new epoch's key record as every committed
   * holder 0..to−1 reports it, relayed with the acknowledgements to parties to..from−1 (a leaver that
   * retired already answers ok). Returns the record.
   */
  async #retireLeavers(o: { keyId: string; from: number; to: number }, commit: RotationCommit) {
    const bytes = await this.keyRecord({ keyId: o.keyId, parties: o.to });
    const now = decodeKeyRecord(bytes);
    if (now.epoch !== commit.epoch || now.n !== o.to) {
      throw new MpcError(
        'ERR_ROTATION_STATE',
        `holders 0..${o.to - 1} hold the key ${now.t}-of-${now.n} at epoch ${now.epoch}, not the reshare to ${o.to} holders of epoch ${commit.epoch}`,
        { details: { epoch: now.epoch, threshold: now.t, parties: now.n } },
      );
    }
    const members = Array.from({ length: o.from - o.to }, (_, j) => o.to + j);
    await this.commitRotation({ keyId: o.keyId, parties: o.from, members, commit: { ...commit, record: bytes } });
    return now;
  }

  /**
   * Every old holder 0..from−1's rotation status of the key (a reshare that removes holders); a
   * leaver (to..from−1) that answers ERR_DAEMON_KEY_RETIRED left it already (`retired`, by leaver).
   * A leaver may be silent (down): the holders' commit must not wait for it. Its status is unknown
   * (`silent`, by leaver); the staying holders must all answer.
   */
  async #leaveStatuses(o: {
    keyId: string;
    from: number;
    to: number;
  }): Promise<{ statuses: RotationStatus[]; retired: boolean[]; silent: boolean[] }> {
    const { token, results } = await this.#askAll('rotation', { keyId: o.keyId, parties: o.from }, (m) => m >= o.to);
    const left = (r: SessionResult | undefined, m: number) =>
      r !== undefined && !r.ok && m >= o.to && r.code === 'ERR_DAEMON_KEY_RETIRED';
    const refused = new Map(
      results.flatMap((r, m) => (r === undefined || r.ok || left(r, m) ? [] : [[m, r] as const])),
    );
    if (refused.size > 0) throw sessionFailed('rotation', refused, token);
    return {
      statuses: results.map((r) => (r?.ok ? decodeRotationStatus(r.summary) : NO_ROTATION)),
      retired: results.slice(o.to).map((r, j) => left(r, o.to + j)),
      silent: results.slice(o.to).map((r) => r === undefined),
    };
  }

  /**
   * Every party 0..to−1's rotation status of the key; a joiner (from..to−1) that holds no key of
   * this id (it never prepared a join) reports state none.
   */
  async #reshareStatuses(o: { keyId: string; from: number; to: number }): Promise<RotationStatus[]> {
    const { token, results: answers } = await this.#askAll('rotation', { keyId: o.keyId, parties: o.to });
    const results = answers as SessionResult[]; // nobody may be silent here: #askAll threw otherwise
    const refused = new Map(
      results.flatMap((r, m) => (r.ok || (m >= o.from && r.code === 'ERR_DAEMON_KEY_UNKNOWN') ? [] : [[m, r]])),
    );
    if (refused.size > 0) throw sessionFailed('rotation', refused, token);
    return results.map((r) => (r.ok ? decodeRotationStatus(r.summary) : NO_ROTATION));
  }

  /**
   * A one-off command to holders 0..parties−1 (no joined session): each answers with a result on the
   * control channel; their summaries, in member order. `failFast` as in `#until`.
   */
  async #ask(
    op: 'record' | 'rotation' | 'commit',
    o: { keyId: string; parties: number; members?: readonly number[] },
    payload: Uint8Array = new Uint8Array(0),
    failFast = true,
  ): Promise<{ token: string; summaries: Uint8Array[] }> {
    const { token, w } = await this.#askOpen(op, o, payload);
    try {
      await this.#until(token, w, (x) => x.members.every((m) => x.results.has(m)), this.#timeout(), op, failFast);
      return { token, summaries: w.members.map((m) => (w.results.get(m) as SessionResult).summary) };
    } finally {
      this.#waiters.delete(token);
    }
  }

  /**
   * As #ask, but waits for every member's answer and returns them all, refusals included (the caller
   * judges them); only silence fails (ERR_DAEMON_SESSION_TIMEOUT, naming who did not answer), except
   * the silence of members `mayBeSilent` accepts: their result is undefined.
   */
  async #askAll(
    op: 'record' | 'rotation' | 'commit',
    o: { keyId: string; parties: number },
    mayBeSilent: (member: number) => boolean = () => false,
  ): Promise<{ token: string; results: (SessionResult | undefined)[] }> {
    const { token, w } = await this.#askOpen(op, o, new Uint8Array(0));
    try {
      const missing = (await this.#settle(w, (m) => w.results.has(m), this.#timeout())).filter((m) => !mayBeSilent(m));
      if (missing.length > 0) {
        throw new MpcError('ERR_DAEMON_SESSION_TIMEOUT', `${op}: no answer from ${missing.join(', ')} in time`, {
          details: { sid: token, missing: missing.join(',') },
          blame: missing.map((party) => ({ party, msgIds: [], reason: `timeout: no ${op} report` })),
        });
      }
      return { token, results: w.members.map((m) => w.results.get(m)) };
    } finally {
      this.#waiters.delete(token);
    }
  }

  #timeout(): number {
    return this.#o.roundTimeoutMs ?? 30_000;
  }

  /** Publishes a one-off command's start to holders 0..parties−1 (or `members`); the caller deletes the waiter. */
  async #askOpen(
    op: 'record' | 'rotation' | 'commit',
    o: { keyId: string; parties: number; members?: readonly number[] },
    payload: Uint8Array,
  ): Promise<{ token: string; w: Waiter }> {
    const members = o.members ?? [...Array(o.parties).keys()];
    const cmd: StartCommand = {
      op,
      keyId: o.keyId,
      members,
      threshold: 0,
      path: [],
      presignatureId: '',
      payload,
      roundTimeoutMs: this.#timeout(),
    };
    const { sid, token, w } = this.#open(members);
    try {
      await this.#publish(sid, 'start', encodeStartCommand(cmd));
    } catch (e) {
      this.#waiters.delete(token);
      throw e;
    }
    return { token, w };
  }

  /** The key's public record as every holder 0..parties−1 reports it (identical bytes, else refused). */
  async keyRecord(o: { keyId: string; parties: number }): Promise<Uint8Array> {
    const { token, summaries } = await this.#ask('record', o);
    const first = summaries[0] as Uint8Array;
    const differ = summaries.flatMap((x, j) => (equal(x, first) ? [] : [j]));
    if (differ.length > 0) {
      throw new MpcError('ERR_DAEMON_SESSION_FAILED', 'record: the holders report different key records', {
        details: { sid: token, disagree: differ.join(',') },
      });
    }
    return first;
  }

  /** Every holder's epoch of the key and its last rotation (prepared or committed), with its ack. */
  async rotationStatus(o: { keyId: string; parties: number }): Promise<RotationStatus[]> {
    return (await this.#ask('rotation', o)).summaries.map((x) => decodeRotationStatus(x));
  }

  /**
   * Relays a prepared rotation's acknowledgements to every holder 0..parties−1 (the commit of
   * `refresh`), or to `members` (a reshare's leavers, with `commit.record`); each party checks them
   * itself. Safe to repeat: a holder that committed already answers ok, a leaver that retired too.
   */
  async commitRotation(o: {
    keyId: string;
    parties: number;
    commit: RotationCommit;
    members?: readonly number[];
  }): Promise<void> {
    await this.#ask('commit', o, encodeRotationCommit(o.commit), false);
  }

  /** One presignature among `signers` (exactly t roster ids, ascending) bound to `path`. */
  async presign(o: {
    keyId: string;
    signers: readonly number[];
    path?: readonly number[];
  }): Promise<PresignaturePublic> {
    const summary = await this.#session(
      {
        op: 'presign',
        keyId: o.keyId,
        members: o.signers,
        threshold: 0,
        path: o.path ?? [],
        presignatureId: '',
        payload: new Uint8Array(0),
      },
      5,
    );
    const pub = decodePresignaturePublic(summary);
    if (pub.signers.length !== o.signers.length || pub.signers.some((s, j) => s !== o.signers[j])) {
      throw new MpcError('ERR_DAEMON_SESSION_FAILED', 'presignature signers differ from the request');
    }
    return pub;
  }

  /**
   * Signs a bare 32-byte `digest` (payload kind `raw.digest`: the most dangerous kind, since no party
   * can tell what it signs) with a presignature.
   */
  async sign(o: {
    keyId: string;
    presignature: PresignaturePublic;
    digest: Uint8Array;
    authorization?: SignAuthorization;
  }): Promise<EcdsaSignature> {
    return this.#signOne({ ...o, kind: 'raw.digest', payload: o.digest, digestIndex: 0 });
  }

  /**
   * Relays an admin-quorum-signed policy version to `parties` (default: every roster party). Each
   * party verifies the quorum against its own admin set and holds the version only if it moves
   * forward; the answer lists every party's outcome (refusals and silence included), never throws
   * for them.
   */
  async pushPolicy(doc: SignedDocumentInput, o: { parties?: readonly number[] } = {}): Promise<PushResult> {
    return this.#push('policy', documentBytes(doc), o.parties);
  }

  /** Relays an admin-quorum-signed operator registry, as `pushPolicy`. */
  async pushRegistry(doc: SignedDocumentInput, o: { parties?: readonly number[] } = {}): Promise<PushResult> {
    return this.#push('registry', documentBytes(doc), o.parties);
  }

  async #push(op: 'policy' | 'registry', document: Uint8Array, parties?: readonly number[]): Promise<PushResult> {
    const members = [...(parties ?? this.#o.roster.map((_, i) => i))].sort((a, b) => a - b);
    const cmd: StartCommand = {
      op,
      keyId: '',
      members,
      threshold: 0,
      path: [],
      presignatureId: '',
      payload: new Uint8Array(0),
      document,
      roundTimeoutMs: this.#o.roundTimeoutMs ?? 30_000,
    };
    const bytes = encodeStartCommand(cmd);
    const { sid, token, w } = this.#open(members);
    try {
      await this.#publish(sid, 'start', bytes);
      await this.#settle(w, (m) => w.results.has(m), this.#o.pushTimeoutMs ?? 5_000);
      const outcomes = members.map((party): PushOutcome => {
        const r = w.results.get(party);
        if (r === undefined)
          return { party, ok: false, code: 'ERR_DAEMON_SESSION_TIMEOUT', message: `no ${op} answer in time` };
        const held = r.ok ? decodeHeld(r.summary) : undefined;
        if (r.ok && held === undefined)
          return { party, ok: false, code: 'ERR_DAEMON_COMMAND_INVALID', message: 'malformed answer' };
        return r.ok
          ? { party, ok: true, ...held, code: '', message: '' }
          : { party, ok: false, code: r.code, message: r.message };
      });
      return { ok: outcomes.every((x) => x.ok), parties: outcomes };
    } finally {
      this.#waiters.delete(token);
    }
  }

  /** The key's root public key and chain code (its xpub) as every one of `parties` holds it. */
  async keyInfo(o: { keyId: string; parties: readonly number[] }): Promise<ChainKey> {
    const cmd: StartCommand = {
      op: 'keyinfo',
      keyId: o.keyId,
      members: o.parties,
      threshold: 0,
      path: [],
      presignatureId: '',
      payload: new Uint8Array(0),
      roundTimeoutMs: this.#o.roundTimeoutMs ?? 30_000,
    };
    const bytes = encodeStartCommand(cmd);
    const { sid, token, w } = this.#open(o.parties);
    try {
      await this.#publish(sid, 'start', bytes);
      await this.#until(token, w, (x) => x.members.every((m) => x.results.has(m)), cmd.roundTimeoutMs, 'keyinfo');
      const summaries = o.parties.map((m) => (w.results.get(m) as SessionResult).summary);
      const first = summaries[0] as Uint8Array;
      if (first.length !== 65 || summaries.some((x) => !equal(x, first))) {
        throw new MpcError('ERR_DAEMON_SESSION_FAILED', 'keyinfo: members report different keys', {
          details: { sid: token },
        });
      }
      return { publicKey: decodePoint(first.subarray(0, 33), 'keyinfo.publicKey'), chainCode: first.slice(33) };
    } finally {
      this.#waiters.delete(token);
    }
  }

  /**
   * Signs a chain payload (src/chains): decodes it, checks one presignature per digest (each bound to
   * its digest's path where the payload fixes one, e.g. a PSBT input), has every signer decode it
   * again and sign its digest, and assembles the signed artifact (checked under each key).
   */
  async signPayload(o: {
    keyId: string;
    kind: PayloadKind;
    payload: Uint8Array;
    presignatures: readonly PresignaturePublic[];
    network?: BtcNetwork;
    /**
     * The initiator's signed request, the policy version it was evaluated under and the approvals
     * (issue #14): every party that enforces policy checks them itself and refuses without them.
     */
    authorization?: SignAuthorization;
  }): Promise<{ decoded: DecodedPayload; signatures: EcdsaSignature[]; artifact: SignedArtifact }> {
    const first = o.presignatures[0];
    if (first === undefined) throw new MpcError('ERR_CHAIN_DIGEST_INDEX', 'no presignature given');
    const key = o.kind === 'btc.psbt' ? await this.keyInfo({ keyId: o.keyId, parties: first.signers }) : undefined;
    const ctx = { ...(key ? { key } : {}), ...(o.network ? { network: o.network } : {}) };
    const decoded = decodePayload(o.kind, o.payload, ctx);
    if (decoded.digests.length !== o.presignatures.length) {
      throw new MpcError('ERR_CHAIN_DIGEST_INDEX', 'the payload needs one presignature per digest', {
        details: { digests: decoded.digests.length, presignatures: o.presignatures.length },
      });
    }
    decoded.digests.forEach((d, i) => {
      const pre = o.presignatures[i] as PresignaturePublic;
      if (d.path !== undefined && (d.path.length !== pre.path.length || d.path.some((x, k) => x !== pre.path[k]))) {
        throw new MpcError('ERR_CHAIN_PATH_MISMATCH', 'a presignature is bound to another path than its input', {
          details: { input: i },
        });
      }
    });
    const signatures = await Promise.all(
      o.presignatures.map((presignature, digestIndex) =>
        this.#signOne({
          keyId: o.keyId,
          presignature,
          kind: o.kind,
          payload: o.payload,
          digestIndex,
          digest: (decoded.digests[digestIndex] as { digest: Uint8Array }).digest,
          ...(o.network ? { network: o.network } : {}),
          ...(o.authorization ? { authorization: o.authorization } : {}),
        }),
      ),
    );
    const artifact = assemblePayload(
      o.kind,
      o.payload,
      signatures.map((signature, i) => ({
        signature,
        publicKey: (o.presignatures[i] as PresignaturePublic).publicKey,
      })),
      ctx,
    );
    return { decoded, signatures, artifact };
  }

  /**
   * Signs digest `digestIndex` of a payload with a presignature: every signer decodes the payload,
   * computes that digest itself, consumes the presignature and sends its partial; the partials are
   * combined and the signature verified under the presignature's key before it is returned.
   */
  async #signOne(o: {
    keyId: string;
    presignature: PresignaturePublic;
    kind: PayloadKind;
    payload: Uint8Array;
    digestIndex: number;
    digest: Uint8Array;
    network?: BtcNetwork;
    authorization?: SignAuthorization;
  }): Promise<EcdsaSignature> {
    const pre = o.presignature;
    const cmd: StartCommand = {
      op: 'sign',
      keyId: o.keyId,
      members: pre.signers,
      threshold: 0,
      path: [],
      presignatureId: pre.id,
      payload: o.payload,
      kind: o.kind,
      digestIndex: o.digestIndex,
      ...(o.network ? { network: o.network } : {}),
      ...(o.authorization ? { authorization: o.authorization } : {}),
      roundTimeoutMs: this.#o.roundTimeoutMs ?? 30_000,
    };
    const payload = encodeStartCommand(cmd);
    const { sid, token, w } = this.#open(pre.signers);
    try {
      await this.#publish(sid, 'start', payload);
      await this.#until(token, w, (x) => x.members.every((m) => x.partials.has(m)), cmd.roundTimeoutMs, 'sign');
      const partials: PartialSignature[] = [];
      const malformed: number[] = [];
      for (const m of pre.signers) {
        try {
          partials.push(decodePartialSignature(w.partials.get(m) as Uint8Array));
        } catch {
          malformed.push(m);
        }
      }
      if (malformed.length > 0) {
        throw new MpcError('ERR_DAEMON_SESSION_FAILED', 'malformed partial signature', {
          blame: malformed.map((party) => ({ party, msgIds: [], reason: 'malformed partial signature' })),
        });
      }
      // a partial's `signer` is a position in `signers`: it must match who sent it
      const bySender = pre.signers.map((m, j) => ({ m, p: partials[j] as PartialSignature, j }));
      const misplaced = bySender.filter(({ p, j }) => p.signer !== j).map(({ m }) => m);
      if (misplaced.length > 0) {
        throw new MpcError('ERR_DAEMON_SESSION_FAILED', 'partial signature claims another signer position', {
          blame: misplaced.map((party) => ({ party, msgIds: [], reason: 'wrong signer position' })),
        });
      }
      try {
        return combineSignature(pre, o.digest, partials);
      } catch (e) {
        if (!(e instanceof MpcError)) throw e;
        if (e.details.reason === 'signature-invalid' && e.blame.length === 0) {
          // every partial is well formed, yet the signature does not verify: §7.3 names who lied
          const frames = pre.signers.map((m) => w.partialFrames.get(m) as Uint8Array);
          throw await this.#identify(sid, pre.signers, cmd.roundTimeoutMs, 'signature', frames);
        }
        // combineSignature blames signer positions: report roster ids
        throw new MpcError(e.code, e.message, {
          details: { ...e.details, sid: token },
          blame: e.blame.map((b) => ({ ...b, party: pre.signers[b.party] ?? b.party })),
        });
      }
    } finally {
      this.#waiters.delete(token);
    }
  }
}

/**
 * The presign failure after identification: every party some member named, with who named it.
 * A blame is verified when it rests on the culprit's signed messages (SessionResult blame.verified);
 * otherwise (a timeout, a member that did not take part) it is marked unverified in the reason and
 * in details.unverified.
 */
function identificationFailed(
  kind: IdentificationKind,
  sid: string,
  results: ReadonlyMap<number, SessionResult>,
  silent: readonly number[],
  why: string,
): MpcError {
  const named = new Map<number, { by: number[]; reasons: Set<string>; verified: boolean }>();
  const add = (party: number, by: number, reason: string, verified: boolean) => {
    const e = named.get(party) ?? { by: [], reasons: new Set<string>(), verified: false };
    if (!e.by.includes(by)) e.by.push(by);
    e.reasons.add(reason);
    e.verified ||= verified;
    named.set(party, e);
  };
  for (const [from, r] of results) for (const b of r.blame) add(b.party, from, b.reason, b.verified === true);
  for (const m of silent) add(m, -1, `timeout: ${why}`, false);
  const blame = [...named.entries()].map(([party, e]) => ({
    party,
    msgIds: [],
    reason: `${e.verified ? '' : 'unverified: '}${[...e.reasons].join('; ')} (named by ${e.by
      .map((b) => (b < 0 ? 'the coordinator' : String(b)))
      .join(', ')})`,
  }));
  const verified = [...named.entries()].filter(([, e]) => e.verified).map(([p]) => p);
  const unverified = [...named.entries()].filter(([, e]) => !e.verified).map(([p]) => p);
  return new MpcError(
    'ERR_DAEMON_SESSION_FAILED',
    `${kind === 'delta' ? 'presign failed its δ check' : 'the signature is invalid'}; identification named ${
      [...named.keys()].join(', ') || 'nobody'
    }`,
    {
      details: {
        sid,
        op: kind === 'delta' ? 'presign' : 'sign',
        codes: 'ERR_PROTOCOL_ABORT',
        reason: kind === 'delta' ? 'delta-mismatch' : 'signature-invalid',
        identification: kind,
        verified: verified.join(','),
        unverified: unverified.join(','),
      },
      blame,
    },
  );
}

const NO_ROTATION: RotationStatus = {
  keyEpoch: 0,
  state: 'none',
  sid: new Uint8Array(0),
  epoch: 0,
  digest: new Uint8Array(32),
  sig: new Uint8Array(64),
};

/**
 * The rotation every holder committed (the same session, epoch and digest) and is on now, with each
 * holder's acknowledgement as it reports it again; undefined otherwise.
 */
export function committedRotation(statuses: readonly RotationStatus[]): RotationCommit | undefined {
  const first = statuses[0];
  if (first === undefined || first.state !== 'committed') return undefined;
  const same = statuses.every(
    (x) =>
      x.state === 'committed' &&
      x.keyEpoch === first.epoch &&
      equal(x.sid, first.sid) &&
      x.epoch === first.epoch &&
      equal(x.digest, first.digest),
  );
  if (!same) return undefined;
  return {
    sid: first.sid,
    epoch: first.epoch,
    digest: first.digest,
    acks: statuses.map((x, holder) => ({ holder, sig: x.sig })),
  };
}

/**
 * The commit to complete, if any: every holder holds the same rotation (session, epoch, digest) and
 * at least one has not committed it. A holder commits only with every holder's acknowledgement, so
 * once any holder committed a rotation, every holder has it prepared or committed.
 */
export function pendingCommit(statuses: readonly RotationStatus[]): RotationCommit | undefined {
  const first = statuses[0];
  if (first === undefined || first.state === 'none') return undefined;
  const same = statuses.every(
    (x) => x.state !== 'none' && equal(x.sid, first.sid) && x.epoch === first.epoch && equal(x.digest, first.digest),
  );
  if (!same || statuses.every((x) => x.state === 'committed')) return undefined;
  return {
    sid: first.sid,
    epoch: first.epoch,
    digest: first.digest,
    acks: statuses.map((x, holder) => ({ holder, sig: x.sig })),
  };
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
