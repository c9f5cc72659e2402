import { createPublicKey, verify as nodeVerify } from 'node:crypto';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { MpcError } from '../../src/errors/index.js';
import { mod, toBytesBE } from '../../src/math/bits.js';
import { CURVE_ORDER, encodePoint, mulBase, Point } from '../../src/primitives/curve.js';
import { derivePath } from '../../src/protocol/hd.js';
import type { KeyShare } from '../../src/protocol/key-share.js';
import { type Presignature, presign, presignatureId } from '../../src/protocol/presign.js';
import {
  combineSignature,
  decodePartialSignature,
  type EcdsaSignature,
  encodePartialSignature,
  issuePartialSignature,
  MemoryPresignatureLedger,
  type PartialSignature,
  type PresignatureLedger,
  rerandomize,
} from '../../src/protocol/sign.js';
import { simulate } from '../../src/protocol/simulation.js';
import { type DealtKey, dealKeyShares } from '../helpers/dealer.js';
import { TestDrbg } from '../helpers/drbg.js';
import { math, sid } from '../helpers/keys.js';

const PATH = [0, 1, 7];
const te = new TextEncoder();

const keys: Record<string, DealtKey> = {};
beforeAll(async () => {
  keys['2-of-3'] = await dealKeyShares({ n: 3, t: 2, seed: 'sign-2of3' });
  keys['3-of-5'] = await dealKeyShares({ n: 5, t: 3, seed: 'sign-3of5' });
  keys['3-of-3'] = await dealKeyShares({ n: 3, t: 3, additive: true, seed: 'sign-3of3' });
});

/** Runs presigning once per (key, signers, path) and remembers the outputs. */
const presigCache = new Map<string, Presignature[]>();
function presigs(key: string, signers: number[], path: number[]): Presignature[] {
  const name = `${key}:${signers.join(',')}:${path.join('/')}`;
  const hit = presigCache.get(name);
  if (hit !== undefined) return hit;
  const dealt = keys[key] as DealtKey;
  const r = simulate(
    presign,
    signers.map((s) => ({ share: dealt.shares[s] as KeyShare, signers, path })),
    { sid: sid(`sign-test-${name}`), math, rngs: signers.map((_, i) => new TestDrbg(`sign-${name}-${i}`)) },
  );
  expect(r.errors.every((e) => e === undefined)).toBe(true);
  const outs = r.outputs as Presignature[];
  // Presigning output (PROTOCOL.md §5 Output): identical public part at every signer, bound to the
  // derived key and the path; test-only reconstruction (§10): R = k⁻¹·G and Σ χ_i = k·(x + δ_HD).
  const derived = derivePath(dealt.publicKey, dealt.chainCode, path);
  const first = outs[0] as Presignature;
  expect(first.id).toMatch(/^[0-9a-f]{64}$/);
  outs.forEach((o, i) => {
    expect(o.self).toBe(i);
    expect(o.id).toBe(first.id);
    expect(o.R.equals(first.R)).toBe(true);
    expect(o.signers).toEqual(signers);
    expect(o.path).toEqual(path);
    expect(o.publicKey.equals(derived.publicKey)).toBe(true);
  });
  const k = mod(
    outs.reduce((a, o) => a + o.k, 0n),
    CURVE_ORDER,
  );
  const chi = mod(
    outs.reduce((a, o) => a + o.chi, 0n),
    CURVE_ORDER,
  );
  expect(first.R.equals(mulBase(Point.Fn.inv(k)))).toBe(true);
  expect(chi).toBe(mod(k * (dealt.secret + derived.shift), CURVE_ORDER));
  presigCache.set(name, outs);
  return outs;
}

function signAll(
  ps: readonly Presignature[],
  digest: Uint8Array,
): { partials: PartialSignature[]; sig: EcdsaSignature } {
  const partials = ps.map((p) => issuePartialSignature(p, digest, new MemoryPresignatureLedger()));
  return { partials, sig: combineSignature(ps[0] as Presignature, digest, partials) };
}

/** node:crypto (OpenSSL) verification: SPKI from a JWK, sha256 over the message, DER signature. */
function opensslVerifies(publicKey: Point, message: Uint8Array, der: Uint8Array): boolean {
  const { x, y } = publicKey.toAffine();
  const b64 = (v: bigint) => Buffer.from(toBytesBE(v, 32)).toString('base64url');
  const key = createPublicKey({ key: { kty: 'EC', crv: 'secp256k1', x: b64(x), y: b64(y) }, format: 'jwk' });
  return nodeVerify('sha256', message, key, der);
}

