/**
 * Errors → HTTP: every answer that is not a success is `{ code, message }` with a stable code from
 * the catalogue (src/errors/codes.ts). ERR_API_* codes have their own status; any other code maps
 * by its category. A 500 never carries the internal message (it may name internals); the code and
 * a generic sentence are enough for the caller, the log has the rest.
 */
import { ERROR_CODES, type ErrorCategory, type ErrorCode, MpcError } from '../../errors/index.js';

const API_STATUS: Partial<Record<ErrorCode, number>> = {
  ERR_API_UNAUTHENTICATED: 401,
  ERR_API_NONCE_REPLAYED: 401,
  ERR_API_FORBIDDEN: 403,
  ERR_API_BAD_REQUEST: 400,
  ERR_API_MALFORMED_JSON: 400,
  ERR_API_BODY_TOO_LARGE: 413,
  ERR_API_UNSUPPORTED_MEDIA_TYPE: 415,
  ERR_API_NOT_FOUND: 404,
  ERR_API_KEY_UNKNOWN: 404,
  ERR_API_REQUEST_UNKNOWN: 404,
  ERR_API_OPERATOR_UNKNOWN: 404,
  ERR_API_KEY_NOT_READY: 409,
  ERR_API_CONFLICT: 409,
  ERR_API_IDEMPOTENCY_CONFLICT: 409,
  ERR_API_REQUEST_FINAL: 409,
  ERR_API_UNAVAILABLE: 503,
  ERR_API_INTERNAL: 500,
};

const BY_CATEGORY: Record<ErrorCategory, number> = {
  invalid_args: 400,
  invalid_key_share: 500,
  aborted: 502,
  io: 500,
  bug: 500,
  // a policy refusal of well-formed input (signed request, approval, version)
  policy: 422,
  closing: 503,
  unavailable: 503,
};

export interface ApiErrorBody {
  readonly code: string;
  readonly message: string;
}

export function httpError(e: unknown): { status: number; body: ApiErrorBody } {
  if (e instanceof MpcError) {
    const status = API_STATUS[e.code] ?? BY_CATEGORY[ERROR_CODES[e.code]];
    const message = status >= 500 && status !== 503 ? 'internal error' : e.message.replace(/^ERR_[A-Z0-9_]+: /, '');
    return { status, body: { code: e.code, message } };
  }
  return { status: 500, body: { code: 'ERR_API_INTERNAL', message: 'internal error' } };
}
