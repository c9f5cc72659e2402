import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { hexToBytes } from '@noble/hashes/utils.js';
import { MpcError } from '../errors/index.js';
import { Ed25519Signer } from '../primitives/ed25519.js';
import { natsBus } from '../transport/bus.js';
import { connectNats, loadNatsConfigFile } from '../transport/nats.js';
import { assertPrivateFile, loadRoster, type Roster } from './config.js';
import { Coordinator } from './coordinator.js';
import type { CoordinatorConfigFile } from './setup.js';

/** Connects a Coordinator to NATS from a coordinator.json written by `mpc-custody setup`. */
export async function connectCoordinator(
  configFile: string,
  overrides: { readonly readyTimeoutMs?: number; readonly roundTimeoutMs?: number } = {},
): Promise<{
  coordinator: Coordinator;
  roster: Roster;
  /** The NATS connection (the orchestrator's audit log publishes on it). */
  nc: NatsConnection;
  /** A signer with the coordinator's Ed25519 key (the orchestrator's audit emitter key). */
  signer: Ed25519Signer;
  close(): Promise<void>;
}> {
  let cfg: CoordinatorConfigFile;
  try {
    cfg = JSON.parse(await readFile(configFile, 'utf8')) as CoordinatorConfigFile;
  } catch {
    throw new MpcError('ERR_CONFIG_INVALID', 'coordinator config is unreadable or not JSON');
  }
  const base = dirname(resolve(configFile));
  const at = (p: unknown) => {
    if (typeof p !== 'string' || p.length === 0)
      throw new MpcError('ERR_CONFIG_INVALID', 'coordinator config path missing');
    return isAbsolute(p) ? p : resolve(base, p);
  };
  const roster = await loadRoster(at(cfg.roster));
  await assertPrivateFile(at(cfg.secretFile), 'coordinator key file');
  const secretHex = (await readFile(at(cfg.secretFile), 'utf8')).trim();
  if (!/^[0-9a-f]{64}$/.test(secretHex)) throw new MpcError('ERR_CONFIG_INVALID', 'coordinator key file is malformed');
  const secret = hexToBytes(secretHex);
  const nats = await loadNatsConfigFile(at(cfg.nats));
  const nc = await connectNats({ ...nats, name: 'mpc-coordinator' });
  nats.nkeySeed.fill(0);
  const coordinator = new Coordinator({
    bus: natsBus(nc),
    roster: roster.parties,
    secret,
    ...(Number.isInteger(cfg.roundTimeoutMs) ? { roundTimeoutMs: cfg.roundTimeoutMs } : {}),
    ...overrides,
  });
  await coordinator.start();
  const signer = new Ed25519Signer(secret);
  return {
    coordinator,
    roster,
    nc,
    signer,
    async close() {
      await coordinator.close();
      secret.fill(0);
      await nc.drain().catch(() => nc.close());
    },
  };
}
