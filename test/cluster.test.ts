// Cluster mode end to end, with real servers as separate processes: PostgreSQL and Redis of
// its own, two API nodes and two worker nodes (real sandboxes, pool of 1 each). Kills and
// restarts each component mid-work and checks what the README promises: every accepted
// submission finishes with exactly one verdict and one verdict event, SSE resumes on another
// API node without gap or duplicate, outages answer 503 (never 500, never a hang), and the
// cluster-wide GAVEL_QUEUE_MAX holds under a burst.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { TestCluster, readSse, type SseEvent } from './helpers/cluster.js';
import { request, sleep, until } from './helpers/server.js';

const QUEUE_MAX = 200;

/** A Python program that sleeps `ms` per test and echoes its input. */
const sleeper = (ms: number, tests = 2) => ({
  language: 'python3',
  source: `import time\ntime.sleep(${ms / 1000})\nprint(input())\n`,
  tests: Array.from({ length: tests }, (_, i) => ({ input: `${i}\n`, expected: `${i}\n` })),
  limits: { timeMs: 5000, wallTimeMs: 10_000 },
});
const tiny = { language: 'python3', source: 'print(int(input()) + 1)\n', tests: [{ input: '41\n', expected: '42\n' }] };

/** Durable events only (telemetry repeats the id of the last durable event). */
const durable = (events: SseEvent[]) => events.filter((e) => e.event !== 'telemetry');

function assertOnceInOrder(events: SseEvent[], what: string): void {
  const ids = durable(events).map((e) => e.id);
  assert.deepEqual(ids, ids.map((_, i) => i + 1), `${what}: event ids ${ids.join(',')}`);
  assert.equal(durable(events).filter((e) => e.event === 'verdict').length, 1, `${what}: one verdict event`);
  assert.equal(durable(events).at(-1)?.event, 'verdict', `${what}: ends with the verdict`);
}

