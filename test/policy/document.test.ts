/** Reading policy documents: every malformed document is refused with a code and the field's path. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { MpcError } from '../../src/errors/index.js';
import { MAX_POLICY_BYTES, parsePolicy, policyJsonSchema } from '../../src/policy/index.js';

const referenceYaml = readFileSync(new URL('../fixtures/policy/reference-policy.yaml', import.meta.url), 'utf8');
const base = () => ({
  schema: 'mpc-custody/policy@1',
  version: 1,
  rules: [{ id: 'all', match: {}, action: 'allow' }] as Record<string, unknown>[],
});
const refusal = (doc: unknown) => {
  try {
    parsePolicy(typeof doc === 'string' ? doc : JSON.stringify(doc));
  } catch (e) {
    return { code: e instanceof MpcError ? e.code : 'not an MpcError', message: (e as Error).message };
  }
  return { code: 'accepted', message: '' };
};

describe('parsePolicy', () => {
  it('reads YAML and the same document as JSON to the same policy', () => {
    const fromYaml = parsePolicy(referenceYaml);
    const fromJson = parsePolicy(JSON.stringify(fromYaml.document));
    expect(fromJson.document).toEqual(fromYaml.document);
    expect(fromYaml.rules.length).toBeGreaterThanOrEqual(20);
    expect(Object.isFrozen(fromYaml.document.rules[0])).toBe(true);
  });

  it('publishes a JSON Schema for policy authors', () => {
    expect(policyJsonSchema).toMatchObject({
      type: 'object',
      required: expect.arrayContaining(['schema', 'version', 'rules']),
    });
  });

  const bad: [string, (d: ReturnType<typeof base>) => unknown, string][] = [
    ['unknown top-level field', (d) => ({ ...d, extra: 1 }), '/extra'],
    ['wrong schema tag', (d) => ({ ...d, schema: 'policy@2' }), '/schema'],
    ['version zero', (d) => ({ ...d, version: 0 }), '/version'],
    ['version not an integer', (d) => ({ ...d, version: 1.5 }), '/version'],
    ['no rules', (d) => ({ ...d, rules: [] }), '/rules'],
    ['unknown action', (d) => ({ ...d, rules: [{ id: 'a', match: {}, action: 'maybe' }] }), '/rules/0/action'],
    [
      'unknown match field',
      (d) => ({ ...d, rules: [{ id: 'a', match: { colour: 'red' }, action: 'allow' }] }),
      '/rules/0/match',
    ],
    ['rule id with a space', (d) => ({ ...d, rules: [{ id: 'a b', match: {}, action: 'allow' }] }), '/rules/0/id'],
    [
      'rule id starting with underscore (reserved)',
      (d) => ({ ...d, rules: [{ id: '_default_deny', match: {}, action: 'allow' }] }),
      '/rules/0/id',
    ],
    ['duplicate rule id', (d) => ({ ...d, rules: [d.rules[0], d.rules[0]] }), '/rules/1/id'],
    [
      'approvals without require_approvals',
      (d) => ({
        ...d,
        rules: [
          {
            ...d.rules[0],
            approvals: {
              groups: [{ name: 'g', members: { roles: ['approver'] }, threshold: 1 }],
              combine: 'all',
              timeoutSeconds: 600,
            },
          },
        ],
      }),
      '/rules/0',
    ],
    [
      'require_approvals without approvals',
      (d) => ({ ...d, rules: [{ id: 'a', match: {}, action: 'require_approvals' }] }),
      '/rules/0',
    ],
    [
      'threshold above the listed operators',
      (d) => ({
        ...d,
        rules: [
          {
            id: 'a',
            match: {},
            action: 'require_approvals',
            approvals: {
              groups: [{ name: 'g', members: { operators: ['x'] }, threshold: 2 }],
              combine: 'all',
              timeoutSeconds: 600,
            },
          },
        ],
      }),
      '/rules/0',
    ],
    [
      'approval timeout below a minute',
      (d) => ({
        ...d,
        rules: [
          {
            id: 'a',
            match: {},
            action: 'require_approvals',
            approvals: {
              groups: [{ name: 'g', members: { roles: ['approver'] }, threshold: 1 }],
              combine: 'all',
              timeoutSeconds: 5,
            },
          },
        ],
      }),
      '/rules/0/approvals/timeoutSeconds',
    ],
    [
      'unknown address book label',
      (d) => ({ ...d, rules: [{ id: 'a', match: { destinations: { addressBook: ['nope'] } }, action: 'allow' }] }),
      '/rules/0/match',
    ],
    [
      'native amount without a single asset',
      (d) => ({ ...d, rules: [{ id: 'a', match: { amount: { currency: 'native', above: '5' } }, action: 'block' }] }),
      '/rules/0/match',
    ],
    [
      'native amount with a fraction of a base unit',
      (d) => ({
        ...d,
        rules: [{ id: 'a', match: { assets: ['ETH'], amount: { currency: 'native', above: '5.5' } }, action: 'block' }],
      }),
      'base units',
    ],
    [
      'amount with only a currency',
      (d) => ({ ...d, rules: [{ id: 'a', match: { amount: { currency: 'USD' } }, action: 'block' }] }),
      '/rules/0/match/amount',
    ],
    [
      'negative amount',
      (d) => ({ ...d, rules: [{ id: 'a', match: { amount: { currency: 'USD', above: '-1' } }, action: 'block' }] }),
      '/rules/0/match/amount/above',
    ],
    [
      'amount bounds the wrong way round',
      (d) => ({
        ...d,
        rules: [{ id: 'a', match: { amount: { currency: 'USD', above: '10', atMost: '10' } }, action: 'block' }],
      }),
      '/rules/0/match/amount',
    ],
    [
      'velocity window of zero',
      (d) => ({
        ...d,
        rules: [
          {
            id: 'a',
            match: { velocity: { windowSeconds: 0, currency: 'USD', above: '1', aggregate: 'all' } },
            action: 'block',
          },
        ],
      }),
      '/rules/0/match/velocity/windowSeconds',
    ],
    [
      'velocity aggregation unknown',
      (d) => ({
        ...d,
        rules: [
          {
            id: 'a',
            match: { velocity: { windowSeconds: 60, currency: 'USD', above: '1', aggregate: 'planet' } },
            action: 'block',
          },
        ],
      }),
      '/rules/0/match/velocity/aggregate',
    ],
    [
      'time window with from only',
      (d) => ({ ...d, rules: [{ id: 'a', match: { time: { from: '09:00' } }, action: 'block' }] }),
      '/rules/0/match/time',
    ],
    [
      'empty time window',
      (d) => ({ ...d, rules: [{ id: 'a', match: { time: { from: '09:00', to: '09:00' } }, action: 'block' }] }),
      '/rules/0/match/time',
    ],
    [
      'clock out of range',
      (d) => ({ ...d, rules: [{ id: 'a', match: { time: { from: '24:00', to: '09:00' } }, action: 'block' }] }),
      '/rules/0/match/time/from',
    ],
    [
      'unknown weekday',
      (d) => ({ ...d, rules: [{ id: 'a', match: { time: { days: ['funday'] } }, action: 'block' }] }),
      '/rules/0/match/time/days/0',
    ],
    [
      'bad path pattern',
      (d) => ({ ...d, rules: [{ id: 'a', match: { paths: ["0/1'"] }, action: 'block' }] }),
      '/rules/0/match/paths/0',
    ],
    [
      'bad asset id',
      (d) => ({ ...d, rules: [{ id: 'a', match: { assets: ['DOGE'] }, action: 'block' }] }),
      '/rules/0/match/assets/0',
    ],
    [
      'empty initiator set',
      (d) => ({ ...d, rules: [{ id: 'a', match: { initiators: {} }, action: 'block' }] }),
      '/rules/0/match/initiators',
    ],
    [
      '__proto__ key',
      () =>
        '{"schema":"mpc-custody/policy@1","version":1,"rules":[{"id":"a","match":{},"action":"allow"}],"__proto__":{"x":1}}',
      '/__proto__',
    ],
  ];
  it.each(bad)('refuses %s', (_name, mutate, where) => {
    const r = refusal(mutate(base()));
    expect(r.code).toBe('ERR_POLICY_DOCUMENT_INVALID');
    expect(r.message).toContain(where);
  });

  it('refuses text that is neither JSON nor YAML without quoting it', () => {
    const r = refusal('{"schema": "secret-looking-value", ');
    expect(r.code).toBe('ERR_POLICY_DOCUMENT_INVALID');
    expect(r.message).not.toContain('secret-looking-value');
  });
  it('refuses duplicate YAML keys', () => {
    expect(
      refusal('schema: mpc-custody/policy@1\nversion: 1\nversion: 2\nrules: [{id: a, match: {}, action: allow}]\n')
        .code,
    ).toBe('ERR_POLICY_DOCUMENT_INVALID');
  });
  it('refuses an oversize document before parsing it', () => {
    expect(refusal(`# ${'x'.repeat(MAX_POLICY_BYTES)}`).code).toBe('ERR_POLICY_TOO_LARGE');
  });
  it('refuses invalid UTF-8 bytes', () => {
    expect(() => parsePolicy(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]))).toThrow(/ERR_POLICY_DOCUMENT_INVALID/);
  });
});
