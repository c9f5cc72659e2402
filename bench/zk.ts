import type { MathBackend } from '../src/math/backend.js';
import type { BackendName } from '../src/math/raw.js';
import { availableBackends, loadBackend } from '../src/math/select.js';
import { G, mulBase } from '../src/primitives/curve.js';
import { encrypt, encryptCrt, paillierSecretKey, scalarMul } from '../src/primitives/paillier.js';
import { generateRingPedersen } from '../src/primitives/ring-pedersen.js';
import { proveAffG, verifyAffG } from '../src/zk/aff-g.js';
import type { ProofContext } from '../src/zk/common.js';
import { decMaxPlaintextBits, proveDec, verifyDec } from '../src/zk/dec.js';
import { proveElog, verifyElog } from '../src/zk/elog.js';
import { proveEnc, verifyEnc } from '../src/zk/enc.js';
import { proveEncElg, verifyEncElg } from '../src/zk/enc-elg.js';
import { proveFac, verifyFac } from '../src/zk/fac.js';
import { proveLogStar, verifyLogStar } from '../src/zk/log-star.js';
import { proveMod, verifyMod } from '../src/zk/mod.js';
import { proveMul, verifyMul } from '../src/zk/mul.js';
import { SECURITY } from '../src/zk/params.js';
import { provePrm, verifyPrm } from '../src/zk/prm.js';
import { proveSch, schnorrCommit, verifySch } from '../src/zk/sch.js';
import { fixtureSafePrimes, fmt, measure, seeded } from './lib.js';

export interface ZkRow {
  proof: string;
  backend: BackendName;
  proveMs: number;
  verifyMs: number;
}

/**
 * Prove and verify time per proof per backend at the default security level (3072-bit Paillier,
 * m = 128). Πmod and Πprm on the BigInt backend take tens of seconds per call: one sample each.
 */
