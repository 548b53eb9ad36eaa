// A submission's directories on the host: `box` is what the sandbox sees as /box
// (sources, then compiled artifacts), `io` holds test inputs, outputs and answers, which
// the program never sees except through its stdin/stdout.
import { chmodSync, chownSync, closeSync, fstatSync, lstatSync, mkdirSync, openSync, readdirSync, readSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { SourceFile } from './schema.js';
import { checkRelativePath, InputError } from './checks.js';

export { InputError };

export interface Workspace {
  root: string;
  box: string;
  io: string;
}

export function makeWorkspace(root: string): Workspace {
  const ws = { root, box: join(root, 'box'), io: join(root, 'io') };
  mkdirSync(ws.box, { mode: 0o755 });
  mkdirSync(ws.io, { mode: 0o700 });
  return ws;
}

/** A relative path that stays inside the box, by the judge's one path policy (./checks.ts). */
export function safeRelative(path: string): string {
  return checkRelativePath(path, 'file path');
}

export function writeSourceFiles(box: string, files: SourceFile[]): void {
  for (const f of files) {
    const rel = safeRelative(f.path);
    const dest = join(box, rel);
    mkdirSync(dirname(dest), { recursive: true, mode: 0o755 });
    writeFileSync(dest, f.encoding === 'base64' ? Buffer.from(f.content, 'base64') : f.content, { mode: 0o644 });
  }
}

/**
 * After compiling, the box becomes root-owned and read-only for the program: one test
 * must not be able to leave anything behind for the next (or change its own binary).
 */
export function sealBox(box: string): void {
  const walk = (p: string) => {
    const st = lstatSync(p);
    if (st.isSymbolicLink()) return;
    chownSync(p, 0, 0);
    chmodSync(p, st.isDirectory() || st.mode & 0o111 ? 0o755 : 0o644);
    if (st.isDirectory()) for (const e of readdirSync(p)) walk(join(p, e));
  };
  walk(box);
}

/** The first `max` bytes of a file as text, with a note of what was cut. */
export function readCapped(path: string, max: number): string {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return '';
  }
  try {
    return readCappedFd(fd, max);
  } finally {
    closeSync(fd);
  }
}

/** The same from an open file (read from position 0, whatever its offset); `size` when already known. */
export function readCappedFd(fd: number, max: number, size = fstatSync(fd).size): string {
  const b = Buffer.alloc(Math.min(size, max));
  const n = b.length ? readSync(fd, b, 0, b.length, 0) : 0;
  const text = b.subarray(0, n).toString('utf8');
  return size > max ? `${text}\n[... ${size - max} more bytes]` : text;
}
