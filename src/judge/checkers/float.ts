// Numbers as the float checker understands them, and its tolerance rule.

const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const SPECIAL = /^[+-]?(?:inf|infinity|nan)$/i;

/** A decimal number, or inf/infinity/nan (any case, optional sign); anything else is null. */
export function parseNumber(s: string): number | null {
  if (NUMBER.test(s)) return Number(s);
  if (SPECIAL.test(s)) {
    const neg = s.startsWith('-');
    return /nan/i.test(s) ? NaN : neg ? -Infinity : Infinity;
  }
  return null;
}

/**
 * Within absError or within relError of the expected value. A tiny slack (1e-12 of the
 * tolerance scale) keeps "exactly at the tolerance" accepted despite binary rounding
 * (1.000001 - 1 is 9.99999999917733e-7 or 1.0000000000287557e-6 depending on digits).
 */
export function floatsMatch(out: number, exp: number, abs: number, rel: number): boolean {
  if (Number.isNaN(exp)) return Number.isNaN(out);
  if (!Number.isFinite(exp)) return out === exp;
  if (!Number.isFinite(out)) return false;
  const diff = Math.abs(out - exp);
  const slack = 1e-12 * Math.max(1, Math.abs(exp));
  return diff <= abs + slack || diff <= rel * Math.abs(exp) + slack;
}
