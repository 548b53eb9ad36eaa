// /v1/problems: import an ICPC / Kattis problem package (the body, streamed to disk), look
// problems up, delete them. Submissions then name a problem instead of carrying tests.
import type { Readable } from 'node:stream';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import type { AppDeps } from '../src/deps.js';
import { ProblemError } from '../src/problems/errors.js';
import { PROBLEM_ID_PATTERN, type ProblemSummary } from '../src/problems/schema.js';
import type { ProblemService } from '../src/problems/service.js';
import type { ProblemStore, StoredVersion } from '../src/problems/store.js';
import { errorResponse, errors, HttpError } from './errors.js';

const IdParams = Type.Object({ id: Type.String({ pattern: PROBLEM_ID_PATTERN, description: 'the client\'s id for the problem (a slug)' }) });

const PutQuery = Type.Object({
  timeLimitMs: Type.Optional(Type.Integer({
    minimum: 1, description: 'the time limit for a package that gives none (legacy packages without .timelimit, domjudge-problem.ini or accepted submissions)',
  })),
});

/** The shared ProblemSummary component (registered by buildApp), with a per-response description. */
const summary = (description: string) => Type.Unsafe<ProblemSummary>({ $ref: 'ProblemSummary#', description });

const PACKAGE_TYPES = ['application/zip', 'application/x-tar', 'application/gzip'];

const security: Array<Record<string, string[]>> = [{ bearerAuth: [] }];
const tags = ['problems'];

/** A ProblemError as the HTTP error it stands for, with the package entry at fault. */
export function problemHttpError(e: unknown): unknown {
  if (!(e instanceof ProblemError)) return e;
  return new HttpError(e.status, e.code, e.message, e.entry ? { entry: e.entry } : {});
}

/** The version a submission on an API-only cluster node is judged against; 404 when there is none. */
export async function clusterProblemVersion(registry: ProblemStore, id: string, version?: number): Promise<StoredVersion> {
  const v = version === undefined ? await registry.current(id) : await registry.version(id, version);
  if (!v) throw new HttpError(404, 'unknown_problem', version === undefined ? `no problem "${id}"; import it with PUT /v1/problems/${id}` : `problem "${id}" has no version ${version}`);
  return v;
}

function need(problems: ProblemService | undefined): ProblemService {
  if (!problems) throw new HttpError(503, 'problems_unavailable', 'this node has no sandbox-backed judge, so it cannot import or judge problems');
  return problems;
}

/**
 * On an API-only cluster node: the request answered by a worker, as the worker answered it.
 * Undefined on a node with its own problem service.
 */
async function relayed(deps: AppDeps, req: FastifyRequest, reply: FastifyReply, body?: Readable): Promise<FastifyReply | undefined> {
  if (deps.problems || !deps.problemAccess) return undefined;
  const abort = new AbortController();
  const onClose = () => { if (!req.raw.complete) abort.abort(); };
  req.raw.once('close', onClose);
  try {
    const a = await deps.problemAccess.relay.forward(req.method, req.url.replace(/^\/v1/, ''), req.headers, body, abort.signal);
    if (body && !req.raw.complete) reply.header('connection', 'close');
    return reply.code(a.status).headers(a.headers).send(a.status === 204 ? null : a.body);
  } finally {
    req.raw.off('close', onClose);
  }
}

