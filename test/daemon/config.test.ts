import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ed25519 } from '@noble/curves/ed25519.js';
import { afterAll, describe, expect, it } from 'vitest';
import {
  encodeIdentity,
  encodeRoster,
  IDENTITY_KEY_ID,
  loadIdentity,
  loadRoster,
  parsePartyConfig,
} from '../../src/daemon/config.js';
import { generatePartyKeys } from '../../src/transport/frame.js';
import { errorCode } from '../helpers/failure.js';

const dir = mkdtempSync(join(tmpdir(), 'mpc-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const base = {
  party: 1,
  roster: '../roster.json',
  identityFile: 'identity.key',
  nats: '../nats/party-1.json',
  store: { kind: 'file', keyFile: 'store.key' },
};

describe('party config', () => {
  it('resolves relative paths against the config directory and fills defaults', () => {
    const c = parsePartyConfig(base, '/srv/mpc/party-1');
    expect(c.roster).toBe('/srv/mpc/roster.json');
    expect(c.identityFile).toBe('/srv/mpc/party-1/identity.key');
    expect(c.dataDir).toBe('/srv/mpc/party-1');
    expect(c.store).toEqual({ kind: 'file', keyFile: '/srv/mpc/party-1/store.key' });
    expect(c.math).toBe('auto');
    expect(c.http).toBeUndefined();
    expect(Object.isFrozen(c)).toBe(true);
    // without identityFile the identity is expected sealed in the store (identity-seal)
    const { identityFile: _dropped, ...sealed } = base;
    expect(parsePartyConfig(sealed, '/srv/mpc/party-1').identityFile).toBeUndefined();
  });

  it.each([
    ['an unknown field', { ...base, extra: 1 }],
    ['a negative party', { ...base, party: -1 }],
    [
      'a store with both key file and passphrase',
      { ...base, store: { kind: 'file', keyFile: 'k', passphraseEnv: 'P' } },
    ],
    ['an unknown store kind', { ...base, store: { kind: 's3' } }],
    [
      'a pkcs11 store without a PIN variable',
      { ...base, store: { kind: 'pkcs11', module: 'm', token: 't', keyLabel: 'l' } },
    ],
    [
      'a lowercase PIN variable name',
      { ...base, store: { kind: 'pkcs11', module: 'm', token: 't', keyLabel: 'l', pinEnv: 'pin' } },
    ],
    ['an out-of-range http port', { ...base, http: { port: 70000 } }],
    ['an unknown math backend', { ...base, math: 'gpu' }],
    ['an unknown log level', { ...base, logLevel: 'chatty' }],
    ['a missing roster', { ...base, roster: undefined }],
  ])('refuses %s with ERR_CONFIG_INVALID', (_name, raw) => {
    expect(errorCode(() => parsePartyConfig(raw as Record<string, unknown>, dir))).toBe('ERR_CONFIG_INVALID');
  });
});

describe('roster and identity files', () => {
  const keys = [generatePartyKeys(), generatePartyKeys(), generatePartyKeys()];
  const coordinator = ed25519.getPublicKey(ed25519.utils.randomSecretKey());
  const rosterFile = join(dir, 'roster.json');
  writeFileSync(rosterFile, encodeRoster({ parties: keys.map((k) => k.public), coordinator }));

  it('round-trips the roster and refuses duplicated keys or malformed hex', async () => {
    const r = await loadRoster(rosterFile);
    expect(r.parties).toHaveLength(3);
    expect(Buffer.from(r.coordinator).equals(Buffer.from(coordinator))).toBe(true);
    const dup = join(dir, 'dup.json');
    writeFileSync(dup, encodeRoster({ parties: [keys[0]!.public, keys[0]!.public], coordinator }));
    await expect(loadRoster(dup)).rejects.toMatchObject({ code: 'ERR_CONFIG_INVALID' });
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ version: 1, parties: [{ ed25519: 'zz', x25519: 'zz' }], coordinator: {} }));
    await expect(loadRoster(bad)).rejects.toMatchObject({ code: 'ERR_CONFIG_INVALID' });
  });

  it('loads an identity only when it is 0600 and matches its roster entry', async () => {
    const file = join(dir, 'identity.key');
    writeFileSync(file, encodeIdentity(keys[1]!.secret), { mode: 0o600 });
    const id = await loadIdentity(file, keys[1]!.public);
    expect(Buffer.from(id.ed25519Secret).equals(Buffer.from(keys[1]!.secret.ed25519Secret))).toBe(true);
    await expect(loadIdentity(file, keys[2]!.public)).rejects.toMatchObject({ code: 'ERR_CONFIG_INVALID' });
    chmodSync(file, 0o644);
    const err = await loadIdentity(file, keys[1]!.public).catch((e) => e);
    expect(err.code).toBe('ERR_CONFIG_INVALID');
    expect(err.message).toContain('chmod 600');
    // the secret never appears in the error
    expect(JSON.stringify(err)).not.toContain(Buffer.from(keys[1]!.secret.ed25519Secret).toString('hex'));
  });
});

describe('an identity sealed in the store (identity-seal)', () => {
  const keys = [generatePartyKeys(), generatePartyKeys()];
  const cfg = (party: number) => parsePartyConfig({ ...base, party, identityFile: undefined }, join(dir, 'sealed'));

  it('loads only a well-formed identity that matches the roster entry', async () => {
    const { openFileSecretStore } = await import('../../src/storage/file-store.js');
    const { createKeyFile } = await import('../../src/storage/software-sealer.js');
    const { loadConfiguredIdentity } = await import('../../src/daemon/main.js');
    const sdir = join(dir, 'sealed');
    await createKeyFile(join(dir, 'sealed.key'));
    const store = await openFileSecretStore({ dir: sdir, keyFile: join(dir, 'sealed.key') });
    try {
      // nothing sealed yet
      await expect(loadConfiguredIdentity(cfg(1), store, keys[1]!.public)).rejects.toMatchObject({
        code: 'ERR_CONFIG_INVALID',
      });
      await store.putShare({ partyId: 1, keyId: IDENTITY_KEY_ID }, 1, Buffer.from(encodeIdentity(keys[1]!.secret)));
      const ok = await loadConfiguredIdentity(cfg(1), store, keys[1]!.public);
      expect(Buffer.from(ok.x25519Secret).equals(Buffer.from(keys[1]!.secret.x25519Secret))).toBe(true);
      // another party's roster entry: refused, and the secret is not in the error
      const err = await loadConfiguredIdentity(cfg(1), store, keys[0]!.public).catch((e) => e);
      expect(err.code).toBe('ERR_CONFIG_INVALID');
      expect(JSON.stringify(err) + String(err.message)).not.toContain(
        Buffer.from(keys[1]!.secret.ed25519Secret).toString('hex'),
      );
      // a sealed blob that is not an identity
      await store.putShare({ partyId: 0, keyId: IDENTITY_KEY_ID }, 1, Buffer.from('not json'));
      await expect(loadConfiguredIdentity(cfg(0), store, keys[0]!.public)).rejects.toMatchObject({
        code: 'ERR_CONFIG_INVALID',
      });
    } finally {
      await store.close();
    }
  });
});
