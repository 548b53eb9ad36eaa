// Sequential chunked reads of one file through a single reused buffer, so a checker's memory
// does not depend on how big the program's output is.
import { open, type FileHandle } from 'node:fs/promises';

export const DEFAULT_CHUNK_BYTES = 64 << 10;

/** A stream of byte chunks. A returned chunk stays valid only until the next call to next(). */
export interface ByteSource {
  next(): Promise<Buffer | null>;
}

export class FileSource implements ByteSource {
  private readonly buf: Buffer;
  private done = false;
  /** File offset of the first byte of the chunk last returned by next(). */
  chunkOffset = 0;
  private position = 0;

  private constructor(private readonly fh: FileHandle, chunkBytes: number) {
    this.buf = Buffer.allocUnsafe(chunkBytes);
  }

  /** `role` names the file in errors ("program output", "expected answer"). */
  static async open(path: string, role: string, chunkBytes = DEFAULT_CHUNK_BYTES): Promise<FileSource> {
    if (!Number.isInteger(chunkBytes) || chunkBytes < 1) throw new RangeError(`chunk size must be a positive integer, got ${chunkBytes}`);
    try {
      return new FileSource(await open(path, 'r'), chunkBytes);
    } catch (e) {
      throw new Error(`checker cannot open the ${role} ${path}: ${(e as Error).message}`, { cause: e });
    }
  }

  get chunkBytes(): number {
    return this.buf.length;
  }

  async next(): Promise<Buffer | null> {
    if (this.done) return null;
    const { bytesRead } = await this.fh.read(this.buf, 0, this.buf.length, null);
    if (bytesRead === 0) {
      this.done = true;
      return null;
    }
    this.chunkOffset = this.position;
    this.position += bytesRead;
    return this.buf.subarray(0, bytesRead);
  }

  /** Re-reads bytes already streamed past (pread: the sequential position is unaffected). */
  async readAt(dest: Buffer, destOffset: number, length: number, position: number): Promise<void> {
    while (length > 0) {
      const { bytesRead } = await this.fh.read(dest, destOffset, length, position);
      if (bytesRead === 0) throw new Error(`file shrank while being checked (wanted ${length} more bytes at offset ${position})`);
      destOffset += bytesRead;
      position += bytesRead;
      length -= bytesRead;
    }
  }

  close(): Promise<void> {
    return this.fh.close();
  }
}

/** Opens both files, runs `fn`, and always closes what was opened. */
export async function withFiles<T>(
  outputPath: string, expectedPath: string, chunkBytes: number | undefined,
  fn: (output: FileSource, expected: FileSource) => Promise<T>,
): Promise<T> {
  const output = await FileSource.open(outputPath, 'program output', chunkBytes);
  try {
    const expected = await FileSource.open(expectedPath, 'expected answer', chunkBytes);
    try {
      return await fn(output, expected);
    } finally {
      await expected.close();
    }
  } finally {
    await output.close();
  }
}
