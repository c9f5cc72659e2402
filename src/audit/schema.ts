/**
 * The audit event schema, version 1: one TypeBox schema validates every event before an emitter
 * signs it and again when a verifier reads it. Every string is an identifier, a hex digest, a
 * public key or an error code with a tight pattern, so no free text (and no secret) can ride along.
 */
import Type, { type Static } from 'typebox';

/** Record format version; a verifier refuses versions it does not know. */
export const AUDIT_VERSION = 1;

/** Deployment and emitter ids appear in NATS subjects: no dots, no wildcards. */
export const ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$';
export const AuditId = Type.String({ pattern: ID_PATTERN });
/** Request, key, presignature, rule, operator ids (may contain `.` `:`). */
const Ref = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$' });
const Hash = Type.String({ pattern: '^[0-9a-f]{64}$' });
const Hex = Type.String({ pattern: '^[0-9a-f]{2,260}$' });
const Code = Type.String({ pattern: '^ERR_[A-Z0-9_]{1,64}$' });
const PartyIndex = Type.Integer({ minimum: 0, maximum: 1023 });
const Parties = Type.Array(PartyIndex, { minItems: 1, maxItems: 1024 });
const Count = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });

const ev = <T extends string, P extends Type.TProperties>(type: T, props: P) =>
  Type.Object({ type: Type.Literal(type), ...props }, { additionalProperties: false });

export const AuditEventSchema = Type.Union([
  // sign requests (orchestrator)
  ev('request.received', { request: Ref, key: Ref, initiator: Ref, payloadKind: Ref, payloadHash: Hash }),
  ev('request.evaluated', {
    request: Ref,
    policyVersion: Count,
    rule: Type.Union([Ref, Type.Null()]),
    action: Type.Union([Type.Literal('allow'), Type.Literal('block'), Type.Literal('require_approvals')]),
  }),
  ev('request.approved', { request: Ref, approver: Ref }),
  ev('request.rejected', { request: Ref, by: Type.Union([Ref, Type.Null()]), code: Code }),
  ev('request.signed', { request: Ref, key: Ref, presignature: Ref, signers: Parties, digest: Hash, signature: Hex }),
  ev('request.failed', { request: Ref, code: Code }),
  // key lifecycle (parties and orchestrator)
  ev('key.generated', {
    key: Ref,
    threshold: Type.Integer({ minimum: 1, maximum: 1024 }),
    parties: Type.Integer({ minimum: 1, maximum: 1024 }),
    publicKey: Hex,
  }),
  /** A key brought in from another system (issue #19: tss-lib), converted among `parties` importers. */
  ev('key.imported', {
    key: Ref,
    source: Type.Literal('tss-lib'),
    parties: Type.Integer({ minimum: 1, maximum: 1024 }),
    publicKey: Hex,
  }),
  /** A party's core share rebuilt from a backup kit (issue #16), at key epoch `epoch`; a refresh follows. */
  ev('key.restored', { key: Ref, epoch: Count, publicKey: Hex }),
  ev('key.share_updated', { key: Ref, shareVersion: Count }),
  ev('aux.done', { key: Ref, parties: Parties }),
  ev('presignature.created', { key: Ref, presignature: Ref, signers: Type.Optional(Parties) }),
  /** `key` is null for an id the party never stored (recorded as a consumed tombstone). */
  ev('presignature.consumed', { key: Type.Union([Ref, Type.Null()]), presignature: Ref, digest: Type.Optional(Hash) }),
  ev('presignature.burnt', { presignature: Ref, reason: Ref }),
  ev('presignatures.burnt', { count: Count, reason: Ref }),
  ev('refresh.step', { key: Ref, step: Ref, epoch: Count }),
  ev('reshare.step', { key: Ref, step: Ref, epoch: Count, parties: Parties }),
  // administration
  ev('operator.changed', { operator: Ref, change: Ref, by: Ref }),
  /** `document` (optional, added in v1 without a version bump): which admin-signed document. */
  ev('policy.changed', {
    version: Count,
    hash: Hash,
    by: Ref,
    document: Type.Optional(Type.Union([Type.Literal('policy'), Type.Literal('registry')])),
  }),
  // daemon life and refusals
  ev('daemon.started', { party: Type.Union([PartyIndex, Type.Null()]) }),
  ev('daemon.stopped', { reason: Ref }),
  ev('command.refused', { command: Ref, code: Code, session: Type.Union([Hex, Type.Null()]) }),
  // periodic checkpoint: `count` records precede it, the last of which hashes to `head`
  ev('checkpoint', { count: Count, head: Hash }),
]);
export type AuditEvent = Static<typeof AuditEventSchema>;
export type AuditEventType = AuditEvent['type'];

/** The signed body of a record. Key order is the order written; readers never re-serialise it. */
export const AuditBodySchema = Type.Object(
  {
    v: Type.Literal(AUDIT_VERSION),
    deployment: AuditId,
    emitter: AuditId,
    /** 1 for an emitter's first record, then +1 per record, no gaps. */
    seq: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }),
    /** Hash of the emitter's previous record (64 zeros before seq 1). */
    prev: Hash,
    /** Unix milliseconds at the emitter (informational: order comes from seq, not time). */
    time: Count,
    event: AuditEventSchema,
  },
  { additionalProperties: false },
);
export type AuditBody = Static<typeof AuditBodySchema>;
