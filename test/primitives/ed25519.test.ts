import { ed25519 } from '@noble/curves/ed25519.js';
import { describe, expect, it } from 'vitest';
import { Ed25519Signer, ed25519Verify } from '../../src/primitives/ed25519.js';

describe('Ed25519 through node:crypto', () => {
  const sk = ed25519.utils.randomSecretKey();
  const pk = ed25519.getPublicKey(sk);
  const msg = new TextEncoder().encode('frame bytes');

  it('agrees with @noble/curves both ways (RFC 8032 deterministic signatures)', () => {
    const sig = new Ed25519Signer(sk).sign(msg);
    expect(Buffer.from(sig).equals(Buffer.from(ed25519.sign(msg, sk)))).toBe(true);
    expect(ed25519.verify(sig, msg, pk)).toBe(true);
    expect(ed25519Verify(pk, msg, ed25519.sign(msg, sk))).toBe(true);
  });

  it('refuses a flipped bit, another key, a short signature and a malformed key, without throwing', () => {
    const sig = new Ed25519Signer(sk).sign(msg);
    const flipped = Uint8Array.from(sig);
    flipped[5] = (flipped[5] as number) ^ 1;
    expect(ed25519Verify(pk, msg, flipped)).toBe(false);
    expect(ed25519Verify(ed25519.getPublicKey(ed25519.utils.randomSecretKey()), msg, sig)).toBe(false);
    expect(ed25519Verify(pk, msg, sig.subarray(0, 63))).toBe(false);
    expect(ed25519Verify(new Uint8Array(31), msg, sig)).toBe(false);
    expect(ed25519Verify(new Uint8Array(32).fill(0xff), msg, sig)).toBe(false);
    // a non-canonical S (S + L) must not verify (RFC 8032 §5.1.7)
    const L = 2n ** 252n + 27742317777372353535851937790883648493n;
    const s = BigInt(`0x${Buffer.from(sig.subarray(32)).reverse().toString('hex')}`) + L;
    const sBytes = Buffer.from(s.toString(16).padStart(64, '0'), 'hex').reverse();
    expect(ed25519Verify(pk, msg, Uint8Array.from([...sig.subarray(0, 32), ...sBytes]))).toBe(false);
  });

  it('refuses a secret of the wrong size with a typed error', () => {
    expect(() => new Ed25519Signer(new Uint8Array(31))).toThrow(
      expect.objectContaining({ code: 'ERR_TRANSPORT_KEY_INVALID' }),
    );
  });
});
