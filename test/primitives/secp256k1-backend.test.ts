import { secp256k1 } from '@noble/curves/secp256k1.js';
import { describe, expect, it } from 'vitest';
import { fromBytesBE, mod, toBytesBE } from '../../src/math/bits.js';
import { decodePoint } from '../../src/primitives/curve.js';
import {
  nativeSecp256k1,
  nobleSecp256k1,
  type Secp256k1Backend,
  secp256k1Backend,
} from '../../src/primitives/secp256k1-backend.js';
import { TestDrbg } from '../helpers/drbg.js';

// The oracle is @noble/curves itself (nobleSecp256k1 is a thin byte wrapper over it). Counts keep the
// file cheap (noble costs ~0.1–1 ms per operation): 4000 decodes + 3000 additions + 2000
// multiplications + 1000 signatures = 10^4 random inputs, plus the edge cases below.
const Point = secp256k1.Point;
const N = Point.Fn.ORDER;
const P_FIELD = Point.Fp.ORDER;
const hex = (b: Uint8Array | null): string | null => (b === null ? null : Buffer.from(b).toString('hex'));

/** libsecp256k1 must be present unless the build was told to leave it out (setup.sh installs it). */
const native = nativeSecp256k1();
const nativeExpected = process.env.MPC_NO_LIBSECP256K1 !== '1';
const backends: Secp256k1Backend[] = [nobleSecp256k1, ...(native ? [native] : [])];

function scalar(rng: TestDrbg): bigint {
  const b = new Uint8Array(40);
  rng.fill(b);
  return mod(fromBytesBE(b), N - 1n) + 1n;
}
const s32 = (k: bigint): Uint8Array => toBytesBE(k, 32);
const G = Point.BASE;

describe('secp256k1 backend selection', () => {
  it('builds the mpc_secp256k1 addon (scripts/setup.sh installs libsecp256k1-dev) and selects it', () => {
    if (!nativeExpected) return;
    expect(native?.name).toBe('libsecp256k1');
    if (process.env.MPC_SECP256K1_BACKEND !== 'noble') expect(secp256k1Backend().name).toBe('libsecp256k1');
  });
});

describe.skipIf(native === undefined)('libsecp256k1 agrees with @noble/curves on 10^4 random inputs', () => {
  const nat = native as Secp256k1Backend;

  it('decode: 4000 random 33-byte encodings (about half on the curve), same point or both refuse', () => {
    const rng = new TestDrbg('secp-decode');
    let valid = 0;
    for (let i = 0; i < 4000; i++) {
      const b = new Uint8Array(33);
      rng.fill(b);
      b[0] = 2 + ((b[0] as number) & 1);
      const want = hex(nobleSecp256k1.decode(b));
      expect(hex(nat.decode(b))).toBe(want);
      if (want !== null) {
        valid++;
        // curve.ts decodePoint (native path when selected) gives the same point as noble
        expect(decodePoint(b).equals(Point.fromBytes(b))).toBe(true);
      } else {
        expect(() => decodePoint(b)).toThrow(expect.objectContaining({ code: 'ERR_WIRE_POINT_INVALID' }));
      }
    }
    expect(valid).toBeGreaterThan(1800);
  });

  it('add and mul: 3000 sums and 2000 products of random points and scalars', () => {
    const rng = new TestDrbg('secp-mul-add');
    const pts: Uint8Array[] = [];
    const others: Uint8Array[] = [];
    for (let i = 0; i < 60; i++) pts.push(G.multiply(scalar(rng)).toBytes(true));
    for (let i = 0; i < 60; i++) others.push(G.multiply(scalar(rng)).toBytes(i % 2 === 0));
    for (let i = 0; i < 3000; i++) {
      // 3000 distinct pairs (60 × 50), compressed and uncompressed second operands
      const a = pts[i % 60] as Uint8Array;
      const b = others[Math.floor(i / 60)] as Uint8Array;
      expect(hex(nat.add(a, b))).toBe(hex(nobleSecp256k1.add(a, b)));
    }
    for (let i = 0; i < 2000; i++) {
      const p = pts[i % pts.length] as Uint8Array;
      const k = s32(scalar(rng));
      const got = nat.mul(p, k);
      expect(got).not.toBeNull();
      expect(hex(got)).toBe(hex(nobleSecp256k1.mul(p, k)));
    }
  });

  it('verify: 1000 signatures (valid, low s), each also with one of: a wrong digest, high s, another key', () => {
    const rng = new TestDrbg('secp-verify');
    for (let i = 0; i < 1000; i++) {
      const y = scalar(rng);
      const Y = G.multiply(y).toBytes(true);
      const digest = new Uint8Array(32);
      rng.fill(digest);
      const k = scalar(rng);
      const r = mod(G.multiply(k).toAffine().x, N);
      let s = mod(Point.Fn.inv(k) * (mod(fromBytesBE(digest), N) + r * y), N);
      if (r === 0n || s === 0n) continue;
      if (s > N >> 1n) s = N - s;
      const sig = new Uint8Array([...s32(r), ...s32(s)]);
      const high = new Uint8Array([...s32(r), ...s32(N - s)]);
      const other = new Uint8Array(digest);
      other[i % 32] = (other[i % 32] as number) ^ 1;
      const negatives: [Uint8Array, Uint8Array, Uint8Array, boolean][] = [
        [sig, other, Y, false],
        [high, digest, Y, false],
        [sig, digest, G.toBytes(true), false],
      ];
      const cases = [[sig, digest, Y, true] as const, negatives[i % 3] as (typeof negatives)[number]];
      for (const [sg, d, pk, want] of cases) {
        expect(nobleSecp256k1.verify(sg, d, pk)).toBe(want);
        expect(nat.verify(sg, d, pk)).toBe(want);
      }
    }
  });
});

