// The durable state of the service: the one source of truth every other part (job queue, event
// bus, worker) defers to. Anything a client was promised (a 202, a finished result, an event id)
// is in the store before the promise is made. Backends: SQLite (./sqlite.ts, single node);
// others (PostgreSQL for cluster mode) implement the same interface, picked in src/services.ts.
import type { JudgeResult, Submission } from '../judge/schema.js';

export type SubmissionStatus = 'queued' | 'compiling' | 'running' | 'finished';
export type CallbackState = 'pending' | 'delivered' | 'failed';

/** One durable SSE event; `seq` is the per-submission sequence number clients resume from. */
export interface StoredEvent {
  seq: number;
  type: string;
  data: unknown;
  /** epoch ms */
  at: number;
}

/** What a submission's outcome is stored as: the judge's result, marked when it was cancelled. */
export type Outcome = JudgeResult & { cancelled?: boolean };

export interface SubmissionRecord {
  id: string;
  language: string;
  status: SubmissionStatus;
  /** epoch ms */
  createdAt: number;
  startedAt?: number;
  finishedAt?: number;
  result?: Outcome;
  /** Highest event seq stored for this submission. */
  lastSeq: number;
  callbackUrl?: string;
  callbackState?: CallbackState;
  callbackAttempts: number;
}

export interface NewSubmission {
  id: string;
  language: string;
  request: Submission;
  createdAt: number;
  callbackUrl?: string;
}

export interface Store {
  // Writes reject with StorageError when the storage is at fault (full, read-only, failing):
  // callers retry those; any other rejection is a bug or a missing row.

  /** Resolves once the submission and its first event are durable. */
  insert(sub: NewSubmission, first: StoredEvent): Promise<void>;
  get(id: string): Promise<SubmissionRecord | undefined>;
  /** The submission exactly as the client sent it. */
  request(id: string): Promise<Submission | undefined>;
  /** Changes status (and started-at when given) and appends the event that announced it. */
  setStatus(id: string, status: Exclude<SubmissionStatus, 'finished'>, event: StoredEvent, startedAt?: number): Promise<void>;
  appendEvents(id: string, events: StoredEvent[]): Promise<void>;
  /** Events with seq > afterSeq, in order. */
  events(id: string, afterSeq: number): Promise<StoredEvent[]>;
  /**
   * Records the outcome and the final event in one step and marks the callback pending when there
   * is one. Idempotent: resolves false (and stores nothing) when the submission is already
   * finished, so a submission judged twice (a worker that lost its job, a cancel racing the end)
   * keeps exactly one outcome and one final event. Rejects when the submission is unknown.
   */
  finish(id: string, result: Outcome, finishedAt: number, event: StoredEvent): Promise<boolean>;
  /** Every submission not finished, oldest first (createdAt, then insertion order). */
  unfinished(): Promise<SubmissionRecord[]>;
  /** Deletes finished submissions (and their events) that finished before `before`; returns how many. */
  purgeFinished(before: number): Promise<number>;
  /** Finished submissions whose callback is still pending, oldest first. */
  pendingCallbacks(): Promise<SubmissionRecord[]>;
  setCallbackState(id: string, state: CallbackState, attempts: number): Promise<void>;
  /**
   * Throws when the store cannot serve (readiness): a StorageError while writes fail, until one
   * succeeds again (a backend may probe with a small write while it is failing).
   */
  check(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The store cannot take writes (or serve at all) for a reason of the storage itself: the disk is
 * full, read-only or failing. Retrying later can succeed; nothing about the request is wrong.
 * Backends turn their own errors into this so the layers above can tell it from a bug.
 */
export class StorageError extends Error {
  constructor(
    message: string,
    /** full: out of space (507 for new work); unavailable: read-only, I/O errors, gone (503). */
    readonly kind: 'full' | 'unavailable',
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'StorageError';
  }
}
