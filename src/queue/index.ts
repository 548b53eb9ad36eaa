// The submission queue: FIFO, bounded over everything accepted and not finished, running at most
// judge.pool().size things at once (submissions and /v1/run calls share those slots; waiting runs
// go first because their clients are holding a connection open). The store is the truth: a
// submission is enqueued only after it is durable, its request is read back from the store when
// it starts (so the queue holds ids, not bodies), and recover() rebuilds the queue at start.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type {
  CompileResult, Judge, JudgeEvent, JudgeResult, Submission, TestResult,
} from '../judge/schema.js';
import type { EventHub } from '../events/hub.js';
import type { Metrics } from '../metrics.js';
import type { Outcome, Store, StoredEvent, SubmissionRecord, SubmissionStatus } from '../store/index.js';
import { toView, type LiveProgress } from '../view.js';
import type { WebhookSender } from '../webhook.js';

export class QueueFullError extends Error {
  constructor(readonly what: 'submissions' | 'runs', readonly limit: number, readonly retryAfterSec: number) {
    super(what === 'submissions'
      ? `the queue is full: ${limit} submissions are waiting or running (GAVEL_QUEUE_MAX); retry later`
      : `${limit} runs are already waiting for a sandbox slot (GAVEL_RUN_QUEUE_MAX); retry later`);
    this.name = 'QueueFullError';
  }
}

export class ShuttingDownError extends Error {
  constructor() {
    super('the service is shutting down and accepts no new work; retry against another instance or after restart');
    this.name = 'ShuttingDownError';
  }
}

interface Job {
  id: string;
  language: string;
  createdAt: number;
  /** When it entered this process's queue (createdAt for re-queued ones). */
  enqueuedAt: number;
  callbackUrl?: string;
  status: SubmissionStatus;
  startedAt?: number;
  runStartedAt?: number;
  controller?: AbortController;
  cancelled: boolean;
  /** Aborted by shutdown: must stay unfinished so the next start re-queues it. */
  interrupted: boolean;
  compile?: CompileResult;
  tests: TestResult[];
  testStarts: Map<number, number>;
  /** Settles when the job has left the queue for good (finished or dropped). */
  done?: Promise<void>;
}

interface RunWaiter { start(): void; fail(err: Error): void }

export interface QueueOptions {
  store: Store;
  judge: Judge;
  hub: EventHub;
  metrics: Metrics;
  webhooks: WebhookSender;
  logger: Logger;
  queueMax: number;
  runQueueMax: number;
}

