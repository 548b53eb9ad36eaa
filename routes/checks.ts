// The HTTP layer's own caps on what a client may send (how many tests, how many bytes of tests,
// sources and stdin, where callbacks may go), each from the configuration and named in the
// error. Everything about what the judge can do with the request (languages, limits, paths) is
// the judge's to check: Judge.validate / Judge.validateRun.
import type { Program, RunRequest, Submission } from '../src/judge/schema.js';
import type { Config } from '../src/config.js';
import { HttpError } from './errors.js';

export type CheckConfig = Pick<Config, 'maxTests' | 'maxTestsBytes' | 'maxSourceBytes' | 'callbackHosts'>;

function programBytes(prog: Pick<Program, 'source' | 'files'> | undefined): number {
  if (!prog) return 0;
  let bytes = prog.source !== undefined ? Buffer.byteLength(prog.source) : 0;
  for (const f of prog.files ?? []) bytes += Buffer.byteLength(f.content);
  return bytes;
}

function checkSourceBytes(bytes: number, cfg: CheckConfig): void {
  if (bytes > cfg.maxSourceBytes) {
    throw new HttpError(413, 'source_too_large', `program sources total ${bytes} bytes, above the cap of ${cfg.maxSourceBytes} (GAVEL_MAX_SOURCE_BYTES)`);
  }
}

export function checkSubmissionCaps(sub: Submission, cfg: CheckConfig): void {
  const tests = sub.tests ?? [];
  if (tests.length > cfg.maxTests) {
    throw new HttpError(400, 'too_many_tests', `${tests.length} tests, above the cap of ${cfg.maxTests} (GAVEL_MAX_TESTS)`);
  }
  let testBytes = 0;
  for (const t of tests) testBytes += Buffer.byteLength(t.input) + Buffer.byteLength(t.expected);
  if (testBytes > cfg.maxTestsBytes) {
    throw new HttpError(413, 'tests_too_large', `test inputs and expected outputs total ${testBytes} bytes, above the cap of ${cfg.maxTestsBytes} (GAVEL_MAX_TESTS_BYTES)`);
  }
  checkSourceBytes(programBytes(sub) + programBytes(sub.checker) + programBytes(sub.interactor), cfg);

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

export function checkRunCaps(req: RunRequest, cfg: CheckConfig): void {
  let sourceBytes = req.source !== undefined ? Buffer.byteLength(req.source) : 0;
  for (const content of Object.values(req.files ?? {})) sourceBytes += Buffer.byteLength(content);
  checkSourceBytes(sourceBytes, cfg);
  const stdinBytes = req.stdin !== undefined ? Buffer.byteLength(req.stdin) : 0;
  if (stdinBytes > cfg.maxTestsBytes) {
    throw new HttpError(413, 'stdin_too_large', `stdin is ${stdinBytes} bytes, above the cap of ${cfg.maxTestsBytes} (GAVEL_MAX_TESTS_BYTES)`);
  }
}
