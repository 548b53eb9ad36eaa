// The worker: the JobHandler of a node that judges. For each job it reads the submission back
// from the store, judges it from scratch, records its events and finishes it durably. It is
// the same whatever queue hands it jobs (in-process or BullMQ) and whatever store and bus are
// behind the recorder.
import type { Judge, JudgeResult } from '../judge/schema.js';
import { CancelledError, InterruptedError, type Job } from './types.js';
import { SubmissionRecorder, type RecorderDeps } from './recorder.js';

export class SubmissionWorker {
  constructor(private readonly d: RecorderDeps & { judge: Judge }) {}

  /** Judges one job (a JobHandler); resolves when it is finished or left for another attempt. */
  readonly handle = async (job: Job, signal: AbortSignal): Promise<void> => {
    const { store, judge, metrics, logger } = this.d;
    const rec = await store.get(job.id);
    if (!rec) {
      logger.warn({ submissionId: job.id }, 'a queued submission is no longer in the store; skipped');
      return;
    }
    // A cancel or an earlier attempt may have finished it already.
    if (rec.status === 'finished') return;
    const r = new SubmissionRecorder(this.d, rec);
    const startedAt = Date.now();
    metrics.queueWait.observe(Math.max(0, startedAt - job.enqueuedAt) / 1000);
    if (rec.status !== 'queued') {
      // An earlier attempt got as far as judging: it restarts from scratch, and clients learn it
      // from this event (tests they saw will be reported again).
      void r.setStatus('queued', { requeued: true });
    }
    // "compiling" covers preparing the sandbox for interpreted languages too.
    void r.setStatus('compiling', {}, startedAt);
    r.log.info({ language: rec.language, attempt: job.attempt }, 'judging');
    let result: JudgeResult | undefined;
    let failure: unknown;
    try {
      const sub = await store.request(job.id);
      if (!sub) throw new Error('the submission vanished from the store');
      result = await judge.judge(sub, r.onJudgeEvent, signal);
    } catch (err) {
      failure = err;
    }
    if (signal.reason instanceof InterruptedError) {
      await r.flushed();
      r.log.warn('judging interrupted by shutdown; the submission stays unfinished in the store');
      return;
    }
    const cancelled = signal.reason instanceof CancelledError;
    await r.complete(cancelled ? r.cancelledOutcome() : result ?? r.failedOutcome(failure));
  };
}
