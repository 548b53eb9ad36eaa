// Live events across nodes on Redis Streams, one stream per submission. The store stays the
// truth: a worker publishes a durable event only after it is committed to PostgreSQL, and an
// API node serving SSE reads the history from the store first and then tails the stream, filling
// any gap (a trimmed stream, a publish lost to a Redis outage or a worker crash) from the store.
// So a client resuming with Last-Event-ID at any API node sees every event once, in order.
//
// Stream entry ids encode the event: durable event `seq` is `<seq>-0`; transient events
// (telemetry, queue positions) after it are `<seq>-1`, `<seq>-2`, … — reading a stream "from a
// seq" is reading after `<seq>-0`, and Redis refuses an id that does not grow, which also keeps
// a stale writer from interleaving. Streams are capped (MAXLEN ~) and expire shortly after the
// verdict: by then the whole history is in PostgreSQL.
import type { Redis } from 'ioredis';
import type { StoredEvent } from '../store/index.js';
import { FINAL_EVENT, type EventBus, type Subscriber } from './types.js';

export type EventSink = Subscriber;

/** Reads a submission's stored history after a seq, and whether it has finished. */
export interface EventHistory {
  events(id: string, afterSeq: number): Promise<StoredEvent[]>;
  finished(id: string): Promise<boolean>;
}

export interface StreamOptions {
  prefix: string;
  /** Approximate cap on entries kept per stream. */
  maxLen?: number;
  /** Seconds a stream is kept after its final event. */
  ttlAfterEndSec?: number;
}

const MAX_CURSORS = 10_000;

export const streamKey = (prefix: string, id: string) => `${prefix}ev:${id}`;

type EntryId = [number, number];
const parseId = (s: string): EntryId => {
  const i = s.indexOf('-');
  return [Number(s.slice(0, i)), Number(s.slice(i + 1))];
};
const after = (a: EntryId, b: EntryId) => a[0] > b[0] || (a[0] === b[0] && a[1] > b[1]);
const idText = (e: EntryId) => `${e[0]}-${e[1]}`;

/** Worker side: publishes a submission's events in the order it is given them. */
export class StreamPublisher {
  /** Per submission: the last durable seq published and the transient counter after it. */
  private readonly cursors = new Map<string, EntryId>();
  private readonly maxLen: number;
  private readonly ttl: number;

  constructor(private readonly redis: Redis, private readonly opts: StreamOptions, private readonly onError: (err: Error) => void) {
    this.maxLen = opts.maxLen ?? 1000;
    this.ttl = opts.ttlAfterEndSec ?? 300;
  }

  /** Publishes one event; durable events must already be in the store. Never throws. */
  async publish(id: string, ev: StoredEvent, durable: boolean): Promise<void> {
    const cur = this.cursors.get(id) ?? [0, 0];
    let entry: EntryId;
    if (durable) {
      if (ev.seq <= cur[0] && cur[0] !== 0) return;
      entry = [ev.seq, 0];
    } else {
      entry = [Math.max(cur[0], ev.seq), ev.seq > cur[0] ? 1 : cur[1] + 1];
    }
    // Re-inserted so the map stays in order of use; nodes that publish only a first event (API
    // nodes accepting submissions) would otherwise keep a cursor per submission forever.
    this.cursors.delete(id);
    this.cursors.set(id, entry);
    if (this.cursors.size > MAX_CURSORS) this.cursors.delete(this.cursors.keys().next().value!);
    const key = streamKey(this.opts.prefix, id);
    try {
      const m = this.redis.multi()
        .xadd(key, 'MAXLEN', '~', this.maxLen, idText(entry), 't', ev.type, 'd', JSON.stringify(ev.data ?? null), 'a', String(ev.at));
      // Finished: the history is in the store, the stream only serves readers still attached.
      // Otherwise a day, so a stream whose final publish was lost does not stay forever.
      if (durable) m.expire(key, ev.type === FINAL_EVENT ? this.ttl : 24 * 3600);
      const res = await m.exec();
      const err = res?.find(([e]) => e)?.[0];
      if (err && !/equal or smaller/.test(err.message)) throw err;
    } catch (err) {
      // Readers fill the gap from the store; a lost transient event is only a missed update.
      this.onError(err as Error);
    }
    if (durable && ev.type === FINAL_EVENT) this.cursors.delete(id);
  }

  /**
   * Publishes stored events the stream may lack (after a crash between commit and publish).
   * Ids that are already there are refused by Redis and skipped.
   */
  async republish(id: string, events: StoredEvent[]): Promise<void> {
    this.cursors.delete(id);
    for (const ev of events) await this.publish(id, ev, true);
  }

  /** The last durable seq this node published for `id`, when it is publishing its events. */
  lastSeq(id: string): number | undefined {
    return this.cursors.get(id)?.[0];
  }

  /** Forgets a submission this node stopped judging (its stream stays for readers). */
  forget(id: string): void {
    this.cursors.delete(id);
  }
}

