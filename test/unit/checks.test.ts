// Request checks, without a server: the judge's validation (one owner, one path policy) and the
// HTTP layer's own size caps. Each refusal names its field and has a stable code.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { checkRelativePath, InputError, validateRun, validateSubmission, type CheckContext } from '../../src/judge/checks.js';
import type { Submission } from '../../src/judge/schema.js';
import { checkRunCaps, checkSubmissionCaps } from '../../routes/checks.js';
import { HttpError } from '../../routes/errors.js';

const ctx: CheckContext = {
  languages: ['c', 'cpp'],
  caps: { timeMs: 10_000, wallTimeMs: 30_000, memoryBytes: 1 << 30, outputBytes: 1 << 26, processes: 64 },
};
const sub = (extra: Partial<Submission> = {}): Submission => ({ language: 'c', source: 'int main(){}', tests: [{ input: '', expected: '' }], ...extra });

function refuses(fn: () => void, code: string, field: RegExp) {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof InputError || e instanceof HttpError, String(e));
    assert.equal((e as InputError | HttpError).code, code);
    assert.match((e as Error).message, field);
    return true;
  });
}

describe('the judge\'s checks', () => {
  test('a plain submission and a plain run pass', () => {
    validateSubmission(sub(), ctx);
    validateRun({ cmd: ['true'] }, ctx);
    validateRun({ language: 'cpp', source: 'x' }, ctx);
  });

  test('languages, with the known ones listed', () => {
    assert.throws(() => validateSubmission(sub({ language: 'cobol' }), ctx), (e: InputError) =>
      e.code === 'unknown_language' && /^language: /.test(e.message) && (e.extra.known as string[]).includes('cpp'));
    refuses(() => validateSubmission(sub({ checker: { kind: 'program', language: 'x', source: '' } }), ctx), 'unknown_language', /^checker\.language/);
    refuses(() => validateSubmission(sub({ interactor: { language: 'y', source: '' } }), ctx), 'unknown_language', /^interactor\.language/);
  });

  test('limits within the caps', () => {
    refuses(() => validateSubmission(sub({ limits: { timeMs: 10_001 } }), ctx), 'limit_exceeded', /limits\.timeMs is 10001, above the cap of 10000/);
    refuses(() => validateRun({ cmd: ['x'], limits: { processes: 65 } }, ctx), 'limit_exceeded', /limits\.processes/);
  });

  test('exactly one of source and files; at most one entry; ids once', () => {
    refuses(() => validateSubmission(sub({ files: [{ path: 'a.c', content: '' }] }), ctx), 'invalid_source', /got both/);
    refuses(() => validateSubmission({ language: 'c', tests: [{ input: '', expected: '' }] }, ctx), 'invalid_source', /got neither/);
    refuses(() => validateSubmission(sub({ source: undefined, files: [] }), ctx), 'invalid_source', /files is empty/);
    refuses(() => validateSubmission(sub({ source: undefined, files: [{ path: 'a', content: '', entry: true }, { path: 'b', content: '', entry: true }] }), ctx),
      'invalid_source', /at most one file/);
    refuses(() => validateSubmission(sub({ tests: [{ id: 'x', input: '', expected: '' }, { id: 'x', input: '', expected: '' }] }), ctx),
      'duplicate_test_id', /tests\[1\]\.id/);
  });

  test('checker and interactor rules', () => {
    refuses(() => validateSubmission(sub({ checker: { kind: 'program', source: 'x' } }), ctx), 'invalid_checker', /needs "language"/);
    refuses(() => validateSubmission(sub({ checker: { kind: 'tokens', source: 'x' } }), ctx), 'invalid_checker', /takes no source/);
    refuses(() => validateSubmission(sub({ interactor: { language: 'c' } }), ctx), 'invalid_source', /^interactor:/);
  });

  test('one path policy for every file', () => {
    for (const bad of ['/abs', '../up', 'a/../b', 'a//b', './a', 'a/', 'a\\b', 'nul\0x', '']) {
      refuses(() => checkRelativePath(bad, 'files[0].path'), 'invalid_path', /^files\[0\]\.path: /);
    }
    assert.equal(checkRelativePath('dir/sub/file.c', 'f'), 'dir/sub/file.c');
    assert.equal(checkRelativePath('x'.repeat(255), 'f'), 'x'.repeat(255));
    // 200 two-byte characters are 400 bytes: over the 255-byte component limit.
    refuses(() => checkRelativePath('é'.repeat(200), 'f'), 'invalid_path', /400 bytes, above 255/);
    refuses(() => checkRelativePath(Array(16).fill('y'.repeat(250)).join('/'), 'f'), 'invalid_path', /4015 bytes, above 3840/);
    refuses(() => validateSubmission(sub({ source: undefined, files: [{ path: 'a', content: '' }, { path: 'a', content: '' }] }), ctx), 'invalid_path', /appears twice/);
    refuses(() => validateRun({ cmd: ['cat'], files: { '../x': '' } }, ctx), 'invalid_path', /^files\["\.\.\/x"\]/);
  });

  test('paths that collide, in either order, and with the entry\'s stored name', () => {
    const files = (...paths: string[]) => sub({ source: undefined, files: paths.map((path) => ({ path, content: '' })) });
    refuses(() => validateSubmission(files('a', 'a/b'), ctx), 'invalid_path', /submission\.files\[1\]\.path: "a\/b" needs "a" as a directory, but submission\.files\[0\]\.path is a file/);
    refuses(() => validateSubmission(files('a/b/c', 'a/b'), ctx), 'invalid_path', /files\[1\]\.path: "a\/b" is a file, but submission\.files\[0\]\.path needs it as a directory/);
    validateSubmission(files('a/b', 'a/c', 'ab'), ctx);
    const named = { ...ctx, entryName: (l: string) => (l === 'c' ? 'main.c' : undefined) };
    refuses(() => validateSubmission(files('prog.c', 'main.c'), named), 'invalid_path', /files\[1\]\.path.*appears twice/);
    refuses(() => validateSubmission(sub({ checker: { kind: 'program', language: 'c', files: [{ path: 'x', content: '' }, { path: 'x/y', content: '' }] } }), ctx),
      'invalid_path', /^checker\.files\[1\]\.path/);
    refuses(() => validateRun({ cmd: ['cat'], files: { 'd/f': '', d: '' } }, ctx), 'invalid_path', /^files\["d"\]: "d" is a file, but files\["d\/f"\] needs it/);
  });

  test('NUL bytes in arguments and points that overflow', () => {
    refuses(() => validateRun({ cmd: ['echo', 'a\0b'] }, ctx), 'invalid_run', /^cmd\[1\] contains a NUL/);
    refuses(() => validateRun({ cmd: [''] }, ctx), 'invalid_run', /^cmd\[0\] is empty/);
    refuses(() => validateSubmission(sub({ tests: [{ input: '', expected: '', points: 1e308 }, { input: '', expected: '', points: 1e308 }] }), ctx),
      'invalid_points', /^tests\[0\]\.points/);
    validateSubmission(sub({ tests: [{ input: '', expected: '', points: 2 ** 51 }, { input: '', expected: '', points: 2 ** 51 }] }), ctx);
  });

  test('the shape of a run', () => {
    refuses(() => validateRun({}, ctx), 'invalid_run', /exactly one of "cmd"/);
    refuses(() => validateRun({ cmd: ['x'], language: 'c', source: '' }, ctx), 'invalid_run', /exactly one/);
    refuses(() => validateRun({ language: 'c' }, ctx), 'invalid_run', /needs "source"/);
    refuses(() => validateRun({ cmd: ['x'], source: 'y' }, ctx), 'invalid_run', /"source" needs "language"/);
    refuses(() => validateRun({ language: 'c', source: 'y', files: {} }, ctx), 'invalid_run', /"files" can only/);
  });
});

