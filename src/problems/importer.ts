// Importing a problem package, atomically: unpack into a private staging directory, read
// the package, store its test data as blobs, build its programs into a version directory
// under a temporary name, rename that into place, and only then commit the version in the
// registry. A failure anywhere (or a kill -9) leaves the previous version serving; what a
// dead import left on disk is swept at the next start (recover()).
//
// On disk, under <dataDir>/problems/:
//   blobs/ab/abcdef…            test data by sha256 (FileBlobStore)
//   staging/<random>/           imports in progress (unpacked package, zip spool)
//   versions/<id>/<version>/    files/ (validators, include/), build/ (compiled validators),
//                               tree/ (the test data under its package names, hard links to blobs)
import { createHash } from 'node:crypto';
import { copyFileSync, createReadStream, existsSync, linkSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extractArchive, type ArchiveCaps, type Extracted } from './archive.js';
import { ProblemError } from './errors.js';
import { readPackage, type PackageCaps, type ReadPackage } from './package.js';
import { ImportBusyError, type BlobStore, type ProblemStore, type StoredVersion } from './store.js';
import type { ProblemMeta } from './types.js';

export const PROBLEM_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export function checkProblemId(id: string): void {
  if (!PROBLEM_ID.test(id)) throw new ProblemError(400, 'invalid_problem_id', `problem id "${id.slice(0, 80)}" must be 1-64 letters, digits, "_", "." or "-", starting with a letter or digit`);
}

/** Where one version's files live; the judge reads validators and the test tree from here. */
export interface VersionDirs {
  root: string;
  files: string;
  build: string;
  tree: string;
}

export function versionDirs(base: string, id: string, version: number): VersionDirs {
  const root = join(base, 'versions', id, String(version));
  return { root, files: join(root, 'files'), build: join(root, 'build'), tree: join(root, 'tree') };
}

/** What an import needs from the judge: building the package's programs, timing its accepted submissions. */
export interface ImportHooks {
  /** Compiles the validators into dirs.build; throws ProblemError 422 with the compiler output when one fails. */
  build(meta: ProblemMeta, dirs: VersionDirs, signal?: AbortSignal): Promise<void>;
  /** Slowest CPU time (ms) of the package's accepted submissions over all tests, unpacked at pkgDir. */
  slowestAccepted?(meta: ProblemMeta, blobs: Record<string, string>, dirs: VersionDirs, pkgDir: string, signal?: AbortSignal): Promise<number | undefined>;
}

export interface ImportOptions {
  timeLimitMs?: number;
  signal?: AbortSignal;
}

export interface ImporterOptions {
  /** <dataDir>/problems */
  base: string;
  store: ProblemStore;
  blobs: BlobStore;
  archive: ArchiveCaps;
  caps: PackageCaps;
  hooks: ImportHooks;
  /** Cluster mode: stores the built version directory for other nodes; returns its manifest (src/problems/replica.ts). */
  replicate?(root: string, scratch: string): Promise<StoredVersion['files']>;
}

export async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  await pipeline(createReadStream(file), h);
  return h.digest('hex');
}

export class Importer {
  private running = new Set<string>();

  constructor(private o: ImporterOptions) {
    mkdirSync(join(o.base, 'staging'), { recursive: true, mode: 0o700 });
    mkdirSync(join(o.base, 'versions'), { recursive: true, mode: 0o755 });
  }

  /** Imports running now in this process. */
  get busy(): number {
    return this.running.size;
  }

  isImporting(id: string): boolean {
    return this.running.has(id);
  }