interface Reader {
  id: string;
  sink: EventSink;
  /** Last stream entry handed to the sink. */
  lastId: EntryId;
  /** Last durable seq handed to the sink. */
  delivered: number;
  /** Serialises store reads and deliveries for this reader. */
  chain: Promise<void>;
  lastActivity: number;
  done: boolean;
  subscribedAt: number;
}

export interface StreamReaderOptions extends StreamOptions {
  /** How long one XREAD blocks. */
  blockMs?: number;
  /** A reader with no stream activity for this long polls the store (covers a Redis outage). */
  pollMs?: number;
}

/**
 * API side: one loop per node, one blocking connection, XREAD over the streams of every
 * submission someone watches here. New readers wake the loop with CLIENT UNBLOCK.
 */
export class StreamReader {
  private readonly readers = new Set<Reader>();
  private running = false;
  private stopped = false;
  private blockingClientId?: number;
  /** A reader joined since the current XREAD's streams were chosen. */
  private dirty = false;
  private wake?: () => void;
  private readonly poller: NodeJS.Timeout;
  private loopDone?: Promise<void>;
  private readonly blockMs: number;
  private readonly pollMs: number;

  constructor(
    private readonly blocking: Redis,
    private readonly command: Redis,
    private readonly history: EventHistory,
    private readonly opts: StreamReaderOptions,
    private readonly onError: (err: Error) => void,
  ) {
    this.blockMs = opts.blockMs ?? 5000;
    this.pollMs = opts.pollMs ?? 5000;
    this.blocking.on('ready', () => { this.blockingClientId = undefined; });
    this.poller = setInterval(() => this.pollIdle(), Math.max(250, this.pollMs / 2));
    this.poller.unref();
  }

  get watching(): number {
    return this.readers.size;
  }

  /**
   * Sends the events after `afterSeq` from the store, then live ones from the stream, until the
   * final event. Returns an unsubscribe function.
   */
  subscribe(id: string, afterSeq: number, sink: EventSink): () => void {
    const r: Reader = {
      id, sink, lastId: [afterSeq, Number.MAX_SAFE_INTEGER], delivered: afterSeq, chain: Promise.resolve(),
      lastActivity: Date.now(), done: false, subscribedAt: Date.now(),
    };
    // Replay from the store first; entries published meanwhile are read from the stream after it.
    r.chain = this.fill(r, Infinity).then(() => {
      if (r.done) return;
      this.readers.add(r);
      this.kick();
    });
    return () => this.drop(r, false);
  }

  private drop(r: Reader, end: boolean): void {
    if (r.done) return;
    r.done = true;
    this.readers.delete(r);
    if (end) r.sink.end();
  }

  /** Delivers stored events after `r.delivered` and below `below`; ends the reader after the final one. */
  private async fill(r: Reader, below: number): Promise<void> {
    if (r.done) return;
    let events: StoredEvent[];
    try {
      events = await this.history.events(r.id, r.delivered);
    } catch (err) {
      this.onError(err as Error);
      return;
    }
    for (const ev of events) {
      if (ev.seq >= below || r.done) break;
      this.deliver(r, ev, [ev.seq, 0]);
    }
    if (!r.done && below === Infinity && events.length === 0) {
      // Nothing new in the store: if it has finished, the client has everything.
      const finished = await this.history.finished(r.id).catch(() => false);
      if (finished) {
        const more = await this.history.events(r.id, r.delivered).catch(() => []);
        for (const ev of more) this.deliver(r, ev, [ev.seq, 0]);
        this.drop(r, true);
      }
    }
  }

  /** Hands a durable event to the sink unless it already has it; the final one ends the reader. */
  private deliver(r: Reader, ev: StoredEvent, entry: EntryId): void {
    if (r.done || ev.seq <= r.delivered) return;
    r.delivered = ev.seq;
    r.lastActivity = Date.now();
    if (after(entry, r.lastId)) r.lastId = entry;
    r.sink.send(ev);
    if (ev.type === FINAL_EVENT) this.drop(r, true);
  }

