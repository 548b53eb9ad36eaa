// What counts as a number for the float checker, and when two numbers are close enough.
//
// Numbers are decimal literals: optional sign, digits with an optional fraction (".5" and "5."
// included), optional exponent; or inf / infinity / nan in any case, with an optional sign.
// Hex ("0x10"), hex floats, "1e" or digit separators are not numbers; they must match exactly.
//
// Closeness: |out - exp| <= max(absError, relError * |exp|) + margin, computed in doubles, where
// margin = 2^-50 * (|out| + |exp| + tolerance), a few units in the last place. Decimal values such
// as 1.000001 and 1e-6 are not exact in binary, so without the margin an answer exactly at the
// tolerance as written (expected 1, output 1.000001, absError 1e-6) would be rejected by noise.
// The margin is far below anything that can be written with fewer than ~15 significant digits.
//
// Literals beyond the double range (1e500) are compared on their decimal significands and
// exponents, by relative error only (no absolute tolerance is meaningful out there); they never
// equal a literal "inf". Literals too small for a double simply become 0, which the absolute
// tolerance covers.

export type Num =
  /** `value` is ±Infinity when a finite literal overflows a double. */
  | { kind: 'finite'; value: number; text: string }
  | { kind: 'inf'; negative: boolean }
  | { kind: 'nan' };

const DECIMAL = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;
const SPECIAL = /^[+-]?(?:inf|infinity|nan)$/i;

export function parseNumber(text: string): Num | null {
  const d = DECIMAL.exec(text);
  if (d) {
    if (!d[2] && !d[3]) return null; // a sign, a dot or an exponent alone
    return { kind: 'finite', value: Number(text), text };
  }
  if (!SPECIAL.test(text)) return null;
  if (/nan$/i.test(text)) return { kind: 'nan' };
  return { kind: 'inf', negative: text.startsWith('-') };
}

export interface Tolerance {
  absError: number;
  relError: number;
}

const MARGIN = 2 ** -50;

/** null when `out` is an acceptable answer for `exp`, else why not (for the message). */
export function numberMismatch(out: Num, exp: Num, tol: Tolerance): string | null {
  if (exp.kind === 'nan') return out.kind === 'nan' ? null : '';
  if (exp.kind === 'inf') return out.kind === 'inf' && out.negative === exp.negative ? null : '';
  if (out.kind !== 'finite') return '';
  if (!Number.isFinite(out.value) || !Number.isFinite(exp.value)) return hugeMismatch(out.text, exp.text, tol.relError);
  const diff = Math.abs(out.value - exp.value);
  const allowed = Math.max(tol.absError, tol.relError * Math.abs(exp.value));
  if (diff <= allowed + MARGIN * (Math.abs(out.value) + Math.abs(exp.value) + allowed)) return null;
  const parts = [`abs error ${fmt(diff)} > ${fmt(tol.absError)}`];
  if (exp.value !== 0) parts.push(`rel error ${fmt(diff / Math.abs(exp.value))} > ${fmt(tol.relError)}`);
  return parts.join(', ');
}

/** Relative comparison of literals at least one of which overflows a double. */
function hugeMismatch(outText: string, expText: string, relError: number): string | null {
  const a = scientific(outText);
  const b = scientific(expText);
  const top = Math.max(a.mant === 0 ? -Infinity : a.exp10, b.mant === 0 ? -Infinity : b.exp10);
  const x = a.mant * 10 ** (a.exp10 - top);
  const y = b.mant * 10 ** (b.exp10 - top);
  const diff = Math.abs(x - y);
  if (diff <= relError * Math.abs(y) + MARGIN * (Math.abs(x) + Math.abs(y))) return null;
  return y === 0 ? 'beyond the double range' : `rel error ${fmt(diff / Math.abs(y))} > ${fmt(relError)}`;
}

/** A decimal literal as mant * 10^exp10 with 1 <= |mant| < 10 (or mant 0), exponent exact. */
function scientific(text: string): { mant: number; exp10: number } {
  const [, sign, int, frac = '', exp = '0'] = DECIMAL.exec(text)!;
  const digits = int + frac;
  let z = 0;
  while (z < digits.length && digits[z] === '0') z++;
  if (z === digits.length) return { mant: 0, exp10: 0 };
  const mant = Number(`${digits[z]}.${digits.slice(z + 1, z + 20)}`);
  return { mant: sign === '-' ? -mant : mant, exp10: int.length - z - 1 + Number(exp) };
}

/** Four significant digits, exponent form for very small or large values. */
export function fmt(x: number): string {
  if (x === 0 || !Number.isFinite(x)) return String(x);
  const r = Number(x.toPrecision(4));
  return Math.abs(r) < 1e-3 || Math.abs(r) >= 1e7 ? r.toExponential().replace('e+', 'e') : String(r);
}
