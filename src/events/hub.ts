// The in-process event bus (single node). It keeps no history of its own: a new subscriber is
// attached first, then gets what the store has after its Last-Event-ID, then the live events
// that arrived meanwhile, each seq once and in order. So memory is per open stream, not per
// submission, and a late client, a resumed one and one of a finished submission take the same
// path.
import type { StoredEvent } from '../store/index.js';
import { FINAL_EVENT, type EventBus, type Subscriber } from './types.js';

/** Reads a submission's durable events with seq > afterSeq, in order (the store's events()). */
export type HistoryReader = (id: string, afterSeq: number) => Promise<StoredEvent[]>;

interface Attached {
  sub: Subscriber;
  /** Live events that arrived while the history was being read; null once caught up. */
  pending: StoredEvent[] | null;
  /** Highest seq this subscriber has been sent. */
  sent: number;
  ended: boolean;
}

export class EventHub implements EventBus {
  private readonly channels = new Map<string, Set<Attached>>();

  constructor(private readonly history: HistoryReader) {}

  async publish(id: string, ev: StoredEvent): Promise<void> {
    const subs = this.channels.get(id);
    if (!subs) return;
    for (const a of [...subs]) {
      if (a.pending) a.pending.push(ev);
      else this.deliver(id, a, ev);
    }
  }

  transient(id: string, type: string, data: unknown): void {
    const subs = this.channels.get(id);
    if (!subs) return;
    const at = Date.now();
    for (const a of subs) if (!a.pending && !a.ended) a.sub.send({ seq: a.sent, type, data, at });
  }

  watched(id: string): boolean {
    return this.channels.has(id);
  }

  async subscribe(id: string, afterSeq: number, sub: Subscriber): Promise<() => void> {
    let subs = this.channels.get(id);
    if (!subs) this.channels.set(id, (subs = new Set()));
    const a: Attached = { sub, pending: [], sent: afterSeq, ended: false };
    subs.add(a);
    const unsubscribe = () => this.detach(id, a);
    let past: StoredEvent[];
    try {
      past = await this.history(id, afterSeq);
    } catch (err) {
      unsubscribe();
      throw err;
    }
    const live = a.pending!;
    a.pending = null;
    for (const ev of past) this.deliver(id, a, ev);
    for (const ev of live) this.deliver(id, a, ev);
    return unsubscribe;
  }

  async close(): Promise<void> {
    for (const [id, subs] of [...this.channels]) {
      for (const a of [...subs]) this.end(id, a);
    }
  }

  /** Open streams (for metrics and tests). */
  get streams(): number {
    let n = 0;
    for (const subs of this.channels.values()) n += subs.size;
    return n;
  }

  private deliver(id: string, a: Attached, ev: StoredEvent): void {
    if (a.ended || ev.seq <= a.sent) return;
    a.sent = ev.seq;
    a.sub.send(ev);
    if (ev.type === FINAL_EVENT) this.end(id, a);
  }

  private end(id: string, a: Attached): void {
    if (a.ended) return;
    a.ended = true;
    this.detach(id, a);
    a.sub.end();
  }

  private detach(id: string, a: Attached): void {
    const subs = this.channels.get(id);
    if (!subs) return;
    subs.delete(a);
    if (subs.size === 0) this.channels.delete(id);
  }
}
