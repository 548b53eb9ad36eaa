// Cluster mode's backends (GAVEL_DATABASE_URL + GAVEL_REDIS_URL): PostgreSQL store, BullMQ job
// queue, Redis Streams event bus, the worker registry, and — on API-only nodes — /v1/run
// relayed to a worker. GAVEL_ROLE decides what a node does: `api` takes HTTP and never judges,
// `worker` judges (and answers HTTP for health, metrics and relayed runs), `all` does both.
import type { Redis } from 'ioredis';
import type { BackendContext, Backends } from '../services.js';
import { PostgresStore } from '../store/postgres.js';
import { BullJobQueue } from '../queue/bullmq.js';
import { RedisEventBus } from '../events/redis.js';
import { connectRedis, throttled } from './redis.js';
import { WorkerRegistry } from './registry.js';
import { RelayRunService } from './relay.js';
import { Reconciler } from './reconciler.js';

export interface ClusterBackends extends Backends {
  store: PostgresStore;
  queue: BullJobQueue;
  bus: RedisEventBus;
  registry: WorkerRegistry;
  /** Redis for request-path commands (health checks, metrics). */
  redis: Redis;
  /** Called by a worker when it takes a job whose submission already finished. */
  onAlreadyFinished?: (id: string) => Promise<void>;
}

/** Whether this configuration asks for cluster mode. */
export function isClusterMode(c: BackendContext['config']): boolean {
  return c.databaseUrl !== undefined && c.redisUrl !== undefined;
}

/** Whether this node judges (owns a sandbox pool). */
export function judges(c: BackendContext['config']): boolean {
  return !isClusterMode(c) || c.role !== 'api';
}

export interface ClusterHooks {
  /** A job's submission already finished (a worker died after storing it): publish what the stream lacks. */
  onAlreadyFinished(id: string): Promise<void>;
  /** BullMQ gave up on a job: finish the submission as IE with this reason. */
  onGiveUp(id: string, reason: string): Promise<void>;
}

export async function clusterBackends(ctx: BackendContext, hooks: ClusterHooks): Promise<ClusterBackends> {
  const { config, logger } = ctx;
  const log = logger.child({ component: 'cluster' });
  const redisUrl = config.redisUrl!;
  const prefix = config.redisPrefix;
  const onRedisError = throttled((err) => log.warn({ err: err.message }, 'Redis connection problem'));
  const onPgError = throttled((err) => log.warn({ err: err.message }, 'PostgreSQL connection problem'));
  const opened: Array<{ close(): unknown }> = [];
  const closeAll = async () => { for (const c of opened.reverse()) await Promise.resolve(c.close()).catch(() => undefined); };
  const redisCloser = (r: Redis) => ({ close: () => r.quit().catch(() => r.disconnect()) });

  try {
    const store = await PostgresStore.open({ url: config.databaseUrl!, max: config.databasePoolSize, onError: onPgError });
    opened.push(store);
    const command = await connectRedis(redisUrl, 'command', onRedisError);
    opened.push(redisCloser(command));
    const blocking = await connectRedis(redisUrl, 'blocking', onRedisError);
    opened.push(redisCloser(blocking));
    const worker = ctx.judge !== undefined;
    const workerConnection = worker ? await connectRedis(redisUrl, 'blocking', onRedisError) : undefined;
    if (workerConnection) opened.push(redisCloser(workerConnection));
    const subscriber = worker ? await connectRedis(redisUrl, 'subscriber', onRedisError) : undefined;
    if (subscriber) opened.push(redisCloser(subscriber));

    const registry = new WorkerRegistry(command, prefix);
    const bus = new RedisEventBus({
      command, blocking, options: { prefix: `${prefix}:` }, onError: onRedisError,
      history: {
        events: (id, after) => store.events(id, after),
        finished: async (id) => (await store.get(id))?.status === 'finished',
      },
    });
    const queue = new BullJobQueue({
      command, workerConnection, subscriber, store, slots: ctx.slots, prefix, logger: log,
      lockMs: config.jobLockMs, maxStalled: config.jobMaxStalled,
      clusterSlots: async () => (await registry.live()).reduce((n, w) => n + w.slots, 0),
      meanJobMs: async () => {
        const w = await registry.live();
        return w.length ? w.reduce((n, x) => n + x.meanJobMs, 0) / w.length : 1000;
      },
      onAlreadyFinished: hooks.onAlreadyFinished,
      onGiveUp: hooks.onGiveUp,
    });
    if (worker) {
      const url = config.advertiseUrl;
      await registry.join(() => ({ url, slots: ctx.slots.capacity, busy: ctx.slots.busy, meanJobMs: queue.meanJobMs }), onRedisError);
    }
    const reconciler = new Reconciler({
      redis: command, store, queue, logger: log, leaseKey: `${prefix}:reconciler`,
      jobKey: (id) => `${prefix}:submissions:${id}`, everyMs: 15_000, graceMs: 30_000,
    });
    reconciler.start();

    const runs = worker ? undefined : new RelayRunService({
      workers: () => registry.live(), token: config.tokens[0],
      timeoutMs: 120_000,
    });

    return {
      store, queue, bus, registry, redis: command, runs, recoverOnStart: false,
      async check() {
        const problems: string[] = [];
        await store.check().catch((err: Error) => problems.push(`database: ${err.message}`));
        await command.ping().catch((err: Error) => problems.push(`redis: ${err.message}`));
        return problems;
      },
      async close() {
        await reconciler.stop();
        await registry.leave();
        await closeAll();
      },
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}
