/**
 * The orchestrator's core, below the REST layer: operators, keys (keygen + aux info as a job),
 * policy and registry versions, and the sign-request lifecycle
 *
 *   received → pending_policy → pending_approval → signing → signed | rejected | failed | expired
 *
 * Every transition is a compare-and-set in the store, committed before the orchestrator acts on
 * the new state (it signs only after its own `→ signing` update matched). It holds no secret: the
 * parties sign, each re-checking the initiator's signed request and the approvals (issue 14).
 *
 * After a restart: a request caught in `signing` is failed (ERR_ORCH_INTERRUPTED) rather than
 * signed again, since whether its presignature was consumed is unknown here; requests before
 * `signing` go on; a key caught generating is failed (the parties' key-repair cleans up).
 */
import { EventEmitter } from 'node:events';
import { readFile } from 'node:fs/promises';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { type AuditEvent, parseRecord } from '../audit/index.js';
import {
  addressAt,
  type BtcNetwork,
  type ChainKey,
  type DecodedPayload,
  decodePayload,
  type PayloadKind,
  xpub,
} from '../chains/index.js';
import { childPublicKey } from '../chains/keys.js';
import { MpcError } from '../errors/index.js';
import {
  type AdminSet,
  acceptUpdate,
  authorizeSignRequest,
  CachingJwsVerifier,
  intentFromPayload,
  loadAdminSet,
  longestVelocityWindow,
  type PolicyVersion,
  type RegistryVersion,
  verifyApproval,
  verifySignedPolicy,
  verifySignedRegistry,
  verifySignRequest,
} from '../policy/index.js';
import type { SpendRecord } from '../policy/intent.js';
import type { PublicJwk } from '../policy/keys.js';
import { importPublicJwk } from '../policy/keys.js';
import type { Role } from '../policy/registry.js';
import { decodePoint } from '../primitives/curve.js';
import type { PresignaturePublic } from '../protocol/sign.js';
import type { AuditLog } from './audit.js';
import type { SigningBackend } from './backend.js';
import type { OrchestratorConfig } from './config.js';
import type { OrchestratorMetrics } from './metrics.js';
import type { PresignaturePools } from './pool.js';
import { missingParties, SignerHealth, signerSetsOf } from './signer-sets.js';
import {
  DEFAULT_SIGNING_LEASE_MS,
  FINAL_STATES,
  type KeyRecord,
  MAX_SPENDS_READ,
  newId,
  type OperatorRecord,
  type OrchestratorStore,
  type SignRequestRecord,
  type SignRequestState,
} from './store/store.js';

export interface ServiceLog {
  info(o: object, msg: string): void;
  warn(o: object, msg: string): void;
  error(o: object, msg: string): void;
}

const SILENT: ServiceLog = { info() {}, warn() {}, error() {} };

export interface OrchestratorServiceOptions {
  readonly store: OrchestratorStore;
  readonly backend: SigningBackend;
  readonly config: Pick<OrchestratorConfig, 'bootstrapAdmin' | 'policy' | 'signers' | 'requestTtlSeconds'>;
  readonly metrics?: OrchestratorMetrics;
  readonly log?: ServiceLog;
  /**
   * This replica's name, stable across its restarts (default 'orchestrator'): a restarted replica
   * fails the requests it was signing; another replica's are left to it unless stale.
   */
  readonly replicaId?: string;
  /** A `signing` claim older than this is stale: the replica died (default 10 min). */
  readonly signingLeaseMs?: number;
  /** Presignature pools; without them every sign presigns on demand. */
  readonly pools?: PresignaturePools;
  /** Parties that recently timed out (default: the pools' own, else a fresh one). */
  readonly health?: SignerHealth;
  /** Unix milliseconds (tests move time). */
  readonly now?: () => number;
  /**
   * The audit log (issue #15, ./audit.ts): decisions are written (and acknowledged) before signing,
   * results before they are answered; without it nothing is recorded.
   */
  readonly audit?: AuditLog;
  /** Period of the background sweep: expiry, stale signing claims, re-delivery of documents (default 5 s). */
  readonly sweepMs?: number;
}

/** What `PUT /v1/policy` and `PUT /v1/registry` answer. */
export interface DocumentPut {
  readonly version: number;
  readonly hash: string;
  /** Every party holds this version (false: relayed again at every sweep until they do). */
  readonly delivered: boolean;
}

export interface NewSignRequestInput {
  readonly keyId: string;
  readonly kind: PayloadKind;
  readonly payload: Uint8Array;
  readonly network?: BtcNetwork;
  readonly signedRequest: string;
  readonly idempotencyKey: string;
}

/** Stream messages one `GET /v1/audit` page looks at, at most (a selective filter pages on). */
const AUDIT_SCAN_LIMIT = 5_000;

const PRE_SIGNING: readonly SignRequestState[] = ['received', 'pending_policy', 'pending_approval'];

export class OrchestratorService {
  readonly #o: OrchestratorServiceOptions;
  readonly #events = new EventEmitter();
  /**
   * Signatures of initiators' requests and approvers' statements, checked synchronously by
   * node:crypto; a token verified at the POST is not verified again at its evaluation (every other
   * check still runs, src/policy/jws-verifier.ts).
   */
  readonly #jws = new CachingJwsVerifier();
  readonly #jobs = new Set<Promise<unknown>>();
  #admins: AdminSet | undefined;
  readonly #policies = new Map<number, PolicyVersion & { raw: object }>();
  #registry: (RegistryVersion & { raw: object }) | undefined;
  /** Documents some party did not take when last relayed: relayed again at every sweep (#redeliver). */
  readonly #undelivered = new Set<'policy' | 'registry'>();
  #redelivering = false;
  #draining = false;
  /** Requests this process is signing now (never failed as stale under its feet). */
  readonly #signingHere = new Set<string>();
  #sweep: NodeJS.Timeout | undefined;

