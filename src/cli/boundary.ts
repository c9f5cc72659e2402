/**
 * The CLI's boundary with the outside: files the user names and errors from libraries. Everything
 * that leaves here is an MpcError with a catalogue code that names the file (`details.path`), never
 * its contents: a JSON parser's message quotes the text it choked on, so it is dropped.
 */
import { access, constants, readFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { TSchema } from 'typebox';
import { Compile, type Validator } from 'typebox/compile';
import { MpcError, reviveMpcError } from '../errors/index.js';

const FS_REASONS: Readonly<Record<string, string>> = {
  EACCES: 'is not readable (permission denied)',
  EPERM: 'is not readable (operation not permitted)',
  EISDIR: 'is a directory, not a file',
  ENOTDIR: 'has a path through something that is not a directory',
  ELOOP: 'has a symbolic link loop in its path',
  ENAMETOOLONG: 'has a path that is too long',
  EEXIST: 'already exists',
  EROFS: 'is on a read-only file system',
  ENOSPC: 'cannot be written (no space left on the device)',
};

/** A file-system failure as a catalogue error naming `what` and its path (never the file's bytes). */
export function fileError(e: unknown, path: string, what: string): MpcError {
  if (e instanceof MpcError) return e;
  const code = (e as { code?: unknown })?.code;
  if (code === 'ENOENT') return new MpcError('ERR_FILE_NOT_FOUND', `${what} not found: ${path}`, { details: { path } });
  const why = typeof code === 'string' ? (FS_REASONS[code] ?? `cannot be read (${code})`) : 'cannot be read';
  return new MpcError('ERR_FILE_UNREADABLE', `${what} ${why}: ${path}`, { details: { path } });
}

/** A typed refusal about a file's contents (a decoder's), with the file named in `details.path`. */
export function nameFile(e: unknown, path: string): unknown {
  if (!(e instanceof MpcError) || e.details.path !== undefined) return e;
  return new MpcError(e.code, e.reason, { details: { ...e.details, path }, blame: e.blame, cause: e });
}

/** Refuses a missing, unreadable or non-regular file before anything else runs (or connects). */
export async function assertReadableFile(path: string, what: string): Promise<void> {
  try {
    await access(path, constants.R_OK);
    if (!(await stat(path)).isFile()) throw Object.assign(new Error('not a file'), { code: 'EISDIR' });
  } catch (e) {
    throw fileError(e, path, what);
  }
}

/**
 * Refuses an output path before any work starts: ERR_FILE_NOT_FOUND when its directory does not
 * exist, ERR_FILE_UNWRITABLE when it is a directory, its directory is not writable, or (with
 * `exclusive`) the file exists already.
 */
export async function assertWritableFile(path: string, what: string, exclusive = false): Promise<void> {
  const refuse = (why: string) => new MpcError('ERR_FILE_UNWRITABLE', `${what} ${why}: ${path}`, { details: { path } });
  const st = await stat(path).catch((e: unknown) => {
    if ((e as { code?: unknown }).code === 'ENOENT') return undefined;
    throw fileError(e, path, what);
  });
  if (st?.isDirectory()) throw refuse('is a directory, not a file');
  if (st !== undefined && exclusive) throw refuse('already exists (never overwritten)');
  const dir = dirname(path);
  const dirStat = await stat(dir).catch(() => undefined);
  if (dirStat === undefined) {
    throw new MpcError('ERR_FILE_NOT_FOUND', `the directory of the ${what} does not exist: ${path}`, {
      details: { path },
    });
  }
  if (!dirStat.isDirectory()) throw refuse('has a path through something that is not a directory');
  await access(dir, constants.W_OK).catch(() => {
    throw refuse('cannot be written (its directory is not writable)');
  });
}

export async function readInputFile(path: string, what: string): Promise<Uint8Array> {
  try {
    if (!(await stat(path)).isFile()) throw Object.assign(new Error('not a file'), { code: 'EISDIR' });
    return new Uint8Array(await readFile(path));
  } catch (e) {
    throw fileError(e, path, what);
  }
}

const validators = new WeakMap<TSchema, Validator>();
function validatorOf(schema: TSchema): Validator {
  let v = validators.get(schema);
  if (v === undefined) {
    v = Compile(schema);
    validators.set(schema, v);
  }
  return v;
}

/**
 * Checks `value` (read from the file at `path`) against its schema: ERR_INPUT_INVALID naming the
 * file, the JSON pointer of the first failing field and the rule — never the value.
 */
export function assertFileSchema(schema: TSchema, value: unknown, path: string, what: string): void {
  const v = validatorOf(schema);
  if (v.Check(value)) return;
  const first = v.Errors(value)[0];
  const field = first === undefined || first.instancePath === '' ? '(document)' : first.instancePath;
  const rule =
    first?.keyword === 'required'
      ? `missing ${(first.params as { requiredProperties?: string[] }).requiredProperties?.join(', ')}`
      : first?.keyword === 'additionalProperties'
        ? `unknown field ${(first.params as { additionalProperties?: string[] }).additionalProperties?.join(', ')}`
        : (first?.message ?? 'does not match its schema');
  throw new MpcError('ERR_INPUT_INVALID', `${what} ${path} field ${field}: ${rule}`, { details: { path, field } });
}

/** Reads a JSON file: ERR_FILE_* for the file, ERR_FILE_NOT_JSON for its text, ERR_INPUT_INVALID for its shape. */
export async function readJsonFile(path: string, what: string, schema?: TSchema): Promise<unknown> {
  const bytes = await readInputFile(path, what);
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw new MpcError('ERR_FILE_NOT_JSON', `${what} is not valid JSON: ${path}`, { details: { path } });
  }
  if (schema !== undefined) assertFileSchema(schema, value, path, what);
  return value;
}

/**
 * Any error as a catalogue error, for the one line the CLI prints. Typed errors pass through;
 * untyped ones from Node or libraries are mapped by kind and never print their message (it may
 * quote input): file-system errors name their path, a NATS client error becomes
 * ERR_TRANSPORT_CONNECT, anything else ERR_INTERNAL with the error's name.
 */
export function toMpcError(e: unknown): MpcError {
  const revived = reviveMpcError(e);
  if (revived instanceof MpcError) return revived;
  const sys = (e ?? {}) as { code?: unknown; path?: unknown; name?: unknown };
  if (typeof sys.code === 'string' && /^E[A-Z]+$/.test(sys.code) && typeof sys.path === 'string') {
    return fileError(e, sys.path, 'file');
  }
  const name = typeof sys.name === 'string' ? sys.name : 'error';
  if (/nats/i.test(name) || (typeof sys.code === 'string' && /CONNECTION|TIMEOUT|AUTH/.test(sys.code))) {
    return new MpcError('ERR_TRANSPORT_CONNECT', `cannot talk to NATS (${name})`, { details: { reason: name } });
  }
  if (e instanceof SyntaxError) return new MpcError('ERR_FILE_NOT_JSON', 'an input is not valid JSON');
  return new MpcError(
    'ERR_INTERNAL',
    `unexpected ${name}${typeof sys.code === 'string' ? ` (${sys.code})` : ''}; MPC_CUSTODY_DEBUG=1 prints its stack`,
    { details: { reason: name } },
  );
}
