/**
 * `npm run bench`: the math core's numbers, as tables on stdout and JSON in bench/results/.
 * Benchmarks are not tests: nothing here fails on a slow number; targets are reported side by side.
 *
 * Suites: math (steps 1–5), secp256k1, zk, storage, protocol, lifecycle, cosign, orchestrator, daemon.
 * `--no-<suite>` skips one;
 * `--only <suite>[,<suite>…]` runs just those (e.g. `--only daemon`). The daemon suite takes
 * `--daemon-signs N` (or MPC_BENCH_DAEMON_SIGNS=N) to scale its counts (default 200) and
 * `--daemon-policy enforce` (or MPC_BENCH_DAEMON_POLICY=enforce) to run its signs through the
 * co-signer check at every party (results in daemon-policy.json instead of daemon.json).
 */
import { availableParallelism, cpus, loadavg } from 'node:os';
import type { BackendName } from '../src/math/raw.js';
import { selectBackend } from '../src/math/select.js';
import { benchCosign, COSIGN_GOAL_US, cosignTable } from './cosign.js';
import { benchDaemon, daemonCounts, daemonTable, sourceState } from './daemon.js';
import { fmt, writeResults } from './lib.js';
import { benchLifecycle } from './lifecycle.js';
import { benchMath, type MathRow } from './math.js';
import {
  API_GOAL_MS,
  AUDIT_GOAL_MS,
  benchAuditPaired,
  benchOrchestrator,
  benchOrchestratorAudit,
  orchestratorMachine,
  orchestratorTable,
} from './orchestrator.js';
import { benchPaillier } from './paillier-peer.js';
import { benchPool } from './pool-scaling.js';
import { benchProtocol, type PhaseRow } from './protocol.js';
import { measureNativeSameInputs } from './raw-gmp.js';
import { benchSecp256k1 } from './secp256k1.js';
import { benchStorage } from './storage.js';
import { measureGmpWasm } from './wasm-peer.js';
import { benchZk, type ZkRow } from './zk.js';

const log = (line: string): void => console.log(line);

const SUITES = [
  'math',
  'secp256k1',
  'zk',
  'storage',
  'protocol',
  'lifecycle',
  'cosign',
  'orchestrator',
  'daemon',
] as const;
type Suite = (typeof SUITES)[number];

/** `--only a,b` runs just those suites; otherwise every suite not named by `--no-<suite>`. */
function enabledSuites(argv: readonly string[]): Set<Suite> {
  const at = argv.indexOf('--only');
  if (at >= 0) {
    const names = (argv[at + 1] ?? '').split(',').filter((x) => x.length > 0);
    const unknown = names.filter((n) => !(SUITES as readonly string[]).includes(n));
    if (names.length === 0 || unknown.length > 0) {
      throw new Error(`--only takes a comma-separated list of ${SUITES.join(', ')}`);
    }
    return new Set(names as Suite[]);
  }
  return new Set(SUITES.filter((s) => !argv.includes(`--no-${s}`)));
}

function pick(
  rows: readonly MathRow[],
  op: string,
  backend: string,
  modBits: number,
  expBits: number,
): number | undefined {
  return rows.find((r) => r.op === op && r.backend === backend && r.modBits === modBits && r.expBits === expBits)
    ?.msPerOp;
}

function fmtUs(us: number | undefined): string {
  return us === undefined ? 'n/a' : `${us.toFixed(0)} µs`;
}

