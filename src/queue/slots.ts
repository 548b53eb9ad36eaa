// The judging slots of one node (one per sandbox of its pool), shared by submissions and
// /v1/run calls. Runs go first: their clients hold a connection open, while a submission's
// client is already answered. Local to a node whatever the queue backend is: a BullMQ worker
// takes a slot per job the same way the in-process queue does.
import { QueueFullError } from './types.js';

/** Gives the slot back; calling it twice is harmless. */
export type Release = () => void;

interface RunWaiter { start(release: Release): void; fail(err: Error): void }

export class Slots {
  private used = 0;
  private readonly runWaiters: RunWaiter[] = [];
  private readonly freeListeners = new Set<() => void>();
  private refusing?: () => Error;
  /** Running mean of how long a slot is held (judging or a run), for Retry-After. */
  private meanHoldMs = 100;

  /**
   * @param size how many slots (read on each use: the judge's pool size)
   * @param runQueueMax how many runs may wait for a slot (GAVEL_RUN_QUEUE_MAX)
   */
  constructor(private readonly size: () => number, private readonly runQueueMax: number) {}

  /** Seconds until a run that joins the line now would get a slot: the line drained at the recent pace. */
  retryAfter(): number {
    return retryAfterSeconds(this.runWaiters.length + 1, this.meanHoldMs, this.capacity);
  }

  get capacity(): number { return Math.max(1, this.size()); }
  get busy(): number { return this.used; }
  get waitingRuns(): number { return this.runWaiters.length; }

  /** A slot for judging, when one is free and no run waits for it; otherwise undefined. */
  tryAcquire(): Release | undefined {
    if (this.refusing || this.runWaiters.length || this.used >= this.capacity) return undefined;
    return this.take();
  }

  /** A slot for a run, waiting ahead of judging; rejects past runQueueMax, on abort or on refuseAll. */
  acquireRun(signal: AbortSignal): Promise<Release> {
    if (this.refusing) return Promise.reject(this.refusing());
    if (signal.aborted) return Promise.reject(abortReason(signal));
    if (this.used < this.capacity && this.runWaiters.length === 0) return Promise.resolve(this.take());
    if (this.runWaiters.length >= this.runQueueMax) {
      return Promise.reject(new QueueFullError('runs', this.runQueueMax, this.retryAfter()));
    }
    return new Promise<Release>((resolve, reject) => {
      const onAbort = () => {
        const i = this.runWaiters.indexOf(w);
        if (i >= 0) this.runWaiters.splice(i, 1);
        reject(abortReason(signal));
      };
      const w: RunWaiter = {
        start: (release) => { signal.removeEventListener('abort', onAbort); resolve(release); },
        fail: (err) => { signal.removeEventListener('abort', onAbort); reject(err); },
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.runWaiters.push(w);
    });
  }

  /** Calls `fn` whenever a slot may have become free for judging; returns the unsubscribe. */
  onFree(fn: () => void): () => void {
    this.freeListeners.add(fn);
    return () => { this.freeListeners.delete(fn); };
  }

  /** Shutdown: no slot is handed out any more; waiting runs fail with `reason()`. */
  refuseAll(reason: () => Error): void {
    this.refusing = reason;
    for (const w of this.runWaiters.splice(0)) w.fail(reason());
  }

  /** Resolves when no slot is in use, or after `ms` (then false). */
  idle(ms: number): Promise<boolean> {
    if (this.used === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const stop = this.onFree(() => {
        if (this.used !== 0) return;
        clearTimeout(timer);
        stop();
        resolve(true);
      });
      const timer = setTimeout(() => { stop(); resolve(this.used === 0); }, ms);
    });
  }

  private take(): Release {
    this.used++;
    const since = Date.now();
    let given = false;
    return () => {
      if (given) return;
      given = true;
      this.meanHoldMs = 0.8 * this.meanHoldMs + 0.2 * (Date.now() - since);
      this.used--;
      this.handOut();
    };
  }

  private handOut(): void {
    while (!this.refusing && this.runWaiters.length && this.used < this.capacity) {
      this.runWaiters.shift()!.start(this.take());
    }
    for (const fn of [...this.freeListeners]) fn();
  }
}

function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error('aborted');
}

/** Retry-After for work joining a line `depth` long: the line drained at the recent pace, at least 1 s. */
export function retryAfterSeconds(depth: number, meanJobMs: number, slots: number): number {
  return Math.max(1, Math.ceil((depth * meanJobMs) / Math.max(1, slots) / 1000));
}
