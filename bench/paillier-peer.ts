import * as paillier from 'paillier-bigint';
import { crtModulus } from '../src/math/backend.js';
import { availableBackends, loadBackend } from '../src/math/select.js';
import { fixtureSafePrimes, fmt, measure, seeded } from './lib.js';

export interface PaillierRow {
  op: 'encrypt' | 'encryptCrt' | 'decrypt';
  impl: string;
  msPerOp: number;
  opsPerSec: number;
}

/**
 * Paillier-shaped work at the protocol's size (3072-bit N from the committed 1536-bit test primes),
 * ours on each backend side by side with the npm package paillier-bigint (pure BigInt).
 * encrypt: (1 + m·N)·r^N mod N² (public key only); encryptCrt: the key owner's CRT path;
 * decrypt: L(c^φ mod N²)·φ^-1 mod N via CRT.
 */
export async function benchPaillier(log: (line: string) => void): Promise<PaillierRow[]> {
  const [p, q] = fixtureSafePrimes() as [bigint, bigint];
  const n = p * q;
  const n2 = n * n;
  const phi = (p - 1n) * (q - 1n);
  const rnd = seeded('paillier');
  const msg = rnd(256);
  const r = rnd(3000) % n;
  const rows: PaillierRow[] = [];

  const pub = new paillier.PublicKey(n, n + 1n);
  const lambda = phi;
  const mu = (() => {
    const js = loadBackend('js');
    return js.invMod(lambda % n, n);
  })();
  const priv = new paillier.PrivateKey(lambda, mu, pub, p, q);
  const c = pub.encrypt(msg, r);
  for (const [op, f] of [
    ['encrypt', () => pub.encrypt(msg, r)],
    ['decrypt', () => priv.decrypt(c)],
  ] as const) {
    const m = await measure(`paillier-bigint ${op}`, f);
    rows.push({ op, impl: 'paillier-bigint', msPerOp: m.msPerOp, opsPerSec: m.opsPerSec });
  }
  const crt2 = crtModulus(p, q, 2);
  for (const name of availableBackends()) {
    const math = loadBackend(name);
    const enc = () => ((1n + msg * n) * math.powm(r, n, n2)) % n2;
    const encCrt = () => ((1n + msg * n) * math.powmCrt(r, n, crt2)) % n2;
    const dec = () => (((math.powmCrt(c, phi, crt2) - 1n) / n) * math.invMod(phi % n, n)) % n;
    if (dec() !== msg || enc() !== c) throw new Error(`${name}: Paillier round trip failed in the benchmark`);
    for (const [op, f] of [
      ['encrypt', enc],
      ['encryptCrt', encCrt],
      ['decrypt', dec],
    ] as const) {
      const m = await measure(`${name} ${op}`, f);
      rows.push({ op, impl: name, msPerOp: m.msPerOp, opsPerSec: m.opsPerSec });
    }
  }
  for (const op of ['encrypt', 'encryptCrt', 'decrypt'] as const) {
    log(
      `  ${op.padEnd(10)} ${rows
        .filter((x) => x.op === op)
        .map((x) => `${x.impl} ${fmt(x.msPerOp)}`)
        .join('  ')} (ms/op)`,
    );
  }
  return rows;
}
