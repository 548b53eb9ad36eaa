// The float checker: tokens compared in order, numbers within a tolerance (see number.ts for
// exactly what is a number and what is close enough), everything else byte for byte.
//
// Tokens are held whole to be parsed, so a token may be at most MAX_TOKEN_BYTES (16 MiB). An
// output token longer than that is rejected as WA (no number is that long, and no sane answer
// token is); an expected-answer token longer than that means the checker cannot judge the test,
// which is the problem's fault, not the program's: that throws (an internal error for the judge).
import { quote } from './bytes.js';
import { numberMismatch, parseNumber } from './number.js';
import { withFiles, type ByteSource } from './source.js';
import { END, NEED_READ, MAX_TOKEN_BYTES, Tokenizer, TokenTooLongError } from './tokenizer.js';
import type { CheckOptions, CheckResult } from './types.js';

export const DEFAULT_ABS_ERROR = 1e-6;
export const DEFAULT_REL_ERROR = 1e-6;

export interface FloatOptions extends CheckOptions {
  absError?: number;
  relError?: number;
  /** Longest token held; tests lower it. Default MAX_TOKEN_BYTES. */
  maxTokenBytes?: number;
}

function tolerance(name: string, v: number | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !(v >= 0) || !Number.isFinite(v)) throw new RangeError(`float checker: ${name} must be a finite number >= 0, got ${v}`);
  return v;
}

function sameBytes(a: Buffer, as: number, ae: number, b: Buffer, bs: number, be: number): boolean {
  const n = ae - as;
  if (n !== be - bs) return false;
  if (n > 64) return a.compare(b, bs, be, as, ae) === 0;
  for (let i = 0; i < n; i++) if (a[as + i] !== b[bs + i]) return false;
  return true;
}

export function checkFloat(outputPath: string, expectedPath: string, opts: FloatOptions = {}): Promise<CheckResult> {
  const tol = {
    absError: tolerance('absError', opts.absError, DEFAULT_ABS_ERROR),
    relError: tolerance('relError', opts.relError, DEFAULT_REL_ERROR),
  };
  const maxToken = opts.maxTokenBytes ?? MAX_TOKEN_BYTES;
  return withFiles(outputPath, expectedPath, opts.chunkBytes, (output, expected) =>
    compareFloatTokens(output, expected, tol, maxToken));
}

async function compareFloatTokens(
  output: ByteSource, expected: ByteSource, tol: { absError: number; relError: number }, maxToken: number,
): Promise<CheckResult> {
  const out = new Tokenizer(output, maxToken);
  const exp = new Tokenizer(expected, maxToken);
  for (let index = 1; ; index++) {
    // The answer's token first: if it is over the limit the test cannot be judged at all.
    let e: number;
    try {
      e = exp.tryNext();
      if (e === NEED_READ) e = await exp.next();
    } catch (err) {
      if (err instanceof TokenTooLongError) {
        throw new Error(`float checker: token ${err.index} of the expected answer is longer than ${err.limit} bytes, more than it can compare`);
      }
      throw err;
    }
    let o: number;
    try {
      o = out.tryNext();
      if (o === NEED_READ) o = await out.next();
    } catch (err) {
      if (err instanceof TokenTooLongError) {
        return { ok: false, message: `token ${err.index}: output token is longer than ${err.limit} bytes (expected ${e === END ? 'end of output' : quote(exp.token())})` };
      }
      throw err;
    }
    if (e === END && o === END) return { ok: true };
    if (e === END) return { ok: false, message: `token ${index}: expected end of output, found ${quote(out.token())}` };
    if (o === END) return { ok: false, message: `token ${index}: expected ${quote(exp.token())}, found end of output` };
    if (sameBytes(out.buf, out.start, out.end, exp.buf, exp.start, exp.end)) continue;

    const expTok = exp.token();
    const outTok = out.token();
    const expected = `token ${index}: expected ${quote(expTok)}, found ${quote(outTok)}`;
    const expNum = parseNumber(expTok.toString('latin1'));
    if (expNum === null) return { ok: false, message: expected };
    const outNum = parseNumber(outTok.toString('latin1'));
    if (outNum === null) return { ok: false, message: `${expected} (not a number)` };
    const why = numberMismatch(outNum, expNum, tol);
    if (why !== null) return { ok: false, message: why ? `${expected} (${why})` : expected };
  }
}
