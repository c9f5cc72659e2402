/**
 * The party-side co-signer check (issue #14: "adds ≤ 0.3 ms p50 to a partial signature"):
 * `PolicyGuard.authorize` over a real PartyLedger in a temp dir, with the reference policy
 * (test/fixtures/policy/reference-policy.yaml, 24 rules, three velocity rules) and a registry of
 * Ed25519 operators. Each sample is what a party runs per partial signature: `authorize`, then
 * `commit`'s synchronous velocity re-check (the ledger consume replaced by a no-op). Cases, each
 * with a new signed request per sign (more requests than the token cache holds, so every JWS is
 * verified): an allowed EIP-1559 transfer with no approvals; one that needs two approval
 * statements; the allowed one over ~1000 spends in the velocity window. And the same request
 * again (another PSBT input, a retry), whose tokens the guard verified before. The payload is
 * decoded before the check, as the daemon's sign path decodes it for the digest anyway and hands
 * the decoding to the guard.
 *
 * The setup mirrors test/daemon/cosign-guard.test.ts (copied here: bench/ is built, test/ is not).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hexToBytes } from '@noble/hashes/utils.js';
import { exportJWK, generateKeyPair } from 'jose';
import { Bench } from 'tinybench';
import { serializeTransaction } from 'viem';
import { parse as parseYaml } from 'yaml';
import { decodePayload } from '../src/chains/index.js';
import type { SignAuthorization } from '../src/daemon/control.js';
import { PolicyGuard, type SignCheck } from '../src/daemon/policy-guard.js';
import {
  DEFAULT_JWS_CACHE_ENTRIES,
  loadAdminSet,
  POLICY_TYP,
  payloadDigest,
  REGISTRY_TYP,
  requestDigest,
  type Signer,
  signApproval,
  signDocument,
  signSignRequest,
} from '../src/policy/index.js';
import { PartyLedger } from '../src/storage/party-ledger.js';
import { packageRoot } from '../src/util/package-root.js';

export interface CosignRow {
  readonly case: string;
  readonly p50Us: number;
  readonly p99Us: number;
  readonly meanUs: number;
  readonly samples: number;
}

/** Issue #14's budget for the check, per partial signature. */
export const COSIGN_GOAL_US = 300;
const SPENDS_IN_WINDOW = 1000;
/** Distinct requests per case: more than the guard's token cache holds (DEFAULT_JWS_CACHE_ENTRIES). */
const FRESH_REQUESTS = DEFAULT_JWS_CACHE_ENTRIES + 100;

type Key = Signer & { publicJwk: Record<string, unknown> };
async function makeKey(kid: string): Promise<Key> {
  const { publicKey, privateKey } = await generateKeyPair('Ed25519', { extractable: true });
  const { kty, crv, x } = await exportJWK(publicKey);
  return { kid, alg: 'EdDSA', privateKey, publicJwk: { kty, crv, x } };
}

const bytes = (o: unknown) => new TextEncoder().encode(JSON.stringify(o));
const ETH = 10n ** 18n;
const EXCHANGE = '0x1111111111111111111111111111111111111111'; // whitelisted (addressBook exchanges)
const OTHER = '0x4444444444444444444444444444444444444444'; // one-time: two treasury approvals
let nonce = 0;
const tx = (to: `0x${string}`, wei: bigint) =>
  hexToBytes(
    serializeTransaction({
      type: 'eip1559',
      chainId: 1,
      nonce: nonce++,
      to,
      value: wei,
      gas: 21_000n,
      maxFeePerGas: 30_000_000_000n,
      maxPriorityFeePerGas: 1_000_000_000n,
    }).slice(2),
  );

/** p50/p99 of one async task with tinybench (latency samples in ms). */
async function timeTask(name: string, fn: () => Promise<unknown>, timeMs: number): Promise<CosignRow> {
  const bench = new Bench({ time: timeMs, iterations: 200, warmup: true, warmupIterations: 50, warmupTime: 0 });
  bench.add(name, fn);
  await bench.run();
  const r = bench.tasks[0]?.result;
  if (r === undefined || r.state !== 'completed') {
    const cause = r !== undefined && 'error' in r ? r.error : undefined;
    throw new Error(`benchmark ${name} did not complete`, { cause });
  }
  const l = r.latency;
  return { case: name, p50Us: l.p50 * 1000, p99Us: l.p99 * 1000, meanUs: l.mean * 1000, samples: l.samplesCount };
}

