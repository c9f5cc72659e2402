/**
 * secp256k1 on the online signing path: the candidate backends side by side in one run, then the
 * in-process online sign (every partial + combine + verify) and the presignature decode through
 * each backend the project can select (src/primitives/secp256k1-backend.ts).
 *
 * Candidates: @noble/curves (what the path used before; the fallback and oracle), tiny-secp256k1
 * (libsecp256k1 compiled to WASM, a devDependency, measured only), libsecp256k1 linked into the
 * native addon (when the build found libsecp256k1-dev).
 */
import { secp256k1 } from '@noble/curves/secp256k1.js';
import * as tiny from 'tiny-secp256k1';
import { fromBytesBE, mod, toBytesBE } from '../src/math/bits.js';
import { CURVE_ORDER, decodePoint, G, mulBase, Point } from '../src/primitives/curve.js';
import {
  nativeSecp256k1,
  nobleSecp256k1,
  type Secp256k1Backend,
  withSecp256k1Backend,
} from '../src/primitives/secp256k1-backend.js';
import type { Presignature } from '../src/protocol/presign.js';
import { decodePresignature, encodePresignature } from '../src/protocol/presignature-codec.js';
import { combineSignature, issuePartialSignature, MemoryPresignatureLedger } from '../src/protocol/sign.js';
import { measure, seeded } from './lib.js';

export interface SecpRow {
  readonly backend: string;
  readonly op: string;
  readonly usPerOp: number;
}

const scalarOf = (rnd: (bits: number) => bigint): bigint => mod(rnd(320), CURVE_ORDER - 1n) + 1n;

/** A consistent t-party presignature (k = Σ k_i, R = k⁻¹·G, Σ χ_i = k·x), as test/protocol/sign.test.ts builds it. */
function fakePresignatures(t: number, rnd: (bits: number) => bigint): Presignature[] {
  const x = scalarOf(rnd);
  const ks = Array.from({ length: t }, () => scalarOf(rnd));
  const k = mod(
    ks.reduce((a, b) => a + b, 0n),
    CURVE_ORDER,
  );
  const chis = Array.from({ length: t - 1 }, () => scalarOf(rnd));
  chis.push(mod(k * x - chis.reduce((a, b) => a + b, 0n), CURVE_ORDER));
  const R = mulBase(Point.Fn.inv(k));
  const signers = Array.from({ length: t }, (_, i) => i);
  const id = Buffer.from(toBytesBE(scalarOf(rnd), 32)).toString('hex');
  const sid = toBytesBE(scalarOf(rnd), 32);
  return ks.map((ki, i) => ({
    version: 1,
    id,
    sid,
    signers,
    self: i,
    path: [],
    publicKey: mulBase(x),
    R,
    k: ki,
    chi: chis[i] as bigint,
  }));
}

