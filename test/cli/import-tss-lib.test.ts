/**
 * `mpc-custody import tss-lib` (issue #19) against a party's real sealed file store, no NATS: the
 * fixture save file is validated, sealed as a staged import (read back, no plaintext Xi anywhere in
 * the data directory) and the plaintext file overwritten and removed; --keep-source leaves it. Every
 * bad input — mismatched Ks, an off-curve BigXj, an Xi that does not match, a wrong curve name,
 * truncated JSON, an oversize file, a file imported twice, a key id already held — is a typed
 * refusal naming the problem, with nothing stored and the source file left alone.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from '../../src/cli/command.js';
import { importDiscard, importTssLib } from '../../src/cli/import-command.js';
import { setupPartySet } from '../../src/daemon/setup.js';
import { loadStagedImport } from '../../src/daemon/tss-lib-staging.js';
import {
  MAX_TSS_LIB_SAVE_BYTES,
  parseTssLibSaveData,
  tssLibPublicDataHash,
} from '../../src/protocol/tss-lib-import.js';
import { openFileSecretStore } from '../../src/storage/file-store.js';
import { syntheticSaveFiles } from '../protocol/tss-lib-synthetic.js';
import { scanForPlaintext, tempDir } from '../storage/helpers.js';

const fixture = (k: number) => new URL(`../fixtures/tss-lib-ecdsa/keygen_data_${k}.json`, import.meta.url).pathname;
const text = (k: number) => readFileSync(fixture(k), 'utf8');

let dir: string;
let cleanup: () => void;
let configs: string[];

beforeAll(async () => {
  ({ dir, cleanup } = tempDir('import-cli'));
  const setup = await setupPartySet({ dir, parties: 3, natsPort: 4222, httpBasePort: 0, math: 'js', policy: 'off' });
  configs = setup.partyConfigs as string[];
});
afterAll(() => cleanup?.());

async function cli(cmd: typeof importTssLib, args: string[]): Promise<{ exit: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const exit = await runCommand(cmd, args, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { exit, out: out.join('\n'), err: err.join('\n') };
}

/** The party's stored share ids (headers only). */
async function held(party: number): Promise<string[]> {
  const pdir = join(dir, `party-${party}`);
  const store = await openFileSecretStore({ dir: pdir, keyFile: join(pdir, 'store.key') });
  try {
    return (await store.listShares()).map((s) => s.keyId);
  } finally {
    await store.close();
  }
}

/** A copy of `content` in the test directory (the command removes what it imports). */
function saveFile(name: string, content: string): string {
  const p = join(dir, name);
  writeFileSync(p, content, { mode: 0o600 });
  return p;
}