  private onEntry(r: Reader, entryText: string, fields: string[]): void {
    const entry = parseId(entryText);
    if (!after(entry, r.lastId)) return;
    const f: Record<string, string> = {};
    for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]] = fields[i + 1];
    const ev: StoredEvent = { seq: entry[0], type: f.t, data: JSON.parse(f.d ?? 'null') as unknown, at: Number(f.a) };
    const durable = entry[1] === 0;
    r.chain = r.chain.then(async () => {
      if (r.done || !after(entry, r.lastId)) return;
      // An event beyond the next durable one means the stream lacks some: take them from the store.
      if (ev.seq > r.delivered + (durable ? 1 : 0)) await this.fill(r, durable ? ev.seq : ev.seq + 1);
      if (durable) return this.deliver(r, ev, entry);
      if (r.done || !after(entry, r.lastId)) return;
      r.lastId = entry;
      // Old transient entries (telemetry of a phase long gone, stale queue positions) are skipped.
      if (ev.seq !== r.delivered || ev.at < r.subscribedAt - 1000) return;
      r.lastActivity = Date.now();
      r.sink.send(ev);
    });
  }

  /** Readers that heard nothing for a while check the store (a lost publish, a Redis outage). */
  private pollIdle(): void {
    const now = Date.now();
    for (const r of this.readers) {
      if (now - r.lastActivity < this.pollMs) continue;
      r.lastActivity = now;
      r.chain = r.chain.then(() => this.fill(r, Infinity));
    }
  }

  private kick(): void {
    if (this.stopped) return;
    if (!this.running) {
      this.running = true;
      this.loopDone = this.loop().finally(() => { this.running = false; });
      return;
    }
    this.dirty = true;
    this.wake?.();
    void this.interrupt();
  }

  /**
   * Interrupts the blocked XREAD so a new stream joins at once. The XREAD goes out on another
   * connection, so an UNBLOCK may arrive before it blocks (and do nothing): repeat until one
   * lands or the loop has taken the new reader in on its own.
   */
  private async interrupt(): Promise<void> {
    for (let i = 0; i < 100 && this.dirty && !this.stopped; i++) {
      if (this.blockingClientId !== undefined) {
        const n = await this.command.client('UNBLOCK', this.blockingClientId).catch(() => 0);
        if (Number(n) === 1) return;
      }
      await new Promise((res) => setTimeout(res, 5));
    }
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      if (this.readers.size === 0) {
        await new Promise<void>((resolve) => { this.wake = resolve; setTimeout(resolve, this.blockMs); });
        this.wake = undefined;
        if (this.readers.size === 0) { if (this.stopped) return; continue; }
      }
      // Per stream, read after the earliest entry any of its readers still needs.
      this.dirty = false;
      const cursors = new Map<string, EntryId>();
      for (const r of this.readers) {
        const c = cursors.get(r.id);
        if (!c || after(c, r.lastId)) cursors.set(r.id, r.lastId);
      }
      const ids = [...cursors.keys()];
      const keys = ids.map((id) => streamKey(this.opts.prefix, id));
      const startIds = ids.map((id) => idText(cursors.get(id)!));
      try {
        if (this.blockingClientId === undefined) this.blockingClientId = Number(await this.blocking.client('ID'));
        const res = await this.blocking.xread('COUNT', 200, 'BLOCK', this.blockMs, 'STREAMS', ...keys, ...startIds) as
          Array<[string, Array<[string, string[]]>]> | null;
        if (!res) continue;
        for (const [key, entries] of res) {
          const id = key.slice(streamKey(this.opts.prefix, '').length);
          for (const r of this.readers) {
            if (r.id !== id) continue;
            for (const [entryId, fields] of entries) this.onEntry(r, entryId, fields);
          }
        }
        // Let deliveries settle before choosing the next cursors (bounded: a slow store read
        // must not stall every other reader; re-read entries are filtered out).
        await Promise.race([Promise.all([...this.readers].map((r) => r.chain)), new Promise((res) => setTimeout(res, 200))]);
      } catch (err) {
        if (this.stopped) return;
        if (!/UNBLOCKED/.test((err as Error).message)) {
          this.onError(err as Error);
          await new Promise((res) => setTimeout(res, 500));
        }
      }
    }
  }

  /** Ends every stream (shutdown); clients reconnect with Last-Event-ID to another node. */
  async close(): Promise<void> {
    this.stopped = true;
    clearInterval(this.poller);
    for (const r of [...this.readers]) this.drop(r, true);
    this.wake?.();
    if (this.blockingClientId !== undefined) await this.command.client('UNBLOCK', this.blockingClientId).catch(() => undefined);
    await this.loopDone?.catch(() => undefined);
  }
}

/**
 * The EventBus of a cluster node: publishes to the submission's stream (worker side, and the
 * API node that cancels a queued submission) and serves subscriptions from the store plus the
 * stream (API side). Every node can do both.
 */
export class RedisEventBus implements EventBus {
  private readonly publisher: StreamPublisher;
  private readonly reader: StreamReader;

  constructor(o: { command: Redis; blocking: Redis; history: EventHistory; options: StreamReaderOptions; onError: (err: Error) => void }) {
    this.publisher = new StreamPublisher(o.command, o.options, o.onError);
    this.reader = new StreamReader(o.blocking, o.command, o.history, o.options, o.onError);
  }

  publish(id: string, ev: StoredEvent): Promise<void> {
    return this.publisher.publish(id, ev, true);
  }

  /** Re-publishes stored events a crashed worker may not have published. */
  republish(id: string, events: StoredEvent[]): Promise<void> {
    return this.publisher.republish(id, events);
  }

  transient(id: string, type: string, data: unknown): void {
    const seq = this.publisher.lastSeq(id);
    // Only the node recording a submission knows where its stream stands.
    if (seq === undefined) return;
    void this.publisher.publish(id, { seq, type, data, at: Date.now() }, false);
  }

  watched(): boolean {
    // Watchers may be on any API node; telemetry is capped per stream, so publish it.
    return true;
  }

  async subscribe(id: string, afterSeq: number, sub: Subscriber): Promise<() => void> {
    return this.reader.subscribe(id, afterSeq, sub);
  }

  /** Streams this node serves now. */
  get watching(): number {
    return this.reader.watching;
  }

  close(): Promise<void> {
    return this.reader.close();
  }
}
