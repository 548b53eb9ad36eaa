// Chunked, bounded-memory readers over a file: whole chunks, lines, or tokens.
import { open } from 'node:fs/promises';

const CHUNK = 64 * 1024;
/** A single line or token longer than this is refused rather than held in memory. */
export const MAX_PIECE = 16 << 20;

export class PieceTooLong extends Error {}

export async function* chunks(path: string): AsyncGenerator<Buffer> {
  const fh = await open(path, 'r');
  try {
    for (;;) {
      const buf = Buffer.allocUnsafe(CHUNK);
      const { bytesRead } = await fh.read(buf, 0, CHUNK, null);
      if (bytesRead === 0) return;
      yield buf.subarray(0, bytesRead);
    }
  } finally {
    await fh.close();
  }
}

const isSpace = (c: number) => c === 32 || (c >= 9 && c <= 13);

/** Whitespace-separated tokens (space, \t, \n, \v, \f, \r). */
export async function* tokens(path: string): AsyncGenerator<string> {
  let carry: Buffer[] = [];
  let carryLen = 0;
  for await (const c of chunks(path)) {
    let start = -1;
    for (let i = 0; i < c.length; i++) {
      if (isSpace(c[i])) {
        if (start >= 0 || carryLen) {
          const part = c.subarray(start >= 0 ? start : i, i);
          yield Buffer.concat([...carry, part]).toString('latin1');
          carry = [];
          carryLen = 0;
        }
        start = -1;
      } else if (start < 0) start = i;
    }
    if (start >= 0) {
      carry.push(Buffer.from(c.subarray(start)));
      carryLen += c.length - start;
      if (carryLen > MAX_PIECE) throw new PieceTooLong(`a token longer than ${MAX_PIECE} bytes`);
    }
  }
  if (carryLen) yield Buffer.concat(carry).toString('latin1');
}

/** Lines without their terminator; a final line without \n is still a line. */
export async function* lines(path: string): AsyncGenerator<string> {
  let carry: Buffer[] = [];
  let carryLen = 0;
  let any = false;
  for await (const c of chunks(path)) {
    any = true;
    let start = 0;
    for (let i = 0; i < c.length; i++) {
      if (c[i] === 10) {
        yield Buffer.concat([...carry, c.subarray(start, i)]).toString('latin1');
        carry = [];
        carryLen = 0;
        start = i + 1;
      }
    }
    if (start < c.length) {
      carry.push(Buffer.from(c.subarray(start)));
      carryLen += c.length - start;
      if (carryLen > MAX_PIECE) throw new PieceTooLong(`a line longer than ${MAX_PIECE} bytes`);
    }
  }
  if (any && carryLen) yield Buffer.concat(carry).toString('latin1');
}