  readonly #health: SignerHealth;

  constructor(o: OrchestratorServiceOptions) {
    this.#o = o;
    this.#health = o.health ?? o.pools?.health ?? new SignerHealth();
    this.#events.setMaxListeners(0);
  }

  get store(): OrchestratorStore {
    return this.#o.store;
  }

  get draining(): boolean {
    return this.#draining;
  }

  /** False while the audit log cannot write (JetStream away): new work is refused. */
  get auditReady(): boolean {
    return this.#o.audit?.ready ?? true;
  }

  /**
   * A page of the audit stream (every emitter's records, stream order) for auditors, filtered by
   * emitter, event type or request id. Records are returned as stored (body + signature) so a
   * reader can verify them; a record the stream holds that does not parse is returned unfiltered
   * only when no filter is set (the verifier names it).
   */
  async readAudit(q: {
    after: number;
    limit: number;
    emitter?: string;
    type?: string;
    request?: string;
  }): Promise<{ records: { streamSeq: number; body: string; sig: string }[]; next: number | null }> {
    const read = this.#o.audit?.read?.bind(this.#o.audit);
    if (read === undefined) throw new MpcError('ERR_API_NOT_FOUND', 'no audit log is configured (config: audit)');
    const filtered = q.emitter !== undefined || q.type !== undefined || q.request !== undefined;
    const keep = (line: string): boolean => {
      if (!filtered) return true;
      try {
        const { emitter, event } = parseRecord(line).parsed;
        return (
          (q.emitter === undefined || emitter === q.emitter) &&
          (q.type === undefined || event.type === q.type) &&
          (q.request === undefined || ('request' in event && event.request === q.request))
        );
      } catch {
        return false;
      }
    };
    let page: Awaited<ReturnType<typeof read>>;
    try {
      page = await read({ after: q.after, limit: q.limit, scanLimit: AUDIT_SCAN_LIMIT, keep });
    } catch (e) {
      throw new MpcError('ERR_AUDIT_SINK_UNAVAILABLE', 'the audit stream cannot be read now', { cause: e });
    }
    return {
      records: page.records.map((r) => {
        const stored = JSON.parse(r.line) as { body: string; sig: string };
        return { streamSeq: r.streamSeq, body: String(stored.body), sig: String(stored.sig) };
      }),
      next: page.next,
    };
  }

