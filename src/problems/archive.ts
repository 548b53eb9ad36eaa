// Unpacking a problem package (zip, tar, tar.gz) from a stream into a directory, hashing
// every file as it is written. Nothing is trusted: entry names are checked before anything
// is created, sizes are counted as bytes arrive (a zip bomb stops at the cap whatever its
// headers claim), device files are refused, and symlinks are made only after every
// regular file exists, then checked on disk to resolve inside the package.
//
// A tar stream is unpacked as it arrives; a zip needs its central directory at the end,
// so its body is first spooled to a file (counted against the same cap).
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, mkdirSync, realpathSync, symlinkSync, linkSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Parser, type ReadEntry } from 'tar';
import yauzl from 'yauzl';
import { badEntry, ProblemError } from './errors.js';

export interface ArchiveCaps {
  /** Largest body and largest unpacked total, bytes (413 beyond). */
  maxBytes: number;
  /** Most entries of any kind (413 beyond). */
  maxFiles: number;
}

export interface ExtractedFile {
  size: number;
  sha256: string;
}

export type ArchiveFormat = 'zip' | 'tar' | 'tar.gz';

export interface Extracted {
  format: ArchiveFormat;
  /** Regular files by package path ("data/secret/1.in"). Hard links appear under each name. */
  files: Map<string, ExtractedFile>;
  /** Symlinks by package path → the package path they resolve to. */
  links: Map<string, string>;
  /** Bytes unpacked. */
  bytes: number;
}

const MAX_PATH = 1024;
const MAX_NAME = 255;

/**
 * The package path of an entry name: relative, "/"-separated, no "." or "..", no NUL or
 * backslash. Throws a 400 naming the entry otherwise.
 */
export function entryPath(raw: string): string {
  const shown = raw.slice(0, 200);
  if (raw.includes('\0')) throw badEntry('bad_entry_path', shown, 'entry name contains a NUL byte');
  if (raw.startsWith('/') || /^[A-Za-z]:/.test(raw)) throw badEntry('absolute_path', shown, 'absolute paths are not allowed in a package');
  if (raw.includes('\\')) throw badEntry('bad_entry_path', shown, 'backslashes are not allowed in entry names');
  const parts = raw.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw badEntry('dotdot_path', shown, '".." is not allowed in entry names');
  if (raw.length > MAX_PATH || parts.some((p) => Buffer.byteLength(p) > MAX_NAME)) throw badEntry('bad_entry_path', shown, 'entry name too long');
  return parts.join('/');
}

/** Which archive a body holds, from its first bytes; null when it is none we read. */
export function sniffFormat(head: Buffer): ArchiveFormat | null {
  if (head.length >= 4 && head.readUInt32LE(0) === 0x04034b50) return 'zip';
  // An empty zip is only its end-of-central-directory record.
  if (head.length >= 4 && head.readUInt32LE(0) === 0x06054b50) return 'zip';
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'tar.gz';
  if (head.length >= 262 && head.subarray(257, 262).toString('latin1') === 'ustar') return 'tar';
  return null;
}

/** The first `n` bytes (or all, if fewer) and a stream of the whole body, those bytes included. */
async function peek(body: Readable, n: number): Promise<{ head: Buffer; whole: Readable }> {
  const it = (body as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  const parts: Buffer[] = [];
  let len = 0;
  let done = false;
  while (len < n) {
    const r = await it.next();
    if (r.done) {
      done = true;
      break;
    }
    const c = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value);
    parts.push(c);
    len += c.length;
  }
  const head = Buffer.concat(parts, len);
  async function* rest(): AsyncGenerator<Buffer> {
    if (head.length) yield head;
    if (done) return;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value);
    }
  }
  return { head, whole: Readable.from(rest(), { objectMode: false }) };
}

function tooLarge(caps: ArchiveCaps, entry?: string): ProblemError {
  return new ProblemError(413, 'package_too_large',
    `${entry ? `${entry}: ` : ''}the package is larger than the server's cap of ${caps.maxBytes} bytes (GAVEL_MAX_PROBLEM_BYTES)`, entry);
}

