/**
 * Cross-backend agreement: native (GMP), wasm and js (BigInt, the oracle) must return identical
 * results on the same random inputs, for every operation, at every size the protocol uses.
 *
 * Inputs per operation and size: 10^4 at 256 bits (AGREEMENT_INPUTS, MATH_AGREEMENT_INPUTS) and
 * 2,500 from 1536 bits up (see AGREEMENT_INPUTS_LARGE).
 * Exponent lengths: most inputs draw a random exponent length in [0, 24] bits (every window shape,
 * zero windows, exponent 0 and 1), and FULL_LENGTH inputs per operation and size use exponents as
 * long as the modulus (capped at 3072 bits for 6144-bit moduli, the Paillier r^N shape), because the
 * BigInt oracle needs ~0.3 s per full 6144-bit exponentiation. Primality is the exception (see below).
 */
import { describe, expect, it } from 'vitest';
import type { MathBackend } from '../../src/math/backend.js';
import type { PowmTask, SharedOp } from '../../src/math/raw.js';
import { ALL_BACKENDS, backend } from './backends.js';
import { TestDrbg } from './drbg.js';

const AGREEMENT_INPUTS = Number(process.env.MATH_AGREEMENT_INPUTS ?? 10_000);
/**
 * From 1536 bits up (1536, 2048, 3072 and the 6144-bit Paillier N² size) 2,500 inputs per operation
 * (MATH_AGREEMENT_INPUTS_LARGE; MATH_AGREEMENT_INPUTS_6144, its earlier name, is still read). At
 * these sizes every core costs about as much as the oracle (3072-bit multiExpSec, 500 inputs:
 * native 0.25 s, wasm 0.37 s, js 0.32 s), and at 10^4 inputs they were about 3.5 of CI's test
 * minutes (2026-12-03, loaded: agreement-small 109 s, of which 256 bits ~5 s; agreement-3072
 * 98 s). What the size changes is the limb count each core's loops run over, which every input
 * exercises. No structured case is lost with fewer inputs: the value corners (zero, one, m − 1,
 * unreduced bases, exponent 0 and 1, even moduli, squares, planted common factors) are planted at
 * fixed positions (i mod 3 … i mod 103) and the FULL_LENGTH full-length exponents at the first
 * positions of every input set, so each corner is still present, at least 24 times, in 2,500 inputs
 * (inputsAt refuses a count that would leave one out); only the random inputs between them are
 * fewer. 256 bits, where they are cheap, keeps 10^4.
 */
const AGREEMENT_INPUTS_LARGE = Number(
  process.env.MATH_AGREEMENT_INPUTS_LARGE ?? process.env.MATH_AGREEMENT_INPUTS_6144 ?? 2_500,
);
/** The last position a corner is first planted at (i % 103 === 6): every input set reaches past it. */
const LAST_PLANTED = 103 + 6;
function inputsAt(bits: number): number {
  const count = bits >= 1536 ? Math.min(AGREEMENT_INPUTS, AGREEMENT_INPUTS_LARGE) : AGREEMENT_INPUTS;
  if (!(count > LAST_PLANTED)) throw new Error(`agreement inputs: ${count} would leave planted corners out`);
  return count;
}
const FULL_LENGTH = 4;

type Outcome = bigint | number | boolean | string;

/**
 * Runs `op` on every backend and asserts each result equals the js oracle's. A backend that runs
 * the BigInt core's own code for `shared` (RawMath.sharedWithJs) is not re-run for it.
 */
function agree<I>(inputs: readonly I[], op: (m: MathBackend, input: I) => Outcome, shared?: SharedOp): void {
  const backends = ALL_BACKENDS.filter(
    (name) => shared === undefined || !backend(name).raw.sharedWithJs?.includes(shared),
  );
  const results = backends.map((name) => {
    const m = backend(name);
    return inputs.map((x) => {
      try {
        return op(m, x);
      } catch (e) {
        return `error:${(e as { code?: string }).code ?? String(e)}`;
      }
    });
  });
  const oracle = results[backends.indexOf('js')] as Outcome[];
  for (const [k, name] of backends.entries()) {
    const mine = results[k] as Outcome[];
    for (let i = 0; i < inputs.length; i++) {
      if (mine[i] !== oracle[i]) {
        expect.fail(
          `${name} disagrees with js on input #${i}: ${String(mine[i]).slice(0, 40)} vs ${String(oracle[i]).slice(0, 40)}`,
        );
      }
    }
  }
  expect(inputs.length).toBeGreaterThanOrEqual(Math.min(AGREEMENT_INPUTS, AGREEMENT_INPUTS_LARGE));
}

