// Judging one submission: compile once, run every test against the same artifacts,
// check each output, and fold the per-test results into a verdict and a score.
import { closeSync, linkSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { notStarted } from '../sandbox/classify.js';
import type { Sandbox } from '../sandbox/sandbox.js';
import type { RunLimits, RunResult, RunSpec } from '../sandbox/types.js';
import { checkFiles } from './checkers/index.js';
import type { CompileCache } from './compile-cache.js';
import { entryVariables, expand, outOfMemoryTexts, type Language } from './languages.js';
import type { Checker, CompileResult, JudgeEvent, JudgeResult, Limits, Program, SourceFile, Submission, TestResult, Verdict } from './schema.js';
import { score } from './scoring.js';
import { InputError, makeWorkspace, readCapped, safeRelative, sealBox, writeSourceFiles, type Workspace } from './workspace.js';

export interface JudgeContext {
  sandbox: Sandbox;
  languages: Map<string, Language>;
  defaults: Required<Limits>;
  caps: Required<Limits>;
  compileLimits: RunLimits;
  /** Bytes of stdout/stderr kept per test in the result. */
  previewBytes: number;
  /** Bytes of compiler output kept. */
  compileOutputBytes: number;
  /** Reuses builds of identical sources (absent: always compile). */
  compileCache?: CompileCache;
}

/** A built program: its language, where its artifacts are, and how to run it. */
export interface Built {
  lang: Language;
  ws: Workspace;
  argv: string[];
}

/** Resolves the submission's limits: defaults for what is absent, caps enforced. */
export function resolveLimits(ctx: JudgeContext, l: Limits | undefined): Required<Limits> {
  const out = { ...ctx.defaults, ...l };
  if (l?.timeMs !== undefined && l.wallTimeMs === undefined) out.wallTimeMs = Math.min(ctx.caps.wallTimeMs, Math.max(l.timeMs * 2, l.timeMs + 1000));
  for (const k of Object.keys(ctx.caps) as (keyof Limits)[]) {
    if (out[k] > ctx.caps[k]) throw new InputError(`limits.${k} = ${out[k]} is above the server's cap of ${ctx.caps[k]}`);
  }
  return out;
}

function sourceFiles(lang: Language, p: { source?: string; files?: SourceFile[] }): { files: SourceFile[]; vars: Record<string, string>; problem?: string } {
  if ((p.source === undefined) === (p.files === undefined)) throw new InputError('give exactly one of "source" or "files"');
  let files: SourceFile[];
  let entryText: string;
  if (p.source !== undefined) {
    entryText = p.source;
    files = [{ path: '', content: p.source, entry: true }];
  } else {
    files = p.files!;
    if (files.length === 0) throw new InputError('"files" must not be empty');
    for (const f of files) safeRelative(f.path);
    const entries = files.filter((f) => f.entry);
    if (entries.length > 1) throw new InputError('at most one file may be the entry');
    const entry = entries[0] ?? files[0];
    entryText = entry.encoding === 'base64' ? Buffer.from(entry.content, 'base64').toString('utf8') : entry.content;
    files = files.map((f) => ({ ...f, entry: f === entry }));
  }
  // JVM languages and Ada: the file name and the class to run follow from where main is.
  const { vars, problem } = entryVariables(lang, entryText);
  const entryName = expand([lang.source], vars)[0];
  // The entry is always stored under the language's file name, whatever the client called it.
  files = files.map((f) => (f.entry ? { ...f, path: entryName } : f));
  return { files, vars, problem };
}

export class SubmissionPipeline {
  constructor(private ctx: JudgeContext) {}

  language(id: string): Language {
    const lang = this.ctx.languages.get(id);
    if (!lang) throw new InputError(`unknown language "${id}"; known: ${[...this.ctx.languages.keys()].join(', ')}`);
    return lang;
  }

  /** Compiles a program in its own workspace; returns the compile result and, on success, how to run it. */
  async build(p: Program | (Checker & { language: string }), signal?: AbortSignal): Promise<{ compile: CompileResult; built?: Built }> {
    const lang = this.language(p.language);
    const { files, vars, problem } = sourceFiles(lang, p);
    if (problem) return { compile: { ok: false, output: problem, timeMs: 0 } };
    // From the sandbox's stock of emptied work dirs: a new submission makes and removes no
    // directory of its own on the disk.
    const ws = makeWorkspace(this.ctx.sandbox.makeWorkDir());
    try {
      writeSourceFiles(ws.box, files);
      const argv = expand(lang.run, { ...vars, heapMb: '{heapMb}' });
      const cacheKey = lang.compile ? this.ctx.compileCache?.key(lang, files, vars) : undefined;
      const cached = cacheKey ? this.ctx.compileCache!.take(cacheKey, ws.box) : undefined;
      if (cached) return { compile: cached, built: { lang, ws, argv } };
      let compile: CompileResult = { ok: true, output: '', timeMs: 0 };
      if (lang.compile) {
        const out = join(ws.io, 'compile.out');
        const r = await this.ctx.sandbox.run({
          argv: expand(lang.compile, vars), workDir: ws.box, env: lang.env, readOnlyPaths: lang.readOnlyPaths,
          limits: { ...this.ctx.compileLimits, ...lang.compileLimits }, stdout: { kind: 'file', path: out }, stderr: { kind: 'file', path: out + '2' }, signal,
        });
        const text = (readCapped(out, this.ctx.compileOutputBytes) + readCapped(out + '2', this.ctx.compileOutputBytes)).slice(0, this.ctx.compileOutputBytes);
        compile = { ok: r.status === 'OK', output: compileMessage(r, text), timeMs: Math.round(r.cpuTimeMs) };
        // The compiler is the service's command: not finding it is a fault of ours, not a CE.
        if (r.status === 'SE' || notStarted(r)) throw new Error(`compile step failed in the sandbox: ${r.error}`);
      }
      if (!compile.ok) {
        this.discard(ws);
        return { compile };
      }
      sealBox(ws.box);
      if (cacheKey) this.ctx.compileCache!.put(cacheKey, ws.box, compile);
      return { compile, built: { lang, ws, argv } };
    } catch (e) {
      this.discard(ws);
      throw e;
    }
  }

  discard(ws: Workspace): void {
    this.ctx.sandbox.removeWorkDir(ws.root);
  }

  /** How a built program runs under limits L (also used by problem judging, src/problems/). */
  runSpec(b: Built, L: Required<Limits>, extra: Partial<RunSpec> = {}): RunSpec {
    const heapMb = Math.max(16, Math.floor(L.memoryBytes / (1 << 20)));
    return {
      argv: b.argv.map((a) => a.replace('{heapMb}', String(heapMb))),
      workDir: b.ws.box,
      sealedWorkDir: true,
      env: b.lang.env,
      readOnlyPaths: b.lang.readOnlyPaths,
      limits: {
        timeMs: L.timeMs, wallTimeMs: L.wallTimeMs, outputBytes: L.outputBytes,
        memoryBytes: L.memoryBytes + (b.lang.extraMemoryBytes ?? 0),
        processes: L.processes + (b.lang.extraProcesses ?? 0),
      },
      ...extra,
    };
  }

  /** Judges a whole submission; never throws for a fault in the submission itself. */
  async judge(sub: Submission, onEvent: (e: JudgeEvent) => void, signal?: AbortSignal): Promise<JudgeResult> {
    const L = resolveLimits(this.ctx, sub.limits);
    const owned: Built[] = [];
    try {
      onEvent({ type: 'status', status: 'compiling' });
      const main = await this.build(sub, signal);
      onEvent({ type: 'compile', result: main.compile });
      if (!main.built) return finish(onEvent, { verdict: 'CE', timeMs: 0, memoryBytes: 0, compile: main.compile, tests: [] });
      owned.push(main.built);
      let checker: Built | undefined;
      if (sub.checker?.kind === 'program') {
        const c = await this.build({ ...sub.checker, language: sub.checker.language! }, signal);
        if (!c.built) return finish(onEvent, ieResult(main.compile, `checker failed to compile:\n${c.compile.output}`));
        owned.push((checker = c.built));
      }
      let interactor: Built | undefined;
      if (sub.interactor) {
        const c = await this.build(sub.interactor, signal);
        if (!c.built) return finish(onEvent, ieResult(main.compile, `interactor failed to compile:\n${c.compile.output}`));
        owned.push((interactor = c.built));
      }

      onEvent({ type: 'status', status: 'running' });
      const results: TestResult[] = [];
      const io = main.built.ws.io;
      let failed = false;
      const tests = sub.tests ?? [];
      for (let i = 0; i < tests.length; i++) {
        const t = tests[i];
        const id = t.id ?? String(i + 1);
        if (failed && sub.stopOnFirstFailure) break;
        if (signal?.aborted) throw new Error('cancelled');
        onEvent({ type: 'test-start', id, index: i });
        const files = { input: join(io, `${i}.in`), answer: join(io, `${i}.ans`), output: join(io, `${i}.out`), error: join(io, `${i}.err`) };
        writeFileSync(files.input, t.input);
        writeFileSync(files.answer, t.expected);
        const telemetry = (s: { elapsedMs: number; cpuTimeMs: number; memoryBytes: number; processes: number }) =>
          onEvent({ type: 'telemetry', id, ...s });
        const r = interactor
          ? await this.runInteractive(main.built, interactor, L, files, telemetry, signal)
          : await this.runTest(main.built, L, files, sub.checker, checker, telemetry, signal);
        const result: TestResult = { id, ...r, ...(t.group !== undefined ? { group: t.group } : {}) };
        results.push(result);
        for (const f of Object.values(files)) rmSync(f, { force: true });
        onEvent({ type: 'test', index: i, result });
        if (result.verdict !== 'AC') failed = true;
      }
      const verdict: Verdict = results.find((r) => r.verdict !== 'AC')?.verdict ?? 'AC';
      const scored = score(tests.map((t, i) => ({ verdict: results[i]?.verdict ?? 'SKIPPED', group: t.group, points: t.points })));
      return finish(onEvent, {
        verdict,
        score: scored.score,
        maxScore: scored.maxScore,
        timeMs: Math.max(0, ...results.map((r) => r.timeMs)),
        memoryBytes: Math.max(0, ...results.map((r) => r.memoryBytes)),
        compile: main.compile,
        tests: results,
      });
    } finally {
      for (const b of owned) this.discard(b.ws);
    }
  }

  private async runTest(
    b: Built, L: Required<Limits>, f: { input: string; answer: string; output: string; error: string },
    checker: Checker | undefined, program: Built | undefined,
    onTelemetry: RunSpec['onTelemetry'], signal?: AbortSignal,
  ): Promise<Omit<TestResult, 'id'>> {
    const r = await this.ctx.sandbox.run(this.runSpec(b, L, {
      stdin: { kind: 'file', path: f.input }, stdout: { kind: 'file', path: f.output }, stderr: { kind: 'file', path: f.error },
      telemetryMs: 250, onTelemetry, signal,
    }));
    const base = this.measure(r, f);
    const v = this.runVerdict(b.lang, r, f.error);
    if (v !== 'AC') return { verdict: v, ...base };
    const check = await this.check(checker, program, f, signal);
    return { ...base, verdict: check.verdict, ...(check.message ? { checkerMessage: check.message } : {}) };
  }

  measure(r: RunResult, f: { output: string; error: string }) {
    return {
      timeMs: Math.round(r.cpuTimeMs),
      wallTimeMs: Math.round(r.wallTimeMs),
      memoryBytes: r.memoryBytes,
      exitCode: r.exitCode,
      signal: r.signal,
      ...(r.limit ? { limit: r.limit } : {}),
      stdout: readCapped(f.output, this.ctx.previewBytes),
      stderr: readCapped(f.error, this.ctx.previewBytes),
    };
  }

  /** The verdict a run earns before its output is checked (AC = go on and check). */
  runVerdict(lang: Language, r: RunResult, stderrPath: string): Verdict {
    switch (r.status) {
      case 'OK': return 'AC';
      case 'TLE': return 'TLE';
      case 'MLE': return 'MLE';
      case 'OLE': return 'OLE';
      case 'SE': throw new Error(`sandbox error: ${r.error}`);
      case 'RE':
        // The run command comes from the language's configuration, not from the submission.
        if (notStarted(r)) throw new Error(`sandbox error: ${r.error}`);
        // A managed runtime reports its own heap exhaustion as an ordinary error exit.
        const texts = outOfMemoryTexts(lang);
        if (texts.length) {
          const stderr = readCapped(stderrPath, 1 << 20);
          if (texts.some((t) => stderr.includes(t))) return 'MLE';
        }
        return 'RE';
    }
  }

  private async check(
    checker: Checker | undefined, program: Built | undefined, f: { input: string; answer: string; output: string },
    signal?: AbortSignal,
  ): Promise<{ verdict: Verdict; message?: string }> {
    if (!checker || checker.kind !== 'program') {
      const c = checker ?? { kind: 'tokens' as const };
      const spec = c.kind === 'float' ? { kind: 'float' as const, absError: c.absError, relError: c.relError } : { kind: c.kind as 'exact' | 'lines' | 'tokens' };
      try {
        const res = await checkFiles(spec, f.output, f.answer);
        return { verdict: res.ok ? 'AC' : 'WA', message: res.message };
      } catch (e) {
        // The answer itself cannot be judged (e.g. a token over the float checker's cap).
        return { verdict: 'IE', message: `checker failed: ${(e as Error).message}` };
      }
    }
    // A testlib-style checker: `checker input output answer`, run sandboxed like anything else.
    const dir = join(program!.ws.root, 'check');
    rmSync(dir, { recursive: true, force: true });
    makeCheckDir(dir, f);
    const msg = join(program!.ws.io, 'checker.msg');
    const r = await this.ctx.sandbox.run({
      ...this.runSpec(program!, { ...this.ctx.defaults, timeMs: 10_000, wallTimeMs: 20_000, memoryBytes: 512 << 20 }),
      argv: [...program!.argv.map((a) => a.replace('{heapMb}', '256')), '/data/input', '/data/output', '/data/answer'],
      readOnlyPaths: [...(program!.lang.readOnlyPaths ?? [])],
      stdout: { kind: 'file', path: msg }, stderr: { kind: 'file', path: msg + '2' }, signal,
      dataDir: dir,
    });
    const message = (readCapped(msg + '2', 4096) || readCapped(msg, 4096)).trim();
    rmSync(dir, { recursive: true, force: true });
    return testlibVerdict(r, message, 'checker');
  }

  private async runInteractive(
    b: Built, inter: Built, L: Required<Limits>, f: { input: string; answer: string; output: string; error: string },
    onTelemetry: RunSpec['onTelemetry'], signal?: AbortSignal,
  ): Promise<Omit<TestResult, 'id'>> {
    // Direct pipes between the two sandboxes: interactor stdout → solution stdin and back.
    const [toSolR, toSolW] = this.ctx.sandbox.pipe();
    const [toIntR, toIntW] = this.ctx.sandbox.pipe();
    const dir = join(inter.ws.root, 'check');
    rmSync(dir, { recursive: true, force: true });
    makeCheckDir(dir, f);
    const msg = join(inter.ws.io, 'interactor.msg');
    const [sol, itr] = await this.ctx.sandbox.runGroup([
      this.runSpec(b, L, { stdin: { kind: 'fd', fd: toSolR }, stdout: { kind: 'fd', fd: toIntW }, stderr: { kind: 'file', path: f.error }, telemetryMs: 250, onTelemetry, signal }),
      {
        ...this.runSpec(inter, { ...L, timeMs: Math.max(L.timeMs * 2, 5000), wallTimeMs: L.wallTimeMs + 1000, memoryBytes: 512 << 20 }),
        argv: [...inter.argv.map((a) => a.replace('{heapMb}', '256')), '/data/input', '/data/output', '/data/answer'],
        stdin: { kind: 'fd', fd: toIntR }, stdout: { kind: 'fd', fd: toSolW }, stderr: { kind: 'file', path: msg }, signal,
        dataDir: dir,
      },
    ], () => [toSolR, toSolW, toIntR, toIntW].forEach((fd) => closeSync(fd)), signal);
    rmSync(dir, { recursive: true, force: true });
    const base = { ...this.measure(sol, f), stdout: '' };
    const message = readCapped(msg, 4096).trim();
    const itrVerdict = testlibVerdict(itr, message, 'interactor');
    if (itrVerdict.verdict === 'IE') return { ...base, verdict: 'IE', checkerMessage: itrVerdict.message };
    // The solution's own limits come first; a solution killed by SIGPIPE because the
    // interactor stopped listening gets the interactor's verdict.
    const own = this.runVerdict(b.lang, sol, f.error);
    if (own !== 'AC' && !(own === 'RE' && sol.signal === 13)) return { ...base, verdict: own };
    return { ...base, verdict: itrVerdict.verdict, ...(itrVerdict.message ? { checkerMessage: itrVerdict.message } : {}) };
  }
}

/** The checker/interactor sees the test through a read-only /data, outside its own box. */
function makeCheckDir(dir: string, f: { input: string; answer: string; output: string }): void {
  mkdirSync(dir, { mode: 0o755 });
  linkSync(f.input, join(dir, 'input'));
  linkSync(f.answer, join(dir, 'answer'));
  try {
    linkSync(f.output, join(dir, 'output'));
  } catch {
    writeFileSync(join(dir, 'output'), '');
  }
}

/** testlib's convention: 0 accepted, 1 wrong answer, 2 presentation error (WA here), anything else a judge fault. */
function testlibVerdict(r: RunResult, message: string, who: string): { verdict: Verdict; message?: string } {
  if (r.status === 'OK' || (r.status === 'RE' && r.exitCode !== null)) {
    const code = r.exitCode ?? 0;
    if (code === 0) return { verdict: 'AC', message: message || undefined };
    if (code === 1 || code === 2) return { verdict: 'WA', message: message || undefined };
    return { verdict: 'IE', message: `${who} exited with ${code}${message ? `: ${message}` : ''}` };
  }
  return { verdict: 'IE', message: `${who} ${r.status}${r.limit ? ` (${r.limit})` : ''}${r.signal ? ` signal ${r.signal}` : ''}${r.error ? `: ${r.error}` : ''}` };
}

function compileMessage(r: RunResult, text: string): string {
  if (r.status === 'TLE') return `${text}\ncompilation exceeded its time limit (${r.limit})`.trim();
  if (r.status === 'MLE') return `${text}\ncompilation exceeded its memory limit`.trim();
  if (r.status === 'OLE') return `${text}\ncompilation produced too much output`.trim();
  return text;
}

function ieResult(compile: CompileResult, error: string): JudgeResult {
  return { verdict: 'IE', timeMs: 0, memoryBytes: 0, compile, tests: [], error };
}

function finish(onEvent: (e: JudgeEvent) => void, result: JudgeResult): JudgeResult {
  onEvent({ type: 'verdict', result });
  return result;
}
