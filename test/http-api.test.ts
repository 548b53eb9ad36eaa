// The HTTP contract over real HTTP: shapes, status codes and error bodies, queue bound, caps,
// cancellation, /v1/run, health. The judge is FakeJudge: what is under test is the HTTP layer.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  FAKE_LANGUAGES, FakeJudge, fakeSubmission, request, startTestServer, until, waitFinished, type TestServer,
} from './helpers/server.js';

function assertError(r: { status: number; body: any; headers: Headers }, status: number, code?: string | RegExp, message?: RegExp) {
  assert.equal(r.status, status, `expected ${status}, got ${r.status}: ${JSON.stringify(r.body)}`);
  assert.match(r.headers.get('content-type') ?? '', /application\/json/);
  assert.equal(typeof r.body?.error, 'string');
  assert.equal(typeof r.body?.message, 'string');
  assert.ok(r.body.message.length > 10, 'the message says something');
  if (typeof code === 'string') assert.equal(r.body.error, code);
  else if (code) assert.match(r.body.error, code);
  if (message) assert.match(r.body.message, message);
}

describe('submissions: accept, inspect, finish', () => {
  let s: TestServer;
  before(async () => { s = await startTestServer(); });
  after(async () => { await s.close(); });

  test('POST answers 202 with id, status and Location; GET shows the finished result', async () => {
    const r = await request(s.url, 'POST', '/v1/submissions', fakeSubmission('echo', 3));
    assert.equal(r.status, 202);
    assert.equal(r.body.status, 'queued');
    assert.match(r.body.id, /^[0-9a-f-]{36}$/);
    assert.equal(r.headers.get('location'), `/v1/submissions/${r.body.id}`);
    assert.ok(r.headers.get('x-request-id'));
    const done = await waitFinished(s.url, r.body.id);
    assert.equal(done.status, 'finished');
    assert.equal(done.verdict, 'AC');
    assert.equal(done.score, 3);
    assert.equal(done.tests.length, 3);
    assert.deepEqual(done.tests.map((t: any) => t.id), ['t1', 't2', 't3']);
    assert.equal(done.compile.ok, true);
    assert.equal(typeof done.compile.timeMs, 'number');
    assert.ok(Date.parse(done.createdAt) <= Date.parse(done.finishedAt));
  });

  test('verdicts the judge gives are reported: WA, RE, CE, and IE when the judge throws', async () => {
    const cases: Array<[string, string]> = [['wrong', 'WA'], ['crash', 'RE'], ['ce', 'CE'], ['throw', 'IE']];
    for (const [program, verdict] of cases) {
      const r = await request(s.url, 'POST', '/v1/submissions', fakeSubmission(program, 2));
      assert.equal(r.status, 202);
      const done = await waitFinished(s.url, r.body.id);
      assert.equal(done.verdict, verdict, program);
      if (verdict === 'IE') assert.match(done.error, /fake judge exploded/);
      if (verdict === 'CE') assert.match(done.compile.output, /expected program/);
    }
  });

  test('a request id sent by the client is echoed', async () => {
    const r = await request(s.url, 'GET', '/v1/languages', undefined, { 'x-request-id': 'abc-123' });
    assert.equal(r.headers.get('x-request-id'), 'abc-123');
  });

  test('GET of an unknown id is 404 JSON', async () => {
    assertError(await request(s.url, 'GET', '/v1/submissions/00000000-0000-0000-0000-000000000000'), 404, 'not_found');
  });

  test('languages lists id, name, version, extensions and commands', async () => {
    const r = await request(s.url, 'GET', '/v1/languages');
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, FAKE_LANGUAGES);
  });

  test('healthz and readyz', async () => {
    assert.deepEqual((await request(s.url, 'GET', '/healthz')).body, { status: 'ok' });
    const ready = await request(s.url, 'GET', '/readyz');
    assert.equal(ready.status, 200);
    assert.equal(ready.body.status, 'ready');
    assert.equal(ready.body.pool.size, 2);
  });

  test('POST /v1/run answers synchronously', async () => {
    const r = await request(s.url, 'POST', '/v1/run', { cmd: ['cat'], stdin: 'hello' });
    assert.equal(r.status, 200);
    assert.equal(r.body.status, 'OK');
    assert.equal(r.body.stdout, 'hello');
  });
});

