// Checks the schema cannot express: known languages, limits within the judge's caps, exactly one
// of source/files, safe file paths, and the size caps from the configuration. Each failure is an
// HttpError naming the field and, for caps, the setting that sets it.
import type { Judge, Limits, Program, RunRequest, Submission } from '../src/judge/schema.js';
import type { Config } from '../src/config.js';
import { HttpError } from './errors.js';

export type CheckConfig = Pick<Config, 'maxTests' | 'maxTestsBytes' | 'maxSourceBytes' | 'callbackHosts'>;

function checkLanguage(judge: Judge, language: string, field: string): void {
  const known = judge.languages().map((l) => l.id);
  if (!known.includes(language)) {
    throw new HttpError(400, 'unknown_language',
      `${field}: unknown language ${JSON.stringify(language)}; known: ${known.join(', ') || '(none)'}`, { known });
  }
}

function checkLimits(judge: Judge, limits: Limits | undefined, field: string): void {
  if (!limits) return;
  for (const [key, value] of Object.entries(limits) as Array<[keyof Limits, number | undefined]>) {
    const cap = judge.caps[key];
    if (value !== undefined && cap !== undefined && value > cap) {
      throw new HttpError(400, 'limit_exceeded', `${field}.${key} is ${value}, above the cap of ${cap}`, { cap: { [key]: cap } });
    }
  }
}

/** A relative path that stays inside the work dir. */
function checkPath(p: string, field: string): void {
  const bad = p.startsWith('/') || p.includes('\\') || p.includes('\0')
    || p.split('/').some((seg) => seg === '' || seg === '.' || seg === '..');
  if (bad) {
    throw new HttpError(400, 'invalid_path', `${field}: ${JSON.stringify(p.slice(0, 100))} must be a relative path without ".", ".." or empty segments`);
  }
}

/** Exactly one of source/files, safe unique paths; returns the content bytes. */
function checkProgram(prog: Pick<Program, 'source' | 'files'>, field: string): number {
  const hasSource = prog.source !== undefined;
  const hasFiles = prog.files !== undefined;
  if (hasSource === hasFiles) {
    throw new HttpError(400, 'invalid_source', `${field}: give exactly one of "source" and "files" (got ${hasSource ? 'both' : 'neither'})`);
  }
  if (hasSource) return Buffer.byteLength(prog.source!);
  if (prog.files!.length === 0) throw new HttpError(400, 'invalid_source', `${field}.files is empty`);
  const seen = new Set<string>();
  let bytes = 0;
  prog.files!.forEach((f, i) => {
    checkPath(f.path, `${field}.files[${i}].path`);
    if (seen.has(f.path)) throw new HttpError(400, 'invalid_path', `${field}.files[${i}].path: ${JSON.stringify(f.path)} appears twice`);
    seen.add(f.path);
    bytes += Buffer.byteLength(f.content);
  });
  return bytes;
}

function checkSourceBytes(bytes: number, cfg: CheckConfig): void {
  if (bytes > cfg.maxSourceBytes) {
    throw new HttpError(413, 'source_too_large', `program sources total ${bytes} bytes, above the cap of ${cfg.maxSourceBytes} (GAVEL_MAX_SOURCE_BYTES)`);
  }
}

