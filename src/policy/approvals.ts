/**
 * Whether a request's approvals satisfy the matched rule's approval spec. The statements reach
 * this function already verified (signature, operator, request digest: src/policy/statements.ts);
 * here are the rules of counting:
 * - only approvals for this request and this policy version, not expired, from known operators;
 * - the initiator's own approval counts only when the rule allows it;
 * - a rejection by any operator who could approve (a member of any group) ends the request;
 * - one operator counts towards one group only (a person in two groups cannot satisfy an `all`
 *   rule alone): the groups' thresholds are met by a matching of distinct operators;
 * - the request expires `timeoutSeconds` after it was created.
 */
import { principalMatches } from './evaluate.js';
import type { ApprovalSpec } from './schema.js';

export interface ApprovalRecord {
  readonly operator: string;
  readonly decision: 'approve' | 'reject';
  /** Hex digest of the canonical request the approver saw. */
  readonly requestDigest: string;
  readonly policyVersion: number;
  /** Unix seconds after which the statement is void. */
  readonly expiresAt: number;
}

export interface OperatorDirectory {
  /** Roles and groups of a registered operator, undefined for an unknown one. */
  lookup(id: string): { readonly roles: readonly string[]; readonly groups: readonly string[] } | undefined;
}

export interface ApprovalContext {
  readonly initiator: string;
  readonly requestDigest: string;
  readonly policyVersion: number;
  /** Unix seconds the request was created (the timeout runs from here). */
  readonly createdAt: number;
  readonly now: number;
}

export interface ApprovalOutcome {
  readonly state: 'approved' | 'pending' | 'rejected' | 'expired';
  readonly reason: string;
  /** Per group: approvals that count (after the distinct-operator matching) and the threshold. */
  readonly groups: readonly { readonly name: string; readonly have: number; readonly need: number }[];
}

export function checkApprovals(
  spec: ApprovalSpec,
  ctx: ApprovalContext,
  approvals: readonly ApprovalRecord[],
  directory: OperatorDirectory,
): ApprovalOutcome {
  const memberOf = (op: string) => {
    const who = directory.lookup(op);
    if (who === undefined) return [];
    return spec.groups.map((g, k) => (principalMatches(g.members, { id: op, ...who }) ? k : -1)).filter((k) => k >= 0);
  };
  const valid = approvals.filter(
    (a) =>
      a.requestDigest === ctx.requestDigest &&
      a.policyVersion === ctx.policyVersion &&
      a.expiresAt > ctx.now &&
      (a.operator !== ctx.initiator || spec.allowInitiator === true) &&
      memberOf(a.operator).length > 0,
  );
  const rejecter = valid.find((a) => a.decision === 'reject');
  if (rejecter !== undefined) {
    return { state: 'rejected', reason: `rejected by ${rejecter.operator}`, groups: tally(spec, new Map()) };
  }
  const approvers = [...new Set(valid.filter((a) => a.decision === 'approve').map((a) => a.operator))];
  const assignment = assign(
    spec,
    approvers.map((op) => memberOf(op)),
  );
  const groups = tally(spec, assignment);
  const met = groups.map((g) => g.have >= g.need);
  const ok = spec.combine === 'all' ? met.every(Boolean) : met.some(Boolean);
  if (ok) return { state: 'approved', reason: 'approval groups satisfied', groups };
  if (ctx.now >= ctx.createdAt + spec.timeoutSeconds) {
    return { state: 'expired', reason: `approvals not complete within ${spec.timeoutSeconds} s`, groups };
  }
  const short = groups.filter((g) => g.have < g.need).map((g) => `${g.name} ${g.have}/${g.need}`);
  return { state: 'pending', reason: `waiting for approvals: ${short.join(', ')}`, groups };
}

function tally(spec: ApprovalSpec, counts: ReadonlyMap<number, number>) {
  return spec.groups.map((g, k) => ({ name: g.name, have: counts.get(k) ?? 0, need: g.threshold }));
}

/**
 * Assigns distinct approvers to groups, each group taking at most its threshold, maximising the
 * groups' filled seats (augmenting paths on a bipartite graph; a few dozen nodes at most). With
 * `any`, each group is considered alone (one group suffices, so sharing operators is harmless).
 */
function assign(spec: ApprovalSpec, candidates: readonly (readonly number[])[]): Map<number, number> {
  if (spec.combine === 'any') {
    const counts = new Map<number, number>();
    for (const groups of candidates) for (const g of groups) counts.set(g, (counts.get(g) ?? 0) + 1);
    return counts;
  }
  const seats: { group: number; holder: number }[] = [];
  spec.groups.forEach((g, k) => {
    for (let s = 0; s < g.threshold; s++) seats.push({ group: k, holder: -1 });
  });
  const tryPlace = (op: number, seen: Set<number>): boolean => {
    for (let s = 0; s < seats.length; s++) {
      const seat = seats[s] as { group: number; holder: number };
      if (seen.has(s) || !(candidates[op] as readonly number[]).includes(seat.group)) continue;
      seen.add(s);
      if (seat.holder === -1 || tryPlace(seat.holder, seen)) {
        seat.holder = op;
        return true;
      }
    }
    return false;
  };
  for (let op = 0; op < candidates.length; op++) tryPlace(op, new Set());
  const counts = new Map<number, number>();
  for (const seat of seats) if (seat.holder !== -1) counts.set(seat.group, (counts.get(seat.group) ?? 0) + 1);
  return counts;
}
