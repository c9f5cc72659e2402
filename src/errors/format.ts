import { ERROR_CODES, type ErrorCode } from './codes.js';
import type { MpcError } from './mpc-error.js';

/**
 * How a coded error is shown to a person or a script: the code once, then what is wrong, then the
 * file it concerns (`details.path`) when the reason does not name it already. One line: newlines in
 * a reason are folded, a stack is never part of it.
 */
export function describeError(e: MpcError): string {
  const path = e.details.path;
  const where = path !== undefined && !e.reason.includes(String(path)) ? ` (path: ${String(path)})` : '';
  return `${e.code}: ${e.reason}${where}`.replace(/\s*[\r\n]+\s*/g, ' ');
}

/** `<prefix>: CODE: what is wrong (path: …)` — the one stderr line of a failed command. */
export function errorLine(prefix: string, e: MpcError): string {
  return `${prefix}: ${describeError(e)}`;
}

/** The JSON form of the same line (`--json`): code, reason and the public details, nothing else. */
export function errorRecord(e: MpcError): {
  ok: false;
  code: ErrorCode;
  category: string;
  message: string;
  details: Record<string, string | number | boolean>;
} {
  return {
    ok: false,
    code: e.code,
    category: e.category,
    message: e.reason.replace(/\s*[\r\n]+\s*/g, ' '),
    details: { ...e.details },
  };
}

/** True when `code` is in the catalogue (a string from another process or a stored record). */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERROR_CODES, code);
}
