// Scheduling without HTTP or a sandbox: the in-process queue, the node's slots and the worker,
// wired by createServices over an in-memory SQLite store, judging with FakeJudge.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import pino from 'pino';
import { configWith, type Config } from '../../src/config.js';
import { createServices, localBackends, type BackendFactory, type Services } from '../../src/services.js';
import { StorageError, type Store } from '../../src/store/index.js';
import { MAX_PENDING } from '../../src/queue/recorder.js';
import { retryAfterSeconds, Slots } from '../../src/queue/slots.js';
import { QueueFullError, ShuttingDownError } from '../../src/queue/types.js';
import { FakeJudge, fakeSubmission, until } from '../helpers/server.js';

async function services(judge: FakeJudge, over: Partial<Config> = {}, backends?: BackendFactory): Promise<Services> {
  const config = configWith({ dataDir: ':memory:', logLevel: 'silent', shutdownMs: 2000, ...over });
  const svc = await createServices(config, judge, pino({ level: 'silent' }), backends);
  await svc.start();
  return svc;
}

async function finished(svc: Services, id: string) {
  await until(async () => (await svc.store.get(id))?.status === 'finished', 10_000, `${id} to finish`);
  return (await svc.store.get(id))!;
}

describe('queue scheduling', () => {
  test('FIFO, never more at once than the pool has slots, each judged once', async () => {
    const judge = new FakeJudge(2);
    const order: string[] = [];
    const judgeFn = judge.judge.bind(judge);
    judge.judge = (sub, onEvent, signal) => { order.push(sub.tests![0].id!); return judgeFn(sub, onEvent, signal); };
    const svc = await services(judge);
    try {
      const ids: string[] = [];
      for (let i = 0; i < 8; i++) {
        const sub = fakeSubmission('sleep:20', 1);
        sub.tests![0].id = `s${i}`;
        ids.push((await svc.submissions.accept(sub)).id);
      }
      for (const id of ids) assert.equal((await finished(svc, id)).result?.verdict, 'AC');
      assert.deepEqual(order, ids.map((_, i) => `s${i}`), 'started in the order accepted');
      assert.equal(judge.maxBusy, 2);
      assert.equal(judge.judged, 8);
      assert.equal(await svc.queue.size(), 0);
    } finally {
      await svc.close(false);
    }
  });

  test('the bound counts waiting and running work; 429 carries the drain estimate', async () => {
    const svc = await services(new FakeJudge(1), { queueMax: 3 });
    try {
      const ids = [];
      for (let i = 0; i < 3; i++) ids.push((await svc.submissions.accept(fakeSubmission('sleep:200', 1))).id);
      const positions = await Promise.all(ids.map((id) => svc.queue.position(id)));
      assert.deepEqual(positions, [undefined, 1, 2], 'the first runs, the others wait in order');
      await assert.rejects(svc.submissions.accept(fakeSubmission('echo', 1)), (e: unknown) =>
        e instanceof QueueFullError && e.what === 'submissions' && e.retryAfterSec >= 1);
      await finished(svc, ids[2]);
      assert.ok((await svc.submissions.accept(fakeSubmission('echo', 1))).id);
    } finally {
      await svc.close(false);
    }
  });

  test('cancel: a waiting job ends at once without being judged; a running one is aborted', async () => {
    const judge = new FakeJudge(1);
    const svc = await services(judge);
    try {
      const running = await svc.submissions.accept(fakeSubmission('sleep:5000', 2));
      const waiting = await svc.submissions.accept(fakeSubmission('echo', 1));
      await until(() => judge.busy === 1, 5000, 'judging to start');
      const q = await svc.submissions.cancel(waiting.id, 2000);
      assert.equal(q.state, 'cancelled');
      assert.ok(q.state === 'cancelled' && q.was === 'queued' && q.finished);
      const r = await svc.submissions.cancel(running.id, 2000);
      assert.ok(r.state === 'cancelled' && r.was === 'running' && r.finished, JSON.stringify(r));
      for (const id of [waiting.id, running.id]) {
        const rec = await svc.store.get(id);
        assert.equal(rec?.result?.cancelled, true);
        assert.equal(rec?.result?.error, 'cancelled');
        const verdicts = (await svc.store.events(id, 0)).filter((e) => e.type === 'verdict');
        assert.equal(verdicts.length, 1, 'exactly one final event');
      }
      assert.equal(judge.judged, 0);
      assert.deepEqual(await svc.submissions.cancel(waiting.id, 10), { state: 'finished' });
    } finally {
      await svc.close(false);
    }
  });

  test('shutdown: waiting work stays queued, running work past the deadline is interrupted and left unfinished', async () => {
    const judge = new FakeJudge(1);
    const svc = await services(judge, { shutdownMs: 100 });
    const a = await svc.submissions.accept(fakeSubmission('sleep:3000', 1));
    const b = await svc.submissions.accept(fakeSubmission('echo', 1));
    await until(() => judge.busy === 1, 5000, 'judging to start');
    await svc.drain();
    await assert.rejects(svc.submissions.accept(fakeSubmission('echo', 1)), ShuttingDownError);
    assert.match((await svc.store.get(a.id))?.status ?? '', /^(compiling|running)$/, 'the interrupted one stays unfinished');
    assert.equal((await svc.store.get(b.id))?.status, 'queued');
    assert.equal((await svc.store.events(a.id, 0)).some((e) => e.type === 'verdict'), false, 'no verdict for the interrupted one');
    await svc.close(false);
  });
});

