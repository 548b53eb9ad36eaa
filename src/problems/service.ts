// Problems as the HTTP layer and the CLI see them: import, look up, delete, and judge a
// submission against a version. Wires the registry, the blob store, the importer and the
// problem judge together; the stores are the local ones (SQLite, files) for now.
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Language } from '../judge/languages.js';
import type { JudgeContext, SubmissionPipeline } from '../judge/pipeline.js';
import type { JudgeEvent, JudgeResult, SourceFile } from '../judge/schema.js';
import { FileBlobStore } from './blobs.js';
import { ProblemError } from './errors.js';
import { checkProblemId, Importer, keptPath, versionDirs, type ImportHooks } from './importer.js';
import { ProblemPipeline, type ProblemRun } from './judging.js';
import { buildProgram } from './programs.js';
import { materialise, storeVersionFiles } from './replica.js';
import { SqliteProblemStore } from './sqlite.js';
import { ImportBusyError, summarize, type BlobStore, type ProblemStore, type StoredVersion } from './store.js';
import type { ProblemSummary } from './types.js';

export const DEFAULT_MAX_PROBLEM_BYTES = 4 * 1024 ** 3;
export const DEFAULT_MAX_PROBLEM_FILES = 20_000;

const EXTENSIONS: Record<string, string> = {
  '.c': 'c', '.cpp': 'cpp', '.cc': 'cpp', '.cxx': 'cpp', '.c++': 'cpp', '.py': 'python3', '.java': 'java',
  '.kt': 'kotlin', '.go': 'go', '.rs': 'rust', '.js': 'javascript',
};

/**
 * A language id from a source file's extension (undefined when unknown): the first offered
 * language that claims the extension, else a fixed table.
 */
export function languageForFile(file: string, languages?: Map<string, Language>): string | undefined {
  const ext = extname(file).slice(1);
  for (const l of languages?.values() ?? []) if (l.extensions?.includes(ext)) return l.id;
  return EXTENSIONS[`.${ext.toLowerCase()}`];
}

/** A package's submission (a file, or a directory of files) as a program to judge. */
export function programFromPath(path: string, languages?: Map<string, Language>): ProblemRun {
  if (statSync(path).isFile()) {
    const language = languageForFile(path, languages);
    if (!language) throw new Error(`${path}: no language for the extension "${extname(path)}"`);
    return { language, source: readFileSync(path, 'utf8') };
  }
  const files: SourceFile[] = [];
  const walk = (dir: string, prefix: string) => {
    for (const e of readdirSync(dir).sort()) {
      const p = join(dir, e);
      if (statSync(p).isDirectory()) walk(p, `${prefix}${e}/`);
      else files.push({ path: `${prefix}${e}`, content: readFileSync(p).toString('base64'), encoding: 'base64' });
    }
  };
  walk(path, '');
  const langs = files.map((f) => languageForFile(f.path, languages)).filter((l): l is string => !!l);
  if (langs.length === 0) throw new Error(`${path}: no source file of a known language`);
  const language = langs.sort((a, b) => langs.filter((x) => x === b).length - langs.filter((x) => x === a).length)[0];
  const entry = files.find((f) => languageForFile(f.path, languages) === language && /^(main|Main|solution)\./.test(f.path)) ?? files.find((f) => languageForFile(f.path, languages) === language)!;
  return { language, files: files.map((f) => ({ ...f, entry: f === entry })) };
}

export interface ProblemServiceOptions {
  dataDir: string;
  pipeline: SubmissionPipeline;
  ctx: JudgeContext;
  maxBytes?: number;
  maxFiles?: number;
  synchronous?: 'FULL' | 'NORMAL';
  /** Other backends of the registry and the blobs (default: SQLite and files in the data dir). */
  store?: ProblemStore;
  blobs?: BlobStore;
  /**
   * Cluster mode: an import also stores its version directory as blobs with a manifest, and
   * judging a version whose directory is not on this node rebuilds it from them.
   */
  replicate?: boolean;
}

export class ProblemService {
  readonly base: string;
  readonly store: ProblemStore;
  readonly blobs: BlobStore;
  readonly importer: Importer;
  readonly judge: ProblemPipeline;
  private readonly replicate: boolean;
  /** Rebuilds of version directories in flight, so concurrent runs of one version share one. */
  private readonly materialising = new Map<string, Promise<void>>();