/** Counts and hashes what flows through; fails the pipeline once the package's total passes the cap. */
class Tap extends Transform {
  private hash = createHash('sha256');
  size = 0;
  constructor(private state: State, private entry: string) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.size += chunk.length;
    this.state.bytes += chunk.length;
    if (this.state.bytes > this.state.caps.maxBytes) return cb(tooLarge(this.state.caps, this.entry));
    this.hash.update(chunk);
    cb(null, chunk);
  }
  digest(): string {
    return this.hash.digest('hex');
  }
}

interface State {
  dest: string;
  caps: ArchiveCaps;
  bytes: number;
  entries: number;
  files: Map<string, ExtractedFile>;
  dirs: Set<string>;
  symlinks: Map<string, string>;
  /** Files being written, to stop when the archive fails midway. */
  writing: Set<NodeJS.WritableStream & { destroy(e?: Error): void }>;
  /** Paths of files and links, claimed as soon as their entry is seen. */
  taken: Set<string>;
}

function newState(dest: string, caps: ArchiveCaps): State {
  return { dest, caps, bytes: 0, entries: 0, files: new Map(), dirs: new Set(['']), symlinks: new Map(), writing: new Set(), taken: new Set() };
}

function countEntry(s: State, path: string): void {
  if (++s.entries > s.caps.maxFiles) {
    throw new ProblemError(413, 'too_many_files', `${path}: the package has more than ${s.caps.maxFiles} entries (GAVEL_MAX_PROBLEM_FILES)`, path);
  }
}

function claim(s: State, path: string): void {
  if (s.taken.has(path) || s.dirs.has(path)) throw badEntry('duplicate_entry', path, 'the package has this entry twice');
  for (let d = posix.dirname(path); d !== '.'; d = posix.dirname(d)) {
    if (s.taken.has(d)) throw badEntry('bad_entry_path', path, `its parent ${d} is not a directory`);
  }
  s.taken.add(path);
}

function makeDir(s: State, path: string): void {
  if (s.dirs.has(path)) return;
  if (s.taken.has(path)) throw badEntry('duplicate_entry', path, 'the package has this entry twice');
  mkdirSync(join(s.dest, path), { recursive: true, mode: 0o755 });
  for (let d = path; d !== '.' && !s.dirs.has(d); d = posix.dirname(d)) s.dirs.add(d);
}

async function writeFile(s: State, path: string, mode: number, data: Readable | AsyncIterable<Buffer>): Promise<void> {
  claim(s, path);
  makeDir(s, posix.dirname(path) === '.' ? '' : posix.dirname(path));
  const tap = new Tap(s, path);
  // Only the owner's execute bit matters (build/run scripts); nothing else is kept.
  const out = createWriteStream(join(s.dest, path), { flags: 'wx', mode: mode & 0o100 ? 0o755 : 0o644 });
  s.writing.add(out);
  try {
    await pipeline(data, tap, out);
  } finally {
    s.writing.delete(out);
  }
  s.files.set(path, { size: tap.size, sha256: tap.digest() });
}

function addHardLink(s: State, path: string, target: string): void {
  claim(s, path);
  const f = s.files.get(target);
  if (!f) throw badEntry('bad_link', path, `hard link to ${target}, which is not a file earlier in the package`);
  makeDir(s, posix.dirname(path) === '.' ? '' : posix.dirname(path));
  linkSync(join(s.dest, target), join(s.dest, path));
  s.files.set(path, f);
}

function addSymlink(s: State, path: string, target: string): void {
  claim(s, path);
  if (target.startsWith('/')) throw badEntry('symlink_escape', path, `symlink to the absolute path ${target.slice(0, 200)} leaves the package`);
  const resolved = posix.normalize(posix.join(posix.dirname(path), target));
  if (resolved === '..' || resolved.startsWith('../')) throw badEntry('symlink_escape', path, `symlink to ${target.slice(0, 200)} leaves the package`);
  s.symlinks.set(path, target);
}

