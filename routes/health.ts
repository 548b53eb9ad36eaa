// Liveness (the process answers) and readiness (it can take work: store and pool usable, not
// shutting down). Load balancers should route on /readyz.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { AppDeps } from '../src/deps.js';
import { errorResponse, errors } from './errors.js';
import { ClusterStatus } from '../src/cluster/status.js';

const Ready = Type.Object({
  status: Type.Literal('ready'),
  pool: Type.Object({ size: Type.Integer(), busy: Type.Integer() }),
  queue: Type.Object({ depth: Type.Integer(), inFlight: Type.Integer() }),
  cluster: Type.Optional(ClusterStatus),
}, { description: 'Ready to take work' });

export const healthRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  const { judge } = deps;
  // Whether a token is needed here depends on GAVEL_AUTH_HEALTH; the document says "optional".
  const security: Array<Record<string, string[]>> = [{}, { bearerAuth: [] }];

  app.get('/healthz', {
    schema: {
      summary: 'Liveness', operationId: 'healthz', tags: ['health'], security,
      response: { 200: Type.Object({ status: Type.Literal('ok') }, { description: 'The process is alive' }), 401: errors[401] },
    },
  }, async () => ({ status: 'ok' as const }));

  app.get('/readyz', {
    schema: {
      summary: 'Readiness: the store and sandbox pool work and the service is not shutting down',
      operationId: 'readyz', tags: ['health'], security,
      response: { 200: Ready, 401: errors[401], 503: errorResponse('Not ready: the store or the sandbox pool is unusable, or the service is shutting down') },
    },
  }, async (_req, reply) => {
    const problems = await deps.readiness();
    if (problems.length) {
      return reply.code(503).send({ error: 'not_ready', message: problems.join('; ') });
    }
    const cluster = await deps.clusterStatus?.();
    return { status: 'ready' as const, pool: judge.pool(), queue: await deps.queueStats(), ...(cluster ? { cluster } : {}) };
  });
};
