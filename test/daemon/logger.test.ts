import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLogger, type Logger, sanitize, scrubMessage } from '../../src/daemon/logger.js';
import { MpcError } from '../../src/errors/index.js';
import { tempDir } from '../storage/helpers.js';

/** A secret-looking 256-bit value, as a key share or seed would be written. */
const SECRET_HEX = `${'c0ffee'.repeat(10)}beef`;
const SECRET_BIG = BigInt(`0x${SECRET_HEX}`);
const SECRET_DEC = SECRET_BIG.toString(10);

// biome-ignore lint/suspicious/noExplicitAny: parsed log lines, asserted field by field
type Line = Record<string, any>;

interface Capture {
  log: Logger;
  raw: () => string;
  lines: () => Line[];
  /** The i-th line; fails the test when there is none. */
  line: (i: number) => Line;
}

function capture(level = 'trace', party: number | undefined = 2): Capture {
  const chunks: string[] = [];
  const log = createLogger({ level, party, destination: { write: (s: string) => void chunks.push(s) } });
  const lines = (): Line[] =>
    chunks
      .join('')
      .split('\n')
      .filter((l) => l.length > 0)
      .map((l) => JSON.parse(l) as Line);
  const line = (i: number): Line => {
    const l = lines()[i];
    if (l === undefined) throw new Error(`no log line ${i}`);
    return l;
  };
  return { log, raw: () => chunks.join(''), lines, line };
}

/** No trace of the secret in any encoding we might have let through. */
function expectNoSecret(raw: string): void {
  expect(raw).not.toContain(SECRET_HEX);
  expect(raw).not.toContain(SECRET_HEX.slice(0, 32));
  expect(raw).not.toContain(SECRET_DEC.slice(0, 20));
}

