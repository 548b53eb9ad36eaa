// The worker: the JobHandler of a node that judges. For each job it reads the submission back
// from the store, judges it from scratch, records its events and finishes it durably. It is
// the same whatever queue hands it jobs (in-process or BullMQ) and whatever store and bus are
// behind the recorder. When the store refuses writes for long (a full disk), the worker stops
// judging, waits until writes work again and judges the submission again: accepted work is
// never stranded, and memory stays bounded meanwhile.
import type { Judge, JudgeResult } from '../judge/schema.js';
import { StorageError } from '../store/index.js';
import { CancelledError, InterruptedError, type Job } from './types.js';
import { SubmissionRecorder, type RecorderDeps } from './recorder.js';
import type { MemoryReleaser } from '../memory.js';

/** How often a stalled worker asks the store whether it takes writes again. */
const STORE_POLL_MS = 500;

export class SubmissionWorker {
  constructor(private readonly d: RecorderDeps & { judge: Judge; memory?: MemoryReleaser }) {}

  /** Judges one job (a JobHandler); resolves when it is finished or left for another attempt. */
  readonly handle = async (job: Job, signal: AbortSignal): Promise<void> => {
    const { store, metrics, logger } = this.d;
    const interrupted = () => signal.reason instanceof InterruptedError;
    for (let attempt = job.attempt; ; attempt++) {
      const rec = await this.untilStored(() => store.get(job.id), signal);
      if (rec === undefined) {
        if (!interrupted()) logger.warn({ submissionId: job.id }, 'a queued submission is no longer in the store; skipped');
        return;
      }
      // A cancel or an earlier attempt may have finished it already.
      if (rec.status === 'finished' || interrupted()) return;
      const r = new SubmissionRecorder(this.d, rec);
      if (signal.reason instanceof CancelledError) {
        await r.complete(r.cancelledOutcome());
        return;
      }
      const startedAt = Date.now();
      if (attempt === job.attempt) metrics.queueWait.observe(Math.max(0, startedAt - job.enqueuedAt) / 1000);
      if (rec.status !== 'queued') {
        // An earlier attempt got as far as judging: it restarts from scratch, and clients learn it
        // from this event (tests they saw will be reported again).
        void r.setStatus('queued', { requeued: true });
      }
      // "compiling" covers preparing the sandbox for interpreted languages too.
      void r.setStatus('compiling', {}, startedAt);
      r.log.info({ language: rec.language, attempt }, 'judging');
      const stall = new AbortController();
      r.onStall = () => stall.abort(new Error('the store refuses writes'));
      // Shutdown stops the recorder's retries too: what is not stored is judged again next time.
      const onAbort = () => { if (interrupted()) r.abandon(); };
      signal.addEventListener('abort', onAbort);
      try {
        if (await this.attempt(r, job.id, signal, stall.signal)) return;
      } finally {
        signal.removeEventListener('abort', onAbort);
      }
      r.log.warn({ attempt }, 'the store refuses writes: judging stopped; it starts again from scratch once the store takes writes');
      await this.untilWritable(signal);
      if (interrupted()) return;
    }
  };

  /** One attempt at judging; false when a stall stopped it and it must start again. */
  private async attempt(r: SubmissionRecorder, id: string, signal: AbortSignal, stall: AbortSignal): Promise<boolean> {
    const { store, judge } = this.d;
    const interrupted = () => signal.reason instanceof InterruptedError;
    let result: JudgeResult | undefined;
    let failure: unknown;
    try {
      const sub = await this.untilStored(() => store.request(id), signal);
      if (!sub) throw new Error(interrupted() ? 'interrupted' : 'the submission vanished from the store');
      try {
        result = await judge.judge(sub, r.onJudgeEvent, AbortSignal.any([signal, stall]));
      } finally {
        // The request was read back whole: a large one leaves its peak behind.
        this.d.memory?.note((sub.tests ?? []).reduce((n, t) => n + t.input.length + t.expected.length, sub.source?.length ?? 0));
      }
    } catch (err) {
      failure = err;
    }
    if (interrupted()) {
      r.abandon();
      await r.flushed();
      r.log.warn('judging interrupted by shutdown; the submission stays unfinished in the store');
      return true;
    }
    const cancelled = signal.reason instanceof CancelledError;
    if (stall.aborted && !cancelled) {
      r.abandon();
      await r.flushed();
      return false;
    }
    await r.complete(cancelled ? r.cancelledOutcome() : result ?? r.failedOutcome(failure));
    return true;
  }

  /** Runs a store read, retrying while the storage fails; undefined when interrupted by shutdown. */
  private async untilStored<T>(read: () => Promise<T>, signal: AbortSignal): Promise<T | undefined> {
    for (;;) {
      try {
        return await read();
      } catch (err) {
        if (!(err instanceof StorageError)) throw err;
        if (await this.pause(signal)) return undefined;
      }
    }
  }

  /** Resolves once the store takes writes again, or when the job is interrupted by shutdown. */
  private async untilWritable(signal: AbortSignal): Promise<void> {
    for (;;) {
      try {
        await this.d.store.check();
        return;
      } catch {
        if (await this.pause(signal)) return;
      }
    }
  }

  /**
   * Waits STORE_POLL_MS (less when the job is interrupted meanwhile); true when it was
   * interrupted by shutdown. A cancel does not end the wait: its outcome must be stored too.
   */
  private pause(signal: AbortSignal): Promise<boolean> {
    const interrupted = () => signal.reason instanceof InterruptedError;
    if (interrupted()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = () => { clearTimeout(t); signal.removeEventListener('abort', onAbort); resolve(interrupted()); };
      const onAbort = () => { if (interrupted()) done(); };
      const t = setTimeout(done, STORE_POLL_MS);
      if (!signal.aborted) signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}
