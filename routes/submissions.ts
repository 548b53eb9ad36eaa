// /v1/submissions: accept (durably, then 202), inspect, cancel, and stream events (SSE).
import type { ServerResponse } from 'node:http';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { Submission } from '../src/judge/schema.js';
import type { StoredEvent } from '../src/store/index.js';
import type { Subscriber } from '../src/events/types.js';
import type { SubmissionView } from '../src/view.js';
import type { AppDeps } from '../src/deps.js';
import { commonErrors, errorResponse, errors, HttpError } from './errors.js';
import { checkSubmissionCaps } from './checks.js';
import { checkProblemRun } from '../src/problems/judging.js';
import { clusterProblemVersion, problemHttpError } from './problems.js';

/** The shared SubmissionView component (registered by buildApp), with a per-response description. */
const view = (description: string) => Type.Unsafe<SubmissionView>({ $ref: 'SubmissionView#', description });

const Accepted = Type.Object({
  id: Type.String(),
  status: Type.Literal('queued'),
  position: Type.Optional(Type.Integer({ minimum: 1, description: 'place in the queue (absent when judging started at once)' })),
  createdAt: Type.String({ format: 'date-time' }),
}, {
  description: 'Accepted: stored durably and queued',
  headers: { location: { type: 'string', description: 'the submission\'s URL, /v1/submissions/{id}' } },
});

const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });

const EventsQuery = Type.Object({
  lastEventId: Type.Optional(Type.String({ maxLength: 32, description: 'same as the Last-Event-ID header, for clients that cannot set headers' })),
});

const security: Array<Record<string, string[]>> = [{ bearerAuth: [] }];
const tags = ['submissions'];

/** Buffered bytes after which a client that does not read is cut off (it can resume). */
const MAX_BUFFERED = 16 * 1024 * 1024;

/** One SSE connection: event framing, heartbeats, and cleanup when either side goes away. */
class SseStream implements Subscriber {
  private closed = false;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly cleanups: Array<() => void> = [];

  constructor(private readonly res: ServerResponse, heartbeatMs: number) {
    this.heartbeat = setInterval(() => this.write(': ping\n\n'), heartbeatMs);
    res.on('close', () => this.cleanup());
    res.on('error', () => this.cleanup());
  }

  onClose(fn: () => void): void {
    if (this.closed) fn();
    else this.cleanups.push(fn);
  }

  send(ev: StoredEvent): void {
    // JSON.stringify escapes newlines, so data is always one line.
    this.write(`id: ${ev.seq}\nevent: ${ev.type}\ndata: ${JSON.stringify(ev.data)}\n\n`);
  }

  end(): void {
    if (this.closed) return;
    this.res.end();
    this.cleanup();
  }

  private write(chunk: string): void {
    if (this.closed || this.res.destroyed) return;
    if (this.res.writableLength > MAX_BUFFERED) {
      this.res.destroy();
      return;
    }
    this.res.write(chunk);
  }

  private cleanup(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    for (const fn of this.cleanups.splice(0)) fn();
  }
}

function parseLastEventId(value: unknown): number {
  const text = Array.isArray(value) ? value[0] : value;
  if (typeof text !== 'string' || !/^\d{1,15}$/.test(text.trim())) return 0;
  return Number(text.trim());
}

/** How long DELETE waits for a running submission to stop before answering 202. */
const CANCEL_WAIT_MS = 2000;

const notFound = (id: string) => new HttpError(404, 'not_found', `no submission ${JSON.stringify(id)} (unknown, or deleted after the retention period)`);

