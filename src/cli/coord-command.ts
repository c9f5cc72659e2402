import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import Type, { type Static } from 'typebox';
import type { BtcNetwork, ChainKey } from '../chains/index.js';
import { PAYLOAD_KINDS } from '../chains/types.js';
import { CoordinatorConfigSchema } from '../daemon/config-schema.js';
import type { SignAuthorization } from '../daemon/control.js';
import type { Coordinator } from '../daemon/coordinator.js';
import { isErrorCode, MpcError } from '../errors/index.js';
import type { PresignaturePublic } from '../protocol/sign.js';
import { assertReadableFile, readInputFile, readJsonFile } from './boundary.js';
import { type CommandGroup, type CommandIo, defineCommand, EXIT } from './command.js';
import { FileFlag, intList, KeyIdFlag, NetworkFlag, PartyListFlag, PathFlag } from './flags.js';

/**
 * `mpc-custody coord <subcommand>`: drives a party set by hand through the session coordinator (the
 * orchestrator's REST API, policy and approvals come later; this is the operator's and the
 * tests' way in). It holds no share: every party checks the command itself. Every flag and file is
 * checked before anything connects; a session the parties refuse is reported under the parties'
 * own code (unknown key, unknown or used presignature, draining party …), not as a failed session.
 */

const base = {
  config: FileFlag('coordinator config (written by setup)'),
  key: KeyIdFlag,
};

/** The coordinator config's shape is checked before connecting; the rest is connectCoordinator's. */
async function connect(config: string) {
  await readJsonFile(config, 'coordinator config', CoordinatorConfigSchema);
  const { connectCoordinator } = await import('../daemon/coordinator-client.js');
  try {
    return await connectCoordinator(config);
  } catch (e) {
    if (e instanceof MpcError && e.details.path === undefined) {
      throw new MpcError(e.code, e.reason, { details: { ...e.details, path: config }, cause: e });
    }
    throw e;
  }
}

/** What the user asked about, to name it when the parties refuse. */
interface Subject {
  readonly key: string;
  readonly presignatures?: readonly string[];
}

/**
 * A session every refusing party answered with the same code and no blame is a refusal, not a
 * protocol failure: report it under that code, naming the key or presignature file it is about.
 */
export function partyRefusal(e: unknown, about: Subject): unknown {
  if (!(e instanceof MpcError) || e.code !== 'ERR_DAEMON_SESSION_FAILED' || e.blame.length > 0) return e;
  const code = String(e.details.codes ?? '');
  if (!isErrorCode(code) || code === 'ERR_DAEMON_SESSION_FAILED' || code === 'ERR_PROTOCOL_ABORT') return e;
  const parties = /failed at ([0-9, ]+):/.exec(e.reason)?.[1] ?? '?';
  const files = about.presignatures?.join(', ') ?? '';
  const what: Partial<Record<string, string>> = {
    ERR_DAEMON_KEY_UNKNOWN: `key "${about.key}" is unknown at party ${parties} (--key)`,
    ERR_DAEMON_PRESIGNATURE_UNKNOWN: `party ${parties} holds no such presignature (--presignature ${files})`,
    ERR_DAEMON_PRESIGNATURE_OTHER_KEY: `the presignature belongs to another key than "${about.key}" (--presignature ${files})`,
    ERR_PRESIGNATURE_USED: `the presignature was used already (--presignature ${files})`,
    ERR_PRESIGNATURE_BURNT: `the presignature was burnt at a restart of party ${parties} (--presignature ${files})`,
    ERR_PRESIGNATURE_EPOCH: `the presignature was made before the key "${about.key}" was refreshed: it never signs (--presignature ${files})`,
    ERR_DAEMON_DRAINING: `party ${parties} is shutting down (draining): nothing was started`,
    ERR_DAEMON_BUSY: `party ${parties} runs its maximum of sessions: retry later`,
    ERR_IMPORT_NOT_STAGED: `party ${parties} has no tss-lib share staged for "${about.key}" (mpc-custody import tss-lib there)`,
  };
  const op = String(e.details.op ?? 'session');
  return new MpcError(code, what[code] ?? `${op} refused by party ${parties}`, { details: e.details, cause: e });
}

/**
 * Party ids the user named must be in the roster (known once connected, before any session starts):
 * `--parties N` counts parties 0..N-1, a list names them.
 */