export async function benchCosign(log: (line: string) => void, timeMs = 1500): Promise<CosignRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'mpc-bench-cosign-'));
  // opened as the party daemon opens it (src/daemon/main.ts): exclusive, WAL
  const ledger = PartyLedger.open(join(dir, 'ledger.db'), 0, { exclusive: true });
  try {
    const admins = await Promise.all(['a1', 'a2', 'a3', 'a4', 'a5'].map((id) => makeKey(id)));
    const adminSet = await loadAdminSet({
      threshold: 3,
      admins: admins.map((a) => ({ id: a.kid, publicKey: a.publicJwk })),
    });
    const [alice, tom, tina, carol, sam] = await Promise.all(
      ['alice', 'tom', 'tina', 'carol', 'sam'].map((id) => makeKey(id)),
    );
    if (alice === undefined || tom === undefined || tina === undefined || carol === undefined || sam === undefined)
      throw new Error('operator keys');
    const registry = {
      schema: 'mpc-custody/operators@1',
      version: 1,
      operators: [
        { id: 'alice', roles: ['initiator'], publicKey: alice.publicJwk },
        { id: 'tom', roles: ['approver'], groups: ['treasury'], publicKey: tom.publicJwk },
        { id: 'tina', roles: ['approver'], groups: ['treasury'], publicKey: tina.publicJwk },
        { id: 'carol', roles: ['approver'], publicKey: carol.publicJwk },
        { id: 'sam', roles: ['approver'], groups: ['security'], publicKey: sam.publicJwk },
      ],
    };
    const policy = parseYaml(
      readFileSync(join(packageRoot(), 'test', 'fixtures', 'policy', 'reference-policy.yaml'), 'utf8'),
    ) as unknown;
    const guard = new PolicyGuard({ mode: 'enforce', admins: adminSet }, ledger);
    await guard.accept('registry', bytes(await signDocument(bytes(registry), REGISTRY_TYP, admins.slice(0, 3))));
    const held = await guard.accept('policy', bytes(await signDocument(bytes(policy), POLICY_TYP, admins.slice(2))));

    const now = Math.floor(Date.now() / 1000);
    let idem = 0;
    const prepare = async (to: `0x${string}`, wei: bigint, approvers: Key[]): Promise<SignCheck> => {
      const payload = tx(to, wei);
      const signedRequest = await signSignRequest(
        {
          v: 1,
          keyId: 'hot',
          kind: 'eth.transaction',
          payloadSha256: payloadDigest(payload),
          path: [0, 7],
          idempotencyKey: `bench-${idem++}`,
          iat: now - 5,
          exp: now + 3600,
        },
        alice,
      );
      const approvals = await Promise.all(
        approvers.map((by) =>
          signApproval(
            {
              request: requestDigest(signedRequest),
              decision: 'approve',
              policyVersion: held.version,
              iat: now - 2,
              exp: now + 3600,
            },
            by,
          ),
        ),
      );
      const authorization: SignAuthorization = { signedRequest, policyVersion: held.version, approvals };
      // decoded as the daemon's sign path decodes it for the digest, before the check (not the check's cost)
      const decoded = decodePayload('eth.transaction', payload, { network: 'mainnet' });
      return {
        keyId: 'hot',
        kind: 'eth.transaction',
        payload,
        network: 'mainnet',
        authorization,
        key: undefined,
        decoded,
      };
    };
    // 1 ETH ($2000 at the policy's price) to a whitelisted exchange: rule `whitelisted`, no approvals.
    // 2 ETH ($4000) elsewhere: rule `one-time`, two treasury approvals (below the night rule's $10k).
    const allowed = await prepare(EXCHANGE, ETH, []);
    const approved = await prepare(OTHER, 2n * ETH, [tom, tina]);
    const expect = async (c: SignCheck, rule: string): Promise<void> => {
      const permit = await guard.authorize(c, now);
      if (permit?.ruleId !== rule) throw new Error(`cosign bench: expected rule ${rule}, got ${permit?.ruleId}`);
    };
    await expect(allowed, 'whitelisted');
    await expect(approved, 'one-time');
    // Each sign of a new request brings new tokens: more distinct requests than the guard's cache of
    // verified tokens holds, used in turn, so every signature is verified (no cache hit).
    const fresh = async (to: `0x${string}`, wei: bigint, approvers: Key[]): Promise<SignCheck[]> => {
      const out: SignCheck[] = [];
      for (let i = 0; i < FRESH_REQUESTS; i++) out.push(await prepare(to, wei, approvers));
      return out;
    };
    const allowedPool = await fresh(EXCHANGE, ETH, []);
    const approvedPool = await fresh(OTHER, 2n * ETH, [tom, tina]);

    const rows: CosignRow[] = [];
    // What a party runs per partial signature: authorize, then commit's synchronous re-check (the
    // consume itself is the ledger's fsynced transaction, timed by the daemon bench: here a no-op).
    const run = async (name: string, checks: readonly SignCheck[]): Promise<void> => {
      let k = 0;
      const row = await timeTask(
        name,
        async () => {
          const c = checks[k++ % checks.length] as SignCheck;
          guard.commit(await guard.authorize(c, now), () => false);
        },
        timeMs,
      );
      rows.push(row);
      log(
        `  ${name.padEnd(60)} p50 ${row.p50Us.toFixed(0).padStart(5)} µs  p99 ${row.p99Us.toFixed(0).padStart(5)} µs  (${row.samples} samples)`,
      );
    };
    await run('allowed EIP-1559 transfer, no approvals', allowedPool);
    await run('transfer with 2 approval statements', approvedPool);
    await run('same request again (PSBT input, retry): tokens cached', [approved]);

    // ~1000 earlier spends of 0.01 ETH within the last hour (under every velocity cap), written
    // as the daemon writes them: with a consume
    for (let i = 0; i < SPENDS_IN_WINDOW; i++) {
      const request = requestDigest(`bench.spend.${i}`);
      ledger.consume(`bench-spend-${i}`, undefined, {
        request,
        at: now - 1 - (i % 3000),
        keyId: 'hot',
        initiator: 'alice',
        transfers: [{ asset: 'ETH', destination: i % 2 === 0 ? EXCHANGE : OTHER, amount: ETH / 100n }],
      });
    }
    if (ledger.spendsSince(now - 3600).length < SPENDS_IN_WINDOW) throw new Error('cosign bench: history not written');
    await expect(allowed, 'whitelisted');
    await run(`allowed transfer, ${SPENDS_IN_WINDOW} spends in the window`, allowedPool);
    return rows;
  } finally {
    ledger.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The table printed beside the goal. */
export function cosignTable(rows: readonly CosignRow[]): Array<Record<string, string>> {
  return rows.map((r) => ({
    case: r.case,
    'p50 µs': r.p50Us.toFixed(0),
    'p99 µs': r.p99Us.toFixed(0),
    [`≤ ${COSIGN_GOAL_US} µs p50`]: r.p50Us <= COSIGN_GOAL_US ? 'yes' : 'NO',
  }));
}
