import { describe, expect, it } from 'vitest';
import { MpcError } from '../../src/errors/index.js';
import { createBackend } from '../../src/math/backend.js';
import { createJsMath } from '../../src/math/js.js';
import { runSelfTest } from '../../src/math/kat.js';
import type { RawMath } from '../../src/math/raw.js';
import { availableBackends, selectBackend } from '../../src/math/select.js';

const broken = (): RawMath => {
  throw new Error('cannot open shared object file');
};
/** A core that is wrong by one on exponentiation: must never be selected. */
const subtlyWrong = (): RawMath => {
  const js = createJsMath();
  return { ...js, name: 'native', powm: (b, e, m) => (js.powm(b, e, m) + 1n) % m };
};

describe('backend selection', () => {
  it('prefers native, then wasm, then js, and every one passes its self-test here', () => {
    expect(availableBackends()).toEqual(['native', 'wasm', 'js']);
    expect(selectBackend().name).toBe('native');
    expect(selectBackend({ disableNative: true }).name).toBe('wasm');
    expect(selectBackend({ prefer: 'js' }).name).toBe('js');
  });

  it('falls back with exactly one log line per backend that fails to load', () => {
    const lines: string[] = [];
    const m = selectBackend({ loaders: { native: broken }, log: (l) => lines.push(l) });
    expect(m.name).toBe('wasm');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/native.*unavailable.*falling back/);
  });

  it('falls back when a backend computes wrongly, and names the failed known-answer check', () => {
    const lines: string[] = [];
    const m = selectBackend({ loaders: { native: subtlyWrong, wasm: broken }, log: (l) => lines.push(l) });
    expect(m.name).toBe('js');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/ERR_MATH_SELF_TEST_FAILED.*powm/);
  });

  it('throws a typed error when an explicitly requested backend cannot load', () => {
    expect(() => selectBackend({ prefer: 'native', loaders: { native: broken } })).toThrow(MpcError);
    try {
      selectBackend({ prefer: 'native', disableNative: true });
      expect.fail('selection should have thrown');
    } catch (e) {
      expect((e as MpcError).code).toBe('ERR_MATH_BACKEND_UNAVAILABLE');
    }
    try {
      selectBackend({ prefer: 'gpu' as never });
      expect.fail('selection should have thrown');
    } catch (e) {
      expect((e as MpcError).code).toBe('ERR_MATH_BACKEND_UNKNOWN');
    }
  });

  it('throws when no backend at all can load', () => {
    try {
      selectBackend({ loaders: { native: broken, wasm: broken, js: broken } });
      expect.fail('selection should have thrown');
    } catch (e) {
      expect((e as MpcError).code).toBe('ERR_MATH_BACKEND_UNAVAILABLE');
    }
  });

  it('self-test catches each kind of wrong answer', () => {
    const js = createJsMath();
    const variants: Array<Partial<RawMath>> = [
      { powmSec: (b, e, m) => js.powm(b, e + 1n, m) },
      { multiExp: () => 1n },
      { invMod: () => 1n },
      { jacobi: () => 1 },
      { gcd: () => 1n },
      { isProbablePrime: () => true },
    ];
    for (const v of variants) {
      const bad = createBackend({ ...js, ...v } as RawMath);
      expect(() => runSelfTest(bad)).toThrow(/ERR_MATH_SELF_TEST_FAILED/);
    }
  });
});
