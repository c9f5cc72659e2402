/**
 * The operator registry: who may initiate and approve, with which roles and groups, and with which
 * public key. Published like a policy version (admin quorum), so a party checks an initiator's or
 * approver's signature against its own copy, never against what the orchestrator says.
 */
import Type, { type Static } from 'typebox';
import { Compile } from 'typebox/compile';
import { MpcError } from '../errors/index.js';
import type { OperatorDirectory } from './approvals.js';
import { algorithmsFor, importPublicJwk, PublicJwk, type VerifyKey } from './keys.js';
import { assertSchema } from './schema-check.js';

/** Roles (orchestrator RBAC); an operator can hold several. */
export const ROLES = ['admin', 'initiator', 'approver', 'auditor', 'viewer'] as const;
export type Role = (typeof ROLES)[number];

const Id = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$' });

export const RegistrySchema = Type.Object(
  {
    schema: Type.Literal('mpc-custody/operators@1'),
    version: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }),
    operators: Type.Array(
      Type.Object(
        {
          id: Id,
          roles: Type.Array(Type.Enum(ROLES), { minItems: 1, maxItems: ROLES.length, uniqueItems: true }),
          groups: Type.Optional(Type.Array(Id, { maxItems: 64, uniqueItems: true })),
          publicKey: PublicJwk,
          /** A disabled operator can neither initiate nor approve. */
          disabled: Type.Optional(Type.Boolean()),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: 10_000 },
    ),
  },
  { additionalProperties: false },
);
export type RegistryDocument = Static<typeof RegistrySchema>;
const checkRegistry = Compile(RegistrySchema);

export interface Operator {
  readonly id: string;
  readonly roles: readonly Role[];
  readonly groups: readonly string[];
  readonly key: VerifyKey;
  readonly algorithms: readonly string[];
}

export interface OperatorRegistry extends OperatorDirectory {
  readonly version: number;
  /** An enabled operator, or undefined. */
  operator(id: string): Operator | undefined;
}

export async function parseRegistry(value: unknown): Promise<OperatorRegistry> {
  assertSchema(checkRegistry, value, 'ERR_POLICY_REGISTRY_INVALID', 'operator registry');
  const doc = value as RegistryDocument;
  const operators = new Map<string, Operator>();
  const seen = new Set<string>();
  for (const o of doc.operators) {
    if (seen.has(o.id)) throw new MpcError('ERR_POLICY_REGISTRY_INVALID', `operator ${o.id} appears twice`);
    seen.add(o.id);
    if (o.disabled === true) continue;
    let key: VerifyKey;
    try {
      key = await importPublicJwk(o.publicKey, `operator ${o.id}`);
    } catch {
      throw new MpcError('ERR_POLICY_REGISTRY_INVALID', `operator ${o.id}: public key does not import`);
    }
    operators.set(o.id, {
      id: o.id,
      roles: o.roles,
      groups: o.groups ?? [],
      key,
      algorithms: algorithmsFor(o.publicKey),
    });
  }
  const operator = (id: string) => operators.get(id);
  return {
    version: doc.version,
    operator,
    lookup: (id: string) => {
      const o = operator(id);
      return o === undefined ? undefined : { roles: o.roles, groups: o.groups };
    },
  };
}
