// Per-submission event fan-out with replay. Durable events get the next sequence number and are
// delivered (and kept for replay) only once their write is durable, in sequence order, so a
// client's Last-Event-ID always names an event the store has: after a crash, resuming from it
// cannot skip anything. Transient events (telemetry, queue position) are never stored; they
// carry the id of the last delivered durable event, so resuming after one replays exactly what
// came after that durable event.
import type { StoredEvent } from '../store/index.js';

export interface Subscriber {
  send(ev: StoredEvent): void;
  /** The stream is over (final event sent, submission gone, or shutdown). */
  end(): void;
}

interface Outgoing { ev: StoredEvent; state: 'wait' | 'ok' | 'drop' }

interface Channel {
  delivered: number;
  allocated: number;
  history: StoredEvent[];
  outbox: Outgoing[];
  subs: Set<Subscriber>;
  lastTelemetry: number;
  ending: boolean;
}

export interface HubOptions {
  /** Most telemetry events per second per submission. */
  telemetryHz: number;
  onPersistError?: (id: string, ev: StoredEvent, err: unknown) => void;
}

export class EventHub {
  private readonly channels = new Map<string, Channel>();
  private readonly telemetryGapMs: number;

  constructor(private readonly opts: HubOptions) {
    this.telemetryGapMs = 1000 / opts.telemetryHz;
  }

  /** Starts tracking a submission whose stored events are `history` (seq ≤ lastSeq). */
  open(id: string, lastSeq: number, history: StoredEvent[] = []): void {
    if (this.channels.has(id)) return;
    this.channels.set(id, {
      delivered: lastSeq, allocated: lastSeq, history: [...history], outbox: [], subs: new Set(),
      lastTelemetry: 0, ending: false,
    });
  }

  has(id: string): boolean {
    return this.channels.has(id);
  }

  subscriberCount(id: string): number {
    return this.channels.get(id)?.subs.size ?? 0;
  }

  /**
   * Allocates the next seq for a durable event, hands it to `persist`, and delivers it once the
   * returned promise resolves (events that fail to persist are dropped: they would not survive a
   * restart). Returns the event and the persist promise (which never rejects).
   */
  emit(id: string, type: string, data: unknown, persist: (ev: StoredEvent) => Promise<void>): { ev: StoredEvent; done: Promise<boolean> } {
    const ch = this.channels.get(id);
    if (!ch) throw new Error(`no event channel for submission ${id}`);
    const ev: StoredEvent = { seq: ++ch.allocated, type, data, at: Date.now() };
    const out: Outgoing = { ev, state: 'wait' };
    ch.outbox.push(out);
    const done = persist(ev).then(
      () => { out.state = 'ok'; return true; },
      (err: unknown) => { out.state = 'drop'; this.opts.onPersistError?.(id, ev, err); return false; },
    ).finally(() => this.pump(id, ch));
    return { ev, done };
  }

  /** Sends an event that is not stored to current subscribers only. */
  transient(id: string, type: string, data: unknown): void {
    const ch = this.channels.get(id);
    if (!ch || ch.subs.size === 0) return;
    const ev: StoredEvent = { seq: ch.delivered, type, data, at: Date.now() };
    for (const s of ch.subs) s.send(ev);
  }

  /** Throttled transient telemetry; returns whether it was sent. */
  telemetry(id: string, data: unknown): boolean {
    const ch = this.channels.get(id);
    if (!ch || ch.subs.size === 0) return false;
    const now = Date.now();
    if (now - ch.lastTelemetry < this.telemetryGapMs) return false;
    ch.lastTelemetry = now;
    this.transient(id, 'telemetry', data);
    return true;
  }

  /**
   * Replays delivered events after `afterSeq`, then streams live ones. Returns an unsubscribe
   * function, or undefined when the submission has no open channel (finished: replay from the
   * store instead).
   */
  subscribe(id: string, afterSeq: number, sub: Subscriber): (() => void) | undefined {
    const ch = this.channels.get(id);
    if (!ch) return undefined;
    for (const ev of ch.history) if (ev.seq > afterSeq) sub.send(ev);
    ch.subs.add(sub);
    return () => { ch.subs.delete(sub); };
  }

  /** Ends the channel once every pending durable event has been delivered or dropped. */
  end(id: string): void {
    const ch = this.channels.get(id);
    if (!ch) return;
    ch.ending = true;
    this.pump(id, ch);
  }

  /** Drops a channel without a final event (its submission stays unfinished, e.g. shutdown). */
  closeOne(id: string): void {
    const ch = this.channels.get(id);
    if (!ch) return;
    this.channels.delete(id);
    for (const s of ch.subs) s.end();
    ch.subs.clear();
  }

  /** Ends every stream now (shutdown); clients reconnect with Last-Event-ID elsewhere. */
  closeAll(): void {
    for (const [id, ch] of this.channels) {
      for (const s of ch.subs) s.end();
      ch.subs.clear();
      if (ch.ending) this.channels.delete(id);
    }
  }

  private pump(id: string, ch: Channel): void {
    while (ch.outbox.length && ch.outbox[0].state !== 'wait') {
      const { ev, state } = ch.outbox.shift()!;
      if (state === 'drop') continue;
      ch.delivered = ev.seq;
      ch.history.push(ev);
      for (const s of ch.subs) s.send(ev);
    }
    if (ch.ending && ch.outbox.length === 0 && this.channels.get(id) === ch) {
      this.channels.delete(id);
      for (const s of ch.subs) s.end();
      ch.subs.clear();
    }
  }
}
