export { ERROR_CODES, type ErrorCategory, type ErrorCode } from './codes.js';
export { describeError, errorLine, errorRecord, isErrorCode } from './format.js';
export { type Blame, isMpcError, MpcError, type MpcErrorOptions, reviveMpcError } from './mpc-error.js';
