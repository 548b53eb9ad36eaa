// Runs commands in the slots of the pool. Each slot keeps one cell (cell.ts) alive:
// cloned, in its namespaces and cgroup, its filesystem view built, gavel-init waiting. A
// run only sends the per-run details (go.ts), watches the program, and classifies its
// end (classify.ts); init cleans the cell up for the next run itself. Only a run that
// ends badly (a limit, a cancel) costs a fresh cell, made in the background on a libuv
// thread.
import { chownSync, closeSync, fstatSync, openSync, constants as fsc } from 'node:fs';
import { join } from 'node:path';
import { Cell } from './cell.js';
import { classify } from './classify.js';
import { perRunMounts } from './filesystem.js';
import { GoMessage } from './go.js';
import { RLIMIT } from './linux.js';
import { Monitor } from './monitor.js';
import type { ExitRecord } from './notes.js';
import { cloneTree, detachedTmpfs, INIT_PATH, memfd, pipe2 } from './native.js';
import type { PlanBuilder } from './plan.js';
import { cellPlan } from './plans.js';
import { Pool, type PoolOptions, type Slot } from './pool.js';
import { DEFAULT_TMP_BYTES, tmpOptions } from './protocol.js';
import { buildSeccompFilter, type SeccompOptions } from './seccomp.js';
import type { RunLimits, RunResult, RunSpec, RunTrace, StreamSpec } from './types.js';
import { WorkDirs } from './workdirs.js';

export interface SandboxOptions extends PoolOptions {
  seccomp?: SeccompOptions;
}

const DEFAULT_ENV = { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: '/box', LANG: 'C.UTF-8', TMPDIR: '/tmp' };

export class Sandbox {
  readonly pool: Pool;
  private initFd: number;
  private devNull: number;
  private filter: Buffer;
  private running = new Set<Promise<unknown>>();
  private cells = new Map<Slot, Promise<Cell>>();
  private plans = new Map<Slot, { plan: PlanBuilder; buf: Buffer }>();
  private closing = false;
  private workDirs: WorkDirs;
  /** Memory work dirs by path: the fd of each one's detached tmpfs, until its run. */
  private memoryDirs = new Map<string, number>();

  private constructor(opts: SandboxOptions) {
    this.filter = buildSeccompFilter(opts.seccomp);
    this.initFd = openSync(INIT_PATH, fsc.O_RDONLY);
    this.devNull = openSync('/dev/null', fsc.O_RDWR);
    try {
      this.pool = new Pool(opts);
      this.workDirs = new WorkDirs(join(this.pool.runDir, 'work'), join(this.pool.runDir, 'work-stock'), 2 * this.pool.size);
    } catch (e) {
      closeSync(this.initFd);
      closeSync(this.devNull);
      throw e;
    }
    for (const slot of this.pool.slots) {
      const p = this.prepare(slot);
      p.catch(() => {}); // a failure is reported to the run that takes this cell
      this.cells.set(slot, p);
    }
  }

  static open(opts: SandboxOptions = {}): Sandbox {
    return new Sandbox(opts);
  }

  /** An empty work dir under the pool's run dir (root-owned, 0700); give it back with removeWorkDir(). */
  makeWorkDir(): string {
    return this.workDirs.take();
  }

  /** Ends a work dir from makeWorkDir() or makeMemoryWorkDir(). */
  removeWorkDir(dir: string): void {
    const tree = this.memoryDirs.get(dir);
    if (tree === undefined) return this.workDirs.give(dir);
    this.memoryDirs.delete(dir);
    if (tree >= 0) closeSync(tree); // never run
  }

  /**
   * A work dir in memory for ONE run: a tmpfs of `bytes` (charged to memory, never to a
   * disk; what the program writes there counts too), filled through the returned path and
   * attached as /box itself. After its run its contents are gone; end it with
   * removeWorkDir().
   */
  makeMemoryWorkDir(bytes: number): string {
    const tree = detachedTmpfs(bytes);
    const path = `/proc/self/fd/${tree}`;
    this.memoryDirs.set(path, tree);
    return path;
  }

  async run(spec: RunSpec): Promise<RunResult> {
    const slot = await this.pool.acquire(spec.signal);
    return this.track(this.runInSlot(slot, spec).finally(() => this.pool.release(slot)));
  }

