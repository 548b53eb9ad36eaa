// A Judge that also judges submissions to imported problems: a submission with "problem"
// goes to the problem service (against the version fixed when it was accepted), every
// other one and everything else to the judge it wraps. The service's worker, recorder,
// events and durability are therefore the same for both kinds.
import type { Judge, JudgeEvent, JudgeResult, RunRequest, Submission } from '../judge/schema.js';
import type { ProblemService } from './service.js';

export class ProblemAwareJudge implements Judge {
  readonly caps: Judge['caps'];

  constructor(private readonly inner: Judge, readonly problems: ProblemService) {
    this.caps = inner.caps;
  }

  languages() {
    return this.inner.languages();
  }

  validate(sub: Submission): void {
    this.inner.validate(sub);
  }

  validateRun(req: RunRequest): void {
    this.inner.validateRun(req);
  }

  judge(sub: Submission, onEvent: (e: JudgeEvent) => void, signal?: AbortSignal): Promise<JudgeResult> {
    if (sub.problem === undefined) return this.inner.judge(sub, onEvent, signal);
    if (sub.problemVersion === undefined) throw new Error('a problem submission reached the judge without its version');
    return this.problems.judgeRun(sub.problem, sub.problemVersion, { language: sub.language, source: sub.source, files: sub.files, limits: sub.limits }, onEvent, signal);
  }

  execute(req: RunRequest, signal?: AbortSignal) {
    return this.inner.execute(req, signal);
  }

  pool() {
    return this.inner.pool();
  }

  describe(): string {
    return this.inner.describe?.() ?? '';
  }

  /** Closes the wrapped judge; the problem service is closed by whoever opened it. */
  close(): Promise<void> {
    return this.inner.close();
  }
}