export const problemRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  const { config } = deps;
  // The package is read from the request stream by the importer, never buffered: the parser
  // only hands the handler an empty string to validate (the stream is req.raw). Any content
  // type is taken; the body's first bytes tell a zip from a tar or a tar.gz.
  app.addContentTypeParser('*', (_req, _payload, done) => done(null, ''));
  for (const t of PACKAGE_TYPES) app.addContentTypeParser(t, (_req, _payload, done) => done(null, ''));

  app.put('/problems/:id', {
    bodyLimit: config.maxProblemBytes,
    // GAVEL_UPLOAD_TIMEOUT_MS and the minimum rate, not GAVEL_REQUEST_TIMEOUT_MS (src/http/body-deadline.ts)
    config: { upload: true },
    schema: {
      summary: 'Import (or replace) a problem package',
      description: 'The body is an ICPC / Kattis problem package (legacy, 2023-07 or 2025-09; DOMjudge zips too) as zip, tar or tar.gz. '
        + 'It is unpacked as it streams in, its test data stored content-addressed, its validators compiled; only then does the new '
        + 'version become current, in one step. Replacing makes a new version; submissions already accepted keep the version they got. '
        + 'Bad packages get a 4xx naming the entry at fault (`entry`).',
      operationId: 'putProblem', tags, security,
      consumes: PACKAGE_TYPES,
      params: IdParams,
      querystring: PutQuery,
      body: Type.String({ description: 'the package archive (binary)' }),
      response: {
        200: summary('Replaced: a new version is current'),
        201: summary('Created'),
        400: errors[400], 401: errors[401],
        409: errorResponse('An import of the same id is running'),
        413: errorResponse('The package (or what it unpacks to) is larger than GAVEL_MAX_PROBLEM_BYTES, or has more than GAVEL_MAX_PROBLEM_FILES entries'),
        422: errorResponse('A validator or interactor of the package does not compile (the message has the compiler output), or the package needs what this server does not support'),
        503: errors[503],
      },
    },
  }, async (req, reply) => {
    const relay = await relayed(deps, req, reply, req.raw);
    if (relay) return relay;
    const problems = need(deps.problems);
    const abort = new AbortController();
    const onClose = () => { if (!req.raw.complete) abort.abort(); };
    req.raw.once('close', onClose);
    try {
      const { created, problem } = await problems.put(req.params.id, req.raw, { timeLimitMs: req.query.timeLimitMs, signal: abort.signal });
      req.log.info({ problem: problem.id, version: problem.version, tests: problem.tests, bytes: problem.bytes }, created ? 'problem imported' : 'problem replaced');
      return reply.code(created ? 201 : 200).header('location', `/v1/problems/${problem.id}`).send(problem);
    } catch (e) {
      // The rest of a refused body is not read: close the connection after the answer.
      if (!req.raw.complete) reply.header('connection', 'close');
      throw problemHttpError(e);
    } finally {
      req.raw.off('close', onClose);
    }
  });

  app.get('/problems', {
    schema: {
      summary: 'List the imported problems (their current versions)',
      operationId: 'listProblems', tags, security,
      response: { 200: Type.Object({ problems: Type.Array(Type.Unsafe<ProblemSummary>({ $ref: 'ProblemSummary#' })) }, { description: 'Every problem, by id' }), 401: errors[401], 503: errors[503] },
    },
  }, async (req, reply) => (await relayed(deps, req, reply)) ?? { problems: await need(deps.problems).list() });

  app.get('/problems/:id', {
    schema: {
      summary: 'Get a problem (its current version)',
      operationId: 'getProblem', tags, security,
      params: IdParams,
      response: { 200: summary('The problem'), 401: errors[401], 404: errorResponse('No such problem'), 503: errors[503] },
    },
  }, async (req, reply) => {
    const relay = await relayed(deps, req, reply);
    if (relay) return relay;
    const p = await need(deps.problems).get(req.params.id).catch((e) => { throw problemHttpError(e); });
    if (!p) throw new HttpError(404, 'unknown_problem', `no problem "${req.params.id}"`);
    return p;
  });

  app.delete('/problems/:id', {
    schema: {
      summary: 'Delete a problem and all its versions',
      description: 'Submissions still queued for it end with IE ("problem deleted"). Test data no other problem shares is removed.',
      operationId: 'deleteProblem', tags, security,
      params: IdParams,
      response: {
        204: { description: 'Deleted', type: 'null' }, 401: errors[401], 404: errorResponse('No such problem'),
        409: errorResponse('An import of the same id is running'), 503: errors[503],
      },
    },
  }, async (req, reply) => {
    const relay = await relayed(deps, req, reply);
    if (relay) return relay;
    const gone = await need(deps.problems).delete(req.params.id).catch((e) => { throw problemHttpError(e); });
    if (!gone) throw new HttpError(404, 'unknown_problem', `no problem "${req.params.id}"`);
    req.log.info({ problem: req.params.id }, 'problem deleted');
    return reply.code(204).send(null);
  });
};
