// Problem packages for the tests, built from the sources in test/fixtures/problems/ (or from
// a map of files) as zip, tar or tar.gz, plus hand-made archives with hostile entries
// (.., absolute paths, device files, escaping symlinks) that no honest packer writes.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Header } from 'tar';
import yazl from 'yazl';
import { FIXTURES_DIR } from './sandbox.js';

export const PROBLEMS_DIR = join(FIXTURES_DIR, 'problems');

export type PackFormat = 'zip' | 'tar' | 'tar.gz';

export interface RawEntry {
  path: string;
  type?: 'File' | 'Directory' | 'SymbolicLink' | 'Link' | 'CharacterDevice' | 'BlockDevice' | 'FIFO';
  body?: string | Buffer;
  linkpath?: string;
  mode?: number;
}

/** Every file under `dir` as package path → content (and mode). */
export function readTree(dir: string, prefix = ''): RawEntry[] {
  const out: RawEntry[] = [];
  for (const e of readdirSync(dir).sort()) {
    const p = join(dir, e);
    const st = statSync(p);
    if (st.isDirectory()) out.push(...readTree(p, `${prefix}${e}/`));
    else out.push({ path: `${prefix}${e}`, body: readFileSync(p), mode: st.mode & 0o777 });
  }
  return out;
}

/** A fixture package's entries, with extra or replaced files. */
export function fixture(name: string, changes: Record<string, string | Buffer | null> = {}): RawEntry[] {
  const entries = readTree(join(PROBLEMS_DIR, name)).filter((e) => !(e.path in changes));
  for (const [path, body] of Object.entries(changes)) if (body !== null) entries.push({ path, body });
  return entries;
}

export function files(map: Record<string, string | Buffer>): RawEntry[] {
  return Object.entries(map).map(([path, body]) => ({ path, body }));
}

/** A tar archive written header by header, so entries can be anything at all. */
export function rawTar(entries: RawEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const body = e.body === undefined ? Buffer.alloc(0) : Buffer.from(e.body);
    const type = e.type ?? 'File';
    const h = new Header({
      path: e.path, type, mode: e.mode ?? (type === 'Directory' ? 0o755 : 0o644), size: type === 'File' ? body.length : 0,
      linkpath: e.linkpath, mtime: new Date(0), uid: 0, gid: 0, uname: '', gname: '',
    });
    const hb = Buffer.alloc(512);
    h.encode(hb, 0);
    blocks.push(hb);
    if (type === 'File' && body.length) {
      blocks.push(body, Buffer.alloc((512 - (body.length % 512)) % 512));
    }
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

/** A zip of the entries (symlinks as Unix symlink entries). */
export function zip(entries: RawEntry[]): Promise<Buffer> {
  const z = new yazl.ZipFile();
  for (const e of entries) {
    const type = e.type ?? 'File';
    if (type === 'Directory') z.addEmptyDirectory(e.path);
    else if (type === 'SymbolicLink') z.addBuffer(Buffer.from(e.linkpath ?? ''), e.path, { mode: 0o120777, compress: false });
    else z.addBuffer(Buffer.from(e.body ?? ''), e.path, { mode: 0o100000 | (e.mode ?? 0o644) });
  }
  z.end();
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    z.outputStream.on('data', (c: Buffer) => parts.push(c)).on('end', () => resolve(Buffer.concat(parts))).on('error', reject);
  });
}

export async function pack(entries: RawEntry[], format: PackFormat): Promise<Buffer> {
  if (format === 'zip') return zip(entries);
  const tar = rawTar(entries);
  return format === 'tar' ? tar : gzipSync(tar);
}

export const CONTENT_TYPES: Record<PackFormat, string> = { zip: 'application/zip', tar: 'application/x-tar', 'tar.gz': 'application/gzip' };