async function main(): Promise<void> {
  const started = Date.now();
  const suites = enabledSuites(process.argv);
  log(
    `mpc-custody math benchmark — node ${process.version}, ${availableParallelism()} cores (${cpus()[0]?.model ?? '?'})`,
  );
  const selected = selectBackend({ log });
  const written: string[] = [];
  if (suites.has('math')) written.push(await benchMathSuite(selected.name));
  if (suites.has('secp256k1')) {
    log('\nsecp256k1 on the online signing path: candidates, then sign and decode per selectable backend');
    const secp = await benchSecp256k1(log);
    const rows = [...secp.ops, ...secp.sign];
    console.table(rows.map((r) => ({ backend: r.backend, operation: r.op, 'µs per op': r.usPerOp.toFixed(1) })));
    const signAt = (backend: string, t: number): number | undefined =>
      secp.sign.find((r) => r.backend === backend && r.op.startsWith(`online sign t=${t}`))?.usPerOp;
    const targets = {
      'online sign in process, t=2, ≤ 500 µs (native)': fmtUs(signAt('libsecp256k1', 2)),
      'online sign in process, t=2 (noble, before)': fmtUs(signAt('noble', 2)),
      'online sign in process, t=3 (native / noble)': `${fmtUs(signAt('libsecp256k1', 3))} / ${fmtUs(signAt('noble', 3))}`,
    };
    log('\ntargets (measured in this run):');
    console.table(targets);
    written.push(
      writeResults('secp256k1.json', {
        date: new Date().toISOString(),
        node: process.version,
        cores: availableParallelism(),
        cpu: cpus()[0]?.model,
        loadavg: loadavg(),
        ...secp,
        targets,
      }),
    );
  }
  if (suites.has('zk')) {
    log('\n[6/8] zero-knowledge proofs at the default security level (prove / verify per backend)');
    const zk: ZkRow[] = await benchZk(log);
    console.table(
      zk.map((r) => ({ proof: r.proof, backend: r.backend, 'prove ms': fmt(r.proveMs), 'verify ms': fmt(r.verifyMs) })),
    );
    written.push(writeResults('zk.json', { date: new Date().toISOString(), node: process.version, zk }));
  }
  if (suites.has('storage')) {
    log('\nstorage: seal/unseal per store (file store AES-256-GCM; PKCS#11 via SoftHSM2 when installed)');
    const storage = await benchStorage(log);
    written.push(writeResults('storage.json', { date: new Date().toISOString(), node: process.version, storage }));
  }
  if (suites.has('protocol')) {
    log('\n[7/8] protocol phases (native backend, all parties in one process; aux uses fixture primes)');
    const phases: PhaseRow[] = await benchProtocol(log);
    console.table(
      phases.map((r) => ({
        'n/t': `${r.n}/${r.t}`,
        phase: r.phase,
        'ms per party': r.perPartyMs.toFixed(1),
        'exponentiations per party':
          r.perParty.powm + r.perParty.powmSec + r.perParty.powmCrt + r.perParty.multiExp + r.perParty.batched,
      })),
    );
    written.push(writeResults('protocol.json', { date: new Date().toISOString(), node: process.version, phases }));
  }
  if (suites.has('lifecycle')) {
    log('\nkey lifecycle: refresh and reshare wall time, warm primes (fixture), all parties in one process');
    const lifecycle = benchLifecycle([3, 5], log);
    console.table(
      lifecycle.map((r) => ({
        'n/t': `${r.n}/${r.t}`,
        'refresh ms': fmt(r.refreshMs),
        'reshare dealing ms': fmt(r.reshareDealingMs),
        'reshare aux-info ms': fmt(r.reshareAuxMs),
      })),
    );
    written.push(
      writeResults('lifecycle.json', {
        date: new Date().toISOString(),
        node: process.version,
        cores: availableParallelism(),
        loadavg: loadavg(),
        lifecycle,
      }),
    );
  }
  if (suites.has('cosign')) {
    log(`\nco-signer check at a party (PolicyGuard.authorize over a PartyLedger; goal ≤ ${COSIGN_GOAL_US} µs p50)`);
    const cosign = await benchCosign(log);
    console.table(cosignTable(cosign));
    written.push(
      writeResults('cosign.json', {
        date: new Date().toISOString(),
        node: process.version,
        cores: availableParallelism(),
        cpu: cpus()[0]?.model,
        loadavg: loadavg(),
        goalUs: COSIGN_GOAL_US,
        cosign,
      }),
    );
  }
  if (suites.has('orchestrator')) {
    log(
      `\norchestrator REST API over loopback HTTP, backend answering at once (what the API adds; goal < ${API_GOAL_MS} ms p50)`,
    );
    const api = await benchOrchestrator(log);
    const withAudit = await benchOrchestratorAudit(log);
    console.table(orchestratorTable([...api, ...(withAudit ?? [])]));
    // what the audit log adds to a sequential request → signed: paired requests (benchAuditPaired)
    const paired = await benchAuditPaired(log);
    if (paired !== undefined) {
      log(
        `  the audit log adds ${paired.addsMs.toFixed(2)} ms p50 to request → signed (median of ${paired.pairs} paired differences; p50 ${paired.withoutP50Ms.toFixed(2)} → ${paired.withP50Ms.toFixed(2)} ms; goal ≤ ${AUDIT_GOAL_MS} ms)`,
      );
    }
    written.push(
      writeResults('orchestrator.json', {
        date: new Date().toISOString(),
        node: process.version,
        ...orchestratorMachine(),
        goalMs: API_GOAL_MS,
        api,
        ...(withAudit === undefined ? {} : { withAudit }),
        ...(paired === undefined
          ? {}
          : { auditPaired: paired, auditAddsMs: paired.addsMs, auditGoalMs: AUDIT_GOAL_MS }),
      }),
    );
  }
  if (suites.has('daemon')) {
    log('\n[8/8] party daemons end to end: 3 processes over a loopback nats-server (TLS, nkeys), native backend');
    const source = sourceState(); // at the start: dist/ should be built from this state
    const counts = daemonCounts();
    if (counts.policy === 'enforce') log('daemon: policy enforced at every party (--daemon-policy enforce)');
    const daemon = await benchDaemon(log, counts);
    console.table(daemonTable(daemon));
    written.push(
      writeResults(counts.policy === 'enforce' ? 'daemon-policy.json' : 'daemon.json', {
        date: new Date().toISOString(),
        node: process.version,
        cores: availableParallelism(),
        cpu: cpus()[0]?.model,
        source,
        ...daemon,
      }),
    );
  }
  log(`\nresults written to ${written.join(', ') || 'nowhere'} (${((Date.now() - started) / 1000).toFixed(0)} s)`);
}

