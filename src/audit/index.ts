export { type Appended, AuditEmitter, type AuditEmitterOptions, type ChainHead, EMPTY_HEAD } from './emitter.js';
export {
  assertAuditEvent,
  GENESIS_HASH,
  MAX_BODY_BYTES,
  MAX_LINE_BYTES,
  type ParsedRecord,
  parseRecord,
  recordHash,
  recordLine,
  type StoredRecord,
  signBody,
  verifyRecordSignature,
} from './record.js';
export {
  AUDIT_VERSION,
  type AuditBody,
  AuditBodySchema,
  type AuditEvent,
  AuditEventSchema,
  type AuditEventType,
  ID_PATTERN,
} from './schema.js';
export {
  type AuditBreak,
  type AuditBreakKind,
  type AuditReport,
  type AuditTrust,
  type EmitterSummary,
  verifyAuditLog,
} from './verify.js';