  /**
   * Runs several commands at once on as many slots (e.g. a solution and its interactor
   * joined by pipes). `afterStart` runs once all have been started: the place to close
   * the parent's copies of fds the runs share. `onEnd` hears of each run as it ends, before
   * the others have.
   */
  async runGroup(specs: RunSpec[], afterStart?: () => void, signal?: AbortSignal, onEnd?: (index: number, result: RunResult) => void): Promise<RunResult[]> {
    let slots: Slot[];
    try {
      slots = await this.pool.acquireMany(specs.length, signal);
    } catch (e) {
      afterStart?.();
      throw e;
    }
    let runs: Promise<RunResult>[];
    try {
      const cells = await Promise.all(slots.map((s) => this.takeCell(s)));
      runs = specs.map((spec, i) => this.startIn(slots[i], cells[i], spec).then((r) => (onEnd?.(i, r), r)));
    } catch (e) {
      this.pool.release(...slots);
      throw e;
    } finally {
      afterStart?.();
    }
    return this.track(Promise.all(runs).finally(() => this.pool.release(...slots)));
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.running.add(p);
    p.finally(() => this.running.delete(p)).catch(() => {});
    return p;
  }

  /** The slot's cell plan: the same for every cell of the slot, so built once. */
  private slotPlan(slot: Slot): { plan: PlanBuilder; buf: Buffer } {
    let p = this.plans.get(slot);
    if (!p) {
      const plan = cellPlan(slot, { devNull: this.devNull, init: this.initFd });
      p = { plan, buf: plan.build() };
      this.plans.set(slot, p);
    }
    return p;
  }

  /** Clones a cell for the slot, up to gavel-init waiting for its first go message. */
  private prepare(slot: Slot): Promise<Cell> {
    const { plan, buf } = this.slotPlan(slot);
    return Cell.start(plan, buf);
  }

  /** The slot's live cell, or a fresh one if it died while waiting. */
  private async takeCell(slot: Slot): Promise<Cell> {
    for (let attempt = 0; ; attempt++) {
      let p = this.cells.get(slot);
      if (!p) this.cells.set(slot, (p = this.prepare(slot)));
      try {
        const cell = await p;
        if (!cell.dead) return cell;
        if (attempt > 0) throw new Error('sandbox init exits before its go message');
      } catch (e) {
        if (attempt > 0) throw e;
      }
      this.cells.delete(slot);
    }
  }

  /** A cell that ended a run badly is spent: kill it and start making the next one. */
  private replaceCell(slot: Slot, cell: Cell): void {
    cell.kill();
    cell.closeControl();
    if (this.closing) return;
    const next = this.prepare(slot);
    next.catch(() => {}); // reported to the run that takes it
    this.cells.set(slot, next);
  }

  private openStream(s: StreamSpec | undefined, write: boolean): { fd: number; owned: boolean } {
    if (!s || s.kind === 'null') return { fd: this.devNull, owned: false };
    if (s.kind === 'fd') return { fd: s.fd, owned: false };
    const flags = write ? fsc.O_WRONLY | fsc.O_CREAT | fsc.O_TRUNC : fsc.O_RDONLY;
    return { fd: openSync(s.path, flags, 0o644), owned: true };
  }

  private goMessage(slot: Slot, spec: RunSpec, stdio: [number, number, number], trees: number[], targets: string[]): GoMessage {
    const L = spec.limits;
    const m = new GoMessage(stdio);
    trees.forEach((fd, i) => m.mount(fd, targets[i]));
    const tmp = L.tmpBytes ?? Math.min(L.memoryBytes, DEFAULT_TMP_BYTES);
    if (tmp !== DEFAULT_TMP_BYTES) m.tmp(tmpOptions(tmp));
    const cpuSeconds = Math.ceil(L.timeMs / 1000);
    m.rlimit(RLIMIT.CORE, 0)
      // A backstop only: the monitor kills at the exact limit long before this fires.
      .rlimit(RLIMIT.CPU, cpuSeconds + 1, cpuSeconds + 2)
      // One byte over the limit, so output of exactly the limit is still fine.
      .rlimit(RLIMIT.FSIZE, L.outputBytes + 1)
      .rlimit(RLIMIT.STACK, L.stackBytes ?? L.memoryBytes)
      .rlimit(RLIMIT.NOFILE, L.openFiles ?? 256);
    m.ids(slot.uid, slot.gid).filter(this.filter).chdir('/box');
    const env = { ...DEFAULT_ENV, ...spec.env };
    m.argv(spec.argv).env(Object.entries(env).map(([k, v]) => `${k}=${v}`));
    return m;
  }

  private async runInSlot(slot: Slot, spec: RunSpec): Promise<RunResult> {
    const cell = await this.takeCell(slot).catch((e: Error) => e);
    if (cell instanceof Error) {
      this.cells.delete(slot);
      return seResult(cell.message);
    }
    return this.startIn(slot, cell, spec);
  }

