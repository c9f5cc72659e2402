import { MpcError } from '../errors/index.js';
import type { MathBackend } from '../math/backend.js';
import type { Rng } from '../math/random.js';
import { auxInfo } from './aux-info.js';
import type { AuxInfo, CoreKeyShare, KeyShare } from './key-share.js';
import { keygen } from './keygen.js';
import { type Presignature, presign } from './presign.js';
import { refresh } from './refresh.js';
import { type ReshareInput, type ReshareOutput, reshare } from './reshare.js';
import { combineSignature, type EcdsaSignature, issuePartialSignature, type PresignatureLedger } from './sign.js';
import { simulate } from './simulation.js';
import type { ProtocolDef } from './types.js';

/**
 * Runs whole protocols for parties that live in one process (the demo's in-process mode, the
 * end-to-end tests and the protocol benchmark). Each call is one execution with a fresh sid.
 * The daemon runs the same protocol definitions over NATS instead.
 */
export interface LocalOptions {
  readonly math: MathBackend;
  /** Execution id prefix; each protocol run appends its own label. */
  readonly sid: string;
  /** RNG for party i (the system CSPRNG in production, seeded DRBGs in tests). */
  readonly rng: (party: number, label: string) => Rng;
}

function run<I, S, O>(def: ProtocolDef<I, S, O>, label: string, inputs: readonly I[], opts: LocalOptions): O[] {
  const sid = new TextEncoder().encode(`${opts.sid}/${label}`);
  const result = simulate(def, inputs, { sid, math: opts.math, rngs: inputs.map((_, i) => opts.rng(i, label)) });
  const failed = result.errors.find((e) => e !== undefined);
  if (failed !== undefined) throw failed;
  return result.outputs.map((o) => {
    if (o === undefined) throw new MpcError('ERR_PROTOCOL_ABORT', `${def.name} produced no output`);
    return o;
  });
}

/** t-of-n key generation among n local parties. */
export function runKeygen(n: number, t: number, opts: LocalOptions, additive = false): CoreKeyShare[] {
  return run(
    keygen,
    'keygen',
    Array.from({ length: n }, () => ({ t, additive })),
    opts,
  );
}

/** Aux-info generation; `primes[i]` are party i's two fresh safe primes (from a prime pool). */
export function runAuxInfo(primes: ReadonlyArray<{ p: bigint; q: bigint }>, opts: LocalOptions): AuxInfo[] {
  return run(auxInfo, 'aux', primes, opts);
}

/** Key refresh of every holder's share (epoch + 1); `primes[i]` are party i's fresh safe primes. */
export function runRefresh(
  cores: readonly CoreKeyShare[],
  primes: ReadonlyArray<{ p: bigint; q: bigint }>,
  opts: LocalOptions,
): KeyShare[] {
  return run(
    refresh,
    'refresh',
    cores.map((core, i) => {
      const own = primes[i];
      if (own === undefined) throw new MpcError('ERR_PROTOCOL_INPUT', `no fresh primes for party ${i}`);
      return { core, primes: own };
    }),
    opts,
  );
}

/** Reshare among the union of the old and new committees (one input per session party). */
export function runReshare(inputs: readonly ReshareInput[], opts: LocalOptions): ReshareOutput[] {
  return run(reshare, 'reshare', inputs, opts);
}

/** Presigning among the key-share holders `signers` (exactly t of them) for derivation `path`. */
export function runPresign(
  shares: readonly KeyShare[],
  signers: readonly number[],
  path: readonly number[],
  opts: LocalOptions,
  label = 'presign',
): Presignature[] {
  const inputs = signers.map((s) => {
    const share = shares[s];
    if (share === undefined) throw new MpcError('ERR_PROTOCOL_INPUT', `no key share for party ${s}`);
    return { share, signers, path };
  });
  return run(presign, label, inputs, opts);
}

/**
 * One signature from one presignature per signer: each signer consumes its presignature in its own
 * ledger, then issues its partial; the partials are combined and the signature verified.
 */
export function signDigest(
  presigs: readonly Presignature[],
  digest: Uint8Array,
  ledgers: readonly PresignatureLedger[],
): EcdsaSignature {
  const partials = presigs.map((p, i) => issuePartialSignature(p, digest, ledgers[i] as PresignatureLedger));
  const first = presigs[0];
  if (first === undefined) throw new MpcError('ERR_PROTOCOL_INPUT', 'no presignatures');
  return combineSignature(first, digest, partials);
}
