import { randomBytes } from 'node:crypto';
import gmpWasm from 'gmp-wasm';

/**
 * The wasm peer: GMP 6.x compiled to wasm32 by emscripten (npm `gmp-wasm`), driven through its raw
 * binding so the numbers are mpz_powm / mpz_powm_sec themselves, not its object wrapper.
 * Operands are random, the modulus odd with its top bit set, the exponent full length.
 */

export interface GmpWasmCase {
  readonly modBits: number;
  readonly expBits: number;
  readonly iterations: number;
}

export interface GmpWasmRow {
  readonly modBits: number;
  readonly expBits: number;
  readonly op: 'powm' | 'powmSec';
  readonly msPerOp: number;
}

function randomBits(bits: number): bigint {
  const bytes = randomBytes(Math.ceil(bits / 8));
  return BigInt(`0x${bytes.toString('hex')}`) & ((1n << BigInt(bits)) - 1n);
}

/** Reference for the sanity check of gmp-wasm's answers. */
function powmBig(base: bigint, exp: bigint, mod: bigint): bigint {
  let r = 1n;
  let b = base % mod;
  let e = exp;
  while (e > 0n) {
    if (e & 1n) r = (r * b) % mod;
    b = (b * b) % mod;
    e >>= 1n;
  }
  return r;
}

/**
 * ms per operation of gmp-wasm's mpz_powm and mpz_powm_sec for each case (best of 3 batches of
 * `iterations` operations, after one warm-up). Throws if gmp-wasm disagrees with BigInt.
 */
export async function measureGmpWasm(cases: readonly GmpWasmCase[]): Promise<GmpWasmRow[]> {
  const gmp = await gmpWasm.init();
  const g = gmp.binding;
  const rows: GmpWasmRow[] = [];
  const toMpz = (x: bigint): number => {
    const p = g.mpz_t();
    g.mpz_init(p);
    const s = g.malloc_cstr(x.toString(16));
    g.mpz_set_str(p, s, 16);
    g.free(s);
    return p;
  };
  const fromMpz = (p: number): bigint => BigInt(`0x${g.mpz_to_string(p, 16)}`);
  try {
    for (const c of cases) {
      const mod = randomBits(c.modBits) | 1n | (1n << BigInt(c.modBits - 1));
      const base = randomBits(c.modBits) % mod;
      const exp = randomBits(c.expBits) | (1n << BigInt(c.expBits - 1));
      const expected = powmBig(base, exp, mod);
      const [B, E, M, R] = [toMpz(base), toMpz(exp), toMpz(mod), toMpz(0n)];
      try {
        for (const op of ['powm', 'powmSec'] as const) {
          const run = op === 'powm' ? () => g.mpz_powm(R, B, E, M) : () => g.mpz_powm_sec(R, B, E, M);
          run();
          if (fromMpz(R) !== expected)
            throw new Error(`gmp-wasm ${op} disagrees with BigInt at ${c.modBits}/${c.expBits}`);
          let best = Number.POSITIVE_INFINITY;
          for (let batch = 0; batch < 3; batch++) {
            const t0 = performance.now();
            for (let i = 0; i < c.iterations; i++) run();
            best = Math.min(best, (performance.now() - t0) / c.iterations);
          }
          rows.push({ modBits: c.modBits, expBits: c.expBits, op, msPerOp: best });
        }
      } finally {
        for (const p of [B, E, M, R]) {
          g.mpz_clear(p);
          g.mpz_t_free(p);
        }
      }
    }
  } finally {
    await gmp.reset();
  }
  return rows;
}