function assertInRoster(flag: string, ids: readonly number[], rosterSize: number): void {
  const out = ids.filter((i) => i >= rosterSize);
  if (out.length > 0) {
    throw new MpcError(
      'ERR_CLI_USAGE',
      `${flag}: party ${out.join(', ')} is not in the roster (parties 0..${rosterSize - 1})`,
      { details: { flag } },
    );
  }
}
const upTo = (n: number): number[] => [...Array(n).keys()];

/** How many parties hold the key: its record as holders 0 and 1 (every key has them) report it. */
async function holderCount(c: Coordinator, keyId: string): Promise<number> {
  const { decodeKeyRecord } = await import('../protocol/reshare.js');
  return decodeKeyRecord(await c.keyRecord({ keyId, parties: 2 })).n;
}

/** Connects, runs `fn`, closes; refusals are named (see partyRefusal). */
async function withCoordinator<T>(
  config: string,
  about: Subject,
  fn: (c: Coordinator, rosterSize: number) => Promise<T>,
): Promise<T> {
  const coord = await connect(config);
  try {
    return await fn(coord.coordinator, coord.roster.parties.length);
  } catch (e) {
    throw partyRefusal(e, about);
  } finally {
    await coord.close();
  }
}

export const coordKeygen = defineCommand({
  name: 'coord keygen',
  summary: 't-of-n key generation; prints the public key and xpub',
  flags: Type.Object({
    ...base,
    threshold: Type.Integer({ minimum: 1, maximum: 1023, metavar: 'T', description: 'signers needed' }),
    parties: Type.Integer({ minimum: 2, maximum: 1024, metavar: 'N', description: 'parties 0..N-1 take part' }),
  }),
  async run(f, io) {
    if (f.threshold > f.parties) throw new MpcError('ERR_CLI_USAGE', '--threshold must not exceed --parties');
    const { xpub } = await import('../chains/index.js');
    const { encodePoint } = await import('../primitives/curve.js');
    await withCoordinator(f.config, f, async (c, n) => {
      assertInRoster('--parties', upTo(f.parties), n);
      const Y = await c.keygen({ keyId: f.key, threshold: f.threshold, parties: f.parties });
      const key = await c.keyInfo({ keyId: f.key, parties: [...Array(f.parties).keys()] });
      io.out(
        JSON.stringify({
          keyId: f.key,
          publicKey: bytesToHex(encodePoint(Y)),
          xpub: xpub(key, 'mainnet'),
          tpub: xpub(key, 'testnet'),
        }),
      );
    });
    return EXIT.ok;
  },
});

export const coordAux = defineCommand({
  name: 'coord aux',
  summary: 'aux info (Paillier moduli) for a generated key',
  flags: Type.Object({ ...base, parties: Type.Integer({ minimum: 2, maximum: 1024, metavar: 'N' }) }),
  async run(f, io) {
    await withCoordinator(f.config, f, (c, n) => {
      assertInRoster('--parties', upTo(f.parties), n);
      return c.auxInfo({ keyId: f.key, parties: f.parties });
    });
    io.out(JSON.stringify({ keyId: f.key, aux: 'ok' }));
    return EXIT.ok;
  },
});