export const submissionRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  const { store, submissions, bus, judge, config } = deps;

  app.post('/submissions', {
    schema: {
      summary: 'Submit a program for judging',
      description: 'Stores the submission durably, queues it, and answers 202 with its id; follow it with GET or the events stream.',
      operationId: 'createSubmission', tags, security,
      body: Submission,
      response: { 202: Accepted, ...commonErrors, 404: errorResponse('With "problem": no such problem, or no such version of it') },
    },
  }, async (req, reply) => {
    judge.validate(req.body);
    checkSubmissionCaps(req.body, config);
    if (req.body.problem !== undefined) {
      // The version is fixed now: the submission is judged against it even if the problem is replaced meanwhile.
      if (deps.problems) {
        const v = await deps.problems.resolve(req.body.problem, req.body.problemVersion).catch((e) => { throw problemHttpError(e); });
        const { language, source, files, limits } = req.body;
        deps.problems.judge.validate(v, { language, source, files, limits });
        req.body.problemVersion = v.version;
      } else if (deps.problemAccess) {
        // An API-only node fixes the version from the shared registry, and checks the
        // request against the problem's metadata there, as a worker would.
        const v = await clusterProblemVersion(deps.problemAccess.registry, req.body.problem, req.body.problemVersion);
        const { language, source, files, limits } = req.body;
        checkProblemRun(judge.caps, v.meta, { language, source, files, limits });
        req.body.problemVersion = v.version;
      } else {
        throw new HttpError(503, 'problems_unavailable', 'this node cannot judge problems');
      }
    }
    const acc = await submissions.accept(req.body);
    req.log.info({ submissionId: acc.id, language: req.body.language, tests: req.body.tests?.length, problem: req.body.problem, problemVersion: req.body.problemVersion }, 'submission accepted');
    return reply.code(202).header('location', `/v1/submissions/${acc.id}`).send({
      id: acc.id, status: 'queued', ...(acc.position !== undefined ? { position: acc.position } : {}),
      createdAt: new Date(acc.createdAt).toISOString(),
    });
  });

  app.get('/submissions/:id', {
    schema: {
      summary: 'Get a submission and its results so far',
      operationId: 'getSubmission', tags, security,
      params: IdParams,
      response: { 200: view('The submission, with results so far'), 401: errors[401], 404: errors[404] },
    },
  }, async (req) => {
    const view = await submissions.view(req.params.id);
    if (!view) throw notFound(req.params.id);
    return view;
  });

  app.delete('/submissions/:id', {
    schema: {
      summary: 'Cancel a queued or running submission',
      description: 'A cancelled submission ends finished with verdict IE, error "cancelled" and cancelled=true. '
        + 'Answers 200 with the final state when that happened within ~2 s (always, for queued ones), else 202 while the sandbox stops.',
      operationId: 'cancelSubmission', tags, security,
      params: IdParams,
      response: {
        200: view('Cancelled: the final state'), 202: view('Cancellation under way: the sandbox is being stopped'),
        401: errors[401], 404: errors[404], 409: errors[409],
      },
    },
  }, async (req, reply) => {
    const { id } = req.params;
    const c = await submissions.cancel(id, CANCEL_WAIT_MS);
    switch (c.state) {
      case 'unknown': throw notFound(id);
      case 'finished': throw new HttpError(409, 'already_finished', `submission ${id} has already finished`);
      case 'not_cancellable': throw new HttpError(409, 'not_cancellable', `submission ${id} is not queued or running anywhere this service knows of`);
    }
    req.log.info({ submissionId: id, was: c.was }, 'cancel requested');
    return reply.code(c.finished ? 200 : 202).send(c.view);
  });

  app.get('/submissions/:id/events', {
    // A HEAD would hold the connection open like a stream without ever getting data.
    exposeHeadRoute: false,
    schema: {
      summary: 'Stream a submission\'s events (Server-Sent Events)',
      description: 'Events: status (with queue position while queued), compile, test-start, telemetry (throttled), test, and verdict '
        + '(the final submission, after which the stream ends). Every event has an id; reconnect with Last-Event-ID (header, or the '
        + 'lastEventId query parameter) to resume after it. Late clients get the history replayed. Telemetry and queue-position '
        + 'updates are not stored and repeat the id of the last stored event. Heartbeat comments (": ping") keep the stream alive. '
        + 'When the submission has finished and the client has everything, the answer is 204 (EventSource then stops reconnecting).',
      operationId: 'streamSubmissionEvents', tags, security,
      params: IdParams,
      querystring: EventsQuery,
      headers: Type.Object({ 'last-event-id': Type.Optional(Type.String({ maxLength: 32 })) }),
      response: {
        200: { description: 'an event stream', content: { 'text/event-stream': { schema: Type.String() } } },
        204: { description: 'finished, and the client has every event', type: 'null' },
        401: errors[401], 404: errors[404],
      },
    },
  }, async (req, reply) => {
    const { id } = req.params;
    const rec = await store.get(id);
    if (!rec) throw notFound(id);
    const after = parseLastEventId(req.headers['last-event-id'] ?? req.query.lastEventId);
    if (rec.status === 'finished' && after >= rec.lastSeq) return reply.code(204).send(null);

    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
      'x-request-id': req.id,
    });
    res.write(`retry: ${config.sseRetryMs}\n\n`);
    const stream = new SseStream(res, config.heartbeatMs);
    deps.metrics.eventStreams.inc();
    stream.onClose(() => deps.metrics.eventStreams.dec());
    try {
      // Replays what the store has after `after`, then streams live; ends after the verdict.
      stream.onClose(await bus.subscribe(id, after, stream));
    } catch (err) {
      req.log.error({ err, submissionId: id }, 'event replay failed');
      stream.end();
      return;
    }
    if (rec.status === 'queued') {
      const position = await submissions.position(id);
      if (position !== undefined) bus.transient(id, 'status', { status: 'queued', position });
    }
  });
};
