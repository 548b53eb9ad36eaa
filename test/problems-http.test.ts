// /v1/problems over HTTP with the real judge: import as zip / tar / tar.gz (201, then 200 with
// a new version), list, get, delete; bad packages as 4xx naming the entry; 409 while an
// import of the same id runs; submissions by problem id (404 unknown, limits that may only
// lower, results naming {problem, version}, version pinning across a replace); and kill -9
// of `node dist/src/server.js` during an import and during judging.
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { createJudge } from '../src/judge/index.js';
import type { Judge } from '../src/judge/schema.js';
import { CONTENT_TYPES, files, fixture, pack, type PackFormat } from './helpers/packages.js';
import { request, sleep, killService, spawnService, stopService, startTestServer, tempDir, until, waitFinished, type Child, type TestServer } from './helpers/server.js';
import { leftovers } from './helpers/sandbox.js';

const SERVER = fileURLToPath(new URL('../src/server.js', import.meta.url));

async function putProblem(base: string, id: string, body: Buffer, format: PackFormat = 'zip', query = '') {
  const res = await fetch(`${base}/v1/problems/${id}${query}`, { method: "PUT", body: new Uint8Array(body), headers: { 'content-type': CONTENT_TYPES[format] } });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, text };
}

/** A PUT whose body is sent in parts: the first at once, more with `write`, the rest when `release` is called. */
function slowPut(base: string, id: string, body: Buffer, firstBytes: number): { done: Promise<{ status: number; body: any }>; write: (part: Buffer) => void; release: () => void; destroy: () => void } {
  const url = new URL(`${base}/v1/problems/${id}`);
  const req = httpRequest({ host: url.hostname, port: url.port, path: url.pathname, method: 'PUT', headers: { 'content-type': 'application/x-tar', 'content-length': body.length } });
  const done = new Promise<{ status: number; body: any }>((resolve, reject) => {
    req.on('response', (res) => {
      let text = '';
      res.on('data', (c) => { text += c; }).on('end', () => resolve({ status: res.statusCode!, body: text ? JSON.parse(text) : undefined }));
    });
    req.on('error', reject);
  });
  req.write(body.subarray(0, firstBytes));
  let sent = firstBytes;
  return {
    done,
    write: (part) => { req.write(part); sent += part.length; },
    release: () => req.end(body.subarray(sent)),
    destroy: () => req.destroy(),
  };
}

