// Event ordering: the in-process bus (replay from the store, then live, each seq once, ending
// after the verdict) and the recorder (events published in seq order once stored, whatever
// order their writes complete in; failed writes never published).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import pino from 'pino';
import { EventHub } from '../../src/events/hub.js';
import type { EventBus, Subscriber } from '../../src/events/types.js';
import { Metrics } from '../../src/metrics.js';
import { SubmissionRecorder } from '../../src/queue/recorder.js';
import type { Store, StoredEvent, SubmissionRecord } from '../../src/store/index.js';
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
  /** A store whose writes complete when the test says so, in any order. */
  function slowStore() {
    const writes: Array<{ ev: StoredEvent; ok: () => void; fail: (e: Error) => void }> = [];
    const store = {
      appendEvents: (_id: string, evs: StoredEvent[]) => new Promise<void>((ok, fail) => writes.push({ ev: evs[0], ok, fail })),
      setStatus: (_id: string, _s: string, e: StoredEvent) => new Promise<void>((ok, fail) => writes.push({ ev: e, ok, fail })),
      finish: async () => true,
    } as unknown as Store;
    return { store, writes };
  }
  function recorder(store: Store, bus: EventBus) {
    const rec: SubmissionRecord = { id: 's', language: 'fake', status: 'queued', createdAt: 0, lastSeq: 1, callbackAttempts: 0 };
    const webhooks = { deliver: () => undefined } as unknown as WebhookSender;
    return new SubmissionRecorder({ store, bus, metrics: new Metrics(), webhooks, logger: pino({ level: 'silent' }), telemetryHz: 1000 }, rec);
  }

  test('publishes in seq order once stored; a failed write is never published', async () => {
    const { store, writes } = slowStore();
    const published: number[] = [];
    const bus = { publish: async (_id: string, e: StoredEvent) => { published.push(e.seq); }, transient() {}, watched: () => false } as unknown as EventBus;
    const r = recorder(store, bus);
    const results = [r.setStatus('compiling'), r.record('compile', {}), r.record('test-start', {}), r.record('test', {})];
    assert.deepEqual(writes.map((w) => w.ev.seq), [2, 3, 4, 5], 'seqs continue after the stored ones');
    writes[3].ok();
    writes[1].ok();
    await new Promise((res) => setImmediate(res));
    assert.deepEqual(published, [], 'nothing before seq 2 is settled');
    writes[0].ok();
    await new Promise((res) => setImmediate(res));
    assert.deepEqual(published, [2, 3]);
    writes[2].fail(new Error('disk'));
    assert.deepEqual(await Promise.all(results), [true, true, false, true]);
    await r.flushed();
    assert.deepEqual(published, [2, 3, 5]);
  });
});
