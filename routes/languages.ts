// GET /v1/languages: what the judge can compile and run, and how.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { AppDeps } from '../src/deps.js';
import { errors } from './errors.js';

const Command = Type.Array(Type.String(), {
  description: 'argv run in /box; {class} is the source stem the entry point requires, {main} the entry class, {heapMb} the memory limit in MiB',
});

const Language = Type.Object({
  id: Type.String({ description: 'the value for "language" in requests' }),
  name: Type.String(),
  version: Type.String({ description: 'compiler or interpreter version found on this host' }),
  extensions: Type.Array(Type.String(), { description: 'file extensions (without the dot) of this language, to map a file to it' }),
  source: Type.String({ description: 'the name the entry file gets in /box' }),
  compile: Type.Optional(Command),
  run: Command,
});

export const languageRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  app.get('/languages', {
    schema: {
      summary: 'List the supported languages',
      operationId: 'listLanguages', tags: ['languages'], security: [{ bearerAuth: [] }],
      response: { 200: Type.Array(Language, { description: 'The languages this host supports' }), 401: errors[401] },
    },
  }, async () => deps.judge.languages());
};