describe('problems over HTTP', () => {
  let judge: Judge;
  let s: TestServer;
  before(async () => {
    judge = await createJudge({ poolSize: 2, name: `gavel-phttp-${process.pid}`, uidBase: 63200 });
    s = await startTestServer({ judge, config: { maxProblemBytes: 4 << 20, maxProblemFiles: 200 } });
  });
  after(async () => {
    await s?.close();
    await judge?.close();
  });

  test('import, replace, list, get, delete', async () => {
    const first = await putProblem(s.url, 'aplusb', await pack(fixture('aplusb'), 'zip'));
    assert.equal(first.status, 201, first.text);
    assert.equal(first.body.id, 'aplusb');
    assert.equal(first.body.version, 1);
    assert.equal(first.body.format, 'legacy');
    assert.equal(first.body.timeLimitMs, 1000);
    assert.equal(first.body.tests, 4);
    assert.equal(first.body.samples, 1);
    assert.deepEqual(first.body.groups, ['sample', 'secret']);
    for (const format of ['tar', 'tar.gz'] as const) {
      const again = await putProblem(s.url, 'aplusb', await pack(fixture('aplusb'), format), format);
      assert.equal(again.status, 200, again.text);
    }
    const got = await request(s.url, 'GET', '/v1/problems/aplusb');
    assert.equal(got.status, 200);
    assert.equal(got.body.version, 3);
    await putProblem(s.url, 'floats', await pack(fixture('floats'), 'tar.gz'), 'tar.gz');
    const list = await request(s.url, 'GET', '/v1/problems');
    assert.deepEqual(list.body.problems.map((p: { id: string; version: number }) => `${p.id}@${p.version}`), ['aplusb@3', 'floats@1']);
    assert.equal((await request(s.url, 'DELETE', '/v1/problems/floats')).status, 204);
    assert.equal((await request(s.url, 'GET', '/v1/problems/floats')).status, 404);
    assert.equal((await request(s.url, 'DELETE', '/v1/problems/floats')).status, 404);
  });

  test('bad packages: a 4xx naming the entry, never a 5xx', async () => {
    const noAns = await putProblem(s.url, 'bad', await pack(files({ 'problem.yaml': 'name: x\n', '.timelimit': '1', 'data/secret/1.in': '' }), 'tar'), 'tar');
    assert.equal(noAns.status, 400);
    assert.equal(noAns.body.error, 'missing_answer');
    assert.equal(noAns.body.entry, 'data/secret/1.in');
    const junk = await putProblem(s.url, 'bad', Buffer.from('just some bytes that are not an archive of any kind'));
    assert.equal(junk.status, 400);
    assert.equal(junk.body.error, 'not_an_archive');
    const yaml = await putProblem(s.url, 'bad', await pack(files({ 'problem.yaml': 'name: [x\n', 'data/secret/1.in': '', 'data/secret/1.ans': '' }), 'zip'));
    assert.equal(yaml.status, 400);
    assert.match(yaml.body.message, /problem\.yaml line \d+/);
    const big = await putProblem(s.url, 'bad', await pack(files({ 'problem.yaml': 'name: x\n', '.timelimit': '1', 'data/secret/1.in': Buffer.alloc(6 << 20, 7), 'data/secret/1.ans': '' }), 'tar'), 'tar');
    assert.equal(big.status, 413);
    assert.equal(big.body.error, 'package_too_large');
    const badId = await putProblem(s.url, '-x', await pack(fixture('aplusb'), 'zip'));
    assert.equal(badId.status, 400);
    const noTime = await putProblem(s.url, 'bad', await pack(files({ 'problem.yaml': 'name: x\n', 'data/secret/1.in': '', 'data/secret/1.ans': '' }), 'zip'));
    assert.equal(noTime.status, 400);
    assert.equal(noTime.body.error, 'no_time_limit');
    const withTime = await putProblem(s.url, 'bad', await pack(files({ 'problem.yaml': 'name: x\n', 'data/secret/1.in': '', 'data/secret/1.ans': '' }), 'zip'), 'zip', '?timeLimitMs=1500');
    assert.equal(withTime.status, 201, withTime.text);
    assert.equal(withTime.body.timeLimitMs, 1500);
    const broken = await putProblem(s.url, 'broken', await pack(fixture('cppcheck', { 'output_validators/sum/validator.cpp': 'nonsense\n' }), 'zip'));
    assert.equal(broken.status, 422);
    assert.equal(broken.body.error, 'validator_compile_error');
    assert.equal((await request(s.url, 'GET', '/v1/problems/broken')).status, 404);
  });

  test('409 for a replace or delete while an import of the same id runs', async () => {
    const body = await pack(fixture('flags'), 'tar');
    const slow = slowPut(s.url, 'busy', body, 1024);
    await sleep(100);
    const second = await putProblem(s.url, 'busy', body, 'tar');
    assert.equal(second.status, 409, second.text);
    assert.equal(second.body.error, 'import_running');
    assert.equal((await request(s.url, 'DELETE', '/v1/problems/busy')).status, 409);
    slow.release();
    assert.equal((await slow.done).status, 201);
  });

  test('an upload may outlast GAVEL_REQUEST_TIMEOUT_MS while it keeps moving; a stalled one is cut with 408', async () => {
    // Short bounds so that the test is quick: 800 ms for an ordinary request, at least 64 B/s
    // in every 800 ms window for an upload.
    const t = await startTestServer({
      judge, config: { maxProblemBytes: 4 << 20, maxProblemFiles: 200, requestTimeoutMs: 800, headersTimeoutMs: 400, uploadTimeoutMs: 60_000, uploadMinBytesPerSec: 64 },
    });
    try {
      const body = await pack(fixture('aplusb'), 'tar');
      const chunks = 12;
      const size = Math.ceil(body.length / chunks);
      assert.ok(size >= 64, `${size} bytes a chunk`);
      const steady = slowPut(t.url, 'steady', body, size);
      const started = Date.now();
      // A chunk every 200 ms: 2.2 s in all, well past the 800 ms of an ordinary request.
      for (let off = size; off < body.length; off += size) {
        await sleep(200);
        steady.write(body.subarray(off, Math.min(off + size, body.length)));
      }
      steady.release();
      const ok = await steady.done;
      assert.ok(Date.now() - started > 1600, 'the body took longer than two request timeouts');
      assert.equal(ok.status, 201, JSON.stringify(ok.body));

      const stalled = slowPut(t.url, 'stalled', body, size);
      const cut = await stalled.done;
      stalled.destroy();
      assert.equal(cut.status, 408);
      assert.equal(cut.body.error, 'request_timeout');
      assert.match(cut.body.message, /stalled.*GAVEL_UPLOAD_MIN_BYTES_PER_SEC/);
      assert.equal((await request(t.url, 'GET', '/v1/problems/stalled')).status, 404, 'nothing of the cut upload is stored');
    } finally {
      await t.close();
    }
  });

  test('submissions by problem id: verdicts, names, 404, limits, version pinning', async () => {
    const put = await putProblem(s.url, 'hello', await pack(fixture('flags'), 'zip'));
    assert.equal(put.status, 201, put.text);
    const post = (body: unknown) => request(s.url, 'POST', '/v1/submissions', body);
    const unknown = await post({ problem: 'nope', language: 'python3', source: 'print(1)' });
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.error, 'unknown_problem');
    assert.equal((await post({ problem: 'hello', problemVersion: 9, language: 'python3', source: 'print(1)' })).status, 404);
    const both = await post({ problem: 'hello', language: 'python3', source: 'print(1)', tests: [{ input: '', expected: '' }] });
    assert.equal(both.status, 400);
    assert.match(both.body.message, /tests: not allowed with "problem"/);
    const raise = await post({ problem: 'hello', language: 'python3', source: 'print(1)', limits: { timeMs: 5000 } });
    assert.equal(raise.status, 400);
    assert.match(raise.body.message, /limits may only lower/);

    const slowAc = 'import time\ntime.sleep(0.5)\nprint("Hello " + input())';
    const a = await post({ problem: 'hello', language: 'python3', source: slowAc });
    assert.equal(a.status, 202, a.text);
    await until(async () => (await request(s.url, 'GET', `/v1/submissions/${a.body.id}`)).body.status !== 'queued', 30_000, 'judging to start');
    // Replaced while the first submission runs: it finishes against version 1.
    assert.equal((await putProblem(s.url, 'hello', await pack(fixture('flags', { 'data/secret/1.ans': 'Bye World\n' }), 'zip'))).status, 200);
    const doneA = await waitFinished(s.url, a.body.id);
    assert.equal(doneA.verdict, 'AC', JSON.stringify(doneA));
    assert.deepEqual(doneA.problem, { id: 'hello', version: 1 });
    assert.deepEqual(doneA.tests.map((t: { id: string }) => t.id), ['secret/1']);
    const b = await post({ problem: 'hello', language: 'python3', source: 'print("Hello " + input())' });
    const doneB = await waitFinished(s.url, b.body.id);
    assert.equal(doneB.verdict, 'WA');
    assert.deepEqual(doneB.problem, { id: 'hello', version: 2 });
    assert.match(doneB.tests[0].checkerMessage, /expected 'Bye', found 'Hello'/);
  });
});

