// The cluster's PostgreSQL store and Redis Streams transport against real servers started for
// this file (temp dirs, free ports): migrations under concurrency, attempt fencing (exactly one
// outcome and one verdict event however many attempts), outage errors, and stream readers that
// see every event once even when publishes are lost.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { PostgresStore } from '../src/store/postgres.js';
import { StoreUnavailableError } from '../src/store/unavailable.js';
import { StreamPublisher, StreamReader, type EventSink } from '../src/events/redis.js';
import { connectRedis } from '../src/cluster/redis.js';
import { StorageError, type StoredEvent } from '../src/store/index.js';
import type { Outcome } from '../src/store/index.js';
import { TestPostgres } from './helpers/pg.js';
import { TestRedis } from './helpers/redis.js';

const ignore = () => undefined;
const outcome: Outcome = { verdict: 'AC', timeMs: 1, memoryBytes: 1, tests: [] };
const ev = (seq: number, type = 'test', data: unknown = { seq }): StoredEvent => ({ seq, type, data, at: Date.now() });

async function newSubmission(store: PostgresStore): Promise<string> {
  const id = randomUUID();
  await store.insert({ id, language: 'c', request: { language: 'c', source: 'x', tests: [] }, createdAt: Date.now() }, ev(1, 'status', { status: 'queued' }));
  return id;
}

class Collect implements EventSink {
  events: StoredEvent[] = [];
  ended = false;
  private waiters: Array<() => void> = [];
  send(e: StoredEvent) { this.events.push(e); this.waiters.splice(0).forEach((f) => f()); }
  end() { this.ended = true; this.waiters.splice(0).forEach((f) => f()); }
  async untilEnded(ms = 10_000) {
    const end = Date.now() + ms;
    while (!this.ended) {
      if (Date.now() > end) throw new Error(`stream did not end; got ${this.events.map((e) => `${e.seq}:${e.type}`).join(' ')}`);
      await new Promise<void>((r) => { this.waiters.push(r); setTimeout(r, 100); });
    }
  }
}

