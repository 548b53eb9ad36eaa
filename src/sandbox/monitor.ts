// Watches one run in a cell: enforces the CPU-time and wall-time limits (the kernel
// enforces memory, processes and output size itself) and emits telemetry samples.
//
// Checks are scheduled adaptively: CPU time can grow at most `parallelism` times as fast
// as wall time, so the next check is due when the remaining budget could first run out.
// Far from a limit the monitor sleeps long; close to it, it checks every millisecond,
// which keeps detection within a few ms of the crossing without a busy poll.
import type { SlotCgroup } from './cgroup/index.js';
import type { TelemetrySample } from './types.js';

export interface MonitorOptions {
  cgroup: SlotCgroup;
  timeMs: number;
  wallTimeMs: number;
  /** How many CPUs the run can use at once (1 when pinned). */
  parallelism: number;
  startedAt: bigint;
  kill: () => void;
  telemetryMs?: number;
  onTelemetry?: (s: TelemetrySample) => void;
}

const MAX_SLEEP_MS = 250;

export class Monitor {
  reason: 'cpu' | 'wall' | null = null;
  private timer: NodeJS.Timeout | undefined;
  private nextTelemetry: number;
  private stopped = false;

  constructor(private o: MonitorOptions) {
    this.nextTelemetry = o.telemetryMs && o.onTelemetry ? o.telemetryMs : Infinity;
    this.schedule(0);
  }

  private elapsedMs(): number {
    return Number(process.hrtime.bigint() - this.o.startedAt) / 1e6;
  }

  private schedule(delay: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => this.check(), Math.max(1, Math.min(MAX_SLEEP_MS, delay)));
  }

  private check(): void {
    if (this.stopped) return;
    const elapsed = this.elapsedMs();
    const cpuMs = this.o.cgroup.cpuTimeUs() / 1000;
    if (cpuMs >= this.o.timeMs) return this.breach('cpu');
    if (elapsed >= this.o.wallTimeMs) return this.breach('wall');
    if (elapsed >= this.nextTelemetry) {
      this.sample(elapsed, cpuMs);
      this.nextTelemetry = elapsed + this.o.telemetryMs!;
    }
    const cpuDue = (this.o.timeMs - cpuMs) / this.o.parallelism;
    const wallDue = this.o.wallTimeMs - elapsed;
    this.schedule(Math.min(cpuDue, wallDue, this.nextTelemetry - elapsed));
  }

  private sample(elapsedMs: number, cpuTimeMs: number): void {
    try {
      const s = this.o.cgroup.stats();
      this.o.onTelemetry!({ elapsedMs: Math.round(elapsedMs), cpuTimeMs: Math.round(cpuTimeMs), memoryBytes: s.memoryBytes, processes: s.processes });
    } catch {
      // The cgroup can vanish under us during shutdown; a missed sample is harmless.
    }
  }

  private breach(which: 'cpu' | 'wall'): void {
    this.reason = which;
    this.o.kill();
    this.stop();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }
}
