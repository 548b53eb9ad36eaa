// The cluster's job queue on BullMQ (Redis). A job is a submission id (the BullMQ job id) and no
// data. Delivery is at-least-once: a worker that dies or hangs stops renewing its job's lock,
// BullMQ's stalled check puts the job back, and another worker judges it again from scratch.
// Each time a worker takes a job it claims the submission in the store, which bumps the
// submission's attempt and fences this node's writes for it to that attempt; a stale worker's
// writes are then refused, so exactly one attempt records the outcome and the verdict event.
//
// DELETE reaches whichever worker has the job: the canceller marks the submission in the store
// (seen by the next claim) and publishes the id on a Redis channel every worker listens to (seen
// by the one judging it now). Shutdown hands interrupted jobs straight back to the wait list.
import { Queue, Worker, WaitingError, type Job as BullJob } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { PostgresStore } from '../store/postgres.js';
import { redisCall } from '../cluster/redis.js';
import type { Slots, Release } from './slots.js';
import { CancelledError, InterruptedError, type CancelOutcome, type JobHandler, type JobQueue } from './types.js';

export interface BullQueueOptions {
  /** Request-path connection (fails fast when Redis is down). */
  command: Redis;
  /** A connection for the worker; BullMQ duplicates it for its blocking reads. */
  workerConnection?: Redis;
  /** Pub/sub connection for cancellations (worker nodes). */
  subscriber?: Redis;
  store: PostgresStore;
  slots: Slots;
  /** Judging slots over every live worker, for Retry-After. */
  clusterSlots(): Promise<number>;
  /** Mean judging time over the cluster, ms. */
  meanJobMs(): Promise<number>;
  /** Key prefix for the queue and the cancel channel. */
  prefix: string;
  /** How long a job's lock lasts without renewal; a dead worker's job is re-run after about this. */
  lockMs: number;
  /** Times a job may lose its worker before it is given up (finished IE). */
  maxStalled: number;
  logger: Logger;
  /** A job whose submission already finished (a worker died after storing the outcome). */
  onAlreadyFinished(id: string): Promise<void>;
  /** A job BullMQ gave up on (stalled too often, or the worker kept failing). */
  onGiveUp(id: string, reason: string): Promise<void>;
}

const QUEUE_NAME = 'submissions';
const WAITING_STATES = new Set(['waiting', 'prioritized', 'delayed', 'paused', 'waiting-children']);

interface Local { controller: AbortController; attempt?: number }

export class BullJobQueue implements JobQueue {
  readonly queue: Queue;
  private worker?: Worker;
  private readonly local = new Map<string, Local>();
  private closing = false;
  /** Jobs fetched while every slot was taken, waiting for one. */
  private readonly slotWaiters = new Set<{ fail(): void }>();
  /** Recent mean judging time on this node (advertised to the cluster for Retry-After). */
  meanJobMs = 1000;
  private readonly cancelChannel: string;

  constructor(private readonly o: BullQueueOptions) {
    this.queue = new Queue(QUEUE_NAME, {
      connection: o.command, prefix: o.prefix, skipWaitingForReady: true,
      // Failures here are the infrastructure's (a database outage): retry for about two minutes.
      // Failed jobs are not kept: a submission still unfinished then is queued again by the reconciler.
      defaultJobOptions: { removeOnComplete: true, removeOnFail: true, attempts: 8, backoff: { type: 'exponential', delay: 1000 } },
    });
    this.queue.on('error', (err) => o.logger.warn({ err }, 'job queue: Redis error'));
    this.cancelChannel = `${o.prefix}:cancel`;
    // A write of a superseded attempt: this node's worker lost the job; stop judging it.
    o.store.onFenced = (id, attempt) => {
      const l = this.local.get(id);
      if (l && l.attempt === attempt && !l.controller.signal.aborted) {
        o.logger.warn({ submissionId: id, attempt }, 'another worker took this submission over; stopping here');
        l.controller.abort(new InterruptedError());
      }
    };
  }

  async enqueue(id: string, enqueuedAt = Date.now()): Promise<void> {
    await redisCall(() => this.queue.add('judge', {}, { jobId: id, timestamp: enqueuedAt }));
  }

  async size(): Promise<number> {
    return redisCall(() => this.queue.getJobCountByTypes('waiting', 'prioritized', 'delayed', 'active'));
  }

  async depth(): Promise<number> {
    return redisCall(() => this.queue.getJobCountByTypes('waiting', 'prioritized', 'delayed'));
  }

  async position(id: string): Promise<number | undefined> {
    // The wait list is pushed on the left and taken from the right: the next job is the last.
    const key = `${this.o.prefix}:${QUEUE_NAME}:wait`;
    const [len, at] = await redisCall(() => Promise.all([this.o.command.llen(key), this.o.command.lpos(key, id)]));
    return at === null ? undefined : len - at;
  }

  async retryAfter(): Promise<number> {
    const [depth, slots, mean] = await Promise.all([this.depth(), this.o.clusterSlots(), this.o.meanJobMs()]);
    return Math.min(600, Math.max(1, Math.ceil((depth * mean) / Math.max(1, slots) / 1000)));
  }

  async cancel(id: string): Promise<CancelOutcome | undefined> {
    // Marked first, then taken out or announced: whoever claims it after the mark (a worker
    // that takes it meanwhile, or a re-queue after a failed cancel) sees it in the store, and
    // one that has it already hears the announcement.
    const unfinished = await this.o.store.requestCancel(id);
    const job = await redisCall(() => this.queue.getJob(id));
    if (job && WAITING_STATES.has(await redisCall(() => job.getState()))) {
      try {
        await job.remove();
        return 'queued';
      } catch {
        // A worker took it meanwhile (its lock refuses the removal): cancel it there.
      }
    }
    await redisCall(() => this.o.command.publish(this.cancelChannel, id));
    return job || unfinished ? 'running' : undefined;
  }

