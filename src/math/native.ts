/**
 * The native GMP core: `build/Release/mpc_math.node` (sources in `native/`, built by
 * `scripts/build-native.mjs`) behind the {@link RawMath} contract.
 *
 * The addon does arithmetic only; the validating shell (`backend.ts`) guarantees every
 * precondition listed in `raw.ts`. Functions map 1:1 onto the addon's exports; only `powmBatch`
 * is adapted: its tasks are flattened into one array of bigints plus a `Uint8Array` of secret
 * flags, so the addon reads array elements instead of looking up properties by name.
 *
 * Heavy calls are synchronous and must run inside a piscina worker, never on the event loop.
 *
 * Scratch memory: the addon wipes every GMP variable and heap block it frees and overwrites the
 * stack area GMP used after each call (see `native/secure_mem.h`). Inputs and results are JS
 * BigInts, which V8 may copy and never zeroes; that limit is the shell's to document.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { MpcError } from '../errors/index.js';
import { packageRoot } from '../util/package-root.js';
import type { PowmTask, RawMath } from './raw.js';

/** The addon's exports (native/addon.cc). */
interface NativeAddon {
  powm(base: bigint, exp: bigint, mod: bigint): bigint;
  powmSec(base: bigint, exp: bigint, mod: bigint): bigint;
  multiExp(bases: readonly bigint[], exps: readonly bigint[], mod: bigint): bigint;
  multiExpSec(bases: readonly bigint[], exps: readonly bigint[], mod: bigint): bigint;
  /** `flat` = [base0, exp0, mod0, base1, ...]; `secret[i] !== 0` selects the constant-time path. */
  powmBatch(flat: bigint[], secret: Uint8Array): bigint[];
  mulMod(a: bigint, b: bigint, mod: bigint): bigint;
  invMod(a: bigint, mod: bigint): bigint | null;
  gcd(a: bigint, b: bigint): bigint;
  jacobi(a: bigint, n: bigint): -1 | 0 | 1;
  isProbablePrime(n: bigint, reps: number): boolean;
  readonly gmpVersion: string;
}

const FUNCTIONS = [
  'powm',
  'powmSec',
  'multiExp',
  'multiExpSec',
  'powmBatch',
  'mulMod',
  'invMod',
  'gcd',
  'jacobi',
  'isProbablePrime',
] as const;

/** Where the addon is built: `<package root>/build/Release/mpc_math.node`. */
export function nativeAddonPath(): string {
  return join(packageRoot(), 'build', 'Release', 'mpc_math.node');
}

/**
 * Loads the native GMP core. Loading only: no self-test runs here (the backend selection does that).
 *
 * @throws {MpcError} `ERR_MATH_BACKEND_UNAVAILABLE` when the addon was not built (no compiler or
 *   libgmp-dev at install time), cannot be loaded (e.g. libgmp.so missing, ABI mismatch) or lacks
 *   an export; the loader's error is the `cause`.
 * @example
 * const math = loadNativeMath();
 * math.powm(4n, 13n, 497n); // 445n
 */
export function loadNativeMath(): RawMath {
  const path = nativeAddonPath();
  if (!existsSync(path)) {
    throw new MpcError(
      'ERR_MATH_BACKEND_UNAVAILABLE',
      'native GMP addon not built (build/Release/mpc_math.node missing; run `npm run build:native`, needs libgmp-dev and a C++ compiler)',
      { details: { backend: 'native' } },
    );
  }
  let addon: NativeAddon;
  try {
    addon = createRequire(import.meta.url)(path) as NativeAddon;
  } catch (cause) {
    throw new MpcError('ERR_MATH_BACKEND_UNAVAILABLE', 'native GMP addon failed to load', {
      cause,
      details: { backend: 'native' },
    });
  }
  const missing = FUNCTIONS.filter((name) => typeof (addon as unknown as Record<string, unknown>)[name] !== 'function');
  if (missing.length > 0) {
    throw new MpcError('ERR_MATH_BACKEND_UNAVAILABLE', `native GMP addon lacks ${missing.join(', ')} (stale build?)`, {
      details: { backend: 'native' },
    });
  }

  const { powmBatch } = addon;
  return Object.freeze({
    name: 'native' as const,
    powm: addon.powm,
    powmSec: addon.powmSec,
    multiExp: addon.multiExp,
    multiExpSec: addon.multiExpSec,
    powmBatch(tasks: readonly PowmTask[]): bigint[] {
      const flat: bigint[] = [];
      const secret = new Uint8Array(tasks.length);
      let i = 0;
      for (const task of tasks) {
        flat.push(task.base, task.exp, task.mod);
        secret[i++] = task.secret ? 1 : 0;
      }
      return powmBatch(flat, secret);
    },
    mulMod: addon.mulMod,
    invMod: addon.invMod,
    gcd: addon.gcd,
    jacobi: addon.jacobi,
    isProbablePrime: addon.isProbablePrime,
  });
}