export const coordImport = defineCommand({
  name: 'coord import',
  summary:
    'import a tss-lib key staged at parties 0..N-1 (agree, convert, aux info, refresh); prints the public key and xpub',
  flags: Type.Object({
    ...base,
    parties: Type.Integer({ minimum: 2, maximum: 1024, metavar: 'N', description: 'parties 0..N-1 import' }),
  }),
  help:
    'Each party first stages its tss-lib save file: mpc-custody import tss-lib --party-file FILE --config PARTY_CONFIG --key ID.\n' +
    'The parties then check that all of them staged the same key (ECDSAPub, Ks, BigXj, chain code),\n' +
    'convert their shares into an additive N-of-N key among them and run fresh aux info (never the\n' +
    'tss-lib Paillier keys), then refresh it at once: the shares are re-dealt as an N-of-N Feldman key\n' +
    '(epoch 1), so the tss-lib shares, wherever copies remain, no longer combine with the new ones.\n' +
    'ERR_IMPORT_MISMATCH names the parties whose staged key differs. When the refresh fails the key is\n' +
    'imported and usable; finish with: mpc-custody coord refresh --key ID.',
  async run(f, io) {
    const { xpub } = await import('../chains/index.js');
    const { encodePoint } = await import('../primitives/curve.js');
    const members = [...Array(f.parties).keys()];
    await withCoordinator(f.config, f, async (c, n) => {
      assertInRoster('--parties', members, n);
      let Y: Awaited<ReturnType<Coordinator['importKey']>>;
      try {
        Y = await c.importKey({ keyId: f.key, parties: f.parties });
      } catch (e) {
        if (e instanceof MpcError && String(e.details.codes ?? '').includes('ERR_IMPORT_MISMATCH')) {
          // the party (or parties) most others name; everyone when no majority names anyone
          const outvoted = String(e.details.outvoted ?? '').replaceAll(',', ', ');
          const all = [...new Set(e.blame.map((b) => b.party))].sort((a, b) => a - b).join(', ');
          const who = outvoted !== '' ? `staged by party ${outvoted}` : `no majority; named: ${all || '?'}`;
          throw new MpcError(
            'ERR_IMPORT_MISMATCH',
            `the parties did not stage the same tss-lib key (public data or chain code differ; the odd one ${who}); nothing was imported`,
            { details: { ...e.details, key: f.key }, cause: e },
          );
        }
        throw e;
      }
      await c.auxInfo({ keyId: f.key, parties: f.parties });
      let refreshed: Awaited<ReturnType<Coordinator['refresh']>>;
      try {
        refreshed = await c.refresh({ keyId: f.key, parties: f.parties });
      } catch (e) {
        const cause = e instanceof MpcError ? e : undefined;
        throw new MpcError(
          cause?.code ?? 'ERR_DAEMON_SESSION_FAILED',
          `the key "${f.key}" was imported, but its refresh failed (${cause?.reason ?? 'unknown error'}); ` +
            `the tss-lib shares still combine with it until it is refreshed: mpc-custody coord refresh --key ${f.key}`,
          { details: { ...(cause?.details ?? {}), key: f.key }, cause: e },
        );
      }
      const key = await c.keyInfo({ keyId: f.key, parties: members });
      io.out(
        JSON.stringify({
          keyId: f.key,
          imported: 'tss-lib',
          parties: f.parties,
          signers: f.parties,
          publicKey: bytesToHex(encodePoint(Y)),
          xpub: xpub(key, 'mainnet'),
          tpub: xpub(key, 'testnet'),
          aux: 'ok',
          refreshed: true,
          epoch: refreshed.epoch,
        }),
      );
    });
    return EXIT.ok;
  },
});

export const coordRefresh = defineCommand({
  name: 'coord refresh',
  summary:
    'key refresh: every holder gets a new share and aux info (same public key and chain code); the epoch moves on',
  flags: Type.Object({
    ...base,
    parties: Type.Optional(
      Type.Integer({
        minimum: 2,
        maximum: 1024,
        metavar: 'N',
        description: "the key holders 0..N-1 (default: the key's holder count, as holders 0 and 1 report it)",
      }),
    ),
  }),
  help:
    'Every holder runs the CGGMP24 refresh with fresh safe primes and seals its next-epoch share beside\n' +
    'the active one (prepare); once every holder acknowledged (each checks every signed acknowledgement\n' +
    'itself) the key moves to the new epoch and every presignature of the older epoch is burnt (commit).\n' +
    'A failed refresh leaves the key on its epoch; run it again. When every holder prepared the same\n' +
    'refresh and some did not commit it (a holder was down), running it again completes that commit\n' +
    '(output "resumed": true) instead of starting a new refresh.',
  async run(f, io) {
    const r = await withCoordinator(f.config, f, async (c, n) => {
      const parties = f.parties ?? (await holderCount(c, f.key));
      assertInRoster('--parties', upTo(parties), n);
      return c.refresh({ keyId: f.key, parties });
    });
    io.out(
      JSON.stringify({
        keyId: f.key,
        refreshed: true,
        epoch: r.epoch,
        digest: bytesToHex(r.digest),
        resumed: r.resumed,
      }),
    );
    return EXIT.ok;
  },
});

