import { ERROR_CODES, type ErrorCategory, type ErrorCode } from './codes.js';

/** A party named as faulty by an aborted protocol, with the evidence. */
export interface Blame {
  readonly party: number;
  readonly msgIds: readonly string[];
  readonly reason: string;
}

export interface MpcErrorOptions {
  readonly cause?: unknown;
  readonly blame?: readonly Blame[];
  /** Public, non-secret context (field names, sizes). Never put secret values here. */
  readonly details?: Readonly<Record<string, string | number | boolean>>;
}

/**
 * The one error type of the project. `code` is stable and listed in `codes.ts`;
 * `message` is for humans and never contains secret values (only names, sizes and limits).
 */
export class MpcError extends Error {
  readonly code: ErrorCode;
  readonly category: ErrorCategory;
  /** What is wrong, without the code: `message` is `${code}: ${reason}`. Print this next to the code. */
  readonly reason: string;
  readonly blame: readonly Blame[];
  readonly details: Readonly<Record<string, string | number | boolean>>;

  constructor(code: ErrorCode, message: string, options: MpcErrorOptions = {}) {
    // Re-wrapping an error (`new MpcError(e.code, e.message)`, a worker's or a party's report) must
    // not print the code twice: a message that already starts with this code is taken as the reason.
    const reason = message.startsWith(`${code}: `) ? message.slice(code.length + 2) : message;
    super(`${code}: ${reason}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.reason = reason;
    this.name = 'MpcError';
    this.code = code;
    this.category = ERROR_CODES[code];
    this.blame = options.blame ?? [];
    this.details = options.details ?? {};
  }

  /** A plain object safe to log or send across a worker boundary. */
  toJSON(): { code: ErrorCode; category: ErrorCategory; message: string; details: Record<string, unknown> } {
    return { code: this.code, category: this.category, message: this.message, details: { ...this.details } };
  }
}

/** True for an MpcError carrying `code` (works across worker boundaries via `isMpcErrorLike`). */
export function isMpcError(e: unknown, code?: ErrorCode): e is MpcError {
  return e instanceof MpcError && (code === undefined || e.code === code);
}

/**
 * Errors thrown inside a worker thread arrive as plain Errors whose message starts with the code.
 * This rebuilds the typed error so callers see the same `code` whichever thread did the work.
 */
export function reviveMpcError(e: unknown): unknown {
  if (e instanceof MpcError) return e;
  if (e instanceof Error) {
    const m = /^(ERR_[A-Z0-9_]+): ([\s\S]*)$/.exec(e.message);
    const code = m?.[1];
    if (code !== undefined && code in ERROR_CODES) {
      return new MpcError(code as ErrorCode, m?.[2] ?? '', { cause: e });
    }
  }
  return e;
}
