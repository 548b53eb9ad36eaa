// The judge as the HTTP layer and the CLI see it: languages, limits and caps, judging a
// submission, and single low-level runs (POST /v1/run).
import { closeSync, mkdirSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { Sandbox, type SandboxOptions } from '../sandbox/sandbox.js';
import { detectLanguages } from './languages.js';
import { SubmissionPipeline, resolveLimits, type JudgeContext } from './pipeline.js';
import type { Judge, JudgeEvent, Limits, RunRequest, RunResponse, Submission } from './schema.js';
import { readCappedFd, safeRelative } from './workspace.js';
import { validateRun, validateSubmission, type CheckContext } from './checks.js';
import { CompileCache } from './compile-cache.js';

export { InputError } from './checks.js';

/** processes: threads count too (Go, JVM, C# and std::thread programs need several); the
 *  peers allow 60-64. The cgroup's pids.max still stops a fork bomb at this number. */
export const DEFAULT_LIMITS: Required<Limits> = {
  timeMs: 1000, wallTimeMs: 3000, memoryBytes: 256 << 20, outputBytes: 64 << 20, processes: 64,
};
export const DEFAULT_CAPS: Required<Limits> = {
  timeMs: 30_000, wallTimeMs: 90_000, memoryBytes: 2 * 1024 ** 3, outputBytes: 256 << 20, processes: 256,
};

/**
 * The compile step's limits; a language may raise them (LanguageConfig.compileLimits). 30 s of
 * CPU, as DOMjudge allows: g++ -std=gnu++20 with heavy headers needs more than 15 s on slow or
 * emulated CPUs.
 */
export const COMPILE_LIMITS = { timeMs: 30_000, wallTimeMs: 60_000, memoryBytes: 1024 << 20, outputBytes: 256 << 20, processes: 128 };

export interface JudgeOptions extends SandboxOptions {
  poolSize?: number;
  languagesFile?: string;
  defaults?: Partial<Limits>;
  caps?: Partial<Limits>;
  logger?: Logger;
  /** Size cap of the compile cache (0 turns it off). */
  compileCacheBytes?: number;
}

export const DEFAULT_COMPILE_CACHE_BYTES = 256 << 20;

/** The Judge backed by this host's sandbox pool. */
class SandboxJudge implements Judge {
  readonly caps: Required<Limits>;
  private readonly checks: CheckContext;
  // ctx and pipeline are public for problem judging (src/problems/), which builds on them.
  constructor(private sandbox: Sandbox, readonly ctx: JudgeContext, readonly pipeline: SubmissionPipeline) {
    this.caps = ctx.caps;
    this.checks = {
      languages: [...ctx.languages.keys()], caps: ctx.caps,
      entryName: (id) => { const source = ctx.languages.get(id)?.source; return source && !source.includes('{') ? source : undefined; },
    };
  }

  languages() {
    return [...this.ctx.languages.values()].map((l) => ({
      id: l.id, name: l.name, version: l.versionString, extensions: l.extensions ?? [], source: l.source,
      ...(l.compile ? { compile: l.compile } : {}), run: l.run,
    }));
  }

  validate(sub: Submission): void {
    validateSubmission(sub, this.checks);
  }

  validateRun(req: RunRequest): void {
    validateRun(req, this.checks);
  }

  async judge(sub: Submission, onEvent: (e: JudgeEvent) => void, signal?: AbortSignal) {
    return this.pipeline.judge(sub, onEvent, signal);
  }

  async execute(req: RunRequest, signal?: AbortSignal): Promise<RunResponse> {
    this.validateRun(req);
    const L = resolveLimits(this.ctx, { processes: 16, ...req.limits });
    // The box and the streams in memory: a run with files costs no directory made or
    // removed and nothing written to a disk. The box's tmpfs is as large as the memory
    // limit, which also bounds what the program writes there.
    const box = req.language === undefined ? this.sandbox.makeMemoryWorkDir(L.memoryBytes) : undefined;
    const fds: number[] = [];
    const memoryFile = (name: string) => {
      fds.push(this.sandbox.memoryFile(name));
      return fds[fds.length - 1];
    };
    let built: Awaited<ReturnType<SubmissionPipeline['build']>>['built'];
    try {
      let argv = req.cmd ?? [];
      let compile: RunResponse['compile'];
      if (req.language !== undefined) {
        const b = await this.pipeline.build({ language: req.language, source: req.source! }, signal);
        compile = b.compile;
        if (!b.built) return { status: 'CE', exitCode: null, signal: null, cpuTimeMs: 0, wallTimeMs: 0, memoryBytes: 0, stdout: '', stderr: '', compile };
        built = b.built;
        argv = built.argv.map((a) => a.replace('{heapMb}', String(Math.floor(L.memoryBytes / (1 << 20)))));
      }
      const [stdin, stdout, stderr] = [req.stdin ? memoryFile('stdin') : -1, memoryFile('stdout'), memoryFile('stderr')];
      for (const [name, content] of Object.entries(req.files ?? {})) {
        const rel = safeRelative(name);
        if (rel.includes('/')) mkdirSync(join(box!, rel, '..'), { recursive: true });
        writeFileSync(join(box!, rel), content);
      }
      // Written at position 0, so the file offset the program reads from stays at 0.
      if (req.stdin) writeSync(stdin, Buffer.from(req.stdin), 0, Buffer.byteLength(req.stdin), 0);
      const lang = built?.lang;
      const r = await this.sandbox.run({
        argv, workDir: built ? built.ws.box : box!, sealedWorkDir: !!built, env: lang?.env, readOnlyPaths: lang?.readOnlyPaths,
        limits: {
          ...L,
          memoryBytes: L.memoryBytes + (lang?.extraMemoryBytes ?? 0),
          processes: L.processes + (lang?.extraProcesses ?? 0),
        },
        stdin: req.stdin ? { kind: 'fd', fd: stdin } : { kind: 'null' },
        stdout: { kind: 'fd', fd: stdout }, stderr: { kind: 'fd', fd: stderr }, signal,
      });
      return {
        status: r.status, ...(r.limit ? { limit: r.limit } : {}), exitCode: r.exitCode, signal: r.signal,
        cpuTimeMs: r.cpuTimeMs, wallTimeMs: r.wallTimeMs, memoryBytes: r.memoryBytes,
        // The sandbox measured both streams at the run's end: no second fstat each.
        stdout: readCappedFd(stdout, this.ctx.previewBytes, r.stdoutBytes), stderr: readCappedFd(stderr, this.ctx.previewBytes, r.stderrBytes),
        ...(r.error ? { error: r.error } : {}), ...(compile ? { compile } : {}),
      };
    } finally {
      if (built) this.pipeline.discard(built.ws);
      for (const fd of fds) closeSync(fd);
      if (box) this.sandbox.removeWorkDir(box);
    }
  }

  pool() {
    return { size: this.sandbox.pool.size, busy: this.sandbox.pool.busy };
  }

  describe(): string {
    return this.sandbox.pool.cgroups.describe();
  }

  async close() {
    await this.sandbox.close();
    this.ctx.compileCache?.clear();
  }
}

export type LocalJudge = Judge & { describe(): string; readonly ctx: JudgeContext; readonly pipeline: SubmissionPipeline };

export async function createJudge(opts: JudgeOptions = {}): Promise<LocalJudge> {
  const languages = await detectLanguages(opts.languagesFile);
  const sandbox = Sandbox.open({ ...opts, size: opts.poolSize ?? opts.size });
  const ctx: JudgeContext = {
    sandbox,
    languages,
    defaults: { ...DEFAULT_LIMITS, ...opts.defaults },
    caps: { ...DEFAULT_CAPS, ...opts.caps },
    compileLimits: COMPILE_LIMITS,
    previewBytes: 4096,
    compileOutputBytes: 16 * 1024,
    compileCache: opts.compileCacheBytes === 0 ? undefined : new CompileCache(join(sandbox.pool.runDir, 'compile-cache'), opts.compileCacheBytes ?? DEFAULT_COMPILE_CACHE_BYTES),
  };
  return new SandboxJudge(sandbox, ctx, new SubmissionPipeline(ctx));
}
