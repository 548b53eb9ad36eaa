// The judge of an API-only node: it knows the languages, limits and caps (to validate requests
// and list /v1/languages) but has no sandbox pool and never judges; work goes through the queue
// to worker nodes, and /v1/run is relayed. API nodes run the same image as workers, so the
// toolchains found here are the ones the workers have.
import { DEFAULT_CAPS } from '../judge/index.js';
import { detectLanguages } from '../judge/languages.js';
import { validateRun, validateSubmission, type CheckContext } from '../judge/checks.js';
import type { Judge, JudgeResult, LanguageInfo, Limits, RunRequest, RunResponse, Submission } from '../judge/schema.js';

export class CatalogJudge implements Judge {
  readonly caps: Required<Limits>;
  private readonly checks: CheckContext;

  private constructor(private readonly langs: LanguageInfo[], caps: Partial<Limits>) {
    this.caps = { ...DEFAULT_CAPS, ...caps };
    this.checks = { languages: this.langs.map((l) => l.id), caps: this.caps };
  }

  /** Finds the toolchains this image has (the same probe as a worker's). */
  static async open(languagesFile?: string, caps: Partial<Limits> = {}): Promise<CatalogJudge> {
    const found = await detectLanguages(languagesFile);
    return new CatalogJudge([...found.values()].map((l) => ({
      id: l.id, name: l.name, version: l.versionString, extensions: l.extensions ?? [], source: l.source,
      ...(l.compile ? { compile: l.compile } : {}), run: l.run,
    })), caps);
  }

  languages(): LanguageInfo[] {
    return this.langs;
  }

  validate(sub: Submission): void {
    validateSubmission(sub, this.checks);
  }

  validateRun(req: RunRequest): void {
    validateRun(req, this.checks);
  }

  judge(): Promise<JudgeResult> {
    return Promise.reject(new Error('this node has GAVEL_ROLE=api and does not judge'));
  }

  execute(): Promise<RunResponse> {
    return Promise.reject(new Error('this node has GAVEL_ROLE=api and runs nothing itself'));
  }

  pool(): { size: number; busy: number } {
    return { size: 0, busy: 0 };
  }

  describe(): string {
    return 'no sandbox pool (GAVEL_ROLE=api)';
  }

  async close(): Promise<void> {}
}
