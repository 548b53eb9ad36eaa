// The lines checker: output and answer must match line by line, where spaces, tabs and \r at
// the end of a line, and blank lines at the end of the file, do not count.
//
// Each file is turned into a normalized stream in which that slack is gone, and the two streams
// are compared byte for byte. A run of trailing-candidate whitespace cannot be judged until the
// byte after it is seen, and such a run may be arbitrarily long (a line of a billion spaces, then
// 'x'); instead of buffering it, the stream remembers where the run starts in the file and, if the
// run turns out to be inside a line, re-reads it from there. Memory stays one chunk per side.
import { LF } from './bytes.js';
import { compareStreams } from './compare.js';
import { withFiles, type ByteSource, type FileSource } from './source.js';
import type { CheckOptions, CheckResult } from './types.js';

const IS_LINE_END_BLANK = new Uint8Array(256);
for (const c of [0x20, 0x09, 0x0d]) IS_LINE_END_BLANK[c] = 1;

export class LineStream implements ByteSource {
  private readonly out: Buffer;
  private input: Buffer | null = null;
  private ip = 0;
  private base = 0;
  /** Newlines seen but not yet emitted: they might be trailing blank lines. */
  private pendingLf = 0;
  /** A run of blanks seen but not yet emitted: it might end its line. */
  private blankStart = 0;
  private blankLen = 0;
  /** A non-blank byte is waiting at input[ip] behind the pending newlines/blanks. */
  private flushing = false;
  private eof = false;

  constructor(private readonly src: FileSource, chunkBytes: number) {
    this.out = Buffer.allocUnsafe(chunkBytes);
  }

  async next(): Promise<Buffer | null> {
    const out = this.out;
    const cap = out.length;
    let o = 0;
    for (;;) {
      if (this.flushing) {
        o = await this.flush(o);
        if (this.flushing) return out.subarray(0, o);
      }
      if (o === cap) return out;
      if (this.input === null || this.ip >= this.input.length) {
        if (this.eof) return o > 0 ? out.subarray(0, o) : null;
        this.input = await this.src.next();
        this.ip = 0;
        this.base = this.src.chunkOffset;
        if (this.input === null) {
          // Whatever is still pending is trailing whitespace or trailing blank lines.
          this.eof = true;
          return o > 0 ? out.subarray(0, o) : null;
        }
      }
      // The hot loop keeps its state in locals; short pending runs that lie in this chunk are
      // emitted inline, everything else goes through flush().
      const input = this.input;
      const n = input.length;
      let i = this.ip;
      let lf = this.pendingLf;
      let blankLen = this.blankLen;
      let blankStart = this.blankStart;
      while (i < n && o < cap) {
        const c = input[i];
        if (c === LF) {
          blankLen = 0;
          lf++;
          i++;
        } else if (IS_LINE_END_BLANK[c] === 1) {
          if (blankLen === 0) blankStart = this.base + i;
          blankLen++;
          i++;
        } else {
          if (lf > 0 || blankLen > 0) {
            if (blankLen > i || o + lf + blankLen >= cap) {
              this.flushing = true;
              break;
            }
            for (; lf > 0; lf--) out[o++] = LF;
            for (let j = i - blankLen; j < i; j++) out[o++] = input[j];
            blankLen = 0;
          }
          out[o++] = c;
          i++;
        }
      }
      this.ip = i;
      this.pendingLf = lf;
      this.blankLen = blankLen;
      this.blankStart = blankStart;
    }
  }

  /** Emits pending newlines and blanks into out from o; stays `flushing` if out fills first. */
  private async flush(o: number): Promise<number> {
    const out = this.out;
    const cap = out.length;
    if (this.pendingLf > 0) {
      const take = Math.min(this.pendingLf, cap - o);
      out.fill(LF, o, o + take);
      o += take;
      this.pendingLf -= take;
    }
    while (this.blankLen > 0 && o < cap) {
      const take = Math.min(this.blankLen, cap - o);
      const inChunk = this.blankStart - this.base;
      if (inChunk >= 0) this.input!.copy(out, o, inChunk, inChunk + take);
      else await this.src.readAt(out, o, take, this.blankStart);
      o += take;
      this.blankStart += take;
      this.blankLen -= take;
    }
    if (this.pendingLf === 0 && this.blankLen === 0) this.flushing = false;
    return o;
  }
}

export function checkLines(outputPath: string, expectedPath: string, opts: CheckOptions = {}): Promise<CheckResult> {
  return withFiles(outputPath, expectedPath, opts.chunkBytes, (output, expected) =>
    compareStreams(
      new LineStream(output, output.chunkBytes),
      new LineStream(expected, expected.chunkBytes),
      { sep: LF, unit: 'line' },
    ));
}