interface PowInput {
  base: bigint;
  exp: bigint;
  mod: bigint;
}

function powInputs(rng: TestDrbg, bits: number): PowInput[] {
  const out: PowInput[] = [];
  const fullBits = Math.min(bits, 3072);
  for (let i = 0; i < inputsAt(bits) + FULL_LENGTH; i++) {
    const mod = rng.oddModulus(bits);
    let base = rng.bits(bits) % mod;
    if (i % 97 === 1) base = 0n;
    if (i % 89 === 2) base = 1n;
    if (i % 83 === 3) base = mod - 1n;
    if (i % 79 === 4) base = rng.bits(bits + 64); // unreduced base: the shell reduces it
    let exp = i < FULL_LENGTH ? rng.bits(fullBits) | (1n << BigInt(fullBits - 1)) : rng.bits(rng.int(25));
    if (i % 101 === 5) exp = 0n;
    if (i % 103 === 6) exp = 1n;
    out.push({ base, exp, mod });
  }
  return out;
}

interface MultiInput {
  bases: bigint[];
  exps: bigint[];
  mod: bigint;
}

function multiInputs(rng: TestDrbg, bits: number): MultiInput[] {
  const out: MultiInput[] = [];
  const fullBits = Math.min(bits, 3072);
  for (let i = 0; i < inputsAt(bits) + FULL_LENGTH; i++) {
    const mod = rng.oddModulus(bits);
    const terms = i % 7 === 0 ? 3 : 2; // two bases: the ring-Pedersen s^x·t^y shape
    const bases = Array.from({ length: terms }, () => rng.bits(bits) % mod);
    const exps = Array.from({ length: terms }, () => (i < FULL_LENGTH ? rng.bits(fullBits) : rng.bits(rng.int(25))));
    if (i % 61 === 1) exps[0] = 0n;
    out.push({ bases, exps, mod });
  }
  return out;
}

/**
 * Registers the agreement tests for one operand size. `group` splits the work so vitest can run
 * the pieces in parallel files: 'exp' = the exponentiation family, 'nt' = mulMod and number theory.
 */
