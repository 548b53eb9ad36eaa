// Entry point: config → logger → store → judge → queue (recovering unfinished work) → HTTP.
// `node dist/src/server.js` runs it; startServer() is also what tests use in-process.
// On SIGTERM/SIGINT: new submissions get 503, running work gets GAVEL_SHUTDOWN_MS to finish,
// whatever is left stays queued in the store for the next start, then everything closes, exit 0.
import { realpathSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import pino, { type Logger } from 'pino';
import type { FastifyInstance } from 'fastify';
import { describeConfig, loadConfig, type Config } from './config.js';
import type { Judge } from './judge/schema.js';
import { SqliteStore } from './store/sqlite.js';
import { EventHub } from './events/hub.js';
import { Metrics } from './metrics.js';
import { WebhookSender } from './webhook.js';
import { SubmissionQueue } from './queue/index.js';
import { toView } from './view.js';
import { buildApp } from './app.js';

export interface Service {
  app: FastifyInstance;
  url: string;
  config: Config;
  judge: Judge;
  store: SqliteStore;
  queue: SubmissionQueue;
  hub: EventHub;
  metrics: Metrics;
  webhooks: WebhookSender;
  logger: Logger;
  /** Graceful shutdown (idempotent); resolves when everything is closed. */
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Use this judge instead of creating one; it is then not closed by stop(). */
  judge?: Judge;
  logger?: Logger;
}

export function createLogger(config: Pick<Config, 'logLevel'>): Logger {
  return pino({ level: config.logLevel, base: { service: 'gavel', pid: process.pid } });
}

export async function startServer(config: Config, opts: StartOptions = {}): Promise<Service> {
  const logger = opts.logger ?? createLogger(config);
  logger.info({ config: describeConfig(config) }, 'gavel starting');
  if (!config.webhookSecret) logger.warn('GAVEL_WEBHOOK_SECRET is not set: callbacks will be sent without X-Gavel-Signature');

  const store = new SqliteStore({ dataDir: config.dataDir, synchronous: config.sqliteSync });
  let judge: Judge;
  const ownsJudge = !opts.judge;
  try {
    if (opts.judge) {
      judge = opts.judge;
    } else {
      const { createJudge } = await import('./judge/index.js');
      judge = await createJudge({
        poolSize: config.poolSize, name: config.instance, uidBase: config.uidBase, languagesFile: config.languagesFile,
        allowUnlimited: config.allowUnlimited,
        logger: logger.child({ component: 'judge' }),
      });
    }
  } catch (err) {
    await store.close();
    throw err;
  }

  const metrics = new Metrics();
  const hub = new EventHub({
    telemetryHz: config.telemetryHz,
    onPersistError: (id, ev, err) => logger.error({ err, submissionId: id, seq: ev.seq, type: ev.type }, 'could not store an event; it is not sent'),
  });
  const webhooks = new WebhookSender({
    secret: config.webhookSecret, attempts: config.webhookAttempts, backoffMs: config.webhookBackoffMs,
    timeoutMs: config.webhookTimeoutMs, store, logger: logger.child({ component: 'webhook' }), metrics,
  });
  const queue = new SubmissionQueue({
    store, judge, hub, metrics, webhooks, logger, queueMax: config.queueMax, runQueueMax: config.runQueueMax,
  });
  metrics.bind({ queueDepth: () => queue.depth, inFlight: () => queue.inFlight, pool: () => judge.pool() });

  let app: FastifyInstance | undefined;
  let retention: NodeJS.Timeout | undefined;
  try {
    await queue.recover();
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

    app = buildApp({ config, judge, store, queue, hub, metrics, logger });
    await app.listen({ port: config.port, host: config.host });
  } catch (err) {
    clearInterval(retention);
    await app?.close().catch(() => undefined);
    await webhooks.close();
    if (ownsJudge) await judge.close().catch(() => undefined);
    await store.close();
    throw err;
  }

  const addr = app.server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `http://${host}:${addr.port}`;
  const pool = judge.pool();
  logger.info({
    url, poolSize: pool.size, queued: queue.depth, languages: judge.languages().map((l) => l.id), sandbox: judge.describe?.(),
  }, 'gavel listening');

  let stopping: Promise<void> | undefined;
  const server = app;
  const stop = () => {
    stopping ??= (async () => {
      logger.info({ deadlineMs: config.shutdownMs, running: queue.inFlight - queue.depth, queued: queue.depth }, 'shutting down');
      const { interrupted } = await queue.drain(config.shutdownMs);
      if (interrupted) logger.warn({ interrupted }, 'aborted running submissions at the deadline; they run again at next start');
      // Event streams never end on their own; clients reconnect elsewhere with Last-Event-ID.
      hub.closeAll();
      clearInterval(retention);
      await webhooks.close();
      const force = setTimeout(() => server.server.closeAllConnections(), 5000);
      await server.close();
      clearTimeout(force);
      if (ownsJudge) await judge.close().catch((err) => logger.error({ err }, 'closing the judge failed'));
      await store.close();
      logger.info({ left: queue.depth }, 'stopped; queued submissions stay in the store');
    })();
    return stopping;
  };

  return { app, url, config, judge, store, queue, hub, metrics, webhooks, logger, stop };
}

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    process.stderr.write(`gavel: ${(err as Error).message}\n`);
    process.exit(2);
  }
  const logger = createLogger(config);
  let svc: Service;
  try {
    svc = await startServer(config, { logger });
  } catch (err) {
    logger.fatal({ err }, 'gavel failed to start');
    logger.flush();
    process.exit(1);
  }
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    if (++signals > 1) {
      logger.warn({ signal }, 'second signal: exiting without waiting');
      logger.flush();
      process.exit(1);
    }
    logger.info({ signal }, 'signal received');
    svc.stop().then(
      () => { logger.flush(); process.exit(0); },
      (err) => { logger.fatal({ err }, 'shutdown failed'); logger.flush(); process.exit(1); },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

const entry = process.argv[1];
if (entry && import.meta.url === pathToFileURL(realpathSync(entry)).href) void main();
