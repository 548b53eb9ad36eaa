// Records one submission's progress: turns the judge's events into stored events (each with the
// next seq), publishes each on the event bus once it is durable and in seq order, and finishes
// the submission (outcome + final event in one write, then metrics and the callback). Used by
// the worker judging a submission, and by whoever cancels one that no worker has yet.
//
// Writes of one submission go to the store one batch at a time, in seq order, so the store never
// holds an event whose predecessor is missing (a replay could skip it). A write the storage
// refuses (StorageError: full, read-only, failing) is retried until it is stored; meanwhile
// events wait here, at most MAX_PENDING of them: past that the recorder reports a stall and the
// worker stops judging, drops what was not stored and judges again once writes work.
import type { Logger } from 'pino';
import type { CompileResult, JudgeEvent, JudgeResult, TestResult } from '../judge/schema.js';
import type { EventBus } from '../events/types.js';
import type { Metrics } from '../metrics.js';
import { StorageError, type Outcome, type Store, type StoredEvent, type SubmissionRecord } from '../store/index.js';
import { toView } from '../view.js';
import type { WebhookSender } from '../webhook.js';

export interface RecorderDeps {
  store: Store;
  bus: EventBus;
  metrics: Metrics;
  webhooks: WebhookSender;
  logger: Logger;
  /** Most telemetry events per second per submission. */
  telemetryHz: number;
}

/** Events of one submission held while the storage refuses writes; beyond it judging stops. */
export const MAX_PENDING = 256;
const RETRY_FIRST_MS = 50;
const RETRY_MAX_MS = 1000;

/** One write to the store: plain events (batched), or the status change / final outcome. */
interface Pending {
  ev: StoredEvent;
  /** undefined: a plain event, appended with its neighbours in one write. */
  write?: (ev: StoredEvent) => Promise<unknown>;
  settle: (stored: boolean) => void;
}

export class SubmissionRecorder {
  readonly log: Logger;
  private seq: number;
  private readonly pending: Pending[] = [];
  private writing = false;
  /** Events of the write in flight (the head of `pending`). */
  private inFlight = 0;
  /** The last write was refused by the storage, and none has succeeded since. */
  private refused = false;
  private abandoned = false;
  private stalled = false;
  /** Called once when MAX_PENDING events wait on a refusing storage. */
  onStall?: () => void;
  private status: SubmissionRecord['status'];
  private lastTelemetry = 0;
  private compile?: CompileResult;
  private readonly tests: TestResult[] = [];
  private readonly testStarts = new Map<number, number>();
  private runStartedAt?: number;
  private startedAt?: number;
  private flushWaiters: Array<() => void> = [];

  constructor(private readonly d: RecorderDeps, private readonly rec: SubmissionRecord) {
    this.seq = rec.lastSeq;
    this.status = rec.status;
    this.log = d.logger.child({ submissionId: rec.id });
  }

  get id(): string { return this.rec.id; }

  /** Changes the status durably with the event that announces it (no-op when unchanged). */
  setStatus(status: 'queued' | 'compiling' | 'running', extra: Record<string, unknown> = {}, startedAt?: number): Promise<boolean> {
    if (this.status === status && !Object.keys(extra).length) return Promise.resolve(true);
    this.status = status;
    if (startedAt !== undefined) this.startedAt = startedAt;
    return this.emit('status', { status, ...extra }, (ev) => this.d.store.setStatus(this.id, status, ev, startedAt));
  }

  /** Stores one durable event of any type. */
  record(type: string, data: unknown): Promise<boolean> {
    return this.emit(type, data);
  }

  /** The judge's event handler; never throws into the judge. */
  readonly onJudgeEvent = (e: JudgeEvent): void => {
    try {
      const now = Date.now();
      const m = this.d.metrics;
      switch (e.type) {
        case 'status':
          if (e.status === 'running') this.runStartedAt ??= now;
          void this.setStatus(e.status);
          break;
        case 'compile':
          this.compile = e.result;
          m.phaseDuration.observe({ phase: 'compile' }, e.result.timeMs / 1000);
          void this.record('compile', { result: e.result });
          break;
        case 'test-start':
          this.runStartedAt ??= now;
          this.testStarts.set(e.index, now);
          void this.record('test-start', { id: e.id, index: e.index });
          break;
        case 'telemetry':
          if (!this.d.bus.watched(this.id) || now - this.lastTelemetry < 1000 / this.d.telemetryHz) break;
          this.lastTelemetry = now;
          this.d.bus.transient(this.id, 'telemetry', {
            id: e.id, elapsedMs: e.elapsedMs, cpuTimeMs: e.cpuTimeMs, memoryBytes: e.memoryBytes, processes: e.processes,
          });
          break;
        case 'test': {
          this.tests[e.index] = e.result;
          m.testCpu.observe(e.result.timeMs / 1000);
          m.testMemory.observe(e.result.memoryBytes);
          const began = this.testStarts.get(e.index);
          if (began !== undefined) m.phaseDuration.observe({ phase: 'check' }, Math.max(0, now - began - e.result.wallTimeMs) / 1000);
          if (e.result.verdict === 'IE') m.sandboxErrors.inc({ kind: 'test' });
          void this.record('test', { index: e.index, result: e.result });
          break;
        }
        case 'verdict':
          // The final event is ours: sent after the outcome is stored (see complete()).
          break;
      }
    } catch (err) {
      this.log.error({ err, event: e.type }, 'failed to handle a judge event');
    }
  };

  /** What was judged so far, for an outcome that did not come from the judge. */
  partial(): Pick<JudgeResult, 'tests' | 'timeMs' | 'memoryBytes' | 'compile'> {
    const tests = this.tests.filter(Boolean);
    return {
      tests,
      timeMs: tests.reduce((m, t) => Math.max(m, t.timeMs), 0),
      memoryBytes: tests.reduce((m, t) => Math.max(m, t.memoryBytes), 0),
      ...(this.compile ? { compile: this.compile } : {}),
    };
  }

