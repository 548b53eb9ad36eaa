// Every failure becomes JSON `{error, message}`: `error` a stable machine-readable code, `message`
// a sentence naming the problem. Anything caused by the request is a 4xx; a 5xx means a bug or a
// broken host, and is logged with the request id the client sees in X-Request-Id.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type, type Static } from 'typebox';
import { QueueFullError, ShuttingDownError } from '../src/queue/types.js';
import { InputError } from '../src/judge/checks.js';
import { StoreUnavailableError } from '../src/store/unavailable.js';
import { RelayedClientError } from '../src/cluster/relay.js';
import { StorageError } from '../src/store/index.js';

/** Seconds a client should wait after a storage fault before trying again. */
const STORAGE_RETRY_AFTER = 10;

export const ErrorBody = Type.Object({
  error: Type.String({ description: 'machine-readable code, e.g. invalid_request, unknown_language, queue_full' }),
  message: Type.String({ description: 'what is wrong, for humans' }),
  details: Type.Optional(Type.Array(Type.Object({ path: Type.String(), message: Type.String() }))),
  known: Type.Optional(Type.Array(Type.String(), { description: 'for unknown_language: the known language ids' })),
}, { additionalProperties: true });
export type ErrorBody = Static<typeof ErrorBody>;

/** An error with the HTTP status and code to answer with. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** A response schema pointing at the shared ErrorBody (registered by buildApp), with its own description. */
export function errorResponse(description: string, headers?: Record<string, { type: 'string' | 'integer'; description: string }>) {
  return Type.Unsafe<ErrorBody>({ $ref: 'ErrorBody#', description, ...(headers ? { headers } : {}) });
}

export const errors = {
  400: errorResponse('The request is invalid: schema violation, unknown language, a limit above its cap, bad paths, ...'),
  401: errorResponse('A bearer token is required (GAVEL_TOKENS is set) and was missing or wrong'),
  404: errorResponse('No such submission'),
  409: errorResponse('The submission cannot be cancelled (already finished)'),
  413: errorResponse('The body, the tests or the sources are larger than the configured caps'),
  415: errorResponse('The body is not application/json'),
  429: errorResponse('The queue is full; retry after the given number of seconds', {
    'retry-after': { type: 'integer', description: 'seconds to wait before retrying' },
  }),
  503: errorResponse('The service is shutting down or not ready, its store cannot be written, or (cluster mode) the database, Redis or every worker is unreachable; retry after Retry-After', {
    'retry-after': { type: 'integer', description: 'seconds to wait before retrying' },
  }),
  507: errorResponse('The service\'s disk is full: nothing new can be stored until space is freed', {
    'retry-after': { type: 'integer', description: 'seconds to wait before retrying' },
  }),
} as const;

/** Error responses every body-taking /v1 route can give. */
export const commonErrors = {
  400: errors[400], 401: errors[401], 413: errors[413], 415: errors[415], 429: errors[429], 503: errors[503], 507: errors[507],
} as const;

interface ValidationIssue { instancePath?: string; message?: string; keyword?: string; params?: Record<string, unknown> }

/** Turns validator output into readable lines, dropping the noise union branches produce. */
function describeValidation(context: string | undefined, issues: ValidationIssue[]): Array<{ path: string; message: string }> {
  const out: Array<{ path: string; message: string }> = [];
  const seen = new Set<string>();
  for (const i of issues) {
    if (i.keyword === 'boolean') continue; // duplicate of the additionalProperties error
    const where = `${context ?? 'request'}${i.instancePath ?? ''}`;
    let message = i.message ?? 'is invalid';
    const extra = i.params?.additionalProperties;
    if (i.keyword === 'additionalProperties' && Array.isArray(extra)) message = `has unknown properties: ${extra.join(', ')}`;
    if (i.keyword === 'required' && Array.isArray(i.params?.requiredProperties)) {
      message = `is missing required properties: ${(i.params.requiredProperties as string[]).join(', ')}`;
    }
    const line = `${where} ${message}`;
    if (seen.has(line)) continue;
    seen.add(line);
    out.push({ path: where, message });
    if (out.length >= 20) break;
  }
  return out;
}

function send(reply: FastifyReply, status: number, body: ErrorBody, headers: Record<string, string> = {}) {
  for (const [k, v] of Object.entries(headers)) reply.header(k, v);
  return reply.code(status).type('application/json; charset=utf-8').send(body);
}

