import { ed25519 } from '@noble/curves/ed25519.js';
import { hexToBytes } from '@noble/hashes/utils.js';
import { describe, expect, it } from 'vitest';
import {
  AuditEmitter,
  type AuditEvent,
  type AuditReport,
  GENESIS_HASH,
  MAX_LINE_BYTES,
  parseRecord,
  recordHash,
  recordLine,
  type StoredRecord,
  signBody,
  verifyAuditLog,
} from '../../src/audit/index.js';
import { Ed25519Signer } from '../../src/primitives/ed25519.js';
import { EMITTERS, emitterKey, makeEmitter, sampleLog, trustFor } from './fixtures.js';

const TRUST = trustFor('dep-a');
const body = (r: StoredRecord) => JSON.parse(r.body) as Record<string, unknown> & { emitter: string; seq: number };
const brk = (rep: AuditReport) => {
  expect(rep.ok).toBe(false);
  return rep.firstBreak as NonNullable<AuditReport['firstBreak']>;
};
/** Index of the record of `emitter` with sequence `seq`. */
const find = (log: StoredRecord[], emitter: string, seq: number) =>
  log.findIndex((r) => body(r).emitter === emitter && body(r).seq === seq);

describe('audit log: an honest log', () => {
  it('verifies every chain, signature and checkpoint and summarises per emitter', () => {
    const log = sampleLog();
    const rep = verifyAuditLog(log.map(recordLine), TRUST);
    expect(rep.firstBreak).toBeUndefined();
    expect(rep.ok).toBe(true);
    for (const e of EMITTERS) {
      // 12 events + checkpoints at seq 5, 10 and 15
      expect(rep.emitters[e]?.records).toBe(15);
      expect(rep.emitters[e]?.lastCheckpoint).toBe(15);
      expect(rep.emitters[e]?.events.checkpoint).toBe(3);
      expect(rep.emitters[e]?.events['request.signed']).toBe(1);
    }
  });

  it('signs the exact stored body bytes: another Ed25519 library (noble) agrees', () => {
    const [r] = sampleLog();
    if (r === undefined) throw new Error('empty');
    const msg = new TextEncoder().encode(`mpc-custody/audit/v1/sig\n${r.body}`);
    expect(ed25519.verify(hexToBytes(r.sig), msg, emitterKey('orchestrator').publicKey)).toBe(true);
    expect(body(r).prev).toBe(GENESIS_HASH);
  });

  it('checkpoints carry the count and the head hash of the records before them', () => {
    const log = sampleLog().filter((r) => body(r).emitter === 'party-0');
    const cp = body(log[4] as StoredRecord);
    expect(cp.event).toEqual({ type: 'checkpoint', count: 4, head: recordHash((log[3] as StoredRecord).body) });
  });
});

