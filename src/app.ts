// Builds the Fastify app from already-constructed parts (no I/O of its own), so tests and the
// entry point wire the same thing. Routes live in ../routes, one plugin per resource.
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import { TypeBoxValidatorCompiler } from '@fastify/type-provider-typebox';
import type { Logger } from 'pino';
import type { Config } from './config.js';
import type { Judge } from './judge/schema.js';
import type { Store } from './store/index.js';
import type { SubmissionQueue } from './queue/index.js';
import type { EventHub } from './events/hub.js';
import type { Metrics } from './metrics.js';
import { registerJsonParser } from '../routes/json.js';
import { ErrorBody, registerErrorHandling } from '../routes/errors.js';
import { SubmissionView } from './view.js';
import swagger from '@fastify/swagger';
import { openapiRoutes, swaggerOptions } from '../routes/openapi.js';
import { submissionRoutes } from '../routes/submissions.js';
import { runRoutes } from '../routes/run.js';
import { languageRoutes } from '../routes/languages.js';
import { healthRoutes } from '../routes/health.js';
import { metricsRoutes } from '../routes/metrics.js';

export interface AppDeps {
  config: Config;
  judge: Judge;
  store: Store;
  queue: SubmissionQueue;
  hub: EventHub;
  metrics: Metrics;
  logger: Logger;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Constant-time check of `Authorization: Bearer <token>` against the configured tokens. */
function makeTokenCheck(tokens: string[]): (req: FastifyRequest) => boolean {
  const known = tokens.map(digest);
  return (req) => {
    const header = req.headers.authorization;
    const m = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!m) return false;
    const given = digest(m[1]);
    let ok = false;
    for (const k of known) ok = timingSafeEqual(k, given) || ok;
    return ok;
  };
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function buildApp(deps: AppDeps): FastifyInstance {
  const { config, metrics } = deps;
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: config.bodyLimit,
    // A caller's X-Request-Id is kept (when sane) so logs correlate across services.
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    return503OnClosing: true,
    forceCloseConnections: 'idle',
  });
  app.setValidatorCompiler(TypeBoxValidatorCompiler);
  // Only JSON bodies: anything else is a 415, not a string the schema then rejects.
  app.removeContentTypeParser('text/plain');
  registerJsonParser(app);

  registerErrorHandling(app, config.bodyLimit);

  app.addHook('onRequest', async (req, reply) => {
    reply.header('x-request-id', req.id);
  });

  if (config.tokens.length) {
    const valid = makeTokenCheck(config.tokens);
    const protectedPath = (path: string) => path === '/v1' || path.startsWith('/v1/')
      || (config.authMetrics && path === '/metrics')
      || (config.authHealth && (path === '/healthz' || path === '/readyz'));
    app.addHook('onRequest', async (req, reply) => {
      if (!protectedPath(req.url.split('?')[0]) || valid(req)) return;
      return reply.code(401).header('www-authenticate', 'Bearer realm="gavel"').type('application/json; charset=utf-8')
        .send({ error: 'unauthorized', message: 'this route needs "Authorization: Bearer <token>" with a token from GAVEL_TOKENS' });
    });
  }

  app.addHook('onResponse', async (req, reply) => {
    metrics.http.observe({
      method: req.method,
      route: req.routeOptions.url ?? 'unmatched',
      status_code: String(reply.statusCode),
    }, reply.elapsedTime / 1000);
  });

  // Shared response schemas: one component each in the OpenAPI document.
  app.addSchema({ $id: 'ErrorBody', ...ErrorBody });
  app.addSchema({ $id: 'SubmissionView', ...SubmissionView });
  app.register(swagger, swaggerOptions);
  app.register(openapiRoutes);
  app.register(submissionRoutes, { deps });
  app.register(runRoutes, { deps });
  app.register(languageRoutes, { deps });
  app.register(healthRoutes, { deps });
  app.register(metricsRoutes, { deps });
  return app;
}
