import { describe, expect, it } from 'vitest';
import { MpcError } from '../../src/errors/index.js';
import { parseOrchestratorConfig } from '../../src/orchestrator/config.js';
import { missingParties, SignerHealth, signerSetsOf } from '../../src/orchestrator/signer-sets.js';

describe('signer sets', () => {
  it('every t-subset while there are at most 32, else the n cyclic windows', () => {
    expect(signerSetsOf(3, 2)).toEqual([
      [0, 1],
      [0, 2],
      [1, 2],
    ]);
    expect(signerSetsOf(5, 3)).toHaveLength(10);
    const windows = signerSetsOf(10, 5); // C(10,5) = 252
    expect(windows).toHaveLength(10);
    expect(windows[8]).toEqual([0, 1, 2, 8, 9]);
    // every party is in t of the windows
    for (let p = 0; p < 10; p++) expect(windows.filter((w) => w.includes(p))).toHaveLength(5);
    expect(signerSetsOf(3, 3)).toEqual([[0, 1, 2]]);
  });

  it('configured sets are checked: size t, distinct members in range, none twice', () => {
    expect(signerSetsOf(3, 2, [[2, 0]])).toEqual([[0, 2]]);
    const bad: number[][][] = [
      [[0]],
      [[0, 0]],
      [[0, 3]],
      [[0, -1]],
      [[0, 1.5]],
      [
        [0, 1],
        [1, 0],
      ],
    ];
    for (const sets of bad) {
      expect(() => signerSetsOf(3, 2, sets)).toThrowError(expect.objectContaining({ code: 'ERR_CONFIG_INVALID' }));
    }
    expect(() => signerSetsOf(2, 3)).toThrowError(expect.objectContaining({ code: 'ERR_CONFIG_INVALID' }));
  });

  it('the parties a timeout names; nothing from other errors', () => {
    const t = new MpcError('ERR_DAEMON_SESSION_TIMEOUT', 'x', { details: { missing: '1,2' } });
    expect(missingParties(t)).toEqual([1, 2]);
    expect(missingParties(new MpcError('ERR_DAEMON_SESSION_FAILED', 'x', { details: { missing: '1' } }))).toEqual([]);
    expect(missingParties(new Error('ERR_DAEMON_SESSION_TIMEOUT'))).toEqual([]);
  });

  it('health: a suspect party is avoided until it answers or the suspicion lapses; none healthy → all', () => {
    let now = 0;
    const h = new SignerHealth({ suspectMs: 1000, now: () => now });
    const sets = signerSetsOf(3, 2);
    h.suspect([1]);
    expect(h.healthy(sets)).toEqual([[0, 2]]);
    expect([h.pick(sets), h.pick(sets)]).toEqual([
      [0, 2],
      [0, 2],
    ]);
    h.answered([1]);
    expect(h.healthy(sets)).toHaveLength(3);
    h.suspect([0, 1, 2]);
    expect(h.healthy(sets)).toHaveLength(3);
    now = 1001;
    expect(h.isSuspect(0)).toBe(false);
    // round robin over the healthy sets
    const picks = new Set([0, 1, 2].map(() => h.pick(sets).join(',')));
    expect(picks.size).toBe(3);
  });

  it('a pool config names its signer sets (sorted); a repeated party or one beyond signers.parties is refused', () => {
    const boot = { id: 'root', publicKey: { kty: 'OKP', crv: 'Ed25519', x: 'A'.repeat(43) } };
    const cfg = (signerSets: number[][]) => ({
      bootstrapAdmin: boot,
      signers: { parties: 3 },
      pools: [{ keyId: 'hot', path: 'm/0/7', target: 4, lowWater: 1, signerSets }],
    });
    expect(parseOrchestratorConfig(cfg([[2, 0]]), '/tmp').pools[0]?.signerSets).toEqual([[0, 2]]);
    for (const bad of [[[0, 0]], [[0, 3]]]) {
      expect(() => parseOrchestratorConfig(cfg(bad), '/tmp')).toThrowError(
        expect.objectContaining({ code: 'ERR_CONFIG_INVALID' }),
      );
    }
    expect(() => parseOrchestratorConfig(cfg([[-1, 0]]), '/tmp')).toThrow();
  });
});