describe('cluster store and streams (real PostgreSQL and Redis)', () => {
  let pg: TestPostgres;
  let redis: TestRedis;
  let store: PostgresStore;
  /** What a stream reader falls back to: the store's event history (read when called). */
  const history = { events: (id: string, a: number) => store.events(id, a), finished: async (id: string) => (await store.get(id))?.status === 'finished' };
  let cmd: Redis;
  let blocking: Redis;
  const prefix = `gavel-test-${process.pid}:`;

  before(async () => {
    [pg, redis] = await Promise.all([TestPostgres.start(), TestRedis.start()]);
    // Two nodes starting at once: the advisory lock lets one migrate and the other wait.
    const both = await Promise.all([PostgresStore.open({ url: pg.url }), PostgresStore.open({ url: pg.url })]);
    store = both[0];
    await both[1].close();
    cmd = await connectRedis(redis.url, 'command', ignore);
    blocking = await connectRedis(redis.url, 'blocking', ignore);
  });

  after(async () => {
    cmd?.disconnect();
    blocking?.disconnect();
    await store?.close().catch(ignore);
    await Promise.all([pg?.stop(), redis?.stop()]);
  });

  it('migrates once when two nodes start together', async () => {
    const { rows } = await store.query<{ version: number }>('SELECT version FROM gavel_schema ORDER BY version');
    assert.deepEqual(rows.map((r) => r.version), [1, 2, 3]);
  });

  it('fences writes by attempt: one outcome and one verdict event however many attempts', async () => {
    const id = await newSubmission(store);
    const first = await store.claim(id);
    assert.equal(first?.attempt, 1);
    assert.equal(first?.previousStatus, 'queued');
    assert.equal(await store.change(id, 1, { status: 'compiling', startedAt: Date.now(), events: [ev(2, 'status')] }), true);
    // The first worker "dies"; a second claims it and starts over after the stored events.
    const second = await store.claim(id);
    assert.equal(second?.attempt, 2);
    assert.equal(second?.lastSeq, 2);
    assert.equal(second?.previousStatus, 'compiling');
    assert.equal(await store.change(id, 1, { events: [ev(3)] }), false, 'stale attempt must not write');
    assert.equal(await store.change(id, 2, { events: [ev(3)] }), true);
    assert.equal(await store.finishAttempt(id, 1, outcome, Date.now(), ev(4, 'verdict')), false);
    assert.equal(await store.finishAttempt(id, 2, outcome, Date.now(), ev(4, 'verdict')), true);
    assert.equal(await store.finishAttempt(id, 2, outcome, Date.now(), ev(5, 'verdict')), false, 'a second finish is refused');
    assert.equal(await store.claim(id), undefined, 'a finished submission cannot be claimed');
    const events = await store.events(id, 0);
    assert.deepEqual(events.map((e) => e.seq), [1, 2, 3, 4]);
    assert.equal(events.filter((e) => e.type === 'verdict').length, 1);
    assert.equal((await store.get(id))?.status, 'finished');
  });

  it('finishes a queued submission without a worker, and not one a worker has', async () => {
    const id = await newSubmission(store);
    const done = await store.finishQueued(id, { ...outcome, verdict: 'IE', cancelled: true }, Date.now(), 'verdict', { cancelled: true });
    assert.equal(done?.seq, 2);
    assert.equal((await store.get(id))?.result?.cancelled, true);
    const other = await newSubmission(store);
    await store.claim(other);
    await store.change(other, 1, { status: 'compiling', events: [ev(2, 'status')] });
    assert.equal(await store.finishQueued(other, outcome, Date.now(), 'verdict', {}), undefined);
    assert.equal(await store.requestCancel(other), true);
    assert.equal((await store.claim(other))?.cancelRequested, true);
  });

  it('a read-only database is a StorageError (unavailable) for writes', async () => {
    // A store of one connection whose session is read-only, as on a standby after a failover.
    const ro = await PostgresStore.open({ url: pg.url, max: 1 });
    try {
      await ro.query('SET SESSION default_transaction_read_only = on');
      const err = await newSubmission(ro).then(() => undefined, (e: unknown) => e);
      assert.ok(err instanceof StorageError, `got ${String(err)}`);
      assert.equal(err.kind, 'unavailable');
      assert.match(err.message, /25006/);
    } finally {
      await ro.close();
    }
  });

  it('answers StoreUnavailableError quickly while PostgreSQL is down, and works again after', async () => {
    const id = await newSubmission(store);
    await pg.halt('immediate');
    const t0 = Date.now();
    await assert.rejects(store.get(id), StoreUnavailableError);
    assert.ok(Date.now() - t0 < 8000, `took ${Date.now() - t0} ms`);
    await pg.launch();
    let rec;
    for (let i = 0; i < 50 && !rec; i++) {
      rec = await store.get(id).catch(() => undefined);
      if (!rec) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(rec?.id, id, 'the accepted submission survived the crash');
  });

  it('streams every event once, in order, to readers that join late and across lost publishes', async () => {
    const reader = new StreamReader(blocking, cmd, history, { prefix, blockMs: 1000, pollMs: 1000 }, ignore);
    const publisher = new StreamPublisher(cmd, { prefix }, ignore);
    const id = await newSubmission(store);
    const claim = (await store.claim(id))!;
    let seq = claim.lastSeq;
    const emit = async (type: string, publish = true) => {
      const e = ev(++seq, type);
      assert.ok(await store.change(id, claim.attempt, { events: [e] }));
      if (publish) await publisher.publish(id, e, true);
    };
    await publisher.publish(id, ev(1, 'status'), true);
    const early = new Collect();
    reader.subscribe(id, 0, early);
    await emit('status');
    await emit('compile');
    const late = new Collect();
    reader.subscribe(id, 2, late);
    await publisher.publish(id, { ...ev(seq, 'telemetry'), seq }, false);
    await emit('test', false); // lost: the readers must take it from the store
    await emit('test');
    const finalEv = ev(++seq, 'verdict');
    assert.ok(await store.finishAttempt(id, claim.attempt, outcome, Date.now(), finalEv));
    await publisher.publish(id, finalEv, true);
    await early.untilEnded();
    await late.untilEnded();
    const durable = (c: Collect) => c.events.filter((e) => e.type !== 'telemetry').map((e) => e.seq);
    assert.deepEqual(durable(early), [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(durable(late), [3, 4, 5, 6]);
    // A reader of a finished submission gets the rest from the store and ends.
    const after = new Collect();
    reader.subscribe(id, 4, after);
    await after.untilEnded();
    assert.deepEqual(durable(after), [5, 6]);
    assert.ok(await cmd.ttl(`${prefix}ev:${id}`) > 0, 'the finished stream expires');
    await reader.close();
  });

  it('keeps readers going through a Redis restart (AOF, appendfsync always)', async () => {
    const reader = new StreamReader(blocking, cmd, history, { prefix, blockMs: 500, pollMs: 500 }, ignore);
    const publisher = new StreamPublisher(cmd, { prefix }, ignore);
    const id = await newSubmission(store);
    const claim = (await store.claim(id))!;
    const sink = new Collect();
    reader.subscribe(id, 0, sink);
    const e2 = ev(2, 'status');
    await store.change(id, claim.attempt, { events: [e2] });
    await publisher.publish(id, e2, true);
    await redis.halt('SIGKILL');
    const e3 = ev(3, 'test');
    await store.change(id, claim.attempt, { events: [e3] });
    await publisher.publish(id, e3, true); // fails: Redis is down
    await redis.launch();
    const e4 = ev(4, 'verdict');
    await store.finishAttempt(id, claim.attempt, outcome, Date.now(), e4);
    for (let i = 0; i < 50 && cmd.status !== 'ready'; i++) await new Promise((r) => setTimeout(r, 100));
    await publisher.publish(id, e4, true);
    await sink.untilEnded(15_000);
    assert.deepEqual(sink.events.map((e) => e.seq), [1, 2, 3, 4]);
    await reader.close();
  });
});
