/**
 * The CLI framework: every command's flags are ONE TypeBox object schema, which gives the parser
 * options (Node's `util.parseArgs`, strict), the validation, the TypeScript type of `run`'s flags
 * and the `--help` text. How to add a command (see also src/cli/README.md):
 *
 *   export const fooCommand = defineCommand({
 *     name: 'foo',                                   // or 'group verb', listed in a CommandGroup
 *     summary: 'one line for `mpc-custody --help`',
 *     flags: Type.Object({
 *       config: Type.String({ metavar: 'FILE', description: 'party config' }),        // --config, required
 *       parties: Type.Integer({ minimum: 2, default: 3, description: 'how many' }),   // --parties, default 3
 *       dryRun: Type.Optional(Type.Boolean({ description: 'only print' })),           // --dry-run
 *     }),
 *     async run(flags, io) {                          // flags: { config: string; parties: number; dryRun?: boolean }
 *       const { heavy } = await import('../daemon/heavy.js');   // import heavy modules lazily:
 *       io.out(JSON.stringify(await heavy(flags)));           // --help and usage errors stay fast
 *       return EXIT.ok;
 *     },
 *   });
 *
 * and add it to COMMANDS in main.ts. Property names are camelCase, flags kebab-case. Booleans are
 * switches; arrays are repeatable flags; integers are parsed from their decimal text. Every command
 * gets `--help` (stdout, exit 0) and `--json` (errors as one JSON line). Flags are validated before
 * `run` starts, so before anything connects. `run` reports failure by throwing an MpcError (or
 * returning EXIT.failed after printing its result); runCli prints exactly one stderr line:
 * `mpc-custody <command>: CODE: what is wrong (path: …)`. Exit codes: EXIT below.
 */
import { type ParseArgsConfig, parseArgs } from 'node:util';
import type { Static, TObject } from 'typebox';
import { Compile, type Validator } from 'typebox/compile';
import { errorLine, errorRecord, MpcError } from '../errors/index.js';
import { toMpcError } from './boundary.js';

/** Exit codes of every command. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

export const EXIT_CODES_HELP =
  'exit codes: 0 ok, 1 the operation failed, 2 usage (a flag is unknown, missing or malformed).\n' +
  'errors: one line on stderr, `mpc-custody <command>: CODE: what is wrong`; with --json one JSON\n' +
  'object {ok:false, command, code, category, message, details, exit} instead.';

export interface CommandIo {
  /** Results (stdout). */
  out(line: string): void;
  /** Diagnostics (stderr); the runner writes the error line here. */
  err(line: string): void;
}

export interface CommandSpec<F extends TObject> {
  /** As typed after `mpc-custody`: `setup`, `coord sign`. */
  readonly name: string;
  readonly summary: string;
  readonly flags: F;
  /** More text for `--help`, after the flag list. */
  readonly help?: string;
  readonly run: (flags: Static<F>, io: CommandIo) => Promise<number>;
}

export interface Command {
  readonly name: string;
  readonly summary: string;
  readonly usage: string;
  /** Flags that take no value (needed to find a group's subcommand among the arguments). */
  readonly switches: readonly string[];
  help(): string;
  /** Parses and validates `args` (ERR_CLI_USAGE), then runs; `--help` prints the help instead. */
  invoke(args: readonly string[], io: CommandIo): Promise<number>;
}

/** `coord keygen|sign|…`: subcommands sharing a first word. */
export interface CommandGroup {
  readonly name: string;
  readonly summary: string;
  readonly commands: readonly Command[];
  readonly help?: string;
}

interface FlagSchema {
  readonly type?: string;
  readonly items?: FlagSchema;
  readonly enum?: readonly unknown[];
  readonly anyOf?: readonly FlagSchema[];
  readonly const?: unknown;
  readonly default?: unknown;
  readonly description?: string;
  readonly metavar?: string;
  readonly '~optional'?: boolean;
}

