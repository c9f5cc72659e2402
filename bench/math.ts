import type { MathBackend } from '../src/math/backend.js';
import type { BackendName } from '../src/math/raw.js';
import { availableBackends, loadBackend } from '../src/math/select.js';
import { fmt, type Measurement, measure, seeded } from './lib.js';

/** Operation × size × backend, ops/s side by side. Exponent shapes follow docs/PERFORMANCE.md. */
export const POWM_SHAPES: ReadonlyArray<readonly [number, number]> = [
  [256, 256],
  [1536, 1536],
  [2048, 2048],
  [3072, 3072],
  [6144, 3072],
  [6144, 256],
];
export const SIZES = [256, 1536, 2048, 3072, 6144] as const;

export interface MathRow {
  op: string;
  modBits: number;
  expBits?: number;
  backend: BackendName;
  msPerOp: number;
  opsPerSec: number;
}

export async function benchMath(log: (line: string) => void): Promise<MathRow[]> {
  const rows: MathRow[] = [];
  const backends = availableBackends().map((n) => loadBackend(n));
  const push = (op: string, modBits: number, expBits: number | undefined, m: MathBackend, r: Measurement) => {
    rows.push({
      op,
      modBits,
      ...(expBits === undefined ? {} : { expBits }),
      backend: m.name,
      msPerOp: r.msPerOp,
      opsPerSec: r.opsPerSec,
    });
  };
  for (const [modBits, expBits] of POWM_SHAPES) {
    const rnd = seeded(`powm-${modBits}-${expBits}`);
    const mod = rnd(modBits) | 1n;
    const base = rnd(modBits) % mod;
    const exp = rnd(expBits);
    const cells: string[] = [];
    for (const m of backends) {
      for (const [op, f] of [
        ['powm', () => m.powm(base, exp, mod)],
        ['powmSec', () => m.powmSec(base, exp, mod)],
      ] as const) {
        const r = await measure(`${op} ${m.name}`, f);
        push(op, modBits, expBits, m, r);
        cells.push(`${op}/${m.name} ${fmt(r.msPerOp)}`);
      }
    }
    log(`  ${modBits}/${expBits}: ${cells.join('  ')} (ms/op)`);
  }
  // Ring-Pedersen shape: s^x · t^y mod N̂ with |x| ≈ 2022, |y| ≈ 3558 for a 3072-bit N̂ (PROTOCOL.md §0.2).
  {
    const rnd = seeded('multiexp');
    const mod = rnd(3072) | 1n;
    const bases = [rnd(3072) % mod, rnd(3072) % mod];
    const exps = [rnd(2022), rnd(3558)];
    for (const m of backends) {
      push('multiExp', 3072, 3558, m, await measure(`multiExp ${m.name}`, () => m.multiExp(bases, exps, mod)));
      push('multiExpSec', 3072, 3558, m, await measure(`multiExpSec ${m.name}`, () => m.multiExpSec(bases, exps, mod)));
    }
  }
  for (const bits of SIZES) {
    const rnd = seeded(`nt-${bits}`);
    const mod = rnd(bits) | 1n;
    let a = rnd(bits) % mod;
    while (backends[0] !== undefined && backends[0].gcd(a, mod) !== 1n) a += 1n; // invMod needs a unit
    const b = rnd(bits) % mod;
    for (const m of backends) {
      push('mulMod', bits, undefined, m, await measure(`mulMod ${m.name}`, () => m.mulMod(a, b, mod), 100, 20));
      push('invMod', bits, undefined, m, await measure(`invMod ${m.name}`, () => m.invMod(a, mod), 100, 5));
      push('gcd', bits, undefined, m, await measure(`gcd ${m.name}`, () => m.gcd(a, mod), 100, 5));
      push('jacobi', bits, undefined, m, await measure(`jacobi ${m.name}`, () => m.jacobi(a, mod), 100, 5));
    }
    log(`  number theory at ${bits} bits done`);
  }
  return rows;
}