describe('the HTTP caps', () => {
  const cfg = { maxTests: 2, maxTestsBytes: 10, maxSourceBytes: 5, callbackHosts: ['hooks.example.com'] };
  test('each cap names its setting', () => {
    checkSubmissionCaps(sub({ source: 'abc' }), cfg);
    refuses(() => checkSubmissionCaps(sub({ source: 'x', tests: Array(3).fill({ input: '', expected: '' }) }), cfg), 'too_many_tests', /GAVEL_MAX_TESTS\)/);
    refuses(() => checkSubmissionCaps(sub({ source: 'x', tests: [{ input: '123456', expected: '12345' }] }), cfg), 'tests_too_large', /GAVEL_MAX_TESTS_BYTES/);
    refuses(() => checkSubmissionCaps(sub({ source: 'abc', checker: { kind: 'program', language: 'c', source: 'def' } }), cfg), 'source_too_large', /6 bytes.*GAVEL_MAX_SOURCE_BYTES/);
    refuses(() => checkSubmissionCaps(sub({ source: 'x', callbackUrl: 'ftp://hooks.example.com/' }), cfg), 'invalid_callback_url', /http/);
    refuses(() => checkSubmissionCaps(sub({ source: 'x', callbackUrl: 'http://evil.example.com/' }), cfg), 'callback_host_not_allowed', /GAVEL_CALLBACK_HOSTS/);
    refuses(() => checkRunCaps({ cmd: ['cat'], stdin: 'x'.repeat(11) }, cfg), 'stdin_too_large', /GAVEL_MAX_TESTS_BYTES/);
    refuses(() => checkRunCaps({ cmd: ['cat'], files: { a: '123', b: '456' } }, cfg), 'source_too_large', /GAVEL_MAX_SOURCE_BYTES/);
  });
});
