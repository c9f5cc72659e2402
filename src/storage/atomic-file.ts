import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { MpcError } from '../errors/index.js';

/**
 * Replaces `path` atomically: write a temp file in the same directory, fsync it, rename it over the
 * target, fsync the directory. After a crash the file is the old or the new content, never torn.
 * Any fsync failure fails the whole operation (Postgres "fsyncgate": a failed fsync is not retried).
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string, mode = 0o600): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const fh = await open(tmp, 'wx', mode);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
    const dh = await open(dir, 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw new MpcError('ERR_PRIME_CACHE_IO', `atomic write of ${basename(path)} failed`, { cause: e });
  }
}

/** The file's bytes, or undefined when it does not exist. */
export async function readFileIfExists(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new MpcError('ERR_PRIME_CACHE_IO', `reading ${basename(path)} failed`, { cause: e });
  }
}