  async import(id: string, body: Readable, opts: ImportOptions = {}): Promise<{ created: boolean; version: StoredVersion }> {
    checkProblemId(id);
    if (this.running.has(id)) {
      body.resume();
      throw new ProblemError(409, 'import_running', new ImportBusyError(id).message);
    }
    this.running.add(id);
    let ticket;
    try {
      ticket = await this.o.store.begin(id);
    } catch (e) {
      this.running.delete(id);
      body.resume();
      if (e instanceof ImportBusyError) throw new ProblemError(409, 'import_running', e.message);
      throw e;
    }
    const stage = mkdtempSync(join(this.o.base, 'staging', `${id}.`));
    let committed = false;
    const dirs = versionDirs(this.o.base, id, ticket.version);
    const tmpDirs = versionDirs(this.o.base, id, ticket.version);
    for (const k of ['root', 'files', 'build', 'tree'] as const) tmpDirs[k] = tmpDirs[k].replace(dirs.root, `${dirs.root}.tmp`);
    try {
      const pkgDir = join(stage, 'pkg');
      mkdirSync(pkgDir, { mode: 0o755 });
      const extracted = await extractArchive(body, pkgDir, join(stage, 'body.zip'), this.o.archive);
      const read = readPackage(pkgDir, { caps: this.o.caps, timeLimitMs: opts.timeLimitMs });
      const blobs = await this.storeBlobs(read, extracted, pkgDir);
      rmSync(tmpDirs.root, { recursive: true, force: true });
      mkdirSync(tmpDirs.files, { recursive: true, mode: 0o755 });
      mkdirSync(tmpDirs.build, { recursive: true, mode: 0o755 });
      this.keepFiles(read, pkgDir, tmpDirs.files);
      await this.o.hooks.build(read.meta, tmpDirs, opts.signal);
      await this.makeTree(read.meta, blobs, tmpDirs.tree);
      if (Number.isNaN(read.meta.timeLimitMs)) await this.deriveTimeLimit(read, blobs, tmpDirs, pkgDir, opts.signal);
      const files = await this.o.replicate?.(tmpDirs.root, join(stage, 'replica'));
      // The version's files appear whole, by rename, before the registry points at them.
      renameSync(tmpDirs.root, dirs.root);
      try {
        const stored = { meta: read.meta, blobs, bytes: extracted.bytes, createdAt: Date.now(), ...(files ? { files } : {}) };
        const { created } = await this.o.store.commit(ticket, stored);
        committed = true;
        return { created, version: { id, version: ticket.version, ...stored } };
      } catch (e) {
        rmSync(dirs.root, { recursive: true, force: true });
        throw e;
      }
    } catch (e) {
      body.resume();
      rmSync(tmpDirs.root, { recursive: true, force: true });
      await this.o.store.abort(ticket).catch(() => undefined);
      throw e;
    } finally {
      // What is left of the stage is the unpacked package (its test files are links to blobs
      // now): after a success it goes in the background, the answer does not wait for it; a
      // leftover is swept at the next start.
      if (committed) void rm(stage, { recursive: true, force: true }).catch(() => undefined);
      else rmSync(stage, { recursive: true, force: true });
      this.running.delete(id);
    }
  }

