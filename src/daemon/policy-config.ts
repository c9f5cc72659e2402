import { readFile } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { MpcError } from '../errors/index.js';
import { loadAdminSet } from '../policy/index.js';
import type { PartyPolicy } from './policy-guard.js';

/**
 * The `policy` section of a party config (issue #14), kept apart from config.ts:
 *
 *   "policy": { "mode": "enforce", "admins": "admins.json" }   the admin set (k of m public JWKs,
 *                                                             src/policy AdminSetSchema): the party's
 *                                                             trust root, never taken from the network
 *   "policy": { "mode": "off" }                                explicit opt-out: the party signs what
 *                                                             the coordinator asks (a warning at every
 *                                                             start, mpc_policy_enforced 0)
 *
 * No section at all is neither: the party fails closed (enforces with no admin set, so it holds no
 * policy and refuses every sign) and says so at startup.
 */
export type PolicyConfig =
  | { readonly mode: 'enforce'; readonly admins: string }
  | { readonly mode: 'off' }
  | { readonly mode: 'unconfigured' };

const bad = (why: string): never => {
  throw new MpcError('ERR_CONFIG_INVALID', `party config: policy ${why}`);
};

/** Validates the section; `admins` resolves against `baseDir`. */
export function parsePolicyConfig(raw: unknown, baseDir: string): PolicyConfig {
  if (raw === undefined) return { mode: 'unconfigured' };
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return bad('must be an object');
  const o = raw as Record<string, unknown>;
  for (const k of Object.keys(o)) if (k !== 'mode' && k !== 'admins') bad(`has an unknown field "${k}"`);
  if (o.mode === 'off') {
    if (o.admins !== undefined) bad('mode "off" takes no admins');
    return { mode: 'off' };
  }
  if (o.mode !== 'enforce') return bad('mode must be "enforce" or "off"');
  if (typeof o.admins !== 'string' || o.admins.length === 0 || o.admins.length > 4096)
    return bad('admins must name the admin set file');
  return { mode: 'enforce', admins: isAbsolute(o.admins) ? o.admins : resolve(baseDir, o.admins) };
}

/** The daemon's policy from the config: reads and validates the admin set file. */
export async function loadPartyPolicy(cfg: PolicyConfig): Promise<PartyPolicy> {
  if (cfg.mode === 'off') return { mode: 'off' };
  if (cfg.mode === 'unconfigured') return { mode: 'enforce', admins: undefined };
  let text: string;
  try {
    text = await readFile(cfg.admins, 'utf8');
  } catch {
    throw new MpcError('ERR_CONFIG_INVALID', 'admin set file is unreadable', { details: { path: cfg.admins } });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new MpcError('ERR_CONFIG_INVALID', 'admin set file is not JSON', { details: { path: cfg.admins } });
  }
  return { mode: 'enforce', admins: await loadAdminSet(value) };
}