describe('cluster mode: 2 API nodes, 2 workers, PostgreSQL and Redis (real processes)', { timeout: 600_000 }, () => {
  let c: TestCluster;
  let db: pg.Pool;

  before(async () => {
    c = await TestCluster.start({
      apis: 2, workers: 2,
      env: {
        GAVEL_QUEUE_MAX: String(QUEUE_MAX), GAVEL_JOB_LOCK_MS: '3000', GAVEL_TELEMETRY_HZ: '10',
        GAVEL_WEBHOOK_LEASE_MS: '2000', GAVEL_WEBHOOK_BACKOFF_MS: '300', GAVEL_WEBHOOK_ATTEMPTS: '40',
      },
    });
    db = new pg.Pool({ connectionString: c.pg.url, max: 2 });
    db.on('error', () => undefined);
  });

  after(async () => {
    await db?.end().catch(() => undefined);
    await c?.stop();
  });

  async function submit(api: string, body: unknown): Promise<string> {
    const r = await request(api, 'POST', '/v1/submissions', body);
    assert.equal(r.status, 202, r.text);
    return r.body.id as string;
  }

  async function finished(api: string, ids: string[], timeoutMs: number): Promise<Map<string, any>> {
    const out = new Map<string, any>();
    const end = Date.now() + timeoutMs;
    while (out.size < ids.length) {
      for (const id of ids) {
        if (out.has(id)) continue;
        const r = await request(api, 'GET', `/v1/submissions/${id}`).catch(() => undefined);
        if (r?.status === 200 && r.body.status === 'finished') out.set(id, r.body);
      }
      if (out.size < ids.length) {
        if (Date.now() > end) {
          const left = ids.filter((id) => !out.has(id));
          throw new Error(`${left.length} of ${ids.length} not finished after ${timeoutMs} ms, e.g. ${left[0]}\n`
            + c.nodes.flatMap((n) => c.problems(n).slice(-5)).join('\n'));
        }
        await sleep(200);
      }
    }
    return out;
  }

  /** Per submission: stored verdict events (must be one each). */
  async function verdictEvents(ids: string[]): Promise<Map<string, number>> {
    const { rows } = await db.query<{ id: string; n: string }>(
      "SELECT s.id, count(e.seq) AS n FROM submissions s LEFT JOIN events e ON e.submission_id = s.id AND e.type = 'verdict' WHERE s.id = ANY($1) GROUP BY s.id",
      [ids]);
    return new Map(rows.map((r) => [r.id, Number(r.n)]));
  }

  it('judges a submission sent to one API node and streams it from the other; relays /v1/run', async () => {
    const [a, b] = c.apis;
    const id = await submit(a.url, tiny);
    const { events, ended } = await readSse(`${b.url}/v1/submissions/${id}/events`, undefined);
    assert.ok(ended);
    assertOnceInOrder(events, 'stream');
    assert.equal(events.at(-1)!.data.verdict, 'AC');
    const run = await request(b.url, 'POST', '/v1/run', { cmd: ['/bin/echo', 'relayed'] });
    assert.equal(run.status, 200, run.text);
    assert.equal(run.body.stdout, 'relayed\n');
    const ready = await request(a.url, 'GET', '/readyz');
    assert.equal(ready.status, 200, ready.text);
    assert.deepEqual(ready.body.cluster, { role: 'api', database: 'ok', redis: 'ok', workers: 2, slots: 2 });
    const metrics = (await request(a.url, 'GET', '/metrics')).text;
    assert.match(metrics, /^gavel_cluster_workers 2$/m);
    assert.match(metrics, /^gavel_cluster_queue_depth \d+$/m);
    const promtool = spawnSync('promtool', ['check', 'metrics'], { input: metrics, encoding: 'utf8' });
    assert.equal(promtool.status, 0, `promtool: ${promtool.stdout}${promtool.stderr}`);
  });

  it('kill -9 of a worker while it judges: every submission finishes, one verdict and one verdict event each', async () => {
    const [a, b] = c.apis;
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push(await submit(i % 2 ? b.url : a.url, sleeper(1500)));
    // Both workers busy: each is judging one of them.
    await until(async () => {
      const { rows } = await db.query("SELECT count(*) AS n FROM submissions WHERE id = ANY($1) AND status = 'running'", [ids]);
      return Number(rows[0].n) >= 2;
    }, 30_000, 'both workers judging');
    const victim = c.workers[0];
    await c.kill(victim);
    const restarted = c.launch(victim);
    const done = await finished(a.url, ids, 120_000);
    await restarted;
    for (const [id, v] of done) assert.equal(v.verdict, 'AC', `${id}: ${JSON.stringify(v)}`);
    const verdicts = await verdictEvents(ids);
    for (const id of ids) assert.equal(verdicts.get(id), 1, `${id}: verdict events`);
    const { rows } = await db.query<{ n: string }>('SELECT count(*) AS n FROM submissions WHERE id = ANY($1) AND attempt > 1', [ids]);
    assert.ok(Number(rows[0].n) >= 1, 'the killed worker\'s submission was judged again');
    // The stream of each, from the other API node, has every event once; the re-judged ones
    // tell their clients so (tests they saw are reported again).
    let requeued = 0;
    for (const id of ids) {
      const { events } = await readSse(`${b.url}/v1/submissions/${id}/events`, undefined);
      assertOnceInOrder(events, id);
      if (events.some((e) => e.event === 'status' && e.data.requeued)) requeued++;
    }
    assert.ok(requeued >= 1, 'the submission the killed worker was judging says it was re-queued');
  });

  it('a worker that hangs mid-judging loses its job to another, and its late writes are refused', async () => {
    const [a] = c.apis;
    const ids = [await submit(a.url, sleeper(2000)), await submit(a.url, sleeper(2000))];
    await until(async () => {
      const { rows } = await db.query("SELECT count(*) AS n FROM submissions WHERE id = ANY($1) AND status = 'running'", [ids]);
      return Number(rows[0].n) >= 2;
    }, 30_000, 'both workers judging');
    const hung = c.workers[0];
    const before = hung.child!.log.length;
    c.signal(hung, 'SIGSTOP');
    let done: Map<string, any>;
    try {
      done = await finished(a.url, ids, 60_000);
    } finally {
      c.signal(hung, 'SIGCONT');
    }
    for (const v of done.values()) assert.equal(v.verdict, 'AC');
    // Back from its hang, the worker finds its attempt superseded and stops.
    await until(() => hung.child!.log.slice(before).some((l) => l.includes('another worker took this submission over')), 20_000, 'the stale worker to stop');
    await sleep(1000);
    const verdicts = await verdictEvents(ids);
    for (const id of ids) assert.equal(verdicts.get(id), 1, `${id}: verdict events`);
    const { rows } = await db.query<{ n: string }>('SELECT count(*) AS n FROM submissions WHERE id = ANY($1) AND attempt > 1', [ids]);
    assert.ok(Number(rows[0].n) >= 1);
    assert.equal((await request(hung.url, 'GET', '/readyz')).status, 200, 'the worker that hung serves again');
  });

  it('kill -9 of an API node while clients stream: they resume on the other with Last-Event-ID, every event once', async () => {
    const [a, b] = c.apis;
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push(await submit(b.url, sleeper(400, 4)));
    const seen = new Map<string, SseEvent[]>(ids.map((id) => [id, []]));
    const first = ids.map((id) => readSse(`${a.url}/v1/submissions/${id}/events`, undefined, undefined, (e) => seen.get(id)!.push(e)));
    await until(() => ids.every((id) => durable(seen.get(id)!).length >= 2), 30_000, 'events on the first API node');
    await c.kill(a);
    const firstRun = await Promise.all(first);
    assert.ok(firstRun.some((r) => !r.ended), 'the killed node cut at least one stream short');
    for (const id of ids) {
      const got = seen.get(id)!;
      if (durable(got).at(-1)?.event === 'verdict') continue;
      const last = durable(got).at(-1)?.id;
      const rest = await readSse(`${b.url}/v1/submissions/${id}/events`, last);
      assert.ok(rest.ended, `${id}: the resumed stream ends`);
      got.push(...rest.events);
    }
    for (const id of ids) assertOnceInOrder(seen.get(id)!, id);
    await c.launch(a);
  });

  it('DELETE through either API node cancels on whichever worker has it, or in the queue', async () => {
    const [a, b] = c.apis;
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push(await submit(a.url, sleeper(3000)));
    await until(async () => {
      const { rows } = await db.query("SELECT count(*) AS n FROM submissions WHERE id = ANY($1) AND status = 'running'", [ids]);
      return Number(rows[0].n) >= 2;
    }, 30_000, 'two submissions judging');
    const { rows } = await db.query<{ id: string; status: string }>('SELECT id, status FROM submissions WHERE id = ANY($1)', [ids]);
    const queued = rows.find((r) => r.status === 'queued')?.id;
    const running = rows.filter((r) => r.status === 'running').map((r) => r.id);
    assert.ok(queued, 'one is still queued');
    const q = await request(b.url, 'DELETE', `/v1/submissions/${queued}`);
    assert.equal(q.status, 200, q.text);
    assert.equal(q.body.cancelled, true);
    for (const id of running) {
      const r = await request(b.url, 'DELETE', `/v1/submissions/${id}`);
      assert.ok(r.status === 200 || r.status === 202, r.text);
    }
    const done = await finished(a.url, ids, 30_000);
    for (const v of done.values()) {
      assert.equal(v.verdict, 'IE');
      assert.equal(v.cancelled, true);
    }
    const verdicts = await verdictEvents(ids);
    for (const id of ids) assert.equal(verdicts.get(id), 1);
    const again = await request(a.url, 'DELETE', `/v1/submissions/${ids[0]}`);
    assert.equal(again.status, 409);
  });

  it('webhooks: sent once per submission, and retried by another node after the delivering worker dies', async () => {
    const [a] = c.apis;
    let accept = false;
    const hits = new Map<string, Array<{ attempt: number; status: number }>>();
    const server: Server = createServer((req, res) => {
      const id = String(req.headers['x-gavel-submission']);
      const status = accept ? 200 : 500;
      const list = hits.get(id) ?? [];
      list.push({ attempt: Number(req.headers['x-gavel-attempt']), status });
      hits.set(id, list);
      req.resume();
      req.on('end', () => { res.writeHead(status).end(); });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
      const ids = [await submit(a.url, { ...tiny, callbackUrl: url }), await submit(a.url, { ...tiny, callbackUrl: url })];
      await until(() => ids.every((id) => (hits.get(id)?.length ?? 0) >= 2), 30_000, 'failing deliveries');
      // Every worker dies mid-retry; the callbacks' leases run out and another node takes over.
      await Promise.all(c.workers.map((w) => c.kill(w)));
      accept = true;
      await until(() => ids.every((id) => hits.get(id)!.some((h) => h.status === 200)), 30_000, 'a successful delivery');
      await sleep(2500);
      for (const id of ids) {
        const h = hits.get(id)!;
        assert.equal(h.filter((x) => x.status === 200).length, 1, `${id}: ${JSON.stringify(h)}`);
        assert.equal(h.at(-1)!.status, 200, 'nothing is sent after the successful delivery');
        // Counted on across nodes: the next node starts from the last recorded attempt (one that
        // was in flight when its node died is made again under the same number).
        const attempts = h.map((x) => x.attempt);
        assert.deepEqual(attempts, [...attempts].sort((x, y) => x - y), `${id}: attempts ${attempts}`);
        assert.ok(attempts.at(-1)! >= 2, `${id}: attempts ${attempts}`);
      }
      const { rows } = await db.query<{ s: string }>('SELECT callback_state AS s FROM submissions WHERE id = ANY($1)', [ids]);
      assert.deepEqual(rows.map((r) => r.s), ['delivered', 'delivered']);
    } finally {
      server.close();
      await Promise.all(c.workers.filter((w) => !w.child).map((w) => c.launch(w)));
    }
  });

  it('restarts of Redis and of PostgreSQL mid-burst: nothing accepted is lost; 503 during the outage, never 500 or a hang', async () => {
    const [a, b] = c.apis;
    const statuses = new Map<number, number>();
    const accepted: string[] = [];
    let slowest = 0;
    let stop = false;
    const client = async (k: number) => {
      for (let i = 0; !stop; i++) {
        const t0 = Date.now();
        const r = await request((i + k) % 2 ? a.url : b.url, 'POST', '/v1/submissions', tiny).catch((err: Error) => ({ status: -1, text: err.message, body: undefined }));
        slowest = Math.max(slowest, Date.now() - t0);
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        if (r.status === 202) accepted.push((r.body as { id: string }).id);
        else if (r.status !== 429) await sleep(50);
        if (r.status !== 202 && r.status !== 429 && r.status !== 503) assert.fail(`unexpected ${r.status}: ${r.text}`);
      }
    };
    const clients = [0, 1, 2, 3].map(client);
    await sleep(500);
    await c.redis.halt('SIGKILL');
    await sleep(500);
    const noRedis = await request(a.url, 'GET', '/readyz');
    await sleep(1000);
    await c.redis.launch();
    await sleep(1500);
    await c.pg.halt('immediate');
    await sleep(500);
    const noPg = await request(b.url, 'GET', '/readyz');
    await sleep(1000);
    await c.pg.launch();
    await sleep(1500);
    stop = true;
    await Promise.all(clients);
    assert.ok((statuses.get(503) ?? 0) > 0, `the outages were seen: ${JSON.stringify([...statuses])}`);
    assert.equal(noRedis.status, 503);
    assert.match(noRedis.body.message, /redis/);
    assert.equal(noPg.status, 503);
    assert.match(noPg.body.message, /database/);
    assert.ok(slowest < 12_000, `a request took ${slowest} ms`);
    assert.ok(accepted.length > 0);
    const done = await finished(a.url, accepted, 180_000);
    for (const v of done.values()) assert.equal(v.verdict, 'AC', JSON.stringify(v));
    const verdicts = await verdictEvents(accepted);
    for (const id of accepted) assert.equal(verdicts.get(id), 1, `${id}: verdict events`);
  });

  it(`a burst of 2,000 submissions over both API nodes: each finished or 429 (GAVEL_QUEUE_MAX=${QUEUE_MAX})`, async () => {
    const [a, b] = c.apis;
    const accepted: string[] = [];
    const statuses = new Map<number, number>();
    let next = 0;
    const client = async () => {
      for (let i = next++; i < 2000; i = next++) {
        const r = await request(i % 2 ? a.url : b.url, 'POST', '/v1/submissions', tiny);
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        if (r.status === 202) accepted.push(r.body.id);
        else assert.equal(r.status, 429, r.text);
        if (r.status === 429) assert.ok(Number(r.headers.get('retry-after')) >= 1);
      }
    };
    await Promise.all(Array.from({ length: 32 }, client));
    assert.equal(accepted.length + (statuses.get(429) ?? 0), 2000);
    assert.ok(accepted.length >= QUEUE_MAX, `accepted ${accepted.length}`);
    const done = await finished(a.url, accepted, 300_000);
    assert.equal(done.size, accepted.length);
    const verdicts = await verdictEvents(accepted);
    assert.ok([...verdicts.values()].every((n) => n === 1));
  });
});
