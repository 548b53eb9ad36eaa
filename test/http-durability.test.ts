// Nothing accepted is ever lost: a burst against a small queue, kill -9 of the service process
// mid-judging, graceful SIGTERM, retention, and the data-dir lock. The service processes here
// run FakeJudge (test/helpers/fake-server.ts); the kill -9 test with the real judge is in
// http-e2e.test.ts.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { SqliteStore } from '../src/store/sqlite.js';
import {
  FakeJudge, fakeSubmission, request, killService, spawnService, stopService, startTestServer, tempDir, until, waitFinished, type Child, type JsonResponse,
} from './helpers/server.js';

const FAKE_SERVER = fileURLToPath(new URL('./helpers/fake-server.js', import.meta.url));

describe('durability', () => {
  test('a burst of 500 submissions against a queue of 20: each is finished or got 429, none lost', async () => {
    const judge = new FakeJudge(2);
    const s = await startTestServer({ judge, config: { queueMax: 20 } });
    try {
      const results = await Promise.all(Array.from({ length: 500 }, (_, i) =>
        request(s.url, 'POST', '/v1/submissions', fakeSubmission(i % 2 ? 'sleep:60' : 'sleep:30', 1))));
      const accepted = results.filter((r) => r.status === 202).map((r) => r.body.id as string);
      const rejected = results.filter((r) => r.status === 429);
      assert.equal(accepted.length + rejected.length, 500, `only 202 and 429: ${[...new Set(results.map((r) => r.status))]}`);
      assert.ok(accepted.length >= 20, `at least a full queue was accepted (${accepted.length})`);
      assert.ok(rejected.length > 0, 'the bound was hit');
      for (const r of rejected) assert.match(r.headers.get('retry-after') ?? '', /^\d+$/);
      assert.equal(new Set(accepted).size, accepted.length);
      for (const id of accepted) assert.equal((await waitFinished(s.url, id)).verdict, 'AC');
      assert.equal(judge.judged, accepted.length, 'each accepted submission judged exactly once');
      assert.equal(judge.maxBusy <= 2, true);
      assert.deepEqual(await s.store.unfinished(), []);
    } finally {
      await s.close();
    }
  });

  test('kill -9 of the service while it judges: after restart every accepted submission finishes', async () => {
    const dataDir = tempDir();
    const env = { GAVEL_FAKE_SERVER: '1', GAVEL_DATA_DIR: dataDir, FAKE_POOL_SIZE: '2' };
    let child: Child | undefined;
    try {
      child = await spawnService(FAKE_SERVER, env);
      const ids: string[] = [];
      for (let i = 0; i < 16; i++) {
        const r: JsonResponse = await request(child.url, 'POST', '/v1/submissions', fakeSubmission('sleep:100', 2));
        assert.equal(r.status, 202);
        ids.push(r.body.id);
      }
      const finishedBefore = new Map<string, string>();
      await until(async () => {
        for (const id of ids) {
          const r: JsonResponse = await request(child!.url, 'GET', `/v1/submissions/${id}`);
          if (r.body.status === 'finished') finishedBefore.set(id, r.body.finishedAt);
        }
        return finishedBefore.size >= 3;
      }, 30_000, 'some submissions to finish');
      assert.ok(finishedBefore.size < ids.length, 'work was still pending at the kill');
      child.proc.kill('SIGKILL');
      assert.equal((await child.exited).signal, 'SIGKILL');

      child = await spawnService(FAKE_SERVER, env);
      for (const id of ids) {
        const done = await waitFinished(child.url, id, 60_000);
        assert.equal(done.verdict, 'AC', id);
        assert.equal(done.tests.length, 2);
        // Finished before the crash means finished for good: not judged again.
        if (finishedBefore.has(id)) assert.equal(done.finishedAt, finishedBefore.get(id));
      }
      await stopService(child);
      child = undefined;
    } finally {
      await killService(child);
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  test('SIGTERM: new submissions get 503, running ones finish, queued ones wait in the store; exit 0', async () => {
    const dataDir = tempDir();
    const env = { GAVEL_FAKE_SERVER: '1', GAVEL_DATA_DIR: dataDir, FAKE_POOL_SIZE: '1', GAVEL_SHUTDOWN_MS: '10000' };
    let child: Child | undefined;
    try {
      child = await spawnService(FAKE_SERVER, env);
      const first = await request(child.url, 'POST', '/v1/submissions', fakeSubmission('sleep:600', 1));
      const second = await request(child.url, 'POST', '/v1/submissions', fakeSubmission('echo', 1));
      await until(async () => (await request(child!.url, 'GET', `/v1/submissions/${first.body.id}`)).body.status === 'running', 10_000, 'running');
      child.proc.kill('SIGTERM');
      await until(async () => (await request(child!.url, 'GET', '/readyz')).status === 503, 5000, 'readyz to turn 503');
      const late = await request(child.url, 'POST', '/v1/submissions', fakeSubmission('echo', 1));
      assert.equal(late.status, 503);
      assert.equal(late.body.error, 'shutting_down');
      assert.deepEqual(await child.exited, { code: 0, signal: null });

      const store = new SqliteStore({ dataDir });
      try {
        assert.equal((await store.get(first.body.id))?.status, 'finished', 'the running one was allowed to finish');
        assert.equal((await store.get(second.body.id))?.status, 'queued', 'the queued one stays queued');
      } finally {
        await store.close();
      }
      child = await spawnService(FAKE_SERVER, env);
      assert.equal((await waitFinished(child.url, second.body.id)).verdict, 'AC');
      await stopService(child);
      child = undefined;
    } finally {
      await killService(child);
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  test('finished submissions are deleted after the retention period, with their events', async () => {
    const s = await startTestServer({ config: { retentionHours: 0.5 / 3600, retentionCheckMs: 100 } });
    try {
      const r = await request(s.url, 'POST', '/v1/submissions', fakeSubmission('echo', 1));
      await waitFinished(s.url, r.body.id);
      await until(async () => (await request(s.url, 'GET', `/v1/submissions/${r.body.id}`)).status === 404, 10_000, 'deletion');
      assert.deepEqual(await s.store.events(r.body.id, 0), []);
      assert.equal((await request(s.url, 'GET', `/v1/submissions/${r.body.id}/events`)).status, 404);
    } finally {
      await s.close();
    }
  });

  test('two services cannot share a data dir', async () => {
    const s = await startTestServer();
    try {
      await assert.rejects(async () => new SqliteStore({ dataDir: s.dataDir }), /another gavel process/);
      // The first one is unaffected.
      const r = await request(s.url, 'POST', '/v1/submissions', fakeSubmission('echo', 1));
      assert.equal((await waitFinished(s.url, r.body.id)).verdict, 'AC');
    } finally {
      await s.close();
    }
  });
});
