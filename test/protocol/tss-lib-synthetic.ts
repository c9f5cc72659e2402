/**
 * tss-lib save files of made-up keys (same JSON shape as tss-lib's LocalPartySaveData, only the
 * fields the import reads): "a save file from another key" for the agreement tests.
 */
import { mulBase, type Point } from '../../src/primitives/curve.js';

const Q = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

const pt = (p: Point) => {
  const a = p.toAffine();
  return { Curve: 'secp256k1', Coords: [a.x.toString(), a.y.toString()] };
};

/** The save files of every party of a degree-`t` sharing of a key derived from `seed`, at share ids `ks`. */
export function syntheticSaveFiles(seed: bigint, ks: readonly bigint[], t = 2): string[] {
  const coeffs = Array.from(
    { length: t + 1 },
    (_, k) => (seed * 0x9e3779b97f4a7c15n + BigInt(k) * 0x1234567n + 11n) % Q,
  );
  const f = (z: bigint) => coeffs.reduceRight((acc, c) => (acc * z + c) % Q, 0n);
  const BigXj = ks.map((k) => pt(mulBase(f(k))));
  const ECDSAPub = pt(mulBase(coeffs[0] as bigint));
  return ks.map((k) =>
    JSON.stringify({ Xi: f(k).toString(), ShareID: k.toString(), Ks: ks.map(String), BigXj, ECDSAPub }).replace(
      /"(\d+)"/g,
      '$1',
    ),
  );
}
