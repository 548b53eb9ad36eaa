// Whitespace-separated tokens of a byte stream, one at a time, for checkers that must look at a
// whole token (the float checker parses numbers). A token is held in memory, so tokens are capped.
import { IS_SPACE } from './bytes.js';
import type { ByteSource } from './source.js';

/** The longest token the tokenizer will hold; see TokenTooLongError. */
export const MAX_TOKEN_BYTES = 16 << 20;

export class TokenTooLongError extends Error {
  constructor(readonly index: number, readonly limit: number) {
    super(`token ${index} is longer than ${limit} bytes`);
  }
}

/** next() / tryNext() results. */
export const TOKEN = 1;
export const END = 0;
export const NEED_READ = -1;

/**
 * After next() or tryNext() returns TOKEN, the token is buf[start, end). It stays valid until
 * the next call; no object is allocated per token, which matters at millions of tokens.
 */
export class Tokenizer {
  buf: Buffer = Buffer.alloc(0);
  start = 0;
  end = 0;
  /** Tokens returned so far. */
  count = 0;
  private chunk: Buffer | null = null;
  private pos = 0;
  private eof = false;
  /** A token that began in an earlier chunk, copied out because the chunk buffer is reused. */
  private parts: Buffer[] = [];
  private partsLen = 0;

  constructor(private readonly src: ByteSource, private readonly maxToken = MAX_TOKEN_BYTES) {}

  /** TOKEN if a token could be found in what is already read, else NEED_READ (never END). */
  tryNext(): number {
    const b = this.chunk;
    if (b === null) return NEED_READ;
    const n = b.length;
    let i = this.pos;
    if (this.partsLen === 0) {
      while (i < n && IS_SPACE[b[i]] === 1) i++;
      if (i === n) {
        this.pos = n;
        return NEED_READ;
      }
    }
    const start = i;
    while (i < n && IS_SPACE[b[i]] === 0) i++;
    this.pos = i;
    if (i === n) {
      // The token may go on in the next chunk.
      if (i > start) this.keep(b, start, i);
      return NEED_READ;
    }
    if (this.partsLen > 0) {
      if (i > start) this.keep(b, start, i);
      this.takeParts();
    } else {
      if (i - start > this.maxToken) throw new TokenTooLongError(this.count + 1, this.maxToken);
      this.buf = b;
      this.start = start;
      this.end = i;
    }
    this.count++;
    return TOKEN;
  }

  async next(): Promise<number> {
    for (;;) {
      if (this.tryNext() === TOKEN) return TOKEN;
      if (this.eof) return END;
      this.chunk = await this.src.next();
      this.pos = 0;
      if (this.chunk === null) {
        this.eof = true;
        if (this.partsLen > 0) {
          this.takeParts();
          this.count++;
          return TOKEN;
        }
        return END;
      }
    }
  }

  /** The current token as its own Buffer (a view: valid until the next call). */
  token(): Buffer {
    return this.buf.subarray(this.start, this.end);
  }

  private keep(b: Buffer, from: number, to: number) {
    this.partsLen += to - from;
    if (this.partsLen > this.maxToken) throw new TokenTooLongError(this.count + 1, this.maxToken);
    this.parts.push(Buffer.from(b.subarray(from, to)));
  }

  private takeParts() {
    this.buf = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts, this.partsLen);
    this.start = 0;
    this.end = this.partsLen;
    this.parts = [];
    this.partsLen = 0;
  }
}
