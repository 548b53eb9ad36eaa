// Cluster-wide gauges, on every node's /metrics: the shared queue's depth and size, and the live
// workers and their slots. Read from Redis at scrape time; a scrape during a Redis outage keeps
// the last values rather than failing the whole scrape.
import client from 'prom-client';
import type { WorkerInfo } from './registry.js';

export interface ClusterSources {
  depth(): Promise<number>;
  size(): Promise<number>;
  workers(): Promise<WorkerInfo[]>;
}

export function registerClusterMetrics(registry: client.Registry, src: ClusterSources): void {
  new client.Gauge({
    name: 'gavel_cluster_queue_depth', help: 'Submissions waiting for a worker, over the whole cluster.', registers: [registry],
    async collect() { this.set(await src.depth().catch(() => NaN)); },
  });
  new client.Gauge({
    name: 'gavel_cluster_submissions_in_flight', help: 'Submissions accepted and not finished (waiting + judging), over the whole cluster.',
    registers: [registry],
    async collect() { this.set(await src.size().catch(() => NaN)); },
  });
  new client.Gauge({
    name: 'gavel_cluster_workers', help: 'Worker nodes with a recent heartbeat.', registers: [registry],
    async collect() {
      const w = await src.workers().catch(() => undefined);
      if (w) this.set(w.length);
    },
  });
  new client.Gauge({
    name: 'gavel_cluster_slots', help: 'Judging slots of the live workers, by state.', labelNames: ['state'] as const, registers: [registry],
    async collect() {
      const w = await src.workers().catch(() => undefined);
      if (!w) return;
      const size = w.reduce((n, x) => n + x.slots, 0);
      const busy = w.reduce((n, x) => n + x.busy, 0);
      this.set({ state: 'busy' }, busy);
      this.set({ state: 'idle' }, Math.max(0, size - busy));
    },
  });
}
