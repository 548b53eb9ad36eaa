// The events stream with a real SSE client (the `eventsource` package): live events, late
// connection after the end, Last-Event-ID resume (set by us and by the client's own reconnect),
// heartbeats, queue positions, and replay from the store after a restart.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { rmSync } from 'node:fs';
import { EventSource, type FetchLike } from 'eventsource';
import {
  FakeJudge, fakeSubmission, request, startTestServer, tempDir, until, waitFinished, type TestServer,
} from './helpers/server.js';

const TYPES = ['status', 'compile', 'test-start', 'telemetry', 'test', 'verdict'];

interface Got { id: string; type: string; data: any }

/** Collects events until `verdict`, then closes; rejects on timeout. */
function collect(url: string, opts: { fetch?: FetchLike; timeoutMs?: number; onEvent?: (g: Got, es: EventSource) => void } = {}): Promise<Got[]> {
  return new Promise((resolve, reject) => {
    const es = new EventSource(url, opts.fetch ? { fetch: opts.fetch } : undefined);
    const got: Got[] = [];
    const timer = setTimeout(() => { es.close(); reject(new Error(`no verdict within ${opts.timeoutMs ?? 15000} ms; got ${got.map((g) => g.type)}`)); }, opts.timeoutMs ?? 15000);
    for (const type of TYPES) {
      es.addEventListener(type, (e) => {
        const g = { id: e.lastEventId, type, data: JSON.parse(e.data) };
        got.push(g);
        opts.onEvent?.(g, es);
        if (type === 'verdict') {
          clearTimeout(timer);
          es.close();
          resolve(got);
        }
      });
    }
  });
}

/**
 * Durable events (what replay gives): not telemetry, and not the transient queue-position
 * updates, which repeat the id of the event before them.
 */
const durable = (evs: Got[]) => {
  const out: Got[] = [];
  for (const e of evs) {
    if (e.type === 'telemetry') continue;
    if (e.type === 'status' && out.length && out.at(-1)!.id === e.id) continue;
    out.push(e);
  }
  return out;
};