  /** Refuses new work up front while the audit log is down (fail closed). */
  #assertAudit(): void {
    if (!this.auditReady) {
      throw new MpcError('ERR_AUDIT_SINK_UNAVAILABLE', 'the audit log is unavailable (JetStream): refused');
    }
  }

  /** Fail closed: resolves once JetStream acknowledged the record (no audit log: at once). */
  async #write(event: AuditEvent): Promise<void> {
    await this.#o.audit?.write(event);
  }

  /**
   * `#write` started now, to be awaited after other work (a commit) that runs meanwhile: resolves
   * undefined once acknowledged, or with the refusal (never rejects, so nothing goes unhandled).
   * (An explicit event-loop turn before the commit, to be sure the publish left before the
   * synchronous SQLite commit blocks the loop, made no difference in the paired bench.)
   */
  #written(event: AuditEvent): Promise<unknown> {
    return this.#write(event).then(
      () => undefined,
      (e: unknown) => e ?? new MpcError('ERR_AUDIT_SINK_UNAVAILABLE', 'the audit log refused the record'),
    );
  }

  /** An outcome that already happened: recorded when JetStream acknowledges (kept queued until then). */
  async #record(event: AuditEvent): Promise<void> {
    await this.#o.audit?.enqueue(event).catch((e: unknown) => {
      this.#log().warn({ err: e, event: event.type }, 'audit record queued until JetStream is back');
    });
  }

  #now(): number {
    return this.#o.now?.() ?? Date.now();
  }

  /** Bootstrap admin, held documents (store, then config files), recovery of unfinished work. */
  async init(): Promise<void> {
    const s = this.#o.store;
    const now = this.#now();
    const boot = this.#o.config.bootstrapAdmin;
    if (!(await s.hasEnabledAdmin())) {
      await importPublicJwk(boot.publicKey, 'bootstrap admin'); // refuse a key that does not import
      if (!(await s.insertOperator({ id: boot.id, publicKey: boot.publicKey, roles: ['admin'] }, now))) {
        await s.updateOperator(boot.id, { roles: ['admin'], disabled: false }, now);
      }
      await this.#record({ type: 'operator.changed', operator: boot.id, change: 'bootstrap-admin', by: 'config' });
    }
    if (this.#o.config.policy) {
      this.#admins = await loadAdminSet(this.#o.config.policy.admins);
      for (const d of await s.listDocuments('registry')) await this.#holdRegistry(JSON.parse(d.raw) as object, false);
      for (const d of await s.listDocuments('policy')) await this.#holdPolicy(JSON.parse(d.raw) as object, false);
      const { policyFile, registryFile } = this.#o.config.policy;
      // the config's files seed a fresh store; an older file than the stored version is ignored
      const seed = async (file: string | undefined, put: (raw: object) => Promise<unknown>) => {
        if (file === undefined) return;
        try {
          await put(JSON.parse(await readFile(file, 'utf8')) as object);
        } catch (e) {
          if (!(e instanceof MpcError && e.code === 'ERR_POLICY_VERSION_OLD')) throw e;
        }
      };
      await seed(registryFile, (raw) => this.putRegistry(raw, true));
      await seed(policyFile, (raw) => this.putPolicy(raw, true));
    }
    for (const k of await s.listKeys()) {
      if (k.state === 'generating') {
        await s.updateKey(k.id, { state: 'failed', errorCode: 'ERR_ORCH_INTERRUPTED' }, now);
      }
    }
    await this.#recoverSigning();
    await this.#expireDue();
    for (const id of await s.signRequestIdsIn(['received', 'pending_policy'])) this.#spawn(this.#advance(id));
    this.#sweep = setInterval(
      () => this.#spawn(this.#expireDue().then(() => Promise.all([this.#recoverSigning(true), this.#redeliver()]))),
      this.#o.sweepMs ?? 5000,
    );
    this.#sweep.unref();
    await this.#o.pools?.start();
  }

  /** Refuses new work, waits for running jobs (up to `timeoutMs`). */
  async drain(timeoutMs = 30_000): Promise<void> {
    this.#draining = true;
    if (this.#sweep) clearInterval(this.#sweep);
    await this.#o.pools?.stop();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.#jobs]),
      new Promise((r) => {
        timer = setTimeout(r, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
  }

  #spawn(p: Promise<unknown>): void {
    const job = p.catch((e: unknown) => this.#log().error({ err: e }, 'orchestrator job failed'));
    this.#jobs.add(job);
    void job.finally(() => this.#jobs.delete(job));
  }

  #log(): ServiceLog {
    return this.#o.log ?? SILENT;
  }

  #assertOpen(): void {
    if (this.#draining) throw new MpcError('ERR_API_UNAVAILABLE', 'the orchestrator is draining');
  }

  // operators -------------------------------------------------------------------------------------

  async createOperator(
    o: { id: string; publicKey: PublicJwk; roles: readonly Role[] },
    by = 'system',
  ): Promise<OperatorRecord> {
    this.#assertOpen();
    this.#assertAudit();
    await importPublicJwk(o.publicKey, `operator ${o.id}`).catch(() => {
      throw new MpcError('ERR_API_BAD_REQUEST', 'publicKey does not import');
    });
    if (!(await this.#o.store.insertOperator(o, this.#now()))) {
      throw new MpcError('ERR_API_CONFLICT', `operator ${o.id} exists`);
    }
    await this.#record({ type: 'operator.changed', operator: o.id, change: `created:${o.roles.join('+')}`, by });
    return (await this.#o.store.getOperator(o.id)) as OperatorRecord;
  }

  async updateOperator(
    id: string,
    p: { roles?: readonly Role[]; disabled?: boolean },
    by = 'system',
  ): Promise<OperatorRecord> {
    this.#assertOpen();
    this.#assertAudit();
    if (!(await this.#o.store.updateOperator(id, p, this.#now()))) {
      throw new MpcError('ERR_API_OPERATOR_UNKNOWN', `no operator ${id}`);
    }
    const change = [
      ...(p.roles === undefined ? [] : [`roles:${p.roles.join('+')}`]),
      ...(p.disabled === undefined ? [] : [p.disabled ? 'disabled' : 'enabled']),
    ].join(':');
    await this.#record({ type: 'operator.changed', operator: id, change: change || 'unchanged', by });
    return (await this.#o.store.getOperator(id)) as OperatorRecord;
  }

  async getOperator(id: string): Promise<OperatorRecord> {
    const o = await this.#o.store.getOperator(id);
    if (o === undefined) throw new MpcError('ERR_API_OPERATOR_UNKNOWN', `no operator ${id}`);
    return o;
  }

  // policy and registry ---------------------------------------------------------------------------

  #adminSet(): AdminSet {
    if (this.#admins === undefined) {
      throw new MpcError('ERR_API_UNAVAILABLE', 'no policy admin set is configured');
    }
    return this.#admins;
  }

  async #holdPolicy(raw: object, persist: boolean): Promise<PolicyVersion> {
    const v = await verifySignedPolicy(raw, this.#adminSet());
    const latest = this.latestPolicy();
    const held = this.#policies.get(v.version);
    // the same version with other content is a fork, never held
    if (held !== undefined && held.hash !== v.hash) acceptUpdate(held, v);
    // a new document only moves forward (replaying the store holds every stored version)
    if (persist) acceptUpdate(latest, v);
    if (persist) await this.#o.store.putDocument('policy', v.version, v.hash, JSON.stringify(raw), this.#now());
    this.#policies.set(v.version, { ...v, raw });
    return v;
  }

  async #holdRegistry(raw: object, persist: boolean): Promise<RegistryVersion> {
    const v = await verifySignedRegistry(raw, this.#adminSet());
    const next = acceptUpdate(this.#registry, v, 'operator registry');
    if (persist && next !== this.#registry) {
      await this.#o.store.putDocument('registry', v.version, v.hash, JSON.stringify(raw), this.#now());
    }
    this.#registry = { ...next, raw: next === v ? raw : (this.#registry?.raw ?? raw) };
    return next;
  }

  /** Verifies (admin quorum), holds and persists a policy version; relays it to the parties. */
  /** `by`: the operator who uploaded it (API); absent for the config's files at start. */
  /**
   * Holds and relays a policy version. `delivered` is false when some party did not take it yet:
   * the answer does not wait for it (the sweep relays it again until every party holds it).
   */
  async putPolicy(raw: object, quiet = false, by?: string): Promise<DocumentPut> {
    this.#assertOpen();
    if (by !== undefined) this.#assertAudit();
    const v = await this.#holdPolicy(raw, true);
    await this.#record({
      type: 'policy.changed',
      version: v.version,
      hash: v.hash,
      by: by ?? 'config',
      document: 'policy',
    });
    const delivered = await this.#relay('policy', raw, v.version, quiet);
    return { version: v.version, hash: v.hash, delivered };
  }

  /** Holds and relays an operator registry version, as `putPolicy`. */
  async putRegistry(raw: object, quiet = false, by?: string): Promise<DocumentPut> {
    this.#assertOpen();
    if (by !== undefined) this.#assertAudit();
    const held = this.#registry;
    const v = await this.#holdRegistry(raw, true);
    if (this.#registry !== held) {
      const who = by ?? 'config';
      await this.#record({ type: 'policy.changed', version: v.version, hash: v.hash, by: who, document: 'registry' });
    }
    const delivered = await this.#relay('registry', raw, v.version, quiet);
    return { version: v.version, hash: v.hash, delivered };
  }

  /**
   * Relays a held document to every party. One that some party did not take (offline, no answer in
   * time, store down) is relayed again by every sweep until each party holds it or a newer version
   * (ERR_POLICY_VERSION_OLD: it got a newer one another way): a party that was down during an
   * update catches up without an operator. A party that lost its documents (a restored ledger)
   * refuses signs with ERR_POLICY_VERSION_UNKNOWN, which marks both documents for re-delivery.
   */
  async #relay(kind: 'policy' | 'registry', raw: object, version: number, quiet: boolean): Promise<boolean> {
    const push = kind === 'policy' ? this.#o.backend.pushPolicy : this.#o.backend.pushRegistry;
    if (push === undefined) return true;
    let missing: number[] | undefined;
    try {
      const r = await push.call(this.#o.backend, raw);
      missing = r.ok
        ? []
        : (r.parties ?? [{ party: -1, ok: false, code: '' }])
            .filter((p) => !p.ok && p.code !== 'ERR_POLICY_VERSION_OLD')
            .map((p) => p.party);
    } catch (e) {
      this.#log().warn({ err: e, document: kind, version }, 'relaying a document to the parties failed');
    }
    const pending = this.#undelivered.has(kind);
    if (missing !== undefined && missing.length === 0) {
      this.#undelivered.delete(kind);
      if (pending) this.#log().info({ document: kind, version }, 'every party now holds the document');
      return true;
    }
    this.#undelivered.add(kind);
    if (!pending && !quiet) {
      this.#log().warn(
        { document: kind, version, parties: missing },
        'not every party holds the document: relaying it again at every sweep',
      );
    }
    return false;
  }

  /** Relays again what some party did not take (registry first: a policy may name its operators). */
  async #redeliver(): Promise<void> {
    // one at a time: a relay waits up to the parties' answer timeout, longer than a sweep period
    if (this.#draining || this.#redelivering) return;
    this.#redelivering = true;
    try {
      await this.#redeliverOnce();
    } finally {
      this.#redelivering = false;
    }
  }

  async #redeliverOnce(): Promise<void> {
    const registry = this.#registry;
    if (this.#undelivered.has('registry') && registry !== undefined) {
      await this.#relay('registry', registry.raw, registry.version, true);
    }
    const policy = this.latestPolicy();
    const raw = policy === undefined ? undefined : this.#policies.get(policy.version)?.raw;
    if (this.#undelivered.has('policy') && policy !== undefined && raw !== undefined) {
      await this.#relay('policy', raw, policy.version, true);
    }
  }

  latestPolicy(): PolicyVersion | undefined {
    let best: PolicyVersion | undefined;
    for (const p of this.#policies.values()) if (best === undefined || p.version > best.version) best = p;
    return best;
  }

  registry(): RegistryVersion | undefined {
    return this.#registry;
  }

  // keys ------------------------------------------------------------------------------------------

  async createKey(by: string, o: { id: string; threshold: number; parties: number }): Promise<KeyRecord> {
    this.#assertOpen();
    this.#assertAudit();
    const n = this.#o.config.signers.parties;
    if (o.parties > n) throw new MpcError('ERR_API_BAD_REQUEST', `parties must be at most ${n} (the roster)`);
    if (o.threshold < 2 || o.threshold > o.parties) {
      throw new MpcError('ERR_API_BAD_REQUEST', 'threshold must be between 2 and parties');
    }
    if (!(await this.#o.store.insertKey({ ...o, createdBy: by }, this.#now()))) {
      throw new MpcError('ERR_API_CONFLICT', `key ${o.id} exists`);
    }
    this.#spawn(this.#keyJob(o));
    return (await this.#o.store.getKey(o.id)) as KeyRecord;
  }

  async #keyJob(o: { id: string; threshold: number; parties: number }): Promise<void> {
    const s = this.#o.store;
    const b = this.#o.backend;
    try {
      await b.keygen({ keyId: o.id, threshold: o.threshold, parties: o.parties });
      await s.updateKey(o.id, { progress: 'aux' }, this.#now());
      await b.auxInfo({ keyId: o.id, parties: o.parties });
      await s.updateKey(o.id, { progress: 'keyinfo' }, this.#now());
      const info = await b.keyInfo({ keyId: o.id, parties: [...Array(o.parties).keys()] });
      await s.updateKey(
        o.id,
        {
          state: 'ready',
          progress: 'done',
          publicKey: bytesToHex(info.publicKey.toBytes(true)),
          chainCode: bytesToHex(info.chainCode),
        },
        this.#now(),
      );
      await this.#record({
        type: 'key.generated',
        key: o.id,
        threshold: o.threshold,
        parties: o.parties,
        publicKey: bytesToHex(info.publicKey.toBytes(true)),
      });
      this.#o.metrics?.keygenJobs.inc({ outcome: 'ok' });
    } catch (e) {
      const code = e instanceof MpcError ? e.code : 'ERR_API_INTERNAL';
      await s.updateKey(o.id, { state: 'failed', errorCode: code }, this.#now());
      this.#o.metrics?.keygenJobs.inc({ outcome: 'error' });
      this.#log().warn({ err: e, keyId: o.id }, 'key generation failed');
    }
    this.#events.emit(`key:${o.id}`);
  }

  async getKey(id: string): Promise<KeyRecord> {
    const k = await this.#o.store.getKey(id);
    if (k === undefined) throw new MpcError('ERR_API_KEY_UNKNOWN', `no key ${id}`);
    return k;
  }

  static chainKey(k: KeyRecord): ChainKey | undefined {
    if (k.publicKey === null || k.chainCode === null) return undefined;
    return { publicKey: decodePoint(hexToBytes(k.publicKey), 'key.publicKey'), chainCode: hexToBytes(k.chainCode) };
  }

  static xpub(k: KeyRecord): string | null {
    const ck = OrchestratorService.chainKey(k);
    return ck === undefined ? null : xpub(ck);
  }

  /** Whether a signer set of the key has no suspect party (a retry can go around them). */
  async #anotherSetWithout(keyId: string): Promise<boolean> {
    const k = await this.getKey(keyId);
    const sets = signerSetsOf(k.parties, k.threshold, this.#o.pools?.signerSets(keyId));
    return sets.some((set) => this.#health.isHealthy(set));
  }

  async #readyKey(id: string): Promise<{ record: KeyRecord; chainKey: ChainKey }> {
    const k = await this.getKey(id);
    const chainKey = OrchestratorService.chainKey(k);
    if (k.state !== 'ready' || chainKey === undefined) {
      throw new MpcError('ERR_API_KEY_NOT_READY', `key ${id} is ${k.state}`);
    }
    return { record: k, chainKey };
  }

  async address(
    id: string,
    path: readonly number[],
    chain: 'ethereum' | 'bitcoin',
    network: BtcNetwork = 'mainnet',
  ): Promise<{ address: string; publicKey: string }> {
    const { chainKey } = await this.#readyKey(id);
    return {
      address: addressAt(chainKey, path, chain, network),
      publicKey: bytesToHex(childPublicKey(chainKey, path).toBytes(true)),
    };
  }

  // sign requests ---------------------------------------------------------------------------------

  /**
   * Checks and stores a sign request (state `received`) and starts its lifecycle. Refused input
   * stores nothing. The same idempotency key with the same body returns the stored request
   * (`created: false`); with another body it is ERR_API_IDEMPOTENCY_CONFLICT.
   */
  async createSignRequest(
    by: string,
    input: NewSignRequestInput,
    bodyHash: string,
  ): Promise<{ created: boolean; record: SignRequestRecord }> {
    const s = this.#o.store;
    const existing = await s.getSignRequestByIdempotencyKey(input.idempotencyKey);
    if (existing !== undefined) return { created: false, record: this.#sameBody(existing, bodyHash) };
    this.#assertOpen();
    this.#assertAudit();
    const { chainKey } = await this.#readyKey(input.keyId);
    // the payload must decode (same decoder the parties run) before anything is stored
    decodePayload(input.kind, input.payload, { key: chainKey, ...(input.network ? { network: input.network } : {}) });
    const registry = this.#registry?.registry;
    if (registry === undefined) throw new MpcError('ERR_API_UNAVAILABLE', 'no operator registry is held');
    const nowMs = this.#now();
    const verified = await verifySignRequest(
      input.signedRequest,
      input.payload,
      registry,
      Math.floor(nowMs / 1000),
      this.#jws,
    );
    const r = verified.request;
    if (r.keyId !== input.keyId || r.kind !== input.kind || r.idempotencyKey !== input.idempotencyKey) {
      throw new MpcError(
        'ERR_POLICY_REQUEST_INVALID',
        'the signed request names another key, kind or idempotency key than the body',
      );
    }
    // stored straight in pending_policy under the newest policy when one is held (one commit fewer)
    const policyVersion = this.latestPolicy()?.version;
    const id = newId('sr', nowMs);
    // The receipt travels to JetStream while the insert commits: one wait instead of two. Sent first,
    // it may name a request whose insert then lost an idempotency race to a concurrent duplicate
    // (the log holds more than happened, never less).
    const receipt = this.#written({
      type: 'request.received',
      request: id,
      key: input.keyId,
      initiator: verified.initiator.id,
      payloadKind: input.kind,
      payloadHash: sha256Hex(input.payload),
    });
    const res = await s.insertSignRequest(
      {
        idempotencyKey: input.idempotencyKey,
        bodyHash,
        keyId: input.keyId,
        kind: input.kind,
        payload: input.payload,
        network: input.network ?? null,
        signedRequest: input.signedRequest,
        requestDigest: verified.digest,
        initiator: verified.initiator.id,
        createdBy: by,
        expiresAt: Math.min(r.exp * 1000, nowMs + this.#o.config.requestTtlSeconds * 1000),
      },
      nowMs,
      policyVersion === undefined ? { id } : { policyVersion, id },
    );
    const unrecorded = await receipt;
    if (!res.created) return { created: false, record: this.#sameBody(res.record, bodyHash) };
    this.#o.metrics?.transitions.inc({ state: 'received' });
    if (res.record.state === 'pending_policy') this.#o.metrics?.transitions.inc({ state: 'pending_policy' });
    if (unrecorded !== undefined) {
      // not recorded: the request goes no further (its failure is recorded once JetStream is back)
      await this.#fail(res.record.id, ['received', 'pending_policy'], 'failed', errorOf(unrecorded));
      throw unrecorded;
    }
    this.#spawn(this.#advance(res.record.id));
    return res;
  }

  #sameBody(r: SignRequestRecord, bodyHash: string): SignRequestRecord {
    if (r.bodyHash !== bodyHash) {
      throw new MpcError('ERR_API_IDEMPOTENCY_CONFLICT', 'this idempotency key was used with another body');
    }
    return r;
  }

  async getSignRequest(id: string): Promise<SignRequestRecord> {
    const r = await this.#o.store.getSignRequest(id);
    if (r === undefined) throw new MpcError('ERR_API_REQUEST_UNKNOWN', `no sign request ${id}`);
    return r;
  }

  /** Waits until the request is in one of `states` or `timeoutMs` passed; returns it either way. */
  async waitForSignRequest(
    id: string,
    states: readonly SignRequestState[],
    timeoutMs: number,
  ): Promise<SignRequestRecord> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = await this.getSignRequest(id);
      const left = deadline - Date.now();
      if (states.includes(r.state) || left <= 0) return r;
      // woken by this process's transitions; polling covers another replica's
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(t);
          this.#events.off(`sr:${id}`, done);
          resolve();
        };
        const t = setTimeout(done, Math.min(left, 1000));
        this.#events.on(`sr:${id}`, done);
      });
    }
  }

  /** Adds an approval statement; a request waiting for approvals is evaluated again. */
  async addApproval(id: string, statement: string): Promise<SignRequestRecord> {
    this.#assertOpen();
    this.#assertAudit();
    const registry = this.#registry?.registry;
    if (registry === undefined) throw new MpcError('ERR_API_UNAVAILABLE', 'no operator registry is held');
    const a = await verifyApproval(statement, registry, this.#jws);
    for (let attempt = 0; attempt < 8; attempt++) {
      const r = await this.getSignRequest(id);
      if (a.requestDigest !== r.requestDigest) {
        throw new MpcError('ERR_POLICY_APPROVAL_INVALID', 'the approval is for another request');
      }
      if ((FINAL_STATES as readonly string[]).includes(r.state) || r.state === 'signing') {
        throw new MpcError('ERR_API_REQUEST_FINAL', `request is ${r.state}`);
      }
      if (r.approvals.includes(statement)) return r;
      if (await this.#o.store.setApprovals(id, r.approvals, [...r.approvals, statement], PRE_SIGNING, this.#now())) {
        // queued ahead of the decision record that counts it (one ordered chain)
        await this.#record({ type: 'request.approved', request: id, approver: a.operator });
        this.#events.emit(`sr:${id}`);
        if (r.state === 'pending_approval') await this.#evaluate(id, ['pending_approval']);
        return this.getSignRequest(id);
      }
    }
    throw new MpcError('ERR_API_CONFLICT', 'the request changed concurrently; try again');
  }

  /** Moves a request to a final refusal and records it (kept until JetStream acknowledges). */
  async #fail(
    id: string,
    from: readonly SignRequestState[],
    to: 'rejected' | 'failed' | 'expired',
    error: { code: string; message: string },
    by: string | null = null,
    patch: { burnReserved?: boolean } = {},
  ): Promise<boolean> {
    const moved = await this.#move(id, from, to, { ...patch, error });
    if (moved) {
      const code = /^ERR_[A-Z0-9_]{1,64}$/.test(error.code) ? error.code : 'ERR_API_INTERNAL';
      await this.#record(
        to === 'failed'
          ? { type: 'request.failed', request: id, code }
          : { type: 'request.rejected', request: id, by, code },
      );
    }
    return moved;
  }

  async #move(
    id: string,
    from: readonly SignRequestState[],
    to: SignRequestState,
    patch: Parameters<OrchestratorStore['transition']>[3] = {},
  ): Promise<boolean> {
    const ok = await this.#o.store.transition(id, from, to, patch, this.#now());
    if (ok) {
      this.#o.metrics?.transitions.inc({ state: to });
      this.#events.emit(`sr:${id}`);
    }
    return ok;
  }

  #replica(): string {
    return this.#o.replicaId ?? 'orchestrator';
  }

  /**
   * Fails requests caught in `signing` by this replica's earlier run (or, with `staleOnly`, only
   * those whose claim is older than the lease): whether their presignatures were consumed is
   * unknown, and a request must never be signed twice.
   */
  async #recoverSigning(staleOnly = false): Promise<void> {
    const lease = this.#o.signingLeaseMs ?? DEFAULT_SIGNING_LEASE_MS;
    const ids = await this.#o.store.signingToRecover(staleOnly ? '' : this.#replica(), this.#now() - lease);
    for (const id of ids) {
      if (staleOnly && this.#signingHere.has(id)) continue;
      // its pooled presignatures, reserved by the replica that died, are burnt in the same commit
      await this.#fail(
        id,
        ['signing'],
        'failed',
        { code: 'ERR_ORCH_INTERRUPTED', message: 'the orchestrator restarted while this request was signing' },
        null,
        { burnReserved: true },
      );
    }
  }

  async #expireDue(): Promise<void> {
    const due = await this.#o.store.expireDue(PRE_SIGNING, this.#now());
    for (const id of due) {
      this.#o.metrics?.transitions.inc({ state: 'expired' });
      this.#events.emit(`sr:${id}`);
      await this.#record({ type: 'request.rejected', request: id, by: null, code: 'ERR_POLICY_EXPIRED' });
    }
  }

  /** received → pending_policy (under the newest policy version) → evaluation. */
  async #advance(id: string): Promise<void> {
    const r = await this.getSignRequest(id);
    if (r.state === 'received') {
      const policy = this.latestPolicy();
      if (policy === undefined) {
        await this.#fail(id, ['received'], 'rejected', {
          code: 'ERR_POLICY_VERSION_UNKNOWN',
          message: 'no policy version is held',
        });
        return;
      }
      if (!(await this.#move(id, ['received'], 'pending_policy', { policyVersion: policy.version }))) return;
    } else if (r.state !== 'pending_policy') {
      return;
    }
    await this.#evaluate(id, ['pending_policy']);
  }

  /**
   * What was sent to the parties within the longest velocity window of policy `version` (none: no
   * read). Refuses when the window holds more than one read returns (the total would be short).
   */
  async #history(version: number, nowMs: number) {
    const held = this.#policies.get(version);
    const windowSeconds = held === undefined ? 0 : longestVelocityWindow(held.policy);
    if (windowSeconds === 0) return [];
    const history = await this.#o.store.spendsSince(nowMs - windowSeconds * 1000);
    if (history.length >= MAX_SPENDS_READ) {
      throw new MpcError(
        'ERR_POLICY_HISTORY_TRUNCATED',
        `more than ${MAX_SPENDS_READ} requests in the ${windowSeconds} s velocity window`,
        { details: { rule: 'velocity-history' } },
      );
    }
    return history;
  }

  /** Runs the co-signer check the parties will run; moves the request on by its outcome. */
  async #evaluate(id: string, from: readonly SignRequestState[]): Promise<void> {
    const r = await this.getSignRequest(id);
    if (!from.includes(r.state)) return;
    const version = r.policyVersion;
    const registry = this.#registry?.registry;
    const nowMs = this.#now();
    try {
      if (version === null || registry === undefined) {
        throw new MpcError('ERR_POLICY_VERSION_UNKNOWN', 'no policy version or registry for this request');
      }
      const { chainKey } = await this.#readyKey(r.keyId);
      const network = (r.network ?? undefined) as BtcNetwork | undefined;
      let decoded: DecodedPayload | undefined;
      const auth = await authorizeSignRequest(
        {
          signedRequest: r.signedRequest,
          payload: r.payload,
          keyId: r.keyId,
          policyVersion: version,
          approvals: r.approvals,
          ...(network ? { network } : {}),
        },
        {
          policies: this.#policies,
          jws: this.#jws,
          registry,
          history: await this.#history(version, nowMs),
          now: Math.floor(nowMs / 1000),
          decode: (kind, payload, path) => {
            decoded = decodePayload(kind, payload, { key: chainKey, ...(network ? { network } : {}) });
            return intentFromPayload(decoded, path);
          },
        },
      );
      // The decision, acknowledged by JetStream before anything is signed (fail closed). It travels
      // while the claim commits; a refused one fails the claimed request before any party is asked.
      const d = auth.decision;
      const decision = this.#written({
        type: 'request.evaluated',
        request: id,
        policyVersion: d.policyVersion,
        rule: ruleRef(d.ruleId),
        action: 'allow',
      });
      const requestPath = auth.request.request.path;
      decoded ??= decodePayload(r.kind as PayloadKind, r.payload, { key: chainKey, ...(network ? { network } : {}) });
      const claimed = await this.#claim(r, from, auth.spend, decoded, requestPath).finally(() => decision);
      const unrecorded = await decision;
      if (unrecorded !== undefined) {
        if (claimed !== undefined) {
          await this.#fail(id, ['signing'], 'failed', errorOf(unrecorded), null, { burnReserved: true });
        }
        return;
      }
      if (claimed !== undefined) {
        this.#signingHere.add(id);
        try {
          await this.#sign(id, requestPath, { decoded, reserved: claimed });
        } finally {
          this.#signingHere.delete(id);
        }
      }
    } catch (e) {
      const details = e instanceof MpcError ? e.details : {};
      const evaluated = (action: 'block' | 'require_approvals') =>
        this.#record({
          type: 'request.evaluated',
          request: id,
          policyVersion: typeof details.policyVersion === 'number' ? details.policyVersion : (version ?? 0),
          rule: typeof details.rule === 'string' ? ruleRef(details.rule) : null,
          action,
        });
      if (e instanceof MpcError && e.code === 'ERR_POLICY_APPROVALS_MISSING') {
        await evaluated('require_approvals');
        if (r.state !== 'pending_approval') await this.#move(id, from, 'pending_approval');
        return;
      }
      if (e instanceof MpcError && e.code === 'ERR_POLICY_BLOCKED') await evaluated('block');
      const error = errorOf(e);
      const to = e instanceof MpcError && e.code === 'ERR_POLICY_EXPIRED' ? 'expired' : 'rejected';
      await this.#fail(id, from, to, error);
    }
  }

  /**
   * Moves the request to `signing` (claimed by this replica) and reserves a pooled presignature for
   * each of its digests, in one commit: a restarted orchestrator finds either neither or both (the
   * request to fail, its reservations to burn). The reservations, in digest order (undefined: that
   * pool is empty, presign on demand); undefined when the request was no longer in `from`.
   */
  async #claim(
    r: SignRequestRecord,
    from: readonly SignRequestState[],
    spend: SpendRecord,
    decoded: DecodedPayload,
    requestPath: readonly number[] | undefined,
  ): Promise<(PresignaturePublic | undefined)[] | undefined> {
    const pools = this.#o.pools;
    const claimed = await this.#o.store.inTransaction(async (tx) => {
      if (!(await tx.transition(r.id, from, 'signing', { spend, claimedBy: this.#replica() }, this.#now()))) {
        return undefined;
      }
      const reserved: (PresignaturePublic | undefined)[] = [];
      for (const d of decoded.digests) reserved.push(await pools?.take(r.keyId, d.path ?? requestPath ?? [], r.id, tx));
      return reserved;
    });
    if (claimed !== undefined) {
      this.#o.metrics?.transitions.inc({ state: 'signing' });
      this.#events.emit(`sr:${r.id}`);
    }
    return claimed;
  }

  /**
   * Signs through the parties with one presignature per digest, bound to the digest's path: a
   * pooled one when the pool has one, else made on demand. Pooled presignatures end used or burnt.
   * If a party no longer holds a pooled presignature (burnt, lost in a restart), the request goes
   * on once with fresh ones: the parties that did sign released partials for a presignature whose
   * other partial never came, which combine to nothing. Likewise once when parties let the session
   * time out and another signer set without them is left: they are suspect for a while
   * (signer-sets.ts), so neither pools nor on-demand signing ask them. A party that took part in
   * both attempts records the spend twice in its velocity history (it errs on the safe side).
   */
  async #sign(
    id: string,
    requestPath: readonly number[] | undefined,
    first: { decoded: DecodedPayload; reserved: readonly (PresignaturePublic | undefined)[] },
  ): Promise<void> {
    const r = await this.getSignRequest(id);
    const pools = this.#o.pools;
    // the first attempt signs with what the claim reserved; a retry takes from the pools anew
    let claimed: typeof first | undefined = first;
    const attempt = async (usePool: boolean) => {
      const reserved = claimed?.reserved;
      const { record: key, chainKey } = await this.#readyKey(r.keyId);
      const network = (r.network ?? undefined) as BtcNetwork | undefined;
      const kind = r.kind as PayloadKind;
      const decoded =
        claimed?.decoded ?? decodePayload(kind, r.payload, { key: chainKey, ...(network ? { network } : {}) });
      claimed = undefined;
      const signers = this.#health.pick(signerSetsOf(key.parties, key.threshold, this.#o.pools?.signerSets(r.keyId)));
      const pooled: string[] = (reserved ?? []).flatMap((p) => (p === undefined ? [] : [p.id]));
      try {
        // independent sessions: made concurrently
        const presignatures = await Promise.all(
          decoded.digests.map(async (d, i) => {
            const path = d.path ?? requestPath ?? [];
            const taken =
              reserved !== undefined ? reserved[i] : usePool ? await pools?.take(r.keyId, path, id) : undefined;
            if (taken !== undefined) {
              if (reserved === undefined) pooled.push(taken.id);
              this.#o.metrics?.presignTaken.inc({ source: 'pool' });
              return taken;
            }
            this.#o.metrics?.presignOnDemand.inc();
            this.#o.metrics?.presignTaken.inc({ source: 'demand' });
            return this.#o.backend.presign({ keyId: r.keyId, signers, path });
          }),
        );
        const out = await this.#o.backend.signPayload({
          keyId: r.keyId,
          kind,
          payload: r.payload,
          presignatures,
          ...(network ? { network } : {}),
          authorization: {
            signedRequest: r.signedRequest,
            policyVersion: r.policyVersion ?? 0,
            approvals: r.approvals,
          },
        });
        this.#health.answered(presignatures.flatMap((p) => p.signers));
        // pooled ones stay reserved (never offered again) until the → signed commit marks them used
        return { out, decoded, presignatures, pooled };
      } catch (e) {
        this.#health.suspect(missingParties(e));
        await pools?.burn(pooled);
        throw Object.assign(e as object, { pooled: pooled.length });
      }
    };
    // the claim's takes refill their pools once the first attempt settled: by then a party that did
    // not answer it is suspect, and the refill does not ask it
    const refill = () => {
      for (const d of first.decoded.digests) pools?.refillAfterTake(r.keyId, d.path ?? requestPath ?? []);
    };
    try {
      let done: Awaited<ReturnType<typeof attempt>>;
      try {
        done = await attempt(true);
        refill();
      } catch (e) {
        refill();
        const lost = /ERR_DAEMON_PRESIGNATURE_UNKNOWN|ERR_PRESIGNATURE_BURNT/.test(String((e as Error).message));
        const missing = missingParties(e);
        if (lost && (e as { pooled?: number }).pooled) {
          this.#log().warn({ id }, 'a pooled presignature is gone at a party; signing with fresh ones');
          done = await attempt(false);
        } else if (missing.length > 0 && (await this.#anotherSetWithout(r.keyId))) {
          this.#log().warn({ id, missing }, 'parties did not answer in time; signing with another signer set');
          done = await attempt(true);
        } else {
          throw e;
        }
      }
      const { out, decoded, presignatures, pooled } = done;
      // the result, acknowledged by JetStream before it is answered: else the artifact is withheld
      try {
        for (const [i, p] of presignatures.entries()) {
          const sig = out.signatures?.[i];
          await this.#write({
            type: 'request.signed',
            request: id,
            key: r.keyId,
            presignature: p.id,
            signers: [...p.signers],
            digest: bytesToHex((decoded.digests[i] as { digest: Uint8Array }).digest),
            // r‖s; a backend that reports no signature (test fakes): the artifact's hash
            signature:
              sig === undefined
                ? sha256Hex(new TextEncoder().encode(out.artifact.hex))
                : sig.r.toString(16).padStart(64, '0') + sig.s.toString(16).padStart(64, '0'),
          });
        }
      } catch (e) {
        this.#log().error({ err: e, id }, 'signed, but the audit log did not acknowledge: result withheld');
        await this.#fail(id, ['signing'], 'failed', errorOf(e));
        await pools?.used(pooled);
        return;
      }
      await this.#move(id, ['signing'], 'signed', { artifact: out.artifact, presignaturesUsed: pooled });
    } catch (e) {
      this.#log().warn({ err: e, id }, 'signing failed');
      // a party without the documents (its ledger restored, or it missed every relay so far)
      if (/ERR_POLICY_VERSION_UNKNOWN/.test(String((e as Error).message))) {
        this.#undelivered.add('registry');
        this.#undelivered.add('policy');
      }
      // with what it still holds reserved: consumed at a party or not, never offered again
      await this.#fail(id, ['signing'], 'failed', errorOf(e), null, { burnReserved: true });
    }
  }
}

/** A rule id as an audit Ref: as is, or `rule:` + id (ids starting with `_`), else its hash. */
function ruleRef(rule: string): string {
  const ref = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
  if (ref.test(rule)) return rule;
  if (ref.test(`rule:${rule}`)) return `rule:${rule}`; // e.g. the implicit _default_deny
  return `sha256:${sha256Hex(new TextEncoder().encode(rule))}`;
}

function errorOf(e: unknown): { code: string; message: string } {
  if (e instanceof MpcError) {
    const message = e.message.replace(/^ERR_[A-Z0-9_]+: /, '');
    // a policy refusal names the rule that decided it (the implicit block-all is `_default_deny`)
    const rule = e.details.rule;
    if (typeof rule === 'string' && !message.startsWith(`rule ${rule}`)) {
      return { code: e.code, message: `rule ${rule}: ${message}` };
    }
    return { code: e.code, message };
  }
  return { code: 'ERR_API_INTERNAL', message: 'internal error' };
}

/** Hex SHA-256 of bytes (API body hashes). */
export const sha256Hex = (b: Uint8Array): string => bytesToHex(sha256(b));
