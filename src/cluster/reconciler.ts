// Keeps the queue and the store in agreement. A submission is durable in PostgreSQL before it is
// queued, so a Redis outage (or an API node dying) between the two can leave one stored and not
// queued; Redis restored from an older state can lose jobs too. One node at a time (a lease in
// Redis) looks for unfinished submissions with no job and queues them again. Enqueueing is
// idempotent per id, so a race with a normal enqueue is harmless.
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { PostgresStore } from '../store/postgres.js';
import type { JobQueue } from '../queue/types.js';

export interface ReconcilerOptions {
  redis: Redis;
  store: PostgresStore;
  queue: JobQueue;
  /** The Redis key of a job's hash, by submission id. */
  jobKey(id: string): string;
  leaseKey: string;
  everyMs: number;
  /** Only submissions older than this are considered (younger ones may be mid-accept). */
  graceMs: number;
  logger: Logger;
}

export class Reconciler {
  private timer?: NodeJS.Timeout;
  private running?: Promise<unknown>;

  constructor(private readonly o: ReconcilerOptions) {}

  start(): void {
    this.timer = setInterval(() => { this.running ??= this.pass().finally(() => { this.running = undefined; }); }, this.o.everyMs);
    this.timer.unref();
  }

  /** One pass; returns how many submissions were queued again. */
  async pass(): Promise<number> {
    const { redis, store, queue, logger } = this.o;
    try {
      const leased = await redis.set(this.o.leaseKey, String(process.pid), 'PX', Math.max(1000, this.o.everyMs - 100), 'NX');
      if (leased !== 'OK') return 0;
      const ids = await store.unfinishedIds(Date.now() - this.o.graceMs);
      let requeued = 0;
      for (let i = 0; i < ids.length; i += 500) {
        const batch = ids.slice(i, i + 500);
        const p = redis.pipeline();
        for (const id of batch) p.exists(this.o.jobKey(id));
        const res = (await p.exec()) ?? [];
        for (let j = 0; j < batch.length; j++) {
          if (res[j]?.[1] === 1) continue;
          await queue.enqueue(batch[j]);
          requeued++;
        }
      }
      if (requeued) logger.warn({ requeued }, 'queued again stored submissions the queue had lost');
      return requeued;
    } catch (err) {
      logger.warn({ err }, 'reconciling the queue with the store failed; will retry');
      return 0;
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }
}
