// Problem packages in cluster mode. Judging nodes keep the registry and the test data in the
// cluster's PostgreSQL (chunked blobs, read through a per-node cache) and replicate built
// version directories through it (src/problems/replica.ts). API-only nodes have no sandbox to
// compile validators with, so they pass /v1/problems requests to a worker, the package body
// streamed through, and read the registry themselves only to fix a submission's version.
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { Config } from '../config.js';
import { PgBlobStore } from '../problems/pg-blobs.js';
import { PostgresProblemStore } from '../problems/postgres.js';
import { PostgresStore } from '../store/postgres.js';
import { StoreUnavailableError } from '../store/unavailable.js';
import { byFreeSlots } from './relay.js';
import type { WorkerInfo } from './registry.js';

/** Bytes of test data a node keeps in its blob cache (files in use stay beyond it). */
const BLOB_CACHE_BYTES = 2 * 1024 ** 3;
/** An import silent for this long lost its node; another may import the id. */
const IMPORT_LEASE_MS = 60 * 60_000;

/** The registry and blob store of a judging node, on a small pool of its own (closed with the registry). */
export async function openClusterProblemStores(config: Config): Promise<{ store: PostgresProblemStore; blobs: PgBlobStore }> {
  const pgs = await PostgresStore.open({ url: config.databaseUrl!, max: 4 });
  const store = new PostgresProblemStore(pgs.pool, (t, v) => pgs.query(t, v), IMPORT_LEASE_MS, pgs);
  const blobs = new PgBlobStore({ pool: pgs.pool, cacheDir: join(config.dataDir, 'problems', 'blob-cache'), cacheBytes: BLOB_CACHE_BYTES });
  return { store, blobs };
}

export interface RelayedAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** /v1/problems on an API-only node: the request as it came, answered by a worker. */
export class ProblemRelay {
  constructor(private readonly o: { workers(): Promise<WorkerInfo[]>; token?: string; timeoutMs: number }) {}

  async forward(method: string, path: string, headers: Record<string, string | string[] | undefined>, body: Readable | undefined, signal: AbortSignal): Promise<RelayedAnswer> {
    const workers = byFreeSlots((await this.o.workers()).filter((w) => w.url));
    if (workers.length === 0) throw new StoreUnavailableError('worker', 'no worker node is up to import problems (GAVEL_ROLE=worker or all); importing compiles validators in a sandbox');
    const out: Record<string, string> = {};
    for (const h of ['content-type', 'content-length']) if (typeof headers[h] === 'string') out[h] = headers[h];
    if (this.o.token) out.authorization = `Bearer ${this.o.token}`;
    // A streamed body can be sent once: only a request without one moves on to the next worker.
    const tries = body ? workers.slice(0, 1) : workers;
    let last = '';
    for (const w of tries) {
      try {
        const res = await fetch(`${w.url}/v1${path}`, {
          method, headers: out, signal: AbortSignal.any([signal, AbortSignal.timeout(this.o.timeoutMs)]),
          ...(body ? { body: Readable.toWeb(body) as ReadableStream, duplex: 'half' } : {}),
        } as RequestInit);
        const keep: Record<string, string> = {};
        for (const h of ['content-type', 'location', 'retry-after']) { const v = res.headers.get(h); if (v) keep[h] = v; }
        const text = await res.text();
        if (res.status < 500) return { status: res.status, headers: keep, body: text };
        last = `${w.url}: HTTP ${res.status} ${text.slice(0, 200)}`;
        if (body) return { status: res.status, headers: keep, body: text };
      } catch (err) {
        if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('aborted');
        last = `${w.url}: ${(err as Error).cause ?? (err as Error).message}`;
      }
    }
    throw new StoreUnavailableError('worker', `no worker could take the problem request (last: ${last})`);
  }
}