function abortOf(fn: () => unknown): MpcError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(MpcError);
    return e as MpcError;
  }
  return expect.fail('expected an MpcError');
}

/**
 * Test-only presignatures without the protocol (the unit tests of signing need many): random k_i,
 * R = (Σ k_i)⁻¹·G, and random χ_i with Σ χ_i = k·x.
 */
function fakePresigs(t: number, seed: string, path: number[] = []): { ps: Presignature[]; x: bigint; Y: Point } {
  const rng = new TestDrbg(`fake-${seed}`);
  const scalar = () => 1n + math.randBelow(CURVE_ORDER - 1n, rng);
  const x = scalar();
  const Y = mulBase(x);
  const ks = Array.from({ length: t }, scalar);
  const k = mod(
    ks.reduce((a, b) => a + b, 0n),
    CURVE_ORDER,
  );
  const chis = Array.from({ length: t - 1 }, scalar);
  chis.push(mod(k * x - chis.reduce((a, b) => a + b, 0n), CURVE_ORDER));
  const R = mulBase(Point.Fn.inv(k));
  const signers = Array.from({ length: t }, (_, i) => i);
  const s = sid(`fake-${seed}`);
  const id = presignatureId(s, R, signers, path);
  const ps = ks.map(
    (ki, i): Presignature => ({
      version: 1,
      id,
      sid: s,
      signers,
      self: i,
      path,
      publicKey: Y,
      R,
      k: ki,
      chi: chis[i] as bigint,
    }),
  );
  return { ps, x, Y };
}

describe('presign → sign → combine (PROTOCOL.md §5, §6)', () => {
  const GRID = [
    { key: '2-of-3', signers: [0, 1], path: [] },
    { key: '2-of-3', signers: [0, 2], path: PATH },
    { key: '2-of-3', signers: [1, 2], path: [] },
    { key: '3-of-5', signers: [0, 1, 2], path: PATH },
    { key: '3-of-5', signers: [1, 3, 4], path: [] },
    { key: '3-of-3', signers: [0, 1, 2], path: PATH },
  ].map((c) => ({ ...c, set: `{${c.signers.join(',')}}`, hd: ['m', ...c.path].join('/') }));

  it.each(GRID)(
    '$key, signers $set, key $hd: presign agrees, the signature verifies (noble, OpenSSL) and recovers the key',
    ({ key, signers, path }) => {
      const dealt = keys[key] as DealtKey;
      const ps = presigs(key, signers, path);
      const expected = derivePath(dealt.publicKey, dealt.chainCode, path).publicKey;
      expect(ps.every((p) => p.publicKey.equals(expected))).toBe(true);
      const message = te.encode(`pay 1 BTC from ${key} ${signers.join('+')} ${path.join('/')}`);
      const digest = sha256(message);
      const { sig } = signAll(ps, digest);
      const pk = encodePoint(expected);
      // @noble/curves v2: prehash false (we pass the digest), lowS required.
      expect(secp256k1.verify(sig.compact, digest, pk, { prehash: false, lowS: true })).toBe(true);
      expect(secp256k1.verify(sig.der, digest, pk, { prehash: false, lowS: true, format: 'der' })).toBe(true);
      expect(opensslVerifies(expected, message, sig.der)).toBe(true);
      expect(sig.s <= CURVE_ORDER >> 1n).toBe(true);
      expect(sig.compact).toHaveLength(64);
      // Recovery id: recovers exactly the (derived) key, for a 65-byte "recovered" signature too.
      expect(new secp256k1.Signature(sig.r, sig.s, sig.recovery).recoverPublicKey(digest).equals(expected)).toBe(true);
      const recovered = Uint8Array.of(sig.recovery, ...sig.compact);
      expect(Buffer.from(secp256k1.recoverPublicKey(recovered, digest, { prehash: false }))).toEqual(Buffer.from(pk));
      // Re-randomised: the signature's nonce point is τ·R, not the presignature's R.
      expect(sig.r).not.toBe(mod(ps[0]?.R.toAffine().x as bigint, CURVE_ORDER));
      if (path.length > 0) {
        // Bound to the derived key: it does not verify under the master key.
        expect(secp256k1.verify(sig.compact, digest, encodePoint(dealt.publicKey), { prehash: false })).toBe(false);
      }
    },
  );

  it('refuses a presignature used twice: the second partial is never produced (ERR_PRESIGNATURE_USED)', () => {
    const ps = presigs('2-of-3', [0, 1], []);
    const ledger = new MemoryPresignatureLedger();
    const digest = sha256(te.encode('first'));
    const first = issuePartialSignature(ps[0] as Presignature, digest, ledger);
    expect(first.sigma).toBeTypeOf('bigint');
    expect(ledger.has(ps[0]?.id as string)).toBe(true);
    for (const d of [digest, sha256(te.encode('second'))]) {
      let out: PartialSignature | undefined;
      const e = abortOf(() => {
        out = issuePartialSignature(ps[0] as Presignature, d, ledger);
      });
      expect(e.code).toBe('ERR_PRESIGNATURE_USED');
      expect(e.category).toBe('policy');
      expect(out).toBeUndefined();
    }
  });

  it('detects a partial signature for a different digest before releasing anything', () => {
    const ps = presigs('3-of-5', [1, 3, 4], []);
    const a = sha256(te.encode('approved transfer'));
    const b = sha256(te.encode('other transfer'));
    const partials = ps.map((p, i) => issuePartialSignature(p, i === 2 ? b : a, new MemoryPresignatureLedger()));
    const e = abortOf(() => combineSignature(ps[0] as Presignature, a, partials));
    expect(e.code).toBe('ERR_PROTOCOL_ABORT');
    expect(e.details.reason).toBe('partial-mismatch');
    expect(e.blame.map((x) => x.party)).toEqual([2]);
  });
});

