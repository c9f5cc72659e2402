import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ed25519 } from '@noble/curves/ed25519.js';
import { afterAll, describe, expect, it } from 'vitest';
import { configWarnings, encodeRoster, loadRoster, parsePartyConfig } from '../../src/daemon/config.js';
import { openConfiguredStore, pickBackend, startParty } from '../../src/daemon/main.js';
import { MpcError } from '../../src/errors/index.js';
import { PartyLedger } from '../../src/storage/party-ledger.js';
import { createKeyFile } from '../../src/storage/software-sealer.js';
import { generatePartyKeys } from '../../src/transport/frame.js';
import { loadNatsConfigFile } from '../../src/transport/nats.js';
import { rejection } from '../helpers/failure.js';

/** Issue 17 item 8: the party daemon's startup and config checks. */
const dir = mkdtempSync(join(tmpdir(), 'mpc-startup-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const base = {
  party: 0,
  roster: 'roster.json',
  identityFile: 'identity.key',
  nats: 'nats.json',
  store: { kind: 'file', keyFile: 'store.key' },
};

describe('startup checks (item 8)', () => {
  it('auto never runs secret arithmetic on the BigInt backend; "js" must be written in the config', () => {
    const broken = () => {
      throw new MpcError('ERR_MATH_BACKEND_UNAVAILABLE', 'not built here');
    };
    const err = (() => {
      try {
        pickBackend('auto', { native: broken, wasm: broken });
      } catch (e) {
        return e as MpcError;
      }
      return undefined;
    })();
    expect(err?.code).toBe('ERR_MATH_BACKEND_UNAVAILABLE');
    expect(err?.message).toMatch(/not constant time/);
    expect(pickBackend('js').name).toBe('js');
    expect(pickBackend('auto').name).not.toBe('js');
  });

  it('refuses a roster whose coordinator key is one of the party keys', async () => {
    const keys = [generatePartyKeys(), generatePartyKeys()];
    const file = join(dir, 'roster-dup.json');
    writeFileSync(
      file,
      encodeRoster({ parties: keys.map((k) => k.public), coordinator: keys[1]?.public.ed25519 as Uint8Array }),
    );
    const err = await rejection(loadRoster(file));
    expect(err.code).toBe('ERR_CONFIG_INVALID');
    expect(err.message).toMatch(/coordinator key must differ/);
    expect(err.details.path).toBe(file);
    const ok = join(dir, 'roster-ok.json');
    writeFileSync(
      ok,
      encodeRoster({
        parties: keys.map((k) => k.public),
        coordinator: ed25519.getPublicKey(ed25519.utils.randomSecretKey()),
      }),
    );
    expect((await loadRoster(ok)).parties).toHaveLength(2);
  });

  it('warns when health and metrics listen beyond loopback', () => {
    expect(configWarnings(parsePartyConfig({ ...base, http: { host: '127.0.0.1', port: 0 } }, dir))).toEqual([]);
    const w = configWarnings(parsePartyConfig({ ...base, http: { host: '0.0.0.0', port: 9100 } }, dir));
    expect(w.join('\n')).toMatch(/0\.0\.0\.0, not on loopback/);
  });

  it('refuses a store key file or a NATS seed file that group or others can read', async () => {
    const keyFile = join(dir, 'store.key');
    await createKeyFile(keyFile);
    chmodSync(keyFile, 0o640);
    const cfg = parsePartyConfig({ ...base, dataDir: join(dir, 'data-mode') }, dir);
    const err = await rejection(openConfiguredStore(cfg));
    expect(err.code).toBe('ERR_CONFIG_INVALID');
    expect(err.details.path).toBe(keyFile);
    chmodSync(keyFile, 0o600);
    await (await openConfiguredStore(cfg)).close();

    const seed = join(dir, 'party-0.nk');
    writeFileSync(seed, 'SUAxxx', { mode: 0o644 });
    chmodSync(seed, 0o644);
    const natsCfg = join(dir, 'nats.json');
    writeFileSync(
      natsCfg,
      JSON.stringify({ party: 0, servers: ['tls://127.0.0.1:1'], caFile: 'ca', nkeySeedFile: seed }),
    );
    const e2 = await rejection(loadNatsConfigFile(natsCfg));
    expect(e2.code).toBe('ERR_CONFIG_INVALID');
    expect(e2.details.path).toBe(seed);
  });

  it('removes the passphrase variable from the environment once read', async () => {
    process.env.MPC_TEST_PASSPHRASE = 'correct horse battery staple';
    const cfg = parsePartyConfig(
      { ...base, dataDir: join(dir, 'data-env'), store: { kind: 'file', passphraseEnv: 'MPC_TEST_PASSPHRASE' } },
      dir,
    );
    const store = await openConfiguredStore(cfg);
    expect(process.env.MPC_TEST_PASSPHRASE).toBeUndefined();
    expect('MPC_TEST_PASSPHRASE' in process.env).toBe(false);
    await store.close();
  }, 60_000);

  it('creates the ledger file 0600 whatever the umask', () => {
    const old = process.umask(0o022);
    try {
      const path = join(dir, 'ledger-mode', 'ledger.db');
      const ledger = PartyLedger.open(path, 0);
      ledger.close();
      expect(statSync(path).mode & 0o777).toBe(0o600);
    } finally {
      process.umask(old);
    }
  });

  it('a startup error names its code and the path it concerns', async () => {
    const cfgFile = join(dir, 'party.json');
    writeFileSync(
      join(dir, 'roster.json'),
      encodeRoster({
        parties: [generatePartyKeys(), generatePartyKeys()].map((k) => k.public),
        coordinator: ed25519.getPublicKey(ed25519.utils.randomSecretKey()),
      }),
    );
    writeFileSync(join(dir, 'not-a-dir'), 'x');
    // the data directory cannot be created (its parent is a file): a file system failure
    writeFileSync(
      cfgFile,
      JSON.stringify({ ...base, dataDir: 'not-a-dir/data', store: { kind: 'file', passphraseEnv: 'MPC_TEST_PP2' } }),
    );
    process.env.MPC_TEST_PP2 = 'correct horse battery staple';
    const err = await rejection(startParty(cfgFile));
    expect(err.code).toMatch(/^ERR_/);
    expect(String(err.details.path)).toContain('not-a-dir');
    // a config error names the config file
    writeFileSync(cfgFile, JSON.stringify({ ...base, math: 'bogus' }));
    const e2 = await rejection(startParty(cfgFile));
    expect(e2.code).toBe('ERR_CONFIG_INVALID');
    expect(e2.details.path).toBe(cfgFile);
  });
});
