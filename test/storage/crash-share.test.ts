import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openFileSecretStore } from '../../src/storage/file-store.js';
import { createKeyFile } from '../../src/storage/software-sealer.js';
import { compileCrashChild, runChild, scanForPlaintext, tempDir } from './helpers.js';

const OLD = Buffer.from('old share version 1 — '.repeat(8));
const NEW = Buffer.from('new share version 2 — '.repeat(8));
const STEPS = ['open-tmp', 'write', 'fsync-file', 'close', 'rename', 'fsync-dir', 'done', 'returned', 'never'];

describe('share write killed (SIGKILL) at every step: old or new share, never torn', () => {
  let child: { script: string; cleanup: () => void };
  const t = tempDir('crash-share');
  beforeAll(() => {
    child = compileCrashChild();
  });
  afterAll(() => {
    child?.cleanup();
    t.cleanup();
  });

  for (const step of STEPS) {
    it(`killed at ${step}`, async () => {
      const dir = join(t.dir, step);
      await createKeyFile(join(dir, 'store.key'));
      const setup = await openFileSecretStore({ dir: join(dir, 'data'), keyFile: join(dir, 'store.key') });
      await setup.putShare({ partyId: 1, keyId: 'k1' }, 1, OLD);
      await setup.close();
      const r = await runChild(child.script, ['put-share', dir, step], { NEW_SHARE: NEW.toString('hex') });
      expect(r.signal, r.stderr).toBe('SIGKILL');
      const acked = r.messages.length > 0;
      const store = await openFileSecretStore({ dir: join(dir, 'data'), keyFile: join(dir, 'store.key') });
      const { version, plaintext } = await store.getShare({ partyId: 1, keyId: 'k1' });
      expect([1, 2]).toContain(version);
      expect(plaintext.equals(version === 1 ? OLD : NEW)).toBe(true);
      if (acked) expect(version).toBe(2); // an acknowledged write is durable
      if (['open-tmp', 'write', 'fsync-file', 'close', 'rename'].includes(step)) expect(version).toBe(1);
      expect(await store.listShares()).toEqual([{ partyId: 1, keyId: 'k1', version }]);
      await store.close();
      expect(scanForPlaintext(dir, [OLD, NEW])).toEqual([]);
    });
  }
});