  private constructor(o: ProblemServiceOptions) {
    this.base = join(o.dataDir, 'problems');
    mkdirSync(this.base, { recursive: true, mode: 0o755 });
    this.store = o.store ?? new SqliteProblemStore(o.dataDir, { synchronous: o.synchronous });
    // With synchronous=FULL the registry survives power loss; the blobs it points at must too.
    const blobsDurable = (o.synchronous ?? 'FULL') === 'FULL';
    this.blobs = o.blobs ?? new FileBlobStore(join(this.base, 'blobs'), blobsDurable);
    this.judge = new ProblemPipeline(o.pipeline, o.ctx, this.blobs, this.base);
    const compileLimits = { ...o.ctx.compileLimits, timeMs: Math.max(o.ctx.compileLimits.timeMs, 60_000), wallTimeMs: Math.max(o.ctx.compileLimits.wallTimeMs, 120_000) };
    const hooks: ImportHooks = {
      build: async (meta, dirs, signal) => {
        for (let i = 0; i < meta.validators.length; i++) {
          const dir = join(dirs.build, String(i));
          mkdirSync(dir, { mode: 0o755 });
          await buildProgram({ sandbox: o.ctx.sandbox, limits: compileLimits, outputBytes: o.ctx.compileOutputBytes }, meta.validators[i], keptPath(dirs, meta.validators[i].path), dir, signal);
        }
      },
      slowestAccepted: async (meta, blobs, dirs, pkgDir, signal) => {
        let slowest: number | undefined;
        const trial: StoredVersion = { id: '(import)', version: 0, meta: { ...meta, timeLimitMs: o.ctx.caps.timeMs }, blobs, bytes: 0, createdAt: 0 };
        for (const s of meta.submissions.filter((x) => x.category === 'accepted')) {
          let run: ProblemRun;
          try {
            run = programFromPath(join(pkgDir, s.path), o.ctx.languages);
          } catch {
            continue;
          }
          const r = await this.judge.judge(trial, run, () => {}, signal, dirs);
          if (r.verdict !== 'AC') {
            throw new ProblemError(400, 'no_time_limit', `${s.path}: this accepted submission got ${r.verdict}, so no time limit can be derived from it; give one (?timeLimitMs= or .timelimit)`, s.path);
          }
          slowest = Math.max(slowest ?? 0, r.timeMs);
        }
        return slowest;
      },
    };
    this.replicate = o.replicate ?? false;
    this.importer = new Importer({
      base: this.base, store: this.store, blobs: this.blobs, hooks,
      ...(this.replicate ? { replicate: (root: string, scratch: string) => storeVersionFiles(root, this.blobs, scratch) } : {}),
      archive: { maxBytes: o.maxBytes ?? DEFAULT_MAX_PROBLEM_BYTES, maxFiles: o.maxFiles ?? DEFAULT_MAX_PROBLEM_FILES, durable: blobsDurable },
      caps: { timeMs: o.ctx.caps.timeMs, memoryBytes: o.ctx.caps.memoryBytes, outputBytes: o.ctx.caps.outputBytes },
    });
  }

  /** Opens the stores and sweeps what a crashed predecessor left. */
  static async open(o: ProblemServiceOptions): Promise<ProblemService> {
    const s = new ProblemService(o);
    await s.importer.recover();
    return s;
  }

  async put(id: string, body: Readable, opts: { timeLimitMs?: number; signal?: AbortSignal } = {}): Promise<{ created: boolean; problem: ProblemSummary }> {
    const { created, version } = await this.importer.import(id, body, opts);
    return { created, problem: summarize(version) };
  }

  async get(id: string): Promise<ProblemSummary | undefined> {
    checkProblemId(id);
    const v = await this.store.current(id);
    return v && summarize(v);
  }

  list(): Promise<ProblemSummary[]> {
    return this.store.list();
  }

  async delete(id: string): Promise<boolean> {
    checkProblemId(id);
    if (this.importer.isImporting(id)) throw new ProblemError(409, 'import_running', new ImportBusyError(id).message);
    let gone: boolean;
    try {
      gone = await this.store.delete(id);
    } catch (e) {
      if (e instanceof ImportBusyError) throw new ProblemError(409, 'import_running', e.message);
      throw e;
    }
    if (gone) {
      this.importer.removeVersionFiles(id);
      await this.importer.sweepBlobs();
    }
    return gone;
  }

  /** The version a submission is judged against: the given one, or the current one. 404 when there is none. */
  async resolve(id: string, version?: number): Promise<StoredVersion> {
    checkProblemId(id);
    const v = version === undefined ? await this.store.current(id) : await this.store.version(id, version);
    if (!v) throw new ProblemError(404, 'unknown_problem', version === undefined ? `no problem "${id}"; import it with PUT /v1/problems/${id}` : `problem "${id}" has no version ${version}`);
    if (!v.files && !existsSync(versionDirs(this.base, id, v.version).root)) throw new ProblemError(404, 'unknown_problem', `the files of problem "${id}" version ${v.version} are gone`);
    return v;
  }

  async judgeRun(id: string, version: number, run: ProblemRun, onEvent: (e: JudgeEvent) => void, signal?: AbortSignal): Promise<JudgeResult> {
    let v: StoredVersion;
    try {
      v = await this.resolve(id, version);
      await this.ensureFiles(v);
    } catch (e) {
      // Deleted while the submission waited: a judge error naming why, not a crash.
      const result: JudgeResult = { verdict: 'IE', timeMs: 0, memoryBytes: 0, tests: [], error: (e as Error).message, problem: { id, version } };
      onEvent({ type: 'verdict', result });
      return result;
    }
    return this.judge.judge(v, run, onEvent, signal);
  }

  /** The version directory on this node: there already, or rebuilt from the version's manifest. */
  private ensureFiles(v: StoredVersion): Promise<void> {
    const dirs = versionDirs(this.base, v.id, v.version);
    if (!this.replicate || existsSync(dirs.root)) return Promise.resolve();
    const key = `${v.id}/${v.version}`;
    let p = this.materialising.get(key);
    if (!p) {
      mkdirSync(join(this.base, 'versions', v.id), { recursive: true, mode: 0o755 });
      p = materialise(v, dirs, this.blobs, (tree) => this.importer.makeTree(v.meta, v.blobs, tree))
        .finally(() => this.materialising.delete(key));
      this.materialising.set(key, p);
    }
    return p;
  }

  close(): Promise<void> {
    return this.store.close();
  }
}