describe('problem submissions like any other: events, cancel', () => {
  let judge: Judge;
  let s: TestServer;
  before(async () => {
    judge = await createJudge({ poolSize: 2, name: `gavel-phttp2-${process.pid}`, uidBase: 63500 });
    s = await startTestServer({ judge });
    assert.equal((await putProblem(s.url, 'ab', await pack(fixture('aplusb'), 'zip'))).status, 201);
  });
  after(async () => {
    await s?.close();
    await judge?.close();
  });

  test('the event stream names tests as in the package and ends with the verdict', async () => {
    const r = await request(s.url, 'POST', '/v1/submissions', { problem: 'ab', language: 'python3', source: 'a, b = map(int, input().split())\nprint(a + b)' });
    assert.equal(r.status, 202);
    await waitFinished(s.url, r.body.id);
    const res = await fetch(`${s.url}/v1/submissions/${r.body.id}/events`);
    const text = await res.text();
    const events = text.split('\n\n').filter((b) => b.includes('event: ')).map((b) => ({
      type: /event: (\S+)/.exec(b)![1], data: JSON.parse(/data: (.*)/.exec(b)![1]),
    }));
    assert.deepEqual(events.filter((e) => e.type === 'test-start').map((e) => e.data.id), ['sample/1', 'secret/01-small', 'secret/02-negative', 'secret/03-big']);
    const verdict = events.at(-1)!;
    assert.equal(verdict.type, 'verdict');
    assert.equal(verdict.data.verdict, 'AC');
    assert.deepEqual(verdict.data.problem, { id: 'ab', version: 1 });
  });

  test('DELETE cancels a running problem submission', async () => {
    const r = await request(s.url, 'POST', '/v1/submissions', { problem: 'ab', language: 'python3', source: 'import time\ntime.sleep(0.9)\nprint(3)' });
    await until(async () => (await request(s.url, 'GET', `/v1/submissions/${r.body.id}`)).body.status === 'running', 30_000, 'judging to start');
    const del = await request(s.url, 'DELETE', `/v1/submissions/${r.body.id}`);
    assert.ok(del.status === 200 || del.status === 202, del.text);
    const done = await waitFinished(s.url, r.body.id);
    assert.equal(done.verdict, 'IE');
    assert.equal(done.cancelled, true);
  });
});

