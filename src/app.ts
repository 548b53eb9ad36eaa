// Builds the Fastify app from already-constructed parts (no I/O of its own), so tests and the
// entry point wire the same thing. Routes live in ../routes, one plugin per resource.
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyReply, type FastifyInstance, type FastifyRequest, type onRequestHookHandler } from 'fastify';
import { TypeBoxValidatorCompiler } from '@fastify/type-provider-typebox';
import type { AppDeps } from './deps.js';
import { registerJsonParser } from '../routes/json.js';
import { registerBodyDeadlines } from './http/body-deadline.js';
import { clientErrorHandler, limitConnections, refuseConnect } from './http/connections.js';
import { ErrorBody, registerErrorHandling } from '../routes/errors.js';
import { SubmissionView } from './view.js';
import { ProblemSummary } from './problems/schema.js';
import swagger from '@fastify/swagger';
import { openapiRoutes, swaggerOptions } from '../routes/openapi.js';
import { submissionRoutes } from '../routes/submissions.js';
import { runRoutes } from '../routes/run.js';
import { languageRoutes } from '../routes/languages.js';
import { healthRoutes } from '../routes/health.js';
import { metricsRoutes } from '../routes/metrics.js';
import { problemRoutes } from '../routes/problems.js';

export type { AppDeps } from './deps.js';

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Constant-time check of `Authorization: Bearer <token>` against the configured tokens. */
function makeTokenCheck(tokens: readonly string[]): (req: FastifyRequest) => boolean {
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

/**
 * One log line per request instead of Fastify's two: the "request completed" line carries
 * the request too, and "incoming request" moves to debug. Each line is a write to stdout,
 * and at hundreds of /v1/run calls a second the pair cost as much as the routing itself.
 * Error and not-found lines are Fastify's own.
 */
class RequestLog extends LogController {
  override incomingRequest(request: FastifyRequest): void {
    request.log.debug({ req: request }, 'incoming request');
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (error) super.requestCompleted(error, request, reply);
    else reply.log.info({ req: request, res: reply, responseTime: reply.elapsedTime }, 'request completed');
  }
}

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
    // Timeouts a production server needs (Fastify's defaults never cut a slow body). Node's
    // bound is one for all routes, so it is the uploads' (the largest); the ordinary routes'
    // shorter one is held by registerBodyDeadlines.
    requestTimeout: Math.max(config.requestTimeoutMs, config.uploadTimeoutMs),
    keepAliveTimeout: config.keepAliveTimeoutMs,
    maxRequestsPerSocket: config.maxRequestsPerSocket,
    // How often Node looks for requests past their deadline (its default is every 30 s).
    http: { connectionsCheckingInterval: Math.max(100, Math.min(2000, Math.floor(config.headersTimeoutMs / 4))) },
    clientErrorHandler: clientErrorHandler(config.requestTimeoutMs, config.uploadTimeoutMs),
    logController: new RequestLog(),
  });
  app.server.headersTimeout = config.headersTimeoutMs;
  limitConnections(app.server, { maxConnections: config.maxConnections, maxPerClient: config.maxConnectionsPerClient }, deps.logger);
  refuseConnect(app.server);
  app.setValidatorCompiler(TypeBoxValidatorCompiler);
  // Only JSON bodies: anything else is a 415, not a string the schema then rejects.
  app.removeContentTypeParser('text/plain');
  registerJsonParser(app);
  registerBodyDeadlines(app, config);

  const notFound = registerErrorHandling(app, config.bodyLimit);

  // Callback hooks, not async ones: no promise and microtask per request for work this small.
  app.addHook('onRequest', (req, reply, done) => {
    reply.header('x-request-id', req.id);
    done();
  });

  app.addHook('onResponse', (req, reply, done) => {
    deps.memory?.note(Number(req.headers['content-length'] ?? 0));
    metrics.http.observe({
      method: req.method,
      route: req.routeOptions.url ?? 'unmatched',
      status_code: String(reply.statusCode),
    }, reply.elapsedTime / 1000);
    done();
  });

  // Shared response schemas: one component each in the OpenAPI document.
  app.addSchema({ $id: 'ErrorBody', ...ErrorBody });
  app.addSchema({ $id: 'SubmissionView', ...SubmissionView });
  app.addSchema({ $id: 'ProblemSummary', ...ProblemSummary });
  app.register(swagger, swaggerOptions);
  app.register(openapiRoutes);
  // Each plugin is its own encapsulation context: a hook added inside guards only its routes
  // (and, for /v1, its not-found handler, so unknown /v1 paths need the token too).
  const auth = config.tokens.length ? bearerAuth(config.tokens) : undefined;
  app.register(async (v1) => {
    if (auth) v1.addHook('onRequest', auth);
    v1.setNotFoundHandler(notFound);
    await v1.register(submissionRoutes, { deps });
    await v1.register(runRoutes, { deps });
    await v1.register(languageRoutes, { deps });
    await v1.register(problemRoutes, { deps });
  }, { prefix: '/v1' });
  app.register(async (health) => {
    if (auth && config.authHealth) health.addHook('onRequest', auth);
    await health.register(healthRoutes, { deps });
  });
  app.register(async (m) => {
    if (auth && config.authMetrics) m.addHook('onRequest', auth);
    await m.register(metricsRoutes, { deps });
  });
  return app;
}

/** An onRequest hook answering 401 unless the request carries one of `tokens`. */
function bearerAuth(tokens: readonly string[]): onRequestHookHandler {
  const valid = makeTokenCheck(tokens);
  return async (req, reply) => {
    if (valid(req)) return;
    return reply.code(401).header('www-authenticate', 'Bearer realm="gavel"').type('application/json; charset=utf-8')
      .send({ error: 'unauthorized', message: 'this route needs "Authorization: Bearer <token>" with a token from GAVEL_TOKENS' });
  };
}