  /** Every test file into the blob store; returns package path → sha256. */
  private async storeBlobs(read: ReadPackage, ex: Extracted, pkgDir: string): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    const puts: Promise<void>[] = [];
    for (const t of read.meta.tests) {
      for (const p of [t.input, t.answer]) {
        if (out[p]) continue;
        const file = join(pkgDir, p);
        const hash = ex.files.get(p)?.sha256 ?? (await sha256File(file));
        out[p] = hash;
        // In parallel: with a durable store each put waits for its fsync.
        puts.push(this.o.blobs.putFile(hash, file, this.o.archive.durable === true && ex.files.has(p)));
      }
    }
    await Promise.all(puts);
    return out;
  }

  /** Moves what judging needs besides test data (validators, include/) out of the staging area. */
  private keepFiles(read: ReadPackage, pkgDir: string, files: string): void {
    const keep = [...read.meta.validators.map((v) => v.path), ...Object.values(read.meta.includes)];
    for (const p of keep) {
      const dest = join(files, p);
      mkdirSync(dirname(dest), { recursive: true, mode: 0o755 });
      renameSync(join(pkgDir, p), dest);
    }
    // Accepted submissions may be needed to derive the time limit; they stay in the stage.
  }

  private async deriveTimeLimit(read: ReadPackage, blobs: Record<string, string>, dirs: VersionDirs, pkgDir: string, signal?: AbortSignal): Promise<void> {
    const accepted = read.meta.submissions.filter((s) => s.category === 'accepted');
    const slowest = accepted.length && this.o.hooks.slowestAccepted ? await this.o.hooks.slowestAccepted(read.meta, blobs, dirs, pkgDir, signal) : undefined;
    if (slowest === undefined) {
      throw new ProblemError(400, 'no_time_limit', 'problem.yaml: the package gives no time limit (no limits.time_limit, .timelimit or domjudge-problem.ini timelimit) and has no accepted submission to derive one from; pass ?timeLimitMs=', 'problem.yaml');
    }
    const { multiplier, resolutionMs } = read.derive;
    const ms = Math.max(resolutionMs, Math.ceil((slowest * multiplier) / resolutionMs) * resolutionMs);
    if (ms > this.o.caps.timeMs) throw new ProblemError(400, 'limit_above_cap', `the derived time limit of ${ms} ms (slowest accepted ${slowest} ms × ${multiplier}) is above the server's cap of ${this.o.caps.timeMs} ms`);
    read.meta.timeLimitMs = ms;
  }

  /** The tests under their package names, for validators: hard links to the blobs (same filesystem). */
  async makeTree(meta: ProblemMeta, blobs: Record<string, string>, tree: string): Promise<void> {
    for (const t of meta.tests) {
      for (const [p, ext] of [[t.input, '.in'], [t.answer, '.ans']] as const) {
        const dest = join(tree, ...`${t.name}${ext}`.split('/'));
        mkdirSync(dirname(dest), { recursive: true, mode: 0o755 });
        const blob = await this.o.blobs.localPath(blobs[p]);
        // A link when the blob is on this filesystem (the local store); a copy otherwise.
        try {
          linkSync(blob, dest);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EXDEV') throw e;
          copyFileSync(blob, dest);
        }
      }
    }
  }

  /**
   * After a crash: forgets stale import locks, deletes staging leftovers, version
   * directories the registry does not know, and blobs no version refers to.
   */
  async recover(): Promise<{ staging: number; versions: number; blobs: number }> {
    await this.o.store.clearStaleImports();
    const staging = join(this.o.base, 'staging');
    let nStaging = 0;
    for (const e of readdirSync(staging)) {
      rmSync(join(staging, e), { recursive: true, force: true });
      nStaging++;
    }
    const known = new Set((await this.o.store.versions()).map((v) => `${v.id}/${v.version}`));
    let nVersions = 0;
    const vbase = join(this.o.base, 'versions');
    for (const id of readdirSync(vbase)) {
      const idDir = join(vbase, id);
      for (const v of readdirSync(idDir)) {
        if (known.has(`${id}/${v}`)) continue;
        rmSync(join(idDir, v), { recursive: true, force: true });
        nVersions++;
      }
      if (readdirSync(idDir).length === 0) rmSync(idDir, { recursive: true, force: true });
    }
    const blobs = await this.sweepBlobs();
    return { staging: nStaging, versions: nVersions, blobs };
  }

  /** Deletes blobs no stored version refers to; only while no import runs (they add blobs before commit). */
  async sweepBlobs(): Promise<number> {
    if (this.running.size > 0 || (await this.o.store.anyImporting?.())) return 0;
    return this.o.blobs.sweep(await this.o.store.referencedBlobs());
  }

  /** Removes the files of every version of `id` not in `keep` (after a delete). */
  removeVersionFiles(id: string, keep: Set<number> = new Set()): void {
    const idDir = join(this.o.base, 'versions', id);
    if (!existsSync(idDir)) return;
    for (const v of readdirSync(idDir)) if (!keep.has(Number(v))) rmSync(join(idDir, v), { recursive: true, force: true });
  }
}

/** Package path → path under a version's files/ directory. */
export function keptPath(dirs: VersionDirs, pkgPath: string): string {
  return join(dirs.files, ...posix.normalize(pkgPath).split('/'));
}