describe('SSE events', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer({ judge: new FakeJudge(1, 20), config: { heartbeatMs: 50, sseRetryMs: 50, telemetryHz: 20 } });
  });
  after(async () => { await s.close(); });

  test('live: the full sequence, increasing ids, ending with the verdict', async () => {
    const r = await request(s.url, 'POST', '/v1/submissions', fakeSubmission('sleep:120', 3));
    const evs = await collect(`${s.url}/v1/submissions/${r.body.id}/events`);
    const types = durable(evs).map((e) => e.type);
    assert.deepEqual(types, [
      'status', 'status', 'compile', 'status',
      'test-start', 'test', 'test-start', 'test', 'test-start', 'test', 'verdict',
    ]);
    assert.deepEqual(durable(evs).filter((e) => e.type === 'status').map((e) => e.data.status), ['queued', 'compiling', 'running']);
    const ids = durable(evs).map((e) => Number(e.id));
    assert.deepEqual(ids, ids.map((_, i) => i + 1), 'durable ids are 1, 2, 3, ...');
    for (let i = 1; i < evs.length; i++) assert.ok(Number(evs[i].id) >= Number(evs[i - 1].id), 'ids never go back');
    assert.ok(evs.some((e) => e.type === 'telemetry'), 'telemetry arrives while a test runs');
    const verdict = evs.at(-1)!;
    assert.equal(verdict.data.status, 'finished');
    assert.equal(verdict.data.verdict, 'AC');
    assert.equal(verdict.data.tests.length, 3);
    const tests = evs.filter((e) => e.type === 'test');
    assert.deepEqual(tests.map((e) => e.data.index), [0, 1, 2]);
    assert.equal(tests[0].data.result.verdict, 'AC');
  });

  test('telemetry is throttled per submission', async () => {
    // FakeJudge emits telemetry every 20 ms for 1 s; the hub lets through at most 20/s.
    const r = await request(s.url, 'POST', '/v1/submissions', fakeSubmission('sleep:1000', 1));
    const evs = await collect(`${s.url}/v1/submissions/${r.body.id}/events`);
    const tel = evs.filter((e) => e.type === 'telemetry');
    assert.ok(tel.length >= 2, `some telemetry got through (${tel.length})`);
    assert.ok(tel.length <= 25, `at most ~20 per second got through (${tel.length} of ~50)`);
    assert.equal(typeof tel[0].data.memoryBytes, 'number');
  });

  test('late connect after the end replays the history and the verdict; then 204', async () => {
    const r = await request(s.url, 'POST', '/v1/submissions', fakeSubmission('echo', 2));
    await waitFinished(s.url, r.body.id);
    const evs = await collect(`${s.url}/v1/submissions/${r.body.id}/events`);
    assert.deepEqual(evs.map((e) => e.type), ['status', 'status', 'compile', 'status', 'test-start', 'test', 'test-start', 'test', 'verdict']);
    assert.deepEqual(evs.map((e) => Number(e.id)), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
    // A client that has everything (e.g. EventSource reconnecting after the end) is told to stop.
    const again = await fetch(`${s.url}/v1/submissions/${r.body.id}/events`, { headers: { 'last-event-id': '9' } });
    assert.equal(again.status, 204);
  });

  test('Last-Event-ID resumes after that id (header set by the client)', async () => {
    const r = await request(s.url, 'POST', '/v1/submissions', fakeSubmission('echo', 2));
    await waitFinished(s.url, r.body.id);
    const withHeader: FetchLike = (url, init) => fetch(url, { ...init, headers: { ...init?.headers, 'Last-Event-ID': '5' } });
    const evs = await collect(`${s.url}/v1/submissions/${r.body.id}/events`, { fetch: withHeader });
    assert.deepEqual(evs.map((e) => Number(e.id)), [6, 7, 8, 9]);
    assert.equal(evs[0].type, 'test');
    // The query parameter does the same for clients that cannot set headers.
    const q = await collect(`${s.url}/v1/submissions/${r.body.id}/events?lastEventId=8`);
    assert.deepEqual(q.map((e) => e.type), ['verdict']);
  });

  test('a dropped connection is resumed by the client with Last-Event-ID: nothing lost, nothing twice', async () => {
    const r = await request(s.url, 'POST', '/v1/submissions', fakeSubmission('sleep:100', 4));
    let connections = 0;
    const lastIds: Array<string | null> = [];
    // Cut the first connection after its first few hundred bytes; the client reconnects by itself.
    const flaky: FetchLike = async (url, init) => {
      connections++;
      lastIds.push(new Headers(init?.headers).get('last-event-id'));
      const res = await fetch(url, init);
      if (connections > 1 || !res.body) return res;
      const reader = res.body.getReader();
      let seen = 0;
      const cut = new ReadableStream<Uint8Array>({
        async pull(controller) {
          const { value, done } = await reader.read();
          if (done || seen > 400) { await reader.cancel(); controller.close(); return; }
          seen += value.length;
          controller.enqueue(value);
        },
      });
      return new Response(cut, { status: res.status, headers: res.headers }) as unknown as Awaited<ReturnType<FetchLike>>;
    };
    const evs = await collect(`${s.url}/v1/submissions/${r.body.id}/events`, { fetch: flaky });
    assert.ok(connections >= 2, 'the client reconnected');
    assert.equal(lastIds[0], null);
    assert.match(lastIds[1] ?? '', /^\d+$/, 'the reconnect carried Last-Event-ID');
    const d = durable(evs);
    assert.deepEqual(d.map((e) => Number(e.id)), d.map((_, i) => i + 1), 'every durable event exactly once, in order');
    assert.equal(d.at(-1)!.type, 'verdict');
    assert.equal(d.filter((e) => e.type === 'test').length, 4);
  });

  test('heartbeat comments arrive while nothing happens; queued submissions get their position', async () => {
    const blocker = await request(s.url, 'POST', '/v1/submissions', fakeSubmission('sleep:400', 1));
    const queued = await request(s.url, 'POST', '/v1/submissions', fakeSubmission('echo', 1));
    const res = await fetch(`${s.url}/v1/submissions/${queued.body.id}/events`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    assert.equal(res.headers.get('cache-control'), 'no-cache, no-transform');
    const reader = res.body!.getReader();
    let text = '';
    const dec = new TextDecoder();
    while (!text.includes('event: verdict')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += dec.decode(value);
    }
    await reader.cancel();
    assert.match(text, /^retry: \d+/);
    assert.match(text, /^: ping$/m, 'heartbeat comments');
    assert.match(text, /"status":"queued","position":1/, 'position while waiting');
    assert.match(text, /event: verdict/);
    await waitFinished(s.url, blocker.body.id);
  });

  test('unknown submission: 404 JSON, not a stream', async () => {
    const r = await request(s.url, 'GET', '/v1/submissions/nope/events');
    assert.equal(r.status, 404);
    assert.equal(r.body.error, 'not_found');
  });
});

