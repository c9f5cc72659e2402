/**
 * Key refresh (CGGMP24 ePrint 2021/060, "auxiliary info and key refresh", Fig. 6; PROTOCOL.md §4;
 * cggmp21 `key_refresh`), for t-of-n Feldman-VSS keys: in one session every holder
 *
 *  1. adds a fresh sharing of zero to its share — each party deals g_i(z) = Σ_{k≥1} a_{i,k}·z^k with
 *     Feldman commitments, every share is Feldman-checked, and every new share is proven with Πsch
 *     (reshare.ts, mode 'refresh'): x'_j = x_j + Σ_i g_i(j + 1), so Y and the chain code stay, the
 *     public shares change, and a share of the old epoch says nothing about a share of the new one;
 *  2. runs aux-info with fresh safe primes (aux-info.ts: new Paillier N_i and ring-Pedersen
 *     (s_i, t_i) with Πprm, Πmod and Πfac towards every verifier).
 *
 * The output is the party's full KeyShare of epoch e + 1. Presignatures of epoch e can no longer be
 * used with it (sign.ts refuses them under the new epoch; presign binds the epoch into its context),
 * and the caller burns them and deletes the old share only once every party has sealed its new one
 * (commit). The paper sends the refresh shares Paillier-encrypted over the broadcast channel; here
 * they travel point to point, on the transport's authenticated and encrypted channels, as keygen's.
 * An additive n-of-n key (a tss-lib import) is refreshed by re-dealing its shares as a Feldman
 * sharing with t = n on the same committee (reshare.ts, "Additive n-of-n keys"): afterwards it is an
 * ordinary t-of-n key, and the imported shares are useless with the new ones.
 */

import { MpcError } from '../errors/index.js';
import type { AuxInput } from './aux-info.js';
import { auxInfo } from './aux-info.js';
import type { AuxInfo, CoreKeyShare, KeyShare } from './key-share.js';
import { validateKeyShare } from './key-share-validate.js';
import { dealingProtocol, keyRecordOf, type ReshareInput, type ReshareOutput } from './reshare.js';
import { sequence } from './sequence.js';

export interface RefreshInput {
  /** The current share (its aux info is replaced, so a party restored from backup needs only `core`). */
  readonly core: CoreKeyShare;
  /** Two fresh safe primes from the prime pool (never the ones of the current aux info). */
  readonly primes: AuxInput;
}

/**
 * The refresh protocol: the zero-sharing dealing (rounds `share-*`), then aux-info (`aux-*`).
 * @throws MpcError ERR_PROTOCOL_INPUT (init) for a share of another party index,
 *   unusable primes; the session aborts with blame on any faulty message
 * @example const r = simulate(refresh, shares.map((s, i) => ({ core: s.core, primes: fresh[i] })), opts);
 */
export const refresh = sequence({
  name: 'refresh',
  first: dealingProtocol('refresh'),
  second: auxInfo,
  prefixes: ['share', 'aux'],
  firstInput(input: RefreshInput, ctx): ReshareInput {
    const n = ctx.n;
    const identity = Array.from({ length: n }, (_, u) => u);
    return {
      key: keyRecordOf(input.core),
      roles: { oldIndex: identity, newIndex: identity, newT: input.core.t },
      share: input.core,
    };
  },
  secondInput: (input: RefreshInput) => input.primes,
  output(_input: RefreshInput, dealt: ReshareOutput, aux: AuxInfo, ctx): KeyShare {
    // Every refresh party is a receiver: its dealing output is a share.
    return validateKeyShare(ctx.math, { core: dealt.share as CoreKeyShare, aux });
  },
});

export interface ReshareSessionInput {
  /** The dealing's input: the old key record, the roles (every party receives), the own share if any. */
  readonly dealing: ReshareInput;
  /** Two fresh safe primes from the prime pool, for the new committee's aux info. */
  readonly primes: AuxInput;
}

/**
 * A reshare in which every party of the session is in the new committee (the same holders, or
 * more: parties join, none leave): the verifiable re-dealing (reshare.ts, rounds `share-*`), then
 * aux-info among the new committee (`aux-*`), so each holder ends with its full KeyShare of epoch
 * e + 1. Holders that leave cannot be in an aux-info session of the new committee: when holders
 * leave, the session is the staying holders alone, dealing as old members (at least the old
 * threshold of them, the dealing interpolates their shares) — the party daemon's reshare with
 * n′ < n — and the leavers retire at the commit.
 * @throws MpcError ERR_PROTOCOL_INPUT (init) when a party of the session receives no new share
 */
export const reshareSession = sequence({
  name: 'reshare',
  first: dealingProtocol('reshare'),
  second: auxInfo,
  prefixes: ['share', 'aux'],
  firstInput(input: ReshareSessionInput, ctx): ReshareInput {
    if (input.dealing.roles.newIndex.some((r, u) => r !== u) || input.dealing.roles.newIndex.length !== ctx.n) {
      throw new MpcError('ERR_PROTOCOL_INPUT', 'reshare: every party of the session must hold new index = its own');
    }
    return input.dealing;
  },
  secondInput: (input: ReshareSessionInput) => input.primes,
  output(_input: ReshareSessionInput, dealt: ReshareOutput, aux: AuxInfo, ctx): KeyShare {
    return validateKeyShare(ctx.math, { core: dealt.share as CoreKeyShare, aux });
  },
});
