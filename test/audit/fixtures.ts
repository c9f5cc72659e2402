import { ed25519 } from '@noble/curves/ed25519.js';
import { AuditEmitter, type AuditEvent, type StoredRecord } from '../../src/audit/index.js';
import { Ed25519Signer } from '../../src/primitives/ed25519.js';

/** Deterministic Ed25519 keys for test emitters (test-only). */
export function emitterKey(name: string): { secret: Uint8Array; publicKey: Uint8Array } {
  const secret = new Uint8Array(32);
  const bytes = new TextEncoder().encode(name);
  secret.set(bytes.subarray(0, 32));
  secret[31] = (secret[31] ?? 0) ^ 0x5a;
  return { secret, publicKey: ed25519.getPublicKey(secret) };
}

export const EMITTERS = ['orchestrator', 'party-0', 'party-1'] as const;

export function trustFor(deployment: string, emitters: readonly string[] = EMITTERS) {
  return { deployment, emitters: new Map(emitters.map((e) => [e, emitterKey(e).publicKey])) };
}

export function makeEmitter(deployment: string, emitter: string, checkpointEvery = 5): AuditEmitter {
  let t = 1_700_000_000_000;
  return new AuditEmitter({
    deployment,
    emitter,
    signer: new Ed25519Signer(emitterKey(emitter).secret),
    checkpointEvery,
    now: () => t++,
  });
}

const h = (n: number) => n.toString(16).padStart(64, '0');

/** A varied event sequence: every kind of record a deployment writes. */
export function sampleEvents(n: number): AuditEvent[] {
  const all: AuditEvent[] = [
    { type: 'daemon.started', party: 0 },
    { type: 'key.generated', key: 'hot', threshold: 2, parties: 3, publicKey: `02${h(7)}` },
    { type: 'key.share_updated', key: 'hot', shareVersion: 2 },
    { type: 'aux.done', key: 'hot', parties: [0, 1, 2] },
    { type: 'presignature.created', key: 'hot', presignature: 'pre-1', signers: [0, 1] },
    {
      type: 'request.received',
      request: 'r1',
      key: 'hot',
      initiator: 'alice',
      payloadKind: 'eth.transaction',
      payloadHash: h(1),
    },
    { type: 'request.evaluated', request: 'r1', policyVersion: 3, rule: 'small-transfers', action: 'allow' },
    { type: 'request.approved', request: 'r1', approver: 'bob' },
    { type: 'presignature.consumed', key: 'hot', presignature: 'pre-1', digest: h(2) },
    {
      type: 'request.signed',
      request: 'r1',
      key: 'hot',
      presignature: 'pre-1',
      signers: [0, 1],
      digest: h(2),
      signature: h(3),
    },
    { type: 'request.rejected', request: 'r2', by: null, code: 'ERR_POLICY_BLOCKED' },
    { type: 'request.failed', request: 'r3', code: 'ERR_DAEMON_SESSION_TIMEOUT' },
    { type: 'presignature.burnt', presignature: 'pre-2', reason: 'restore' },
    { type: 'presignatures.burnt', count: 3, reason: 'epoch' },
    { type: 'refresh.step', key: 'hot', step: 'done', epoch: 2 },
    { type: 'reshare.step', key: 'hot', step: 'start', epoch: 3, parties: [0, 1, 3] },
    { type: 'operator.changed', operator: 'carol', change: 'added', by: 'admin' },
    { type: 'policy.changed', version: 4, hash: h(4), by: 'admin' },
    { type: 'command.refused', command: 'sign', code: 'ERR_DAEMON_PRESIGNATURE_UNKNOWN', session: null },
    { type: 'daemon.stopped', reason: 'sigterm' },
    // Appended last: tests index into the log by position (sampleEvents(8) holds one approval).
    { type: 'key.imported', key: 'migrated', source: 'tss-lib', parties: 3, publicKey: `03${h(8)}` },
  ];
  // later rounds name other presignatures: a party consumes each one once (the verifier checks it)
  return Array.from({ length: n }, (_, i) => {
    const e = all[i % all.length] as AuditEvent;
    const round = Math.floor(i / all.length);
    return round > 0 && 'presignature' in e ? ({ ...e, presignature: `${e.presignature}-${round}` } as AuditEvent) : e;
  });
}

/** An interleaved log of three emitters, `perEmitter` events each (plus their checkpoints). */
export function sampleLog(deployment = 'dep-a', perEmitter = 12): StoredRecord[] {
  const emitters = EMITTERS.map((e) => makeEmitter(deployment, e));
  const events = sampleEvents(perEmitter);
  const out: StoredRecord[] = [];
  for (const ev of events) for (const em of emitters) out.push(...em.append(ev));
  return out;
}
