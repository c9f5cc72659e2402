/**
 * Where a party's audit chain stands in the deployment's JetStream stream: its last shipped record,
 * checked to be its own (emitter id and Ed25519 signature). A ledger that starts over — the data
 * directory was lost, or restored from a backup kit — continues the chain from there (party-ledger.ts
 * `audit.anchor`), so what it records next ships instead of being refused by the stream as a fork.
 */
import { parseRecord, verifyRecordSignature } from '../audit/index.js';
import { MpcError } from '../errors/index.js';
import { emitterLastRecord, ensureAuditStream } from '../transport/audit-sink.js';
import { connectNats, loadPartyNatsConfig } from '../transport/nats.js';
import type { PartyConfig } from './config.js';
import { partyEmitterId } from './party-audit.js';

/**
 * The anchor, or undefined when the stream holds nothing of this party (or the config ships no
 * audit records).
 * @throws MpcError ERR_AUDIT_SINK_UNAVAILABLE when NATS or the stream cannot be read; ERR_AUDIT_CHAIN_FORK
 *   when the last record is not this party's
 */
export async function streamAnchor(
  cfg: PartyConfig,
  ownKey: Uint8Array,
): Promise<{ seq: number; hash: string } | undefined> {
  if (cfg.audit === undefined) return undefined;
  const settings = await loadPartyNatsConfig(cfg.nats);
  let line: string | undefined;
  try {
    const nc = await connectNats(settings).catch((e: unknown) => {
      throw new MpcError('ERR_AUDIT_SINK_UNAVAILABLE', 'cannot reach NATS to read where the audit chain stands', {
        cause: e,
      });
    });
    try {
      // a party that creates the stream creates it first: a direct get on a missing stream is never
      // answered (it times out), which would read as "unavailable"
      if (cfg.audit.createStream) {
        await ensureAuditStream(nc, { deployment: cfg.audit.deployment, replicas: cfg.audit.replicas }).catch(
          (e: unknown) => {
            throw new MpcError('ERR_AUDIT_SINK_UNAVAILABLE', 'cannot create the audit stream', { cause: e });
          },
        );
      }
      line = await emitterLastRecord(nc, cfg.audit.deployment, partyEmitterId(cfg.party));
    } finally {
      await nc.close();
    }
  } finally {
    settings.nkeySeed.fill(0);
  }
  if (line === undefined) return undefined;
  const record = parseRecord(line);
  if (record.parsed.emitter !== partyEmitterId(cfg.party) || !verifyRecordSignature(ownKey, record)) {
    throw new MpcError('ERR_AUDIT_CHAIN_FORK', "the stream's last record of this party is not signed by it");
  }
  return { seq: record.parsed.seq, hash: record.hash };
}
