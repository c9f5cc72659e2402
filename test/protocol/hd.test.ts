import { sha256 } from '@noble/hashes/sha2.js';
import { describe, expect, it } from 'vitest';
import { MpcError } from '../../src/errors/index.js';
import { mulBase, Point } from '../../src/primitives/curve.js';
import { assertDerivationPath, deriveChild, derivePath, HARDENED_OFFSET } from '../../src/protocol/hd.js';

/** Base58Check decoding of a BIP32 extended key (78-byte payload + 4-byte checksum). */
function decodeXpub(xpub: string): { depth: number; child: number; chainCode: Uint8Array; key: Point } {
  const ALPHABET = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
  let n = 0n;
  for (const ch of xpub) {
    const d = ALPHABET.indexOf(ch);
    if (d < 0) throw new Error('bad base58');
    n = n * 58n + BigInt(d);
  }
  const bytes = Uint8Array.from(Buffer.from(n.toString(16).padStart(164, '0'), 'hex'));
  expect(bytes.length).toBe(82);
  const payload = bytes.subarray(0, 78);
  expect(Buffer.from(sha256(sha256(payload)).subarray(0, 4))).toEqual(Buffer.from(bytes.subarray(78)));
  expect(Buffer.from(payload.subarray(0, 4)).toString('hex')).toBe('0488b21e'); // mainnet xpub
  const dv = new DataView(payload.buffer, payload.byteOffset);
  return {
    depth: payload[4] as number,
    child: dv.getUint32(9),
    chainCode: Uint8Array.from(payload.subarray(13, 45)),
    key: Point.fromBytes(payload.subarray(45, 78)),
  };
}

/**
 * Non-hardened (CKDpub) steps of the BIP-0032 test vectors (bitcoin/bips bip-0032.mediawiki,
 * "Test Vectors"): parent xpub, path, child xpub.
 */
const VECTORS: Array<{ name: string; parent: string; path: number[]; child: string }> = [
  {
    name: 'vector 1: m/0H → m/0H/1',
    parent:
      'xpub68Gmy5EdvgibQVfPdqkBBCHxA5htiqg55crXYuXoQRKfDBFA1WEjWgP6LHhwBZeNK1VTsfTFUHCdrfp1bgwQ9xv5ski8PX9rL2dZXvgGDnw',
    path: [1],
    child:
      'xpub6ASuArnXKPbfEwhqN6e3mwBcDTgzisQN1wXN9BJcM47sSikHjJf3UFHKkNAWbWMiGj7Wf5uMash7SyYq527Hqck2AxYysAA7xmALppuCkwQ',
  },
  {
    name: 'vector 1: m/0H/1/2H → m/0H/1/2H/2/1000000000 (two steps)',
    parent:
      'xpub6D4BDPcP2GT577Vvch3R8wDkScZWzQzMMUm3PWbmWvVJrZwQY4VUNgqFJPMM3No2dFDFGTsxxpG5uJh7n7epu4trkrX7x7DogT5Uv6fcLW5',
    path: [2, 1000000000],
    child:
      'xpub6H1LXWLaKsWFhvm6RVpEL9P4KfRZSW7abD2ttkWP3SSQvnyA8FSVqNTEcYFgJS2UaFcxupHiYkro49S8yGasTvXEYBVPamhGW6cFJodrTHy',
  },
  {
    name: 'vector 1: m/0H/1/2H → m/0H/1/2H/2',
    parent:
      'xpub6D4BDPcP2GT577Vvch3R8wDkScZWzQzMMUm3PWbmWvVJrZwQY4VUNgqFJPMM3No2dFDFGTsxxpG5uJh7n7epu4trkrX7x7DogT5Uv6fcLW5',
    path: [2],
    child:
      'xpub6FHa3pjLCk84BayeJxFW2SP4XRrFd1JYnxeLeU8EqN3vDfZmbqBqaGJAyiLjTAwm6ZLRQUMv1ZACTj37sR62cfN7fe5JnJ7dh8zL4fiyLHV',
  },
  {
    name: 'vector 2: m → m/0',
    parent:
      'xpub661MyMwAqRbcFW31YEwpkMuc5THy2PSt5bDMsktWQcFF8syAmRUapSCGu8ED9W6oDMSgv6Zz8idoc4a6mr8BDzTJY47LJhkJ8UB7WEGuduB',
    path: [0],
    child:
      'xpub69H7F5d8KSRgmmdJg2KhpAK8SR3DjMwAdkxj3ZuxV27CprR9LgpeyGmXUbC6wb7ERfvrnKZjXoUmmDznezpbZb7ap6r1D3tgFxHmwMkQTPH',
  },
  {
    name: 'vector 2: m/0/2147483647H → m/0/2147483647H/1',
    parent:
      'xpub6ASAVgeehLbnwdqV6UKMHVzgqAG8Gr6riv3Fxxpj8ksbH9ebxaEyBLZ85ySDhKiLDBrQSARLq1uNRts8RuJiHjaDMBU4Zn9h8LZNnBC5y4a',
    path: [1],
    child:
      'xpub6DF8uhdarytz3FWdA8TvFSvvAh8dP3283MY7p2V4SeE2wyWmG5mg5EwVvmdMVCQcoNJxGoWaU9DCWh89LojfZ537wTfunKau47EL2dhHKon',
  },
  {
    name: 'vector 2: m/0/2147483647H/1/2147483646H → …/2',
    parent:
      'xpub6ERApfZwUNrhLCkDtcHTcxd75RbzS1ed54G1LkBUHQVHQKqhMkhgbmJbZRkrgZw4koxb5JaHWkY4ALHY2grBGRjaDMzQLcgJvLJuZZvRcEL',
    path: [2],
    child:
      'xpub6FnCn6nSzZAw5Tw7cgR9bi15UV96gLZhjDstkXXxvCLsUXBGXPdSnLFbdpq8p9HmGsApME5hQTZ3emM2rnY5agb9rXpVGyy3bdW6EEgAtqt',
  },
];

