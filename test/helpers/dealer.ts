/**
 * Trusted-dealer key shares for protocol tests (TEST ONLY: the dealer knows the secret key).
 * Keygen and aux-info are separate protocols; presigning and signing tests start from shares dealt
 * here so they do not depend on them:
 *
 * - a random secret x; t-of-n: Shamir shares x_i = f(i + 1) of a random f of degree t − 1 with
 *   f(0) = x; n-of-n additive: random x_i with Σ x_i = x;
 * - public shares X_j = x_j·G, public key Y = x·G, a random 32-byte chain code;
 * - aux info from the fixture primes (party i: safe primes 2i, 2i+1, 3072-bit N_i) with
 *   ring-Pedersen parameters from `generateRingPedersen` (test/helpers/keys.ts `partyKeys`).
 */
import { mod } from '../../src/math/bits.js';
import { CURVE_ORDER, mulBase, type Point } from '../../src/primitives/curve.js';
import type { AuxInfo, CoreKeyShare, KeyShare, PartyAux } from '../../src/protocol/key-share.js';
import { TestDrbg } from './drbg.js';
import { math, partyKeys } from './keys.js';

export interface DealtKey {
  readonly shares: KeyShare[];
  /** The full secret key (what the protocols never reconstruct). */
  readonly secret: bigint;
  readonly publicKey: Point;
  /** X_j = x_j·G of every party. */
  readonly publicShares: readonly Point[];
  readonly chainCode: Uint8Array;
}

export interface DealOptions {
  readonly n: number;
  readonly t: number;
  /** n-of-n additive shares (requires t = n). Default false: Shamir t-of-n. */
  readonly additive?: boolean;
  readonly seed: string;
}

function scalar(rng: TestDrbg): bigint {
  for (;;) {
    const x = math.randBelow(CURVE_ORDER, rng);
    if (x !== 0n) return x;
  }
}

/** Aux info of every party: Paillier N_j and ring-Pedersen (s_j, t_j) from the fixture keys. */
export async function dealAux(n: number): Promise<{ parties: PartyAux[]; primes: Array<{ p: bigint; q: bigint }> }> {
  const keys = await Promise.all(Array.from({ length: n }, (_, i) => partyKeys(i)));
  return {
    parties: keys.map(({ rp }) => ({ N: rp.params.n, s: rp.params.s, t: rp.params.t })),
    primes: keys.map(({ sk }) => ({ p: sk.p, q: sk.q })),
  };
}

/**
 * Deals n key shares of a fresh random key.
 * @example const { shares, publicKey } = await dealKeyShares({ n: 3, t: 2, seed: 'k1' });
 */
export async function dealKeyShares(opts: DealOptions): Promise<DealtKey> {
  const { n, t, seed } = opts;
  const additive = opts.additive ?? false;
  if (additive && t !== n) throw new Error('additive shares need t = n');
  const rng = new TestDrbg(`dealer-${seed}`);
  const secret = scalar(rng);
  let xs: bigint[];
  for (;;) {
    if (additive) {
      xs = Array.from({ length: n - 1 }, () => scalar(rng));
      xs.push(mod(secret - xs.reduce((a, b) => a + b, 0n), CURVE_ORDER));
    } else {
      // f(z) = x + a_1 z + … + a_{t−1} z^{t−1};  x_i = f(i + 1)
      const coeffs = [secret, ...Array.from({ length: t - 1 }, () => scalar(rng))];
      xs = Array.from({ length: n }, (_, i) => {
        const z = BigInt(i + 1);
        return mod(
          coeffs.reduceRight((acc, c) => acc * z + c, 0n),
          CURVE_ORDER,
        );
      });
    }
    if (xs.every((x) => x !== 0n)) break;
  }
  const chainCode = new Uint8Array(32);
  rng.fill(chainCode);
  const publicShares = xs.map((x) => mulBase(x));
  const publicKey = mulBase(secret);
  const { parties, primes } = await dealAux(n);
  const shares = xs.map((x, i): KeyShare => {
    const core: CoreKeyShare = { version: 1, i, n, t, x, publicShares, publicKey, chainCode, additive };
    const own = primes[i] as { p: bigint; q: bigint };
    const aux: AuxInfo = { version: 1, i, n, p: own.p, q: own.q, parties };
    return { core, aux };
  });
  return { shares, secret, publicKey, publicShares, chainCode };
}
