/**
 * Request and response schemas of the REST API: TypeBox, so one definition is the validator
 * (fastify's Ajv, with unknown fields refused, never stripped, and no type coercion), the handler's
 * TypeScript types (type provider) and the OpenAPI 3.1 document (@fastify/swagger).
 */
import Type, { type Static } from 'typebox';
import { BTC_NETWORKS, PAYLOAD_KINDS } from '../../chains/types.js';
import { PublicJwk } from '../../policy/keys.js';
import { ROLES } from '../../policy/registry.js';
import { OPERATOR_ID_PATTERN } from '../config.js';
import { SIGN_REQUEST_STATES } from '../store/store.js';

const closed = { additionalProperties: false } as const;

export const KEY_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$';
const RequestId = Type.String({ pattern: '^sr_[0-9a-f]{28}$' });

export const ErrorBody = Type.Object({ code: Type.String(), message: Type.String() }, closed);

export const IdParams = Type.Object({ id: Type.String({ pattern: OPERATOR_ID_PATTERN }) }, closed);
export const KeyParams = Type.Object({ id: Type.String({ pattern: KEY_ID_PATTERN }) }, closed);
export const RequestParams = Type.Object({ id: RequestId }, closed);

export const Health = Type.Object({ status: Type.String() }, closed);
export const Ready = Type.Object({ ready: Type.Boolean(), reasons: Type.Array(Type.String()) }, closed);

const Roles = Type.Array(Type.Enum(ROLES), { minItems: 1, maxItems: ROLES.length, uniqueItems: true });

export const Operator = Type.Object(
  {
    id: Type.String(),
    roles: Type.Array(Type.String()),
    publicKey: PublicJwk,
    disabled: Type.Boolean(),
    createdAt: Type.Integer(),
    updatedAt: Type.Integer(),
  },
  closed,
);
export const OperatorList = Type.Object({ items: Type.Array(Operator) }, closed);
export const CreateOperator = Type.Object(
  { id: Type.String({ pattern: OPERATOR_ID_PATTERN }), roles: Roles, publicKey: PublicJwk },
  closed,
);
export type CreateOperator = Static<typeof CreateOperator>;
export const PatchOperator = Type.Object(
  { roles: Type.Optional(Roles), disabled: Type.Optional(Type.Boolean()) },
  { ...closed, minProperties: 1 },
);
export type PatchOperator = Static<typeof PatchOperator>;
export const WhoAmI = Type.Object({ id: Type.String(), roles: Type.Array(Type.String()) }, closed);

/** An admin-quorum-signed document: JWS General JSON Serialization (checked in depth by src/policy). */
export const SignedDocument = Type.Object(
  {
    payload: Type.String({ pattern: '^[A-Za-z0-9_-]*$', maxLength: 2 << 20 }),
    signatures: Type.Array(
      Type.Object(
        {
          protected: Type.String({ pattern: '^[A-Za-z0-9_-]+$', maxLength: 4096 }),
          signature: Type.String({ pattern: '^[A-Za-z0-9_-]+$', maxLength: 1024 }),
        },
        closed,
      ),
      { minItems: 1, maxItems: 64 },
    ),
  },
  closed,
);
export type SignedDocument = Static<typeof SignedDocument>;
export const DocumentVersion = Type.Object({ version: Type.Integer(), hash: Type.String() }, closed);
export const DocumentPut = Type.Object(
  {
    version: Type.Integer(),
    hash: Type.String(),
    delivered: Type.Boolean({
      description: 'every party holds this version; false: the orchestrator relays it again at every sweep',
    }),
  },
  closed,
);
export const PolicyState = Type.Object(
  {
    policy: Type.Union([DocumentVersion, Type.Null()]),
    registry: Type.Union([DocumentVersion, Type.Null()]),
  },
  closed,
);

export const Key = Type.Object(
  {
    id: Type.String(),
    state: Type.Union([Type.Literal('generating'), Type.Literal('ready'), Type.Literal('failed')]),
    progress: Type.Union([Type.Literal('keygen'), Type.Literal('aux'), Type.Literal('keyinfo'), Type.Literal('done')]),
    threshold: Type.Integer(),
    parties: Type.Array(Type.Integer()),
    publicKey: Type.Union([Type.String(), Type.Null()]),
    xpub: Type.Union([Type.String(), Type.Null()]),
    errorCode: Type.Union([Type.String(), Type.Null()]),
    createdAt: Type.Integer(),
    updatedAt: Type.Integer(),
  },
  closed,
);
export const KeyList = Type.Object({ items: Type.Array(Key) }, closed);
export const CreateKey = Type.Object(
  {
    id: Type.String({ pattern: KEY_ID_PATTERN }),
    threshold: Type.Integer({ minimum: 2, maximum: 64 }),
    parties: Type.Integer({ minimum: 2, maximum: 64 }),
  },
  closed,
);
export type CreateKey = Static<typeof CreateKey>;

