/**
 * Ledger group commit (issue #18): `PartyLedger.group` runs several consumes in one transaction
 * (one fsync) with a savepoint each, and `ConsumeGroup` (the signing path) gathers the consumes of
 * one event-loop turn into one group. What must hold: a presignature is consumed at most once even
 * twice in one group, a refused member leaves no trace (row, spend, audit record) while the others
 * commit, the audit chain stays continuous, nothing is reported committed before the group's
 * commit, and a process killed in the middle of a group leaves every member old or every member
 * new on disk.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyAuditLog } from '../../src/audit/index.js';
import { ConsumeGroup, consumedOnce } from '../../src/daemon/consume-group.js';
import { MpcError } from '../../src/errors/index.js';
import { Ed25519Signer } from '../../src/primitives/ed25519.js';
import { type ConsumeStep, PartyLedger } from '../../src/storage/party-ledger.js';
import { SoftwareSealer } from '../../src/storage/software-sealer.js';
import { emitterKey, trustFor } from '../audit/fixtures.js';
import { compileCrashChild, runChild, tempDir } from './helpers.js';

const sealer = () => new SoftwareSealer(Buffer.alloc(32, 0x42));
const payload = (tag: string) => Buffer.from(`presignature secret of ${tag} `.repeat(3));
const audit = () => ({
  deployment: 'dep-g',
  emitter: 'party-1',
  signer: new Ed25519Signer(emitterKey('party-1').secret),
  checkpointEvery: 1000,
});
const types = (l: PartyLedger) =>
  l.recordsAfter(0, 1000).map((r) => (JSON.parse(r.body) as { event: { type: string; presignature?: string } }).event);
const spend = (request: string) => ({
  request: request.repeat(64 / request.length),
  at: Math.floor(Date.now() / 1000),
  keyId: 'w1',
  initiator: 'ian',
  transfers: [],
});
const code = (e: unknown) => (e as { code?: string } | undefined)?.code;

const t = tempDir('ledger-group');
afterAll(() => t.cleanup());

async function ledgerWith(name: string, ids: string[], o: { steps?: ConsumeStep[] } = {}): Promise<PartyLedger> {
  const l = PartyLedger.open(join(t.dir, name, 'ledger.db'), 1, {
    sealer: sealer(),
    audit: audit(),
    ...(o.steps ? { onConsumeStep: (s: ConsumeStep) => void o.steps?.push(s) } : {}),
  });
  for (const id of ids) await l.addPresignature(id, 'w1', payload(id));
  return l;
}

describe('PartyLedger.group: one transaction, a savepoint per member', () => {
  it('one commit for every member: no member is reported committed before the last one ran', async () => {
    const steps: ConsumeStep[] = [];
    const l = await ledgerWith('one-commit', ['a', 'b', 'c'], { steps });
    const errors = l.group(['a', 'b', 'c'].map((id) => () => void l.consume(id)));
    expect(errors).toEqual([undefined, undefined, undefined]);
    // alone, each consume is begin → updated → committed; in a group the three commits come last
    expect(steps).toEqual([
      'begin',
      'updated',
      'begin',
      'updated',
      'begin',
      'updated',
      'committed',
      'committed',
      'committed',
    ]);
    for (const id of ['a', 'b', 'c']) expect(l.isConsumed(id)).toBe(true);
    l.close();
  });

  it('the same presignature twice in one group: the second is refused, the first stays consumed', async () => {
    const l = await ledgerWith('twice', ['a', 'b']);
    const errors = l.group([() => void l.consume('a'), () => void l.consume('a'), () => void l.consume('b')]);
    expect(errors.map(code)).toEqual([undefined, 'ERR_PRESIGNATURE_USED', undefined]);
    expect(l.isConsumed('a')).toBe(true);
    expect(l.isConsumed('b')).toBe(true);
    expect(() => l.consume('a')).toThrow(expect.objectContaining({ code: 'ERR_PRESIGNATURE_USED' }));
    // one consume record for 'a', one for 'b': the refused member wrote nothing
    const consumed = types(l).filter((e) => e.type === 'presignature.consumed');
    expect(consumed.map((e) => e.presignature)).toEqual(['a', 'b']);
    l.close();
  });

  it('a member refused after its consume (the velocity re-check) is rolled back alone: row, spend and record', async () => {
    const l = await ledgerWith('rollback', ['a', 'b', 'c']);
    const before = l.spendGeneration();
    const errors = l.group([
      () => void l.consume('a', 'd'.repeat(64), spend('a')),
      () => {
        l.consume('b', 'e'.repeat(64), spend('b'));
        throw new MpcError('ERR_POLICY_BLOCKED', 'over the limit');
      },
      () => void l.consume('c', 'f'.repeat(64), spend('c')),
    ]);
    expect(errors.map(code)).toEqual([undefined, 'ERR_POLICY_BLOCKED', undefined]);
    expect([l.isConsumed('a'), l.isConsumed('b'), l.isConsumed('c')]).toEqual([true, false, true]);
    expect((await l.loadPresignature('b'))?.equals(payload('b'))).toBe(true);
    expect(
      l
        .spendsSince(0)
        .map((s) => s.request)
        .sort(),
    ).toEqual(['a'.repeat(64), 'c'.repeat(64)]);
    expect(l.spendGeneration()).not.toBe(before);
    // the chain has no hole where b's record was rolled back, and verifies
    expect(
      types(l)
        .filter((e) => e.type === 'presignature.consumed')
        .map((e) => e.presignature),
    ).toEqual(['a', 'c']);
    const rep = verifyAuditLog(l.recordsAfter(0, 1000), trustFor('dep-g', ['party-1']));
    expect(rep.firstBreak).toBeUndefined();
    // b is still usable, once
    l.consume('b');
    expect(() => l.consume('b')).toThrow(expect.objectContaining({ code: 'ERR_PRESIGNATURE_USED' }));
    l.close();
  });

  it('a group that cannot take the write lock fails as a whole: typed error, nothing run, ledger unwritable until a write commits', async () => {
    const l = PartyLedger.open(join(t.dir, 'busy', 'ledger.db'), 1, { sealer: sealer(), busyTimeoutMs: 20 });
    await l.addPresignature('a', 'w1', payload('a'));
    const generation = l.spendGeneration();
    const other = new Database(join(t.dir, 'busy', 'ledger.db'));
    other.exec('BEGIN IMMEDIATE');
    let ran = false;
    expect(() =>
      l.group([
        () => {
          ran = true;
          l.consume('a');
        },
      ]),
    ).toThrow(expect.objectContaining({ code: 'ERR_LEDGER_BUSY' }));
    expect(ran).toBe(false);
    expect(l.writeHealth()).toEqual({ writable: false, reason: 'SQLITE_BUSY' });
    // a holder of running totals reloads them (what it counted may not have been written)
    expect(l.spendGeneration()).not.toBe(generation);
    other.exec('ROLLBACK');
    other.close();
    expect(l.isConsumed('a')).toBe(false);
    expect(l.group([() => void l.consume('a')])).toEqual([undefined]);
    expect(l.writeHealth()).toEqual({ writable: true });
    l.close();
  });

  it('groups do not nest', async () => {
    const l = await ledgerWith('nest', ['a']);
    const errors = l.group([() => void l.group([() => void l.consume('a')])]);
    expect(code(errors[0])).toBe('ERR_LEDGER_CORRUPT');
    expect(l.isConsumed('a')).toBe(false);
    l.close();
  });
});

describe('ConsumeGroup: the signing path', () => {
  it('consumes started in one turn share one group; each settles only after that group committed', async () => {
    const l = await ledgerWith('turn', ['a', 'b', 'c', 'd']);
    const sizes: number[] = [];
    const g = new ConsumeGroup(l, { onCommit: (n) => sizes.push(n) });
    const settled: string[] = [];
    const runs = ['a', 'b', 'a', 'c'].map((id, i) =>
      g
        .run(() => void l.consume(id))
        .then(
          () => settled.push(`${i}:ok`),
          (e) => settled.push(`${i}:${code(e)}`),
        ),
    );
    expect(settled).toEqual([]); // nothing settles before the group ran
    await Promise.all(runs);
    expect(sizes).toEqual([1 + 1 + 1 + 1]);
    expect(settled.sort()).toEqual(['0:ok', '1:ok', '2:ERR_PRESIGNATURE_USED', '3:ok']);
    // a later turn is a new group
    await g.run(() => void l.consume('d'));
    expect(sizes).toEqual([4, 1]);
    l.close();
  });

  it('at most maxGroup per transaction; the rest go to the next', async () => {
    const ids = ['a', 'b', 'c', 'd', 'e'];
    const l = await ledgerWith('max', ids);
    const sizes: number[] = [];
    const g = new ConsumeGroup(l, { maxGroup: 2, onCommit: (n) => sizes.push(n) });
    await Promise.all(ids.map((id) => g.run(() => void l.consume(id))));
    expect(sizes).toEqual([2, 2, 1]);
    for (const id of ids) expect(l.isConsumed(id)).toBe(true);
    l.close();
  });

  it('a commit that fails rejects every member, and none is consumed', async () => {
    const l = await ledgerWith('fails', ['a', 'b']);
    const failing = {
      group(work: readonly (() => void)[]) {
        l.group(work.map((w) => () => w()));
        throw new MpcError('ERR_LEDGER_IO', 'disk gone');
      },
    };
    const g = new ConsumeGroup(failing);
    const out = await Promise.allSettled([g.run(() => undefined), g.run(() => undefined)]);
    expect(out.map((o) => o.status)).toEqual(['rejected', 'rejected']);
    expect(out.map((o) => (o.status === 'rejected' ? code(o.reason) : ''))).toEqual(['ERR_LEDGER_IO', 'ERR_LEDGER_IO']);
    l.close();
  });

  it('without a commit observer it commits all the same', async () => {
    const l = await ledgerWith('no-observer', ['a']);
    await new ConsumeGroup(l).run(() => void l.consume('a'));
    expect(l.isConsumed('a')).toBe(true);
    l.close();
  });

  it('consumedOnce: the partial is computed for the consumed id, once', () => {
    const c = consumedOnce('a');
    const refused = (id: string) =>
      expect(() => c.consume(id)).toThrow(
        expect.objectContaining({ code: 'ERR_PRESIGNATURE_USED', details: { presignature: id } }),
      );
    refused('b');
    c.consume('a');
    refused('a');
  });
});

describe('group commit killed with SIGKILL: every member old or every member new', () => {
  let child: { script: string; cleanup: () => void };
  beforeAll(() => {
    child = compileCrashChild();
  });
  afterAll(() => child?.cleanup());

  for (const step of ['updated#1', 'updated#2', 'committed#1', 'returned']) {
    it(`killed at ${step}`, async () => {
      const dir = join(t.dir, `crash-${step}`);
      const setup = PartyLedger.open(join(dir, 'ledger.db'), 1, { sealer: sealer() });
      await setup.addPresignature('p1', 'w1', payload('p1'));
      await setup.addPresignature('p2', 'w1', payload('p2'));
      setup.close();
      const r = await runChild(child.script, ['group', dir, step]);
      expect(r.signal, r.stderr).toBe('SIGKILL');
      const l = PartyLedger.open(join(dir, 'ledger.db'), 1, { sealer: sealer() });
      const state = [l.isConsumed('p1'), l.isConsumed('p2')];
      // before the commit (even with both members done): neither; from the first 'committed' on: both
      expect(state).toEqual(step.startsWith('updated') ? [false, false] : [true, true]);
      if (r.messages.some((m) => (m as { partialSent?: boolean }).partialSent === true)) {
        expect(state).toEqual([true, true]);
      }
      l.close();
    });
  }
});
