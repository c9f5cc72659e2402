import Type from 'typebox';
import { MpcError } from '../errors/index.js';
import { assertReadableFile, fileError } from './boundary.js';
import { type CommandGroup, defineCommand, EXIT } from './command.js';
import { FileFlag, KeyIdFlag } from './flags.js';

/**
 * `mpc-custody import tss-lib` (issue #19), run at each party while its daemon may be running: reads
 * one bnb-chain/tss-lib ECDSA keygen save file (LocalPartySaveData JSON), validates it
 * (tss-lib-import.ts: size bound before parsing, curve, points, Xi·G = BigXj[own], ECDSAPub the
 * interpolation of the public shares), seals the validated share and the chain code in the party's
 * store as a staged import (tss-lib-staging.ts), reads it back, then overwrites and removes the
 * plaintext file (unless --keep-source). The import itself is the coordinated session that follows:
 * `mpc-custody coord import --key ID --parties N`. The tss-lib Paillier key, NTilde, h1, h2 are
 * never read, let alone stored.
 */
export const importTssLib = defineCommand({
  name: 'import tss-lib',
  summary: 'stage a bnb-chain/tss-lib ECDSA save file in this party’s store (then: coord import)',
  flags: Type.Object({
    partyFile: FileFlag('tss-lib LocalPartySaveData JSON of this party (overwritten and removed once sealed)'),
    config: FileFlag('party config'),
    key: KeyIdFlag,
    chainCode: Type.Optional(
      Type.String({
        pattern: '^[0-9a-fA-F]{64}$',
        metavar: 'HEX',
        description: '32-byte BIP32 chain code (default: HMAC-SHA256 of the public key, see README)',
      }),
    ),
    keepSource: Type.Optional(Type.Boolean({ description: 'leave the plaintext save file in place' })),
  }),
  help:
    'Every importing party must stage a save file of the same key with the same chain code; the\n' +
    'coordinator then runs `mpc-custody coord import`. A key id already held here and a tss-lib key\n' +
    'already imported here are refused (ERR_IMPORT_DUPLICATE); a bad file is refused with\n' +
    'ERR_IMPORT_INVALID naming the field, and nothing is stored.',
  async run(f, io) {
    await assertReadableFile(f.config, 'party config');
    const { open, unlink } = await import('node:fs/promises');
    const { loadPartyConfig } = await import('../daemon/config.js');
    const { openConfiguredStore } = await import('../daemon/main.js');
    const { defaultChainCode, MAX_TSS_LIB_SAVE_BYTES, parseTssLibSaveData } = await import(
      '../protocol/tss-lib-import.js'
    );
    const { stageTssLibImport } = await import('../daemon/tss-lib-staging.js');
    const { encodePoint } = await import('../primitives/curve.js');
    const cfg = await loadPartyConfig(f.config);

    // bounded read: the size is checked on the open file, and never more than the bound + 1 is read
    let raw: Buffer;
    try {
      const fh = await open(f.partyFile, 'r');
      try {
        const st = await fh.stat();
        if (!st.isFile()) throw Object.assign(new Error('not a file'), { code: 'EISDIR' });
        if (st.size > MAX_TSS_LIB_SAVE_BYTES) {
          throw new MpcError('ERR_IMPORT_INVALID', `save file is ${st.size} bytes, above ${MAX_TSS_LIB_SAVE_BYTES}`, {
            details: { path: f.partyFile },
          });
        }
        raw = Buffer.alloc(MAX_TSS_LIB_SAVE_BYTES + 1);
        const { bytesRead } = await fh.read(raw, 0, raw.length, 0);
        raw = raw.subarray(0, bytesRead);
      } finally {
        await fh.close();
      }
    } catch (e) {
      if (e instanceof MpcError) throw e;
      throw fileError(e, f.partyFile, 'tss-lib save file');
    }
    let share: ReturnType<typeof parseTssLibSaveData>;
    try {
      share = parseTssLibSaveData(raw);
    } catch (e) {
      if (e instanceof MpcError) {
        throw new MpcError(e.code, `${f.partyFile}: ${e.reason}`, { details: { ...e.details, path: f.partyFile } });
      }
      throw e;
    } finally {
      raw.fill(0);
    }
    const chainCode =
      f.chainCode === undefined ? defaultChainCode(share.publicKey) : Uint8Array.from(Buffer.from(f.chainCode, 'hex'));
    const store = await openConfiguredStore(cfg);
    let publicDataHash: string;
    try {
      ({ publicDataHash } = await stageTssLibImport(store, cfg.party, f.key, { share, chainCode }));
    } finally {
      await store.close();
    }
    let source = 'kept';
    if (f.keepSource !== true) {
      // overwrite, sync, remove (best effort against recovery from the same filesystem), as identity-seal
      const fh = await open(f.partyFile, 'r+');
      try {
        const size = (await fh.stat()).size;
        await fh.write(Buffer.alloc(size), 0, size, 0);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await unlink(f.partyFile);
      source = 'removed';
    }
    io.out(
      JSON.stringify({
        keyId: f.key,
        party: cfg.party,
        staged: 'tss-lib',
        publicKey: Buffer.from(encodePoint(share.publicKey)).toString('hex'),
        tssLibThreshold: share.threshold,
        tssLibParties: share.ks.length,
        publicDataHash,
        chainCode: Buffer.from(chainCode).toString('hex'),
        source,
      }),
    );
    return EXIT.ok;
  },
});

export const importDiscard = defineCommand({
  name: 'import discard',
  summary: 'drop a staged tss-lib share that was not imported (e.g. after ERR_IMPORT_MISMATCH)',
  flags: Type.Object({ config: FileFlag('party config'), key: KeyIdFlag }),
  async run(f, io) {
    await assertReadableFile(f.config, 'party config');
    const { loadPartyConfig } = await import('../daemon/config.js');
    const { openConfiguredStore } = await import('../daemon/main.js');
    const { discardStagedImport } = await import('../daemon/tss-lib-staging.js');
    const cfg = await loadPartyConfig(f.config);
    const store = await openConfiguredStore(cfg);
    let removed: boolean;
    try {
      removed = await discardStagedImport(store, cfg.party, f.key);
    } finally {
      await store.close();
    }
    if (!removed) {
      throw new MpcError(
        'ERR_IMPORT_NOT_STAGED',
        `no tss-lib share is staged for key "${f.key}" at party ${cfg.party}`,
      );
    }
    io.out(JSON.stringify({ keyId: f.key, party: cfg.party, discarded: true }));
    return EXIT.ok;
  },
});

export const importGroup: CommandGroup = {
  name: 'import',
  summary: 'bring a key from another system into this party (tss-lib: GG18/GG20 migration)',
  commands: [importTssLib, importDiscard],
  help: 'Output is one JSON line on stdout. See README "GG18 / GG20".',
};
