// The judge's checks of what a client asks for, beyond what the schema can say: known languages,
// limits within the caps, exactly one of source/files, one path policy for every file the judge
// writes, checker and interactor rules, and the shape of a /v1/run request. The one owner of
// validation: the HTTP layer adds only its own size caps, the CLI and the service call these
// through Judge.validate / Judge.validateRun, and the workspace applies the same path policy.
import type { Limits, Program, RunRequest, SourceFile, Submission } from './schema.js';

/** A request the judge refuses; `code` is the machine-readable error, `message` names the field. */
export class InputError extends Error {
  constructor(message: string, readonly code = 'invalid_request', readonly extra: Record<string, unknown> = {}) {
    super(message);
    this.name = 'InputError';
  }
}

/** Longest path component and whole path, in bytes (Linux NAME_MAX and PATH_MAX). */
export const MAX_NAME_BYTES = 255;
export const MAX_PATH_BYTES = 4096;

/** What the checks need to know about the judge. */
export interface CheckContext {
  languages: readonly string[];
  caps: Required<Limits>;
}

/**
 * The path policy: relative, '/'-separated, no empty, "." or ".." segment, no backslash, no NUL,
 * each component at most 255 bytes and the whole at most 4096. Returns the path unchanged.
 */
export function checkRelativePath(p: string, field: string): string {
  const segs = p.split('/');
  const bad = p.startsWith('/') || p.includes('\\') || p.includes('\0')
    || segs.some((seg) => seg === '' || seg === '.' || seg === '..');
  if (bad) {
    throw new InputError(`${field}: ${JSON.stringify(p.slice(0, 100))} must be a relative path that stays inside the work dir (no ".", ".." or empty segments, no backslash or NUL)`, 'invalid_path');
  }
  const long = segs.find((seg) => Buffer.byteLength(seg) > MAX_NAME_BYTES);
  if (long !== undefined) {
    throw new InputError(`${field}: the component ${JSON.stringify(long.slice(0, 40) + '…')} is ${Buffer.byteLength(long)} bytes, above ${MAX_NAME_BYTES}`, 'invalid_path');
  }
  if (Buffer.byteLength(p) > MAX_PATH_BYTES) {
    throw new InputError(`${field}: the path is ${Buffer.byteLength(p)} bytes, above ${MAX_PATH_BYTES}`, 'invalid_path');
  }
  return p;
}

function checkLanguage(ctx: CheckContext, language: string, field: string): void {
  if (!ctx.languages.includes(language)) {
    throw new InputError(`${field}: unknown language ${JSON.stringify(language)}; known: ${ctx.languages.join(', ') || '(none)'}`,
      'unknown_language', { known: [...ctx.languages] });
  }
}

function checkLimits(ctx: CheckContext, limits: Limits | undefined, field: string): void {
  if (!limits) return;
  for (const [key, value] of Object.entries(limits) as Array<[keyof Limits, number | undefined]>) {
    const cap = ctx.caps[key];
    if (value !== undefined && cap !== undefined && value > cap) {
      throw new InputError(`${field}.${key} is ${value}, above the cap of ${cap}`, 'limit_exceeded', { cap: { [key]: cap } });
    }
  }
}

/** Exactly one of source/files; paths by the policy, each once, at most one entry. */
function checkProgram(prog: Pick<Program, 'source' | 'files'>, field: string): void {
  const hasSource = prog.source !== undefined;
  const hasFiles = prog.files !== undefined;
  if (hasSource === hasFiles) {
    throw new InputError(`${field}: give exactly one of "source" and "files" (got ${hasSource ? 'both' : 'neither'})`, 'invalid_source');
  }
  if (hasSource) return;
  const files: SourceFile[] = prog.files!;
  if (files.length === 0) throw new InputError(`${field}.files is empty`, 'invalid_source');
  const seen = new Set<string>();
  files.forEach((f, i) => {
    checkRelativePath(f.path, `${field}.files[${i}].path`);
    if (seen.has(f.path)) throw new InputError(`${field}.files[${i}].path: ${JSON.stringify(f.path)} appears twice`, 'invalid_path');
    seen.add(f.path);
  });
  if (files.filter((f) => f.entry).length > 1) throw new InputError(`${field}.files: at most one file may be the entry`, 'invalid_source');
}

export function validateSubmission(sub: Submission, ctx: CheckContext): void {
  checkLanguage(ctx, sub.language, 'language');
  checkProgram(sub, 'submission');
  checkLimits(ctx, sub.limits, 'limits');
  if (sub.problem !== undefined) {
    // The problem brings its tests, validators and interactor; the problem's own limits are
    // checked when it is looked up (they may only be lowered).
    const extra = (['tests', 'checker', 'interactor', 'stopOnFirstFailure'] as const).filter((k) => sub[k] !== undefined);
    if (extra.length) throw new InputError(`${extra.join(', ')}: not allowed with "problem" (the problem package brings its own)`, 'invalid_request');
    return;
  }
  if (sub.problemVersion !== undefined) throw new InputError('problemVersion: only allowed with "problem"', 'invalid_request');
  if (sub.tests === undefined) throw new InputError('give "tests" (inline tests) or "problem" (an imported problem id)', 'invalid_request');
  const ids = new Set<string>();
  sub.tests.forEach((t, i) => {
    if (t.id === undefined) return;
    if (ids.has(t.id)) throw new InputError(`tests[${i}].id ${JSON.stringify(t.id)} is used twice`, 'duplicate_test_id');
    ids.add(t.id);
  });
  const checker = sub.checker;
  if (checker?.kind === 'program') {
    if (!checker.language) throw new InputError('checker: kind "program" needs "language"', 'invalid_checker');
    checkLanguage(ctx, checker.language, 'checker.language');
    checkProgram(checker, 'checker');
  } else if (checker && (checker.source !== undefined || checker.files !== undefined)) {
    throw new InputError(`checker: kind "${checker.kind}" takes no source; use kind "program" for a custom checker`, 'invalid_checker');
  }
  if (sub.interactor) {
    checkLanguage(ctx, sub.interactor.language, 'interactor.language');
    checkProgram(sub.interactor, 'interactor');
  }
}

export function validateRun(req: RunRequest, ctx: CheckContext): void {
  if ((req.cmd === undefined) === (req.language === undefined)) {
    throw new InputError('give exactly one of "cmd" (a command line) and "language" (with "source")', 'invalid_run');
  }
  if (req.language !== undefined && req.source === undefined) throw new InputError('"language" needs "source"', 'invalid_run');
  if (req.source !== undefined && req.language === undefined) {
    throw new InputError('"source" needs "language"; with "cmd", send files instead', 'invalid_run');
  }
  if (req.files !== undefined && req.language !== undefined) throw new InputError('"files" can only be used with "cmd"', 'invalid_run');
  if (req.language !== undefined) checkLanguage(ctx, req.language, 'language');
  checkLimits(ctx, req.limits, 'limits');
  for (const p of Object.keys(req.files ?? {})) checkRelativePath(p, `files[${JSON.stringify(p.slice(0, 100))}]`);
}
