// POST /v1/run on an API-only node: passed to a worker node's own /v1/run over HTTP and its
// answer relayed. The worker with the most free slots goes first; one that refuses the
// connection or is draining is skipped for the next. The client hanging up aborts the relayed
// request, which frees the worker's slot. Costs one extra HTTP round trip inside the cluster.
import type { RunRequest, RunResponse } from '../judge/schema.js';
import type { RunService } from '../runs/types.js';
import { StoreUnavailableError } from '../store/unavailable.js';
import type { WorkerInfo } from './registry.js';

/** A 4xx a worker answered (bad input, its run queue full): the client gets the same. */
export class RelayedClientError extends Error {
  constructor(readonly statusCode: number, readonly code: string, message: string, readonly headers: Record<string, string> = {}) {
    super(message);
    this.name = 'RelayedClientError';
  }
}

export interface RelayOptions {
  workers(): Promise<WorkerInfo[]>;
  /** A token the workers accept (GAVEL_TOKENS is shared by the cluster); empty when auth is off. */
  token?: string;
  /** Longest a relayed run may take: the largest wall limit plus the wait for a slot. */
  timeoutMs: number;
}

/** Workers with the most free slots first, ties in random order. */
export function byFreeSlots(workers: WorkerInfo[]): WorkerInfo[] {
  return [...workers].sort((a, b) => (b.slots - b.busy) - (a.slots - a.busy) || Math.random() - 0.5);
}

export class RelayRunService implements RunService {
  constructor(private readonly o: RelayOptions) {}

  async execute(req: RunRequest, signal: AbortSignal): Promise<RunResponse> {
    const workers = (await this.o.workers()).filter((w) => w.url);
    if (workers.length === 0) {
      throw new StoreUnavailableError('worker', 'no worker node is up to run this (GAVEL_ROLE=worker or all); /v1/run needs a sandbox pool');
    }
    const body = JSON.stringify(req);
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (this.o.token) headers.authorization = `Bearer ${this.o.token}`;
    let last = '';
    for (const w of byFreeSlots(workers)) {
      let res: Response;
      try {
        res = await fetch(`${w.url}/v1/run`, {
          method: 'POST', body, headers, signal: AbortSignal.any([signal, AbortSignal.timeout(this.o.timeoutMs)]),
        });
      } catch (err) {
        if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('aborted');
        last = `${w.url}: ${(err as Error).cause ?? (err as Error).message}`;
        continue;
      }
      const text = await res.text();
      let json: { error?: string; message?: string } & Partial<RunResponse> = {};
      try { json = JSON.parse(text) as typeof json; } catch { /* not JSON: reported below */ }
      if (res.status === 200) return json as RunResponse;
      if (res.status >= 400 && res.status < 500) {
        const retryAfter = res.headers.get('retry-after');
        throw new RelayedClientError(res.status, json.error ?? 'bad_request', json.message ?? text.slice(0, 500),
          retryAfter ? { 'retry-after': retryAfter } : {});
      }
      // 503 (draining) or a 5xx: try the next worker.
      last = `${w.url}: HTTP ${res.status} ${json.message ?? text.slice(0, 200)}`;
    }
    throw new StoreUnavailableError('worker', `no worker could take the run (last: ${last})`);
  }
}
