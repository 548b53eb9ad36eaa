// GET /metrics: Prometheus text exposition from the service's own registry.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { AppDeps } from '../src/deps.js';
import { errors } from './errors.js';

export const metricsRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  const { registry } = deps.metrics;
  // Whether a token is needed here depends on GAVEL_AUTH_METRICS; the document says "optional".
  const security: Array<Record<string, string[]>> = [{}, { bearerAuth: [] }];
  app.get('/metrics', {
    schema: {
      summary: 'Prometheus metrics', operationId: 'metrics', tags: ['health'], security,
      response: {
        200: { description: 'Prometheus text format', content: { 'text/plain': { schema: Type.String() } } },
        401: errors[401],
      },
    },
  }, async (_req, reply) => {
    const text = await registry.metrics();
    return reply.type(registry.contentType).send(text);
  });
};