  /** Starts `spec` in the slot's live cell and watches it to its end. */
  private startIn(slot: Slot, cell: Cell, spec: RunSpec): Promise<RunResult> {
    const L = spec.limits;
    const streams: { fd: number; owned: boolean }[] = [];
    const trees: number[] = [];
    const node: NodeStamps = { start: process.hrtime.bigint(), reset: 0n, sent: 0n };
    let startedAt: bigint;
    try {
      checkRunLimits(L);
      if (spec.argv.length === 0) throw new Error('argv must not be empty');
      if (!spec.sealedWorkDir) chownSync(spec.workDir, slot.uid, slot.gid);
      streams.push(this.openStream(spec.stdin, false), this.openStream(spec.stdout, true), this.openStream(spec.stderr, true));
      const memoryTree = this.memoryDirs.get(spec.workDir);
      if (memoryTree === -1) throw new Error(`memory work dir ${spec.workDir} was already used by a run; make one per run`);
      const mounts = perRunMounts(slot.rootDir, spec, memoryTree);
      // A memory work dir's mount itself goes to init, once: from then on it is the cell's
      // (our fd is closed below with the clones).
      if (memoryTree !== undefined) this.memoryDirs.set(spec.workDir, -1);
      for (const m of mounts) trees.push(m.fd ?? cloneTree(m.source, m.attr));
      const msg = this.goMessage(slot, spec, [streams[0].fd, streams[1].fd, streams[2].fd], trees, mounts.map((m) => m.target));
      if (spec.trace) msg.trace();
      node.reset = process.hrtime.bigint();
      slot.cgroup.reset({ memoryBytes: L.memoryBytes, pids: L.processes + 1, cpuQuota: L.cpuQuota, cpus: slot.cpus });
      startedAt = process.hrtime.bigint();
      cell.go(msg.build(), msg.fds);
      node.sent = process.hrtime.bigint();
    } catch (e) {
      for (const s of streams) if (s.owned) closeSync(s.fd);
      this.replaceCell(slot, cell);
      return Promise.reject(e);
    } finally {
      for (const fd of trees) closeSync(fd);
    }
    // The sandbox has its own copy of stdin now; the outputs stay open to measure them.
    if (streams[0].owned) closeSync(streams[0].fd);
    return this.watch(slot, cell, spec, streams, startedAt, node);
  }

  private async watch(
    slot: Slot, cell: Cell, spec: RunSpec, streams: { fd: number; owned: boolean }[], startedAt: bigint, node: NodeStamps,
  ): Promise<RunResult> {
    const L = spec.limits;
    let killedAt: number | undefined;
    const kill = () => {
      killedAt ??= Number(process.hrtime.bigint()) / 1e6;
      cell.kill();
    };
    const monitor = new Monitor({
      cgroup: slot.cgroup, timeMs: L.timeMs, wallTimeMs: L.wallTimeMs, parallelism: slot.parallelism,
      startedAt, kill, telemetryMs: spec.telemetryMs, onTelemetry: spec.onTelemetry,
    });
    let cancelled = false;
    const onAbort = () => {
      cancelled = true;
      kill();
    };
    spec.signal?.addEventListener('abort', onAbort, { once: true });
    if (spec.signal?.aborted) onAbort();
    let rec: ExitRecord;
    try {
      rec = await cell.next();
    } finally {
      monitor.stop();
      spec.signal?.removeEventListener('abort', onAbort);
    }
    const noted = process.hrtime.bigint();
    const reportedAt = Number(noted) / 1e6;
    const nodeWallMs = Number(noted - startedAt) / 1e6;
    const stats = slot.cgroup.stats();
    // Output to a file, or to an fd that is one (a memoryFile), counts against outputBytes.
    const fileSize = (i: 1 | 2) => (spec[i === 1 ? 'stdout' : 'stderr']?.kind ? safeSize(streams[i].fd) : 0);
    const stdoutBytes = fileSize(1);
    const stderrBytes = fileSize(2);
    for (const s of streams.slice(1)) if (s.owned) closeSync(s.fd);
    const reusable = rec.kind === 'run' && !rec.goFailure && !monitor.reason && !cancelled && !cell.dead;
    if (!reusable) this.replaceCell(slot, cell);

    // Without cgroups (the unlimited development mode) CPU time comes from rusage.
    const cpuUs = Number.isFinite(stats.cpuTimeUs) ? stats.cpuTimeUs : (rec.program?.cpuUs ?? 0);
    const base = {
      cpuTimeMs: round(cpuUs / 1000),
      // init times the program itself, from fork to reaping it; Node's clock also counts
      // the messages to and from the sandbox.
      wallTimeMs: round(rec.program ? rec.program.wallUs / 1000 : nodeWallMs),
      memoryBytes: stats.memoryPeakBytes ?? (rec.program?.maxrssKb ?? rec.initRusage.maxrssKb) * 1024,
      stdoutBytes,
      stderrBytes,
      // The program's end: init's stamp of reaping it (the same clock as process.hrtime), so
      // the ends of a group's runs are ordered as they happened, however late each report
      // reaches Node. Node's clock only when init died without reporting.
      endedAt: rec.stamps?.reaped ? Number(rec.stamps.reaped) / 1e6 : (killedAt ?? reportedAt),
    };
    const end = { rec, monitorReason: monitor.reason, oomKills: stats.oomKills, cancelled, argv0: spec.argv[0] };
    const result: RunResult = { ...base, ...classify(end, base, L) };
    if (spec.trace) result.trace = runTrace(node, startedAt, rec, noted, process.hrtime.bigint());
    return result;
  }