/** Steps 1–5: operations, raw GMP, wasm peers, Paillier peers, pool scaling; writes math.json. */
async function benchMathSuite(selected: BackendName): Promise<string> {
  log('\n[1/8] operations × sizes × backends');
  const math = await benchMath(log);

  log('\n[2/8] raw GMP (C harness, same operand sizes) vs the native addon');
  const gmpCases = [
    { modBits: 1536, expBits: 1536, iterations: 200 },
    { modBits: 3072, expBits: 3072, iterations: 40 },
    { modBits: 6144, expBits: 3072, iterations: 20 },
    { modBits: 6144, expBits: 256, iterations: 200 },
  ];
  const ratios = await measureNativeSameInputs(gmpCases);
  console.table(
    ratios.map((r) => ({
      shape: `${r.modBits}/${r.expBits}`,
      op: r.op,
      'raw GMP ms': fmt(r.rawMsPerOp),
      'native ms': fmt(r.backendMsPerOp),
      'native/raw': r.ratio.toFixed(3),
    })),
  );

  log('\n[3/8] wasm peers: our wasm32 build vs gmp-wasm (GMP compiled to wasm) vs js');
  const peer = await measureGmpWasm(
    gmpCases.map((c) => ({ ...c, iterations: Math.max(3, Math.floor(c.iterations / 10)) })),
  );
  const wasmRows = gmpCases.map((c) => {
    const ours = pick(math, 'powm', 'wasm', c.modBits, c.expBits);
    const js = pick(math, 'powm', 'js', c.modBits, c.expBits);
    const gw = peer.find((p) => p.modBits === c.modBits && p.expBits === c.expBits && p.op === 'powm')?.msPerOp;
    return {
      shape: `${c.modBits}/${c.expBits}`,
      'wasm (ours) ms': ours === undefined ? 'n/a' : fmt(ours),
      'gmp-wasm ms': gw === undefined ? 'n/a' : fmt(gw),
      'js ms': js === undefined ? 'n/a' : fmt(js),
      'js/wasm': ours !== undefined && js !== undefined ? (js / ours).toFixed(2) : 'n/a',
    };
  });
  console.table(wasmRows);

  log('\n[4/8] Paillier-shaped work at 3072-bit N vs paillier-bigint');
  const paillierRows = await benchPaillier(log);

  log(`\n[5/8] worker pool scaling (${selected} backend)`);
  const pool = await benchPool(selected, log);

  log('\nmath table (ms per operation):');
  const table = new Map<string, Record<string, string>>();
  for (const r of math) {
    const key = `${r.op} ${r.modBits}${r.expBits === undefined ? '' : `/${r.expBits}`}`;
    const row = table.get(key) ?? { operation: key };
    row[r.backend] = fmt(r.msPerOp);
    table.set(key, row);
  }
  console.table([...table.values()]);

  const js3072 = pick(math, 'powm', 'js', 3072, 3072);
  const wasm3072 = pick(math, 'powm', 'wasm', 3072, 3072);
  const targets = {
    'native/raw GMP ≤ 1.1 (worst shape)': Math.max(...ratios.map((r) => r.ratio)).toFixed(3),
    'wasm ≥ 3× js at 3072/3072': js3072 && wasm3072 ? (js3072 / wasm3072).toFixed(2) : 'n/a',
    '6144/3072 native vs raw GMP':
      ratios.find((r) => r.modBits === 6144 && r.expBits === 3072 && r.op === 'powm')?.ratio.toFixed(3) ?? 'n/a',
    'pool 1→2 workers ≥ 1.8×': pool[1]?.speedup.toFixed(2) ?? 'n/a',
  };
  log('\ntargets (measured in this run):');
  console.table(targets);
  return writeResults('math.json', {
    date: new Date().toISOString(),
    node: process.version,
    cores: availableParallelism(),
    cpu: cpus()[0]?.model,
    selected,
    math,
    rawGmp: ratios,
    wasmPeers: peer,
    paillier: paillierRows,
    pool,
    targets,
  });
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