/** Micro operations per candidate, then the signing path per selectable backend. */
export async function benchSecp256k1(log: (line: string) => void): Promise<{ ops: SecpRow[]; sign: SecpRow[] }> {
  const rnd = seeded('secp256k1');
  const ops: SecpRow[] = [];
  const sign: SecpRow[] = [];
  const add = (rows: SecpRow[], backend: string, op: string, ms: number): void => {
    rows.push({ backend, op, usPerOp: ms * 1000 });
    log(`  ${backend.padEnd(28)} ${op.padEnd(44)} ${(ms * 1000).toFixed(1).padStart(9)} µs`);
  };

  // operands: a public point P, a public scalar k, a valid low-s signature over a digest
  const y = scalarOf(rnd);
  const Y = G.multiply(y);
  const Yc = Y.toBytes(true);
  const Q = G.multiply(scalarOf(rnd)).toBytes(true);
  const k = scalarOf(rnd);
  const kb = toBytesBE(k, 32);
  const digest = toBytesBE(rnd(256), 32);
  const nonce = scalarOf(rnd);
  const r = mod(G.multiply(nonce).toAffine().x, CURVE_ORDER);
  let s = mod(Point.Fn.inv(nonce) * (mod(fromBytesBE(digest), CURVE_ORDER) + r * y), CURVE_ORDER);
  if (s > CURVE_ORDER >> 1n) s = CURVE_ORDER - s;
  const sig = new Uint8Array([...toBytesBE(r, 32), ...toBytesBE(s, 32)]);

  log('  candidates (public operands; µs per operation):');
  // @noble/curves exactly as the signing path used it before (Point objects, manual verify)
  add(
    ops,
    'noble (Point API, before)',
    'k·P (multiplyUnsafe) + x',
    (await measure('n-mul', () => Y.multiplyUnsafe(k).toAffine())).msPerOp,
  );
  add(ops, 'noble (Point API, before)', 'P + Q', (await measure('n-add', () => Y.add(G).toAffine())).msPerOp);
  add(
    ops,
    'noble (Point API, before)',
    'decode 33 B + validate',
    (await measure('n-dec', () => Point.fromBytes(Yc).assertValidity())).msPerOp,
  );
  add(
    ops,
    'noble (Point API, before)',
    'ECDSA verify (u1·G + u2·Y, x mod q = r)',
    (
      await measure('n-ver', () => {
        const w = Point.Fn.inv(s);
        const P = G.multiplyUnsafe(mod(fromBytesBE(digest) * w, CURVE_ORDER)).add(
          Y.multiplyUnsafe(mod(r * w, CURVE_ORDER)),
        );
        return mod(P.toAffine().x, CURVE_ORDER) === r;
      })
    ).msPerOp,
  );
  add(
    ops,
    'noble secp256k1.verify',
    'ECDSA verify (library call)',
    (await measure('n-ver2', () => secp256k1.verify(sig, digest, Yc, { prehash: false, format: 'compact' }))).msPerOp,
  );
  add(
    ops,
    'tiny-secp256k1 (WASM)',
    'k·P (pointMultiply)',
    (await measure('t-mul', () => tiny.pointMultiply(Yc, kb, true))).msPerOp,
  );
  add(
    ops,
    'tiny-secp256k1 (WASM)',
    'P + Q (pointAdd)',
    (await measure('t-add', () => tiny.pointAdd(Yc, Q, true))).msPerOp,
  );
  add(
    ops,
    'tiny-secp256k1 (WASM)',
    'decode 33 B + validate (isPoint)',
    (await measure('t-dec', () => tiny.isPoint(Yc))).msPerOp,
  );
  add(
    ops,
    'tiny-secp256k1 (WASM)',
    'ECDSA verify',
    (await measure('t-ver', () => tiny.verify(digest, Yc, sig, true))).msPerOp,
  );
  const candidates: Secp256k1Backend[] = [nobleSecp256k1];
  const native = nativeSecp256k1();
  if (native) candidates.push(native);
  else log('  libsecp256k1: not in the addon (install libsecp256k1-dev and rebuild); skipped');
  for (const b of candidates) {
    const label = b.name === 'noble' ? 'noble (bytes backend)' : 'libsecp256k1 (native addon)';
    add(ops, label, 'k·P (mul)', (await measure(`${b.name}-mul`, () => b.mul(Yc, kb))).msPerOp);
    add(ops, label, 'P + Q (add)', (await measure(`${b.name}-add`, () => b.add(Yc, Q))).msPerOp);
    add(ops, label, 'decode 33 B + validate (decode)', (await measure(`${b.name}-dec`, () => b.decode(Yc))).msPerOp);
    add(ops, label, 'ECDSA verify (verify)', (await measure(`${b.name}-ver`, () => b.verify(sig, digest, Yc))).msPerOp);
  }

  log('  signing path through each selectable backend (in process, no network, no ledger fsync):');
  for (const b of candidates) {
    for (const t of [2, 3]) {
      const presigs = fakePresignatures(t, rnd);
      const first = presigs[0] as Presignature;
      const online = await measure(`${b.name}-sign-${t}`, () =>
        withSecp256k1Backend(b, () => {
          const partials = presigs.map((p) => issuePartialSignature(p, digest, new MemoryPresignatureLedger()));
          return combineSignature(first, digest, partials);
        }),
      );
      add(sign, b.name, `online sign t=${t}: ${t} partials + combine + verify`, online.msPerOp);
      const one = await measure(`${b.name}-partial-${t}`, () =>
        withSecp256k1Backend(b, () => issuePartialSignature(first, digest, new MemoryPresignatureLedger())),
      );
      add(sign, b.name, `one partial (t=${t})`, one.msPerOp);
    }
    const bytes = encodePresignature(fakePresignatures(2, rnd)[0] as Presignature);
    add(
      sign,
      b.name,
      'decode a presignature (2 points validated)',
      (await measure(`${b.name}-presig`, () => withSecp256k1Backend(b, () => decodePresignature(bytes)))).msPerOp,
    );
    add(
      sign,
      b.name,
      'curve.ts decodePoint',
      (await measure(`${b.name}-dp`, () => withSecp256k1Backend(b, () => decodePoint(Yc)))).msPerOp,
    );
  }
  return { ops, sign };
}