describe('kill -9 of the service with problems', () => {
  test('during an import: nothing half-stored, the previous version still serving', async () => {
    const dataDir = tempDir();
    const instance = `gavel-pkill-${process.pid}`;
    const env = { GAVEL_DATA_DIR: dataDir, GAVEL_INSTANCE: instance, GAVEL_UID_BASE: '63300', GAVEL_POOL_SIZE: '2' };
    let child: Child | undefined;
    const base = join(dataDir, 'problems');
    const blobs = () => readdirSync(join(base, 'blobs')).flatMap((d) => readdirSync(join(base, 'blobs', d))).sort();
    try {
      child = await spawnService(SERVER, env);
      assert.equal((await putProblem(child.url, 'p', await pack(fixture('aplusb'), 'zip'))).status, 201);
      const before = blobs();
      // A replace with 8 MiB of new test data, killed halfway through the upload.
      const big = await pack(fixture('aplusb', { 'data/secret/04-huge.in': Buffer.alloc(8 << 20, 0x31), 'data/secret/04-huge.ans': '1\n' }), 'tar');
      const slow = slowPut(child.url, 'p', big, 5 << 20);
      slow.done.catch(() => undefined);
      await until(() => readdirSync(join(base, 'staging')).length > 0, 10_000, 'the import to start');
      await sleep(200);
      child.proc.kill('SIGKILL');
      await child.exited;
      slow.destroy();

      child = await spawnService(SERVER, env);
      const got = await request(child.url, 'GET', '/v1/problems/p');
      assert.equal(got.status, 200);
      assert.equal(got.body.version, 1, 'the previous version serves');
      assert.equal(got.body.tests, 4);
      assert.deepEqual(readdirSync(join(base, 'staging')), [], 'staging swept');
      assert.deepEqual(readdirSync(join(base, 'versions', 'p')), ['1'], 'no half-made version directory');
      assert.deepEqual(blobs(), before, 'no blob of the dead import left');
      // The id is not stuck: the next import works, and gets a version number never used.
      const again = await putProblem(child.url, 'p', await pack(fixture('aplusb'), 'tar'), 'tar');
      assert.equal(again.status, 200, again.text);
      assert.equal(again.body.version, 3);
      // A clean stop takes the sandboxes' cgroups and run dir with it.
      await stopService(child);
      child = undefined;
      assert.deepEqual(leftovers(instance), []);
    } finally {
      await killService(child);
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  test('during judging: the submission finishes after a restart, against its version', async () => {
    const dataDir = tempDir();
    const instance = `gavel-pkill2-${process.pid}`;
    const env = { GAVEL_DATA_DIR: dataDir, GAVEL_INSTANCE: instance, GAVEL_UID_BASE: '63400', GAVEL_POOL_SIZE: '2' };
    let child: Child | undefined;
    try {
      child = await spawnService(SERVER, env);
      assert.equal((await putProblem(child.url, 'ab', await pack(fixture('aplusb'), 'zip'))).status, 201);
      const slow = 'import time\ntime.sleep(0.4)\na, b = map(int, input().split())\nprint(a + b)';
      const r = await request(child.url, 'POST', '/v1/submissions', { problem: 'ab', language: 'python3', source: slow });
      assert.equal(r.status, 202, r.text);
      await until(async () => {
        const v = await request(child!.url, 'GET', `/v1/submissions/${r.body.id}`);
        return v.body.status === 'running' && (v.body.tests?.length ?? 0) >= 1;
      }, 60_000, 'judging under way');
      child.proc.kill('SIGKILL');
      await child.exited;

      child = await spawnService(SERVER, env);
      const done = await waitFinished(child.url, r.body.id, 120_000);
      assert.equal(done.verdict, 'AC', JSON.stringify(done));
      assert.deepEqual(done.problem, { id: 'ab', version: 1 });
      assert.equal(done.tests.length, 4);
      await stopService(child);
      child = undefined;
      assert.deepEqual(leftovers(instance), []);
    } finally {
      await killService(child);
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