describe('daemon logger (pino, JSON lines, secrets never logged)', () => {
  it('writes one JSON object per line with the base fields { party, name }, level labels and no pid/hostname', () => {
    const c = capture('info', 3);
    c.log.info({ sessionId: 's-1', round: 'r2' }, 'round complete');
    c.log.debug('not written at info');
    expect(c.lines()).toHaveLength(1);
    const line = c.line(0);
    expect(line).toMatchObject({ level: 'info', party: 3, name: 'mpc-custody', sessionId: 's-1', round: 'r2' });
    expect(line.msg).toBe('round complete');
    expect(typeof line.time).toBe('number');
    expect(line).not.toHaveProperty('pid');
    expect(line).not.toHaveProperty('hostname');
    expect(c.raw().endsWith('\n')).toBe(true);
  });

  it('redacts share, seed and nested key (and deeper secret names) so the hex never appears', () => {
    const c = capture();
    c.log.info(
      {
        keyId: 'w1',
        share: SECRET_HEX,
        seed: SECRET_HEX,
        ctx: { key: SECRET_HEX, inner: { privateKey: SECRET_HEX, passphrase: 'hunter2-hunter2' } },
        deep: { a: { b: { c: { chi: SECRET_HEX, Shares: [SECRET_HEX] } } } },
        parties: [{ x: SECRET_HEX, index: 1 }],
      },
      'stored',
    );
    const line = c.line(0);
    expect(line.share).toBe('[redacted]');
    expect(line.seed).toBe('[redacted]');
    expect(line.ctx.key).toBe('[redacted]');
    expect(line.ctx.inner.privateKey).toBe('[redacted]');
    expect(line.ctx.inner.passphrase).toBe('[redacted]');
    expect(line.deep.a.b.c).toEqual({ chi: '[redacted]', Shares: '[redacted]' });
    expect(line.parties).toEqual([{ x: '[redacted]', index: 1 }]);
    expect(line.keyId).toBe('w1'); // identifiers stay readable
    expectNoSecret(c.raw());
    expect(c.raw()).not.toContain('hunter2');
  });

  it('logs an MpcError as { code, category, message, blame, details } only: no cause, no stack', () => {
    const c = capture();
    const cause = new Error(`share was ${SECRET_HEX}`);
    (cause as { share?: bigint }).share = SECRET_BIG;
    const err = new MpcError('ERR_PROTOCOL_ABORT', 'party 2 sent an invalid proof', {
      cause,
      blame: [{ party: 2, msgIds: ['m-7'], reason: 'ERR_ZK_PROOF_INVALID' }],
      details: { round: 'r2', count: 3, ok: false, smuggled: { v: SECRET_HEX } as unknown as string },
    });
    c.log.error(err);
    c.log.error({ err, sessionId: 's-2' }, 'session aborted');
    const [a, b] = [c.line(0), c.line(1)];
    const expected = {
      code: 'ERR_PROTOCOL_ABORT',
      category: 'aborted',
      message: 'ERR_PROTOCOL_ABORT: party 2 sent an invalid proof',
      blame: [{ party: 2, msgIds: ['m-7'], reason: 'ERR_ZK_PROOF_INVALID' }],
      details: { round: 'r2', count: 3, ok: false },
    };
    expect(a.err).toEqual(expected);
    expect(a.msg).toBe('ERR_PROTOCOL_ABORT: party 2 sent an invalid proof');
    expect(b.err).toEqual(expected);
    expect(b.msg).toBe('session aborted');
    expect(c.raw()).not.toContain('"cause"');
    expect(c.raw()).not.toContain('"stack"');
    expect(c.raw()).not.toContain('    at ');
    expectNoSecret(c.raw());
  });

  it('scrubs value-bearing messages of other errors (a BigInt parse error quotes its input)', () => {
    const c = capture();
    let thrown: unknown;
    try {
      BigInt(`0x${SECRET_HEX}zz`);
    } catch (e) {
      thrown = e;
    }
    expect(String((thrown as Error).message)).toContain(SECRET_HEX); // the hazard is real
    c.log.warn(thrown as Error);
    c.log.warn({ err: thrown, also: thrown });
    c.log.warn({ err: Object.assign(new Error('open failed'), { code: 'ENOENT', path: '/x' }) });
    const [a, b, d] = [c.line(0), c.line(1), c.line(2)];
    expect(a.err).toEqual({ type: 'SyntaxError', message: expect.stringContaining('[redacted]') });
    expect(a.msg).toContain('[redacted]');
    expect(b.also).toEqual(a.err);
    expect(d.err).toEqual({ type: 'Error', message: 'open failed', code: 'ENOENT' });
    expectNoSecret(c.raw());
    expect(c.raw()).not.toContain('"stack"');
  });

  it('does not crash on bigint anywhere, and never prints its digits', () => {
    const c = capture();
    expect(() => {
      c.log.info({ n: SECRET_BIG, nested: { list: [1n, SECRET_BIG], m: { z: SECRET_BIG } } }, 'numbers');
      c.log.info('interpolated %s and %j and %o', SECRET_BIG, { v: SECRET_BIG }, SECRET_BIG);
      c.log.child({ sessionId: 's-3', epoch: SECRET_BIG }).info('child with a bigint binding');
      c.log.error({ err: new MpcError('ERR_MATH_TYPE', 'x must be a bigint') }, 'math');
    }).not.toThrow();
    const [a, b, d] = [c.line(0), c.line(1), c.line(2)];
    expect(a.n).toBe('[bigint]');
    expect(a.nested).toEqual({ list: ['[bigint]', '[bigint]'], m: { z: '[bigint]' } });
    expect(b.msg).toContain('interpolated [bigint]');
    expect(d).toMatchObject({ sessionId: 's-3', epoch: '[bigint]' });
    expect(c.lines()).toHaveLength(4);
    expectNoSecret(c.raw());
  });

  it('prints bytes as their length, child bindings and circular values safely', () => {
    const c = capture();
    const cyc: Record<string, unknown> = { name: 'loop' };
    cyc.self = cyc;
    const secretBytes = Buffer.from(SECRET_HEX, 'hex');
    c.log.info({ frame: secretBytes, view: new Uint8Array(secretBytes), cyc, when: new Date(0) });
    const child = c.log.child({ share: SECRET_HEX, peer: { seed: SECRET_HEX } });
    child.child({ round: 'r1' }).info('grandchild');
    const [a, b] = [c.line(0), c.line(1)];
    expect(a).toMatchObject({ frame: '[bytes 32]', view: '[bytes 32]', when: '1970-01-01T00:00:00.000Z' });
    expect(a.cyc).toEqual({ name: 'loop', self: '[circular]' });
    expect(b).toMatchObject({ share: '[redacted]', peer: { seed: '[redacted]' }, round: 'r1', msg: 'grandchild' });
    expectNoSecret(c.raw());
    expect(c.raw()).not.toContain(secretBytes.toString('base64'));
  });

  it('sanitize and scrubMessage are pure helpers', () => {
    const input = { k: 1n, ok: 'yes', list: [2n] };
    expect(sanitize(input)).toEqual({ k: '[redacted]', ok: 'yes', list: ['[bigint]'] });
    expect(input.list[0]).toBe(2n); // input untouched
    expect(scrubMessage(`bad value ${SECRET_DEC} and 0x${SECRET_HEX}`)).toBe('bad value [redacted] and [redacted]');
    expect(scrubMessage('ERR_LEDGER_IO: ledger consume failed')).toBe('ERR_LEDGER_IO: ledger consume failed');
  });

  it('writes to a file descriptor', () => {
    const t = tempDir('logger');
    try {
      const path = join(t.dir, 'daemon.log');
      const fd = openSync(path, 'w');
      const log = createLogger({ destination: fd, name: 'party-daemon' });
      log.info({ seed: SECRET_HEX }, 'to a file');
      log.flush();
      closeSync(fd);
      const [line] = readFileSync(path, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      expect(line).toMatchObject({ level: 'info', name: 'party-daemon', seed: '[redacted]', msg: 'to a file' });
      expect(line).not.toHaveProperty('party');
    } finally {
      t.cleanup();
    }
  });

  it('refuses an unknown level, party or destination with ERR_CONFIG_INVALID', () => {
    const bad = expect.objectContaining({ code: 'ERR_CONFIG_INVALID' });
    expect(() => createLogger({ level: 'verbose' })).toThrow(bad);
    expect(() => createLogger({ level: 'constructor' })).toThrow(bad);
    expect(() => createLogger({ party: -1 })).toThrow(bad);
    expect(() => createLogger({ destination: -3 })).toThrow(bad);
    expect(() => createLogger({ destination: {} as never })).toThrow(bad);
    expect(() => createLogger({ level: 'silent', destination: { write: () => undefined } })).not.toThrow();
  });
});