/** Edits one field of a fixture file (big numbers kept as text). */
const edit = (k: number, f: (doc: Record<string, unknown>) => void): string => {
  const doc = JSON.parse(text(k).replace(/(?<=[:[,]\s*)(\d{10,})/g, '"$1"')) as Record<string, unknown>;
  f(doc);
  return JSON.stringify(doc).replace(/"(\d{10,})"/g, '$1');
};

describe('import tss-lib', () => {
  it('stages the save file sealed, reads it back, and overwrites and removes the plaintext file', async () => {
    const file = saveFile('party0.json', text(0));
    const r = await cli(importTssLib, ['--party-file', file, '--config', configs[0] as string, '--key', 'tss']);
    expect(r.err).toBe('');
    expect(r.exit).toBe(0);
    const share = parseTssLibSaveData(text(0));
    const out = JSON.parse(r.out);
    expect(out).toMatchObject({ keyId: 'tss', party: 0, tssLibThreshold: 2, tssLibParties: 5, source: 'removed' });
    expect(out.publicDataHash).toBe(tssLibPublicDataHash(share));
    expect(existsSync(file)).toBe(false);
    expect(await held(0)).toEqual([`_tsslib.${out.publicDataHash}`, 'tss.tsslib']);
    // sealed: Xi appears nowhere in the party's data directory, in decimal, hex or bytes
    const xi = share.xi;
    const hex = xi.toString(16).padStart(64, '0');
    expect(
      scanForPlaintext(join(dir, 'party-0'), [Buffer.from(xi.toString(10)), Buffer.from(hex), Buffer.from(hex, 'hex')]),
    ).toEqual([]);
    const pdir = join(dir, 'party-0');
    const store = await openFileSecretStore({ dir: pdir, keyFile: join(pdir, 'store.key') });
    try {
      expect((await loadStagedImport(store, 0, 'tss')).share.xi).toBe(xi);
    } finally {
      await store.close();
    }
  });

  it('--keep-source leaves the file; --chain-code is staged as given', async () => {
    const file = saveFile('party1.json', text(1));
    const code = 'ab'.repeat(32);
    const r = await cli(importTssLib, [
      '--party-file',
      file,
      '--config',
      configs[1] as string,
      '--key',
      'tss',
      '--keep-source',
      '--chain-code',
      code,
    ]);
    expect(r.exit).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ source: 'kept', chainCode: code });
    expect(readFileSync(file, 'utf8')).toBe(text(1));
  });

  it('refuses a file imported twice (under another key id), and a key id already held', async () => {
    const again = saveFile('party0-again.json', text(0));
    const before = await held(0);
    const twice = await cli(importTssLib, ['--party-file', again, '--config', configs[0] as string, '--key', 'tss2']);
    expect(twice.exit).toBe(1);
    expect(twice.err).toMatch(
      /ERR_IMPORT_DUPLICATE: this tss-lib key was imported at party 0 already \(key id "tss"\)/,
    );
    const other = saveFile('other.json', syntheticSaveFiles(3n, parseTssLibSaveData(text(0)).ks)[0] as string);
    const sameId = await cli(importTssLib, ['--party-file', other, '--config', configs[0] as string, '--key', 'tss']);
    expect(sameId.exit).toBe(1);
    expect(sameId.err).toMatch(/ERR_IMPORT_DUPLICATE: key id "tss" is already held or staged at party 0/);
    // nothing stored, and the files are still there
    expect(await held(0)).toEqual(before);
    expect(existsSync(again) && existsSync(other)).toBe(true);
  });

  const bad: [string, () => string, RegExp][] = [
    [
      'mismatched Ks',
      () =>
        edit(2, (d) => {
          const ks = d.Ks as string[];
          ks[4] = (BigInt(ks[4] as string) + 1n).toString();
        }),
      /ERR_IMPORT_INVALID: .*public share 4 is not on the polynomial/,
    ],
    [
      'an off-curve BigXj',
      () =>
        edit(2, (d) => {
          const c = (d.BigXj as { Coords: string[] }[])[1]?.Coords as string[];
          c[0] = (BigInt(c[0] as string) + 1n).toString();
        }),
      /ERR_IMPORT_INVALID: .*BigXj\[1\] is not a point on secp256k1/,
    ],
    [
      'an Xi that does not match',
      () => edit(2, (d) => (d.Xi = (BigInt(d.Xi as string) + 1n).toString())),
      /ERR_IMPORT_INVALID: .*Xi does not match/,
    ],
    [
      'a wrong curve name',
      () => edit(2, (d) => (((d.BigXj as { Curve: string }[])[0] as { Curve: string }).Curve = 'ed25519')),
      /ERR_IMPORT_INVALID: .*BigXj\[0\] is on curve ed25519, not secp256k1/,
    ],
    ['truncated JSON', () => text(2).slice(0, 4000), /ERR_IMPORT_INVALID: .*not JSON \(truncated/],
    [
      'an oversize file',
      () => `${text(2)}${' '.repeat(MAX_TSS_LIB_SAVE_BYTES)}`,
      new RegExp(`ERR_IMPORT_INVALID: save file is \\d+ bytes, above ${MAX_TSS_LIB_SAVE_BYTES}`),
    ],
  ];
  it.each(bad)('refuses %s, naming the problem; nothing is stored, the file stays', async (_name, make, want) => {
    const content = make();
    const file = saveFile('bad.json', content);
    const r = await cli(importTssLib, ['--party-file', file, '--config', configs[2] as string, '--key', 'tss']);
    expect(r.exit).toBe(1);
    expect(r.err).toMatch(want);
    expect(r.err).not.toContain(parseTssLibSaveData(text(2)).xi.toString());
    expect(await held(2)).toEqual([]);
    expect(readFileSync(file, 'utf8')).toBe(content);
  });

  it('import discard drops a staged share and its marker, so the right file can be staged', async () => {
    const other = saveFile('other2.json', syntheticSaveFiles(5n, parseTssLibSaveData(text(2)).ks)[2] as string);
    expect(
      (await cli(importTssLib, ['--party-file', other, '--config', configs[2] as string, '--key', 'tss'])).exit,
    ).toBe(0);
    expect(await held(2)).toHaveLength(2);
    const d = await cli(importDiscard, ['--config', configs[2] as string, '--key', 'tss']);
    expect(d.exit).toBe(0);
    expect(await held(2)).toEqual([]);
    const none = await cli(importDiscard, ['--config', configs[2] as string, '--key', 'tss']);
    expect(none.err).toMatch(/ERR_IMPORT_NOT_STAGED/);
  });
});
