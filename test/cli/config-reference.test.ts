/**
 * The config schemas are the documentation (issue 20): the committed reference is what the schemas
 * generate, the README's config examples (every ```json block there must carry a tag naming its
 * schema: party-config, coordinator-config, orchestrator-config, store-config; tagged blocks in
 * docs/ and src/<module>/README.md are checked too) and the configs `setup` writes are valid under
 * them, and a config refused by the schema names the failing field.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import { describe, expect, it } from 'vitest';
import { configReference } from '../../src/cli/config-reference.js';
import { parsePartyConfig } from '../../src/daemon/config.js';
import { CoordinatorConfigSchema, PartyConfigSchema, StoreConfigSchema } from '../../src/daemon/config-schema.js';
import { setupPartySet } from '../../src/daemon/setup.js';
import { MpcError } from '../../src/errors/index.js';
import { OrchestratorConfigSchema, parseOrchestratorConfig } from '../../src/orchestrator/config.js';
import { tempDir } from '../storage/helpers.js';

const ROOT = join(import.meta.dirname, '..', '..');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');

const errorsOf = (schema: TSchema, value: unknown) =>
  [...Compile(schema).Errors(value)].map((e) => `${e.instancePath} ${e.message}`);

/** The schema of each config example tag (```json party-config …). */
const CONFIG_SCHEMAS: Readonly<Record<string, TSchema>> = {
  'party-config': PartyConfigSchema,
  'coordinator-config': CoordinatorConfigSchema,
  'orchestrator-config': OrchestratorConfigSchema,
  'store-config': StoreConfigSchema,
};
/** Beyond the schema, the rules the loaders add (paths, pool water marks, signer sets …). */
const CONFIG_PARSERS: Readonly<Record<string, (raw: unknown) => unknown>> = {
  'party-config': (raw) => parsePartyConfig(raw as Record<string, unknown>, ROOT),
  'orchestrator-config': (raw) => parseOrchestratorConfig(raw, ROOT),
};
const CONFIG_LANGS = new Set(['json', 'jsonc', 'json5', 'yaml', 'yml']);

interface Block {
  readonly line: number;
  readonly lang: string;
  readonly tag: string;
  readonly text: string;
}