describe('audit log: tampering is detected and named', () => {
  it('a modified field of any record (every field of the body, the signature) is refused at that record', () => {
    const log = sampleLog();
    for (let i = 0; i < log.length; i += 1) {
      const r = log[i] as StoredRecord;
      const fields = [
        ...Object.keys(body(r)).filter((k) => k !== 'event'),
        ...Object.keys(body(r).event as object).map((k) => `event.${k}`),
      ];
      for (const field of fields.filter((f) => f !== 'v' && f !== 'event.type')) {
        const b = body(r);
        const [outer, inner] = field.split('.') as [string, string | undefined];
        const holder = (inner === undefined ? b : b[outer]) as Record<string, unknown>;
        const k = inner ?? outer;
        const v = holder[k];
        holder[k] =
          typeof v === 'number'
            ? v + 1
            : typeof v === 'string'
              ? `${v.slice(0, -1)}${v.endsWith('a') ? 'b' : 'a'}`
              : Array.isArray(v)
                ? [...v, 9]
                : 'x';
        const tampered = [...log];
        tampered[i] = { body: JSON.stringify(b), sig: r.sig };
        const out = brk(verifyAuditLog(tampered, TRUST));
        expect(out.index, field).toBe(i);
        expect(['bad_signature', 'foreign_deployment', 'unknown_emitter', 'malformed'], field).toContain(out.kind);
        if (out.kind === 'bad_signature') expect(out.message).toContain(`record ${i}`);
      }
      const flipped = [...log];
      flipped[i] = { body: r.body, sig: `${r.sig.slice(0, -1)}${r.sig.endsWith('0') ? '1' : '0'}` };
      expect(brk(verifyAuditLog(flipped, TRUST))).toMatchObject({ kind: 'bad_signature', index: i });
    }
  });

  it('a modified body that keeps its old bytes elsewhere is still caught (hash over the stored bytes)', () => {
    const log = sampleLog();
    const r = log[7] as StoredRecord;
    const spaced = [...log];
    spaced[7] = { body: r.body.replace('{', '{ '), sig: r.sig };
    expect(brk(verifyAuditLog(spaced, TRUST))).toMatchObject({ kind: 'bad_signature', index: 7 });
  });

  it('a deleted record is named: the next record of that emitter reports the gap', () => {
    const log = sampleLog();
    const del = find(log, 'party-1', 6);
    const tampered = log.filter((_, i) => i !== del);
    const out = brk(verifyAuditLog(tampered, TRUST));
    expect(out).toMatchObject({ kind: 'missing_record', emitter: 'party-1', seq: 7 });
    expect(out.message).toContain('seq 6 missing');
  });

  it('two reordered records are named as a reordering', () => {
    const log = sampleLog();
    const a = find(log, 'orchestrator', 3);
    const b = find(log, 'orchestrator', 4);
    const tampered = [...log];
    [tampered[a], tampered[b]] = [log[b] as StoredRecord, log[a] as StoredRecord];
    expect(brk(verifyAuditLog(tampered, TRUST))).toMatchObject({
      kind: 'reordered',
      index: a,
      emitter: 'orchestrator',
      seq: 4,
    });
  });

  it('a duplicated record is refused', () => {
    const log = sampleLog();
    const i = find(log, 'party-0', 2);
    const tampered = [...log.slice(0, i + 4), log[i] as StoredRecord, ...log.slice(i + 4)];
    expect(brk(verifyAuditLog(tampered, TRUST))).toMatchObject({
      kind: 'duplicate',
      index: i + 4,
      emitter: 'party-0',
      seq: 2,
    });
  });

  it('a truncated tail is detected against the last checkpoint kept as an anchor', () => {
    const log = sampleLog();
    const anchor = log[find(log, 'party-0', 10)] as StoredRecord;
    expect(verifyAuditLog(log, { ...TRUST, anchors: [recordLine(anchor)] }).ok).toBe(true);
    const cut = find(log, 'party-0', 9);
    const truncated = log.filter((r, i) => !(body(r).emitter === 'party-0' && i >= cut));
    // without the anchor, a clean cut of the chain itself is indistinguishable from a shorter log …
    expect(verifyAuditLog(truncated, { ...TRUST, crossCheck: false }).ok).toBe(true);
    // … but the orchestrator's signature now lacks party-0's consume record (the cross-check)
    expect(brk(verifyAuditLog(truncated, TRUST))).toMatchObject({
      kind: 'unbacked_signature',
      emitter: 'orchestrator',
    });
    const out = brk(verifyAuditLog(truncated, { ...TRUST, anchors: [anchor] }));
    expect(out).toMatchObject({ kind: 'truncated', emitter: 'party-0', seq: 9, index: truncated.length });
  });

  it('an anchor at the head passes; an anchor of an emitter with no record left is a truncation', () => {
    const log = sampleLog();
    const last = log.map(body).reduce((m, b, i) => (b.emitter === 'party-0' ? i : m), -1);
    expect(verifyAuditLog(log, { ...TRUST, anchors: [log[last] as StoredRecord] }).ok).toBe(true);
    const gone = log.filter((r) => body(r).emitter !== 'party-0');
    const out = brk(verifyAuditLog(gone, { ...TRUST, anchors: [log[last] as StoredRecord] }));
    expect(out).toMatchObject({ kind: 'truncated', emitter: 'party-0', seq: 1 });
  });

  it('an anchor that disagrees with the log (a rewritten history) is refused', () => {
    const log = sampleLog();
    const fork = makeEmitter('dep-a', 'party-0');
    fork.append({ type: 'daemon.started', party: 1 }); // a different seq 1
    const forked = fork.append({ type: 'daemon.stopped', reason: 'x' })[0] as StoredRecord;
    expect(brk(verifyAuditLog(log, { ...TRUST, anchors: [forked] }))).toMatchObject({
      kind: 'checkpoint_mismatch',
      emitter: 'party-0',
      seq: 2,
    });
  });

  it('an anchor not signed by its emitter is refused', () => {
    const log = sampleLog();
    const a = log[0] as StoredRecord;
    const forged = { body: a.body, sig: signBody(new Ed25519Signer(emitterKey('party-1').secret), a.body) };
    expect(brk(verifyAuditLog(log, { ...TRUST, anchors: [forged] })).kind).toBe('bad_signature');
  });

  it('an anchor that is malformed, of another deployment or of an emitter outside the roster is refused', () => {
    const log = sampleLog();
    const anchor = log[find(log, 'party-0', 10)] as StoredRecord;
    expect(brk(verifyAuditLog(log, { ...TRUST, anchors: ['not json'] }))).toMatchObject({
      kind: 'malformed',
      index: -1,
    });
    const other = sampleLog('dep-b');
    const foreign = other[find(other, 'party-0', 10)] as StoredRecord;
    expect(brk(verifyAuditLog(log, { ...TRUST, anchors: [foreign] }))).toMatchObject({
      kind: 'bad_signature',
      index: -1,
      emitter: 'party-0',
    });
    const roster = trustFor('dep-a', ['orchestrator', 'party-1']);
    expect(brk(verifyAuditLog(log, { ...roster, anchors: [anchor] }))).toMatchObject({
      kind: 'bad_signature',
      index: -1,
      emitter: 'party-0',
    });
  });

  it('a forged record signed by another emitter is named with its real signer', () => {
    const log = sampleLog();
    const i = find(log, 'party-0', 3);
    const b = body(log[i] as StoredRecord);
    b.event = { type: 'request.approved', request: 'r9', approver: 'mallory' };
    const text = JSON.stringify(b);
    const tampered = [...log];
    tampered[i] = { body: text, sig: signBody(new Ed25519Signer(emitterKey('party-1').secret), text) };
    const out = brk(verifyAuditLog(tampered, TRUST));
    expect(out).toMatchObject({ kind: 'signed_by_other_emitter', index: i, emitter: 'party-0', seq: 3 });
    expect(out.message).toContain('signed by emitter party-1');
  });

  it('a record replayed from another deployment is refused (same keys, same seq)', () => {
    const log = sampleLog('dep-a');
    const other = sampleLog('dep-b');
    const i = find(log, 'party-1', 5);
    const tampered = [...log];
    tampered[i] = other[find(other, 'party-1', 5)] as StoredRecord;
    expect(brk(verifyAuditLog(tampered, TRUST))).toMatchObject({
      kind: 'foreign_deployment',
      index: i,
      emitter: 'party-1',
      seq: 5,
    });
  });

  it('a fork signed by the emitter itself breaks the chain (prev is not the previous hash)', () => {
    const log = sampleLog();
    const i = find(log, 'party-0', 4);
    const b = body(log[i] as StoredRecord);
    b.prev = recordHash('{}');
    const text = JSON.stringify(b);
    const tampered = [...log];
    tampered[i] = { body: text, sig: signBody(new Ed25519Signer(emitterKey('party-0').secret), text) };
    expect(brk(verifyAuditLog(tampered, TRUST))).toMatchObject({
      kind: 'chain_break',
      index: i,
      emitter: 'party-0',
      seq: 4,
    });
  });

  it('a checkpoint whose count or head disagrees with the chain is refused', () => {
    const log = sampleLog();
    const i = find(log, 'party-1', 5);
    for (const bad of [{ count: 3 }, { head: 'a'.repeat(64) }]) {
      const b = body(log[i] as StoredRecord);
      b.event = { ...(b.event as object), ...bad };
      const text = JSON.stringify(b);
      const tampered = [...log];
      tampered[i] = { body: text, sig: signBody(new Ed25519Signer(emitterKey('party-1').secret), text) };
      expect(brk(verifyAuditLog(tampered, TRUST))).toMatchObject({ kind: 'checkpoint_mismatch', index: i, seq: 5 });
    }
  });

  it('a record of an emitter outside the roster is refused', () => {
    const log = sampleLog();
    expect(brk(verifyAuditLog(log, trustFor('dep-a', ['orchestrator', 'party-1'])))).toMatchObject({
      kind: 'unknown_emitter',
      emitter: 'party-0',
    });
  });

  it('malformed lines are refused before parsing, never crash the verifier', () => {
    const log = sampleLog().map(recordLine);
    const r = log[0] as string;
    const b = JSON.parse(JSON.parse(r).body);
    const cases: string[] = [
      'x'.repeat(MAX_LINE_BYTES + 1),
      'not json',
      '[]',
      'null',
      JSON.stringify({ body: 1, sig: 'a' }),
      JSON.stringify({ ...JSON.parse(r), extra: 1 }),
      JSON.stringify({ body: '{', sig: JSON.parse(r).sig }),
      JSON.stringify({ body: JSON.stringify({ ...b, v: 2 }), sig: JSON.parse(r).sig }),
      JSON.stringify({ body: JSON.stringify({ ...b, secret: 'ab' }), sig: JSON.parse(r).sig }),
      JSON.stringify({
        body: JSON.stringify({ ...b, event: { ...b.event, note: 'free text' } }),
        sig: JSON.parse(r).sig,
      }),
      JSON.stringify({ body: JSON.stringify({ ...b, deployment: 'a.b' }), sig: JSON.parse(r).sig }),
    ];
    for (const c of cases) {
      const out = brk(verifyAuditLog([c, ...log.slice(1)], TRUST));
      expect(out).toMatchObject({ kind: 'malformed', index: 0 });
    }
    expect(() => parseRecord('{"body":"{}","sig":"00"}')).toThrow(/ERR_AUDIT_RECORD_MALFORMED/);
  });
});

