// POST /v1/run: one synchronous sandboxed run, sharing the sandbox slots with judging.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { RunRequest, RunResponse } from '../src/judge/schema.js';
import type { AppDeps } from '../src/deps.js';
import { commonErrors } from './errors.js';
import { checkRunCaps } from './checks.js';

export const runRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  const { judge, runs, metrics, config } = deps;

  app.post('/run', {
    schema: {
      summary: 'Run one program synchronously',
      description: 'Runs a command (cmd) or a program (language + source) once in the sandbox and answers when it ends. '
        + 'Waits for a free sandbox slot first (these runs go ahead of queued submissions); 429 when too many already wait.',
      operationId: 'run', tags: ['run'], security: [{ bearerAuth: [] }],
      body: RunRequest,
      response: { 200: Type.Unsafe<RunResponse>({ ...RunResponse, description: 'The run\'s outcome' }), ...commonErrors },
    },
  }, async (req, reply) => {
    judge.validateRun(req.body);
    checkRunCaps(req.body, config);
    // A client that hangs up no longer needs the run: free the slot.
    const gone = new AbortController();
    reply.raw.on('close', () => {
      if (!reply.raw.writableFinished) gone.abort(new Error('the client closed the connection'));
    });
    let result: RunResponse;
    try {
      result = await runs.execute(req.body, gone.signal);
    } catch (e) {
      if (!gone.signal.aborted) throw e;
      result = { status: 'SE', error: 'cancelled', exitCode: null, signal: null, cpuTimeMs: 0, wallTimeMs: 0, memoryBytes: 0, stdout: '', stderr: '' };
    }
    if (gone.signal.aborted) {
      // Nobody is there to answer; not an error of ours either.
      req.log.info('client closed the connection; its run was cancelled');
      reply.raw.destroy();
      return reply;
    }
    metrics.runs.inc({ status: result.status });
    if (result.status === 'SE') {
      metrics.sandboxErrors.inc({ kind: 'run' });
      req.log.error({ error: result.error }, 'sandbox error in /v1/run');
    } else if (result.error !== undefined) {
      // The command could not be executed (exit code 127/126): the client's mistake.
      req.log.info({ error: result.error, exitCode: result.exitCode }, 'the command of a /v1/run could not be executed');
    }
    return result;
  });
};
