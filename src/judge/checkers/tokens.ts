// The tokens checker: output and answer must hold the same whitespace-separated tokens.
//
// Each file becomes its tokens joined by single spaces (leading and trailing whitespace gone);
// two files have equal token sequences exactly when those streams are equal, so the comparison
// streams byte by byte and never holds a whole token, however long.
import { IS_SPACE, SPACE } from './bytes.js';
import { compareStreams } from './compare.js';
import { withFiles, type ByteSource } from './source.js';
import type { CheckOptions, CheckResult } from './types.js';

export class TokenStream implements ByteSource {
  private out: Buffer = Buffer.alloc(0);
  private started = false;
  private pendingSpace = false;

  constructor(private readonly src: ByteSource) {}

  async next(): Promise<Buffer | null> {
    for (;;) {
      const input = await this.src.next();
      if (input === null) return null; // a pending separator would be trailing whitespace
      // One input byte yields at most one output byte, plus one separator held from before.
      if (this.out.length < input.length + 1) this.out = Buffer.allocUnsafe(input.length + 1);
      const out = this.out;
      let o = 0;
      let started = this.started;
      let pending = this.pendingSpace;
      for (let i = 0; i < input.length; i++) {
        const c = input[i];
        if (IS_SPACE[c] === 1) {
          pending = started;
        } else {
          if (pending) {
            out[o++] = SPACE;
            pending = false;
          }
          out[o++] = c;
          started = true;
        }
      }
      this.started = started;
      this.pendingSpace = pending;
      if (o > 0) return out.subarray(0, o);
    }
  }
}

export function checkTokens(outputPath: string, expectedPath: string, opts: CheckOptions = {}): Promise<CheckResult> {
  return withFiles(outputPath, expectedPath, opts.chunkBytes, (output, expected) =>
    compareStreams(new TokenStream(output), new TokenStream(expected), { sep: SPACE, unit: 'token' }));
}
