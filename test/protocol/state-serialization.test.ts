/**
 * Round states are plain, serializable data: a daemon can persist a session between rounds or move
 * a round to a worker thread. Each protocol runs here with its state taken through
 * toPortable → structuredClone → fromPortable after every round, and must still complete.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { fromPortable, toPortable } from '../../src/primitives/portable.js';
import { auxInfo } from '../../src/protocol/aux-info.js';
import { keygen } from '../../src/protocol/keygen.js';
import { presign } from '../../src/protocol/presign.js';
import { combineSignature, issuePartialSignature, MemoryPresignatureLedger } from '../../src/protocol/sign.js';
import { simulate } from '../../src/protocol/simulation.js';
import type { ProtocolDef } from '../../src/protocol/types.js';
import { dealKeyShares } from '../helpers/dealer.js';
import { TestDrbg } from '../helpers/drbg.js';
import { math } from '../helpers/keys.js';
import { testPrimes } from '../helpers/primes.js';
import { nobleVerifies } from '../helpers/verify.js';

const roundTrip = <S>(state: S): S => fromPortable(structuredClone(toPortable(state))) as S;

/** The same protocol, with every state serialized and revived between rounds. */
function throughSerialization<I, S, O>(def: ProtocolDef<I, S, O>): ProtocolDef<I, S, O> {
  return {
    ...def,
    init(input, ctx) {
      const r = def.init(input, ctx);
      return { state: roundTrip(r.state), outbox: r.outbox };
    },
    process(round, state, inbox, ctx) {
      const r = def.process(round, roundTrip(state), inbox, ctx);
      return 'state' in r ? { state: roundTrip(r.state), outbox: r.outbox } : r;
    },
  };
}

const opts = (label: string, n: number) => ({
  sid: new TextEncoder().encode(`serialize-${label}`),
  math,
  rngs: Array.from({ length: n }, (_, i) => new TestDrbg(`${label}-${i}`)),
});

describe('protocol states survive serialization between rounds', () => {
  it('keygen 2-of-3', () => {
    const r = simulate(throughSerialization(keygen), [{ t: 2 }, { t: 2 }, { t: 2 }], opts('keygen', 3));
    expect(r.errors).toEqual([undefined, undefined, undefined]);
    expect(r.outputs[0]?.publicKey.equals(r.outputs[2]?.publicKey as never)).toBe(true);
  });

  it('aux-info with two parties', async () => {
    const primes = await testPrimes('safe', 1536);
    const inputs = [0, 1].map((i) => ({ p: primes[30 + 2 * i] as bigint, q: primes[31 + 2 * i] as bigint }));
    const r = simulate(throughSerialization(auxInfo), inputs, opts('aux', 2));
    expect(r.errors).toEqual([undefined, undefined]);
  });

  it('presign 2-of-3 and a signature from its output', async () => {
    const dealt = await dealKeyShares({ n: 3, t: 2, seed: 'serialize' });
    const inputs = [0, 2].map((i) => ({ share: dealt.shares[i] as never, signers: [0, 2], path: [1, 2] }));
    const r = simulate(throughSerialization(presign), inputs, opts('presign', 2));
    expect(r.errors).toEqual([undefined, undefined]);
    const presigs = r.outputs.map((o) => roundTrip(o as NonNullable<typeof o>));
    const digest = createHash('sha256').update('serialized').digest();
    const partials = presigs.map((p) => issuePartialSignature(p, digest, new MemoryPresignatureLedger()));
    const sig = combineSignature(presigs[0] as never, digest, partials);
    expect(nobleVerifies(presigs[0]?.publicKey as never, digest, sig)).toBe(true);
  });
});
