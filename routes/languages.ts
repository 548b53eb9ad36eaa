// GET /v1/languages: what the judge can compile and run.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { AppDeps } from '../src/deps.js';
import { errors } from './errors.js';

const Language = Type.Object({
  id: Type.String({ description: 'the value for "language" in requests' }),
  name: Type.String(),
  version: Type.String({ description: 'compiler or interpreter version found on this host' }),
});

export const languageRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  app.get('/languages', {
    schema: {
      summary: 'List the supported languages',
      operationId: 'listLanguages', tags: ['languages'], security: [{ bearerAuth: [] }],
      response: { 200: Type.Array(Language, { description: 'The languages this host supports' }), 401: errors[401] },
    },
  }, async () => deps.judge.languages().map((l) => ({ id: l.id, name: l.name, version: l.version })));
};
