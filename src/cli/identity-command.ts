import { open, readFile, stat, unlink } from 'node:fs/promises';
import { encodeIdentity, IDENTITY_KEY_ID, loadIdentity, loadPartyConfig, loadRoster } from '../daemon/config.js';
import { loadConfiguredIdentity, openConfiguredStore } from '../daemon/main.js';
import { isMpcError, MpcError } from '../errors/index.js';
import { writeFileAtomic } from '../storage/atomic-file.js';

const USAGE = 'usage: mpc-custody identity-seal --config FILE';

/**
 * `mpc-custody identity-seal --config FILE`: moves the party's transport identity (Ed25519 signing
 * key, X25519 key that protects every P2P payload — keygen shares included) from its plaintext
 * file into the party's secret store (HSM-sealed with a PKCS#11 store), drops `identityFile` from
 * the config, then overwrites and removes the file. Idempotent refusal: an identity already sealed
 * is never replaced.
 */
export async function identitySealCommand(args: readonly string[], out: (line: string) => void): Promise<number> {
  const at = args.indexOf('--config');
  const file = at >= 0 ? args[at + 1] : undefined;
  if (file === undefined) {
    out(USAGE);
    return 2;
  }
  try {
    const cfg = await loadPartyConfig(file);
    const roster = await loadRoster(cfg.roster);
    const me = roster.parties[cfg.party];
    if (me === undefined) throw new MpcError('ERR_CONFIG_INVALID', 'party index is not in the roster');
    if (cfg.identityFile === undefined) {
      out('identity-seal: the config names no identity file (already sealed?)');
      return 1;
    }
    const plainFile = cfg.identityFile;
    const keys = await loadIdentity(plainFile, me);
    const store = await openConfiguredStore(cfg);
    try {
      const id = { partyId: cfg.party, keyId: IDENTITY_KEY_ID };
      if ((await store.listShares()).some((s) => s.partyId === id.partyId && s.keyId === id.keyId)) {
        throw new MpcError('ERR_STORAGE_VERSION_CONFLICT', 'an identity is already sealed in this store');
      }
      const bytes = Buffer.from(encodeIdentity(keys));
      try {
        await store.putShare(id, 1, bytes);
      } finally {
        bytes.fill(0);
        keys.ed25519Secret.fill(0);
        keys.x25519Secret.fill(0);
      }
      // read it back the way the daemon will before touching the plaintext copy
      const sealedCfg = { ...cfg, identityFile: undefined };
      const check = await loadConfiguredIdentity(sealedCfg, store, me);
      check.ed25519Secret.fill(0);
      check.x25519Secret.fill(0);
    } finally {
      await store.close();
    }
    const raw = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
    delete raw.identityFile;
    await writeFileAtomic(file, `${JSON.stringify(raw, null, 2)}\n`, 0o600);
    // overwrite, sync, remove (best effort against recovery from the same filesystem)
    const size = (await stat(plainFile)).size;
    const fh = await open(plainFile, 'r+');
    try {
      await fh.write(Buffer.alloc(size), 0, size, 0);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await unlink(plainFile);
    out(`identity-seal: party ${cfg.party}'s identity is sealed in its ${cfg.store.kind} store; ${plainFile} removed`);
    return 0;
  } catch (e) {
    out(`identity-seal: ${isMpcError(e) ? `${e.code}: ${e.message}` : 'failed'}`);
    return 1;
  }
}