describe('secp256k1 backends refuse the edge cases alike', () => {
  const Y = G.multiply(123456789n).toBytes(true);
  const digest = new Uint8Array(32).fill(7);

  it.each(backends.map((b) => [b.name, b] as const))('%s: scalar 0 or ≥ n refused by mul', (_, b) => {
    expect(b.mul(Y, s32(0n))).toBeNull();
    expect(b.mul(Y, s32(N))).toBeNull();
    expect(b.mul(Y, s32(N + 1n))).toBeNull();
    expect(b.mul(Y, new Uint8Array(32).fill(0xff))).toBeNull();
    expect(hex(b.mul(Y, s32(1n)))).toBe(hex(Y));
    expect(hex(b.mul(Y, s32(N - 1n)))).toBe(hex(Point.fromBytes(Y).negate().toBytes(true)));
  });

  it.each(backends.map((b) => [b.name, b] as const))('%s: P + (−P) is the identity, refused', (_, b) => {
    const neg = Point.fromBytes(Y).negate().toBytes(true);
    expect(b.add(Y, neg)).toBeNull();
    expect(hex(b.add(Y, Y))).toBe(hex(Point.fromBytes(Y).double().toBytes(true)));
  });

  it.each(backends.map((b) => [b.name, b] as const))('%s: invalid encodings refused', (_, b) => {
    const bad: Uint8Array[] = [
      new Uint8Array(33), // identity has no encoding; prefix 0x00
      Uint8Array.from([0x04, ...Y.subarray(1)]), // wrong prefix for 33 bytes
      Uint8Array.from([0x02, ...toBytesBE(P_FIELD, 32)]), // x = p (non-canonical)
      Uint8Array.from([0x02, ...toBytesBE(P_FIELD + 1n, 32)]), // x ≥ p
      Uint8Array.from([0x02, ...toBytesBE(5n, 32)]), // x = 5: x³ + 7 is not a square mod p
      Y.subarray(0, 32),
    ];
    const u = Point.fromBytes(Y).toBytes(false);
    const offCurve = Uint8Array.from(u);
    offCurve[64] = (offCurve[64] as number) ^ 1; // uncompressed, y wrong
    bad.push(offCurve);
    for (const e of bad) {
      expect(b.decode(e)).toBeNull();
      expect(b.mul(e, s32(2n))).toBeNull();
      expect(b.add(e, Y)).toBeNull();
      expect(b.verify(new Uint8Array(64).fill(1), digest, e)).toBe(false);
    }
  });

  it.each(backends.map((b) => [b.name, b] as const))('%s: verify refuses r or s outside [1, n), high s', (_, b) => {
    const y = 987654321n;
    const k = 55555n;
    const r = mod(G.multiply(k).toAffine().x, N);
    let s = mod(Point.Fn.inv(k) * (fromBytesBE(digest) + r * y), N);
    if (s > N >> 1n) s = N - s;
    const pk = G.multiply(y).toBytes(true);
    const sig = (rr: bigint, ss: bigint): Uint8Array => new Uint8Array([...s32(rr), ...s32(ss)]);
    expect(b.verify(sig(r, s), digest, pk)).toBe(true);
    expect(b.verify(sig(r, N - s), digest, pk)).toBe(false); // high s: the project's convention is low-s only
    expect(b.verify(sig(0n, s), digest, pk)).toBe(false);
    expect(b.verify(sig(r, 0n), digest, pk)).toBe(false);
    const MAX = (1n << 256n) - 1n;
    for (const big of [N, N + 1n, MAX]) {
      expect(b.verify(sig(big, s), digest, pk)).toBe(false); // r ≥ n is never a valid r
      expect(b.verify(sig(r, big), digest, pk)).toBe(false);
    }
    expect(b.verify(sig(r, s).subarray(1), digest, pk)).toBe(false);
  });

  it('a signature whose nonce point has x ≥ n (r = x − n) verifies alike', () => {
    // x(R) ∈ [n, p) happens with probability ~2^-128, so build it: R with x = n + 1 if on the curve,
    // else the first such x; Y and the digest are chosen to match (u1·G + u2·Y = R, public values).
    let x = N + 1n;
    let R: InstanceType<typeof Point> | undefined;
    while (R === undefined) {
      try {
        R = Point.fromBytes(Uint8Array.from([0x02, ...toBytesBE(x, 32)]));
      } catch {
        x++;
      }
    }
    const r = mod(x, N);
    const s = 1n; // low s; R = s⁻¹(m·G + r·Y) = m·G + r·Y: pick Y = (R − m·G)·r⁻¹ for a digest m
    const m = fromBytesBE(digest);
    const Y = R.add(G.multiply(m).negate()).multiply(Point.Fn.inv(r)).toBytes(true);
    const sig = new Uint8Array([...s32(r), ...s32(s)]);
    for (const b of backends) expect([b.name, b.verify(sig, digest, Y)]).toEqual([b.name, true]);
  });
});