describe('bad requests are JSON 4xx naming the problem', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer({ config: { bodyLimit: 256 * 1024, maxTests: 5, maxTestsBytes: 1000, maxSourceBytes: 2000 } });
  });
  after(async () => { await s.close(); });
  const post = (body: unknown, headers?: Record<string, string>) => request(s.url, 'POST', '/v1/submissions', body, headers);

  test('schema violations: 400 with the path of the bad field', async () => {
    assertError(await post({ language: 5, tests: [] }), 400, 'invalid_request', /language/);
    assertError(await post({ ...fakeSubmission(), tests: [{ input: 1, expected: '2' }] }), 400, 'invalid_request', /tests\/0\/input/);
    assertError(await post({ ...fakeSubmission(), tests: [] }), 400, 'invalid_request', /tests/);
    assertError(await post({ ...fakeSubmission(), limits: { timeMs: -1 } }), 400, 'invalid_request', /limits\/timeMs/);
    assertError(await post({ ...fakeSubmission(), stopOnFirstFailure: 'yes' }), 400, 'invalid_request');
    assertError(await post({ ...fakeSubmission(), callbackUrl: 'not a url' }), 400, /invalid/);
    assertError(await post([1, 2, 3]), 400, 'invalid_request');
    assertError(await post('null'), 400);
  });

  test('unknown fields are rejected, naming them', async () => {
    assertError(await post({ ...fakeSubmission(), colour: 'red' }), 400, 'invalid_request', /colour/);
    const sub = fakeSubmission();
    assertError(await post({ ...sub, tests: [{ ...sub.tests![0], weight: 2 }] }), 400, 'invalid_request', /weight/);
  });

  test('unknown language: 400 listing the known ones', async () => {
    const r = await post({ ...fakeSubmission(), language: 'cobol' });
    assertError(r, 400, 'unknown_language', /cobol.*fake, fake2/);
    assert.deepEqual(r.body.known, ['fake', 'fake2']);
    assertError(await post({ ...fakeSubmission(), checker: { kind: 'program', language: 'cobol', source: 'x' } }), 400, 'unknown_language', /checker/);
    assertError(await post({ ...fakeSubmission(), interactor: { language: 'cobol', source: 'x' } }), 400, 'unknown_language', /interactor/);
  });

  test('limits above the judge caps: 400 naming the cap', async () => {
    assertError(await post({ ...fakeSubmission(), limits: { timeMs: 10_001 } }), 400, 'limit_exceeded', /timeMs.*10000/);
    assertError(await post({ ...fakeSubmission(), limits: { memoryBytes: 2 ** 31 } }), 400, 'limit_exceeded', /memoryBytes/);
    assert.equal((await post({ ...fakeSubmission(), limits: { timeMs: 10_000 } })).status, 202);
  });

  test('neither or both of source/files: 400', async () => {
    const { source: _s, ...noSource } = fakeSubmission();
    assertError(await post(noSource), 400, 'invalid_source', /neither/);
    assertError(await post({ ...fakeSubmission(), files: [{ path: 'a.txt', content: 'echo' }] }), 400, 'invalid_source', /both/);
    assertError(await post({ ...noSource, files: [] }), 400, 'invalid_source');
    assertError(await post({ ...noSource, files: [{ path: '../x', content: 'echo' }] }), 400, 'invalid_path');
    assertError(await post({ ...noSource, files: [{ path: '/etc/x', content: 'echo' }] }), 400, 'invalid_path');
    assert.equal((await post({ ...noSource, files: [{ path: 'src/main.fake', content: 'echo' }] })).status, 202);
  });

  test('caps from the configuration: tests count 400, test bytes and sources 413, body 413', async () => {
    assertError(await post(fakeSubmission('echo', 6)), 400, 'too_many_tests', /GAVEL_MAX_TESTS/);
    const big = { ...fakeSubmission('echo', 1), tests: [{ input: 'x'.repeat(600), expected: 'x'.repeat(600) }] };
    assertError(await post(big), 413, 'tests_too_large', /GAVEL_MAX_TESTS_BYTES/);
    assertError(await post(fakeSubmission('echo'.padEnd(3000, ' '), 1)), 413, 'source_too_large', /GAVEL_MAX_SOURCE_BYTES/);
    assertError(await post({ ...fakeSubmission(), source: 'x'.repeat(300 * 1024) }), 413, 'payload_too_large', /GAVEL_BODY_LIMIT/);
  });

  test('malformed JSON, empty bodies and prototype pollution: 400', async () => {
    assertError(await post('{"language": "fake",'), 400, 'invalid_json');
    assertError(await post('', { 'content-type': 'application/json' }), 400, 'invalid_json');
    assertError(await post('{"__proto__": {"admin": true}, "language": "fake"}'), 400);
    assertError(await post('{"constructor": {"prototype": {"x": 1}}}'), 400);
  });

  test('wrong content type: 415', async () => {
    assertError(await post('language=fake', { 'content-type': 'application/x-www-form-urlencoded' }), 415, 'unsupported_media_type');
    assertError(await post('hello', { 'content-type': 'text/plain' }), 415, 'unsupported_media_type');
    const r = await fetch(s.url + '/v1/submissions', { method: 'POST', body: new Uint8Array([0, 1, 2, 255]) });
    assert.equal(r.status, 415);
  });

  test('unknown route 404, wrong method 405 with Allow', async () => {
    assertError(await request(s.url, 'GET', '/v2/submissions'), 404, 'not_found');
    assertError(await request(s.url, 'GET', '/v1/nothing/here'), 404, 'not_found');
    const put = await request(s.url, 'PUT', '/v1/submissions', {});
    assertError(put, 405, 'method_not_allowed');
    assert.equal(put.headers.get('allow'), 'POST');
    const patch = await request(s.url, 'PATCH', '/v1/submissions/abc');
    assertError(patch, 405, 'method_not_allowed');
    assert.match(patch.headers.get('allow') ?? '', /GET.*DELETE/);
    assertError(await request(s.url, 'GET', '/v1/run'), 405);
  });

  test('/v1/run validation', async () => {
    const run = (body: unknown) => request(s.url, 'POST', '/v1/run', body);
    assertError(await run({}), 400, 'invalid_run');
    assertError(await run({ cmd: ['true'], language: 'fake', source: 'x' }), 400, 'invalid_run');
    assertError(await run({ language: 'fake' }), 400, 'invalid_run', /source/);
    assertError(await run({ language: 'nope', source: 'x' }), 400, 'unknown_language');
    assertError(await run({ cmd: [] }), 400, 'invalid_request');
    assertError(await run({ cmd: ['true'], limits: { wallTimeMs: 10 ** 9 } }), 400, 'limit_exceeded');
    assertError(await run({ cmd: ['true'], files: { '../escape': 'x' } }), 400, 'invalid_path');
    assertError(await run({ cmd: ['true'], stdin: 'x'.repeat(2000) }), 413, 'stdin_too_large');
  });
});

