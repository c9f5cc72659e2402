import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { type ErrorCode, MpcError } from '../errors/index.js';

/** The syscall boundaries of an atomic write, in order (crash and fault-injection tests hook them). */
export type AtomicWriteStep = 'open-tmp' | 'write' | 'fsync-file' | 'close' | 'rename' | 'fsync-dir' | 'done';

export interface AtomicWriteOptions {
  /** The code of the MpcError thrown on failure. Default ERR_PRIME_CACHE_IO (the first user). */
  readonly errorCode?: ErrorCode;
  /**
   * Called before each step (and with 'done' after the last). Tests use it to die (SIGKILL) or to
   * inject a fault (throw, e.g. an EIO on fsync) at a chosen boundary. Never set in production.
   */
  readonly onStep?: (step: AtomicWriteStep) => void;
}

/**
 * Replaces `path` atomically: write a temp file in the same directory, fsync it, rename it over the
 * target, fsync the directory. After a crash the file is the old or the new content, never torn.
 * Any fsync failure fails the whole operation (Postgres "fsyncgate": a failed fsync is not retried).
 */
export async function writeFileAtomic(
  path: string,
  data: Uint8Array | string,
  mode = 0o600,
  opts: AtomicWriteOptions = {},
): Promise<void> {
  const step = opts.onStep ?? (() => undefined);
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    step('open-tmp');
    const fh = await open(tmp, 'wx', mode);
    try {
      step('write');
      await fh.writeFile(data);
      step('fsync-file');
      await fh.sync();
      step('close');
    } finally {
      await fh.close();
    }
    step('rename');
    await rename(tmp, path);
    step('fsync-dir');
    const dh = await open(dir, 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
    step('done');
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw new MpcError(opts.errorCode ?? 'ERR_PRIME_CACHE_IO', `atomic write of ${basename(path)} failed`, {
      cause: e,
    });
  }
}

/** The file's bytes, or undefined when it does not exist. */
export async function readFileIfExists(
  path: string,
  errorCode: ErrorCode = 'ERR_PRIME_CACHE_IO',
): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new MpcError(errorCode, `reading ${basename(path)} failed`, { cause: e });
  }
}