export const AddressQuery = Type.Object(
  {
    /** BIP32 non-hardened path, e.g. `m/0/7` or `0/7` (empty or `m`: the root). */
    path: Type.String({ pattern: '^(m|m/|)([0-9]{1,10}(/[0-9]{1,10}){0,31})?$', maxLength: 400 }),
    chain: Type.Union([Type.Literal('ethereum'), Type.Literal('bitcoin')]),
    network: Type.Optional(Type.Enum(BTC_NETWORKS)),
  },
  closed,
);
export type AddressQuery = Static<typeof AddressQuery>;
export const Address = Type.Object(
  {
    keyId: Type.String(),
    path: Type.Array(Type.Integer()),
    chain: Type.String(),
    network: Type.Union([Type.String(), Type.Null()]),
    address: Type.String(),
    publicKey: Type.String(),
  },
  closed,
);

/** Payload bytes: `0x`-hex, or base64 when `payloadEncoding` says so. */
export const CreateSignRequest = Type.Object(
  {
    keyId: Type.String({ pattern: KEY_ID_PATTERN }),
    kind: Type.Enum(PAYLOAD_KINDS),
    payload: Type.String({
      minLength: 1,
      maxLength: 2 * (128 << 10) + 2,
      pattern: '^(0x[0-9a-fA-F]*|[A-Za-z0-9+/]*={0,2})$',
    }),
    payloadEncoding: Type.Optional(Type.Union([Type.Literal('hex'), Type.Literal('base64')])),
    network: Type.Optional(Type.Enum(BTC_NETWORKS)),
    signedRequest: Type.String({
      minLength: 1,
      maxLength: 8192,
      pattern: '^[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+$',
    }),
    idempotencyKey: Type.String({ minLength: 1, maxLength: 128, pattern: '^[\\x21-\\x7e]+$' }),
  },
  closed,
);
export type CreateSignRequest = Static<typeof CreateSignRequest>;

export const Artifact = Type.Object(
  { kind: Type.String(), hex: Type.String(), fields: Type.Record(Type.String(), Type.Unknown()) },
  closed,
);
export const SignRequest = Type.Object(
  {
    id: Type.String(),
    idempotencyKey: Type.String(),
    keyId: Type.String(),
    kind: Type.String(),
    network: Type.Union([Type.String(), Type.Null()]),
    state: Type.Enum(SIGN_REQUEST_STATES),
    initiator: Type.String(),
    createdBy: Type.String(),
    requestDigest: Type.String(),
    policyVersion: Type.Union([Type.Integer(), Type.Null()]),
    approvals: Type.Integer({ description: 'approval statements received' }),
    artifact: Type.Union([Artifact, Type.Null()]),
    error: Type.Union([ErrorBody, Type.Null()]),
    createdAt: Type.Integer(),
    updatedAt: Type.Integer(),
    expiresAt: Type.Integer(),
  },
  closed,
);
export const SignRequestList = Type.Object(
  { items: Type.Array(SignRequest), nextCursor: Type.Union([Type.String(), Type.Null()]) },
  closed,
);
export const ListQuery = Type.Object(
  {
    state: Type.Optional(Type.Enum(SIGN_REQUEST_STATES)),
    keyId: Type.Optional(Type.String({ pattern: KEY_ID_PATTERN })),
    initiator: Type.Optional(Type.String({ pattern: OPERATOR_ID_PATTERN })),
    cursor: Type.Optional(RequestId),
    limit: Type.Optional(Type.String({ pattern: '^([1-9][0-9]?|100)$' })),
  },
  closed,
);
export type ListQuery = Static<typeof ListQuery>;
export const WaitQuery = Type.Object(
  {
    /** Comma-separated states, or `final` (signed, rejected, failed, expired). */
    waitFor: Type.Optional(Type.String({ pattern: '^[a-z_]+(,[a-z_]+){0,7}$', maxLength: 200 })),
    timeoutSeconds: Type.Optional(Type.String({ pattern: '^([1-9]|[1-5][0-9]|60)$' })),
  },
  closed,
);
export type WaitQuery = Static<typeof WaitQuery>;
export const AuditQuery = Type.Object(
  {
    /** The `nextCursor` of the previous page (a stream sequence number). */
    cursor: Type.Optional(Type.String({ pattern: '^(0|[1-9][0-9]{0,15})$' })),
    limit: Type.Optional(Type.String({ pattern: '^([1-9][0-9]{0,2}|1000)$' })),
    emitter: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$' })),
    type: Type.Optional(Type.String({ pattern: '^[a-z]+(\\.[a-z_]+)?$', maxLength: 64 })),
    request: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$' })),
  },
  closed,
);
export type AuditQuery = Static<typeof AuditQuery>;
/** Records as stored (the exact body string and the emitter's Ed25519 signature): verify them as they are. */
export const AuditPage = Type.Object(
  {
    items: Type.Array(
      Type.Object({ streamSeq: Type.Integer({ minimum: 1 }), body: Type.String(), sig: Type.String() }, closed),
    ),
    nextCursor: Type.Union([Type.String(), Type.Null()]),
  },
  closed,
);
export const CreateApproval = Type.Object({ approval: Type.String({ minLength: 1, maxLength: 4096 }) }, closed);
export type CreateApproval = Static<typeof CreateApproval>;

/** The error answers every authenticated route may give (documented in OpenAPI). */
export const ERROR_RESPONSES = {
  400: ErrorBody,
  401: ErrorBody,
  403: ErrorBody,
  404: ErrorBody,
  409: ErrorBody,
  413: ErrorBody,
  415: ErrorBody,
  422: ErrorBody,
  500: ErrorBody,
  503: ErrorBody,
} as const;