export const coordReshare = defineCommand({
  name: 'coord reshare',
  summary:
    'reshare that adds or removes holders: the key of parties 0..FROM-1 re-dealt to 0..TO-1 with threshold T (same public key)',
  flags: Type.Object({
    ...base,
    from: Type.Integer({ minimum: 2, maximum: 1024, metavar: 'N', description: 'the current holders 0..N-1' }),
    to: Type.Integer({
      minimum: 2,
      maximum: 1024,
      metavar: 'M',
      description: 'the new holders 0..M-1 (M < N: N-M leave)',
    }),
    threshold: Type.Integer({ minimum: 2, maximum: 1024, metavar: 'T', description: 'signers needed afterwards' }),
  }),
  help:
    'The current holders re-deal the key to holders 0..M-1 (parties N..M-1 join with their roster\n' +
    'identities) with Feldman-checked shares and Πsch proofs, then the new committee runs aux info with\n' +
    'fresh safe primes; every new holder seals its next-epoch share and acknowledges (prepare), and the\n' +
    "commit moves every holder to the new epoch and T-of-M, burning the older epoch's presignatures.\n" +
    'With M < N, parties M..N-1 leave: holders 0..M-1 (at least the current threshold of them) deal\n' +
    'among themselves; after their commit each leaver checks every acknowledgement, deletes its share\n' +
    'and records the key as left (it then refuses every use of the key with ERR_DAEMON_KEY_RETIRED).\n' +
    'Until the commit the old holders sign as before.\n' +
    'A failed reshare leaves the key with the old holders; run it again (a joiner that prepared the\n' +
    'failed attempt takes part in the new one). When the commit reached only some parties (holders\n' +
    'or leavers), running it again finishes that commit (output "resumed": true) so that every party\n' +
    'is on the new epoch.',
  async run(f, io) {
    if (f.threshold > f.to) {
      throw new MpcError('ERR_CLI_USAGE', '--threshold must not exceed --to', { details: { flag: '--threshold' } });
    }
    const r = await withCoordinator(f.config, f, (c, n) => {
      assertInRoster('--to', upTo(f.to), n);
      assertInRoster('--from', upTo(f.from), n);
      return c.reshare({ keyId: f.key, from: f.from, to: f.to, threshold: f.threshold });
    });
    io.out(
      JSON.stringify({
        keyId: f.key,
        reshared: true,
        parties: f.to,
        threshold: f.threshold,
        epoch: r.epoch,
        digest: bytesToHex(r.digest),
        resumed: r.resumed,
      }),
    );
    return EXIT.ok;
  },
});

export const coordPresign = defineCommand({
  name: 'coord presign',
  summary: 'one presignature; prints its public part (JSON, the file `sign --presignature` reads)',
  flags: Type.Object({
    ...base,
    signers: PartyListFlag('the t signers'),
    path: Type.String({ ...PathFlag('non-hardened derivation path the presignature is bound to'), default: '' }),
  }),
  async run(f, io) {
    const { presignatureToJson } = await import('./presignature-file.js');
    const pre = await withCoordinator(f.config, f, (c, n) => {
      assertInRoster('--signers', intList(f.signers, ','), n);
      return c.presign({ keyId: f.key, signers: intList(f.signers, ','), path: intList(f.path, '/') });
    });
    io.out(JSON.stringify(presignatureToJson(pre)));
    return EXIT.ok;
  },
});

/** The key's root public key and chain code as the named parties (default: all) report them. */
async function keyOf(
  c: Coordinator,
  keyId: string,
  parties: string | undefined,
  rosterSize: number,
): Promise<ChainKey> {
  const ids = parties === undefined ? upTo(rosterSize) : intList(parties, ',');
  assertInRoster('--parties', ids, rosterSize);
  return c.keyInfo({ keyId, parties: ids });
}

export const coordXpub = defineCommand({
  name: 'coord xpub',
  summary: "the key's BIP32 extended public key",
  flags: Type.Object({
    ...base,
    network: NetworkFlag,
    parties: Type.Optional(PartyListFlag('parties to ask (default: all)')),
  }),
  async run(f, io) {
    const { xpub } = await import('../chains/index.js');
    const { encodePoint } = await import('../primitives/curve.js');
    const key = await withCoordinator(f.config, f, (c, n) => keyOf(c, f.key, f.parties, n));
    io.out(
      JSON.stringify({
        keyId: f.key,
        network: f.network,
        xpub: xpub(key, f.network),
        publicKey: bytesToHex(encodePoint(key.publicKey)),
      }),
    );
    return EXIT.ok;
  },
});

