/**
 * The config schemas are the documentation (issue 20): the committed reference is what the schemas
 * generate, the README's config examples and the configs `setup` writes are valid under them, and a
 * config refused by the schema names the failing field.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import { describe, expect, it } from 'vitest';
import { configReference } from '../../src/cli/config-reference.js';
import { parsePartyConfig } from '../../src/daemon/config.js';
import { CoordinatorConfigSchema, PartyConfigSchema, StoreConfigSchema } from '../../src/daemon/config-schema.js';
import { setupPartySet } from '../../src/daemon/setup.js';
import { MpcError } from '../../src/errors/index.js';
import { tempDir } from '../storage/helpers.js';

const ROOT = join(import.meta.dirname, '..', '..');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');

const errorsOf = (schema: TSchema, value: unknown) =>
  [...Compile(schema).Errors(value)].map((e) => `${e.instancePath} ${e.message}`);

describe('config reference and examples', () => {
  it('docs/config-reference.md is what the schemas generate (mpc-custody config-reference)', async () => {
    const committed = readFileSync(join(ROOT, 'docs', 'config-reference.md'), 'utf8');
    expect(committed).toBe(await configReference());
  });

  it("the README's party config example and its store variants match the schemas", () => {
    const block = /Daemon config \(`party-<i>\/config.json`[\s\S]*?```json\n([\s\S]*?)```/.exec(README)?.[1];
    expect(block, 'README: the ```json block after "Daemon config"').toBeDefined();
    expect(errorsOf(PartyConfigSchema, JSON.parse(block as string))).toEqual([]);
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
