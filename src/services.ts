// The one place that picks a node's backends from its configuration and wires the service
// together: store, job queue, event bus, /v1/run, and (on nodes that judge) the worker. Single
// node (the default): SQLite + in-process queue and bus. Cluster mode adds its backends here.
import type { Logger } from 'pino';
import type { Config } from './config.js';
import type { Judge } from './judge/schema.js';
import type { Store } from './store/index.js';
import type { JobQueue } from './queue/types.js';
import type { EventBus } from './events/types.js';
import type { RunService } from './runs/types.js';
import type { ClusterProblemAccess } from './deps.js';
import { SqliteStore } from './store/sqlite.js';
import { EventHub } from './events/hub.js';
import { MemoryQueue } from './queue/memory.js';
import { Slots } from './queue/slots.js';
import { ShuttingDownError } from './queue/types.js';
import { SubmissionWorker } from './queue/worker.js';
import { LocalRunService } from './runs/local.js';
import { SubmissionService } from './submissions.js';
import { Metrics } from './metrics.js';
import { WebhookSender } from './webhook.js';
import { toView } from './view.js';
import type { RecorderDeps } from './queue/recorder.js';
import type { ClusterStatus } from './cluster/status.js';
import { clusterBackends, isClusterMode } from './cluster/backends.js';

import { MemoryReleaser } from './memory.js';

/** What a backend factory gets to build from. */
export interface BackendContext {
  config: Config;
  logger: Logger;
  /** The node's judge (on an API-only node: for languages, caps and checks only). */
  judge: Judge;
  /** This node's judging slots, shared by submissions and /v1/run. */
  slots: Slots;
}

/** The storage and transport a node runs on. */
export interface Backends {
  store: Store;
  queue: JobQueue;
  bus: EventBus;
  /** Where POST /v1/run goes; undefined: this node's own slots and judge. */
  runs?: RunService;
  /**
   * Whether this node judges: takes jobs from the queue with its own pool (default true). An
   * API-only cluster node sets false; its judge is then used for languages, caps and checks only.
   */
  judges?: boolean;
  /**
   * Whether the node re-queues the store's unfinished submissions at start. True only when
   * nothing else could own them (single node); a shared queue keeps its own jobs.
   */
  recoverOnStart: boolean;
  /** Readiness problems of the backends themselves (database, broker); [] when fine. */
  check(): Promise<string[]>;
  /** Closes what the backends opened (after the queue and bus are closed). */
  close(): Promise<void>;
  /** Cluster mode: the node's role and the cluster as it sees it, for /readyz (after check() passed). */
  status?(): Promise<ClusterStatus>;
  /** API-only cluster node: where /v1/problems goes, and the registry a submission's version is read from. */
  problems?: ClusterProblemAccess;
  /** Hands the backends what is built on top of them (cluster mode: give-ups, callback sweeps, gauges). */
  bind?(parts: BoundParts): void;
}

/** The parts createServices builds on the backends. */
export interface BoundParts {
  recorderDeps: RecorderDeps;
  metrics: Metrics;
  webhooks: WebhookSender;
}

export type BackendFactory = (ctx: BackendContext) => Promise<Backends>;

/** Single node: SQLite in the data dir, the in-process queue and event hub. */
export const localBackends: BackendFactory = async ({ config, logger, slots }) => {
  const store = new SqliteStore({ dataDir: config.dataDir, synchronous: config.sqliteSync });
  const bus = new EventHub((id, afterSeq) => store.events(id, afterSeq));
  const queue = new MemoryQueue({
    slots, logger,
    onPosition: (id, position) => { if (bus.watched(id)) bus.transient(id, 'status', { status: 'queued', position }); },
  });
  return {
    store, queue, bus, recoverOnStart: true,
    check: async () => {
      try {
        await store.check();
        return [];
      } catch (err) {
        return [`store: ${(err as Error).message}`];
      }
    },
    close: () => store.close(),
  };
};

/**
 * The backends this configuration asks for: single node unless configured otherwise. Cluster
 * mode (a database and a broker URL) returns its own factory from here.
 */
export function backendsFor(config: Config): BackendFactory {
  return isClusterMode(config) ? clusterBackends : localBackends;
}