export const usageError = (message: string, flag?: string): MpcError =>
  new MpcError('ERR_CLI_USAGE', message, flag === undefined ? {} : { details: { flag } });

const kebab = (k: string): string => k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
const flagOf = (k: string): string => `--${kebab(k)}`;

function choices(s: FlagSchema): readonly string[] | undefined {
  if (s.enum !== undefined) return s.enum.map(String);
  if (s.anyOf?.every((x) => x.const !== undefined)) return s.anyOf.map((x) => String(x.const));
  return undefined;
}

function metavar(s: FlagSchema): string {
  if (s.metavar !== undefined) return s.metavar;
  const c = choices(s);
  if (c !== undefined) return c.join('|');
  if (s.type === 'integer' || s.type === 'number') return 'N';
  if (s.type === 'array' && s.items !== undefined) return metavar(s.items);
  return 'VALUE';
}

const INTEGER = /^-?(0|[1-9][0-9]{0,15})$/;

/** The one usage message of the first schema violation: the flag and the rule, never the value. */
function violation(flags: TObject, v: Validator, value: unknown, command: string): MpcError {
  const first = v.Errors(value)[0];
  const see = ` (mpc-custody ${command} --help)`;
  if (first === undefined) return usageError(`invalid flags${see}`);
  if (first.keyword === 'required') {
    const missing = (first.params as { requiredProperties?: string[] }).requiredProperties?.[0] ?? '?';
    return usageError(`${flagOf(missing)} is required${see}`, flagOf(missing));
  }
  const key = first.instancePath.split('/')[1] ?? '';
  const flag = flagOf(key);
  const prop = (flags.properties as Record<string, FlagSchema>)[key] ?? {};
  const s = prop.type === 'array' && prop.items !== undefined ? prop.items : prop;
  const c = choices(s);
  const params = first.params as { comparison?: string; limit?: unknown };
  const rule =
    c !== undefined
      ? `must be one of ${c.join(', ')}`
      : first.keyword === 'type' && s.type === 'integer'
        ? 'must be an integer'
        : params.comparison !== undefined
          ? `must be ${params.comparison} ${String(params.limit)}`
          : `must be ${metavar(s)}${s.description === undefined ? '' : ` (${s.description})`}`;
  return usageError(`${flag} ${rule}${see}`, flag);
}