describe('audit log: cross-checks of every orchestrator signature', () => {
  const h = (n: number) => n.toString(16).padStart(64, '0');
  type Step = [emitter: string, event: AuditEvent];
  const received = (request: string): AuditEvent => ({
    type: 'request.received',
    request,
    key: 'hot',
    initiator: 'alice',
    payloadKind: 'eth.transaction',
    payloadHash: h(1),
  });
  const evaluated = (request: string, action: 'allow' | 'block' | 'require_approvals'): AuditEvent => ({
    type: 'request.evaluated',
    request,
    policyVersion: 1,
    rule: 'r',
    action,
  });
  const consumed = (presignature: string, digest = h(2)): AuditEvent => ({
    type: 'presignature.consumed',
    key: 'hot',
    presignature,
    digest,
  });
  const signed = (request: string, presignature: string, signers = [0, 1]): AuditEvent => ({
    type: 'request.signed',
    request,
    key: 'hot',
    presignature,
    signers,
    digest: h(2),
    signature: h(3),
  });
  const logOf = (steps: Step[]) => {
    const em = new Map(EMITTERS.map((e) => [e as string, makeEmitter('dep-a', e, 1000)]));
    return steps.flatMap(([e, ev]) => (em.get(e) as AuditEmitter).append(ev));
  };
  const honest: Step[] = [
    ['orchestrator', received('r1')],
    ['orchestrator', evaluated('r1', 'require_approvals')],
    ['orchestrator', { type: 'request.approved', request: 'r1', approver: 'bob' }],
    ['orchestrator', evaluated('r1', 'allow')],
    ['party-1', consumed('p1')],
    ['orchestrator', signed('r1', 'p1')],
    ['party-0', consumed('p1')], // shipped later than the orchestrator's record: order across emitters is free
  ];
  const without = (i: number) => honest.filter((_, j) => j !== i);

  it('an honest log passes', () => {
    expect(verifyAuditLog(logOf(honest), TRUST).firstBreak).toBeUndefined();
  });

  it('a party that consumed one presignature twice (for the same or another digest) is named at the second record', () => {
    for (const second of [consumed('p1'), consumed('p1', h(9))]) {
      const log = logOf([...honest, ['party-1', second]]);
      const out = brk(verifyAuditLog(log, TRUST));
      expect(out).toMatchObject({ kind: 'presignature_reused', emitter: 'party-1', index: log.length - 1 });
      expect(out.message).toContain('p1');
    }
    // another party consuming the same presignature is the normal case (each signer consumes it once)
    expect(verifyAuditLog(logOf(honest), TRUST).ok).toBe(true);
  });

  it('a request allowed at once needs no approval', () => {
    const direct: Step[] = [honest[0] as Step, ['orchestrator', evaluated('r1', 'allow')], ...honest.slice(4)];
    expect(verifyAuditLog(logOf(direct), TRUST).firstBreak).toBeUndefined();
  });

  it.each([
    ['no request.received', without(0), 'has no request.received'],
    ['approvals needed, none recorded', without(2), 'needed approvals'],
    ['the latest evaluation did not allow', without(3), 'latest evaluation (require_approvals)'],
    [
      'blocked',
      [...honest.slice(0, 4), ['orchestrator', evaluated('r1', 'block')], ...honest.slice(4)] as Step[],
      '(block)',
    ],
    ['a signer never consumed the presignature', without(6), 'at signer party-0'],
    [
      'a signer consumed it for another digest',
      [...without(6), ['party-0', consumed('p1', h(9))]] as Step[],
      'party-0 consumed p1 for another digest',
    ],
    [
      "a signer's presignature.created is not a consume",
      [
        ...without(6),
        ['party-0', { type: 'presignature.created', key: 'hot', presignature: 'p1', signers: [0, 1] }],
      ] as Step[],
      'at signer party-0',
    ],
    [
      "a party's request.evaluated does not count as the orchestrator's",
      [
        ...honest.slice(0, 4),
        ['orchestrator', evaluated('r1', 'block')],
        ['party-1', evaluated('r1', 'allow')],
        ...honest.slice(4),
      ] as Step[],
      '(block)',
    ],
    [
      "a party's request.received does not count as the orchestrator's",
      [['party-0', received('r1')], ...without(0)] as Step[],
      'has no request.received',
    ],
    [
      'signed by a party outside the consumers',
      [...honest.slice(0, 5), ['orchestrator', signed('r1', 'p1', [1, 2])], honest[6]] as Step[],
      'at signer party-2',
    ],
  ])('%s: named at the signature record', (_, steps, why) => {
    const log = logOf(steps);
    const out = brk(verifyAuditLog(log, TRUST));
    expect(out.kind).toBe('unbacked_signature');
    expect(out.index).toBe(log.findIndex((r) => (body(r).event as { type: string }).type === 'request.signed'));
    expect(out.message).toContain(why);
    expect(verifyAuditLog(log, { ...TRUST, crossCheck: false }).ok).toBe(true);
  });
});

