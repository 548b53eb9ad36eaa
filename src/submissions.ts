// Submissions as the HTTP layer sees them: accept (durably, then queue), look at, cancel, and
// re-queue what a previous process left unfinished. Built on the Store, JobQueue and EventBus
// interfaces only, so it is the same in single-node and cluster mode.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { CompileResult, Submission, TestResult } from './judge/schema.js';
import type { StoredEvent, SubmissionRecord } from './store/index.js';
import { QueueFullError, ShuttingDownError, type JobQueue } from './queue/types.js';
import { SubmissionRecorder, type RecorderDeps } from './queue/recorder.js';
import { toView, type LiveProgress, type SubmissionView } from './view.js';

export interface SubmissionServiceOptions extends RecorderDeps {
  queue: JobQueue;
  logger: Logger;
  /** GAVEL_QUEUE_MAX: submissions accepted and not finished. */
  queueMax: number;
}

export interface Accepted { id: string; position?: number; createdAt: number }

export type CancelResult =
  | { state: 'unknown' }
  | { state: 'finished' }
  /** Not waiting or running anywhere the queue knows of. */
  | { state: 'not_cancellable' }
  | { state: 'cancelled'; was: 'queued' | 'running'; view: SubmissionView; finished: boolean };

export class SubmissionService {
  private reserved = 0;
  private draining = false;

  constructor(private readonly o: SubmissionServiceOptions) {}

  get isDraining(): boolean { return this.draining; }

  /** Refuses new submissions from now on (shutdown). */
  stopAccepting(): void { this.draining = true; }

  /** Stores the submission durably, then queues it; 429 past GAVEL_QUEUE_MAX. */
  async accept(sub: Submission): Promise<Accepted> {
    const { store, queue, bus } = this.o;
    if (this.draining) throw new ShuttingDownError();
    // Reserved: accepted here but not yet counted by the queue, so a burst cannot overshoot.
    if ((await queue.size()) + this.reserved >= this.o.queueMax) {
      throw new QueueFullError('submissions', this.o.queueMax, await queue.retryAfter());
    }
    this.reserved++;
    const id = randomUUID();
    const createdAt = Date.now();
    try {
      const first: StoredEvent = { seq: 1, type: 'status', data: { status: 'queued', position: (await queue.depth()) + 1 }, at: createdAt };
      await store.insert({ id, language: sub.language, request: sub, createdAt, callbackUrl: sub.callbackUrl }, first);
      await bus.publish(id, first);
      await queue.enqueue(id, createdAt);
    } finally {
      this.reserved--;
    }
    const position = await queue.position(id);
    return position !== undefined ? { id, position, createdAt } : { id, createdAt };
  }

  /** Re-queues every unfinished submission in the store, oldest first. Single node, once, before serving. */
  async recover(): Promise<number> {
    const recs = await this.o.store.unfinished();
    for (const rec of recs) await this.o.queue.enqueue(rec.id, rec.createdAt);
    if (recs.length) this.o.logger.info({ count: recs.length }, 're-queued unfinished submissions');
    return recs.length;
  }

  /** The public view: the stored record, with progress so far while it is not finished. */
  async view(id: string): Promise<SubmissionView | undefined> {
    const rec = await this.o.store.get(id);
    if (!rec) return undefined;
    return rec.status === 'finished' ? toView(rec) : toView(rec, await this.progress(rec));
  }

  /** Place in the queue while waiting (1 = next); undefined otherwise. */
  position(id: string): Promise<number | undefined> {
    return this.o.queue.position(id);
  }

  /**
   * Cancels a queued or running submission and waits up to `waitMs` for it to end. Queued: it is
   * finished here at once (verdict IE, error "cancelled"). Running: the worker that has it stops
   * and finishes it the same way.
   */
  async cancel(id: string, waitMs: number): Promise<CancelResult> {
    const { store, queue } = this.o;
    const rec = await store.get(id);
    if (!rec) return { state: 'unknown' };
    if (rec.status === 'finished') return { state: 'finished' };
    const was = await queue.cancel(id);
    if (!was) return { state: 'not_cancellable' };
    if (was === 'queued') {
      // Taken off the queue: recording the cancellation is ours (retried while the store refuses
      // writes; if the process dies first, the submission is judged after the restart).
      const r = new SubmissionRecorder(this.o, rec);
      await within(r.complete(r.cancelledOutcome()), waitMs);
    } else {
      await this.waitFinal(id, rec.lastSeq, waitMs);
    }
    const after = await store.get(id);
    if (!after) return { state: 'unknown' };
    const finished = after.status === 'finished';
    return { state: 'cancelled', was, finished, view: finished ? toView(after) : toView(after, await this.progress(after)) };
  }

  /** Resolves when the submission's final event is out (its event stream ends), or after `ms`. */
  private async waitFinal(id: string, afterSeq: number, ms: number): Promise<void> {
    let unsubscribe: (() => void) | undefined;
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
      this.o.bus.subscribe(id, afterSeq, { send: () => undefined, end: resolve }).then(
        (u) => { unsubscribe = u; },
        () => resolve(),
      );
    });
    clearTimeout(timer);
    unsubscribe?.();
  }

  /** Progress of the current attempt, from its stored events (any node can answer this). */
  private async progress(rec: SubmissionRecord): Promise<LiveProgress> {
    const events = await this.o.store.events(rec.id, 0);
    let compile: CompileResult | undefined;
    let tests: TestResult[] = [];
    for (const ev of events) {
      const data = ev.data as { status?: string; result?: unknown; index?: number };
      if (ev.type === 'status' && data.status === 'queued') {
        // A new attempt starts from scratch.
        compile = undefined;
        tests = [];
      } else if (ev.type === 'compile') {
        compile = data.result as CompileResult;
      } else if (ev.type === 'test' && typeof data.index === 'number') {
        tests[data.index] = data.result as TestResult;
      }
    }
    const p: LiveProgress = { status: rec.status, tests: tests.filter(Boolean), startedAt: rec.startedAt, compile };
    if (rec.status === 'queued') {
      const position = await this.o.queue.position(rec.id);
      if (position !== undefined) p.position = position;
    }
    return p;
  }
}

/** Waits for `p` at most `ms`. */
async function within(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p, new Promise<void>((r) => { timer = setTimeout(r, ms); })]);
  clearTimeout(timer);
}