  /**
   * An anonymous in-memory file (memfd) for a run's stream, as `{ kind: 'fd' }`: output
   * written to it never touches a disk, is charged to the run's memory like any file, and
   * is read back from position 0 (its size counts against outputBytes). Close it after.
   */
  memoryFile(name = 'gavel-stream'): number {
    return memfd(name);
  }

  /**
   * A close-on-exec pipe for joining two runs of a runGroup directly (an interactive
   * problem's solution and interactor): pass the ends as `{ kind: 'fd' }` streams.
   */
  pipe(): [read: number, write: number] {
    return pipe2();
  }

  /** Waits for running work, then removes every cell, cgroup, namespace and directory. */
  async close(): Promise<void> {
    this.closing = true;
    await Promise.allSettled([...this.running]);
    const cells = [...this.cells.values()];
    this.cells.clear();
    await Promise.allSettled(cells.map(async (p) => (await p).dispose()));
    this.workDirs.clear();
    this.pool.close();
    closeSync(this.initFd);
    closeSync(this.devNull);
  }
}

/** Node's own stamps of a run (process.hrtime: CLOCK_MONOTONIC, as init's). */
interface NodeStamps { start: bigint; reset: bigint; sent: bigint }

/** A traced run's phases in µs, from Node's stamps and init's (absent ones are omitted). */
function runTrace(node: NodeStamps, goAt: bigint, rec: ExitRecord, noted: bigint, end: bigint): RunTrace {
  const s = rec.stamps ?? {};
  const us = (a: bigint | undefined, b: bigint | undefined) => (a !== undefined && b !== undefined && a > 0n && b > 0n ? round(Number(b - a) / 1000) : undefined);
  const phases: RunTrace = {
    prepare: us(node.start, node.reset)!,
    cgroupReset: us(node.reset, goAt)!,
    messageToInit: us(goAt, s.received),
    parse: us(s.received, s.parsed),
    fork: us(s.parsed, s.childStarted),
    privilegeDrop: us(s.childStarted, s.privilegesDropped),
    seccomp: us(s.privilegesDropped, s.filterInstalled),
    execAndRun: us(s.filterInstalled, s.reaped),
    sweep: us(s.reaped, s.swept),
    tmpCheck: us(s.swept, s.tmpChecked),
    report: us(s.tmpChecked, noted),
    finish: us(noted, end)!,
    previousMountDetach: us(rec.previousDetach?.reported, rec.previousDetach?.detached),
    total: us(node.start, end)!,
  };
  for (const k of Object.keys(phases) as (keyof RunTrace)[]) if (phases[k] === undefined) delete phases[k];
  return phases;
}

function seResult(error: string): RunResult {
  return { status: 'SE', exitCode: null, signal: null, cpuTimeMs: 0, wallTimeMs: 0, memoryBytes: 0, stdoutBytes: 0, stderrBytes: 0, error };
}

/** The size of a regular file behind `fd` (0 for a pipe, /dev/null or an error). */
function safeSize(fd: number): number {
  try {
    const st = fstatSync(fd);
    return st.isFile() ? st.size : 0;
  } catch {
    return 0;
  }
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}

/** Refuses limits the sandbox cannot enforce as asked (each must be a positive number). */
export function checkRunLimits(L: RunLimits): void {
  for (const k of ['timeMs', 'wallTimeMs', 'memoryBytes', 'outputBytes', 'processes'] as const) {
    const v = L[k];
    if (!Number.isFinite(v) || v <= 0) throw new Error(`limit ${k} must be a positive number, got ${v}`);
  }
}
