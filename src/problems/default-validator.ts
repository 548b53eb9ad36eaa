// The Kattis default output validator: the team's output and the judge's answer split into
// tokens on runs of whitespace (space \t \n \v \f \r) and compared in order.
// - Tokens compare case-insensitively (ASCII letters only) unless case_sensitive.
// - space_change_sensitive: the whitespace between tokens, leading and trailing included,
//   must be byte-identical too.
// - With a float tolerance, every judge token that is a number (integers too) is compared
//   numerically and the team's token must be a number; it passes when within the absolute
//   or the relative tolerance (either suffices). Without one, numbers are plain strings.
// Both files are streamed in 64 KiB chunks; a token is held whole (capped at 16 MiB:
// beyond it a team token is WA, a judge token is a judge error), a whitespace run never is
// (it is compared by length and hash).
import { createHash, type Hash } from 'node:crypto';
import { IS_SPACE, LF, quote } from '../judge/checkers/bytes.js';
import { parseNumber, type Num } from '../judge/checkers/number.js';
import { withFiles, type ByteSource } from '../judge/checkers/source.js';
import { MAX_TOKEN_BYTES } from '../judge/checkers/tokenizer.js';
import type { DefaultValidatorFlags } from './types.js';

export interface ValidatorVerdict {
  ok: boolean;
  message?: string;
}

/** A judge token the validator cannot hold: the problem's fault, reported as a judge error. */
export class AnswerTooLongError extends Error {}

class TokenOverflow extends Error {}

/** Tokens of one stream, with the whitespace run before each and line numbers. */
class Lexer {
  private chunk: Buffer | null = null;
  private pos = 0;
  private eof = false;
  private parts: Buffer[] = [];
  private partsLen = 0;
  token: Buffer = Buffer.alloc(0);
  /** 1-based line of the current token. */
  line = 1;
  spaceLen = 0;
  /** The whitespace run: kept as bytes while short, hashed once it is long. */
  private space = Buffer.alloc(256);
  private spaceHash: Hash | null = null;

  constructor(private src: ByteSource, private trackSpace: boolean, private maxToken: number) {}

  /** The whitespace run before the current token (or the trailing run at the end). */
  spaceDigest(): string {
    if (this.spaceHash) return this.spaceHash.digest('hex');
    return this.space.toString('latin1', 0, this.spaceLen);
  }

  private addSpace(b: Buffer, start: number, end: number): void {
    if (!this.trackSpace) return;
    if (!this.spaceHash && this.spaceLen + (end - start) <= this.space.length) {
      b.copy(this.space, this.spaceLen, start, end);
      return;
    }
    if (!this.spaceHash) {
      this.spaceHash = createHash('sha256');
      this.spaceHash.update(this.space.subarray(0, this.spaceLen));
    }
    this.spaceHash.update(b.subarray(start, end));
  }

  private async fill(): Promise<boolean> {
    if (this.eof) return false;
    this.chunk = await this.src.next();
    this.pos = 0;
    if (this.chunk === null) this.eof = true;
    return this.chunk !== null;
  }

  /** Advances to the next token; false at the end of the stream. */
  async next(): Promise<boolean> {
    this.spaceLen = 0;
    this.spaceHash = null;
    // Whitespace.
    for (;;) {
      if (this.chunk === null || this.pos >= this.chunk.length) {
        if (!(await this.fill())) return false;
        continue;
      }
      const b = this.chunk;
      const start = this.pos;
      let i = start;
      while (i < b.length && IS_SPACE[b[i]] === 1) {
        if (b[i] === LF) this.line++;
        i++;
      }
      if (i > start) {
        this.addSpace(b, start, i);
        this.spaceLen += i - start;
      }
      this.pos = i;
      if (i < b.length) break;
    }
    // The token, possibly across chunks.
    for (;;) {
      const b = this.chunk!;
      const start = this.pos;
      let i = start;
      while (i < b.length && IS_SPACE[b[i]] === 0) i++;
      this.pos = i;
      if (i < b.length && this.partsLen === 0) {
        if (i - start > this.maxToken) throw new TokenOverflow();
        this.token = b.subarray(start, i);
        return true;
      }
      this.partsLen += i - start;
      if (this.partsLen > this.maxToken) throw new TokenOverflow();
      this.parts.push(Buffer.from(b.subarray(start, i)));
      if (i < b.length || !(await this.fill())) {
        this.token = Buffer.concat(this.parts, this.partsLen);
        this.parts = [];
        this.partsLen = 0;
        return true;
      }
    }
  }
}

