// The public shape of a submission (GET /v1/submissions/:id, the final SSE `verdict` event and
// the webhook body), built from the stored record plus, while it is judged, live progress.
import { Type, type Static } from 'typebox';
import { CompileResult, TestResult, Verdict } from './judge/schema.js';
import type { SubmissionRecord, SubmissionStatus } from './store/index.js';

export const Status = Type.Union([Type.Literal('queued'), Type.Literal('compiling'), Type.Literal('running'), Type.Literal('finished')]);

export const SubmissionView = Type.Object({
  id: Type.String(),
  status: Status,
  language: Type.String(),
  problem: Type.Optional(Type.Object({ id: Type.String(), version: Type.Integer() }, { description: 'submissions to an imported problem (once judged): the version judged against' })),
  verdict: Type.Optional(Verdict),
  score: Type.Optional(Type.Number()),
  maxScore: Type.Optional(Type.Number()),
  timeMs: Type.Optional(Type.Number({ description: 'max CPU time over tests' })),
  memoryBytes: Type.Optional(Type.Number({ description: 'max peak memory over tests' })),
  compile: Type.Optional(CompileResult),
  tests: Type.Array(TestResult, { description: 'results so far, in test order' }),
  error: Type.Optional(Type.String({ description: 'for IE: what went wrong ("cancelled" when cancelled)' })),
  cancelled: Type.Optional(Type.Boolean({ description: 'true when ended by DELETE' })),
  position: Type.Optional(Type.Integer({ minimum: 1, description: 'place in the queue while queued (1 = next)' })),
  createdAt: Type.String({ format: 'date-time' }),
  startedAt: Type.Optional(Type.String({ format: 'date-time' })),
  finishedAt: Type.Optional(Type.String({ format: 'date-time' })),
});
export type SubmissionView = Static<typeof SubmissionView>;

/** Progress of a submission being judged, known only to the process judging it. */
export interface LiveProgress {
  status: SubmissionStatus;
  position?: number;
  startedAt?: number;
  compile?: CompileResult;
  tests: TestResult[];
}

const iso = (ms: number) => new Date(ms).toISOString();

export function toView(rec: SubmissionRecord, live?: LiveProgress): SubmissionView {
  const v: SubmissionView = {
    id: rec.id,
    status: rec.status,
    language: rec.language,
    tests: [],
    createdAt: iso(rec.createdAt),
  };
  const r = rec.result;
  if (rec.status === 'finished' && r) {
    v.verdict = r.verdict;
    if (r.score !== undefined) v.score = r.score;
    if (r.maxScore !== undefined) v.maxScore = r.maxScore;
    v.timeMs = r.timeMs;
    v.memoryBytes = r.memoryBytes;
    if (r.compile) v.compile = r.compile;
    v.tests = r.tests;
    if (r.error !== undefined) v.error = r.error;
    if (r.cancelled) v.cancelled = true;
    if (r.problem) v.problem = r.problem;
  } else if (live) {
    v.status = live.status;
    if (live.position !== undefined) v.position = live.position;
    if (live.compile) v.compile = live.compile;
    v.tests = live.tests;
  }
  const startedAt = live?.startedAt ?? rec.startedAt;
  if (startedAt !== undefined) v.startedAt = iso(startedAt);
  if (rec.finishedAt !== undefined) v.finishedAt = iso(rec.finishedAt);
  return v;
}
