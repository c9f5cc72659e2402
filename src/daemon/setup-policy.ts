import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { exportJWK, generateKeyPair } from 'jose';
import { MpcError } from '../errors/index.js';
import { POLICY_TYP, REGISTRY_TYP, type Signer, signDocument } from '../policy/index.js';

/**
 * The policy half of `mpc-custody setup` (issue #14): an enforcing deployment on one machine.
 *
 *   <dir>/policy/admins.json        the admin set (k of m public JWKs): every party's trust root
 *   <dir>/policy/admin-<i>.key      each admin's private key (0600; in production each admin keeps
 *                                   their own, on their own device)
 *   <dir>/policy/initiator.key      an initiator operator's private key (0600), the file format of
 *                                   `mpc-custody operator keygen` ({id, alg, privateJwk})
 *   <dir>/policy/registry.json      operator registry v1 (the initiator), signed by k admins
 *   <dir>/policy/policy.json        policy v1, signed by k admins: raw digests blocked, anything the
 *                                   initiator signs allowed (edit, re-sign and push a v2 for real rules)
 *
 * The parties start holding no registry or policy: push both once they run
 * (`coord registry-push`, `coord policy-push`, or the orchestrator). Until then they refuse to sign.
 */
export interface PolicyDeployment {
  readonly dir: string;
  readonly adminsFile: string;
  readonly adminKeys: readonly string[];
  readonly initiatorKey: string;
  readonly initiatorId: string;
  readonly registryFile: string;
  readonly policyFile: string;
}

async function keyPair(file: string, id: string): Promise<{ signer: Signer; publicJwk: Record<string, string> }> {
  const { publicKey, privateKey } = await generateKeyPair('Ed25519', { extractable: true });
  const { kty, crv, x } = await exportJWK(publicKey);
  const body = { id, alg: 'EdDSA', privateJwk: await exportJWK(privateKey) };
  await writeFile(file, `${JSON.stringify(body)}\n`, { mode: 0o600, flag: 'wx' });
  await chmod(file, 0o600);
  return {
    signer: { kid: id, alg: 'EdDSA', privateKey },
    publicJwk: { kty: kty as string, crv: crv as string, x: x as string },
  };
}

const json = (o: unknown) => new TextEncoder().encode(JSON.stringify(o));

export async function writePolicyDeployment(
  root: string,
  o: { admins?: number; threshold?: number } = {},
): Promise<PolicyDeployment> {
  const m = o.admins ?? 3;
  const k = o.threshold ?? 2;
  if (!Number.isInteger(m) || !Number.isInteger(k) || k < 1 || k > m || m > 64) {
    throw new MpcError('ERR_CONFIG_INVALID', 'admin threshold must be 1..admins, admins at most 64');
  }
  const dir = join(root, 'policy');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const admins = [];
  const adminKeys: string[] = [];
  for (let i = 1; i <= m; i++) {
    const file = join(dir, `admin-${i}.key`);
    admins.push({ id: `admin-${i}`, ...(await keyPair(file, `admin-${i}`)) });
    adminKeys.push(file);
  }
  const adminsFile = join(dir, 'admins.json');
  await writeFile(
    adminsFile,
    `${JSON.stringify({ threshold: k, admins: admins.map((a) => ({ id: a.id, publicKey: a.publicJwk })) }, null, 2)}\n`,
  );
  const initiatorId = 'initiator-1';
  const initiatorKey = join(dir, 'initiator.key');
  const initiator = await keyPair(initiatorKey, initiatorId);
  const quorum = admins.slice(0, k).map((a) => a.signer);
  const registry = {
    schema: 'mpc-custody/operators@1',
    version: 1,
    operators: [{ id: initiatorId, roles: ['initiator'], publicKey: initiator.publicJwk }],
  };
  const policy = {
    schema: 'mpc-custody/policy@1',
    version: 1,
    description: 'setup default: replace with real rules (a newer version signed by the admin quorum)',
    rules: [
      { id: 'no-raw-digest', match: { kinds: ['raw.digest'] }, action: 'block' },
      { id: 'initiators', match: { initiators: { roles: ['initiator'] } }, action: 'allow' },
    ],
  };
  const registryFile = join(dir, 'registry.json');
  const policyFile = join(dir, 'policy.json');
  await writeFile(registryFile, `${JSON.stringify(await signDocument(json(registry), REGISTRY_TYP, quorum))}\n`);
  await writeFile(policyFile, `${JSON.stringify(await signDocument(json(policy), POLICY_TYP, quorum))}\n`);
  return { dir, adminsFile, adminKeys, initiatorKey, initiatorId, registryFile, policyFile };
}
