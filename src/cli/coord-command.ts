import { readFile } from 'node:fs/promises';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { connectCoordinator } from '../daemon/coordinator-client.js';
import { isMpcError } from '../errors/index.js';
import { decodePoint, encodePoint } from '../primitives/curve.js';
import type { PresignaturePublic } from '../protocol/sign.js';

const USAGE = `usage: mpc-custody coord --config coordinator.json <command>
  keygen  --key ID --threshold T --parties N     t-of-n key generation; prints the public key
  aux     --key ID --parties N                   aux info (Paillier moduli) for a generated key
  presign --key ID --signers I,J[,…] [--path A/B/…]
                                                 one presignature; prints its public part (JSON)
  sign    --key ID --presignature FILE --digest HEX
                                                 signs a 32-byte digest; prints r, s, v, DER (JSON)
Output is one JSON line on stdout; errors name their code on stderr (exit 1).`;

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
        out(JSON.stringify({ keyId, publicKey: bytesToHex(encodePoint(Y)) }));
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