  cancelledOutcome(): Outcome {
    return { verdict: 'IE', error: 'cancelled', cancelled: true, ...this.partial() };
  }

  failedOutcome(err: unknown): Outcome {
    this.log.error({ err }, 'the judge failed');
    return { verdict: 'IE', error: `judge failed: ${(err as Error)?.message ?? String(err)}`, ...this.partial() };
  }

  /**
   * Stores the outcome with the final event, publishes it, counts it and fires the callback.
   * Resolves false when it could not be stored, or when the submission was already finished
   * (then nothing is published or sent: exactly one final event per submission).
   */
  async complete(outcome: Outcome): Promise<boolean> {
    const finishedAt = Date.now();
    const rec: SubmissionRecord = {
      ...this.rec, status: 'finished', startedAt: this.startedAt ?? this.rec.startedAt, finishedAt, result: outcome,
      lastSeq: 0, callbackAttempts: 0,
    };
    const view = toView(rec);
    let already = false;
    const stored = await this.emit('verdict', view, async (ev) => {
      if (await this.d.store.finish(this.id, outcome, finishedAt, ev)) return;
      already = true;
      throw new AlreadyFinished();
    });
    await this.flushed();
    if (!stored) {
      if (already) this.log.warn('already finished by another attempt; this outcome is dropped');
      return false;
    }
    const m = this.d.metrics;
    m.submissions.inc({ language: this.rec.language, verdict: outcome.verdict });
    if (this.runStartedAt !== undefined) m.phaseDuration.observe({ phase: 'run' }, (finishedAt - this.runStartedAt) / 1000);
    if (outcome.verdict === 'IE' && !outcome.cancelled && !outcome.tests.some((t) => t.verdict === 'IE')) {
      m.sandboxErrors.inc({ kind: 'submission' });
    }
    this.log.info({ verdict: outcome.verdict, score: outcome.score, cancelled: outcome.cancelled }, 'finished');
    if (this.rec.callbackUrl) this.d.webhooks.deliver(this.id, this.rec.callbackUrl, view);
    return true;
  }

  /** Resolves once every event recorded so far has been stored (or dropped) and published. */
  flushed(): Promise<void> {
    if (this.pending.length === 0 && !this.writing) return Promise.resolve();
    return new Promise((resolve) => this.flushWaiters.push(resolve));
  }

  /**
   * Stops retrying: what is not stored yet is dropped (never published), and so is anything
   * recorded from now on. For shutdown, and for a stall before judging again from scratch.
   */
  abandon(): void {
    this.abandoned = true;
    for (const p of this.pending.splice(this.inFlight)) p.settle(false);
    this.settleFlush();
  }

  /**
   * Allocates the next seq and queues the event's write (`write`, or a plain append); it is
   * published once stored, after every earlier one. Resolves whether it was stored; never rejects.
   */
  private emit(type: string, data: unknown, write?: (ev: StoredEvent) => Promise<unknown>): Promise<boolean> {
    const ev: StoredEvent = { seq: ++this.seq, type, data, at: Date.now() };
    if (this.abandoned) return Promise.resolve(false);
    return new Promise<boolean>((settle) => {
      this.pending.push({ ev, write, settle });
      if (this.refused && this.pending.length > MAX_PENDING && !this.stalled) {
        this.stalled = true;
        this.onStall?.();
      }
      void this.drain();
    });
  }

  /** Writes the pending events in order, one batch at a time, until none is left. */
  private async drain(): Promise<void> {
    if (this.writing) return;
    this.writing = true;
    try {
      while (this.pending.length) {
        const head = this.pending[0];
        let n = 1;
        if (!head.write) while (n < this.pending.length && !this.pending[n].write && n < MAX_PENDING) n++;
        const batch = this.pending.slice(0, n);
        this.inFlight = n;
        const stored = await this.store(batch);
        this.inFlight = 0;
        this.pending.splice(0, batch.length);
        for (const p of batch) {
          if (stored) await this.d.bus.publish(this.id, p.ev).catch(() => undefined);
          p.settle(stored);
        }
      }
    } finally {
      this.writing = false;
      this.settleFlush();
    }
  }

  /** One write, retried while the storage refuses it; false when it is dropped. */
  private async store(batch: Pending[]): Promise<boolean> {
    const head = batch[0];
    let delay = RETRY_FIRST_MS;
    for (let attempt = 1; ; attempt++) {
      if (this.abandoned) return false;
      try {
        if (head.write) await head.write(head.ev);
        else await this.d.store.appendEvents(this.id, batch.map((p) => p.ev));
        this.refused = false;
        if (attempt > 1) this.log.info({ attempt, seq: head.ev.seq }, 'the store takes writes again; stored what waited');
        return true;
      } catch (err) {
        if (err instanceof AlreadyFinished) return false;
        if (!(err instanceof StorageError)) {
          this.log.error({ err, seq: head.ev.seq, type: head.ev.type }, 'could not store an event; it is not sent');
          return false;
        }
        this.refused = true;
        if (this.pending.length > MAX_PENDING && !this.stalled) {
          this.stalled = true;
          this.onStall?.();
        }
        if (attempt === 1) this.log.warn({ err, seq: head.ev.seq, type: head.ev.type }, 'the store refuses writes; retrying until it takes them');
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(RETRY_MAX_MS, delay * 2);
      }
    }
  }

  private settleFlush(): void {
    if (this.pending.length === 0 && !this.writing) for (const f of this.flushWaiters.splice(0)) f();
  }
}

class AlreadyFinished extends Error {}
