import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MpcError } from '../errors/index.js';
import { packageRoot } from '../util/package-root.js';
import { createJsMath } from './js.js';
import type { PowmTask, RawMath } from './raw.js';

/**
 * The wasm32 core: Montgomery arithmetic in C compiled with clang for freestanding wasm32 + SIMD128
 * (sources in `wasm/src/`, built by `scripts/build-wasm.mjs`). It runs wherever Node runs, with no
 * native toolchain, and is ~3× faster than BigInt on 3072-bit exponentiation.
 *
 * Division of labour: wasm does modular exponentiation (public and constant-time, single and
 * multi-exponent). mulMod stays in BigInt: a single `a * b % m` measured 2× faster than crossing
 * into wasm (two Montgomery products plus conversions) at every size from 256 to 8192 bits. gcd,
 * inverse and Jacobi are the BigInt core's (js.ts) Lehmer-accelerated routines: off the hot path.
 *
 * Data crosses the boundary as big-endian bytes in the module's linear memory: bigint → hex
 * (`toString(16)`, native) → `Buffer.write(hex)` straight into linear memory, and back with
 * `Buffer.toString('hex')` → `BigInt('0x…')`. Both directions are linear-time native code
 * (≈2 µs each way at 3072 bits); 64-bit DataView writes with BigInt shifts measured the same for
 * writing and 2-3× slower for reading (the shifts are quadratic).
 *
 * Secrets: the constant-time entry points wipe their scratch memory inside wasm before returning;
 * this wrapper zeroes the input/output buffers it wrote after each constant-time call. The
 * exponent's byte length is padded to a multiple of 8 (like GMP's limb count, only the size leaks).
 * The hex strings V8 builds on the way are ordinary heap strings and cannot be wiped (the same
 * caveat as every BigInt path in JavaScript).
 */

/**
 * The slice of the WebAssembly JS API used here, declared locally: the project's `lib` (es2023) and
 * @types/node 20 do not declare the WebAssembly namespace.
 */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
}
interface WasmApi {
  readonly Module: new (bytes: Uint8Array) => object;
  readonly Instance: new (module: object, imports: object) => { readonly exports: Record<string, unknown> };
  readonly Memory: abstract new (...args: never[]) => WasmMemory;
}

interface WasmExports {
  readonly memory: WasmMemory;
  alloc(bytes: number): number;
  reset(): void;
  wipe_all(): void;
  clear_cache(): void;
  powm(out: number, base: number, exp: number, elen: number, mod: number, mlen: number): number;
  powm_sec(out: number, base: number, exp: number, elen: number, mod: number, mlen: number): number;
  multi_exp(out: number, k: number, bases: number, exps: number, elen: number, mod: number, mlen: number): number;
  multi_exp_sec(out: number, k: number, bases: number, exps: number, elen: number, mod: number, mlen: number): number;
}

const REQUIRED_FUNCTIONS = [
  'alloc',
  'reset',
  'wipe_all',
  'clear_cache',
  'powm',
  'powm_sec',
  'multi_exp',
  'multi_exp_sec',
] as const;

/** Status codes of the C side (wasm/src/mpc_math.h). */
const STATUS_TEXT: Record<number, string> = { 1: 'arguments rejected', 2: 'out of wasm memory' };

/** Default location of the module: `<package root>/wasm/build/mpc_math.wasm`. */
export function wasmModulePath(): string {
  return join(packageRoot(), 'wasm', 'build', 'mpc_math.wasm');
}

function unavailable(message: string, cause?: unknown): MpcError {
  return new MpcError('ERR_MATH_BACKEND_UNAVAILABLE', message, cause === undefined ? {} : { cause });
}

function instantiate(path: string): WasmExports {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (cause) {
    throw unavailable('wasm math module not found (build it with `npm run build:wasm`)', cause);
  }
  const wa = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
  if (wa === undefined) throw unavailable('this runtime has no WebAssembly support');
  let exports: Record<string, unknown>;
  try {
    // Synchronous compile is fine here: the module is ~20 KB and this runs once per thread.
    exports = new wa.Instance(new wa.Module(bytes), {}).exports;
  } catch (cause) {
    throw unavailable('wasm math module failed to compile or instantiate', cause);
  }
  if (!(exports.memory instanceof wa.Memory)) throw unavailable('wasm math module exports no memory');
  for (const name of REQUIRED_FUNCTIONS) {
    if (typeof exports[name] !== 'function') throw unavailable(`wasm math module lacks export '${name}'`);
  }
  return exports as unknown as WasmExports;
}

function byteLength(x: bigint): number {
  if (x === 0n) return 1;
  return (x.toString(16).length + 1) >> 1;
}

/** Public size for a secret exponent: whole 64-bit words, like GMP's limb count. */
function secretExpLength(bytes: number): number {
  return Math.ceil(bytes / 8) * 8;
}

class WasmMath implements RawMath {
  readonly name = 'wasm' as const;
  readonly sharedWithJs = Object.freeze(['mulMod', 'invMod', 'gcd', 'jacobi'] as const);
  #x: WasmExports | null;
  #view: Buffer | null = null;
  /** gcd, inverse and Jacobi symbol: the BigInt core's (Lehmer-accelerated) routines. */
  readonly #big: RawMath = createJsMath();

  constructor(exports: WasmExports) {
    this.#x = exports;
  }

  #exports(): WasmExports {
    if (this.#x === null) throw unavailable('wasm math backend was disposed');
    return this.#x;
  }