describe('signing with re-randomised presignatures (unit, PROTOCOL.md §6, §8.2)', () => {
  it('normalises s, sets the recovery id, and verifies, over 64 digests (both parities, both low-s branches)', () => {
    const seen = { flipped: 0, kept: 0, v0: 0, v1: 0 };
    for (let i = 0; i < 64; i++) {
      const { ps, Y } = fakePresigs(3, `many-${i}`);
      const digest = sha256(te.encode(`message ${i}`));
      const { partials, sig } = signAll(ps, digest);
      const raw = mod(
        partials.reduce((acc, p) => acc + p.sigma, 0n),
        CURVE_ORDER,
      );
      if (raw > CURVE_ORDER >> 1n) seen.flipped++;
      else seen.kept++;
      if (sig.recovery === 0) seen.v0++;
      if (sig.recovery === 1) seen.v1++;
      expect(sig.s).toBe(raw > CURVE_ORDER >> 1n ? CURVE_ORDER - raw : raw);
      expect(secp256k1.verify(sig.compact, digest, encodePoint(Y), { prehash: false, lowS: true })).toBe(true);
      expect(new secp256k1.Signature(sig.r, sig.s, sig.recovery).recoverPublicKey(digest).equals(Y)).toBe(true);
      expect(Buffer.from(sig.der)).toEqual(Buffer.from(new secp256k1.Signature(sig.r, sig.s).toBytes('der')));
    }
    expect(Math.min(seen.flipped, seen.kept, seen.v0, seen.v1)).toBeGreaterThan(0);
  });

  it('consumes the presignature in the ledger before its secret shares are read', () => {
    const { ps } = fakePresigs(2, 'order');
    const log: string[] = [];
    const p = ps[0] as Presignature;
    const watched = Object.create(p, {
      k: {
        get: () => {
          log.push('read k');
          return p.k;
        },
      },
      chi: {
        get: () => {
          log.push('read chi');
          return p.chi;
        },
      },
    }) as Presignature;
    const ledger: PresignatureLedger = { consume: (id) => void log.push(`consume ${id.slice(0, 8)}`) };
    issuePartialSignature(watched, sha256(te.encode('x')), ledger);
    expect(log[0]).toBe(`consume ${p.id.slice(0, 8)}`);
    expect(log.slice(1).sort()).toEqual(['read chi', 'read k']);
    // A ledger that refuses (e.g. storage down) means no partial and no secret read.
    log.length = 0;
    const refusing: PresignatureLedger = {
      consume: () => {
        throw new MpcError('ERR_PRESIGNATURE_USED', 'refused');
      },
    };
    expect(() => issuePartialSignature(watched, sha256(te.encode('x')), refusing)).toThrow(/refused/);
    expect(log).toEqual([]);
  });

  it('does not consume the presignature for a malformed request', () => {
    const { ps } = fakePresigs(2, 'malformed');
    const ledger = new MemoryPresignatureLedger();
    for (const digest of [new Uint8Array(31), new Uint8Array(33), 'abc' as unknown as Uint8Array]) {
      expect(abortOf(() => issuePartialSignature(ps[0] as Presignature, digest, ledger)).code).toBe(
        'ERR_PROTOCOL_INPUT',
      );
    }
    expect(ledger.has(ps[0]?.id as string)).toBe(false);
  });

  it('binds the tweak τ to the digest and the path', () => {
    const { ps } = fakePresigs(2, 'tau');
    const p = ps[0] as Presignature;
    const d1 = sha256(te.encode('a'));
    const d2 = sha256(te.encode('b'));
    const t1 = rerandomize(p, d1);
    expect(Buffer.from(t1.encodedR).toString('hex')).toBe(
      Buffer.from(p.R.multiply(t1.tau).toBytes(true)).toString('hex'),
    );
    expect(rerandomize(p, d2).tau).not.toBe(t1.tau);
    expect(rerandomize({ ...p, path: [1] }, d1).tau).not.toBe(t1.tau);
    expect(rerandomize({ ...p }, d1).tau).toBe(t1.tau);
  });

  it('aborts with signature-invalid (no blame) when a partial with the right r′ has a wrong σ_i', () => {
    const { ps } = fakePresigs(3, 'bad-sigma');
    const digest = sha256(te.encode('m'));
    const partials = ps.map((p) => issuePartialSignature(p, digest, new MemoryPresignatureLedger()));
    const tampered = partials.map((p, i) => (i === 1 ? { ...p, sigma: mod(p.sigma + 1n, CURVE_ORDER) } : p));
    const e = abortOf(() => combineSignature(ps[0] as Presignature, digest, tampered));
    expect(e.code).toBe('ERR_PROTOCOL_ABORT');
    expect(e.details.reason).toBe('signature-invalid');
    expect(e.blame).toEqual([]);
    // A signature over the right digest but checked against the wrong key is caught the same way.
    const e2 = abortOf(() =>
      combineSignature({ ...(ps[0] as Presignature), publicKey: mulBase(5n) }, digest, partials),
    );
    expect(e2.details.reason).toBe('signature-invalid');
  });

  it('refuses partials of another presignature, duplicates and missing signers', () => {
    const { ps } = fakePresigs(3, 'combine-args');
    const { ps: other } = fakePresigs(3, 'combine-other');
    const digest = sha256(te.encode('m'));
    const partials = ps.map((p) => issuePartialSignature(p, digest, new MemoryPresignatureLedger()));
    const foreign = issuePartialSignature(other[2] as Presignature, digest, new MemoryPresignatureLedger());
    const e = abortOf(() =>
      combineSignature(ps[0] as Presignature, digest, [partials[0], partials[1], foreign] as PartialSignature[]),
    );
    expect(e.details.reason).toBe('partial-mismatch');
    expect(e.blame.map((b) => b.party)).toEqual([2]);
    expect(abortOf(() => combineSignature(ps[0] as Presignature, digest, partials.slice(0, 2))).code).toBe(
      'ERR_PROTOCOL_INPUT',
    );
    expect(
      abortOf(() =>
        combineSignature(ps[0] as Presignature, digest, [partials[0], partials[0], partials[2]] as PartialSignature[]),
      ).code,
    ).toBe('ERR_PROTOCOL_INPUT');
    const outOfRange = partials.map((p, i) => (i === 0 ? { ...p, sigma: CURVE_ORDER } : p));
    expect(
      abortOf(() => combineSignature(ps[0] as Presignature, digest, outOfRange)).blame.map((b) => b.party),
    ).toEqual([0]);
  });

  it('encodes partial signatures strictly (round trip, truncation, trailing bytes, σ ≥ q)', () => {
    const { ps } = fakePresigs(2, 'wire');
    const p = issuePartialSignature(ps[1] as Presignature, sha256(te.encode('w')), new MemoryPresignatureLedger());
    const bytes = encodePartialSignature(p);
    expect(decodePartialSignature(bytes)).toEqual(p);
    for (let cut = 0; cut < bytes.length; cut++) {
      expect(abortOf(() => decodePartialSignature(bytes.subarray(0, cut))).code).toMatch(/^ERR_WIRE_/);
    }
    expect(abortOf(() => decodePartialSignature(Uint8Array.of(...bytes, 0))).code).toMatch(/^ERR_WIRE_/);
    const high = encodePartialSignature({ ...p, sigma: CURVE_ORDER });
    expect(abortOf(() => decodePartialSignature(high)).code).toBe('ERR_WIRE_BIGINT_TOO_LARGE');
  });
});
