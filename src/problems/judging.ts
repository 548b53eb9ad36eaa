// Judging a submission against one version of an imported problem: compile it (with the
// package's include/<language>/ files), run it on samples then secret cases in package
// order, reading inputs and answers straight from the blob store, and check each output
// with the default validator or the package's validators (Kattis protocol), or run it
// against the interactor. Pass-fail problems stop at the first rejected case (the ICPC
// rule); scoring problems go on and are scored per group (scoring.ts).
import { closeSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { Socket } from 'node:net';
import type { RunResult, RunSpec } from '../sandbox/types.js';
import type { Built, JudgeContext, SubmissionPipeline } from '../judge/pipeline.js';
import type { JudgeEvent, JudgeResult, Limits, SourceFile, TestResult, Verdict } from '../judge/schema.js';
import { InputError, readCapped } from '../judge/workspace.js';
import { AnswerTooLongError, defaultValidate } from './default-validator.js';
import { versionDirs, keptPath, type VersionDirs } from './importer.js';
import { LAUNCHER } from './programs.js';
import { defaultValidatorFlags } from './package.js';
import { scoreProblem } from './scoring.js';
import type { BlobStore, StoredVersion } from './store.js';
import type { ProblemMeta, ProblemTest, TestGroupInfo } from './types.js';

/** A submission to a problem, as the API and the CLI give it. */
export interface ProblemRun {
  language: string;
  source?: string;
  files?: SourceFile[];
  limits?: Limits;
}

const MESSAGE_BYTES = 4096;
const MAX_INCLUDE_BYTES = 16 << 20;

/** The problem's limits for its submissions; a request may lower them, never raise them. */
export function problemLimits(ctx: Pick<JudgeContext, 'caps' | 'defaults'>, meta: ProblemMeta, requested: Limits = {}): Required<Limits> {
  const base: Required<Limits> = {
    timeMs: meta.timeLimitMs,
    wallTimeMs: Math.min(ctx.caps.wallTimeMs, Math.max(2 * meta.timeLimitMs, meta.timeLimitMs + 1000)),
    memoryBytes: meta.memoryBytes,
    outputBytes: meta.outputBytes,
    processes: ctx.defaults.processes,
  };
  const out = { ...base };
  for (const k of Object.keys(requested) as (keyof Limits)[]) {
    const v = requested[k]!;
    const ceiling = k === 'processes' ? ctx.caps.processes : base[k];
    if (v > ceiling) throw new InputError(`limits.${k} = ${v} is above the problem's ${k} of ${ceiling}; limits may only lower a problem's limits`);
    out[k] = v;
  }
  if (requested.timeMs !== undefined && requested.wallTimeMs === undefined) out.wallTimeMs = Math.min(base.wallTimeMs, Math.max(2 * out.timeMs, out.timeMs + 1000));
  return out;
}

/**
 * What can be checked of a submission to a problem before it is queued, on any node (an
 * API-only cluster node has the problem's metadata but no pipeline): its limits against
 * the problem's, and one of source or files. The language is the Judge's own check.
 */
export function checkProblemRun(caps: Required<Limits>, meta: ProblemMeta, run: ProblemRun): void {
  // The defaults only seed the result's process count; what is allowed is the caps'.
  problemLimits({ caps, defaults: caps }, meta, run.limits);
  if ((run.source === undefined) === (run.files === undefined)) throw new InputError('give exactly one of "source" or "files"');
}

/** The include/<language>/ files of the version, as source files to add to a submission. */
function includeFiles(dirs: VersionDirs, meta: ProblemMeta, language: string): SourceFile[] {
  const rel = meta.includes[language];
  if (!rel) return [];
  const root = keptPath(dirs, rel);
  const out: SourceFile[] = [];
  let total = 0;
  const walk = (dir: string, prefix: string) => {
    for (const e of readdirSync(dir).sort()) {
      const p = join(dir, e);
      if (statSync(p).isDirectory()) walk(p, `${prefix}${e}/`);
      else {
        const content = readFileSync(p);
        total += content.length;
        if (total > MAX_INCLUDE_BYTES) throw new Error(`include/${language}/ is larger than ${MAX_INCLUDE_BYTES} bytes`);
        out.push({ path: `${prefix}${e}`, content: content.toString('base64'), encoding: 'base64' });
      }
    }
  };
  walk(root, '');
  return out;
}

/** The client's program with the include files added (the client's own files win on a name clash). */
export function withIncludes(run: ProblemRun, includes: SourceFile[]): ProblemRun {
  if (includes.length === 0) return run;
  const own = run.files ?? [{ path: 'main', content: run.source ?? '', entry: true }];
  const names = new Set(own.map((f) => f.path));
  const entryMarked = own.some((f) => f.entry);
  const files = [...(entryMarked ? own : own.map((f, i) => ({ ...f, entry: i === 0 }))), ...includes.filter((f) => !names.has(f.path))];
  return { language: run.language, files, limits: run.limits };
}

interface TestFiles {
  input: string;
  answer: string;
  output: string;
  error: string;
}

interface CaseResult extends Omit<TestResult, 'id'> {
  score?: number;
}

/**
 * Whether the validator ended before the submission (the interactive precedence rules need
 * it): by init's stamps of reaping each, one clock for both, so no slack for late reports.
 */
function exitedFirst(val: Pick<RunResult, 'endedAt' | 'wallTimeMs'>, sol: Pick<RunResult, 'endedAt' | 'wallTimeMs'>): boolean {
  if (val.endedAt === undefined || sol.endedAt === undefined) return val.wallTimeMs < sol.wallTimeMs;
  return val.endedAt < sol.endedAt;
}

/** Exit codes of the Kattis output validator protocol. */
const AC_EXIT = 42;
const WA_EXIT = 43;

export class ProblemPipeline {
  constructor(private pipeline: SubmissionPipeline, private ctx: JudgeContext, private blobs: BlobStore, private base: string) {}

  /** Checks what can be checked before queueing: the language, the limits. */
  validate(v: StoredVersion, run: ProblemRun): void {
    this.pipeline.language(run.language);
    checkProblemRun(this.ctx.caps, v.meta, run);
  }

  /** `dirs` defaults to the committed version's; an import judging its own submissions passes its staging dirs. */
  async judge(v: StoredVersion, run: ProblemRun, onEvent: (e: JudgeEvent) => void, signal?: AbortSignal, dirs: VersionDirs = versionDirs(this.base, v.id, v.version)): Promise<JudgeResult> {
    const meta = v.meta;
    const L = problemLimits(this.ctx, meta, run.limits);
    const finish = (r: JudgeResult): JudgeResult => {
      const result = { ...r, problem: { id: v.id, version: v.version } };
      onEvent({ type: 'verdict', result });
      return result;
    };
    onEvent({ type: 'status', status: 'compiling' });
    const main = await this.pipeline.build(withIncludes(run, includeFiles(dirs, meta, run.language)), signal);
    onEvent({ type: 'compile', result: main.compile });
    if (!main.built) return finish({ verdict: 'CE', timeMs: 0, memoryBytes: 0, compile: main.compile, tests: [] });
    const built = main.built;
    try {
      onEvent({ type: 'status', status: 'running' });
      const groups = new Map(meta.groups.map((g) => [g.name, g]));
      const results: TestResult[] = [];
      const scores: Array<{ group: string; verdict: string; score?: number }> = [];
      const rejectedGroups = new Set<string>();
      for (let i = 0; i < meta.tests.length; i++) {
        const t = meta.tests[i];
        const g = groups.get(t.group)!;
        if (signal?.aborted) throw new Error('cancelled');
        if (rejectedGroups.has(t.group)) {
          scores.push({ group: t.group, verdict: 'SKIPPED' });
          continue;
        }
        onEvent({ type: 'test-start', id: t.name, index: i });
        const files: TestFiles = {
          input: await this.blobs.localPath(v.blobs[t.input]),
          answer: await this.blobs.localPath(v.blobs[t.answer]),
          output: join(built.ws.io, `${i}.out`),
          error: join(built.ws.io, `${i}.err`),
        };
        const telemetry = (s: { elapsedMs: number; cpuTimeMs: number; memoryBytes: number; processes: number }) => onEvent({ type: 'telemetry', id: t.name, ...s });
        const r = meta.interactive
          ? await this.runInteractive(built, meta, dirs, t, g, L, files, telemetry, signal)
          : await this.runCase(built, meta, dirs, t, g, L, files, telemetry, signal);
        rmSync(files.output, { force: true });
        rmSync(files.error, { force: true });
        const result: TestResult = { id: t.name, group: t.group, ...r };
        results.push(result);
        scores.push({ group: t.group, verdict: result.verdict, score: r.score });
        onEvent({ type: 'test', index: i, result });
        if (result.verdict !== 'AC') {
          if (meta.type === 'pass-fail') break;
          if (g.stopOnReject) rejectedGroups.add(t.group);
        }
      }
      const verdict: Verdict = results.find((r) => r.verdict !== 'AC')?.verdict ?? 'AC';
      const scored = meta.type === 'scoring' ? scoreProblem(meta.groups, scores) : undefined;
      return finish({
        verdict,
        ...(scored ? { score: scored.score, maxScore: scored.maxScore } : {}),
        timeMs: Math.max(0, ...results.map((r) => r.timeMs)),
        memoryBytes: Math.max(0, ...results.map((r) => r.memoryBytes)),
        compile: main.compile,
        tests: results,
      });
    } finally {
      this.pipeline.discard(built.ws);
    }
  }

  private submissionSpec(b: Built, L: Required<Limits>, extra: Partial<RunSpec>): RunSpec {
    const spec = this.pipeline.runSpec(b, L, extra);
    // Contest systems give the stack as much as the memory limit: deep recursion ends by the
    // memory limit (MLE/RE), never by a small fixed stack.
    spec.limits = { ...spec.limits, stackBytes: L.memoryBytes };
    return spec;
  }

  private async runCase(
    b: Built, meta: ProblemMeta, dirs: VersionDirs, t: ProblemTest, g: TestGroupInfo, L: Required<Limits>, f: TestFiles,
    onTelemetry: RunSpec['onTelemetry'], signal?: AbortSignal,
  ): Promise<CaseResult> {
    const r = await this.ctx.sandbox.run(this.submissionSpec(b, L, {
      stdin: { kind: 'file', path: f.input }, stdout: { kind: 'file', path: f.output }, stderr: { kind: 'file', path: f.error },
      telemetryMs: 250, onTelemetry, signal,
    }));
    const base = this.pipeline.measure(r, f);
    const v = this.pipeline.runVerdict(b.lang, r, f.error);
    if (v !== 'AC') return { verdict: v, ...base };
    if (meta.validation === 'default') {
      try {
        const res = await defaultValidate(f.output, f.answer, defaultValidatorFlags(g.validatorArgs));
        return { ...base, verdict: res.ok ? 'AC' : 'WA', ...(res.message ? { checkerMessage: res.message } : {}) };
      } catch (e) {
        if (e instanceof AnswerTooLongError) return { ...base, verdict: 'IE', checkerMessage: `default validator: ${e.message}` };
        throw e;
      }
    }
    // Legacy packages may have several validators: all must accept.
    let last: { verdict: Verdict; message?: string; score?: number } = { verdict: 'AC' };
    for (let i = 0; i < meta.validators.length; i++) {
      last = await this.runValidator(meta, dirs, i, t, g, { kind: 'file', path: f.output }, signal);
      if (last.verdict !== 'AC') break;
    }
    return { ...base, verdict: last.verdict, ...(last.message ? { checkerMessage: last.message } : {}), ...(last.score !== undefined ? { score: last.score } : {}) };
  }

  /**
   * The version's directory is the validator's read-only /data (its build and the test
   * tree, straight from the blob store); its writable /box is the feedback directory.
   */
  private validatorSpec(meta: ProblemMeta, dirs: VersionDirs, index: number, t: ProblemTest, g: TestGroupInfo, box: string, extra: Partial<RunSpec>): RunSpec {
    const inData = (p: string) => `/data/${relative(dirs.root, p)}`;
    const vl = meta.validationLimits;
    return {
      argv: ['/bin/sh', inData(join(dirs.build, String(index), LAUNCHER)), inData(join(dirs.tree, `${t.name}.in`)), inData(join(dirs.tree, `${t.name}.ans`)), '/box/', ...g.validatorArgs],
      workDir: box,
      dataDir: dirs.root,
      env: { PATH: '/usr/bin:/bin', HOME: '/tmp' },
      limits: {
        timeMs: vl.timeMs, wallTimeMs: 2 * vl.timeMs + 1000, memoryBytes: vl.memoryBytes, outputBytes: vl.outputBytes,
        processes: 64, stackBytes: vl.memoryBytes,
      },
      ...extra,
    };
  }

  /** A writable feedback directory for one validator run (the validator's /box). */
  private feedbackDir(): { root: string; box: string } {
    const root = mkdtempSync(join(this.ctx.sandbox.pool.runDir, 'work', 'fb'));
    const box = join(root, 'box');
    mkdirSync(box, { mode: 0o755 });
    return { root, box };
  }

  /** The Kattis verdict of a validator run: 42 accepted, 43 wrong answer, anything else a judge error. */
  private validatorVerdict(r: RunResult, fb: { root: string; box: string }, who: string): { verdict: Verdict; message?: string; score?: number } {
    const judgeMsg = readCapped(join(fb.box, 'judgemessage.txt'), MESSAGE_BYTES).trim();
    const stderr = readCapped(join(fb.root, 'stderr'), MESSAGE_BYTES).trim();
    const exited = r.signal === null && r.exitCode !== null && (r.status === 'OK' || r.status === 'RE');
    if (exited && (r.exitCode === AC_EXIT || r.exitCode === WA_EXIT)) {
      let score: number | undefined;
      const text = readCapped(join(fb.box, 'score.txt'), 256).trim();
      if (text) {
        const n = Number(text);
        if (!Number.isFinite(n)) return { verdict: 'IE', message: `${who} wrote a score.txt that is not a number: ${text.slice(0, 80)}` };
        score = n;
      }
      return { verdict: r.exitCode === AC_EXIT ? 'AC' : 'WA', ...(judgeMsg ? { message: judgeMsg } : {}), ...(score !== undefined ? { score } : {}) };
    }
    const how = exited ? `exited with ${r.exitCode} (42 accepts, 43 rejects)` : r.status === 'TLE' ? `ran out of time (${r.limit})` : r.status === 'MLE' ? 'ran out of memory' : r.signal !== null ? `was killed by signal ${r.signal}` : `failed: ${r.status}${r.error ? ` ${r.error}` : ''}`;
    return { verdict: 'IE', message: [`${who} ${how}`, judgeMsg, stderr].filter(Boolean).join('\n') };
  }

  private async runValidator(meta: ProblemMeta, dirs: VersionDirs, index: number, t: ProblemTest, g: TestGroupInfo, stdin: RunSpec['stdin'], signal?: AbortSignal) {
    const fb = this.feedbackDir();
    try {
      const r = await this.ctx.sandbox.run(this.validatorSpec(meta, dirs, index, t, g, fb.box, {
        stdin, stdout: { kind: 'file', path: join(fb.root, 'stdout') }, stderr: { kind: 'file', path: join(fb.root, 'stderr') }, signal,
      }));
      if (r.status === 'SE') throw new Error(`sandbox error running the output validator: ${r.error}`);
      return this.validatorVerdict(r, fb, `output validator ${meta.validators[index].path}`);
    } finally {
      rmSync(fb.root, { recursive: true, force: true });
    }
  }

  /**
   * Interactive: the validator's stdout is the submission's stdin and back. Verdict
   * precedence (problemtools): validator error → IE; validator rejected and exited first
   * → WA; submission over a time limit → TLE; submission crashed → its verdict (a
   * SIGPIPE after the validator exited is not a crash); else the validator's verdict.
   */
  private async runInteractive(
    b: Built, meta: ProblemMeta, dirs: VersionDirs, t: ProblemTest, g: TestGroupInfo, L: Required<Limits>, f: TestFiles,
    onTelemetry: RunSpec['onTelemetry'], signal?: AbortSignal,
  ): Promise<CaseResult> {
    const [toSolR, toSolW] = this.ctx.sandbox.pipe();
    const [toValR, toValW] = this.ctx.sandbox.pipe();
    const fb = this.feedbackDir();
    // The submission's output pipe stays open (our copy of its read end) until the validator
    // is done, then is drained: a submission still writing after the validator decided
    // neither dies of SIGPIPE nor blocks on a full pipe.
    let drain: Socket | undefined;
    const onEnd = (i: number) => {
      if (i !== 1) return;
      drain = new Socket({ fd: toValR, readable: true, writable: false });
      drain.on('error', () => undefined);
      drain.resume();
    };
    const wall = Math.min(this.ctx.caps.wallTimeMs, Math.max(L.wallTimeMs, Math.ceil((2 * L.timeMs) / 1000) * 1000));
    try {
      const valSpec = this.validatorSpec(meta, dirs, 0, t, g, fb.box, {
        stdin: { kind: 'fd', fd: toValR }, stdout: { kind: 'fd', fd: toSolW }, stderr: { kind: 'file', path: join(fb.root, 'stderr') }, signal,
      });
      valSpec.limits = { ...valSpec.limits, wallTimeMs: wall + 1000 };
      const [sol, val] = await this.ctx.sandbox.runGroup([
        this.submissionSpec(b, { ...L, wallTimeMs: wall }, {
          stdin: { kind: 'fd', fd: toSolR }, stdout: { kind: 'fd', fd: toValW }, stderr: { kind: 'file', path: f.error }, telemetryMs: 250, onTelemetry, signal,
        }),
        valSpec,
      ], () => [toSolR, toSolW, toValW].forEach((fd) => closeSync(fd)), signal, onEnd);
      if (sol.status === 'SE' || val.status === 'SE') throw new Error(`sandbox error in an interactive run: ${sol.error ?? val.error}`);
      const base = { ...this.pipeline.measure(sol, f), stdout: '' };
      const vv = this.validatorVerdict(val, fb, `interactor ${meta.validators[0].path}`);
      const msg = vv.message ? { checkerMessage: vv.message } : {};
      if (vv.verdict === 'IE') return { ...base, verdict: 'IE', ...msg };
      const validatorFirst = exitedFirst(val, sol);
      if (vv.verdict === 'WA' && validatorFirst) return { ...base, verdict: 'WA', ...msg };
      const own = this.pipeline.runVerdict(b.lang, sol, f.error);
      if (own === 'TLE') return { ...base, verdict: 'TLE', ...msg };
      const sigpipe = own === 'RE' && sol.signal === 13 && validatorFirst;
      if (own !== 'AC' && !sigpipe) return { ...base, verdict: own, ...msg };
      return { ...base, verdict: vv.verdict, ...msg, ...(vv.score !== undefined ? { score: vv.score } : {}) };
    } finally {
      if (drain) drain.destroy();
      else closeSync(toValR);
      rmSync(fb.root, { recursive: true, force: true });
    }
  }
}
