import { serialize } from 'node:v8';
import { describe, expect, it } from 'vitest';
import {
  decodeRelayedPartials,
  decodeStoredEvidence,
  decodeStoredPresignature,
  encodeRelayedPartials,
  encodeStoredPresignature,
  identificationSid,
  type PresignEvidence,
  splitStoredPresignature,
} from '../../src/daemon/identification.js';
import { G } from '../../src/primitives/curve.js';
import { encodeEnvelope } from '../../src/protocol/envelope.js';
import type { PresignRetained } from '../../src/protocol/identify.js';
import { errorCode } from '../helpers/failure.js';

/**
 * The stored form of a presignature with its §7.3 evidence (sealed by the ledger) and the relayed
 * partials of `ctl.identify`: strict decoding, typed refusals, and evidence that survives the
 * caller wiping the buffer it was decoded from (node:v8 revives byte arrays as views of its input).
 */
const envelope = (round: string, from: number) =>
  encodeEnvelope({
    protocol: 'presign',
    sid: new Uint8Array(16).fill(3),
    round,
    from,
    to: 0,
    body: new Uint8Array([round === 'r2' ? 2 : 3, from]),
    sig: new Uint8Array(64).fill(9),
  });

/** Shape-only stand-in for a round-3 state (the codec does not interpret it). */
const retained = {
  step: 'r3',
  k: 5n,
  chi: 7n << 300n,
  Delta: G,
  sid: new Uint8Array([1, 2]),
} as unknown as PresignRetained;
const evidence: PresignEvidence = { retained, received: [envelope('r2', 1), envelope('r3', 1), envelope('r2', 2)] };

describe('stored presignature with identification evidence', () => {
  it('round-trips, keeps only the round-2 envelopes, and survives wiping the decoded buffer', () => {
    const presig = new Uint8Array([0x50, 0x53, 1, 2, 3]);
    const bytes = encodeStoredPresignature(presig, evidence);
    const out = decodeStoredPresignature(bytes);
    bytes.fill(0); // what the daemon does with the ledger payload right after decoding
    expect(out.presignature).toEqual(presig);
    expect(out.evidence?.received).toEqual([envelope('r2', 1), envelope('r2', 2)]);
    const kept = out.evidence?.retained as unknown as typeof retained & { k: bigint; chi: bigint; sid: Uint8Array };
    expect(kept.k).toBe(5n);
    expect(kept.chi).toBe(7n << 300n);
    expect(kept.sid).toEqual(new Uint8Array([1, 2]));
    expect((kept as unknown as { Delta: typeof G }).Delta.equals(G)).toBe(true);
  });

  it('stores a presignature without evidence', () => {
    const out = decodeStoredPresignature(encodeStoredPresignature(new Uint8Array([1]), undefined));
    expect(out.evidence).toBeUndefined();
  });

  it('refuses a wrong tag, a truncated payload, trailing bytes and malformed evidence', () => {
    const good = encodeStoredPresignature(new Uint8Array([1]), evidence);
    const wrongTag = Uint8Array.from(good);
    wrongTag[0] = (wrongTag[0] as number) ^ 1;
    const trailing = Uint8Array.from([...good, 0]);
    const garbage = encodeStoredPresignature(new Uint8Array([1]), undefined);
    // same layout with 3 bytes of junk where the evidence goes
    const junk = Uint8Array.from([...garbage.subarray(0, garbage.length - 4), 0, 0, 0, 3, 0xff, 0x0d, 0x22]);
    for (const bad of [wrongTag, good.subarray(0, good.length - 10), trailing, junk]) {
      expect(errorCode(() => decodeStoredPresignature(bad))).toBe('ERR_PRESIGNATURE_INVALID');
    }
  });
});

describe('evidence left encoded until identification (issue #18)', () => {
  it('splits without decoding the evidence, which decodes later to the same record', () => {
    const bytes = encodeStoredPresignature(new Uint8Array([7, 8]), evidence);
    const split = splitStoredPresignature(bytes);
    bytes.fill(0); // the split parts are owned copies
    expect(split.presignature).toEqual(new Uint8Array([7, 8]));
    expect(split.evidence).toBeInstanceOf(Uint8Array);
    const ev = decodeStoredEvidence(split.evidence as Uint8Array);
    (split.evidence as Uint8Array).fill(0); // what identification does once decoded
    expect(ev.received).toEqual([envelope('r2', 1), envelope('r2', 2)]);
    expect((ev.retained as unknown as { chi: bigint }).chi).toBe(7n << 300n);
    expect(splitStoredPresignature(encodeStoredPresignature(new Uint8Array([1]), undefined)).evidence).toBeUndefined();
  });

  it('signing accepts evidence bytes it does not decode; identification refuses them with the same typed code', () => {
    const garbage = encodeStoredPresignature(new Uint8Array([1]), undefined);
    const junk = Uint8Array.from([...garbage.subarray(0, garbage.length - 4), 0, 0, 0, 3, 0xff, 0x0d, 0x22]);
    const split = splitStoredPresignature(junk);
    expect(split.presignature).toEqual(new Uint8Array([1]));
    for (const bad of [split.evidence as Uint8Array, new Uint8Array([0xff]), new Uint8Array(serializedNumber())]) {
      expect(errorCode(() => decodeStoredEvidence(bad))).toBe('ERR_PRESIGNATURE_INVALID');
    }
    expect(errorCode(() => splitStoredPresignature(junk.subarray(0, 5)))).toBe('ERR_PRESIGNATURE_INVALID');
  });
});

/** A valid node:v8 serialization of something that is not evidence (shape check). */
function serializedNumber(): Uint8Array {
  return new Uint8Array(serialize(42));
}

describe('relayed partial-signature frames', () => {
  it('round-trips and refuses malformed or oversized lists', () => {
    const frames = [new Uint8Array([1, 2]), new Uint8Array(300).fill(7)];
    expect(decodeRelayedPartials(encodeRelayedPartials(frames))).toEqual(frames);
    expect(errorCode(() => decodeRelayedPartials(new Uint8Array([0, 0, 0, 2, 0])))).toBe('ERR_DAEMON_COMMAND_INVALID');
    expect(errorCode(() => decodeRelayedPartials(encodeRelayedPartials([new Uint8Array(5000)])))).toBe(
      'ERR_DAEMON_COMMAND_INVALID',
    );
    expect(errorCode(() => decodeRelayedPartials(Uint8Array.of(0xff, 0xff, 0xff, 0xff)))).toBe(
      'ERR_DAEMON_COMMAND_INVALID',
    );
  });
});

describe('identification session ids', () => {
  it('are 16 bytes, distinct per failed session and per kind', () => {
    const a = new Uint8Array(16).fill(1);
    const b = new Uint8Array(16).fill(2);
    const ids = [identificationSid(a, 'delta'), identificationSid(a, 'signature'), identificationSid(b, 'delta')];
    for (const id of ids) expect(id.length).toBe(16);
    expect(new Set(ids.map((x) => Buffer.from(x).toString('hex'))).size).toBe(3);
    expect(identificationSid(a, 'delta')).toEqual(ids[0]);
  });
});