/** Fenced code blocks: the language, the first word after it (the tag) and the text. */
function fencedBlocks(markdown: string): Block[] {
  const out: Block[] = [];
  for (const m of markdown.matchAll(/^```([\w-]*)[ \t]*([^\s`]*)[^\n]*\n([\s\S]*?)^```[ \t]*$/gm)) {
    const line = markdown.slice(0, m.index).split('\n').length;
    out.push({ line, lang: m[1] as string, tag: m[2] as string, text: m[3] as string });
  }
  return out;
}

/** `file:line tag: problem` for every block that is not JSON or breaks its schema or loader. */
function checkBlocks(file: string, blocks: readonly Block[]): string[] {
  const problems: string[] = [];
  for (const b of blocks) {
    const where = `${file}:${b.line} ${b.tag}`;
    if (b.lang !== 'json') {
      problems.push(`${where}: write config examples as json (no ${b.lang} parser here)`);
      continue;
    }
    let raw: unknown;
    try {
      raw = JSON.parse(b.text);
    } catch {
      problems.push(`${where}: not JSON`);
      continue;
    }
    const errors = errorsOf(CONFIG_SCHEMAS[b.tag] as TSchema, raw);
    if (errors.length > 0) {
      problems.push(`${where}: ${errors.join('; ')}`);
      continue;
    }
    try {
      CONFIG_PARSERS[b.tag]?.(raw);
    } catch (e) {
      problems.push(`${where}: ${e instanceof MpcError ? e.message : String(e)}`);
    }
  }
  return problems;
}

describe('config reference and examples', () => {
  it('docs/config-reference.md is what the schemas generate (mpc-custody config-reference)', async () => {
    const committed = readFileSync(join(ROOT, 'docs', 'config-reference.md'), 'utf8');
    expect(committed).toBe(await configReference());
  });

  it('every config example of the README (a ```json <kind>-config block) matches its schema', () => {
    const blocks = fencedBlocks(README);
    // an untagged json/yaml block in the README would go unchecked: each must name its schema
    const untagged = blocks.filter((b) => CONFIG_LANGS.has(b.lang) && !(b.tag in CONFIG_SCHEMAS));
    expect(
      untagged.map((b) => `README.md:${b.line}: \`\`\`${b.lang} ${b.tag}`),
      `tag it: ${Object.keys(CONFIG_SCHEMAS).join(', ')}`,
    ).toEqual([]);
    const kinds = new Set(blocks.map((b) => b.tag));
    for (const kind of ['party-config', 'coordinator-config', 'orchestrator-config']) {
      expect(kinds.has(kind), `README: a \`\`\`json ${kind} example`).toBe(true);
    }
    expect(
      checkBlocks(
        'README.md',
        blocks.filter((b) => b.tag in CONFIG_SCHEMAS),
      ),
    ).toEqual([]);
  });

  it('tagged config examples in the other READMEs and docs match their schemas too', () => {
    const files = [
      ...readdirSync(join(ROOT, 'docs'))
        .filter((n) => n.endsWith('.md'))
        .map((n) => join('docs', n)),
      ...readdirSync(join(ROOT, 'src'), { withFileTypes: true })
        .filter((d) => d.isDirectory() && existsSync(join(ROOT, 'src', d.name, 'README.md')))
        .map((d) => join('src', d.name, 'README.md')),
    ];
    expect(files.length).toBeGreaterThan(0);
    const problems = files.flatMap((file) =>
      checkBlocks(
        file,
        fencedBlocks(readFileSync(join(ROOT, file), 'utf8')).filter((b) => b.tag in CONFIG_SCHEMAS),
      ),
    );
    expect(problems).toEqual([]);
  });

  it('the check refuses an example that drifted from the schema (unknown field, wrong type, bad rule)', () => {
    const drifted = [
      '```json party-config',
      '{ "party": 0, "roster": "r.json", "nats": "n.json", "store": { "kind": "file", "keyFile": "k" }, "natsUrl": "x" }',
      '```',
      '```json coordinator-config',
      '{ "roster": "r.json", "secretFile": "k", "nats": "n.json", "roundTimeoutMs": "60s" }',
      '```',
      '```json orchestrator-config',
      '{ "bootstrapAdmin": { "id": "root", "publicKey": { "kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" } },',
      '  "pools": [{ "keyId": "hot", "path": "m/0", "target": 2, "lowWater": 5 }] }',
      '```',
      '```json orchestrator-config',
      '{ "bootstrapAdmin": { "id": "root" }, ',
      '```',
    ].join('\n');
    const problems = checkBlocks('drift.md', fencedBlocks(drifted));
    expect(problems).toHaveLength(4);
    expect(problems[0]).toMatch(/^drift\.md:1 party-config: .*natsUrl/);
    expect(problems[1]).toMatch(/^drift\.md:4 coordinator-config: \/roundTimeoutMs/);
    expect(problems[2]).toMatch(/^drift\.md:7 orchestrator-config: .*lowWater/);
    expect(problems[3]).toMatch(/^drift\.md:11 orchestrator-config: not JSON/);
  });

  it("the README's store variants match the store schema", () => {
    const variants = /`store` may instead be `(\{[^`]*\})`\s+or\s+`(\{[^`]*\})`/.exec(README);
    expect(variants, 'README: the store variants after "`store` may instead be"').not.toBeNull();
    for (const v of (variants as RegExpExecArray).slice(1)) {
      expect(errorsOf(StoreConfigSchema, JSON.parse(v)), v).toEqual([]);
    }
  });

  it('the configs setup writes match the schemas', async () => {
    const t = tempDir('config-schema');
    try {
      const r = await setupPartySet({ dir: t.dir, parties: 2, natsPort: 4998, httpBasePort: 0 });
      for (const file of r.partyConfigs) {
        expect(errorsOf(PartyConfigSchema, JSON.parse(readFileSync(file, 'utf8'))), file).toEqual([]);
      }
      const coordinator = JSON.parse(readFileSync(r.coordinatorConfig, 'utf8'));
      expect(errorsOf(CoordinatorConfigSchema, coordinator)).toEqual([]);
    } finally {
      t.cleanup();
    }
  });

  it('a party config the schema refuses is ERR_CONFIG_INVALID naming the field, never the value', () => {
    const base = { party: 0, roster: 'r.json', nats: 'n.json', store: { kind: 'file', keyFile: 'k' } };
    const cases: Array<[unknown, string]> = [
      [{ ...base, store: { kind: 'file' } }, 'field /store: missing keyFile'],
      [{ ...base, store: { kind: 'file', keyFile: 7 } }, 'field /store/keyFile: must be string'],
      [{ ...base, logLevel: 'SECRET-LEVEL' }, 'field /logLevel: must be one of fatal, error, warn, info, debug, trace'],
      [{ ...base, http: { port: 70000 } }, 'field /http/port: must be <= 65535'],
      [{ ...base, surprise: 'SECRET-VALUE' }, 'field (document): unknown field surprise'],
      [{ roster: 'r.json', nats: 'n.json', store: base.store }, 'field (document): missing party'],
    ];
    for (const [raw, expected] of cases) {
      let err: unknown;
      try {
        parsePartyConfig(raw as Record<string, unknown>, '/tmp');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(MpcError);
      expect((err as MpcError).code).toBe('ERR_CONFIG_INVALID');
      expect((err as MpcError).reason).toBe(`party config ${expected}`);
      expect((err as MpcError).message).not.toContain('SECRET-');
    }
  });
});