function equalTokens(a: Buffer, b: Buffer, caseSensitive: boolean): boolean {
  if (a.length !== b.length) return false;
  if (caseSensitive) return a.equals(b);
  for (let i = 0; i < a.length; i++) {
    let x = a[i];
    let y = b[i];
    if (x === y) continue;
    if (x >= 0x41 && x <= 0x5a) x |= 0x20;
    if (y >= 0x41 && y <= 0x5a) y |= 0x20;
    if (x !== y) return false;
  }
  return true;
}

/** null when the team's number is close enough to the judge's, else why not. */
export function floatMismatch(team: Num, judge: Num, abs: number | undefined, rel: number | undefined): string | null {
  if (judge.kind === 'nan') return team.kind === 'nan' ? null : 'the answer is nan';
  if (judge.kind === 'inf') return team.kind === 'inf' && team.negative === judge.negative ? null : `the answer is ${judge.negative ? '-' : ''}inf`;
  if (team.kind !== 'finite' || !Number.isFinite(team.value)) return 'not a finite number';
  const diff = Math.abs(team.value - judge.value);
  if (abs !== undefined && diff <= abs) return null;
  if (rel !== undefined && diff <= rel * Math.abs(judge.value)) return null;
  const parts = [`absolute error ${diff.toPrecision(4)}${abs !== undefined ? ` > ${abs}` : ''}`];
  if (rel !== undefined) parts.push(`relative error ${judge.value === 0 ? 'inf' : (diff / Math.abs(judge.value)).toPrecision(4)} > ${rel}`);
  return parts.join(', ');
}

async function compare(team: ByteSource, judge: ByteSource, f: DefaultValidatorFlags, maxToken: number): Promise<ValidatorVerdict> {
  const tol = f.absoluteTolerance !== undefined || f.relativeTolerance !== undefined;
  const t = new Lexer(team, f.spaceChangeSensitive, maxToken);
  const j = new Lexer(judge, f.spaceChangeSensitive, maxToken);
  for (let index = 1; ; index++) {
    let hasJ: boolean;
    try {
      hasJ = await j.next();
    } catch (e) {
      if (e instanceof TokenOverflow) throw new AnswerTooLongError(`token ${index} of the answer file is longer than ${maxToken} bytes`);
      throw e;
    }
    let hasT: boolean;
    try {
      hasT = await t.next();
    } catch (e) {
      if (e instanceof TokenOverflow) return { ok: false, message: `token ${index} (line ${t.line}) of the output is longer than ${maxToken} bytes` };
      throw e;
    }
    if (f.spaceChangeSensitive && (t.spaceLen !== j.spaceLen || t.spaceDigest() !== j.spaceDigest())) {
      const where = hasJ ? `before token ${index} (line ${j.line} of the answer)` : 'at the end';
      return { ok: false, message: `whitespace differs ${where}: ${t.spaceLen} whitespace bytes in the output, ${j.spaceLen} in the answer` };
    }
    if (!hasJ && !hasT) return { ok: true };
    if (!hasJ) return { ok: false, message: `trailing output: token ${index} (line ${t.line}) ${quote(t.token)} after the end of the answer` };
    if (!hasT) return { ok: false, message: `output ended early: expected token ${index} ${quote(j.token)} (line ${j.line} of the answer)` };
    if (equalTokens(t.token, j.token, f.caseSensitive)) continue;
    const what = `token ${index} (line ${t.line} of the output, ${j.line} of the answer): expected ${quote(j.token)}, found ${quote(t.token)}`;
    if (!tol) return { ok: false, message: what };
    const jn = parseNumber(j.token.toString('latin1'));
    if (jn === null) return { ok: false, message: what };
    const tn = parseNumber(t.token.toString('latin1'));
    if (tn === null) return { ok: false, message: `${what} (not a number)` };
    const why = floatMismatch(tn, jn, f.absoluteTolerance, f.relativeTolerance);
    if (why !== null) return { ok: false, message: `${what} (${why})` };
  }
}

/** Judges the team's output file against the answer file. Throws AnswerTooLongError for an answer it cannot hold. */
export function defaultValidate(outputPath: string, answerPath: string, flags: DefaultValidatorFlags, opts: { chunkBytes?: number; maxTokenBytes?: number } = {}): Promise<ValidatorVerdict> {
  return withFiles(outputPath, answerPath, opts.chunkBytes, (out, ans) => compare(out, ans, flags, opts.maxTokenBytes ?? MAX_TOKEN_BYTES));
}
