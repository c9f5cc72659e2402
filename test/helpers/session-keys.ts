import type { FrameCodec } from '../../src/transport/frame.js';
import type { TransportSession } from '../../src/transport/types.js';

/**
 * What the daemon's ready/go exchange does, for tests that drive transports directly: every
 * party's signed session key reaches every other party. `parties[i]` is roster party i.
 */
export function exchangeSessionKeys(parties: ReadonlyArray<TransportSession | FrameCodec>): void {
  const keys = new Map(parties.map((p, i) => [i, p.sessionKey] as const));
  const members = parties.map((_, i) => i);
  for (const p of parties) p.acceptSessionKeys(keys, members);
}
