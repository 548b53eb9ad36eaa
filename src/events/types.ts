// Live events of submissions, between whoever records them (the worker judging a submission, or
// whoever cancels a queued one) and whoever streams them (the SSE route). Durable events are in
// the store before they are published, so a client's Last-Event-ID always names an event the
// store has and resuming from it cannot skip anything. Backends: in-process (./hub.ts); others
// (Redis Streams for cluster mode) implement the same interface, picked in src/services.ts.
import type { StoredEvent } from '../store/index.js';

/** The type of a submission's last event; streams end after it. */
export const FINAL_EVENT = 'verdict';

/** One stream's receiving end (an SSE connection). */
export interface Subscriber {
  send(ev: StoredEvent): void;
  /** The stream is over: final event sent, or shutdown (the client resumes elsewhere). */
  end(): void;
}

export interface EventBus {
  /**
   * Publishes a durable event that is already in the store. Called in seq order per submission
   * (the recorder guarantees it); a FINAL_EVENT ends the submission's streams. Never rejects.
   */
  publish(id: string, ev: StoredEvent): Promise<void>;
  /**
   * Sends an event that is never stored (telemetry, queue position) to current subscribers only.
   * It carries the seq of the last durable event they got, so resuming after it replays exactly
   * what came after that event.
   */
  transient(id: string, type: string, data: unknown): void;
  /** Whether anyone may be listening (lets the recorder skip building transient events). */
  watched(id: string): boolean;
  /**
   * Replays the durable events with seq > afterSeq (from the store or the backend's history),
   * then streams live ones, each once and in order; ends the stream after FINAL_EVENT. Resolves
   * with an unsubscribe function once the subscriber is attached.
   */
  subscribe(id: string, afterSeq: number, sub: Subscriber): Promise<() => void>;
  /** Ends every open stream (shutdown); clients reconnect with Last-Event-ID. */
  close(): Promise<void>;
}
