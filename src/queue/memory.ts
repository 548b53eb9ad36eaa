// The in-process job queue (single node): FIFO of submission ids, handed to the worker as this
// node's slots free up. It holds nothing the store does not: at start, the service re-queues
// the store's unfinished submissions (SubmissionService.recover), so a crash loses no job.
import type { Logger } from 'pino';
import { retryAfterSeconds, type Slots } from './slots.js';
import { CancelledError, InterruptedError, type CancelOutcome, type Job, type JobHandler, type JobQueue } from './types.js';

interface Entry {
  job: Job;
  controller?: AbortController;
  done?: Promise<void>;
}

export interface MemoryQueueOptions {
  slots: Slots;
  logger: Logger;
  /** Called with each waiting submission's new place when places change (for SSE). */
  onPosition?: (id: string, position: number) => void;
}

/** Weight of the newest judging time in the running mean behind retryAfter(). */
const MEAN_WEIGHT = 0.2;

export class MemoryQueue implements JobQueue {
  private readonly waiting: Entry[] = [];
  private readonly entries = new Map<string, Entry>();
  private handler?: JobHandler;
  private closing = false;
  private meanJobMs = 1000;

  constructor(private readonly o: MemoryQueueOptions) {
    o.slots.onFree(() => this.pump());
  }

  async enqueue(id: string, enqueuedAt = Date.now()): Promise<void> {
    if (this.entries.has(id)) return;
    const entry: Entry = { job: { id, attempt: 1, enqueuedAt } };
    this.entries.set(id, entry);
    this.waiting.push(entry);
    this.pump();
  }

  async size(): Promise<number> { return this.entries.size; }
  async depth(): Promise<number> { return this.waiting.length; }

  async position(id: string): Promise<number | undefined> {
    const e = this.entries.get(id);
    const i = e ? this.waiting.indexOf(e) : -1;
    return i >= 0 ? i + 1 : undefined;
  }

  async retryAfter(): Promise<number> {
    return retryAfterSeconds(this.waiting.length, this.meanJobMs, this.o.slots.capacity);
  }

  async cancel(id: string): Promise<CancelOutcome | undefined> {
    const e = this.entries.get(id);
    if (!e) return undefined;
    const i = this.waiting.indexOf(e);
    if (i >= 0) {
      this.waiting.splice(i, 1);
      this.entries.delete(id);
      this.announce();
      return 'queued';
    }
    e.controller?.abort(new CancelledError());
    return 'running';
  }

  consume(handler: JobHandler): void {
    if (this.handler) throw new Error('the queue already has a consumer');
    this.handler = handler;
    this.pump();
  }

  async close(deadlineMs: number): Promise<{ interrupted: number }> {
    this.closing = true;
    const running = () => [...this.entries.values()].filter((e) => e.done);
    const settled = (ms: number) => Promise.race([
      Promise.allSettled(running().map((e) => e.done)).then(() => true),
      new Promise<boolean>((r) => { const t = setTimeout(() => r(false), ms); t.unref(); }),
    ]);
    if (await settled(deadlineMs)) return { interrupted: 0 };
    const left = running();
    for (const e of left) e.controller!.abort(new InterruptedError());
    // Give aborted judges a moment to clean up their sandboxes before the judge is closed.
    await settled(5000);
    return { interrupted: left.length };
  }

  private pump(): void {
    let dispatched = false;
    while (this.handler && !this.closing && this.waiting.length) {
      const release = this.o.slots.tryAcquire();
      if (!release) break;
      const e = this.waiting.shift()!;
      dispatched = true;
      const controller = (e.controller = new AbortController());
      const started = Date.now();
      e.done = this.handler(e.job, controller.signal)
        .catch((err) => this.o.logger.error({ err, submissionId: e.job.id }, 'the worker failed on a submission'))
        .finally(() => {
          this.meanJobMs = (1 - MEAN_WEIGHT) * this.meanJobMs + MEAN_WEIGHT * (Date.now() - started);
          this.entries.delete(e.job.id);
          release();
        });
    }
    if (dispatched) this.announce();
  }

  private announce(): void {
    const notify = this.o.onPosition;
    if (notify) this.waiting.forEach((e, i) => notify(e.job.id, i + 1));
  }
}
