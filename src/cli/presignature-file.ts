/**
 * The presignature file `coord presign` prints and `coord sign --presignature FILE` reads: the public
 * part of a presignature (id, R, the derived public key, signers, path). One TypeBox schema checks it
 * before any point is decoded, so a wrong file is refused naming the file and the field.
 */
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import Type from 'typebox';
import { decodePoint, encodePoint } from '../primitives/curve.js';
import type { PresignaturePublic } from '../protocol/sign.js';
import { assertFileSchema, nameFile, readJsonFile } from './boundary.js';

const Point = Type.String({ pattern: '^0[23][0-9a-f]{64}$', description: 'compressed point, lowercase hex' });
const Index = Type.Integer({ minimum: 0, maximum: 0x7fffffff });

export const PresignatureFile = Type.Object(
  {
    id: Type.String({ pattern: '^[0-9a-f]{64}$', description: 'presignature id, 64 hex digits' }),
    R: Point,
    publicKey: Point,
    signers: Type.Array(Index, { minItems: 1, maxItems: 1024 }),
    path: Type.Array(Index, { maxItems: 255 }),
  },
  { additionalProperties: false },
);

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

/** Decodes a checked presignature object; `file` names where it came from in any refusal. */
export function presignatureFromJson(o: unknown, file = '(presignature)'): PresignaturePublic {
  assertFileSchema(PresignatureFile, o, file, 'presignature file');
  const v = o as { id: string; R: string; publicKey: string; signers: number[]; path: number[] };
  return {
    id: v.id,
    R: decodePoint(hexToBytes(v.R), 'R'),
    publicKey: decodePoint(hexToBytes(v.publicKey), 'publicKey'),
    signers: v.signers,
    path: v.path,
  };
}

export async function readPresignatureFile(file: string): Promise<PresignaturePublic> {
  const o = await readJsonFile(file, 'presignature file', PresignatureFile);
  try {
    return presignatureFromJson(o, file);
  } catch (e) {
    throw nameFile(e, file);
  }
}
