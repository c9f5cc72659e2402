/**
 * Amounts in policy are exact: base units (wei, satoshi) as bigint, dollars as bigint scaled by
 * 10^18. No floating point anywhere, so every party reaches the same decision on the same input.
 */
import { MpcError } from '../errors/index.js';

/** USD amounts are held as integers of 10^-18 dollars. */
export const USD_SCALE_DIGITS = 18;
const USD_SCALE = 10n ** BigInt(USD_SCALE_DIGITS);

/** Parses a schema-checked decimal string into a bigint scaled by 10^digits (digits ≥ its fraction). */
export function parseScaled(decimal: string, digits: number, what: string): bigint {
  const m = /^(0|[1-9][0-9]*)(?:\.([0-9]+))?$/.exec(decimal);
  if (m === null) throw new MpcError('ERR_POLICY_DOCUMENT_INVALID', `${what} is not a decimal amount`);
  const frac = m[2] ?? '';
  if (frac.length > digits) {
    if (digits === 0) throw new MpcError('ERR_POLICY_DOCUMENT_INVALID', `${what} must be a whole number of base units`);
    throw new MpcError('ERR_POLICY_DOCUMENT_INVALID', `${what} has more than ${digits} decimal places`);
  }
  return BigInt((m[1] as string) + frac.padEnd(digits, '0'));
}

/** A `native` amount: a whole number of base units. */
export function parseBaseUnits(decimal: string, what: string): bigint {
  return parseScaled(decimal, 0, what);
}

/** A `USD` amount, scaled by 10^18. */
export function parseUsd(decimal: string, what: string): bigint {
  return parseScaled(decimal, USD_SCALE_DIGITS, what);
}

/** Value in scaled USD of `amount` base units at `usdPerUnit` (scaled) with `decimals` decimals; floor. */
export function toUsd(amount: bigint, decimals: number, usdPerUnit: bigint): bigint {
  return (amount * usdPerUnit) / 10n ** BigInt(decimals);
}

/** Renders a scaled USD amount for reasons (two decimals, truncated). */
export function formatUsd(scaled: bigint): string {
  const cents = scaled / 10n ** BigInt(USD_SCALE_DIGITS - 2);
  return `$${cents / 100n}.${(cents % 100n).toString().padStart(2, '0')}`;
}

export { USD_SCALE };
