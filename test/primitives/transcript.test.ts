import { bytesToHex } from '@noble/hashes/utils.js';
import { describe, expect, it } from 'vitest';
import { HashDrbg, Transcript } from '../../src/primitives/transcript.js';

const first16 = (r: HashDrbg): string => {
  const b = new Uint8Array(16);
  r.fill(b);
  return bytesToHex(b);
};

describe('Fiat–Shamir transcript', () => {
  it('gives different challenges for structurally different inputs with equal naive concatenation (A9)', () => {
    // x‖y = 01 02 03 in both: only the split differs.
    const a = new Transcript('mpc-custody.test').bytes('x', Uint8Array.of(1, 2)).bytes('y', Uint8Array.of(3));
    const b = new Transcript('mpc-custody.test').bytes('x', Uint8Array.of(1)).bytes('y', Uint8Array.of(2, 3));
    expect(first16(a.challengeRng('e'))).not.toBe(first16(b.challengeRng('e')));
    // Same bytes under a different label, a different type, or moved into the tag.
    const c = new Transcript('mpc-custody.test').bytes('xy', Uint8Array.of(1, 2, 3));
    const d = new Transcript('mpc-custody.test').uint('xy', 0x010203n);
    const e = new Transcript('mpc-custody.test\x00\x01\x02\x03');
    const seen = new Set([c, d, e].map((t) => first16(t.challengeRng('e'))));
    expect(seen.size).toBe(3);
    // Signed and unsigned encodings of the same magnitude differ, and so do 5 and −5.
    const pos = first16(new Transcript('t').int('z', 5n).challengeRng('e'));
    const neg = first16(new Transcript('t').int('z', -5n).challengeRng('e'));
    const uns = first16(new Transcript('t').uint('z', 5n).challengeRng('e'));
    expect(new Set([pos, neg, uns]).size).toBe(3);
    // Lists: [ab, c] vs [a, bc] as integers.
    const l1 = first16(new Transcript('t').uints('v', [0x0102n, 3n]).challengeRng('e'));
    const l2 = first16(new Transcript('t').uints('v', [1n, 0x0203n]).challengeRng('e'));
    expect(l1).not.toBe(l2);
  });

  it('binds the challenge label: one transcript never yields another challenge', () => {
    const mk = () => new Transcript('t').uint('N', 77n);
    expect(first16(mk().challengeRng('e'))).not.toBe(first16(mk().challengeRng('y')));
  });

  it('refuses to absorb after the challenge was drawn', () => {
    const t = new Transcript('t');
    t.challengeRng('e');
    expect(() => t.uint('late', 1n)).toThrow(/already produced/);
  });

  it('matches the committed golden vectors (encoding regressions change every challenge)', () => {
    const a = new Transcript('mpc-custody.test')
      .bytes('x', Uint8Array.of(1, 2))
      .bytes('y', Uint8Array.of(3))
      .challengeRng('e');
    const b = new Transcript('mpc-custody.test')
      .bytes('x', Uint8Array.of(1))
      .bytes('y', Uint8Array.of(2, 3))
      .challengeRng('e');
    const c = new Transcript('mpc-custody.test').uint('N', 0xabcdefn).int('z', -5n).u32('i', 7).challengeRng('e');
    expect([first16(a), a.signed(1n << 128n), a.below(1000003n)]).toEqual([
      'db8fcb55a645ff408c44d6ae8ff3e5ae',
      -166196477618844294221530160341934112318n,
      297030n,
    ]);
    expect([first16(b), b.signed(1n << 128n), b.below(1000003n)]).toEqual([
      'ffe486504d2e2d2d16985cbe120a4b6a',
      260601995345586074597015392636201520995n,
      231203n,
    ]);
    expect([first16(c), c.signed(1n << 128n), c.below(1000003n)]).toEqual([
      '6b10f0f47061024642f1a6f6a75c3e2f',
      103477543647531130315439009936541928251n,
      387434n,
    ]);
  });

  it('draws challenges uniformly in their exact ranges', () => {
    const r = new HashDrbg(new Uint8Array(32));
    const Q = 1n << 128n;
    let neg = 0;
    for (let i = 0; i < 2000; i++) {
      const e = r.signed(Q);
      expect(e >= -Q && e < Q).toBe(true);
      if (e < 0n) neg++;
      const y = r.below(1000n);
      expect(y >= 0n && y < 1000n).toBe(true);
    }
    expect(neg).toBeGreaterThan(850); // ~1000 expected; a sign bias would show here
    expect(neg).toBeLessThan(1150);
    const bits = r.bits(4096);
    const ones = bits.filter(Boolean).length;
    expect(ones).toBeGreaterThan(1850);
    expect(ones).toBeLessThan(2250);
  });
});
