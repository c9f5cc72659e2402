import type { MathBackend } from '../../src/math/backend.js';
import type { BackendName } from '../../src/math/raw.js';
import { loadBackend } from '../../src/math/select.js';

/**
 * Every backend the suite runs against. All three must load on a machine set up by scripts/setup.sh:
 * a backend that fails to load fails the suite (it is not skipped).
 */
export const ALL_BACKENDS: readonly BackendName[] = ['native', 'wasm', 'js'];

export function backend(name: BackendName): MathBackend {
  return loadBackend(name);
}