  /** A Buffer over linear memory; re-created after memory.grow detaches the old one. */
  #mem(): Buffer {
    const x = this.#exports();
    if (this.#view === null || this.#view.buffer !== x.memory.buffer) {
      this.#view = Buffer.from(x.memory.buffer);
    }
    return this.#view;
  }

  #alloc(bytes: number): number {
    const p = this.#exports().alloc(bytes);
    if (p === 0) throw new MpcError('ERR_MATH_BACKEND_FAILED', 'wasm math: out of memory', { details: { bytes } });
    return p;
  }

  /** Writes x as exactly `len` big-endian bytes at p (x < 2^(8 len) is guaranteed by the callers). */
  #put(p: number, x: bigint, len: number): void {
    const hex = x.toString(16);
    const mem = this.#mem();
    const padded = hex.length === len * 2 ? hex : hex.padStart(len * 2, '0');
    mem.write(padded, p, len, 'hex');
  }

  #get(p: number, len: number): bigint {
    return BigInt(`0x${this.#mem().toString('hex', p, p + len)}`);
  }

  #check(status: number, op: string): void {
    if (status !== 0) {
      throw new MpcError(
        'ERR_MATH_BACKEND_FAILED',
        `wasm math: ${op} failed (${STATUS_TEXT[status] ?? `status ${status}`})`,
        {
          details: { op, status },
        },
      );
    }
  }

  #wipe(from: number, to: number): void {
    this.#mem().fill(0, from, to);
  }

  #pow(base: bigint, exp: bigint, mod: bigint, secret: boolean): bigint {
    const x = this.#exports();
    x.reset();
    const mlen = byteLength(mod);
    const elen = secret ? secretExpLength(byteLength(exp)) : byteLength(exp);
    const out = this.#alloc(mlen);
    const pm = this.#alloc(mlen);
    const pb = this.#alloc(mlen);
    const pe = this.#alloc(elen);
    this.#put(pm, mod, mlen);
    this.#put(pb, base, mlen);
    this.#put(pe, exp, elen);
    const status = secret ? x.powm_sec(out, pb, pe, elen, pm, mlen) : x.powm(out, pb, pe, elen, pm, mlen);
    try {
      this.#check(status, secret ? 'powmSec' : 'powm');
      return this.#get(out, mlen);
    } finally {
      if (secret) this.#wipe(out, pe + elen);
    }
  }

  #multi(bases: readonly bigint[], exps: readonly bigint[], mod: bigint, secret: boolean): bigint {
    const x = this.#exports();
    x.reset();
    const k = bases.length;
    const mlen = byteLength(mod);
    let maxLen = 1;
    for (const e of exps) maxLen = Math.max(maxLen, byteLength(e));
    const elen = secret ? secretExpLength(maxLen) : maxLen;
    const out = this.#alloc(mlen);
    const pm = this.#alloc(mlen);
    const pb = this.#alloc(mlen * k);
    const pe = this.#alloc(elen * k);
    this.#put(pm, mod, mlen);
    for (let i = 0; i < k; i++) {
      this.#put(pb + i * mlen, bases[i] as bigint, mlen);
      this.#put(pe + i * elen, exps[i] as bigint, elen);
    }
    const status = secret
      ? x.multi_exp_sec(out, k, pb, pe, elen, pm, mlen)
      : x.multi_exp(out, k, pb, pe, elen, pm, mlen);
    try {
      this.#check(status, secret ? 'multiExpSec' : 'multiExp');
      return this.#get(out, mlen);
    } finally {
      if (secret) this.#wipe(out, pe + elen * k);
    }
  }

  powm(base: bigint, exp: bigint, mod: bigint): bigint {
    return this.#pow(base, exp, mod, false);
  }

  powmSec(base: bigint, exp: bigint, mod: bigint): bigint {
    return this.#pow(base, exp, mod, true);
  }

  multiExp(bases: readonly bigint[], exps: readonly bigint[], mod: bigint): bigint {
    return this.#multi(bases, exps, mod, false);
  }

  multiExpSec(bases: readonly bigint[], exps: readonly bigint[], mod: bigint): bigint {
    return this.#multi(bases, exps, mod, true);
  }

  powmBatch(tasks: readonly PowmTask[]): bigint[] {
    const out = new Array<bigint>(tasks.length);
    for (let i = 0; i < tasks.length; i++) {
      const t = tasks[i] as PowmTask;
      out[i] = this.#pow(t.base, t.exp, t.mod, t.secret);
    }
    return out;
  }

  mulMod(a: bigint, b: bigint, mod: bigint): bigint {
    // BigInt on purpose, for odd and even moduli alike (measured faster; see the module comment).
    return (a * b) % mod;
  }

  invMod(a: bigint, mod: bigint): bigint | null {
    return this.#big.invMod(a, mod);
  }

  gcd(a: bigint, b: bigint): bigint {
    return this.#big.gcd(a, b);
  }

  jacobi(a: bigint, n: bigint): -1 | 0 | 1 {
    return this.#big.jacobi(a, n);
  }

  dispose(): void {
    const x = this.#x;
    if (x === null) return;
    x.wipe_all();
    x.clear_cache();
    this.#x = null;
    this.#view = null;
  }
}

/**
 * Loads the wasm core synchronously (readFileSync + WebAssembly.Module/Instance).
 * @param path module file; defaults to `wasmModulePath()`.
 * @throws MpcError ERR_MATH_BACKEND_UNAVAILABLE when the file is missing or does not instantiate.
 */
export function loadWasmMath(path: string = wasmModulePath()): RawMath {
  return new WasmMath(instantiate(path));
}
