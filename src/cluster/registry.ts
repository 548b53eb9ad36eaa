// Which worker nodes are up: each worker writes a heartbeat (its HTTP address, slots, busy slots,
// mean judging time) into one Redis hash; an entry older than three heartbeats is a dead worker
// and is dropped by whoever reads it. API nodes read it to relay /v1/run, to size Retry-After,
// and for the cluster-wide gauges.
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { redisCall } from './redis.js';

export interface WorkerInfo {
  node: string;
  /** Where its HTTP API answers (for relayed /v1/run); absent when it advertises none. */
  url?: string;
  slots: number;
  busy: number;
  meanJobMs: number;
  /** epoch ms of the heartbeat */
  at: number;
}

export class WorkerRegistry {
  readonly node = `${process.pid}-${randomUUID().slice(0, 8)}`;
  private readonly key: string;
  private timer?: NodeJS.Timeout;
  private cache?: { at: number; workers: Promise<WorkerInfo[]> };

  constructor(private readonly redis: Redis, prefix: string, private readonly heartbeatMs = 2000) {
    this.key = `${prefix}:workers`;
  }

  /** Starts heartbeating this node as a worker; `info` is read at each beat. */
  join(info: () => Omit<WorkerInfo, 'node' | 'at'>, onError: (err: Error) => void): Promise<void> {
    const beat = () => this.redis.hset(this.key, this.node, JSON.stringify({ ...info(), node: this.node, at: Date.now() }));
    this.timer = setInterval(() => { beat().catch(onError); }, this.heartbeatMs);
    this.timer.unref();
    return beat().then(() => undefined);
  }

  async leave(): Promise<void> {
    clearInterval(this.timer);
    await this.redis.hdel(this.key, this.node).catch(() => undefined);
  }

  /** Live workers (cached for a second: every accept and relayed run may ask). */
  live(): Promise<WorkerInfo[]> {
    const now = Date.now();
    if (!this.cache || now - this.cache.at > 1000) {
      const workers = this.read();
      workers.catch(() => { this.cache = undefined; });
      this.cache = { at: now, workers };
    }
    return this.cache.workers;
  }

  private async read(): Promise<WorkerInfo[]> {
    const all = await redisCall(() => this.redis.hgetall(this.key));
    const cutoff = Date.now() - 3 * this.heartbeatMs;
    const live: WorkerInfo[] = [];
    const dead: string[] = [];
    for (const [node, text] of Object.entries(all)) {
      let w: WorkerInfo | undefined;
      try { w = JSON.parse(text) as WorkerInfo; } catch { /* a damaged entry counts as dead */ }
      if (w && w.at >= cutoff) live.push(w);
      else dead.push(node);
    }
    if (dead.length) await this.redis.hdel(this.key, ...dead).catch(() => undefined);
    return live;
  }
}