describe('audit emitter', () => {
  const signer = new Ed25519Signer(emitterKey('party-0').secret);

  it('refuses events off the schema (free text, secrets, unknown kinds) before signing', () => {
    const em = new AuditEmitter({ deployment: 'dep-a', emitter: 'party-0', signer });
    const bad: unknown[] = [
      { type: 'daemon.stopped', reason: 'contains spaces and a secret 1234' },
      { type: 'daemon.stopped', reason: 'ok', share: 'deadbeef' },
      { type: 'request.failed', request: 'r1', code: 'not-a-code' },
      { type: 'unknown.kind' },
      { type: 'checkpoint', count: 0, head: GENESIS_HASH },
    ];
    for (const e of bad) expect(() => em.prepare(e as never)).toThrow(/ERR_AUDIT_EVENT_INVALID/);
    expect(em.head.seq).toBe(0);
  });

  it('refuses ids that cannot be NATS subject tokens', () => {
    expect(() => new AuditEmitter({ deployment: 'a.b', emitter: 'party-0', signer })).toThrow(
      /ERR_AUDIT_EVENT_INVALID/,
    );
    expect(() => new AuditEmitter({ deployment: 'a', emitter: '*', signer })).toThrow(/ERR_AUDIT_EVENT_INVALID/);
  });

  it('prepare does not move the head until commit; a resumed emitter continues the chain', () => {
    const em = new AuditEmitter({ deployment: 'dep-a', emitter: 'party-0', signer, checkpointEvery: 0 });
    const first = em.prepare({ type: 'daemon.started', party: 0 });
    expect(em.head.seq).toBe(0);
    em.commit(first.head);
    expect(() => em.commit(first.head)).toThrow(/ERR_AUDIT_EVENT_INVALID/);
    const resumed = new AuditEmitter({ deployment: 'dep-a', emitter: 'party-0', signer, head: em.head });
    const second = resumed.append({ type: 'daemon.stopped', reason: 'sigterm' });
    const rep = verifyAuditLog([...first.records, ...second], trustFor('dep-a', ['party-0']));
    expect(rep.ok).toBe(true);
    expect(rep.emitters['party-0']?.records).toBe(2);
  });
});
