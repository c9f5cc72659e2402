/**
 * Role-based access per route: the one table the API enforces, the README documents and the RBAC
 * matrix test walks. An operator may hold several roles; a route admits an operator holding any of
 * its roles. `public` routes (health, readiness, metrics, the OpenAPI document) need no token.
 */
import { ROLES, type Role } from '../policy/registry.js';

export { ROLES, type Role };

const ALL: readonly Role[] = ROLES;
const READERS: readonly Role[] = ['admin', 'initiator', 'approver', 'auditor', 'viewer'];

export interface RouteAccess {
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH';
  /** fastify path syntax */
  readonly path: string;
  readonly roles: readonly Role[] | 'public';
}

export const ROUTE_ACCESS = [
  { method: 'GET', path: '/healthz', roles: 'public' },
  { method: 'GET', path: '/readyz', roles: 'public' },
  { method: 'GET', path: '/metrics', roles: 'public' },
  { method: 'GET', path: '/v1/openapi.json', roles: 'public' },
  { method: 'GET', path: '/v1/whoami', roles: ALL },
  { method: 'GET', path: '/v1/operators', roles: ['admin', 'auditor'] },
  { method: 'POST', path: '/v1/operators', roles: ['admin'] },
  { method: 'GET', path: '/v1/operators/:id', roles: ['admin', 'auditor'] },
  { method: 'PATCH', path: '/v1/operators/:id', roles: ['admin'] },
  { method: 'GET', path: '/v1/policy', roles: READERS },
  { method: 'PUT', path: '/v1/policy', roles: ['admin'] },
  { method: 'PUT', path: '/v1/registry', roles: ['admin'] },
  { method: 'GET', path: '/v1/keys', roles: READERS },
  { method: 'POST', path: '/v1/keys', roles: ['admin'] },
  { method: 'GET', path: '/v1/keys/:id', roles: READERS },
  { method: 'GET', path: '/v1/keys/:id/addresses', roles: READERS },
  { method: 'GET', path: '/v1/sign-requests', roles: READERS },
  { method: 'POST', path: '/v1/sign-requests', roles: ['initiator'] },
  { method: 'GET', path: '/v1/sign-requests/:id', roles: READERS },
  { method: 'GET', path: '/v1/sign-requests/:id/events', roles: READERS },
  { method: 'POST', path: '/v1/sign-requests/:id/approvals', roles: ['approver'] },
  { method: 'GET', path: '/v1/audit', roles: ['admin', 'auditor'] },
] as const satisfies readonly RouteAccess[];

export function accessFor(method: string, path: string): RouteAccess | undefined {
  return ROUTE_ACCESS.find((r) => r.method === method && r.path === path);
}

export function allowed(access: RouteAccess, roles: readonly Role[]): boolean {
  return access.roles === 'public' || roles.some((r) => (access.roles as readonly Role[]).includes(r));
}
