/**
 * The config reference (docs/config-reference.md), generated from the same TypeBox schemas that
 * validate the files: `mpc-custody config-reference > docs/config-reference.md`. A test checks that
 * the committed file is what this prints, so the reference cannot drift from the validation.
 */
import Type from 'typebox';
import { defineCommand, EXIT } from './command.js';

interface Node {
  readonly type?: string;
  readonly properties?: Readonly<Record<string, Node>>;
  readonly required?: readonly string[];
  readonly anyOf?: readonly Node[];
  readonly items?: Node;
  readonly const?: unknown;
  readonly default?: unknown;
  readonly description?: string;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly pattern?: string;
  readonly minItems?: number;
  readonly maxItems?: number;
}

const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function typeOf(s: Node): string {
  if (s.const !== undefined) return JSON.stringify(s.const);
  if (s.anyOf !== undefined) {
    if (s.anyOf.every((x) => x.const !== undefined)) return s.anyOf.map((x) => JSON.stringify(x.const)).join(' | ');
    return 'one of the variants below';
  }
  if (s.type === 'array') return `array of ${s.items ? typeOf(s.items) : 'values'}`;
  return s.type ?? 'value';
}

function rules(s: Node): string {
  const r: string[] = [];
  if (s.minimum !== undefined || s.maximum !== undefined) r.push(`${s.minimum ?? '…'}..${s.maximum ?? '…'}`);
  if (s.pattern !== undefined) r.push(`\`${s.pattern}\``);
  if (s.minItems !== undefined || s.maxItems !== undefined) r.push(`${s.minItems ?? 0}..${s.maxItems ?? '…'} items`);
  return r.join(', ');
}

function rows(obj: Node, prefix: string, depth: number, out: string[]): void {
  const required = new Set(obj.required ?? []);
  for (const [key, s] of Object.entries(obj.properties ?? {})) {
    const name = `${prefix}${key}`;
    const def = s.default === undefined ? '' : `\`${JSON.stringify(s.default)}\``;
    out.push(
      `| \`${name}\` | ${cell(typeOf(s))} | ${required.has(key) ? 'yes' : 'no'} | ${def} | ${cell(
        [s.description ?? '', rules(s)].filter((x) => x !== '').join('; '),
      )} |`,
    );
    if (depth >= 3) continue;
    if (s.type === 'object') rows(s, `${name}.`, depth + 1, out);
    const variants = s.anyOf?.filter((v) => v.type === 'object') ?? [];
    variants.forEach((v, i) => {
      out.push(`| \`${name}\` variant ${i + 1} | object | | | ${cell(v.description ?? '')} |`);
      rows(v, `${name}.`, depth + 1, out);
    });
  }
}

function section(title: string, schema: Node, file: string): string {
  const out = [
    `## ${title}`,
    '',
    `${schema.description ?? ''} — \`${file}\`; unknown fields are refused.`,
    '',
    '| field | type | required | default | description, limits |',
    '|---|---|---|---|---|',
  ];
  rows(schema, '', 0, out);
  return out.join('\n');
}

/** The reference as markdown (deterministic: the committed file is compared with it). */
export async function configReference(): Promise<string> {
  const { CoordinatorConfigSchema, PartyConfigSchema } = await import('../daemon/config-schema.js');
  const { OrchestratorConfigSchema } = await import('../orchestrator/config.js');
  return `${[
    '# Config reference',
    '',
    'Generated from the TypeBox schemas that validate the files (`src/daemon/config-schema.ts`,',
    '`src/orchestrator/config.ts`) by `mpc-custody config-reference > docs/config-reference.md`;',
    'test/cli/config-reference.test.ts fails when this file and the schemas disagree. Relative paths',
    'resolve against the config file’s directory. Secrets never live in a config: PINs and passphrases',
    'come from the environment variables a config names.',
    '',
    section('Party config', PartyConfigSchema as Node, 'party-<i>/config.json'),
    '',
    section('Coordinator config', CoordinatorConfigSchema as Node, 'coordinator/coordinator.json'),
    '',
    section(
      'Orchestrator config',
      { ...(OrchestratorConfigSchema as Node), description: 'orchestrator (`mpc-custody orchestrator --config FILE`)' },
      'orchestrator.json',
    ),
  ].join('\n')}\n`;
}

export const configReferenceCommand = defineCommand({
  name: 'config-reference',
  summary: 'print the config reference (markdown) generated from the config schemas',
  flags: Type.Object({}),
  async run(_f, io) {
    io.out((await configReference()).trimEnd());
    return EXIT.ok;
  },
});
