import { type ChildProcess, fork } from 'node:child_process';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isMpcError } from '../../src/errors/index.js';
import { PartyLedger } from '../../src/storage/party-ledger.js';
import { SoftwareSealer } from '../../src/storage/software-sealer.js';
import { compileCrashChild, tempDir } from './helpers.js';

const sealer = (): SoftwareSealer => new SoftwareSealer(Buffer.alloc(32, 0x42));
const payload = (id: string): Buffer => Buffer.from(`presignature secret k_i chi_i of ${id} `.repeat(3));

/** One child process holding the ledger open; commands and replies go over IPC, one at a time. */
class Racer {
  readonly #child: ChildProcess;
  #stderr = '';
  #waiting: { resolve: (m: unknown) => void; reject: (e: Error) => void } | undefined;
  readonly exited: Promise<number | null>;

  constructor(script: string, path: string) {
    this.#child = fork(script, [path], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    this.#child.stderr?.on('data', (d: Buffer) => {
      this.#stderr += d.toString();
    });
    this.#child.on('message', (m) => {
      const w = this.#waiting;
      this.#waiting = undefined;
      w?.resolve(m);
    });
    this.exited = new Promise((resolve) => {
      this.#child.on('exit', (code) => {
        this.#waiting?.reject(new Error(`race child exited (${code}): ${this.#stderr}`));
        resolve(code);
      });
    });
  }

  /** The next message from the child (the first one is `ready`). */
  next(): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.#waiting = { resolve, reject };
    });
  }

  async ask(command: object): Promise<unknown> {
    const reply = this.next();
    this.#child.send(command);
    return reply;
  }

  async exit(): Promise<number | null> {
    if (this.#child.connected) this.#child.send({ op: 'exit' });
    return this.exited;
  }

  kill(): void {
    if (this.#child.exitCode === null) this.#child.kill('SIGKILL');
  }

  get stderr(): string {
    return this.#stderr;
  }
}

/** Stored presignatures (UPDATE path) interleaved with ids the ledger never saw (tombstone INSERT path). */
async function setupLedger(path: string, count: number): Promise<string[]> {
  const ids = Array.from({ length: count }, (_, i) => (i % 2 === 0 ? `p${i}` : `unknown-${i}`));
  const setup = PartyLedger.open(path, 1, { sealer: sealer() });
  for (const id of ids) if (id.startsWith('p')) await setup.addPresignature(id, 'w1', payload(id));
  setup.close();
  return ids;
}

/** Every id: exactly one `ok`, all the others `used`, nothing else (e.g. no escaped SQLITE_BUSY). */
function expectExactlyOnce(ids: readonly string[], results: ReadonlyArray<Record<string, string>>): void {
  const wrong: string[] = [];
  for (const id of ids) {
    const got = results.map((r) => r[id]);
    const ok = got.filter((g) => g === 'ok').length;
    const used = got.filter((g) => g === 'used').length;
    if (ok !== 1 || used !== results.length - 1) wrong.push(`${id}: ${got.join(' ')}`);
  }
  expect(wrong).toEqual([]);
}

async function expectAllConsumed(path: string, ids: readonly string[]): Promise<void> {
  const l = PartyLedger.open(path, 1, { sealer: sealer() });
  try {
    expect(l.listAvailable()).toEqual([]);
    for (const id of ids) {
      expect(l.isConsumed(id)).toBe(true);
      expect(await l.loadPresignature(id)).toBeUndefined();
      expect(() => l.consume(id)).toThrow(expect.objectContaining({ code: 'ERR_PRESIGNATURE_USED' }));
    }
  } finally {
    l.close();
  }
}

describe('separate processes racing to consume the same presignatures in one ledger file', () => {
  let compiled: { script: string; cleanup: () => void };
  const t = tempDir('ledger-race');
  beforeAll(() => {
    compiled = compileCrashChild('race-child.ts');
  });
  afterAll(() => {
    compiled?.cleanup();
    t.cleanup();
  });

  async function withRacers(n: number, path: string, fn: (rs: Racer[]) => Promise<void>): Promise<void> {
    const rs = Array.from({ length: n }, () => new Racer(compiled.script, path));
    try {
      // The start barrier: every child has the ledger open before any command is sent.
      expect(await Promise.all(rs.map((r) => r.next()))).toEqual(rs.map(() => 'ready'));
      await fn(rs);
      const codes = await Promise.all(rs.map((r) => r.exit()));
      expect(codes, rs.map((r) => r.stderr).join('\n')).toEqual(rs.map(() => 0));
    } finally {
      for (const r of rs) r.kill();
    }
  }

  for (const n of [2, 3]) {
    it(`lockstep, ${n} processes: each id is sent to all at once; exactly one consumes it, the others get ERR_PRESIGNATURE_USED`, async () => {
      const path = join(t.dir, `lockstep-${n}`, 'ledger.db');
      const ids = await setupLedger(path, 50);
      const results: Array<Record<string, string>> = Array.from({ length: n }, () => ({}));
      await withRacers(n, path, async (rs) => {
        for (const id of ids) {
          const replies = (await Promise.all(rs.map((r) => r.ask({ op: 'consume', id })))) as Array<{
            id: string;
            result: string;
          }>;
          replies.forEach((reply, i) => {
            expect(reply.id).toBe(id);
            results[i]![id] = reply.result;
          });
        }
      });
      expectExactlyOnce(ids, results);
      await expectAllConsumed(path, ids);
    });
  }

  it('free-running, 2 processes: both loop over all ids (from different starting points) as fast as they can', async () => {
    const path = join(t.dir, 'free', 'ledger.db');
    const ids = await setupLedger(path, 50);
    let results: Array<Record<string, string>> = [];
    await withRacers(2, path, async (rs) => {
      const orders = [ids, [...ids.slice(25), ...ids.slice(0, 25)]];
      const replies = await Promise.all(rs.map((r, i) => r.ask({ op: 'run', ids: orders[i] })));
      results = (replies as Array<{ results: Record<string, string> }>).map((r) => r.results);
    });
    expectExactlyOnce(ids, results);
    await expectAllConsumed(path, ids);
  });

  // Takes the ledger's busy timeout (5 s): the lock holder never lets go in time.
  it('a consume that cannot get the write lock in time fails closed: ERR_LEDGER_BUSY, still available', async () => {
    const path = join(t.dir, 'busy', 'ledger.db');
    const [id] = (await setupLedger(path, 1)) as [string];
    const l = PartyLedger.open(path, 1, { sealer: sealer() });
    const steps: string[] = [];
    const stepping = PartyLedger.open(path, 1, { onConsumeStep: (s) => steps.push(s) });
    const holder = new Database(path, { timeout: 0 });
    try {
      holder.exec('BEGIN IMMEDIATE'); // another writer holds the lock past the busy timeout
      let err: unknown;
      try {
        stepping.consume(id);
      } catch (e) {
        err = e;
      }
      expect(isMpcError(err, 'ERR_LEDGER_BUSY')).toBe(true);
      expect((err as { details: Record<string, unknown> }).details.sqlite).toMatch(/^SQLITE_BUSY/);
      expect(steps).toEqual(['begin']); // never reached 'committed': no partial signature may leave
      holder.exec('ROLLBACK');
      expect(l.isConsumed(id)).toBe(false);
      expect((await l.loadPresignature(id))?.equals(payload(id))).toBe(true);
      l.consume(id);
      expect(() => l.consume(id)).toThrow(expect.objectContaining({ code: 'ERR_PRESIGNATURE_USED' }));
    } finally {
      if (holder.inTransaction) holder.exec('ROLLBACK');
      holder.close();
      stepping.close();
      l.close();
    }
  });
});
