import { readFile } from 'node:fs/promises';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import {
  addressAt,
  BTC_NETWORKS,
  type BtcNetwork,
  type ChainKey,
  isPayloadKind,
  PAYLOAD_KINDS,
  xpub,
} from '../chains/index.js';
import type { Coordinator } from '../daemon/coordinator.js';
import { connectCoordinator } from '../daemon/coordinator-client.js';
import { isMpcError } from '../errors/index.js';
import { decodePoint, encodePoint } from '../primitives/curve.js';
import type { PresignaturePublic } from '../protocol/sign.js';

const USAGE = `usage: mpc-custody coord --config coordinator.json <command>
  keygen  --key ID --threshold T --parties N     t-of-n key generation; prints the public key
  aux     --key ID --parties N                   aux info (Paillier moduli) for a generated key
  presign --key ID --signers I,J[,…] [--path A/B/…]
                                                 one presignature; prints its public part (JSON)
  sign    --key ID --presignature FILE[,FILE…] --kind KIND --payload FILE|HEX [--network NET]
                                                 signs a chain payload (${PAYLOAD_KINDS.join(', ')});
                                                 one presignature per digest (a PSBT: one per input,
                                                 made for that input's path); prints the signed artifact
  sign    --key ID --presignature FILE --digest HEX
                                                 signs a bare 32-byte digest (kind raw.digest)
  xpub    --key ID [--network NET] [--parties I,J,…]
                                                 the key's BIP32 extended public key
  address --key ID --path A/B/… --chain ethereum|bitcoin [--network NET]
                                                 the key's address at a non-hardened path
NET is mainnet (default), testnet or regtest. Output is one JSON line on stdout; errors name their
code on stderr (exit 1).`;

function flag(args: readonly string[], name: string): string | undefined {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : undefined;
}

const int = (s: string | undefined): number | undefined =>
  s !== undefined && /^(0|[1-9][0-9]{0,8})$/.test(s) ? Number(s) : undefined;

/** JSON form of a presignature's public part (what `presign` prints and `sign` reads back). */
export function presignatureToJson(p: PresignaturePublic): Record<string, unknown> {
  return {
    id: p.id,
    R: bytesToHex(encodePoint(p.R)),
    publicKey: bytesToHex(encodePoint(p.publicKey)),
    signers: [...p.signers],
    path: [...p.path],
  };
}

export function presignatureFromJson(o: Record<string, unknown>): PresignaturePublic {
  const hex = (v: unknown, what: string) => {
    if (typeof v !== 'string' || !/^[0-9a-f]+$/.test(v)) throw new Error(`${what} must be lowercase hex`);
    return hexToBytes(v);
  };
  const list = (v: unknown, what: string) => {
    if (!Array.isArray(v) || !v.every((x) => Number.isInteger(x) && x >= 0)) throw new Error(`${what} must be a list`);
    return v as number[];
  };
  if (typeof o.id !== 'string' || !/^[0-9a-f]{64}$/.test(o.id)) throw new Error('id must be 64 hex digits');
  return {
    id: o.id,
    R: decodePoint(hex(o.R, 'R'), 'R'),
    publicKey: decodePoint(hex(o.publicKey, 'publicKey'), 'publicKey'),
    signers: list(o.signers, 'signers'),
    path: list(o.path, 'path'),
  };
}

/** A payload given as hex on the command line, or a file holding hex or raw bytes (PSBT, JSON). */
async function readPayload(arg: string): Promise<Uint8Array> {
  const asHex = (t: string) => {
    const h = t.trim().replace(/^0x/, '');
    return /^([0-9a-fA-F]{2})+$/.test(h) ? hexToBytes(h.toLowerCase()) : undefined;
  };
  const inline = asHex(arg);
  if (inline !== undefined) return inline;
  const raw = new Uint8Array(await readFile(arg));
  return asHex(new TextDecoder().decode(raw)) ?? raw;
}

function network(args: readonly string[]): BtcNetwork | undefined {
  const n = flag(args, '--network') ?? 'mainnet';
  return (BTC_NETWORKS as readonly string[]).includes(n) ? (n as BtcNetwork) : undefined;
}

/** The key's root public key and chain code as the named parties (default: all) report them. */
async function keyOf(c: Coordinator, keyId: string, args: readonly string[], rosterSize: number): Promise<ChainKey> {
  const text = flag(args, '--parties');
  const parties = text === undefined ? [...Array(rosterSize).keys()] : text.split(',').map(int);
  if (parties.some((p) => p === undefined)) throw new Error('--parties must be a list of party ids');
  return c.keyInfo({ keyId, parties: parties as number[] });
}

/**
 * `mpc-custody coord`: drives a party set by hand through the session coordinator (the
 * orchestrator's REST API, policy and approvals come later; this is the operator's and the
 * tests' way in). It holds no share: every party checks the command itself.
 */
