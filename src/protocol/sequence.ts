/**
 * Sequential composition of two round-based protocols into one session: the rounds of `first`, then
 * those of `second` (round names prefixed so they stay distinct), with `second` started from the
 * output of `first`. Used where one operation needs two protocols among the same parties and one
 * execution id — refresh = dealing of a zero-sharing, then aux-info (refresh.ts). Each inner
 * protocol keeps its own domain tags, so their transcripts never collide although they share sid.
 *
 * Abort notices about a message of `first` are judged with the state `first` had when its last
 * round ran (kept in the second phase), so a late notice is decided as it would have been.
 */
import { MpcError } from '../errors/index.js';
import type { Evidence, Judgement, Outgoing, ProtocolDef, RoundCtx, RoundDef, RoundResult } from './types.js';

export interface SequenceSpec<I, I1, S1, O1, I2, S2, O2, O> {
  readonly name: string;
  readonly first: ProtocolDef<I1, S1, O1>;
  readonly second: ProtocolDef<I2, S2, O2>;
  /** Round-name prefixes (no '.'; distinct). */
  readonly prefixes: readonly [string, string];
  firstInput(input: I, ctx: RoundCtx): I1;
  secondInput(input: I, first: O1, ctx: RoundCtx): I2;
  output(input: I, first: O1, second: O2, ctx: RoundCtx): O;
}

export type SequenceState<I, S1, O1, S2> =
  | { readonly phase: 1; readonly input: I; readonly inner: S1 }
  | { readonly phase: 2; readonly input: I; readonly firstOutput: O1; readonly firstLast: S1; readonly inner: S2 };

function renamed(prefix: string, r: RoundDef): RoundDef {
  return { ...r, name: `${prefix}-${r.name}` };
}

function prefixed(prefix: string, outbox: readonly Outgoing[]): Outgoing[] {
  return outbox.map((o) => ({ ...o, round: `${prefix}-${o.round}` }));
}

/**
 * @throws MpcError ERR_ROUND_ORDER when a prefix contains '.' or both prefixes are equal
 * @example const refresh = sequence({ name: 'refresh', first: dealing, second: auxInfo, prefixes: ['share', 'aux'], … });
 */
export function sequence<I, I1, S1, O1, I2, S2, O2, O>(
  spec: SequenceSpec<I, I1, S1, O1, I2, S2, O2, O>,
): ProtocolDef<I, SequenceState<I, S1, O1, S2>, O> {
  const [p1, p2] = spec.prefixes;
  if (p1.includes('.') || p2.includes('.') || p1 === p2) {
    throw new MpcError('ERR_ROUND_ORDER', 'sequence prefixes must be distinct and contain no dot');
  }
  const split = (round: string): { part: 1 | 2; inner: string } | undefined => {
    if (round.startsWith(`${p1}-`)) return { part: 1, inner: round.slice(p1.length + 1) };
    if (round.startsWith(`${p2}-`)) return { part: 2, inner: round.slice(p2.length + 1) };
    return undefined;
  };
  type S = SequenceState<I, S1, O1, S2>;

  const startSecond = (input: I, firstOutput: O1, firstLast: S1, ctx: RoundCtx, extra: readonly Outgoing[]) => {
    const started = spec.second.init(spec.secondInput(input, firstOutput, ctx), ctx);
    const state: S = { phase: 2, input, firstOutput, firstLast, inner: started.state };
    return { state, outbox: [...prefixed(p1, extra), ...prefixed(p2, started.outbox)] };
  };

  return {
    name: spec.name,
    rounds: [...spec.first.rounds.map((r) => renamed(p1, r)), ...spec.second.rounds.map((r) => renamed(p2, r))],
    init(input, ctx) {
      const started = spec.first.init(spec.firstInput(input, ctx), ctx);
      return { state: { phase: 1, input, inner: started.state }, outbox: prefixed(p1, started.outbox) };
    },
    process(round, state, inbox, ctx): RoundResult<S, O> {
      const where = split(round);
      if (where === undefined || where.part !== state.phase) {
        throw new MpcError('ERR_ROUND_ORDER', `${spec.name}: round ${round} in phase ${state.phase}`);
      }
      if (state.phase === 1) {
        const r = spec.first.process(where.inner, state.inner, inbox, ctx);
        if ('output' in r) return startSecond(state.input, r.output, state.inner, ctx, r.outbox ?? []);
        return { state: { ...state, inner: r.state }, outbox: prefixed(p1, r.outbox) };
      }
      const r = spec.second.process(where.inner, state.inner, inbox, ctx);
      if ('output' in r) {
        return {
          output: spec.output(state.input, state.firstOutput, r.output, ctx),
          outbox: prefixed(p2, r.outbox ?? []),
        };
      }
      return { state: { ...state, inner: r.state }, outbox: prefixed(p2, r.outbox) };
    },
    judge(round: string, state: S, ev: Evidence, ctx: RoundCtx): Judgement {
      const where = split(round);
      if (where === undefined) return { verdict: 'valid' };
      if (where.part === 1) {
        const inner = state.phase === 1 ? state.inner : state.firstLast;
        return spec.first.judge?.(where.inner, inner, ev, ctx) ?? { verdict: 'valid' };
      }
      if (state.phase === 1) return { verdict: 'pending' };
      return spec.second.judge?.(where.inner, state.inner, ev, ctx) ?? { verdict: 'valid' };
    },
  };
}