export class SubmissionQueue {
  private readonly waiting: Job[] = [];
  private readonly jobs = new Map<string, Job>();
  private readonly runWaiters: RunWaiter[] = [];
  private running = 0;
  private runsActive = 0;
  private reserved = 0;
  private draining = false;
  private avgJobMs = 1000;
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly o: QueueOptions) {}

  /** Submissions waiting for a slot. */
  get depth(): number { return this.waiting.length; }
  /** Submissions accepted and not finished. */
  get inFlight(): number { return this.jobs.size + this.reserved; }
  get isDraining(): boolean { return this.draining; }
  private get slots(): number { return Math.max(1, this.o.judge.pool().size); }

  /** Rough seconds until a slot frees up, for Retry-After. */
  retryAfter(): number {
    return Math.min(60, Math.max(1, Math.ceil(this.avgJobMs / this.slots / 1000)));
  }

  /** Stores the submission durably, then queues it. */
  async accept(sub: Submission): Promise<{ id: string; position?: number; createdAt: number }> {
    if (this.draining) throw new ShuttingDownError();
    if (this.inFlight >= this.o.queueMax) throw new QueueFullError('submissions', this.o.queueMax, this.retryAfter());
    this.reserved++;
    const id = randomUUID();
    const createdAt = Date.now();
    const position = this.waiting.length + 1;
    const first: StoredEvent = { seq: 1, type: 'status', data: { status: 'queued', position }, at: createdAt };
    try {
      await this.o.store.insert({ id, language: sub.language, request: sub, createdAt, callbackUrl: sub.callbackUrl }, first);
    } finally {
      this.reserved--;
    }
    this.o.hub.open(id, first.seq, [first]);
    this.enqueue({
      id, language: sub.language, createdAt, enqueuedAt: createdAt, callbackUrl: sub.callbackUrl,
      status: 'queued', cancelled: false, interrupted: false, tests: [], testStarts: new Map(),
    });
    const now = this.waiting.findIndex((j) => j.id === id);
    return now >= 0 ? { id, position: now + 1, createdAt } : { id, createdAt };
  }

  /** Re-queues every unfinished submission in the store, oldest first. Call once, before serving. */
  async recover(): Promise<number> {
    const recs = await this.o.store.unfinished();
    const pending: Promise<unknown>[] = [];
    for (const rec of recs) {
      const history = await this.o.store.events(rec.id, 0);
      this.o.hub.open(rec.id, rec.lastSeq, history);
      const job: Job = {
        id: rec.id, language: rec.language, createdAt: rec.createdAt, enqueuedAt: rec.createdAt,
        callbackUrl: rec.callbackUrl, status: 'queued', cancelled: false, interrupted: false,
        tests: [], testStarts: new Map(),
      };
      this.jobs.set(job.id, job);
      this.waiting.push(job);
      if (rec.status !== 'queued') {
        // It was being judged when the previous process stopped: judging restarts from scratch,
        // and clients learn it from this event (tests they saw will be reported again).
        const data = { status: 'queued', position: this.waiting.length, requeued: true };
        pending.push(this.o.hub.emit(rec.id, 'status', data, (ev) => this.o.store.setStatus(rec.id, 'queued', ev)).done);
      }
    }
    await Promise.all(pending);
    if (recs.length) this.o.logger.info({ count: recs.length }, 're-queued unfinished submissions');
    this.pump();
    return recs.length;
  }

  /** Live progress for GET, or undefined when this process is not handling the submission. */
  progress(id: string): LiveProgress | undefined {
    const job = this.jobs.get(id);
    if (!job) return undefined;
    const p: LiveProgress = { status: job.status, tests: job.tests.filter(Boolean), startedAt: job.startedAt, compile: job.compile };
    if (job.status === 'queued') {
      const i = this.waiting.indexOf(job);
      if (i >= 0) p.position = i + 1;
    }
    return p;
  }

  /**
   * Cancels a queued or running submission. Queued: finished at once (verdict IE, error
   * "cancelled"). Running: its AbortSignal fires and it finishes the same way when the judge
   * returns. Returns what happened, or undefined when it is not queued or running here.
   */
  cancel(id: string): { was: 'queued' | 'running'; done: Promise<void> } | undefined {
    const job = this.jobs.get(id);
    if (!job) return undefined;
    if (job.cancelled) return { was: 'running', done: job.done ?? Promise.resolve() };
    job.cancelled = true;
    const i = this.waiting.indexOf(job);
    if (i >= 0) {
      this.waiting.splice(i, 1);
      job.done = this.complete(job, this.cancelledOutcome(job), this.o.logger.child({ submissionId: id }));
      this.announcePositions();
      return { was: 'queued', done: job.done };
    }
    job.controller?.abort(new Error('cancelled'));
    return { was: 'running', done: job.done ?? Promise.resolve() };
  }

  /** Runs `fn` in a sandbox slot (for /v1/run), waiting for one if needed. */
  async run<T>(fn: (signal: AbortSignal) => Promise<T>, signal: AbortSignal): Promise<T> {
    if (this.draining) throw new ShuttingDownError();
    const free = this.slots - this.running - this.runsActive;
    if (free <= 0 || this.runWaiters.length > 0) {
      if (this.runWaiters.length >= this.o.runQueueMax) throw new QueueFullError('runs', this.o.runQueueMax, this.retryAfter());
      await new Promise<void>((resolve, reject) => {
        const w: RunWaiter = {
          start: () => { signal.removeEventListener('abort', onAbort); resolve(); },
          fail: (err) => { signal.removeEventListener('abort', onAbort); reject(err); },
        };
        const onAbort = () => {
          const i = this.runWaiters.indexOf(w);
          if (i >= 0) this.runWaiters.splice(i, 1);
          reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
        };
        signal.addEventListener('abort', onAbort, { once: true });
        this.runWaiters.push(w);
      });
    } else {
      this.runsActive++;
    }
    try {
      return await fn(signal);
    } finally {
      this.runsActive--;
      this.pump();
    }
  }

  /**
   * Shutdown: stops starting work, lets running work finish for up to `deadlineMs`, then aborts
   * what is left; aborted submissions stay unfinished in the store and run again at next start.
   */
  async drain(deadlineMs: number): Promise<{ interrupted: number }> {
    this.draining = true;
    for (const w of this.runWaiters.splice(0)) w.fail(new ShuttingDownError());
    const idle = () => this.running === 0 && this.runsActive === 0;
    const waitIdle = (ms: number) => new Promise<boolean>((resolve) => {
      if (idle()) return resolve(true);
      const t = setTimeout(() => { this.idleWaiters = this.idleWaiters.filter((f) => f !== onIdle); resolve(idle()); }, ms);
      const onIdle = () => { clearTimeout(t); resolve(true); };
      this.idleWaiters.push(onIdle);
    });
    if (await waitIdle(deadlineMs)) return { interrupted: 0 };
    let interrupted = 0;
    for (const job of this.jobs.values()) {
      if (job.controller && !job.cancelled) {
        job.interrupted = true;
        job.controller.abort(new Error('shutdown'));
        interrupted++;
      }
    }
    // Give aborted judges a moment to clean up their sandboxes before the judge is closed.
    await waitIdle(5000);
    return { interrupted };
  }

  private enqueue(job: Job): void {
    this.jobs.set(job.id, job);
    this.waiting.push(job);
    this.pump();
  }

  private pump(): void {
    let dispatched = false;
    while (!this.draining && this.slots - this.running - this.runsActive > 0) {
      const w = this.runWaiters.shift();
      if (w) {
        this.runsActive++;
        w.start();
        continue;
      }
      const job = this.waiting.shift();
      if (!job) break;
      this.running++;
      dispatched = true;
      job.done = this.execute(job)
        .catch((err) => this.o.logger.error({ err, submissionId: job.id }, 'submission crashed the queue worker'))
        .finally(() => {
          this.running--;
          this.pump();
          if (this.running === 0 && this.runsActive === 0) for (const f of this.idleWaiters.splice(0)) f();
        });
    }
    if (dispatched) this.announcePositions();
    if (this.running === 0 && this.runsActive === 0) for (const f of this.idleWaiters.splice(0)) f();
  }

  /** Tells watchers of queued submissions where they now stand (transient; not stored). */
  private announcePositions(): void {
    this.waiting.forEach((job, i) => {
      if (this.o.hub.subscriberCount(job.id) > 0) this.o.hub.transient(job.id, 'status', { status: 'queued', position: i + 1 });
    });
  }

  private setStatus(job: Job, status: 'compiling' | 'running', startedAt?: number): void {
    if (job.status === status) return;
    job.status = status;
    this.o.hub.emit(job.id, 'status', { status }, (ev) => this.o.store.setStatus(job.id, status, ev, startedAt));
  }

  private record(job: Job, type: string, data: unknown): void {
    this.o.hub.emit(job.id, type, data, (ev) => this.o.store.appendEvents(job.id, [ev]));
  }

  private async execute(job: Job): Promise<void> {
    const log = this.o.logger.child({ submissionId: job.id });
    const startedAt = Date.now();
    this.o.metrics.queueWait.observe((startedAt - job.enqueuedAt) / 1000);
    job.startedAt = startedAt;
    job.controller = new AbortController();
    // "compiling" covers preparing the sandbox for interpreted languages too.
    this.setStatus(job, 'compiling', startedAt);
    log.info({ language: job.language }, 'judging');
    let result: JudgeResult | undefined;
    let failure: unknown;
    try {
      const sub = await this.o.store.request(job.id);
      if (!sub) throw new Error('the submission vanished from the store');
      result = await this.o.judge.judge(sub, (e) => this.onEvent(job, e, log), job.controller.signal);
    } catch (err) {
      failure = err;
    }
    if (job.interrupted) {
      log.warn('judging interrupted by shutdown; the submission stays queued in the store');
      this.drop(job);
      return;
    }
    const outcome: Outcome = job.cancelled ? this.cancelledOutcome(job) : result ?? this.failedOutcome(job, failure, log);
    this.avgJobMs = 0.8 * this.avgJobMs + 0.2 * (Date.now() - startedAt);
    await this.complete(job, outcome, log);
  }

  private onEvent(job: Job, e: JudgeEvent, log: Logger): void {
    // The judge calls this synchronously from its own code; never throw into it.
    try {
      const now = Date.now();
      switch (e.type) {
        case 'status':
          if (e.status === 'running') job.runStartedAt ??= now;
          this.setStatus(job, e.status);
          break;
        case 'compile':
          job.compile = e.result;
          this.o.metrics.phaseDuration.observe({ phase: 'compile' }, e.result.timeMs / 1000);
          this.record(job, 'compile', { result: e.result });
          break;
        case 'test-start':
          job.runStartedAt ??= now;
          job.testStarts.set(e.index, now);
          this.record(job, 'test-start', { id: e.id, index: e.index });
          break;
        case 'telemetry':
          this.o.hub.telemetry(job.id, {
            id: e.id, elapsedMs: e.elapsedMs, cpuTimeMs: e.cpuTimeMs, memoryBytes: e.memoryBytes, processes: e.processes,
          });
          break;
        case 'test': {
          job.tests[e.index] = e.result;
          const m = this.o.metrics;
          m.testCpu.observe(e.result.timeMs / 1000);
          m.testMemory.observe(e.result.memoryBytes);
          const began = job.testStarts.get(e.index);
          if (began !== undefined) m.phaseDuration.observe({ phase: 'check' }, Math.max(0, now - began - e.result.wallTimeMs) / 1000);
          if (e.result.verdict === 'IE') m.sandboxErrors.inc({ kind: 'test' });
          this.record(job, 'test', { index: e.index, result: e.result });
          break;
        }
        case 'verdict':
          // The final event is ours: sent after the outcome is stored (see complete()).
          break;
      }
    } catch (err) {
      log.error({ err, event: e.type }, 'failed to handle a judge event');
    }
  }

  private partial(job: Job): Pick<JudgeResult, 'tests' | 'timeMs' | 'memoryBytes' | 'compile'> {
    const tests = job.tests.filter(Boolean);
    return {
      tests,
      timeMs: tests.reduce((m, t) => Math.max(m, t.timeMs), 0),
      memoryBytes: tests.reduce((m, t) => Math.max(m, t.memoryBytes), 0),
      ...(job.compile ? { compile: job.compile } : {}),
    };
  }

  private cancelledOutcome(job: Job): Outcome {
    return { verdict: 'IE', error: 'cancelled', cancelled: true, ...this.partial(job) };
  }

  private failedOutcome(job: Job, err: unknown, log: Logger): Outcome {
    log.error({ err }, 'the judge failed');
    return { verdict: 'IE', error: `judge failed: ${(err as Error)?.message ?? String(err)}`, ...this.partial(job) };
  }

  /** Leaves the submission as it is in the store (unfinished) and forgets it here. */
  private drop(job: Job): void {
    this.jobs.delete(job.id);
    this.o.hub.closeOne(job.id);
  }

  /** Stores the outcome, then sends the final event, counts it, and fires the callback. */
  private async complete(job: Job, outcome: Outcome, log: Logger): Promise<void> {
    const finishedAt = Date.now();
    const rec: SubmissionRecord = {
      id: job.id, language: job.language, status: 'finished', createdAt: job.createdAt,
      startedAt: job.startedAt, finishedAt, result: outcome, lastSeq: 0, callbackAttempts: 0,
    };
    const view = toView(rec);
    const { done } = this.o.hub.emit(job.id, 'verdict', view, async (ev) => { await this.o.store.finish(job.id, outcome, finishedAt, ev); });
    const stored = await done;
    this.jobs.delete(job.id);
    this.o.hub.end(job.id);
    if (!stored) {
      log.error('could not store the outcome; the submission stays unfinished and is judged again at next start');
      return;
    }
    const m = this.o.metrics;
    m.submissions.inc({ language: job.language, verdict: outcome.verdict });
    if (job.runStartedAt !== undefined) m.phaseDuration.observe({ phase: 'run' }, (finishedAt - job.runStartedAt) / 1000);
    if (outcome.verdict === 'IE' && !outcome.cancelled && !outcome.tests.some((t) => t.verdict === 'IE')) {
      m.sandboxErrors.inc({ kind: 'submission' });
    }
    log.info({ verdict: outcome.verdict, score: outcome.score, cancelled: outcome.cancelled }, 'finished');
    if (job.callbackUrl) this.o.webhooks.deliver(job.id, job.callbackUrl, view);
  }
}
