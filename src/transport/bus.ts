import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { MpcError } from '../errors/index.js';

/**
 * Raw subject publish/subscribe below the session layer, for the daemon's control plane: the
 * coordinator's commands (`mpc.*.control.coord`) reach a party before it has joined the session they
 * start, and the coordinator reads every party's signed control frames. Patterns use NATS syntax
 * (`*` matches one token); the server's permissions still decide what each credential may do.
 */
export interface Bus {
  publish(subject: string, bytes: Uint8Array): Promise<void>;
  /** Active (server-registered) when the promise resolves; the returned function unsubscribes. */
  subscribe(pattern: string, onMessage: (subject: string, bytes: Uint8Array) => void): Promise<() => void>;
}

/** NATS wildcard match for `*` tokens (the only wildcard the control plane uses). */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  if (p.length !== s.length) return false;
  return p.every((tok, i) => tok === '*' || tok === s[i]);
}

export function natsBus(nc: NatsConnection): Bus {
  return {
    async publish(subject, bytes) {
      try {
        nc.publish(subject, bytes);
      } catch (e) {
        throw new MpcError('ERR_TRANSPORT_CONNECT', 'NATS publish failed', {
          details: { reason: e instanceof Error ? e.name : 'unknown' },
        });
      }
    },
    async subscribe(pattern, onMessage) {
      let failed: unknown;
      const sub: Subscription = nc.subscribe(pattern, {
        callback: (err, msg) => {
          if (err) {
            failed = err;
            return;
          }
          try {
            onMessage(msg.subject, msg.data);
          } catch {
            // a handler's failure never stops the subscription
          }
        },
      });
      try {
        await nc.flush();
      } catch {
        sub.unsubscribe();
        throw new MpcError('ERR_TRANSPORT_CONNECT', 'NATS flush failed while subscribing');
      }
      if (failed !== undefined) {
        sub.unsubscribe();
        throw new MpcError('ERR_TRANSPORT_PERMISSION', 'NATS refused a subscription', { details: { pattern } });
      }
      return () => sub.unsubscribe();
    },
  };
}
