import Type, { type Static } from 'typebox';
import { ID_PATTERN } from '../audit/index.js';

/**
 * The `audit` section of the party config (issue #15), kept apart from config.ts; its schema is
 * part of config-schema.ts (validation and config reference), the emitter and the shipper that
 * use it are in party-audit.ts.
 *
 *   "audit": { "deployment": "dep-a",      stream AUDIT_{deployment}, subject audit.{deployment}.party-{i}
 *              "createStream": false,      create the stream if missing (needs stream-create rights:
 *                                          dev / single-server deployments; else the operator creates it)
 *              "replicas": 1,              JetStream replicas when this party creates the stream
 *              "checkpointEvery": 100 }    a signed checkpoint record after every this many records
 *
 * Emitter key: the party's Ed25519 identity key. The roster already publishes it and the verifier
 * (`mpc-custody audit verify`) trusts roster keys for `party-{i}`, so no new key is provisioned,
 * sealed or rotated separately; a record is signed by the same identity that signs the party's
 * protocol frames (the domain prefix "mpc-custody/audit/v1/sig" keeps the two apart).
 */
export const AuditSectionSchema = Type.Object(
  {
    deployment: Type.String({ pattern: ID_PATTERN, description: 'deployment id: stream AUDIT_{id}' }),
    createStream: Type.Optional(
      Type.Boolean({ default: false, description: 'create the stream when missing (needs stream-create rights)' }),
    ),
    replicas: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 5, default: 1, description: 'replicas of a stream this party creates' }),
    ),
    checkpointEvery: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 1_000_000, default: 100, description: 'records between checkpoints' }),
    ),
  },
  { additionalProperties: false, description: 'signed audit log shipped to JetStream; absent: no audit' },
);
export type AuditSection = Static<typeof AuditSectionSchema>;

export interface PartyAuditConfig {
  readonly deployment: string;
  readonly createStream: boolean;
  readonly replicas: number;
  readonly checkpointEvery: number;
}

/** The section (already checked against the schema) with its defaults; undefined when absent. */
export function auditConfig(s: AuditSection | undefined): PartyAuditConfig | undefined {
  if (s === undefined) return undefined;
  return Object.freeze({
    deployment: s.deployment,
    createStream: s.createStream ?? false,
    replicas: s.replicas ?? 1,
    checkpointEvery: s.checkpointEvery ?? 100,
  });
}
