/**
 * The raw GMP baseline (PERFORMANCE.md target: native `powm` / `powmSec` within 1.1× of GMP in C,
 * same inputs). `bench/c/raw_gmp_powm.c` is compiled once per process with the system C compiler
 * (`cc -O2 … -lgmp`, into a temporary directory) and times `mpz_powm` / `mpz_powm_sec` with no
 * JavaScript in the loop. Its operands depend only on (modBits, expBits), and it can print them,
 * so a backend can be timed on exactly the same numbers in the same run.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { loadNativeMath } from '../src/math/native.js';
import type { BackendName, RawMath } from '../src/math/raw.js';
import { packageRoot } from '../src/util/package-root.js';

const execFileAsync = promisify(execFile);

export interface RawGmpCase {
  readonly modBits: number;
  readonly expBits: number;
  /** Timed calls per operation (after one untimed warm-up call). */
  readonly iterations: number;
}

export type PowmOp = 'powm' | 'powmSec';

export interface RawGmpTiming {
  modBits: number;
  expBits: number;
  op: PowmOp;
  msPerOp: number;
}

/** The operands the harness uses for one case, and base^exp mod mod as GMP computed it. */
export interface RawGmpInputs {
  modBits: number;
  expBits: number;
  base: bigint;
  exp: bigint;
  mod: bigint;
  result: bigint;
}

export interface SameInputsComparison {
  modBits: number;
  expBits: number;
  op: PowmOp;
  backend: BackendName;
  /** Best (minimum) ms per operation over the rounds, raw GMP in C. */
  rawMsPerOp: number;
  /** Best (minimum) ms per operation over the rounds, the backend called from JS. */
  backendMsPerOp: number;
  /** backendMsPerOp / rawMsPerOp: the figure held against the 1.1× target. */
  ratio: number;
  rounds: number;
}

let harness: Promise<string> | undefined;

/**
 * Compiles the harness (once per process) and returns the executable's path.
 * @throws {Error} when no C compiler or libgmp-dev is available (the compiler's message is included).
 */
export function compileRawGmpHarness(): Promise<string> {
  harness ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mpc-raw-gmp-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    const exe = join(dir, 'raw_gmp_powm');
    const source = join(packageRoot(), 'bench', 'c', 'raw_gmp_powm.c');
    const cc = process.env.CC ?? 'cc';
    try {
      await execFileAsync(cc, ['-O2', '-std=c11', '-Wall', '-Wextra', '-o', exe, source, '-lgmp']);
    } catch (e) {
      const stderr = (e as { stderr?: string }).stderr ?? '';
      throw new Error(`cannot compile ${source} with ${cc} (needs libgmp-dev): ${stderr.trim() || String(e)}`, {
        cause: e,
      });
    }
    return exe;
  })();
  return harness;
}

interface HarnessOutput {
  timings: RawGmpTiming[];
  inputs: RawGmpInputs[];
}

async function runHarness(cases: readonly RawGmpCase[], withInputs: boolean): Promise<HarnessOutput> {
  const exe = await compileRawGmpHarness();
  const args = cases.map((c) => {
    for (const [k, v] of Object.entries(c)) {
      if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`raw GMP case: ${k} must be a positive integer`);
    }
    if (c.modBits < 2) throw new RangeError('raw GMP case: modBits must be >= 2');
    return `${c.modBits}:${c.expBits}:${c.iterations}`;
  });
  const { stdout } = await execFileAsync(exe, withInputs ? ['--inputs', ...args] : args, {
    maxBuffer: 64 * 1024 * 1024,
  });
  const out: HarnessOutput = { timings: [], inputs: [] };
  for (const line of stdout.split('\n')) {
    if (line.trim() === '') continue;
    const row = JSON.parse(line) as Record<string, string | number>;
    const modBits = Number(row.modBits);
    const expBits = Number(row.expBits);
    if (row.op === 'inputs') {
      const hex = (key: string): bigint => BigInt(`0x${String(row[key])}`);
      out.inputs.push({ modBits, expBits, base: hex('base'), exp: hex('exp'), mod: hex('mod'), result: hex('result') });
    } else if (row.op === 'powm' || row.op === 'powmSec') {
      out.timings.push({ modBits, expBits, op: row.op, msPerOp: Number(row.msPerOp) });
    }
  }
  return out;
}