describe('a store that refuses writes', () => {
  /** The single-node backends, with a switch that makes every write fail as on a full disk. */
  function refusingBackends(state: { full: boolean }): BackendFactory {
    return async (ctx) => {
      const b = await localBackends(ctx);
      const real = b.store;
      const refuse = <A extends unknown[], R>(fn: (...a: A) => Promise<R>) => (...a: A) =>
        state.full ? Promise.reject(new StorageError('the disk is full (test)', 'full')) : fn(...a);
      const store: Store = Object.assign(Object.create(real) as Store, {
        insert: refuse(real.insert.bind(real)),
        setStatus: refuse(real.setStatus.bind(real)),
        appendEvents: refuse(real.appendEvents.bind(real)),
        finish: refuse(real.finish.bind(real)),
        check: refuse(real.check.bind(real)),
      });
      return { ...b, store };
    };
  }

  test('judging stops past the bound, and the submission is judged again once writes work', async () => {
    const state = { full: false };
    const judge = new FakeJudge(1);
    const svc = await services(judge, {}, refusingBackends(state));
    try {
      // Each test awaits a timer, as real runs do, so the refused writes are seen while judging.
      const tests = MAX_PENDING;
      const { id } = await svc.submissions.accept(fakeSubmission('sleep:1', tests));
      state.full = true;
      await assert.rejects(svc.submissions.accept(fakeSubmission('echo', 1)), StorageError);
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(judge.judged, 0, 'the first attempt was stopped, not finished');
      assert.notEqual((await svc.store.get(id))?.status, 'finished');
      state.full = false;
      const rec = await finished(svc, id);
      assert.equal(rec.result?.verdict, 'AC');
      assert.equal(rec.result?.tests.length, tests);
      const events = await svc.store.events(id, 0);
      assert.equal(events.filter((e) => e.type === 'verdict').length, 1);
      assert.deepEqual(events.map((e) => e.seq), events.map((_, i) => i + 1), 'stored events have no gaps');
      assert.ok(events.some((e) => e.type === 'status' && (e.data as { requeued?: boolean }).requeued), 'clients learn it starts over');
    } finally {
      await svc.close(false);
    }
  });
});

describe('slots', () => {
  test('a waiting run goes before judging; past the run bound it is refused', async () => {
    const slots = new Slots(() => 1, 1);
    const first = slots.tryAcquire()!;
    assert.ok(first);
    assert.equal(slots.tryAcquire(), undefined, 'full');
    const run = slots.acquireRun(new AbortController().signal);
    await assert.rejects(slots.acquireRun(new AbortController().signal), (e: unknown) => e instanceof QueueFullError && e.retryAfterSec >= 1);
    let freed = 0;
    slots.onFree(() => { freed++; });
    first();
    const release = await run;
    assert.equal(slots.tryAcquire(), undefined, 'the run took the slot, not the next job');
    release();
    assert.ok(freed >= 2);
    const again = slots.tryAcquire();
    assert.ok(again);
    again!();
  });

  test('an aborted waiting run leaves the line; refuseAll fails the rest', async () => {
    const slots = new Slots(() => 1, 5);
    const hold = slots.tryAcquire()!;
    const ac = new AbortController();
    const gone = slots.acquireRun(ac.signal);
    ac.abort(new Error('client left'));
    await assert.rejects(gone, /client left/);
    assert.equal(slots.waitingRuns, 0);
    const waiting = slots.acquireRun(new AbortController().signal);
    slots.refuseAll(() => new ShuttingDownError());
    await assert.rejects(waiting, ShuttingDownError);
    hold();
    assert.equal(await slots.idle(10), true);
  });

  test('Retry-After is the queue ahead drained at the recent pace', () => {
    assert.equal(retryAfterSeconds(0, 1000, 2), 1, 'at least one second');
    assert.equal(retryAfterSeconds(100, 1000, 2), 50);
    assert.equal(retryAfterSeconds(3, 250, 1), 1);
    assert.equal(retryAfterSeconds(1000, 2500, 4), 625);
  });
});
