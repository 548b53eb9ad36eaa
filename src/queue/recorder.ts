// Records one submission's progress: turns the judge's events into stored events (each with the
// next seq), publishes each on the event bus once it is durable and in seq order, and finishes
// the submission (outcome + final event in one write, then metrics and the callback). Used by
// the worker judging a submission, and by whoever cancels one that no worker has yet.
import type { Logger } from 'pino';
import type { CompileResult, JudgeEvent, JudgeResult, TestResult } from '../judge/schema.js';
import type { EventBus } from '../events/types.js';
import type { Metrics } from '../metrics.js';
import type { Outcome, Store, StoredEvent, SubmissionRecord } from '../store/index.js';
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

interface Outgoing { ev: StoredEvent; state: 'wait' | 'ok' | 'drop' }

export class SubmissionRecorder {
  readonly log: Logger;
  private seq: number;
  private readonly outbox: Outgoing[] = [];
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
    return this.emit(type, data, (ev) => this.d.store.appendEvents(this.id, [ev]));
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
    let finishedHere = false;
    const stored = await this.emit('verdict', view, async (ev) => {
      finishedHere = await this.d.store.finish(this.id, outcome, finishedAt, ev);
      if (!finishedHere) throw new AlreadyFinished();
    });
    await this.flushed();
    if (!stored) {
      if (!finishedHere) this.log.warn('already finished by another attempt; this outcome is dropped');
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
    if (this.outbox.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.flushWaiters.push(resolve));
  }

  /**
   * Allocates the next seq, hands the event to `persist`, and publishes it once that resolves,
   * after every earlier one (an event that fails to persist is dropped: it would not survive a
   * restart, so no client may see it). Resolves whether it was stored; never rejects.
   */
  private emit(type: string, data: unknown, persist: (ev: StoredEvent) => Promise<unknown>): Promise<boolean> {
    const ev: StoredEvent = { seq: ++this.seq, type, data, at: Date.now() };
    const out: Outgoing = { ev, state: 'wait' };
    this.outbox.push(out);
    return persist(ev).then(
      () => { out.state = 'ok'; return true; },
      (err: unknown) => {
        out.state = 'drop';
        if (!(err instanceof AlreadyFinished)) {
          this.log.error({ err, seq: ev.seq, type: ev.type }, 'could not store an event; it is not sent');
        }
        return false;
      },
    ).finally(() => this.pump());
  }

  private pump(): void {
    while (this.outbox.length && this.outbox[0].state !== 'wait') {
      const { ev, state } = this.outbox.shift()!;
      if (state === 'ok') void this.d.bus.publish(this.id, ev);
    }
    if (this.outbox.length === 0) for (const f of this.flushWaiters.splice(0)) f();
  }
}

class AlreadyFinished extends Error {}
