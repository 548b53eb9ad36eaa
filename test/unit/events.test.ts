// Event ordering: the in-process bus (replay from the store, then live, each seq once, ending
// after the verdict) and the recorder (one write in flight per submission, events published in
// seq order once stored, storage faults retried, other failures never published).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import pino from 'pino';
import { EventHub } from '../../src/events/hub.js';
import type { EventBus, Subscriber } from '../../src/events/types.js';
import { Metrics } from '../../src/metrics.js';
import { MAX_PENDING, SubmissionRecorder } from '../../src/queue/recorder.js';
import { until } from '../helpers/server.js';
import { StorageError, type Store, type StoredEvent, type SubmissionRecord } from '../../src/store/index.js';
import type { WebhookSender } from '../../src/webhook.js';

const ev = (seq: number, type = 'test'): StoredEvent => ({ seq, type, data: { seq }, at: 0 });

class Collector implements Subscriber {
  got: StoredEvent[] = [];
  ended = false;
  send(e: StoredEvent) { this.got.push(e); }
  end() { this.ended = true; }
  get seqs() { return this.got.map((e) => e.seq); }
}

describe('event hub', () => {
  test('replays the stored history after Last-Event-ID, then live events, each once', async () => {
    const stored = [ev(1, 'status'), ev(2), ev(3)];
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    const hub = new EventHub(async (_id, after) => { await gate; return stored.filter((e) => e.seq > after); });
    const c = new Collector();
    const attached = hub.subscribe('s', 1, c);
    // Published while the history is being read: one that the history also has, one newer.
    await hub.publish('s', ev(3));
    await hub.publish('s', ev(4));
    assert.deepEqual(c.seqs, [], 'nothing before the history');
    release();
    await attached;
    assert.deepEqual(c.seqs, [2, 3, 4]);
    await hub.publish('s', ev(5, 'verdict'));
    assert.deepEqual(c.seqs, [2, 3, 4, 5]);
    assert.equal(c.ended, true, 'the stream ends after the verdict');
    assert.equal(hub.watched('s'), false);
    await hub.publish('s', ev(6));
    assert.deepEqual(c.seqs, [2, 3, 4, 5], 'nothing after the end');
  });

  test('a finished submission: the history with its verdict, then the end', async () => {
    const hub = new EventHub(async () => [ev(1, 'status'), ev(2, 'verdict')]);
    const c = new Collector();
    await hub.subscribe('s', 0, c);
    assert.deepEqual(c.seqs, [1, 2]);
    assert.equal(c.ended, true);
    assert.equal(hub.streams, 0);
  });

  test('transient events carry the last durable seq and go only to current subscribers', async () => {
    const hub = new EventHub(async () => [ev(1, 'status'), ev(2)]);
    hub.transient('s', 'telemetry', {});
    const c = new Collector();
    const unsubscribe = await hub.subscribe('s', 0, c);
    hub.transient('s', 'telemetry', { x: 1 });
    assert.deepEqual(c.got.at(-1), { seq: 2, type: 'telemetry', data: { x: 1 }, at: c.got.at(-1)!.at });
    unsubscribe();
    hub.transient('s', 'telemetry', { x: 2 });
    assert.equal(c.got.length, 3);
    assert.equal(hub.watched('s'), false);
  });

  test('close ends every stream', async () => {
    const hub = new EventHub(async () => []);
    const a = new Collector();
    const b = new Collector();
    await hub.subscribe('x', 0, a);
    await hub.subscribe('y', 0, b);
    await hub.close();
    assert.ok(a.ended && b.ended);
    assert.equal(hub.streams, 0);
  });
});

describe('recorder', () => {
  /** A store whose writes complete when the test says so. */
  function slowStore() {
    const writes: Array<{ seqs: number[]; ok: () => void; fail: (e: Error) => void }> = [];
    const write = (evs: StoredEvent[]) => new Promise<void>((ok, fail) => writes.push({ seqs: evs.map((e) => e.seq), ok, fail }));
    const store = {
      appendEvents: (_id: string, evs: StoredEvent[]) => write(evs),
      setStatus: (_id: string, _s: string, e: StoredEvent) => write([e]),
      finish: async () => true,
    } as unknown as Store;
    return { store, writes };
  }
  function recorder(store: Store, published: number[]) {
    const bus = { publish: async (_id: string, e: StoredEvent) => { published.push(e.seq); }, transient() {}, watched: () => false } as unknown as EventBus;
    const rec: SubmissionRecord = { id: 's', language: 'fake', status: 'queued', createdAt: 0, lastSeq: 1, callbackAttempts: 0 };
    const webhooks = { deliver: () => undefined } as unknown as WebhookSender;
    return new SubmissionRecorder({ store, bus, metrics: new Metrics(), webhooks, logger: pino({ level: 'silent' }), telemetryHz: 1000 }, rec);
  }
  const tick = () => new Promise((res) => setImmediate(res));

  test('one write in flight per submission, in seq order; plain events batched; published once stored', async () => {
    const { store, writes } = slowStore();
    const published: number[] = [];
    const r = recorder(store, published);
    const results = [r.setStatus('compiling'), r.record('compile', {}), r.record('test-start', {}), r.record('test', {})];
    await tick();
    assert.deepEqual(writes.map((w) => w.seqs), [[2]], 'seqs continue after the stored ones; only the first is in flight');
    writes[0].ok();
    await tick();
    assert.deepEqual(published, [2]);
    assert.deepEqual(writes.map((w) => w.seqs), [[2], [3, 4, 5]], 'the waiting events go as one write');
    writes[1].fail(new Error('a bug, not the disk'));
    assert.deepEqual(await Promise.all(results), [true, false, false, false], 'a write failing for another reason is dropped');
    await r.flushed();
    assert.deepEqual(published, [2]);
  });

  test('a write the storage refuses is retried until stored; past the bound the recorder reports a stall', async () => {
    const { store, writes } = slowStore();
    const published: number[] = [];
    const r = recorder(store, published);
    let stalls = 0;
    r.onStall = () => { stalls++; };
    const first = r.record('compile', {});
    await tick();
    for (let i = 0; i < MAX_PENDING; i++) void r.record('test', {});
    assert.equal(stalls, 0, 'many waiting on a working store is no stall');
    writes[0].fail(new StorageError('full', 'full'));
    await until(() => writes.length === 2, 2000, 'the retry');
    assert.deepEqual(writes[1].seqs, [2], 'the same event again, first');
    void r.record('test', {});
    assert.equal(stalls, 1, 'past the bound while the store refuses: a stall');
    writes[1].fail(new StorageError('full', 'full'));
    await until(() => writes.length === 3, 2000, 'the next retry');
    writes[2].ok();
    assert.equal(await first, true);
    await until(() => writes.length === 4, 2000, 'the batch after it');
    writes[3].ok();
    await until(() => writes.length === 5, 2000, 'the rest');
    writes[4].ok();
    await r.flushed();
    assert.deepEqual(published, Array.from({ length: MAX_PENDING + 2 }, (_, i) => i + 2), 'everything, once, in order');
  });

  test('abandon drops what is not stored and stops retrying', async () => {
    const { store, writes } = slowStore();
    const published: number[] = [];
    const r = recorder(store, published);
    const a = r.record('compile', {});
    const b = r.record('test', {});
    await tick();
    writes[0].fail(new StorageError('ro', 'unavailable'));
    r.abandon();
    assert.deepEqual(await Promise.all([a, b]), [false, false]);
    assert.equal(await r.record('test', {}), false, 'nothing is recorded after abandon');
    await r.flushed();
    assert.deepEqual(published, []);
  });
});
