// Prometheus metrics on a registry of our own (never the global one, so several apps can live in
// one process, e.g. in tests). Gauges that mirror live state read it at scrape time.
import client from 'prom-client';

export interface MetricSources {
  queueDepth(): Promise<number>;
  inFlight(): Promise<number>;
  pool(): { size: number; busy: number };
}

const SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
const WAIT_BUCKETS = [0.001, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600];
const MEMORY_BUCKETS = [1, 4, 16, 32, 64, 128, 256, 512, 1024, 2048].map((m) => m * 1024 * 1024);

export class Metrics {
  readonly registry = new client.Registry();
  private sources?: MetricSources;

  readonly submissions = new client.Counter({
    name: 'gavel_submissions_total', help: 'Finished submissions by language and verdict.',
    labelNames: ['language', 'verdict'] as const, registers: [this.registry],
  });
  readonly queueWait = new client.Histogram({
    name: 'gavel_queue_wait_seconds', help: 'Time from acceptance (or creation, for re-queued ones) until judging starts.',
    buckets: WAIT_BUCKETS, registers: [this.registry],
  });
  readonly phaseDuration = new client.Histogram({
    name: 'gavel_phase_duration_seconds',
    help: 'Duration of judging phases: compile (compiler time), run (first run to verdict), check (per test: time beyond the program\'s own wall time, i.e. checking and sandbox overhead).',
    labelNames: ['phase'] as const, buckets: SECONDS_BUCKETS, registers: [this.registry],
  });
  readonly testCpu = new client.Histogram({
    name: 'gavel_test_cpu_seconds', help: 'CPU time of one test run.',
    buckets: SECONDS_BUCKETS, registers: [this.registry],
  });
  readonly testMemory = new client.Histogram({
    name: 'gavel_test_memory_peak_bytes', help: 'Peak memory of one test run.',
    buckets: MEMORY_BUCKETS, registers: [this.registry],
  });
  readonly sandboxErrors = new client.Counter({
    name: 'gavel_sandbox_errors_total', help: 'Internal judge/sandbox failures (IE tests, IE submissions not explained by a test, SE runs).',
    labelNames: ['kind'] as const, registers: [this.registry],
  });
  readonly webhooks = new client.Counter({
    name: 'gavel_webhook_attempts_total', help: 'Callback delivery attempts by outcome.',
    labelNames: ['outcome'] as const, registers: [this.registry],
  });
  readonly runs = new client.Counter({
    name: 'gavel_runs_total', help: 'POST /v1/run calls by status.',
    labelNames: ['status'] as const, registers: [this.registry],
  });
  readonly eventStreams = new client.Gauge({
    name: 'gavel_event_streams', help: 'Open event streams (GET /v1/submissions/{id}/events).', registers: [this.registry],
  });
  readonly http = new client.Histogram({
    name: 'gavel_http_request_duration_seconds', help: 'HTTP request duration by method, route pattern and status code.',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers: [this.registry],
  });

  constructor() {
    const self = this;
    new client.Gauge({
      name: 'gavel_queue_depth', help: 'Submissions accepted and waiting for a sandbox slot.', registers: [this.registry],
      async collect() { this.set((await self.sources?.queueDepth()) ?? 0); },
    });
    new client.Gauge({
      name: 'gavel_submissions_in_flight', help: 'Submissions accepted and not finished (queued + judging).', registers: [this.registry],
      async collect() { this.set((await self.sources?.inFlight()) ?? 0); },
    });
    new client.Gauge({
      name: 'gavel_pool_slots', help: 'Sandbox slots by state.', labelNames: ['state'] as const, registers: [this.registry],
      collect() {
        const p = self.sources?.pool() ?? { size: 0, busy: 0 };
        this.set({ state: 'busy' }, p.busy);
        this.set({ state: 'idle' }, Math.max(0, p.size - p.busy));
      },
    });
    client.collectDefaultMetrics({ register: this.registry });
    // prom-client names these sums of per-type gauges *_total, which Prometheus reserves for
    // counters (promtool rejects them); the per-type gauges without the suffix stay.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
      this.registry.removeSingleMetric(name);
    }
  }

  /** Connects the gauges to the live queue and pool. */
  bind(sources: MetricSources): void {
    this.sources = sources;
  }
}
