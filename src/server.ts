// Entry point: config → logger → judge → services (backends, recovering unfinished work) → HTTP.
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
import { createServices, type BackendFactory, type Services } from './services.js';
import { buildApp } from './app.js';
import { isClusterMode, judges } from './cluster/backends.js';
import { openClusterProblemStores } from './cluster/problems.js';
import { CatalogJudge } from './cluster/catalog.js';
import { ProblemService } from './problems/service.js';
import { ProblemAwareJudge } from './problems/judge.js';
import type { LocalJudge } from './judge/index.js';

export interface Service extends Services {
  app: FastifyInstance;
  problems?: ProblemService;
  url: string;
  /** Graceful shutdown (idempotent); resolves when everything is closed. */
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Use this judge instead of creating one; it is then not closed by stop(). */
  judge?: Judge;
  logger?: Logger;
  /** Backends other than the configured ones (tests). */
  backends?: BackendFactory;
}

export function createLogger(config: Pick<Config, 'logLevel'>): Logger {
  return pino({ level: config.logLevel, base: { service: 'gavel', pid: process.pid } });
}

export async function startServer(config: Config, opts: StartOptions = {}): Promise<Service> {
  const logger = opts.logger ?? createLogger(config);
  logger.info({ config: describeConfig(config) }, 'gavel starting');
  if (!config.webhookSecret) logger.warn('GAVEL_WEBHOOK_SECRET is not set: callbacks will be sent without X-Gavel-Signature');

  const ownsJudge = !opts.judge;
  let judge: Judge;
  if (opts.judge) {
    judge = opts.judge;
  } else if (!judges(config)) {
    judge = await CatalogJudge.open(config.languagesFile);
  } else {
    const { createJudge } = await import('./judge/index.js');
    judge = await createJudge({
      poolSize: config.poolSize, name: config.instance, uidBase: config.uidBase, languagesFile: config.languagesFile,
      allowUnlimited: config.allowUnlimited, compileCacheBytes: config.compileCacheBytes,
      logger: logger.child({ component: 'judge' }),
    });
  }

  // Problem packages need the sandbox-backed judge's pipeline; a stand-in judge has none.
  let problems: ProblemService | undefined;
  let svc: Services;
  try {
    const local = judge as Partial<LocalJudge>;
    if (local.pipeline && local.ctx) {
      // A cluster's judging nodes share the registry and the files through PostgreSQL.
      const shared = isClusterMode(config) ? { ...(await openClusterProblemStores(config)), replicate: true } : {};
      problems = await ProblemService.open({
        ...shared, dataDir: config.dataDir, pipeline: local.pipeline, ctx: local.ctx,
        maxBytes: config.maxProblemBytes, maxFiles: config.maxProblemFiles, synchronous: config.sqliteSync,
      });
    }
    svc = await createServices(config, problems ? new ProblemAwareJudge(judge, problems) : judge, logger, opts.backends);
  } catch (err) {
    await problems?.close().catch(() => undefined);
    if (ownsJudge) await judge.close().catch(() => undefined);
    throw err;
  }

  let app: FastifyInstance | undefined;
  try {
    await svc.start();
    app = buildApp({
      config, judge: svc.judge, problems, store: svc.store, submissions: svc.submissions, runs: svc.runs, bus: svc.bus, metrics: svc.metrics, logger,
      readiness: svc.readiness, memory: svc.memory,
      queueStats: async () => ({ depth: await svc.queue.depth(), inFlight: await svc.queue.size() }),
      clusterStatus: svc.clusterStatus, problemAccess: svc.problemAccess,
    });
    await app.listen({ port: config.port, host: config.host });
  } catch (err) {
    await app?.close().catch(() => undefined);
    await svc.close(ownsJudge);
    await problems?.close().catch(() => undefined);
    throw err;
  }

  const addr = app.server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `http://${host}:${addr.port}`;
  const pool = judge.pool();
  logger.info({
    url, poolSize: pool.size, queued: await svc.queue.depth(), languages: judge.languages().map((l) => l.id), sandbox: judge.describe?.(),
  }, 'gavel listening');

  let stopping: Promise<void> | undefined;
  const server = app;
  const stop = () => {
    stopping ??= (async () => {
      const queued = await svc.queue.depth();
      logger.info({ deadlineMs: config.shutdownMs, running: (await svc.queue.size()) - queued, queued }, 'shutting down');
      await svc.drain();
      const force = setTimeout(() => server.server.closeAllConnections(), 5000);
      await server.close();
      clearTimeout(force);
      const left = await svc.queue.depth();
      await svc.close(ownsJudge);
      await problems?.close();
      logger.info({ left }, 'stopped; queued submissions stay in the store');
    })();
    return stopping;
  };

  return { ...svc, app, url, stop, problems };
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