/** A command from its spec; see the module comment. */
export function defineCommand<F extends TObject>(spec: CommandSpec<F>): Command {
  const props = Object.entries(spec.flags.properties as Record<string, FlagSchema>);
  const required = new Set((spec.flags.required as readonly string[] | undefined) ?? []);
  const options: NonNullable<ParseArgsConfig['options']> = {
    help: { type: 'boolean', short: 'h' },
    json: { type: 'boolean' },
  };
  for (const [k, s] of props) {
    options[kebab(k)] = { type: s.type === 'boolean' ? 'boolean' : 'string', multiple: s.type === 'array' };
  }
  const switches = ['--help', '-h', '--json', ...props.filter(([, s]) => s.type === 'boolean').map(([k]) => flagOf(k))];
  const usage = [
    `mpc-custody ${spec.name}`,
    ...props.map(([k, s]) => {
      const text = s.type === 'boolean' ? flagOf(k) : `${flagOf(k)} ${metavar(s)}${s.type === 'array' ? ' …' : ''}`;
      return required.has(k) && s.default === undefined ? text : `[${text}]`;
    }),
  ].join(' ');
  let validator: Validator | undefined;

  const help = (): string => {
    const rows: Array<[string, string]> = props.map(([k, s]) => {
      const left = s.type === 'boolean' ? flagOf(k) : `${flagOf(k)} ${metavar(s)}`;
      const notes = [
        s.description ?? '',
        s.type === 'array' ? '(repeatable)' : '',
        s.default !== undefined ? `(default ${String(s.default)})` : required.has(k) ? '(required)' : '',
      ];
      return [left, notes.filter((n) => n !== '').join(' ')];
    });
    rows.push(['--json', 'errors as one JSON line on stderr (for scripts)'], ['-h, --help', 'this help']);
    const width = Math.min(28, Math.max(...rows.map(([l]) => l.length)) + 2);
    const lines = rows.map(([l, r]) =>
      l.length >= width ? `  ${l}\n  ${' '.repeat(width)}${r}` : `  ${l.padEnd(width)}${r}`,
    );
    return [
      `usage: ${usage}`,
      '',
      spec.summary,
      '',
      'flags:',
      ...lines,
      ...(spec.help ? ['', spec.help] : []),
      '',
      EXIT_CODES_HELP,
    ].join('\n');
  };

  const parse = (args: readonly string[]): Static<F> | 'help' => {
    let parsed: ReturnType<typeof parseArgs>;
    try {
      parsed = parseArgs({ args: [...args], options, strict: true, allowPositionals: false });
    } catch (e) {
      // parseArgs' messages carry advice meant for other CLIs; name the flag or token only
      const code = (e as { code?: string }).code;
      const token = /'([^']*)'/.exec((e as Error).message ?? '')?.[1] ?? '?';
      const see = ` (mpc-custody ${spec.name} --help)`;
      if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw usageError(`unknown flag ${token}${see}`, token);
      if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') throw usageError(`unexpected argument "${token}"${see}`);
      if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
        const flag = /(--[a-z0-9-]+)/.exec((e as Error).message ?? '')?.[1] ?? token;
        throw usageError(
          switches.includes(flag) ? `${flag} takes no value${see}` : `${flag} needs a value${see}`,
          flag,
        );
      }
      throw usageError(`cannot read the flags${see}`);
    }
    const values = parsed.values as Record<string, string | boolean | Array<string | boolean> | undefined>;
    if (values.help === true) return 'help';
    const out: Record<string, unknown> = {};
    for (const [k, s] of props) {
      let v: unknown = values[kebab(k)];
      const num = (x: unknown) => (typeof x === 'string' && INTEGER.test(x) ? Number(x) : x);
      if (s.type === 'integer' || s.type === 'number') v = num(v);
      if (s.type === 'array' && Array.isArray(v) && (s.items?.type === 'integer' || s.items?.type === 'number')) {
        v = v.map(num);
      }
      if (v === undefined && s.default !== undefined) v = s.default;
      if (v !== undefined) out[k] = v;
    }
    validator ??= Compile(spec.flags);
    if (!validator.Check(out)) throw violation(spec.flags, validator, out, spec.name);
    return out as Static<F>;
  };

  return {
    name: spec.name,
    summary: spec.summary,
    usage,
    switches,
    help,
    async invoke(args, io) {
      const flags = parse(args);
      if (flags === 'help') {
        io.out(help());
        return EXIT.ok;
      }
      return spec.run(flags, io);
    },
  };
}

export const isGroup = (e: Command | CommandGroup): e is CommandGroup => 'commands' in e;

/** The subcommand word of a group and the other arguments (a flag's value is never taken for it). */
export function splitSubcommand(group: CommandGroup, args: readonly string[]): { verb?: string; rest: string[] } {
  const switches = new Set(group.commands.flatMap((c) => c.switches));
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === '--') break;
    if (a.startsWith('-')) {
      if (!a.includes('=') && !switches.has(a)) i++;
      continue;
    }
    return { verb: a, rest: [...args.slice(0, i), ...args.slice(i + 1)] };
  }
  return { rest: [...args] };
}

function groupHelp(g: CommandGroup): string {
  const width = Math.max(...g.commands.map((c) => c.name.length)) + 2;
  return [
    `usage: mpc-custody ${g.name} <${g.commands.map((c) => c.name.split(' ').at(-1)).join('|')}> [flags]`,
    '',
    g.summary,
    '',
    ...g.commands.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    '',
    `mpc-custody ${g.name} <subcommand> --help shows its flags.`,
    ...(g.help ? ['', g.help] : []),
    '',
    EXIT_CODES_HELP,
  ].join('\n');
}