/** Maps an error to status + body; exported for tests and the SSE route. */
export function toHttp(err: FastifyError | Error, bodyLimit: number): { status: number; body: ErrorBody; headers?: Record<string, string> } {
  if (err instanceof HttpError) {
    return { status: err.statusCode, body: { error: err.code, message: err.message, ...err.extra }, headers: err.headers };
  }
  if (err instanceof InputError) {
    // The judge's checks of what the client sent (languages, limits, paths, ...).
    return { status: 400, body: { error: err.code, message: err.message, ...err.extra } };
  }
  if (err instanceof QueueFullError) {
    return { status: 429, body: { error: 'queue_full', message: err.message }, headers: { 'retry-after': String(err.retryAfterSec) } };
  }
  if (err instanceof StorageError) {
    // The service's own disk, not the request: 507 when it is full, 503 when it is unusable.
    const full = err.kind === 'full';
    return {
      status: full ? 507 : 503,
      body: {
        error: full ? 'storage_full' : 'storage_unavailable',
        message: `${err.message}: the service cannot store new work now; retry later (work already accepted is kept and finishes when the store takes writes again)`,
      },
      headers: { 'retry-after': String(STORAGE_RETRY_AFTER) },
    };
  }
  if (err instanceof ShuttingDownError) {
    return { status: 503, body: { error: 'shutting_down', message: err.message }, headers: { 'retry-after': '5' } };
  }
  if (err instanceof StoreUnavailableError) {
    // Cluster mode: the database, Redis or every worker is unreachable right now.
    return { status: 503, body: { error: 'unavailable', message: err.message }, headers: { 'retry-after': String(err.retryAfterSec) } };
  }
  if (err instanceof RelayedClientError) {
    return { status: err.statusCode, body: { error: err.code, message: err.message }, headers: err.headers };
  }
  const fe = err as FastifyError & { validation?: ValidationIssue[]; validationContext?: string };
  if (fe.validation) {
    const details = describeValidation(fe.validationContext, fe.validation);
    const first = details[0];
    return {
      status: 400,
      body: { error: 'invalid_request', message: first ? `${first.path} ${first.message}` : 'the request does not match the schema', details },
    };
  }
  switch (fe.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { status: 413, body: { error: 'payload_too_large', message: `the request body is larger than ${bodyLimit} bytes (GAVEL_BODY_LIMIT)` } };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { status: 415, body: { error: 'unsupported_media_type', message: 'send the body as application/json' } };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { status: 400, body: { error: 'invalid_json', message: 'the body is empty but Content-Type says application/json' } };
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return { status: 400, body: { error: 'invalid_json', message: `the body is not valid JSON: ${fe.message}` } };
  }
  if (err instanceof SyntaxError) {
    return { status: 400, body: { error: 'invalid_json', message: `the body is not valid JSON: ${err.message}` } };
  }
  const status = fe.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    const code = (fe.code ?? 'bad_request').replace(/^FST_ERR_/, '').toLowerCase();
    return { status, body: { error: code, message: fe.message } };
  }
  return { status: 500, body: { error: 'internal', message: 'internal error; the server log has details under this request id' } };
}

interface KnownRoute { method: string; pattern: RegExp }

/**
 * Installs the error and not-found handlers. Call before routes are added: it records them to
 * tell "no such path" (404) from "path exists, wrong method" (405 with Allow).
 */
export function registerErrorHandling(app: FastifyInstance, bodyLimit: number): (req: FastifyRequest, reply: FastifyReply) => FastifyReply {
  const routes: KnownRoute[] = [];
  app.addHook('onRoute', (r) => {
    const methods = Array.isArray(r.method) ? r.method : [r.method];
    const source = r.url.split('/').map((seg) => (seg.startsWith(':') ? '[^/]+' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))).join('/');
    for (const m of methods) routes.push({ method: m.toUpperCase(), pattern: new RegExp(`^${source}/?$`) });
  });

  app.setErrorHandler((err: FastifyError, req: FastifyRequest, reply: FastifyReply) => {
    const { status, body, headers } = toHttp(err, bodyLimit);
    if (status >= 500) req.log.error({ err }, 'request failed');
    else req.log.info({ status, error: body.error, reason: body.message }, 'request rejected');
    return send(reply, status, body, headers);
  });

  const notFound = (req: FastifyRequest, reply: FastifyReply) => {
    const path = req.url.split('?')[0];
    const allowed = [...new Set(routes.filter((r) => r.pattern.test(path)).map((r) => r.method))];
    if (allowed.length) {
      return send(reply, 405, {
        error: 'method_not_allowed', message: `${req.method} is not allowed on ${path}; use ${allowed.join(', ')}`,
      }, { allow: allowed.join(', ') });
    }
    return send(reply, 404, { error: 'not_found', message: `no route ${req.method} ${path}` });
  };
  app.setNotFoundHandler(notFound);
  return notFound;
}
