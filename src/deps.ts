// What the HTTP routes are given: the configuration and the service's parts, by interface.
// Its own module so routes/ and src/app.ts do not import each other.
import type { Logger } from 'pino';
import type { Config } from './config.js';
import type { Judge } from './judge/schema.js';
import type { Store } from './store/index.js';
import type { EventBus } from './events/types.js';
import type { RunService } from './runs/types.js';
import type { SubmissionService } from './submissions.js';
import type { Metrics } from './metrics.js';
import type { ClusterStatus } from './cluster/status.js';
import type { MemoryReleaser } from './memory.js';
import type { ProblemService } from './problems/service.js';
import type { ProblemStore } from './problems/store.js';
import type { ProblemRelay } from './cluster/problems.js';

/** How an API-only cluster node serves problems: relayed to a worker, versions read from the registry. */
export interface ClusterProblemAccess {
  relay: ProblemRelay;
  registry: ProblemStore;
}

export interface AppDeps {
  config: Config;
  /** For languages, caps and validation (judging itself happens behind the queue). */
  judge: Judge;
  store: Store;
  submissions: SubmissionService;
  runs: RunService;
  bus: EventBus;
  metrics: Metrics;
  logger: Logger;
  /** Imported problem packages; absent when the judge cannot judge them (a stand-in judge in tests). */
  problems?: ProblemService;
  /** API-only cluster node (no ProblemService): /v1/problems relayed to a worker. */
  problemAccess?: ClusterProblemAccess;
  /** Readiness problems; [] when ready. */
  readiness(): Promise<string[]>;
  /** Told of large request bodies, to give their memory back afterwards. */
  memory?: MemoryReleaser;
  /** Queue figures for /readyz. */
  queueStats(): Promise<{ depth: number; inFlight: number }>;
  /** Cluster mode: the node's role and the cluster as it sees it. */
  clusterStatus?: () => Promise<ClusterStatus>;
}
