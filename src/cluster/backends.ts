// Cluster mode's backends (GAVEL_DATABASE_URL + GAVEL_REDIS_URL): PostgreSQL store, BullMQ job
// queue, Redis Streams event bus, the worker registry, and — on API-only nodes — /v1/run
// relayed to a worker. GAVEL_ROLE decides what a node does: `api` takes HTTP and never judges,
// `worker` judges (and answers HTTP for health, metrics and relayed runs), `all` does both.
import type { Redis } from 'ioredis';
import { hostname } from 'node:os';
import type { BackendContext, Backends, BoundParts } from '../services.js';
import { SubmissionRecorder } from '../queue/recorder.js';
import { toView } from '../view.js';
import { registerClusterMetrics } from './metrics.js';
import { PostgresStore } from '../store/postgres.js';
import { BullJobQueue } from '../queue/bullmq.js';
import { RedisEventBus } from '../events/redis.js';
import { connectRedis, throttled } from './redis.js';
import { WorkerRegistry } from './registry.js';
import { RelayRunService } from './relay.js';
import { ProblemRelay } from './problems.js';
import { PostgresProblemStore } from '../problems/postgres.js';
import { Reconciler } from './reconciler.js';

export interface ClusterBackends extends Backends {
  store: PostgresStore;
  queue: BullJobQueue;
  bus: RedisEventBus;
  registry: WorkerRegistry;
  /** Redis for request-path commands (health checks, metrics). */
  redis: Redis;
}

/** Whether this configuration asks for cluster mode. */
export function isClusterMode(c: BackendContext['config']): boolean {
  return c.databaseUrl !== undefined && c.redisUrl !== undefined;
}

/** Whether this node judges (owns a sandbox pool). */
export function judges(c: BackendContext['config']): boolean {
  return !isClusterMode(c) || c.role !== 'api';
}

/** How often a node looks for callbacks whose delivering node died (their lease ran out). */
const callbackSweepMs = (leaseMs: number) => Math.min(30_000, Math.max(500, Math.floor(leaseMs / 2)));

export async function clusterBackends(ctx: BackendContext): Promise<ClusterBackends> {
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
    const store = await PostgresStore.open({
      url: config.databaseUrl!, max: config.databasePoolSize, onError: onPgError, callbackLeaseMs: config.webhookLeaseMs,
    });
    opened.push(store);
    const command = await connectRedis(redisUrl, 'command', onRedisError);
    opened.push(redisCloser(command));
    const blocking = await connectRedis(redisUrl, 'blocking', onRedisError);
    opened.push(redisCloser(blocking));
    const worker = judges(config);
    const workerConnection = worker ? await connectRedis(redisUrl, 'blocking', onRedisError) : undefined;
    if (workerConnection) opened.push(redisCloser(workerConnection));
    const subscriber = worker ? await connectRedis(redisUrl, 'subscriber', onRedisError) : undefined;
    if (subscriber) opened.push(redisCloser(subscriber));

    let parts: BoundParts | undefined;
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
      // A worker died after storing the outcome: the stream may lack its last events.
      onAlreadyFinished: async (id) => bus.republish(id, await store.events(id, 0)),
      onGiveUp: async (id, reason) => {
        const rec = await store.get(id);
        if (!rec || rec.status === 'finished' || !parts) return;
        const r = new SubmissionRecorder(parts.recorderDeps, rec);
        await r.complete({ verdict: 'IE', error: reason, tests: [], timeMs: 0, memoryBytes: 0 });
      },
    });
    if (worker) {
      const url = config.advertiseUrl ?? (config.port !== 0 ? `http://${config.host === '0.0.0.0' ? hostname() : config.host}:${config.port}` : undefined);
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

    const problems = worker ? undefined : {
      relay: new ProblemRelay({ workers: () => registry.live(), token: config.tokens[0], timeoutMs: 30 * 60_000 }),
      registry: new PostgresProblemStore(store.pool, (t, v) => store.query(t, v)),
    };

    let sweeper: NodeJS.Timeout | undefined;
    return {
      ...(problems ? { problems } : {}),
      store, queue, bus, registry, redis: command, runs, recoverOnStart: false, judges: worker,
      bind(p) {
        parts = p;
        registerClusterMetrics(p.metrics.registry, { depth: () => queue.depth(), size: () => queue.size(), workers: () => registry.live() });
        // Startup delivers this node's share once; later sweeps take over callbacks of nodes that died.
        sweeper = setInterval(() => {
          store.pendingCallbacks().then((recs) => {
            for (const rec of recs) if (rec.callbackUrl) p.webhooks.deliver(rec.id, rec.callbackUrl, toView(rec), rec.callbackAttempts);
          }, (err) => log.warn({ err }, 'callback sweep failed'));
        }, callbackSweepMs(config.webhookLeaseMs));
        sweeper.unref();
      },
      async status() {
        const live = await registry.live();
        return {
          role: config.role, database: 'ok' as const, redis: 'ok' as const,
          workers: live.length, slots: live.reduce((n, w) => n + w.slots, 0),
        };
      },
      async check() {
        const problems: string[] = [];
        await store.check().catch((err: Error) => problems.push(`database: ${err.message}`));
        await command.ping().catch((err: Error) => problems.push(`redis: ${err.message}`));
        return problems;
      },
      async close() {
        clearInterval(sweeper);
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