function expectInputError(fn: () => unknown, pattern: RegExp): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(MpcError);
    expect((e as MpcError).code).toBe('ERR_PROTOCOL_INPUT');
    expect((e as MpcError).message).toMatch(pattern);
    return;
  }
  expect.fail('expected ERR_PROTOCOL_INPUT');
}

describe('BIP32 non-hardened derivation (PROTOCOL.md §8.1)', () => {
  it.each(VECTORS)('matches BIP-0032 $name', ({ parent, path, child }) => {
    const p = decodeXpub(parent);
    const c = decodeXpub(child);
    const d = derivePath(p.key, p.chainCode, path);
    expect(d.publicKey.equals(c.key)).toBe(true);
    expect(Buffer.from(d.chainCode).toString('hex')).toBe(Buffer.from(c.chainCode).toString('hex'));
    expect(c.depth).toBe(p.depth + path.length);
    expect(c.child).toBe(path.at(-1));
    // The child key is the parent plus the additive shift: Y' = Y + δ·G (what presigning relies on).
    expect(p.key.add(mulBase(d.shift)).equals(d.publicKey)).toBe(true);
  });

  it('sums the per-step shifts: deriving [a, b] equals deriving [a] then [b]', () => {
    const v = decodeXpub(VECTORS[3]?.parent as string);
    const both = derivePath(v.key, v.chainCode, [0, 1, 7]);
    const a = deriveChild(v.key, v.chainCode, 0);
    const b = derivePath(a.publicKey, a.chainCode, [1, 7]);
    expect(both.publicKey.equals(b.publicKey)).toBe(true);
    expect(Buffer.from(both.chainCode)).toEqual(Buffer.from(b.chainCode));
    expect(v.key.add(mulBase(both.shift)).equals(both.publicKey)).toBe(true);
  });

  it('leaves the key, chain code and shift unchanged for the empty path', () => {
    const v = decodeXpub(VECTORS[0]?.parent as string);
    const d = derivePath(v.key, v.chainCode, []);
    expect(d.shift).toBe(0n);
    expect(d.publicKey.equals(v.key)).toBe(true);
    expect(Buffer.from(d.chainCode)).toEqual(Buffer.from(v.chainCode));
  });

  it('refuses a hardened index anywhere in the path', () => {
    const v = decodeXpub(VECTORS[0]?.parent as string);
    expectInputError(() => derivePath(v.key, v.chainCode, [HARDENED_OFFSET]), /hardened/);
    expectInputError(() => derivePath(v.key, v.chainCode, [0, 1, HARDENED_OFFSET + 44]), /step 2 is hardened/);
    expectInputError(() => deriveChild(v.key, v.chainCode, 0xffffffff), /hardened/);
    // The largest non-hardened index is accepted.
    expect(deriveChild(v.key, v.chainCode, HARDENED_OFFSET - 1).shift).toBeGreaterThan(0n);
  });

  it('refuses malformed paths and chain codes', () => {
    const v = decodeXpub(VECTORS[0]?.parent as string);
    expectInputError(() => assertDerivationPath('0/1'), /array/);
    expectInputError(() => assertDerivationPath([-1]), /non-negative integer/);
    expectInputError(() => assertDerivationPath([1.5]), /non-negative integer/);
    expectInputError(() => assertDerivationPath([1n]), /non-negative integer/);
    expectInputError(() => assertDerivationPath(Array.from({ length: 256 }, () => 0)), /more than 255/);
    expectInputError(() => derivePath(v.key, v.chainCode.subarray(0, 31), [0]), /chain code/);
  });

  it('hashes the compressed parent key and big-endian index (HMAC-SHA512 layout)', () => {
    // Different indices and different chain codes give unrelated shifts.
    const v = decodeXpub(VECTORS[3]?.parent as string);
    const s0 = deriveChild(v.key, v.chainCode, 0).shift;
    const s1 = deriveChild(v.key, v.chainCode, 1).shift;
    const cc = Uint8Array.from(v.chainCode);
    cc[0] = (cc[0] as number) ^ 1;
    const s0b = deriveChild(v.key, cc, 0).shift;
    expect(new Set([s0, s1, s0b]).size).toBe(3);
  });
});
