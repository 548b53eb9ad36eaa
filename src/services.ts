// The one place that picks a node's backends from its configuration and wires the service
// together: store, job queue, event bus, /v1/run, and (on nodes that judge) the worker. Single
// node (the default): SQLite + in-process queue and bus. Cluster mode adds its backends here.
import type { Logger } from 'pino';
import type { Config } from './config.js';
import type { Judge } from './judge/schema.js';
import type { Store } from './store/index.js';
import type { JobQueue } from './queue/types.js';
import type { Slots } from './queue/slots.js';
import type { EventBus } from './events/types.js';
import type { RunService } from './runs/types.js';

/** What a backend factory gets to build from. */
export interface BackendContext {
  config: Config;
  logger: Logger;
  /** The judge, on nodes that judge; undefined on API-only nodes. */
  judge?: Judge;
  /** This node's judging slots (size 0 capacity on API-only nodes is never used). */
  slots: Slots;
}

/** The storage and transport a node runs on. */
export interface Backends {
  store: Store;
  queue: JobQueue;
  bus: EventBus;
  /** Where POST /v1/run goes; undefined: this node's own slots and judge. */
  runs?: RunService;
  /**
   * Whether the node re-queues the store's unfinished submissions at start. True only when
   * nothing else could own them (single node); a shared queue keeps its own jobs.
   */
  recoverOnStart: boolean;
  /** Readiness problems of the backends themselves (database, broker); [] when fine. */
  check(): Promise<string[]>;
  /** Closes what the backends opened (after the queue and bus are closed). */
  close(): Promise<void>;
}

export type BackendFactory = (ctx: BackendContext) => Promise<Backends>;