export async function coordCommand(
  args: readonly string[],
  out: (line: string) => void,
  err: (line: string) => void,
): Promise<number> {
  const config = flag(args, '--config');
  const command = args.find((a, i) => !a.startsWith('--') && (i === 0 || !args[i - 1]?.startsWith('--')));
  const keyId = flag(args, '--key');
  if (config === undefined || command === undefined || keyId === undefined) {
    err(USAGE);
    return 2;
  }
  let coord: Awaited<ReturnType<typeof connectCoordinator>> | undefined;
  try {
    coord = await connectCoordinator(config);
    const c = coord.coordinator;
    switch (command) {
      case 'keygen': {
        const threshold = int(flag(args, '--threshold'));
        const parties = int(flag(args, '--parties'));
        if (threshold === undefined || parties === undefined) break;
        const Y = await c.keygen({ keyId, threshold, parties });
        const key = await c.keyInfo({ keyId, parties: [...Array(parties).keys()] });
        out(
          JSON.stringify({
            keyId,
            publicKey: bytesToHex(encodePoint(Y)),
            xpub: xpub(key, 'mainnet'),
            tpub: xpub(key, 'testnet'),
          }),
        );
        return 0;
      }
      case 'xpub': {
        const net = network(args);
        if (net === undefined) break;
        const key = await keyOf(c, keyId, args, coord.roster.parties.length);
        out(
          JSON.stringify({
            keyId,
            network: net,
            xpub: xpub(key, net),
            publicKey: bytesToHex(encodePoint(key.publicKey)),
          }),
        );
        return 0;
      }
      case 'address': {
        const net = network(args);
        const chain = flag(args, '--chain');
        const pathText = flag(args, '--path') ?? '';
        const path = pathText === '' ? [] : pathText.split('/').map(int);
        if (net === undefined || (chain !== 'ethereum' && chain !== 'bitcoin') || path.some((p) => p === undefined))
          break;
        const key = await keyOf(c, keyId, args, coord.roster.parties.length);
        const address = addressAt(key, path as number[], chain, net);
        out(
          JSON.stringify({ keyId, chain, ...(chain === 'bitcoin' ? { network: net } : {}), path: pathText, address }),
        );
        return 0;
      }
      case 'aux': {
        const parties = int(flag(args, '--parties'));
        if (parties === undefined) break;
        await c.auxInfo({ keyId, parties });
        out(JSON.stringify({ keyId, aux: 'ok' }));
        return 0;
      }
      case 'presign': {
        const signers = (flag(args, '--signers') ?? '').split(',').map(int);
        const pathText = flag(args, '--path');
        const path = pathText === undefined || pathText === '' ? [] : pathText.split('/').map(int);
        if (signers.some((s) => s === undefined) || path.some((p) => p === undefined)) break;
        const pre = await c.presign({ keyId, signers: signers as number[], path: path as number[] });
        out(JSON.stringify(presignatureToJson(pre)));
        return 0;
      }
      case 'sign': {
        const kind = flag(args, '--kind');
        const payloadArg = flag(args, '--payload');
        if (kind !== undefined || payloadArg !== undefined) {
          const files = (flag(args, '--presignature') ?? '').split(',').filter((f) => f !== '');
          const net = network(args);
          if (!isPayloadKind(kind) || payloadArg === undefined || files.length === 0 || net === undefined) break;
          const presignatures = await Promise.all(
            files.map(async (f) => presignatureFromJson(JSON.parse(await readFile(f, 'utf8')))),
          );
          const payload = await readPayload(payloadArg);
          const r = await c.signPayload({ keyId, kind, payload, presignatures, network: net });
          out(JSON.stringify({ kind, signed: r.artifact.hex, ...r.artifact.fields, decoded: r.decoded.fields }));
          return 0;
        }
        const file = flag(args, '--presignature');
        const digestHex = flag(args, '--digest');
        if (file === undefined || digestHex === undefined || !/^[0-9a-f]{64}$/.test(digestHex)) break;
        const presignature = presignatureFromJson(JSON.parse(await readFile(file, 'utf8')));
        const sig = await c.sign({ keyId, presignature, digest: hexToBytes(digestHex) });
        out(
          JSON.stringify({
            r: sig.r.toString(16).padStart(64, '0'),
            s: sig.s.toString(16).padStart(64, '0'),
            v: 27 + sig.recovery,
            recovery: sig.recovery,
            der: bytesToHex(sig.der),
            publicKey: bytesToHex(encodePoint(presignature.publicKey)),
          }),
        );
        return 0;
      }
    }
    err(USAGE);
    return 2;
  } catch (e) {
    err(`mpc-custody coord: ${isMpcError(e) ? `${e.code}: ${e.message}` : (e as Error).message}`);
    return 1;
  } finally {
    await coord?.close();
  }
}