export function agreementSuite(bits: number, group: 'exp' | 'nt' | 'all'): void {
  describe(`${bits}-bit operands: native, wasm and js agree`, () => {
    // Only the group's tests are registered (nothing is declared and then skipped).
    const expIt = group !== 'nt' ? it : () => undefined;
    const ntIt = group !== 'exp' ? it : () => undefined;
    expIt('on powm (public exponent)', () => {
      const inputs = powInputs(new TestDrbg(`powm-${bits}`), bits);
      agree(inputs, (m, x) => m.powm(x.base, x.exp, x.mod));
    });

    expIt('on powmSec (secret exponent, constant-time path)', () => {
      const inputs = powInputs(new TestDrbg(`powmSec-${bits}`), bits);
      agree(inputs, (m, x) => m.powmSec(x.base, x.exp, x.mod));
    });

    expIt('on powmBatch (mixed public and secret tasks, 64 per call)', () => {
      const inputs = powInputs(new TestDrbg(`batch-${bits}`), bits);
      const tasks: PowmTask[] = inputs.map((x, i) => ({ ...x, secret: i % 2 === 0 }));
      const chunks: PowmTask[][] = [];
      for (let i = 0; i < tasks.length; i += 64) chunks.push(tasks.slice(i, i + 64));
      const flat = (m: MathBackend) => chunks.flatMap((c) => m.powmBatch(c));
      const cache = new Map<string, bigint[]>();
      agree(
        tasks.map((_, i) => i),
        (m, i) => {
          let r = cache.get(m.name);
          if (r === undefined) {
            r = flat(m);
            cache.set(m.name, r);
          }
          return r[i] as bigint;
        },
      );
    });

    expIt('on multiExp (public exponents)', () => {
      const inputs = multiInputs(new TestDrbg(`multi-${bits}`), bits);
      agree(inputs, (m, x) => m.multiExp(x.bases, x.exps, x.mod));
    });

    expIt('on multiExpSec (secret exponents)', () => {
      const inputs = multiInputs(new TestDrbg(`multiSec-${bits}`), bits);
      agree(inputs, (m, x) => m.multiExpSec(x.bases, x.exps, x.mod));
    });

    ntIt('on mulMod (odd and even moduli, some unreduced operands)', () => {
      const rng = new TestDrbg(`mulMod-${bits}`);
      const inputs = Array.from({ length: inputsAt(bits) }, (_, i) => {
        const mod = i % 5 === 0 ? rng.oddModulus(bits) - 1n : rng.oddModulus(bits);
        const a = i % 71 === 0 ? rng.bits(2 * bits) : rng.bits(bits) % mod;
        const b = i % 73 === 0 ? mod - 1n : rng.bits(bits) % mod;
        return { a, b, mod };
      });
      agree(inputs, (m, x) => m.mulMod(x.a, x.b, x.mod), 'mulMod');
    });

    ntIt('on invMod (odd and even moduli, non-invertible inputs rejected alike)', () => {
      const rng = new TestDrbg(`invMod-${bits}`);
      const inputs = Array.from({ length: inputsAt(bits) }, (_, i) => {
        const mod = i % 4 === 0 ? rng.oddModulus(bits) - 1n : rng.oddModulus(bits);
        let a = rng.bits(bits) % mod;
        if (i % 9 === 0) a = (a * 3n) % mod; // shares a factor with mod more often
        if (i % 97 === 0) a = 0n;
        return { a, mod };
      });
      agree(inputs, (m, x) => m.invMod(x.a, x.mod), 'invMod');
    });

    ntIt('on gcd (random and with planted common factors)', () => {
      const rng = new TestDrbg(`gcd-${bits}`);
      const inputs = Array.from({ length: inputsAt(bits) }, (_, i) => {
        let a = rng.bits(bits);
        let b = rng.bits(bits);
        if (i % 3 === 0) {
          const f = rng.bits(1 + rng.int(bits / 2)) | 1n;
          a = (a >> BigInt(bits / 2)) * f;
          b = (b >> BigInt(bits / 2)) * f;
        }
        if (i % 101 === 0) a = 0n;
        return { a, b };
      });
      agree(inputs, (m, x) => m.gcd(x.a, x.b), 'gcd');
    });

    ntIt('on jacobi', () => {
      const rng = new TestDrbg(`jacobi-${bits}`);
      const inputs = Array.from({ length: inputsAt(bits) }, (_, i) => {
        const n = rng.oddModulus(bits);
        let a = rng.bits(bits) % n;
        if (i % 13 === 0) a = (a * a) % n; // squares: symbol 1 or 0
        if (i % 97 === 0) a = 0n;
        return { a, n };
      });
      agree(inputs, (m, x) => m.jacobi(x.a, x.n), 'jacobi');
    });
  });
}

/**
 * Primality: every composite costs the BigInt oracle a full exponentiation, so the input count
 * shrinks with size (10^4 at 256 bits). Planted primes (and products of two primes, the Paillier
 * shape) make sure both answers are exercised.
 */
export function primalitySuite(): void {
  describe('isProbablePrime agrees across backends', () => {
    const counts: Record<number, number> = { 256: AGREEMENT_INPUTS, 1536: 600, 2048: 300, 3072: 100 };
    it.each(Object.entries(counts).map(([b, c]) => [Number(b), c] as const))(
      'at %i bits on %i inputs',
      (bits, count) => {
        const rng = new TestDrbg(`prime-${bits}`);
        const js = backend('js');
        const inputs = Array.from({ length: count }, () => rng.oddModulus(bits));
        // Plant primes near the start of the list: the next prime after a random odd value.
        const planted = bits <= 256 ? 50 : 2;
        for (let k = 0; k < planted; k++) {
          let c = rng.oddModulus(bits);
          while (!backend('native').isProbablePrime(c)) c += 2n;
          inputs[k] = c;
        }
        const results = ALL_BACKENDS.map((name) => inputs.map((n) => backend(name).isProbablePrime(n, rng)));
        const oracle = results[ALL_BACKENDS.indexOf('js')] as boolean[];
        for (const r of results) expect(r).toEqual(oracle);
        expect(oracle.filter(Boolean).length).toBeGreaterThanOrEqual(planted);
        expect(js.name).toBe('js');
      },
    );
  });
}
