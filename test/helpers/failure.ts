import { expect } from 'vitest';
import { MpcError } from '../../src/errors/index.js';

/**
 * Runs `fn` and describes how it failed: `CODE:check` (proof verification), `CODE:path` (wire
 * decoding), or 'accepted' when it did not throw. Any non-MpcError failure fails the test: every
 * rejection in the project must be typed.
 */
export function failure(fn: () => void): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(MpcError);
    return `${(e as MpcError).code}:${String((e as MpcError).details.check ?? (e as MpcError).details.path ?? '')}`;
  }
  return 'accepted';
}
