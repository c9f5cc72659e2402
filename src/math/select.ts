import { isMpcError, MpcError } from '../errors/index.js';
import { createBackend, type MathBackend } from './backend.js';
import { createJsMath } from './js.js';
import { runSelfTest } from './kat.js';
import { loadNativeMath } from './native.js';
import type { BackendName, RawMath } from './raw.js';
import { loadWasmMath } from './wasm.js';

export type BackendPreference = BackendName | 'auto';

export interface SelectOptions {
  /** 'auto' (default): native, else wasm, else js. A named backend must load, or selection throws. */
  readonly prefer?: BackendPreference;
  /** Kill switch for the native addon (MPC_NATIVE_DISABLED=1, read by the daemon's config, not here). */
  readonly disableNative?: boolean;
  /** One line per fallback. The math layer reads no env and writes no logs of its own. */
  readonly log?: (line: string) => void;
  /** Test seam: replace loaders (results are not cached when a loader is replaced). */
  readonly loaders?: Partial<Record<BackendName, () => RawMath>>;
}

const LOADERS: Record<BackendName, () => RawMath> = {
  native: loadNativeMath,
  wasm: loadWasmMath,
  js: createJsMath,
};

export const BACKEND_NAMES: readonly BackendName[] = Object.freeze(['native', 'wasm', 'js']);

const loaded = new Map<BackendName, MathBackend>();

/**
 * Loads one backend and runs its known-answer self-test (once per thread; later calls are cached).
 * @throws MpcError ERR_MATH_BACKEND_UNAVAILABLE if it does not load, ERR_MATH_SELF_TEST_FAILED if it computes wrongly.
 */
export function loadBackend(name: BackendName, loaderOverride?: () => RawMath): MathBackend {
  const hit = loaderOverride === undefined ? loaded.get(name) : undefined;
  if (hit !== undefined) return hit;
  const loader = loaderOverride ?? (Object.hasOwn(LOADERS, name) ? LOADERS[name] : undefined);
  if (loader === undefined) throw new MpcError('ERR_MATH_BACKEND_UNKNOWN', `unknown math backend '${String(name)}'`);
  let raw: RawMath;
  try {
    raw = loader();
  } catch (e) {
    if (isMpcError(e)) throw e;
    throw new MpcError('ERR_MATH_BACKEND_UNAVAILABLE', `math backend '${name}' failed to load`, { cause: e });
  }
  const backend = createBackend(raw);
  runSelfTest(backend);
  if (loaderOverride === undefined) loaded.set(name, backend);
  return backend;
}

/**
 * Picks the math backend: explicit preference, else native → wasm → js, each only after its self-test.
 * A backend that fails to load in 'auto' mode costs one log line and falls through to the next.
 */
export function selectBackend(opts: SelectOptions = {}): MathBackend {
  const prefer = opts.prefer ?? 'auto';
  if (prefer !== 'auto') {
    if (!BACKEND_NAMES.includes(prefer)) {
      throw new MpcError('ERR_MATH_BACKEND_UNKNOWN', `unknown math backend '${String(prefer)}'`);
    }
    if (prefer === 'native' && opts.disableNative === true) {
      throw new MpcError('ERR_MATH_BACKEND_UNAVAILABLE', 'native backend requested but disabled by the kill switch');
    }
    return loadBackend(prefer, opts.loaders?.[prefer]);
  }
  const order = BACKEND_NAMES.filter((n) => !(n === 'native' && opts.disableNative === true));
  let lastError: unknown;
  for (const name of order) {
    try {
      return loadBackend(name, opts.loaders?.[name]);
    } catch (e) {
      lastError = e;
      const why = isMpcError(e) ? e.message : String(e);
      opts.log?.(`math backend '${name}' unavailable, falling back: ${why}`);
    }
  }
  throw new MpcError('ERR_MATH_BACKEND_UNAVAILABLE', 'no math backend could be loaded', { cause: lastError });
}

/** Which backends load and pass the self-test on this machine (for tests, benchmarks and the demo). */
export function availableBackends(): BackendName[] {
  return BACKEND_NAMES.filter((name) => {
    try {
      loadBackend(name);
      return true;
    } catch {
      return false;
    }
  });
}