export const coordAddress = defineCommand({
  name: 'coord address',
  summary: "the key's address at a non-hardened path (ethereum: EIP-55; bitcoin: P2WPKH)",
  flags: Type.Object({
    ...base,
    path: Type.String({ ...PathFlag('derivation path below the key'), default: '' }),
    chain: Type.Union([Type.Literal('ethereum'), Type.Literal('bitcoin')], { metavar: 'CHAIN' }),
    network: NetworkFlag,
    parties: Type.Optional(PartyListFlag('parties to ask (default: all)')),
  }),
  async run(f, io) {
    const { addressAt } = await import('../chains/index.js');
    const key = await withCoordinator(f.config, f, (c, n) => keyOf(c, f.key, f.parties, n));
    const address = addressAt(key, intList(f.path, '/'), f.chain, f.network as BtcNetwork);
    io.out(
      JSON.stringify({
        keyId: f.key,
        chain: f.chain,
        ...(f.chain === 'bitcoin' ? { network: f.network } : {}),
        path: f.path,
        address,
      }),
    );
    return EXIT.ok;
  },
});

const SignFlags = Type.Object({
  ...base,
  presignature: Type.String({
    pattern: '^[^,]+(,[^,]+)*$',
    metavar: 'FILE[,FILE…]',
    description: 'presignature file(s) from presign: one per digest (a PSBT: one per input, in input order)',
  }),
  kind: Type.Optional(
    Type.Union(
      PAYLOAD_KINDS.map((k) => Type.Literal(k)),
      { metavar: 'KIND', description: 'chain payload kind' },
    ),
  ),
  payload: Type.Optional(
    Type.String({ minLength: 1, metavar: 'FILE|HEX', description: 'the payload, as hex or a file' }),
  ),
  digest: Type.Optional(
    Type.String({ pattern: '^[0-9a-f]{64}$', metavar: 'HEX', description: 'raw.digest: 64 lowercase hex digits' }),
  ),
  network: NetworkFlag,
  request: Type.Optional(
    FileFlag("the initiator's signed request (compact JWS): parties that enforce policy refuse a sign without it"),
  ),
  policyVersion: Type.Optional(
    Type.Integer({
      minimum: 1,
      maximum: Number.MAX_SAFE_INTEGER,
      description: 'the policy version it was evaluated under',
    }),
  ),
  approvals: Type.Optional(
    Type.String({
      pattern: '^[^,]+(,[^,]+)*$',
      metavar: 'FILE[,FILE…]',
      description: 'approval statements (compact JWS), one per file',
    }),
  ),
});

/** The sign command's authorization (--request, --policy-version, --approvals), read before connecting. */
async function authorizationOf(f: Static<typeof SignFlags>): Promise<SignAuthorization | undefined> {
  if (f.request === undefined && f.policyVersion === undefined && f.approvals === undefined) return undefined;
  if (f.request === undefined || f.policyVersion === undefined) {
    throw new MpcError('ERR_CLI_USAGE', '--request and --policy-version go together (and with --approvals)');
  }
  const text = async (file: string, what: string) => new TextDecoder().decode(await readInputFile(file, what)).trim();
  const approvals: string[] = [];
  for (const file of f.approvals?.split(',') ?? []) approvals.push(await text(file, 'approval file'));
  return { signedRequest: await text(f.request, 'signed request file'), policyVersion: f.policyVersion, approvals };
}

/** A payload given as hex on the command line, or a file holding hex or raw bytes (PSBT, JSON). */
async function readPayload(arg: string): Promise<Uint8Array> {
  const asHex = (t: string) => {
    const h = t.trim().replace(/^0x/, '');
    return /^([0-9a-fA-F]{2})+$/.test(h) ? hexToBytes(h.toLowerCase()) : undefined;
  };
  const inline = asHex(arg);
  if (inline !== undefined) return inline;
  const raw = await readInputFile(arg, 'payload file');
  return asHex(new TextDecoder().decode(raw)) ?? raw;
}

