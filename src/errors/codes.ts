/**
 * The error catalogue: every code the project throws, with its category.
 * Codes are stable API: operators alert on them and tests assert them, so never rename one.
 */
export type ErrorCategory =
  | 'invalid_args'
  | 'invalid_key_share'
  | 'aborted'
  | 'io'
  | 'bug'
  | 'policy'
  | 'closing'
  | 'unavailable';

export const ERROR_CODES = {
  // math: argument validation (the TS shell checks before any backend sees a value)
  ERR_MATH_TYPE: 'invalid_args',
  ERR_MATH_NEGATIVE: 'invalid_args',
  ERR_MATH_TOO_LARGE: 'invalid_args',
  ERR_MATH_MODULUS_EVEN: 'invalid_args',
  ERR_MATH_MODULUS_TOO_SMALL: 'invalid_args',
  ERR_MATH_NOT_INVERTIBLE: 'invalid_args',
  ERR_MATH_LENGTH_MISMATCH: 'invalid_args',
  ERR_MATH_EMPTY: 'invalid_args',
  ERR_MATH_PRIME_BITS: 'invalid_args',
  ERR_MATH_RNG: 'invalid_args',
  // math: backends
  ERR_MATH_BACKEND_UNAVAILABLE: 'unavailable',
  ERR_MATH_BACKEND_UNKNOWN: 'invalid_args',
  ERR_MATH_SELF_TEST_FAILED: 'bug',
  ERR_MATH_BACKEND_FAILED: 'bug',
  ERR_MATH_PRIME_SEARCH_EXHAUSTED: 'bug',
  // worker pool
  ERR_POOL_CLOSED: 'closing',
  ERR_POOL_TASK_UNKNOWN: 'invalid_args',
  ERR_POOL_TASK_FAILED: 'bug',
  // prime pool and its cache
  ERR_PRIME_CACHE_CORRUPT: 'io',
  ERR_PRIME_CACHE_IO: 'io',
  ERR_PRIME_FIXTURE_INVALID: 'invalid_args',
  // wire decoding (every byte from outside)
  ERR_WIRE_TRUNCATED: 'invalid_args',
  ERR_WIRE_TRAILING_BYTES: 'invalid_args',
  ERR_WIRE_TOO_LARGE: 'invalid_args',
  ERR_WIRE_BIGINT_TOO_LARGE: 'invalid_args',
  ERR_WIRE_NON_CANONICAL: 'invalid_args',
  ERR_WIRE_BAD_TAG: 'invalid_args',
  ERR_WIRE_BAD_LENGTH: 'invalid_args',
  ERR_WIRE_POINT_INVALID: 'invalid_args',
  ERR_WIRE_TYPE: 'invalid_args',
  // Paillier and ring-Pedersen
  ERR_PAILLIER_KEY_INVALID: 'invalid_args',
  ERR_PAILLIER_KEY_TOO_SMALL: 'invalid_args',
  ERR_PAILLIER_CIPHERTEXT_INVALID: 'invalid_args',
  ERR_PAILLIER_PLAINTEXT_RANGE: 'invalid_args',
  ERR_RING_PEDERSEN_INVALID: 'invalid_args',
  // zero-knowledge proofs: a failed verification names the check that failed
  ERR_ZK_PROOF_INVALID: 'aborted',
  ERR_ZK_STATEMENT_INVALID: 'invalid_args',
  // protocol framework and protocols
  ERR_PROTOCOL_ABORT: 'aborted',
  ERR_ROUND_ORDER: 'bug',
  ERR_MSG_DUPLICATE: 'aborted',
  ERR_MSG_UNEXPECTED: 'invalid_args',
  ERR_PROTOCOL_INPUT: 'invalid_args',
  ERR_KEY_SHARE_INVALID: 'invalid_key_share',
  ERR_PRESIGNATURE_USED: 'policy',
  ERR_PRESIGNATURE_INVALID: 'invalid_args',
  // key lifecycle: refresh, reshare, backup kits
  ERR_PRESIGNATURE_EPOCH: 'policy',
  ERR_BACKUP_PIECE_INVALID: 'invalid_args',
  ERR_BACKUP_KIT_INVALID: 'invalid_args',
  ERR_ROTATION_STATE: 'invalid_args',
  ERR_ROTATION_ACK_INVALID: 'policy',
  // configuration / CLI (src/cli/command.ts: ERR_CLI_USAGE exits 2, every other code exits 1)
  ERR_CONFIG_INVALID: 'invalid_args',
  ERR_CLI_USAGE: 'invalid_args',
  ERR_FILE_NOT_FOUND: 'io',
  ERR_FILE_UNREADABLE: 'io',
  ERR_FILE_UNWRITABLE: 'io',
  ERR_FILE_NOT_JSON: 'invalid_args',
  ERR_INPUT_INVALID: 'invalid_args',
  ERR_INTERNAL: 'bug',
  // storage
  ERR_STORAGE_IO: 'io',
  ERR_STORAGE_CORRUPT: 'io',
  ERR_STORAGE_SEAL_AUTH: 'aborted',
  ERR_STORAGE_NOT_FOUND: 'invalid_args',
  ERR_STORAGE_VERSION_CONFLICT: 'policy',
  ERR_STORAGE_KEY_INVALID: 'invalid_args',
  ERR_STORAGE_WRONG_KEY: 'policy',
  ERR_STORAGE_CLOSED: 'closing',
  ERR_LEDGER_IO: 'io',
  ERR_LEDGER_CORRUPT: 'io',
  ERR_LEDGER_BUSY: 'unavailable',
  ERR_HSM_UNAVAILABLE: 'unavailable',
  ERR_HSM_TOKEN_NOT_FOUND: 'unavailable',
  ERR_HSM_PIN_INCORRECT: 'policy',
  ERR_HSM_KEY_NOT_FOUND: 'unavailable',
  ERR_HSM_KEY_UNSAFE: 'policy',
  ERR_HSM_SESSION_LOST: 'unavailable',
  ERR_HSM_MECHANISM_UNSUPPORTED: 'unavailable',
  ERR_HSM_OPERATION_FAILED: 'io',
  // the store's token session is down and being reopened with backoff (issue 17 item 7): retry later
  ERR_STORE_UNAVAILABLE: 'unavailable',
  // storage hardening (issue 17: rollback-proof presignatures, sealed primes, store faults)
  ERR_PRESIGNATURE_BURNT: 'policy',
  ERR_KEY_REPAIR_REFUSED: 'policy',
  // chain payloads (src/chains): every refusal before a digest is computed or a signature assembled
  ERR_CHAIN_KIND_UNKNOWN: 'invalid_args',
  ERR_CHAIN_PAYLOAD_TOO_LARGE: 'invalid_args',
  ERR_CHAIN_PAYLOAD_MALFORMED: 'invalid_args',
  ERR_CHAIN_UNSUPPORTED: 'invalid_args',
  ERR_CHAIN_TOO_MANY_ITEMS: 'invalid_args',
  ERR_CHAIN_WITNESS_UTXO_MISSING: 'invalid_args',
  ERR_CHAIN_DERIVATION_MISMATCH: 'policy',
  ERR_CHAIN_DIGEST_INDEX: 'invalid_args',
  ERR_CHAIN_PATH_MISMATCH: 'policy',
  ERR_CHAIN_SIGNATURE_INVALID: 'invalid_args',
  ERR_CHAIN_NETWORK_UNKNOWN: 'invalid_args',
  // transport
  ERR_TRANSPORT_FRAME_TOO_LARGE: 'invalid_args',
  ERR_TRANSPORT_FRAME_MALFORMED: 'invalid_args',
  ERR_TRANSPORT_SIGNATURE: 'invalid_args',
  ERR_TRANSPORT_SESSION: 'invalid_args',
  ERR_TRANSPORT_REPLAY: 'invalid_args',
  ERR_TRANSPORT_MISROUTED: 'invalid_args',
  ERR_TRANSPORT_FAULT: 'aborted',
  ERR_TRANSPORT_KEY_INVALID: 'invalid_args',
  ERR_TRANSPORT_ARGS: 'invalid_args',
  ERR_TRANSPORT_CLOSED: 'closing',
  ERR_TRANSPORT_CONNECT: 'unavailable',
  ERR_TRANSPORT_PERMISSION: 'policy',
  ERR_TRANSPORT_SETUP_FAILED: 'io',
  // transport: per-session ephemeral keys (issue 17 item 6)
  ERR_TRANSPORT_SESSION_KEY_MISSING: 'invalid_args',
  ERR_TRANSPORT_SESSION_KEY_INVALID: 'invalid_args',
  // daemon
  ERR_DAEMON_SESSION_REUSED: 'bug',
  ERR_DAEMON_COMMAND_INVALID: 'invalid_args',
  ERR_DAEMON_KEY_UNKNOWN: 'invalid_args',
  // a share restored from a backup kit (no aux info): it presigns after a refresh (issue 16)
  ERR_DAEMON_KEY_RESTORED: 'invalid_args',
  // this party left the key's committee by a reshare (issue 16): it holds no share and serves nothing
  ERR_DAEMON_KEY_RETIRED: 'invalid_args',
  ERR_DAEMON_PRESIGNATURE_UNKNOWN: 'invalid_args',
  ERR_DAEMON_PRESIGNATURE_OTHER_KEY: 'invalid_args',
  ERR_DAEMON_DRAINING: 'closing',
  ERR_DAEMON_SESSION_TIMEOUT: 'unavailable',
  ERR_DAEMON_SESSION_FAILED: 'aborted',
  ERR_DAEMON_PRIMES_EXHAUSTED: 'unavailable',
  ERR_DAEMON_HTTP_LISTEN: 'io',
  // daemon: resource limits (issue 17, items 3, 4, 8)
  ERR_DAEMON_BUSY: 'unavailable',
  ERR_DAEMON_NOT_MEMBER: 'invalid_args',
  ERR_DAEMON_INBOX_SENDER_FULL: 'unavailable',
  ERR_DAEMON_INBOX_SESSION_FULL: 'unavailable',
  ERR_DAEMON_STARTUP: 'io',
  // policy engine, signed policy versions, operator registry and approvals
  ERR_POLICY_TOO_LARGE: 'invalid_args',
  ERR_POLICY_DOCUMENT_INVALID: 'invalid_args',
  ERR_POLICY_INTENT_INVALID: 'invalid_args',
  ERR_POLICY_PRICE_MISSING: 'policy',
  ERR_POLICY_SIGNED_MALFORMED: 'invalid_args',
  ERR_POLICY_QUORUM: 'policy',
  ERR_POLICY_VERSION_OLD: 'policy',
  ERR_POLICY_VERSION_CONFLICT: 'policy',
  ERR_POLICY_ADMIN_SET_INVALID: 'invalid_args',
  ERR_POLICY_REGISTRY_INVALID: 'invalid_args',
  ERR_POLICY_APPROVAL_INVALID: 'policy',
  ERR_POLICY_REQUEST_INVALID: 'policy',
  ERR_POLICY_PAYLOAD_MISMATCH: 'policy',
  ERR_POLICY_VERSION_UNKNOWN: 'policy',
  ERR_POLICY_BLOCKED: 'policy',
  ERR_POLICY_APPROVALS_MISSING: 'policy',
  ERR_POLICY_REJECTED: 'policy',
  ERR_POLICY_EXPIRED: 'policy',
  ERR_POLICY_HISTORY_TRUNCATED: 'policy',
  // key import (tss-lib)
  ERR_IMPORT_INVALID: 'invalid_args',
  ERR_IMPORT_MISMATCH: 'aborted',
  ERR_IMPORT_DUPLICATE: 'invalid_args',
  ERR_IMPORT_NOT_STAGED: 'invalid_args',
  // audit log (issue 15)
  ERR_AUDIT_EVENT_INVALID: 'invalid_args',
  ERR_AUDIT_RECORD_MALFORMED: 'invalid_args',
  ERR_AUDIT_SINK_UNAVAILABLE: 'unavailable',
  ERR_AUDIT_CHAIN_FORK: 'bug',
  ERR_AUDIT_VERIFY_FAILED: 'policy',
  // orchestrator REST API (issue 13); HTTP status per code in src/orchestrator/api/errors.ts
  ERR_API_UNAUTHENTICATED: 'policy',
  ERR_API_NONCE_REPLAYED: 'policy',
  ERR_API_FORBIDDEN: 'policy',
  ERR_API_BAD_REQUEST: 'invalid_args',
  ERR_API_MALFORMED_JSON: 'invalid_args',
  ERR_API_BODY_TOO_LARGE: 'invalid_args',
  ERR_API_UNSUPPORTED_MEDIA_TYPE: 'invalid_args',
  ERR_API_NOT_FOUND: 'invalid_args',
  ERR_API_KEY_UNKNOWN: 'invalid_args',
  ERR_API_KEY_NOT_READY: 'unavailable',
  ERR_API_REQUEST_UNKNOWN: 'invalid_args',
  ERR_API_OPERATOR_UNKNOWN: 'invalid_args',
  ERR_API_CONFLICT: 'policy',
  ERR_API_IDEMPOTENCY_CONFLICT: 'policy',
  ERR_API_REQUEST_FINAL: 'policy',
  ERR_API_UNAVAILABLE: 'unavailable',
  ERR_API_INTERNAL: 'bug',
  ERR_ORCH_STORE: 'io',
  ERR_ORCH_INTERRUPTED: 'aborted',
} as const satisfies Record<string, ErrorCategory>;

export type ErrorCode = keyof typeof ERROR_CODES;
