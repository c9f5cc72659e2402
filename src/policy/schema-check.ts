/**
 * One way to refuse a value that fails its TypeBox schema: the code, what was being read, the JSON
 * pointer of the first failing field and the schema's rule — never the value itself.
 */
import type { Validator } from 'typebox/compile';
import type { ErrorCode } from '../errors/index.js';
import { MpcError } from '../errors/index.js';

export function assertSchema(validator: Validator, value: unknown, code: ErrorCode, what: string): void {
  if (validator.Check(value)) return;
  const first = validator.Errors(value)[0];
  const where = first === undefined || first.instancePath === '' ? '(document)' : first.instancePath;
  throw new MpcError(code, `${what} ${where}: ${first?.message ?? 'does not match the schema'}`, {
    details: { path: where },
  });
}