/** Makes the symlinks now that every file exists, and checks where each really ends up. */
function finishSymlinks(s: State): Map<string, string> {
  for (const [path, target] of s.symlinks) {
    makeDir(s, posix.dirname(path) === '.' ? '' : posix.dirname(path));
    symlinkSync(target, join(s.dest, path));
  }
  // The libc realpath: it follows each link on disk (Node's JS one resolves targets lexically).
  const root = realpathSync.native(s.dest);
  const links = new Map<string, string>();
  for (const path of s.symlinks.keys()) {
    let real: string;
    try {
      real = realpathSync.native(join(s.dest, path));
    } catch {
      throw badEntry('bad_link', path, `symlink to ${s.symlinks.get(path)}, which is not in the package (or loops)`);
    }
    if (real === root) links.set(path, '');
    else if (real.startsWith(root + '/')) links.set(path, real.slice(root.length + 1));
    else throw badEntry('symlink_escape', path, `symlink to ${s.symlinks.get(path)} leaves the package`);
  }
  return links;
}

function deviceError(path: string, kind: string): ProblemError {
  return badEntry('device_file', path, `${kind} entries are not allowed in a package`);
}

async function extractTar(body: Readable, s: State): Promise<void> {
  const parser = new Parser({ strict: true, maxDecompressionRatio: Infinity });
  const pending: Promise<void>[] = [];
  let failure: unknown;
  const fail = (e: unknown) => {
    if (failure === undefined) failure = e;
    body.unpipe(parser);
    body.resume();
    for (const w of s.writing) w.destroy(e instanceof Error ? e : new Error(String(e)));
    parser.abort(e instanceof Error ? e : new Error(String(e)));
  };
  const onEntry = (e: ReadEntry) => {
    if (failure !== undefined) return void e.resume();
    try {
      const path = entryPath(e.path);
      countEntry(s, path || '.');
      switch (e.type) {
        case 'File': case 'OldFile': case 'ContiguousFile':
          if (!path) throw badEntry('bad_entry_path', e.path, 'a file cannot be the package root');
          pending.push(writeFile(s, path, e.mode ?? 0o644, e).catch(fail));
          return;
        case 'Directory':
          if (path) makeDir(s, path);
          break;
        case 'SymbolicLink':
          addSymlink(s, path, e.linkpath ?? '');
          break;
        case 'Link':
          addHardLink(s, path, entryPath(e.linkpath ?? ''));
          break;
        case 'CharacterDevice': throw deviceError(path, 'character device');
        case 'BlockDevice': throw deviceError(path, 'block device');
        case 'FIFO': throw deviceError(path, 'FIFO');
        default:
          throw badEntry('bad_entry_type', path || e.path, `unsupported tar entry type ${e.type}`);
      }
      e.resume();
    } catch (err) {
      e.resume();
      fail(err);
    }
  };
  parser.on('entry', onEntry);
  await new Promise<void>((resolve) => {
    parser.on('error', (e: Error) => fail(e));
    parser.on('abort', () => resolve());
    parser.on('end', () => resolve());
    parser.on('close', () => resolve());
    body.on('error', (e) => fail(e));
    body.pipe(parser as unknown as NodeJS.WritableStream);
  });
  await Promise.allSettled(pending);
  if (failure !== undefined) throw asPackageError(failure);
}

/** Writes the body to a file (zip needs random access), counting it against the cap. */
async function spool(body: Readable, file: string, caps: ArchiveCaps): Promise<void> {
  const s = newState('', caps);
  await pipeline(body, new Tap(s, ''), createWriteStream(file, { mode: 0o600 }));
}

function openZip(file: string): Promise<yauzl.ZipFile> {
  return new Promise((resolve, reject) => yauzl.open(file, { lazyEntries: true, autoClose: true, validateEntrySizes: true, decodeStrings: true, strictFileNames: false }, (err, zf) => (err ? reject(err) : resolve(zf!))));
}

function zipStream(zf: yauzl.ZipFile, entry: yauzl.Entry): Promise<Readable> {
  return new Promise((resolve, reject) => zf.openReadStream(entry, (err, rs) => (err ? reject(err) : resolve(rs!))));
}

