/**
 * Counting approvals against a rule's approval spec: groups with all/any, thresholds, the
 * initiator's own approval, rejections, expired and misdirected statements, and the rule that one
 * person counts towards one group only.
 */
import { describe, expect, it } from 'vitest';
import {
  type ApprovalRecord,
  type ApprovalSpec,
  checkApprovals,
  type OperatorDirectory,
} from '../../src/policy/index.js';

const people: Record<string, { roles: string[]; groups: string[] }> = {
  alice: { roles: ['initiator', 'approver'], groups: ['treasury'] },
  tom: { roles: ['approver'], groups: ['treasury'] },
  tina: { roles: ['approver'], groups: ['treasury'] },
  sam: { roles: ['approver'], groups: ['security'] },
  both: { roles: ['approver'], groups: ['treasury', 'security'] },
  carol: { roles: ['approver'], groups: [] },
  eve: { roles: ['viewer'], groups: [] },
};
const directory: OperatorDirectory = { lookup: (id) => people[id] };

const NOW = 1_800_000_000;
const REQ = 'ab'.repeat(32);
const ctx = { initiator: 'alice', requestDigest: REQ, policyVersion: 3, createdAt: NOW - 60, now: NOW };
const ok = (operator: string, o: Partial<ApprovalRecord> = {}): ApprovalRecord => ({
  operator,
  decision: 'approve',
  requestDigest: REQ,
  policyVersion: 3,
  expiresAt: NOW + 600,
  ...o,
});
const no = (operator: string) => ok(operator, { decision: 'reject' });

const treasury2security1: ApprovalSpec = {
  groups: [
    { name: 'treasury', members: { groups: ['treasury'] }, threshold: 2 },
    { name: 'security', members: { groups: ['security'] }, threshold: 1 },
  ],
  combine: 'all',
  timeoutSeconds: 3600,
};
const treasury2orCarol: ApprovalSpec = {
  groups: [
    { name: 'treasury', members: { groups: ['treasury'] }, threshold: 2 },
    { name: 'cfo', members: { operators: ['carol'] }, threshold: 1 },
  ],
  combine: 'any',
  timeoutSeconds: 3600,
};

const state = (spec: ApprovalSpec, approvals: ApprovalRecord[], c = ctx) =>
  checkApprovals(spec, c, approvals, directory).state;

describe('checkApprovals', () => {
  it('all: every group must reach its threshold', () => {
    expect(state(treasury2security1, [])).toBe('pending');
    expect(state(treasury2security1, [ok('tom'), ok('tina')])).toBe('pending');
    expect(state(treasury2security1, [ok('tom'), ok('sam')])).toBe('pending');
    expect(state(treasury2security1, [ok('tom'), ok('tina'), ok('sam')])).toBe('approved');
  });
  it('any: one group suffices', () => {
    expect(state(treasury2orCarol, [ok('carol')])).toBe('approved');
    expect(state(treasury2orCarol, [ok('tom'), ok('tina')])).toBe('approved');
    expect(state(treasury2orCarol, [ok('tom'), ok('sam')])).toBe('pending');
  });
  it('any: an operator in several groups counts in each (no matching needed for one group)', () => {
    const anyOf: ApprovalSpec = {
      groups: [
        { name: 'b', members: { operators: ['tom', 'carol'] }, threshold: 2 },
        { name: 'c', members: { operators: ['tina', 'sam'] }, threshold: 2 },
        { name: 'a', members: { operators: ['tom', 'tina'] }, threshold: 2 },
      ],
      combine: 'any',
      timeoutSeconds: 3600,
    };
    expect(state(anyOf, [ok('tom'), ok('tina')])).toBe('approved');
  });
  it('one person counts towards one group only', () => {
    // "both" is in treasury and security: with tom that is two people for three seats.
    expect(state(treasury2security1, [ok('tom'), ok('both')])).toBe('pending');
    expect(state(treasury2security1, [ok('tom'), ok('tina'), ok('both')])).toBe('approved');
    // The matching finds the assignment: both → security, tom and tina → treasury, in any order.
    expect(state(treasury2security1, [ok('both'), ok('tom'), ok('tina')])).toBe('approved');
  });
  it('the same approver twice counts once', () => {
    expect(state(treasury2orCarol, [ok('tom'), ok('tom')])).toBe('pending');
  });
  it("the initiator's own approval counts only when the rule allows it", () => {
    expect(state(treasury2orCarol, [ok('alice'), ok('tom')])).toBe('pending');
    expect(state({ ...treasury2orCarol, allowInitiator: true }, [ok('alice'), ok('tom')])).toBe('approved');
  });
  it('a rejection by a possible approver ends the request, even after the threshold was met', () => {
    expect(state(treasury2orCarol, [ok('carol'), no('tom')])).toBe('rejected');
    expect(state(treasury2security1, [no('sam')])).toBe('rejected');
  });
  it('a rejection by someone outside every group does not count', () => {
    expect(state(treasury2orCarol, [no('eve'), ok('carol')])).toBe('approved');
    expect(state(treasury2orCarol, [no('sam'), ok('carol')])).toBe('approved');
    expect(state(treasury2orCarol, [no('mallory'), ok('carol')])).toBe('approved'); // unknown operator
  });
  it('expired statements do not count', () => {
    expect(state(treasury2orCarol, [ok('carol', { expiresAt: NOW })])).toBe('pending');
    expect(state(treasury2orCarol, [ok('carol', { expiresAt: NOW + 1 })])).toBe('approved');
  });
  it('statements for another request or another policy version do not count', () => {
    expect(state(treasury2orCarol, [ok('carol', { requestDigest: 'cd'.repeat(32) })])).toBe('pending');
    expect(state(treasury2orCarol, [ok('carol', { policyVersion: 2 })])).toBe('pending');
  });
  it('unknown operators do not count', () => {
    expect(state(treasury2orCarol, [ok('mallory'), ok('tom')])).toBe('pending');
  });
  it('operators listed by id or by role', () => {
    const byRole: ApprovalSpec = {
      groups: [{ name: 'any-approver', members: { roles: ['approver'] }, threshold: 2 }],
      combine: 'all',
      timeoutSeconds: 600,
    };
    expect(state(byRole, [ok('carol'), ok('sam')])).toBe('approved');
    expect(state(byRole, [ok('carol'), ok('eve')])).toBe('pending');
  });
  it('the request expires after the timeout when approvals are incomplete', () => {
    expect(state(treasury2orCarol, [ok('tom')], { ...ctx, now: ctx.createdAt + 3600 })).toBe('expired');
    expect(state(treasury2orCarol, [ok('tom')], { ...ctx, now: ctx.createdAt + 3599 })).toBe('pending');
  });
  it('reports what each group has and needs', () => {
    const out = checkApprovals(treasury2security1, ctx, [ok('tom')], directory);
    expect(out.groups).toEqual([
      { name: 'treasury', have: 1, need: 2 },
      { name: 'security', have: 0, need: 1 },
    ]);
    expect(out.reason).toContain('treasury 1/2');
  });
});