/**
 * Times `mpz_powm` and `mpz_powm_sec` in C for each case (one child process for all cases).
 * @throws {Error} when the harness cannot be compiled or run.
 * @example
 * const rows = await measureRawGmp([{ modBits: 3072, expBits: 3072, iterations: 20 }]);
 * // [{ modBits: 3072, expBits: 3072, op: 'powm', msPerOp: 11.0 }, { …, op: 'powmSec', … }]
 */
export async function measureRawGmp(cases: readonly RawGmpCase[]): Promise<RawGmpTiming[]> {
  return (await runHarness(cases, false)).timings;
}

/** The harness's operands for each case (no timing beyond one call per op). */
export async function rawGmpInputs(cases: readonly Pick<RawGmpCase, 'modBits' | 'expBits'>[]): Promise<RawGmpInputs[]> {
  return (
    await runHarness(
      cases.map((c) => ({ ...c, iterations: 1 })),
      true,
    )
  ).inputs;
}

function timeBackend(math: RawMath, op: PowmOp, x: RawGmpInputs, iterations: number): number {
  const f =
    op === 'powm'
      ? (b: bigint, e: bigint, m: bigint) => math.powm(b, e, m)
      : (b: bigint, e: bigint, m: bigint) => math.powmSec(b, e, m);
  const got = f(x.base, x.exp, x.mod); // warm-up, and a correctness check on the very same operands
  if (got !== x.result) throw new Error(`${math.name} ${op} disagrees with GMP at ${x.modBits}/${x.expBits} bits`);
  const t0 = performance.now();
  for (let i = 0; i < iterations; i++) f(x.base, x.exp, x.mod);
  return (performance.now() - t0) / iterations;
}

/**
 * Raw GMP in C against a backend (default: the native addon) on identical operands, in one run.
 * Each round runs the C harness for a case, then the backend on that case's operands, so both
 * sides see the same machine state; the minimum over `rounds` is kept on each side (noise on a
 * shared machine only ever adds time).
 * @throws {MpcError} `ERR_MATH_BACKEND_UNAVAILABLE` when no backend is given and the addon is not built.
 * @throws {Error} when the harness cannot be compiled, or the backend computes a different result.
 * @example
 * const rows = await measureNativeSameInputs([{ modBits: 3072, expBits: 3072, iterations: 10 }]);
 * rows.map((r) => `${r.op} ${r.modBits}/${r.expBits}: ${r.ratio.toFixed(3)}x`);
 */
export async function measureNativeSameInputs(
  cases: readonly RawGmpCase[],
  options: { math?: RawMath; rounds?: number } = {},
): Promise<SameInputsComparison[]> {
  const math = options.math ?? loadNativeMath();
  const rounds = options.rounds ?? 3;
  const rows: SameInputsComparison[] = [];
  for (const c of cases) {
    const best = { powm: { raw: Infinity, backend: Infinity }, powmSec: { raw: Infinity, backend: Infinity } };
    for (let round = 0; round < rounds; round++) {
      const { timings, inputs } = await runHarness([c], true);
      const x = inputs[0];
      if (x === undefined) throw new Error('raw GMP harness printed no inputs');
      for (const t of timings) best[t.op].raw = Math.min(best[t.op].raw, t.msPerOp);
      for (const op of ['powm', 'powmSec'] as const) {
        best[op].backend = Math.min(best[op].backend, timeBackend(math, op, x, c.iterations));
      }
    }
    for (const op of ['powm', 'powmSec'] as const) {
      const { raw, backend } = best[op];
      rows.push({
        modBits: c.modBits,
        expBits: c.expBits,
        op,
        backend: math.name,
        rawMsPerOp: raw,
        backendMsPerOp: backend,
        ratio: backend / raw,
        rounds,
      });
    }
  }
  return rows;
}