async function readAll(rs: Readable, max: number, path: string): Promise<string> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of rs as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > max) throw badEntry('bad_link', path, 'symlink target too long');
    parts.push(c);
  }
  return Buffer.concat(parts).toString('utf8');
}

const S_IFMT = 0o170000;

async function extractZip(file: string, s: State): Promise<void> {
  let zf: yauzl.ZipFile;
  try {
    zf = await openZip(file);
  } catch (e) {
    throw new ProblemError(400, 'not_an_archive', `the body is not a readable zip: ${(e as Error).message}`);
  }
  try {
    await new Promise<void>((resolve, reject) => {
      zf.on('error', reject);
      zf.on('end', resolve);
      zf.on('entry', (entry: yauzl.Entry) => {
        (async () => {
          const path = entryPath(entry.fileName);
          countEntry(s, path || '.');
          const unix = entry.versionMadeBy >> 8 === 3;
          const mode = unix ? (entry.externalFileAttributes >>> 16) & 0xffff : 0;
          const type = mode & S_IFMT;
          if (entry.fileName.endsWith('/') || type === 0o040000) {
            if (path) makeDir(s, path);
          } else if (type === 0o120000) {
            addSymlink(s, path, await readAll(await zipStream(zf, entry), 4096, path));
          } else if (type === 0o020000) throw deviceError(path, 'character device');
          else if (type === 0o060000) throw deviceError(path, 'block device');
          else if (type === 0o010000) throw deviceError(path, 'FIFO');
          else if (type === 0o140000) throw deviceError(path, 'socket');
          else {
            if (!path) throw badEntry('bad_entry_path', entry.fileName, 'a file cannot be the package root');
            await writeFile(s, path, mode, await zipStream(zf, entry));
          }
          zf.readEntry();
        })().catch((e) => {
          zf.close();
          reject(e);
        });
      });
      zf.readEntry();
    });
  } catch (e) {
    throw asPackageError(e);
  }
}

function asPackageError(e: unknown): ProblemError {
  if (e instanceof ProblemError) return e;
  const err = e as NodeJS.ErrnoException & { tarCode?: string };
  if (err.tarCode || /zip|invalid|unexpected|too many|header|compressed|end of/i.test(err.message ?? '')) {
    return new ProblemError(400, 'bad_archive', `the package archive is damaged: ${err.message}`);
  }
  throw e;
}

/**
 * Unpacks `body` into the existing empty directory `dest`. `spoolFile` is where a zip body
 * is kept while it is read (the caller deletes it, like `dest`, on failure).
 */
export async function extractArchive(body: Readable, dest: string, spoolFile: string, caps: ArchiveCaps): Promise<Extracted> {
  const { head, whole } = await peek(body, 512);
  const format = sniffFormat(head);
  if (!format) {
    whole.resume();
    throw new ProblemError(400, 'not_an_archive', head.length === 0 ? 'the body is empty; send a zip, tar or tar.gz problem package' : 'the body is not a zip, tar or tar.gz archive');
  }
  const s = newState(dest, caps);
  if (format === 'zip') {
    await spool(whole, spoolFile, caps);
    await extractZip(spoolFile, s);
  } else {
    await extractTar(whole, s);
  }
  const links = finishSymlinks(s);
  return { format, files: s.files, links, bytes: s.bytes };
}

/** Unpacks a package file on disk (CLI, tests, benchmarks). */
export async function extractArchiveFile(file: string, dest: string, caps: ArchiveCaps): Promise<Extracted> {
  const fh = await open(file, 'r');
  const head = Buffer.alloc(512);
  const { bytesRead } = await fh.read(head, 0, 512, 0);
  await fh.close();
  if (sniffFormat(head.subarray(0, bytesRead)) === 'zip') {
    const s = newState(dest, caps);
    await extractZip(file, s);
    return { format: 'zip', files: s.files, links: finishSymlinks(s), bytes: s.bytes };
  }
  return extractArchive(createReadStream(file), dest, join(dirname(dest), 'spool.zip'), caps);
}