describe('queue bound, cancellation, shared slots', () => {
  let s: TestServer;
  let judge: FakeJudge;
  before(async () => {
    judge = new FakeJudge(1);
    s = await startTestServer({ judge, config: { queueMax: 3, runQueueMax: 1 } });
  });
  after(async () => { await s.close(); });

  test('a full queue answers 429 with Retry-After; capacity returns when work finishes', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await request(s.url, 'POST', '/v1/submissions', fakeSubmission('sleep:500', 1));
      assert.equal(r.status, 202);
      ids.push(r.body.id);
    }
    const full = await request(s.url, 'POST', '/v1/submissions', fakeSubmission('echo', 1));
    assertError(full, 429, 'queue_full', /GAVEL_QUEUE_MAX/);
    assert.match(full.headers.get('retry-after') ?? '', /^\d+$/);
    // The waiting ones report their place in line.
    const last = await request(s.url, 'GET', `/v1/submissions/${ids[2]}`);
    assert.equal(last.body.status, 'queued');
    assert.ok(last.body.position >= 1);
    for (const id of ids) assert.equal((await waitFinished(s.url, id)).verdict, 'AC');
    assert.equal((await request(s.url, 'POST', '/v1/submissions', fakeSubmission('echo', 1))).status, 202);
    assert.equal(judge.maxBusy, 1, 'never more at once than the pool has slots');
  });

  test('DELETE of a queued submission finishes it at once as cancelled', async () => {
    const running = await request(s.url, 'POST', '/v1/submissions', fakeSubmission('sleep:300', 1));
    const queued = await request(s.url, 'POST', '/v1/submissions', fakeSubmission('echo', 1));
    const del = await request(s.url, 'DELETE', `/v1/submissions/${queued.body.id}`);
    assert.equal(del.status, 200);
    assert.equal(del.body.status, 'finished');
    assert.equal(del.body.verdict, 'IE');
    assert.equal(del.body.error, 'cancelled');
    assert.equal(del.body.cancelled, true);
    assertError(await request(s.url, 'DELETE', `/v1/submissions/${queued.body.id}`), 409, 'already_finished');
    assert.equal((await waitFinished(s.url, running.body.id)).verdict, 'AC');
  });

  test('DELETE of a running submission aborts it', async () => {
    const r = await request(s.url, 'POST', '/v1/submissions', fakeSubmission('sleep:5000', 3));
    await until(async () => (await request(s.url, 'GET', `/v1/submissions/${r.body.id}`)).body.status === 'running', 5000, 'running');
    const del = await request(s.url, 'DELETE', `/v1/submissions/${r.body.id}`);
    assert.ok(del.status === 200 || del.status === 202);
    const done = await waitFinished(s.url, r.body.id, 5000);
    assert.equal(done.verdict, 'IE');
    assert.equal(done.error, 'cancelled');
    assert.equal(done.cancelled, true);
    assert.ok(done.tests.length < 3);
    assertError(await request(s.url, 'DELETE', '/v1/submissions/nope'), 404, 'not_found');
  });

  test('/v1/run shares the slots: it waits for one, and too many waiting get 429', async () => {
    const sub = await request(s.url, 'POST', '/v1/submissions', fakeSubmission('sleep:1000', 1));
    await until(async () => judge.busy === 1, 5000, 'the submission to start');
    const first = request(s.url, 'POST', '/v1/run', { cmd: ['cat'], stdin: 'a' });
    await new Promise((r) => setTimeout(r, 50));
    const second = await request(s.url, 'POST', '/v1/run', { cmd: ['cat'], stdin: 'b' });
    assertError(second, 429, 'queue_full', /GAVEL_RUN_QUEUE_MAX/);
    assert.equal((await first).body.stdout, 'a');
    assert.equal(judge.maxBusy, 1);
    await waitFinished(s.url, sub.body.id);
  });
});
