// Test helpers for the HTTP suites: a service on 127.0.0.1:0 with a temp data dir, small HTTP
// helpers, and FakeJudge — a stand-in judge for tests of the HTTP layer itself (validation,
// status mapping, SSE framing, store/queue durability). Tests of real judging use createJudge.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configWith, type Config } from '../../src/config.js';
import type {
  Judge, JudgeEvent, JudgeResult, LanguageInfo, Limits, RunRequest, RunResponse, Submission, TestResult, Verdict,
} from '../../src/judge/schema.js';
import { startServer, type Service } from '../../src/server.js';
import { validateRun, validateSubmission } from '../../src/judge/checks.js';

const sleep = (ms: number, signal?: AbortSignal) => new Promise<void>((resolve, reject) => {
  if (signal?.aborted) return reject(signal.reason);
  const t = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(); }, ms);
  const onAbort = () => { clearTimeout(t); reject(signal!.reason); };
  signal?.addEventListener('abort', onAbort, { once: true });
});

/**
 * Judges language "fake", whose source is a one-word program:
 *   echo        prints the input (AC when it matches expected)
 *   wrong       prints "nope" (WA)
 *   sleep:<ms>  sleeps <ms> per test, then echoes; aborts promptly
 *   crash       RE on every test      ce     compile error (CE)
 *   throw       the judge itself throws (IE)
 * It emits the same event sequence as the real judge and tracks pool occupancy.
 */
export const FAKE_LANGUAGES: LanguageInfo[] = [
  { id: 'fake', name: 'Fake', version: '1.0', extensions: ['fake'], source: 'main.fake', compile: ['fakec', 'main.fake'], run: ['./main'] },
  { id: 'fake2', name: 'Fake 2', version: '2.0', extensions: ['fk2'], source: 'main.fk2', run: ['fake2', 'main.fk2'] },
];

export class FakeJudge implements Judge {
  readonly caps: Required<Limits> = { timeMs: 10_000, wallTimeMs: 30_000, memoryBytes: 1 << 30, outputBytes: 1 << 26, processes: 64 };
  busy = 0;
  maxBusy = 0;
  judged = 0;
  closed = false;
  constructor(readonly size = 2, readonly telemetryEvery = 0) {}

  languages(): LanguageInfo[] {
    return FAKE_LANGUAGES;
  }

  pool() { return { size: this.size, busy: this.busy }; }

  // The real judge's checks, so the HTTP tests exercise the one validation path.
  validate(sub: Submission): void {
    validateSubmission(sub, { languages: this.languages().map((l) => l.id), caps: this.caps });
  }

  validateRun(req: RunRequest): void {
    validateRun(req, { languages: this.languages().map((l) => l.id), caps: this.caps });
  }

  async close() { this.closed = true; }

  private enter() {
    this.busy++;
    this.maxBusy = Math.max(this.maxBusy, this.busy);
    if (this.busy > this.size) throw new Error(`fake judge over capacity: ${this.busy} > ${this.size}`);
  }

  async judge(sub: Submission, onEvent: (e: JudgeEvent) => void, signal?: AbortSignal): Promise<JudgeResult> {
    this.enter();
    try {
      const program = (sub.source ?? sub.files?.[0]?.content ?? '').trim();
      if (program === 'throw') throw new Error('fake judge exploded');
      onEvent({ type: 'status', status: 'compiling' });
      const compile = { ok: program !== 'ce', output: program === 'ce' ? 'fake.src:1: error: expected program' : '', timeMs: 3 };
      onEvent({ type: 'compile', result: compile });
      if (!compile.ok) {
        const r: JudgeResult = { verdict: 'CE', timeMs: 0, memoryBytes: 0, compile, tests: [] };
        onEvent({ type: 'verdict', result: r });
        return r;
      }
      onEvent({ type: 'status', status: 'running' });
      const tests: TestResult[] = [];
      let score = 0;
      let maxScore = 0;
      const sleepMs = program.startsWith('sleep:') ? Number(program.slice(6)) : 0;
      for (let index = 0; index < (sub.tests ?? []).length; index++) {
        const t = sub.tests![index];
        const id = t.id ?? String(index + 1);
        maxScore += t.points ?? 1;
        onEvent({ type: 'test-start', id, index });
        if (sleepMs) {
          const steps = this.telemetryEvery ? Math.max(1, Math.floor(sleepMs / this.telemetryEvery)) : 1;
          for (let s = 0; s < steps; s++) {
            await sleep(sleepMs / steps, signal);
            if (this.telemetryEvery) onEvent({ type: 'telemetry', id, elapsedMs: (s + 1) * (sleepMs / steps), cpuTimeMs: s, memoryBytes: 1 << 20, processes: 1 });
          }
        }
        if (signal?.aborted) throw signal.reason;
        const stdout = program === 'wrong' ? 'nope' : t.input;
        let verdict: Verdict = stdout.trim().split(/\s+/).join(' ') === t.expected.trim().split(/\s+/).join(' ') ? 'AC' : 'WA';
        if (program === 'crash') verdict = 'RE';
        if (verdict === 'AC') score += t.points ?? 1;
        const result: TestResult = {
          id, verdict, timeMs: 1, wallTimeMs: 2 + sleepMs, memoryBytes: 2 << 20, exitCode: verdict === 'RE' ? 1 : 0, signal: null,
          stdout: stdout.slice(0, 100), ...(t.group !== undefined ? { group: t.group } : {}),
        };
        tests.push(result);
        onEvent({ type: 'test', index, result });
        if (verdict !== 'AC' && sub.stopOnFirstFailure) break;
      }
      const worst = tests.find((t) => t.verdict !== 'AC')?.verdict ?? 'AC';
      const r: JudgeResult = {
        verdict: worst, score, maxScore, timeMs: tests.length ? 1 : 0, memoryBytes: tests.length ? 2 << 20 : 0, compile, tests,
      };
      onEvent({ type: 'verdict', result: r });
      this.judged++;
      return r;
    } finally {
      this.busy--;
    }
  }

