import type { NatsConnection } from '@nats-io/transport-node';
import { Ed25519Signer } from '../primitives/ed25519.js';
import type { LedgerOptions, PartyLedger } from '../storage/party-ledger.js';
import { AuditShipper } from '../transport/audit-shipper.js';
import { AuditPublisher, ensureAuditStream } from '../transport/audit-sink.js';
import type { PartyAuditConfig } from './audit-config.js';

/**
 * The party's audit log (issue #15): the ledger's emitter and the shipper that copies the ledger's
 * audit records to JetStream. Config section and the choice of key: audit-config.ts.
 */
export const partyEmitterId = (party: number): string => `party-${party}`;

/** The ledger's `audit` option: emitter `party-{i}`, signed with the party's identity key. */
export function partyAuditEmitter(
  cfg: Pick<PartyAuditConfig, 'deployment' | 'checkpointEvery'>,
  party: number,
  ed25519Secret: Uint8Array,
): NonNullable<LedgerOptions['audit']> {
  return {
    deployment: cfg.deployment,
    emitter: partyEmitterId(party),
    signer: new Ed25519Signer(ed25519Secret),
    checkpointEvery: cfg.checkpointEvery,
  };
}

export interface AuditShipping {
  readonly shipper: AuditShipper;
  /** Ships what is stored (waiting at most `ms`), then stops; records not shipped stay in the ledger. */
  stop(ms?: number): Promise<void>;
}

/**
 * Starts shipping `ledger`'s audit records to the deployment's stream on `nc`: in order, from the
 * stream's head for this emitter, woken by each commit and retrying with backoff while JetStream
 * is away (the records wait durably in the ledger). Never throws for an absent JetStream.
 */
export async function startAuditShipping(o: {
  readonly nc: NatsConnection;
  readonly ledger: PartyLedger;
  readonly party: number;
  readonly config: PartyAuditConfig;
  readonly onError?: (e: unknown) => void;
  readonly retryMaxMs?: number;
}): Promise<AuditShipping> {
  const publisher = await AuditPublisher.open(o.nc, o.config.deployment, partyEmitterId(o.party));
  const shipper = new AuditShipper(o.ledger, publisher, {
    ...(o.onError ? { onError: o.onError } : {}),
    retryMaxMs: o.retryMaxMs ?? 5_000,
  });
  let stopped = false;
  const ready = (async () => {
    // the stream first (when this party may create it): until it exists, publishes would fail
    for (let delay = 100; o.config.createStream && !stopped; delay = Math.min(delay * 2, o.retryMaxMs ?? 5_000)) {
      try {
        await ensureAuditStream(o.nc, { deployment: o.config.deployment, replicas: o.config.replicas });
        break;
      } catch (e) {
        o.onError?.(e);
        await new Promise((r) => setTimeout(r, delay));
      }
    }
    if (stopped) return;
    o.ledger.onAuditCommitted(() => shipper.notify());
    shipper.start();
  })();
  return {
    shipper,
    async stop(ms = 2_000) {
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<void>((r) => {
        timer = setTimeout(r, ms);
      });
      await Promise.race([ready.then(() => shipper.flush()), deadline]);
      clearTimeout(timer);
      stopped = true;
      o.ledger.onAuditCommitted(undefined);
      await shipper.stop();
      await ready;
    },
  };
}