  consume(handler: JobHandler): void {
    if (this.worker) throw new Error('consume() was already called');
    const { o } = this;
    if (!o.workerConnection || !o.subscriber) throw new Error('a consuming queue needs a worker and a subscriber connection');
    o.subscriber.on('message', (channel: string, id: string) => {
      if (channel !== this.cancelChannel) return;
      const l = this.local.get(id);
      if (l && !l.controller.signal.aborted) l.controller.abort(new CancelledError());
    });
    void o.subscriber.subscribe(this.cancelChannel).catch((err) => o.logger.error({ err }, 'cannot subscribe to cancellations'));
    // Cancels announced while the subscriber was reconnecting are in the store.
    o.subscriber.on('ready', () => { void this.recheckCancels(); });

    this.worker = new Worker(QUEUE_NAME, (job, token) => this.process(job, token, handler), {
      connection: o.workerConnection, prefix: o.prefix, concurrency: o.slots.capacity, autorun: true,
      lockDuration: o.lockMs, stalledInterval: Math.max(1000, Math.floor(o.lockMs / 2)), maxStalledCount: o.maxStalled,
      drainDelay: 5,
    });
    this.worker.on('error', (err) => o.logger.warn({ err }, 'job worker: Redis error'));
    // A failed renewal (a Redis blip) is not yet a lost job: judging goes on. If the lock does
    // run out and another worker claims the submission, this node's next write is refused by
    // the attempt fence and judging stops then (onFenced).
    this.worker.on('lockRenewalFailed', (ids: string[]) => {
      o.logger.warn({ submissionIds: ids }, 'could not renew job locks; judging goes on unless another worker takes over');
    });
    this.worker.on('failed', (job, err) => {
      if (!job) return;
      const stalled = /stalled/i.test(err?.message ?? '');
      const exhausted = stalled || job.attemptsMade >= (job.opts.attempts ?? 1);
      if (!exhausted) return;
      o.logger.error({ submissionId: job.id, err }, 'giving up on a submission');
      void o.onGiveUp(job.id!, stalled
        ? `judging was cut short ${o.maxStalled + 1} times (workers died or hung while judging it)`
        : `the worker failed ${job.attemptsMade} times: ${err?.message ?? 'unknown error'}`)
        .catch((e) => o.logger.error({ err: e, submissionId: job.id }, 'could not record the give-up'));
    });
  }

  private async process(job: BullJob, token: string | undefined, handler: JobHandler): Promise<void> {
    const id = job.id!;
    let release: Release | undefined;
    const l: Local = { controller: new AbortController() };
    try {
      release = await this.slot();
      this.local.set(id, l);
      if (this.closing) throw new InterruptedError();
      const claim = await this.o.store.claim(id);
      if (!claim) {
        await this.o.onAlreadyFinished(id);
        return;
      }
      l.attempt = claim.attempt;
      this.o.store.fence(id, claim.attempt);
      if (claim.cancelRequested) l.controller.abort(new CancelledError());
      const began = Date.now();
      try {
        await handler({ id, attempt: claim.attempt, enqueuedAt: job.timestamp }, l.controller.signal);
        this.meanJobMs = 0.8 * this.meanJobMs + 0.2 * (Date.now() - began);
      } finally {
        this.o.store.unfence(id, claim.attempt);
      }
      if (l.controller.signal.reason instanceof InterruptedError) throw l.controller.signal.reason;
      // The handler could not store the outcome (the database was down): let BullMQ retry it.
      if ((await this.o.store.get(id))?.status !== 'finished') throw new Error(`submission ${id} did not finish; retrying`);
    } catch (err) {
      if (err instanceof InterruptedError && this.closing && token) {
        // Shutdown: straight back to the wait list for another worker, not a failure.
        await job.moveToWait(token).catch(() => undefined);
        throw new WaitingError();
      }
      throw err;
    } finally {
      if (this.local.get(id) === l) this.local.delete(id);
      release?.();
    }
  }

  /** A judging slot of this node; runs waiting for one go first. Rejects once closing. */
  private slot(): Promise<Release> {
    if (this.closing) return Promise.reject(new InterruptedError());
    const now = this.o.slots.tryAcquire();
    if (now) return Promise.resolve(now);
    return new Promise((resolve, reject) => {
      const waiter = { fail: () => { stop(); reject(new InterruptedError()); } };
      const stop = this.o.slots.onFree(() => {
        const r = this.o.slots.tryAcquire();
        if (!r) return;
        stop();
        this.slotWaiters.delete(waiter);
        resolve(r);
      });
      this.slotWaiters.add(waiter);
    });
  }

  private async recheckCancels(): Promise<void> {
    for (const [id, l] of this.local) {
      if (!l.controller.signal.aborted && (await this.o.store.cancelRequested(id).catch(() => false))) {
        l.controller.abort(new CancelledError());
      }
    }
  }

  /** Jobs this node is judging now. */
  get judging(): number {
    return this.local.size;
  }

  async close(deadlineMs: number): Promise<{ interrupted: number }> {
    this.closing = true;
    for (const w of [...this.slotWaiters]) w.fail();
    this.slotWaiters.clear();
    let interrupted = 0;
    if (this.worker) {
      // Take no new jobs; let running ones finish until the deadline, then interrupt them.
      const closed = this.worker.close();
      const timer = setTimeout(() => {
        for (const l of this.local.values()) {
          if (!l.controller.signal.aborted) { l.controller.abort(new InterruptedError()); interrupted++; }
        }
      }, deadlineMs);
      await closed;
      clearTimeout(timer);
    }
    await this.queue.close().catch(() => undefined);
    return { interrupted };
  }
}