  async execute(req: RunRequest, signal?: AbortSignal): Promise<RunResponse> {
    this.enter();
    try {
      const ms = req.cmd?.[0] === 'sleep' ? Number(req.cmd[1]) : 0;
      if (ms) await sleep(ms, signal);
      return { status: 'OK', exitCode: 0, signal: null, cpuTimeMs: 1, wallTimeMs: 1 + ms, memoryBytes: 1 << 20, stdout: req.stdin ?? '', stderr: '' };
    } finally {
      this.busy--;
    }
  }
}

export interface TestServer extends Service {
  dataDir: string;
  /** Stops the service and, when the helper made the data dir, removes it. */
  close(): Promise<void>;
}

export function tempDir(prefix = 'gavel-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A service on 127.0.0.1:<free port> with a temp data dir (unless one is given). */
export async function startTestServer(opts: { config?: Partial<Config>; judge?: Judge; dataDir?: string } = {}): Promise<TestServer> {
  const ownDir = !opts.dataDir;
  const dataDir = opts.dataDir ?? tempDir();
  const config = configWith({
    port: 0, host: '127.0.0.1', dataDir, logLevel: (process.env.GAVEL_TEST_LOG as Config['logLevel']) ?? 'silent',
    shutdownMs: 2000, ...opts.config,
  });
  let svc: Service;
  try {
    svc = await startServer(config, { judge: opts.judge ?? new FakeJudge() });
  } catch (err) {
    if (ownDir) rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  return {
    ...svc,
    dataDir,
    async close() {
      await svc.stop();
      if (ownDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface JsonResponse<T = any> { status: number; headers: Headers; body: T; text: string }

/** fetch + JSON decode; never throws on HTTP status. */
export async function request<T = any>(base: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<JsonResponse<T>> {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === 'string' || body instanceof Uint8Array ? (body as string) : JSON.stringify(body);
    (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
  }
  const res = await fetch(base + path, init);
  const text = await res.text();
  let parsed: unknown = undefined;
  try { parsed = text ? JSON.parse(text) : undefined; } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, body: parsed as T, text };
}

export function fakeSubmission(program = 'echo', tests = 3, extra: Partial<Submission> = {}): Submission {
  return {
    language: 'fake',
    source: program,
    tests: Array.from({ length: tests }, (_, i) => ({ id: `t${i + 1}`, input: `${i} ${i + 1}\n`, expected: `${i} ${i + 1}` })),
    ...extra,
  };
}

/** Polls GET until the submission is finished; returns its final view. */
export async function waitFinished(base: string, id: string, timeoutMs = 60_000, headers: Record<string, string> = {}): Promise<any> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const r = await request(base, 'GET', `/v1/submissions/${id}`, undefined, headers);
    if (r.status === 200 && r.body.status === 'finished') return r.body;
    if (r.status !== 200) throw new Error(`GET ${id}: ${r.status} ${r.text}`);
    if (Date.now() > end) throw new Error(`submission ${id} not finished after ${timeoutMs} ms (status ${r.body.status})`);
    await sleep(25);
  }
}

export async function until(cond: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

export interface Child { proc: ChildProcess; url: string; exited: Promise<{ code: number | null; signal: string | null }>; log: string[] }

/** Starts a service process on a free port; resolves once it listens. */
export async function spawnService(script: string, env: Record<string, string>, args: string[] = []): Promise<Child> {
  const proc = spawn(process.execPath, [...args, script], {
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log: string[] = [];
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
    proc.on('exit', (code, signal) => resolve({ code, signal }));
  });
  const url = await new Promise<string>((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`service did not start:\n${log.join('\n')}`)), 60_000);
    proc.stdout!.on('data', (chunk: Buffer) => {
      buf += chunk.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        log.push(line);
        try {
          const rec = JSON.parse(line) as { msg?: string; url?: string };
          if (rec.msg === 'gavel listening' && rec.url) { clearTimeout(timer); resolve(rec.url); }
        } catch { /* not a log line */ }
      }
    });
    proc.stderr!.on('data', (chunk: Buffer) => log.push(chunk.toString()));
    void exited.then(({ code, signal }) => { clearTimeout(timer); reject(new Error(`service exited (${code ?? signal}) before listening:\n${log.join('\n')}`)); });
  });
  return { proc, url, exited, log };
}

/** Stops a service with SIGTERM and asserts that it exits cleanly (code 0, no signal). */
export async function stopService(child: Child): Promise<void> {
  child.proc.kill('SIGTERM');
  assert.deepEqual(await child.exited, { code: 0, signal: null });
}

/** For a `finally`: SIGKILLs a service a failed test left running, and waits for it. */
export async function killService(child: Child | undefined): Promise<void> {
  if (!child) return;
  child.proc.kill('SIGKILL');
  await child.exited;
}

export { sleep };