export async function benchZk(log: (line: string) => void): Promise<ZkRow[]> {
  const primes = fixtureSafePrimes();
  const rows: ZkRow[] = [];
  const rnd = seeded('zk');
  for (const name of availableBackends()) {
    const math: MathBackend = loadBackend(name);
    const prover = paillierSecretKey(math, primes[0] as bigint, primes[1] as bigint, SECURITY.minModulusBits);
    const verifier = paillierSecretKey(math, primes[2] as bigint, primes[3] as bigint, SECURITY.minModulusBits);
    const proverRp = generateRingPedersen(math, prover);
    const aux = generateRingPedersen(math, verifier).params;
    const ctx: ProofContext = { sid: new TextEncoder().encode('bench'), prover: 1, rid: new Uint8Array(48) };
    const k = rnd(250);
    const rho = math.randUnit(prover.pub.n);
    const K = encryptCrt(math, prover, k, rho);
    // Πaff-g: D = (x ⊙ C) ⊕ enc_{N0}(y; ρ) under the verifier's key, Y = enc_{N1}(y; ρ_y) under the prover's.
    const C = encrypt(math, verifier.pub, rnd(250), math.randUnit(verifier.pub.n));
    const x = rnd(250);
    const y = -rnd(840);
    const s = math.randUnit(verifier.pub.n);
    const r = math.randUnit(prover.pub.n);
    const D = math.mulMod(scalarMul(math, verifier.pub, x, C), encrypt(math, verifier.pub, y, s), verifier.pub.n2);
    const Y = encrypt(math, prover.pub, y, r);
    const affSt = { pk0: verifier.pub, pk1: prover.pub, C, D, Y, X: mulBase(x) };
    const logSt = { pk: prover.pub, C: K, X: mulBase(k), B: G };
    // Πenc-elg: K and the ElGamal pair (b·G, b·A + k·G) under A hold the same k; Πelog: Γ = k·G from the same pair.
    const elgA = mulBase(rnd(250) + 1n);
    const elgB = rnd(250) + 1n;
    const elgM = elgA.multiply(elgB).add(mulBase(k));
    const encElgSt = { pk: prover.pub, C: K, A: elgA, B: mulBase(elgB), X: elgM };
    const elogSt = { L: mulBase(elgB), M: elgM, X: elgA, Y: mulBase(k), h: G };
    // Πmul: C = Y^x·ρ^N with X = enc(x; ρ_x); Πdec: C decrypts to y ≡ x (mod q).
    const rhoX = math.randUnit(prover.pub.n);
    const mulX = encrypt(math, prover.pub, k, rhoX);
    const mulRho = math.randUnit(prover.pub.n);
    const mulC = math.mulMod(
      scalarMul(math, prover.pub, k, K),
      math.powmSec(mulRho, prover.pub.n, prover.pub.n2),
      prover.pub.n2,
    );
    const decY = rnd(1000);
    const decRho = math.randUnit(prover.pub.n);
    const decSt = {
      pk: prover.pub,
      C: encrypt(math, prover.pub, decY, decRho),
      x: decY % 115792089237316195423570985008687907852837564279074904382605163141518161494337n,
      plaintextBits: Math.min(1100, decMaxPlaintextBits(prover.pub)),
    };
    const slow = name === 'js';
    const cases: Array<[string, () => unknown, (p: never) => unknown, boolean]> = [
      [
        'Πenc',
        () => proveEnc(math, ctx, aux, { pk: prover.pub, K }, { k, rho }),
        (p) => verifyEnc(math, ctx, aux, { pk: prover.pub, K }, p),
        false,
      ],
      [
        'Πenc-elg',
        () => proveEncElg(math, ctx, aux, encElgSt, { x: k, rho, b: elgB }, undefined, prover),
        (p) => verifyEncElg(math, ctx, aux, encElgSt, p),
        false,
      ],
      ['Πelog', () => proveElog(ctx, elogSt, { y: k, lambda: elgB }), (p) => verifyElog(ctx, elogSt, p), false],
      [
        'Πaff-g',
        () => proveAffG(math, ctx, aux, affSt, { x, y, rho: s, rhoY: r }, undefined, prover),
        (p) => verifyAffG(math, ctx, aux, affSt, p),
        false,
      ],
      [
        'Πlog*',
        () => proveLogStar(math, ctx, aux, logSt, { x: k, rho }, undefined, prover),
        (p) => verifyLogStar(math, ctx, aux, logSt, p),
        false,
      ],
      [
        'Πfac',
        () => proveFac(math, ctx, aux, { n: prover.pub.n }, { p: prover.p, q: prover.q }),
        (p) => verifyFac(math, ctx, aux, { n: prover.pub.n }, p),
        false,
      ],
      [
        'Πmod',
        () => proveMod(math, ctx, { n: prover.pub.n }, { p: prover.p, q: prover.q }),
        (p) => verifyMod(math, ctx, { n: prover.pub.n }, p),
        true,
      ],
      [
        'Πprm',
        () => provePrm(math, ctx, proverRp.params, proverRp),
        (p) => verifyPrm(math, ctx, proverRp.params, p),
        true,
      ],
      [
        'Πmul',
        () =>
          proveMul(
            math,
            ctx,
            { pk: prover.pub, X: mulX, Y: K, C: mulC },
            { x: k, rho: mulRho, rhoX },
            undefined,
            prover,
          ),
        (p) => verifyMul(math, ctx, { pk: prover.pub, X: mulX, Y: K, C: mulC }, p),
        false,
      ],
      [
        'Πdec',
        () => proveDec(math, ctx, aux, decSt, { y: decY, rho: decRho }, undefined, prover),
        (p) => verifyDec(math, ctx, aux, decSt, p),
        false,
      ],
    ];
    for (const [proof, prove, verify, heavy] of cases) {
      const once = slow && heavy;
      let made: unknown;
      const pm = await measure(
        `${proof} prove ${name}`,
        () => {
          made = prove();
        },
        once ? 0 : 300,
        once ? 1 : 3,
        once ? 0 : 1,
      );
      const vm = await measure(
        `${proof} verify ${name}`,
        () => verify(made as never),
        once ? 0 : 300,
        once ? 1 : 3,
        once ? 0 : 1,
      );
      rows.push({ proof, backend: name, proveMs: pm.msPerOp, verifyMs: vm.msPerOp });
      log(
        `  ${name.padEnd(6)} ${proof.padEnd(7)} prove ${fmt(pm.msPerOp).padStart(8)} ms   verify ${fmt(vm.msPerOp).padStart(8)} ms`,
      );
    }
    const { secret, commitment } = schnorrCommit();
    const xs = rnd(250);
    const sch = proveSch(ctx, mulBase(xs), commitment, secret, xs);
    const sm = await measure(`Πsch verify ${name}`, () => verifySch(ctx, mulBase(xs), sch), 200, 20);
    rows.push({ proof: 'Πsch', backend: name, proveMs: Number.NaN, verifyMs: sm.msPerOp });
  }
  return rows;
}