async function sign(f: Static<typeof SignFlags>, io: CommandIo): Promise<number> {
  const files = f.presignature.split(',');
  const bare = f.kind === undefined && f.payload === undefined;
  if (bare && f.digest === undefined) {
    throw new MpcError('ERR_CLI_USAGE', 'give --kind and --payload, or --digest (mpc-custody coord sign --help)');
  }
  if (!bare && f.digest !== undefined)
    throw new MpcError('ERR_CLI_USAGE', '--digest goes without --kind and --payload');
  if (!bare && (f.kind === undefined || f.payload === undefined)) {
    throw new MpcError('ERR_CLI_USAGE', `${f.kind === undefined ? '--kind' : '--payload'} is required with the other`);
  }
  if (bare && files.length !== 1) throw new MpcError('ERR_CLI_USAGE', '--digest signs with one --presignature');
  // every input is read and checked before anything connects
  await readJsonFile(f.config, 'coordinator config', CoordinatorConfigSchema);
  for (const file of files) await assertReadableFile(file, 'presignature file');
  const { readPresignatureFile } = await import('./presignature-file.js');
  const presignatures: PresignaturePublic[] = [];
  for (const file of files) presignatures.push(await readPresignatureFile(file));
  const payload = f.payload === undefined ? undefined : await readPayload(f.payload);
  const authorization = await authorizationOf(f);
  const auth = authorization === undefined ? {} : { authorization };
  const about = { key: f.key, presignatures: files };
  if (f.kind !== undefined && payload !== undefined) {
    const kind = f.kind;
    const r = await withCoordinator(f.config, about, (c) =>
      c.signPayload({ keyId: f.key, kind, payload, presignatures, network: f.network, ...auth }),
    );
    io.out(JSON.stringify({ kind, signed: r.artifact.hex, ...r.artifact.fields, decoded: r.decoded.fields }));
    return EXIT.ok;
  }
  const presignature = presignatures[0] as PresignaturePublic;
  const { encodePoint } = await import('../primitives/curve.js');
  const sig = await withCoordinator(f.config, about, (c) =>
    c.sign({ keyId: f.key, presignature, digest: hexToBytes(f.digest as string), ...auth }),
  );
  io.out(
    JSON.stringify({
      r: sig.r.toString(16).padStart(64, '0'),
      s: sig.s.toString(16).padStart(64, '0'),
      v: 27 + sig.recovery,
      recovery: sig.recovery,
      der: bytesToHex(sig.der),
      publicKey: bytesToHex(encodePoint(presignature.publicKey)),
    }),
  );
  return EXIT.ok;
}

export const coordSign = defineCommand({
  name: 'coord sign',
  summary: 'sign a chain payload (or a bare digest) with presignatures; prints the signed artifact',
  flags: SignFlags,
  help: `KIND is one of ${PAYLOAD_KINDS.join(', ')}; every party decodes the payload and computes the digest
itself. --digest HEX alone signs a bare 32-byte digest (kind raw.digest: nothing can be checked).
Parties that enforce policy sign only with --request (the initiator's signed request) and
--policy-version, plus --approvals when the matched rule needs them; each checks them itself.`,
  run: sign,
});

/** `coord policy-push` / `coord registry-push`: relay an admin-signed document, print every party's outcome. */
const pushCommand = (what: 'policy' | 'registry') =>
  defineCommand({
    name: `coord ${what}-push`,
    summary: `relay an admin-quorum-signed ${what === 'policy' ? 'policy version' : 'operator registry'} to every party`,
    flags: Type.Object({
      config: FileFlag('coordinator config (written by setup)'),
      file: FileFlag('the signed document (general JWS JSON, as the admins produced it)'),
    }),
    help: `Each party verifies the admin quorum against its own admin set and holds the document only if it
is newer than the one it holds. Prints every party's outcome; exit 1 when any party does not hold it.`,
    async run(f, io) {
      await readJsonFile(f.config, 'coordinator config', CoordinatorConfigSchema);
      const { GeneralJwsSchema } = await import('../policy/signed-document.js');
      await readJsonFile(f.file, `${what} file`, GeneralJwsSchema); // its shape, before anything is sent
      const doc = await readInputFile(f.file, `${what} file`);
      const r = await withCoordinator(f.config, { key: '' }, (c) =>
        what === 'policy' ? c.pushPolicy(doc) : c.pushRegistry(doc),
      );
      // each party's outcome with its code once (a party's message starts with the code)
      const parties = r.parties.map((x) => ({ ...x, message: x.message.replace(/^ERR_[A-Z0-9_]+: /, '') }));
      io.out(JSON.stringify({ document: what, ok: r.ok, parties }));
      return r.ok ? EXIT.ok : EXIT.failed;
    },
  });
export const coordPolicyPush = pushCommand('policy');
export const coordRegistryPush = pushCommand('registry');

export const coordGroup: CommandGroup = {
  name: 'coord',
  summary: 'drive the parties through the session coordinator (JSON out, typed errors)',
  commands: [
    coordKeygen,
    coordAux,
    coordImport,
    coordRefresh,
    coordReshare,
    coordPresign,
    coordSign,
    coordXpub,
    coordAddress,
    coordPolicyPush,
    coordRegistryPush,
  ],
  help: 'Output is one JSON line on stdout. The subcommand may come before or after --config.',
};