export function checkSubmission(sub: Submission, judge: Judge, cfg: CheckConfig): void {
  checkLanguage(judge, sub.language, 'language');
  let sourceBytes = checkProgram(sub, 'submission');
  checkLimits(judge, sub.limits, 'limits');

  if (sub.tests.length > cfg.maxTests) {
    throw new HttpError(400, 'too_many_tests', `${sub.tests.length} tests, above the cap of ${cfg.maxTests} (GAVEL_MAX_TESTS)`);
  }
  let testBytes = 0;
  const ids = new Set<string>();
  sub.tests.forEach((t, i) => {
    testBytes += Buffer.byteLength(t.input) + Buffer.byteLength(t.expected);
    if (t.id !== undefined) {
      if (ids.has(t.id)) throw new HttpError(400, 'duplicate_test_id', `tests[${i}].id ${JSON.stringify(t.id)} is used twice`);
      ids.add(t.id);
    }
  });
  if (testBytes > cfg.maxTestsBytes) {
    throw new HttpError(413, 'tests_too_large', `test inputs and expected outputs total ${testBytes} bytes, above the cap of ${cfg.maxTestsBytes} (GAVEL_MAX_TESTS_BYTES)`);
  }

  const checker = sub.checker;
  if (checker?.kind === 'program') {
    if (!checker.language) throw new HttpError(400, 'invalid_checker', 'checker: kind "program" needs "language"');
    checkLanguage(judge, checker.language, 'checker.language');
    sourceBytes += checkProgram(checker, 'checker');
  } else if (checker && (checker.source !== undefined || checker.files !== undefined)) {
    throw new HttpError(400, 'invalid_checker', `checker: kind "${checker.kind}" takes no source; use kind "program" for a custom checker`);
  }
  if (sub.interactor) {
    checkLanguage(judge, sub.interactor.language, 'interactor.language');
    sourceBytes += checkProgram(sub.interactor, 'interactor');
  }
  checkSourceBytes(sourceBytes, cfg);

  if (sub.callbackUrl !== undefined) {
    let url: URL | undefined;
    try { url = new URL(sub.callbackUrl); } catch { /* reported below */ }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      throw new HttpError(400, 'invalid_callback_url', 'callbackUrl must be an absolute http:// or https:// URL');
    }
    if (cfg.callbackHosts.length && !callbackHostAllowed(url.hostname, cfg.callbackHosts)) {
      throw new HttpError(400, 'callback_host_not_allowed',
        `callbackUrl host ${url.hostname} is not among the allowed ones (GAVEL_CALLBACK_HOSTS: ${cfg.callbackHosts.join(', ')})`);
    }
  }
}

/**
 * Whether callbacks may go to `host`: an entry matches itself, and "*.example.com"
 * matches its subdomains. The service POSTs wherever a client says, so an operator
 * who cannot trust every client keeps it from reaching internal addresses this way.
 */
export function callbackHostAllowed(host: string, allowed: readonly string[]): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  return allowed.some((a) => {
    const p = a.toLowerCase();
    return p.startsWith('*.') ? h.endsWith(p.slice(1)) && h.length > p.length - 1 : h === p;
  });
}

export function checkRun(req: RunRequest, judge: Judge, cfg: CheckConfig): void {
  if ((req.cmd === undefined) === (req.language === undefined)) {
    throw new HttpError(400, 'invalid_run', 'give exactly one of "cmd" (a command line) and "language" (with "source")');
  }
  if (req.language !== undefined && req.source === undefined) {
    throw new HttpError(400, 'invalid_run', '"language" needs "source"');
  }
  if (req.source !== undefined && req.language === undefined) {
    throw new HttpError(400, 'invalid_run', '"source" needs "language"; with "cmd", send files instead');
  }
  if (req.files !== undefined && req.language !== undefined) {
    throw new HttpError(400, 'invalid_run', '"files" can only be used with "cmd"');
  }
  if (req.language !== undefined) checkLanguage(judge, req.language, 'language');
  checkLimits(judge, req.limits, 'limits');
  let sourceBytes = req.source !== undefined ? Buffer.byteLength(req.source) : 0;
  for (const [p, content] of Object.entries(req.files ?? {})) {
    checkPath(p, `files[${JSON.stringify(p.slice(0, 100))}]`);
    sourceBytes += Buffer.byteLength(content);
  }
  checkSourceBytes(sourceBytes, cfg);
  const stdinBytes = req.stdin !== undefined ? Buffer.byteLength(req.stdin) : 0;
  if (stdinBytes > cfg.maxTestsBytes) {
    throw new HttpError(413, 'stdin_too_large', `stdin is ${stdinBytes} bytes, above the cap of ${cfg.maxTestsBytes} (GAVEL_MAX_TESTS_BYTES)`);
  }
}