describe('SSE replay survives a restart', () => {
  test('events are read back from the store by a new process on the same data dir', async () => {
    const dataDir = tempDir();
    try {
      let s = await startTestServer({ dataDir });
      const r = await request(s.url, 'POST', '/v1/submissions', fakeSubmission('echo', 3));
      await waitFinished(s.url, r.body.id);
      const before = await collect(`${s.url}/v1/submissions/${r.body.id}/events`);
      await s.close();

      s = await startTestServer({ dataDir });
      try {
        const afterRestart = await collect(`${s.url}/v1/submissions/${r.body.id}/events`);
        assert.deepEqual(afterRestart.map((e) => [e.id, e.type]), before.map((e) => [e.id, e.type]));
        assert.deepEqual(afterRestart.at(-1)!.data, before.at(-1)!.data);
        const resumed = await collect(`${s.url}/v1/submissions/${r.body.id}/events?lastEventId=8`);
        assert.deepEqual(resumed.map((e) => e.type), ['test-start', 'test', 'verdict']);
      } finally {
        await s.close();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  test('a stream open at shutdown ends; the client resumes on the next process and gets the rest', async () => {
    const dataDir = tempDir();
    try {
      const judge = new FakeJudge(1);
      let s = await startTestServer({ dataDir, judge, config: { shutdownMs: 100, sseRetryMs: 100 } });
      const r = await request(s.url, 'POST', '/v1/submissions', fakeSubmission('sleep:2000', 2));
      await until(() => judge.busy === 1, 5000, 'judging to start');
      const port = new URL(s.url).port;
      const got: Got[] = [];
      const done = collect(`${s.url}/v1/submissions/${r.body.id}/events`, { timeoutMs: 30_000, onEvent: (g) => got.push(g) });
      await until(() => got.some((g) => g.type === 'test-start'), 5000, 'test-start');
      await s.close(); // interrupts judging (deadline 100 ms): the submission stays unfinished
      // Same port, so the client's reconnect reaches the new process.
      s = await startTestServer({ dataDir, config: { port: Number(port), sseRetryMs: 100 } });
      try {
        const evs = await done;
        const statuses = evs.filter((e) => e.type === 'status').map((e) => e.data.status);
        assert.deepEqual(statuses.slice(-3), ['queued', 'compiling', 'running'], 'it was re-queued and judged again');
        assert.ok(evs.some((e) => e.type === 'status' && e.data.requeued === true));
        assert.equal(evs.at(-1)!.data.verdict, 'AC');
        const ids = durable(evs).map((e) => Number(e.id));
        assert.deepEqual(ids, ids.map((_, i) => i + 1), 'ids continue across the restart without gaps or repeats');
      } finally {
        await s.close();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