/** Everything a node runs besides HTTP, wired. */
export interface Services {
  config: Config;
  logger: Logger;
  judge: Judge;
  store: Store;
  queue: JobQueue;
  bus: EventBus;
  slots: Slots;
  runs: RunService;
  submissions: SubmissionService;
  webhooks: WebhookSender;
  metrics: Metrics;
  memory: MemoryReleaser;
  /** Readiness problems ([] when ready): backends, pool, shutdown. */
  readiness(): Promise<string[]>;
  /** Cluster mode: what /readyz reports of the cluster. */
  clusterStatus?: () => Promise<ClusterStatus>;
  /** API-only cluster node: problems are served by workers (see Backends.problems). */
  problemAccess?: ClusterProblemAccess;
  /** Re-queues unfinished work (when the backends say so), resumes callbacks, starts judging. */
  start(): Promise<void>;
  /**
   * Shutdown, first half: refuses new work, lets running work finish for up to GAVEL_SHUTDOWN_MS,
   * then aborts it (it stays unfinished for the next attempt), ends event streams. Idempotent.
   */
  drain(): Promise<void>;
  /** Shutdown, second half (after HTTP is closed): closes the backends, and the judge when asked. */
  close(closeJudge: boolean): Promise<void>;
}

export async function createServices(
  config: Config, judge: Judge, logger: Logger, backends: BackendFactory = backendsFor(config),
): Promise<Services> {
  const slots = new Slots(() => judge.pool().size, config.runQueueMax);
  const b = await backends({ config, logger, judge, slots });
  const { store, queue, bus } = b;
  const metrics = new Metrics();
  const webhooks = new WebhookSender({
    secret: config.webhookSecret, attempts: config.webhookAttempts, backoffMs: config.webhookBackoffMs,
    timeoutMs: config.webhookTimeoutMs, store, logger: logger.child({ component: 'webhook' }), metrics,
  });
  const recorderDeps = { store, bus, metrics, webhooks, logger, telemetryHz: config.telemetryHz };
  const submissions = new SubmissionService({ ...recorderDeps, queue, queueMax: config.queueMax });
  const memory = new MemoryReleaser(logger);
  const worker = new SubmissionWorker({ ...recorderDeps, judge, memory });
  const runs = b.runs ?? new LocalRunService(judge, slots);
  const judges = b.judges ?? true;
  b.bind?.({ recorderDeps, metrics, webhooks });
  metrics.bind({ queueDepth: () => queue.depth(), inFlight: () => queue.size(), pool: () => judge.pool() });

  let retention: NodeJS.Timeout | undefined;
  let draining: Promise<void> | undefined;
  let closing: Promise<void> | undefined;
  const start = async () => {
    if (b.recoverOnStart) await submissions.recover();
    for (const rec of await store.pendingCallbacks()) {
      if (rec.callbackUrl) webhooks.deliver(rec.id, rec.callbackUrl, toView(rec), rec.callbackAttempts);
    }
    const sweep = () => {
      if (config.retentionHours <= 0) return;
      store.purgeFinished(Date.now() - config.retentionHours * 3_600_000)
        .then((n) => { if (n) logger.info({ deleted: n }, 'retention: deleted old finished submissions'); })
        .catch((err) => logger.error({ err }, 'retention sweep failed'));
    };
    sweep();
    retention = setInterval(sweep, config.retentionCheckMs);
    retention.unref();
    if (judges) queue.consume(worker.handle);
  };

  const drain = () => {
    draining ??= (async () => {
      submissions.stopAccepting();
      slots.refuseAll(() => new ShuttingDownError());
      clearInterval(retention);
      const t0 = Date.now();
      const { interrupted } = await queue.close(config.shutdownMs);
      if (interrupted) logger.warn({ interrupted }, 'aborted running submissions at the deadline; they run again at next start');
      // /v1/run calls in flight get what is left of the deadline.
      await slots.idle(Math.max(0, config.shutdownMs - (Date.now() - t0)));
      // Event streams never end on their own; clients reconnect elsewhere with Last-Event-ID.
      await bus.close();
      await webhooks.close();
      memory.close();
    })();
    return draining;
  };

  const close = (closeJudge: boolean) => {
    closing ??= (async () => {
      await drain();
      if (closeJudge) await judge.close().catch((err) => logger.error({ err }, 'closing the judge failed'));
      await b.close();
    })();
    return closing;
  };

  const readiness = async () => {
    const problems = await b.check();
    try {
      if (judges && judge.pool().size < 1) problems.push('sandbox pool has no slots');
    } catch (err) {
      problems.push(`sandbox pool: ${(err as Error).message}`);
    }
    if (submissions.isDraining) problems.push('shutting down');
    return problems;
  };

  return {
    config, logger, judge, store, queue, bus, slots, runs, submissions, webhooks, metrics, memory, readiness, start, drain, close,
    ...(b.status ? { clusterStatus: () => b.status!() } : {}),
    ...(b.problems ? { problemAccess: b.problems } : {}),
  };
}
