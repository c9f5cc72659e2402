import type { MathBackend } from '../math/backend.js';
import { proveAffG, verifyAffG } from './aff-g.js';
import { proveAffP, verifyAffP } from './aff-p.js';
import { proveDec, verifyDec } from './dec.js';
import { proveEnc, verifyEnc } from './enc.js';
import { proveEncElg, verifyEncElg } from './enc-elg.js';
import { proveFac, verifyFac } from './fac.js';
import { proveLogStar, verifyLogStar } from './log-star.js';
import { proveMod, verifyMod } from './mod.js';
import { proveMul, verifyMul } from './mul.js';
import { proveMulStar, verifyMulStar } from './mul-star.js';
import { provePrm, verifyPrm } from './prm.js';

/**
 * Every Paillier/ring-Pedersen proof's prove and verify, by name, for running on worker threads.
 * Each entry takes the worker's math backend first, then the same arguments as the direct call
 * (pass `undefined` for `rng`: workers use the system CSPRNG). Πsch and Πelog are curve-only and
 * cheap; they run inline and are not listed.
 */
// biome-ignore lint/suspicious/noExplicitAny: heterogeneous signatures, checked at the typed call sites in parallel.ts
type AnyFn = (math: MathBackend, ...args: any[]) => unknown;

export const PROVERS = {
  enc: proveEnc,
  encElg: proveEncElg,
  affG: proveAffG,
  affP: proveAffP,
  logStar: proveLogStar,
  mul: proveMul,
  mulStar: proveMulStar,
  dec: proveDec,
  mod: proveMod,
  prm: provePrm,
  fac: proveFac,
} satisfies Record<string, AnyFn>;

export const VERIFIERS = {
  enc: verifyEnc,
  encElg: verifyEncElg,
  affG: verifyAffG,
  affP: verifyAffP,
  logStar: verifyLogStar,
  mul: verifyMul,
  mulStar: verifyMulStar,
  dec: verifyDec,
  mod: verifyMod,
  prm: verifyPrm,
  fac: verifyFac,
} satisfies Record<string, AnyFn>;

export type ProofName = keyof typeof PROVERS & keyof typeof VERIFIERS;
