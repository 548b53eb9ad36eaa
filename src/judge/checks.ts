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

/** Longest path component, in bytes (Linux NAME_MAX). */
export const MAX_NAME_BYTES = 255;
/**
 * Longest relative path, in bytes: Linux's PATH_MAX (4096) less room for the work dir the
 * judge puts it in on the host (/run/<instance>/work/<dir>/box/), so no write can fail with
 * ENAMETOOLONG.
 */
export const MAX_PATH_BYTES = 3840;
/** Most points a submission's tests may add up to: sums stay exact in a double. */
export const MAX_TOTAL_POINTS = Number.MAX_SAFE_INTEGER;

/** What the checks need to know about the judge. */
export interface CheckContext {
  languages: readonly string[];
  caps: Required<Limits>;
  /**
   * The file name a language stores its entry file under (main.cpp), when it is fixed; the
   * entry of `files` is renamed to it, so no other file may have that name.
   */
  entryName?: (language: string) => string | undefined;
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

/**
 * Paths that cannot all exist at once: the same path twice, or a file that another path needs
 * as a directory ("a" and "a/b", in either order). `field(i)` names the i-th path.
 */
export function checkNoCollisions(paths: readonly string[], field: (i: number) => string): void {
  const files = new Map<string, number>();
  const dirs = new Map<string, number>();
  paths.forEach((p, i) => {
    if (files.has(p)) throw new InputError(`${field(i)}: ${JSON.stringify(p)} appears twice`, 'invalid_path');
    if (dirs.has(p)) {
      throw new InputError(`${field(i)}: ${JSON.stringify(p)} is a file, but ${field(dirs.get(p)!)} needs it as a directory`, 'invalid_path');
    }
    const segs = p.split('/');
    for (let k = 1; k < segs.length; k++) {
      const dir = segs.slice(0, k).join('/');
      if (files.has(dir)) {
        throw new InputError(`${field(i)}: ${JSON.stringify(p)} needs ${JSON.stringify(dir)} as a directory, but ${field(files.get(dir)!)} is a file there`, 'invalid_path');
      }
      if (!dirs.has(dir)) dirs.set(dir, i);
    }
    files.set(p, i);
  });
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

/** Exactly one of source/files; paths by the policy, none colliding, at most one entry. */
function checkProgram(ctx: CheckContext, prog: Pick<Program, 'source' | 'files'> & { language?: string }, field: string): void {
  const hasSource = prog.source !== undefined;
  const hasFiles = prog.files !== undefined;
  if (hasSource === hasFiles) {
    throw new InputError(`${field}: give exactly one of "source" and "files" (got ${hasSource ? 'both' : 'neither'})`, 'invalid_source');
  }
  if (hasSource) return;
  const files: SourceFile[] = prog.files!;
  if (files.length === 0) throw new InputError(`${field}.files is empty`, 'invalid_source');
  const name = (i: number) => `${field}.files[${i}].path`;
  files.forEach((f, i) => checkRelativePath(f.path, name(i)));
  const entries = files.filter((f) => f.entry);
  if (entries.length > 1) throw new InputError(`${field}.files: at most one file may be the entry`, 'invalid_source');
  // The entry (the marked one, else the first) is stored under the language's own file name.
  const entry = entries[0] ?? files[0];
  const entryName = prog.language !== undefined ? ctx.entryName?.(prog.language) : undefined;
  const stored = files.map((f) => (f === entry && entryName !== undefined ? entryName : f.path));
  checkNoCollisions(stored, (i) => (files[i] === entry && entryName !== undefined ? `${name(i)} (stored as ${entryName}, the entry)` : name(i)));
}

export function validateSubmission(sub: Submission, ctx: CheckContext): void {
  checkLanguage(ctx, sub.language, 'language');
  checkProgram(ctx, sub, 'submission');
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
  let points = 0;
  sub.tests.forEach((t, i) => {
    points += t.points ?? 1;
    if (!(points <= MAX_TOTAL_POINTS)) {
      throw new InputError(`tests[${i}].points: the tests' points add up to more than ${MAX_TOTAL_POINTS}`, 'invalid_points');
    }
    if (t.id === undefined) return;
    if (ids.has(t.id)) throw new InputError(`tests[${i}].id ${JSON.stringify(t.id)} is used twice`, 'duplicate_test_id');
    ids.add(t.id);
  });
  const checker = sub.checker;
  if (checker?.kind === 'program') {
    if (!checker.language) throw new InputError('checker: kind "program" needs "language"', 'invalid_checker');
    checkLanguage(ctx, checker.language, 'checker.language');
    checkProgram(ctx, checker, 'checker');
  } else if (checker && (checker.source !== undefined || checker.files !== undefined)) {
    throw new InputError(`checker: kind "${checker.kind}" takes no source; use kind "program" for a custom checker`, 'invalid_checker');
  }
  if (sub.interactor) {
    checkLanguage(ctx, sub.interactor.language, 'interactor.language');
    checkProgram(ctx, sub.interactor, 'interactor');
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
  if (req.cmd !== undefined && req.cmd[0] === '') throw new InputError('cmd[0] is empty: it names the program to run', 'invalid_run');
  req.cmd?.forEach((arg, i) => {
    if (arg.includes('\0')) throw new InputError(`cmd[${i}] contains a NUL byte, which no argument can hold`, 'invalid_run');
  });
  const paths = Object.keys(req.files ?? {});
  const name = (i: number) => `files[${JSON.stringify(paths[i].slice(0, 100))}]`;
  paths.forEach((p, i) => checkRelativePath(p, name(i)));
  checkNoCollisions(paths, name);
}
