// POST /v1/run as the HTTP layer sees it: one synchronous sandboxed run. A node with a sandbox
// pool runs it in one of its own slots (./local.ts); an API-only cluster node relays it to a
// worker node and relays the answer. Picked in src/services.ts.
import type { RunRequest, RunResponse } from '../judge/schema.js';

export interface RunService {
  /**
   * Runs one program and resolves with its outcome. Waits for a slot first (ahead of queued
   * submissions); rejects with QueueFullError when too many runs already wait, with
   * ShuttingDownError when draining, with the signal's reason when aborted (the client hung up),
   * with InputError for requests the judge refuses.
   */
  execute(req: RunRequest, signal: AbortSignal): Promise<RunResponse>;
}
