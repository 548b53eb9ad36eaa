// The job queue between accepting a submission and judging it. A job is a submission id and
// nothing else: the request is read back from the store when judging starts, so the queue never
// holds bodies and a queue backend only has to move ids. Backends: in-process (./memory.ts,
// single node, rebuilt from the store at start); others (BullMQ for cluster mode) implement the
// same interface and are picked in src/services.ts.

/** One submission to judge. */
export interface Job {
  /** The submission's id; everything else is in the store. */
  id: string;
  /**
   * 1 for the first try; higher when the job is handed out again (a worker died or lost its
   * lock, the process restarted). Judging always restarts from scratch.
   */
  attempt: number;
  /** epoch ms when it entered the queue (for the queue-wait metric). */
  enqueuedAt: number;
}

/**
 * Judges one job. Resolves when the job is done with: finished in the store, or interrupted by
 * shutdown (the abort reason is an InterruptedError) and left unfinished for another attempt.
 * Rejects only for faults of the worker itself, which a backend may retry.
 */
export type JobHandler = (job: Job, signal: AbortSignal) => Promise<void>;

export type CancelOutcome =
  /** Taken out of the queue before any worker had it: the caller records the cancellation. */
  | 'queued'
  /** A worker has it and was told to stop (abort reason CancelledError): the worker records it. */
  | 'running';

export interface JobQueue {
  /**
   * Queues a submission that is already durable in the store. Idempotent per id: a second
   * enqueue of a waiting or running id does nothing.
   */
  enqueue(id: string, enqueuedAt?: number): Promise<void>;
  /**
   * Submissions accepted and not finished: waiting plus being judged, over every node sharing
   * the queue. GAVEL_QUEUE_MAX bounds this (429 beyond).
   */
  size(): Promise<number>;
  /** Submissions waiting for a worker. */
  depth(): Promise<number>;
  /** 1-based place of a waiting submission (1 = next); undefined when it is not waiting. */
  position(id: string): Promise<number | undefined>;
  /**
   * Seconds until a new submission would start, for Retry-After: depth × recent mean judging
   * time ÷ judging slots, at least 1.
   */
  retryAfter(): Promise<number>;
  /** Cancels a waiting or running job; undefined when the queue does not know the id. */
  cancel(id: string): Promise<CancelOutcome | undefined>;
  /**
   * Starts handing jobs to `handler` on this node (worker role), FIFO, as many at once as the
   * node's judging slots allow. Call at most once.
   */
  consume(handler: JobHandler): void;
  /**
   * Shutdown: hands out nothing more, lets running handlers finish for up to `deadlineMs`, then
   * aborts them with an InterruptedError (their submissions stay unfinished in the store and are
   * judged again by the next attempt). Resolves with how many were interrupted.
   */
  close(deadlineMs: number): Promise<{ interrupted: number }>;
}

/** 429: the bound on accepted work (GAVEL_QUEUE_MAX) or on waiting runs (GAVEL_RUN_QUEUE_MAX). */
export class QueueFullError extends Error {
  constructor(readonly what: 'submissions' | 'runs', readonly limit: number, readonly retryAfterSec: number) {
    super(what === 'submissions'
      ? `the queue is full: ${limit} submissions are waiting or running (GAVEL_QUEUE_MAX); retry later`
      : `${limit} runs are already waiting for a sandbox slot (GAVEL_RUN_QUEUE_MAX); retry later`);
    this.name = 'QueueFullError';
  }
}

/** 503: this node is draining and takes no new work. */
export class ShuttingDownError extends Error {
  constructor() {
    super('the service is shutting down and accepts no new work; retry against another instance or after restart');
    this.name = 'ShuttingDownError';
  }
}

/** Abort reason of a job whose submission was cancelled by a client (DELETE). */
export class CancelledError extends Error {
  constructor() {
    super('cancelled');
    this.name = 'CancelledError';
  }
}

/** Abort reason of a job stopped by shutdown: its submission must stay unfinished. */
export class InterruptedError extends Error {
  constructor() {
    super('shutdown');
    this.name = 'InterruptedError';
  }
}