export function topHelp(entries: readonly (Command | CommandGroup)[]): string {
  const width = Math.max(...entries.map((e) => e.name.length)) + 2;
  return [
    'usage: mpc-custody <command> [flags]      (mpc-custody <command> --help for its flags)',
    '',
    ...entries.map((e) => `  ${e.name.padEnd(width)}${e.summary}`),
    '',
    EXIT_CODES_HELP,
    'MPC_CUSTODY_DEBUG=1 adds the stack of an unexpected (ERR_INTERNAL) error.',
  ].join('\n');
}

const printed = (io: CommandIo, text: string): number => {
  io.out(text);
  return EXIT.ok;
};

/** Resolves `argv` to a command and its arguments, or throws ERR_CLI_USAGE. */
function resolve(
  entries: readonly (Command | CommandGroup)[],
  argv: readonly string[],
): { name: string; run: (io: CommandIo) => Promise<number> } {
  const [first, ...rest] = argv;
  if (first === undefined || first.startsWith('-')) {
    if (first === '--help' || first === '-h') return { name: '', run: async (io) => printed(io, topHelp(entries)) };
    throw usageError(`${first === undefined ? 'no command given' : `unknown command ${first}`} (mpc-custody --help)`);
  }
  const entry = entries.find((e) => e.name === first);
  if (entry === undefined) throw usageError(`unknown command "${first}" (mpc-custody --help lists them)`);
  if (!isGroup(entry)) return { name: entry.name, run: (io) => entry.invoke(rest, io) };
  const { verb, rest: args } = splitSubcommand(entry, rest);
  const cmd = entry.commands.find((c) => c.name === `${entry.name} ${verb}`);
  if (cmd !== undefined) return { name: cmd.name, run: (io) => cmd.invoke(args, io) };
  if (verb === undefined && (args.includes('--help') || args.includes('-h'))) {
    return { name: entry.name, run: async (io) => printed(io, groupHelp(entry)) };
  }
  const verbs = entry.commands.map((c) => c.name.split(' ').at(-1)).join(', ');
  const what = verb === undefined ? 'no subcommand given' : `unknown subcommand "${verb}"`;
  throw Object.assign(usageError(`${what}; one of ${verbs}`), { command: entry.name });
}

/** Prints an error the one way: a line (or a JSON object with --json) on stderr; returns the exit code. */
export function reportError(command: string, e: unknown, io: CommandIo, json: boolean): number {
  const me = toMpcError(e);
  const exit = me.code === 'ERR_CLI_USAGE' ? EXIT.usage : EXIT.failed;
  const prefix = command === '' ? 'mpc-custody' : `mpc-custody ${command}`;
  io.err(json ? JSON.stringify({ ...errorRecord(me), command, exit }) : errorLine(prefix, me));
  if (process.env.MPC_CUSTODY_DEBUG === '1' && me.code === 'ERR_INTERNAL' && e instanceof Error) {
    io.err(e.stack ?? String(e));
  }
  return exit;
}

/** `mpc-custody …`: dispatch, run, and the error line. Never throws. */
export async function runCli(
  entries: readonly (Command | CommandGroup)[],
  argv: readonly string[],
  io: CommandIo,
): Promise<number> {
  const json = argv.includes('--json');
  let name = '';
  try {
    const r = resolve(entries, argv);
    name = r.name;
    return await r.run(io);
  } catch (e) {
    const group = (e as { command?: unknown }).command;
    return reportError(typeof group === 'string' ? group : name, e, io, json);
  }
}

/** One command on its own (for callers and tests that hold the command, not the argv of main). */
export async function runCommand(cmd: Command, args: readonly string[], io: CommandIo): Promise<number> {
  try {
    return await cmd.invoke(args, io);
  } catch (e) {
    return reportError(cmd.name, e, io, args.includes('--json'));
  }
}
