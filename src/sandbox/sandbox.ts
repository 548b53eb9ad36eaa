// Runs commands in the slots of the pool. Each slot keeps one sandbox (box.ts) alive:
// cloned, in its namespaces and cgroup, its filesystem view built, gavel-init waiting. A
// run only sends the per-run details (go.ts), watches the program, and classifies its
// end; init cleans the sandbox up for the next run itself. Only a run that ends badly (a
// limit, a cancel) costs a fresh sandbox, made in the background on a libuv thread.
import { chownSync, closeSync, fstatSync, mkdtempSync, openSync, rmSync, constants as fsc } from 'node:fs';
import { join } from 'node:path';
import { GoMessage, RLIMIT } from './go.js';
import { Monitor } from './monitor.js';
import { addSandboxView, DEFAULT_TMP_BYTES, perRunMounts, tmpOptions } from './mounts.js';
import { Box } from './box.js';
import { cloneTree, errnoName, INIT_PATH, sendGo, spawnPlan, type ExitRecord } from './native.js';
import { CLONE, FD_CONTROL, FD_STATUS, Op, PlanBuilder } from './plan.js';
import { Pool, type PoolOptions, type Slot } from './pool.js';
import { buildSeccompFilter, type SeccompOptions } from './seccomp.js';
import type { RunLimits, RunResult, RunSpec, StreamSpec } from './types.js';

export interface SandboxOptions extends PoolOptions {
  seccomp?: SeccompOptions;
}

const SIGXCPU = 24;
const SIGXFSZ = 25;
const DEFAULT_ENV = { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: '/box', LANG: 'C.UTF-8', TMPDIR: '/tmp' };

/** A crash or non-zero exit with the cgroup this close to its limit is an MLE, not an RE. */
const MLE_MARGIN = 0.97;
/** ...and the program's own resident peak at least this share of the limit. */
const MLE_OWN_SHARE = 0.5;

let nextToken = 1;

export class Sandbox {
  readonly pool: Pool;
  private initFd: number;
  private devNull: number;
  private filter: Buffer;
  private running = new Set<Promise<unknown>>();
  private boxes = new Map<Slot, Promise<Box>>();
  private plans = new Map<Slot, { plan: PlanBuilder; buf: Buffer }>();
  private closing = false;

  private constructor(opts: SandboxOptions) {
    this.filter = buildSeccompFilter(opts.seccomp);
    this.initFd = openSync(INIT_PATH, fsc.O_RDONLY);
    this.devNull = openSync('/dev/null', fsc.O_RDWR);
    try {
      this.pool = new Pool(opts);
    } catch (e) {
      closeSync(this.initFd);
      closeSync(this.devNull);
      throw e;
    }
    for (const slot of this.pool.slots) {
      const p = this.prepare(slot);
      p.catch(() => {}); // a failure is reported to the run that takes this box
      this.boxes.set(slot, p);
    }
  }

  static open(opts: SandboxOptions = {}): Sandbox {
    return new Sandbox(opts);
  }

  /** A fresh, empty work dir under the pool's run dir; remove it with removeWorkDir(). */
  makeWorkDir(): string {
    return mkdtempSync(join(this.pool.runDir, 'work', 'w'));
  }

  removeWorkDir(dir: string): void {
    rmSync(dir, { recursive: true, force: true });
  }

  async run(spec: RunSpec): Promise<RunResult> {
    const slot = await this.pool.acquire(spec.signal);
    return this.track(this.runIn(slot, spec).finally(() => this.pool.release(slot)));
  }

  /**
   * Runs several commands at once on as many slots (e.g. a solution and its interactor
   * joined by pipes). `afterStart` runs once all have been started: the place to close
   * the parent's copies of fds the runs share.
   */
  async runGroup(specs: RunSpec[], afterStart?: () => void, signal?: AbortSignal): Promise<RunResult[]> {
    let slots: Slot[];
    try {
      slots = await this.pool.acquireMany(specs.length, signal);
    } catch (e) {
      afterStart?.();
      throw e;
    }
    let runs: Promise<RunResult>[];
    try {
      const boxes = await Promise.all(slots.map((s) => this.takeBox(s)));
      runs = specs.map((spec, i) => this.go(slots[i], boxes[i], spec));
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

  /** The slot's clone plan: the same for every sandbox of the slot, so built once. */
  private slotPlan(slot: Slot): { plan: PlanBuilder; buf: Buffer } {
    let p = this.plans.get(slot);
    if (!p) {
      const plan = new PlanBuilder();
      plan.cloneFlags = CLONE.NEWPID;
      plan.cgroupFd = slot.cgroupFd;
      for (const fd of slot.procsFds) plan.add(Op.WRITE_FD, fd, '0');
      plan.add(Op.SETNS, slot.ns.net, CLONE.NEWNET);
      plan.add(Op.SETNS, slot.ns.ipc, CLONE.NEWIPC);
      plan.add(Op.SETNS, slot.ns.uts, CLONE.NEWUTS);
      addSandboxView(plan, slot.ns.mnt);
      // fds 0-2 /dev/null, 3 status pipe, 4 control socket, 5 the init binary; moved in two
      // steps through numbers above every source so none is overwritten before it is
      // copied. The status pipe and control socket exist only at spawn, so they go first.
      const sources = [this.devNull, this.devNull, this.devNull, FD_STATUS, FD_CONTROL, this.initFd];
      const high = Math.max(...sources, 10) + 1;
      const order = [3, 4, 0, 1, 2, 5];
      for (const i of order) plan.add(Op.DUP2, sources[i], high + i);
      for (const i of order) plan.add(Op.DUP2, high + i, i);
      plan.add(Op.CLOSE_FROM, sources.length);
      plan.add(Op.CHDIR, '/');
      plan.add(Op.UMASK, 0o022);
      plan.add(Op.EXEC, 5, 1, Buffer.from('gavel-init\0'), 0, Buffer.alloc(8));
      p = { plan, buf: plan.build() };
      this.plans.set(slot, p);
    }
    return p;
  }

  /** Clones a sandbox for the slot, up to gavel-init waiting for its first go message. */
  private async prepare(slot: Slot): Promise<Box> {
    const { plan, buf } = this.slotPlan(slot);
    const token = nextToken++;
    const r = await spawnPlan(buf, token);
    if ('failure' in r) {
      const f = r.failure;
      throw new Error(`sandbox setup failed at ${f.opIndex >= 0 ? plan.describe(f.opIndex) : 'clone'}: ${errnoName(f.errno)}`);
    }
    return new Box(token, r.control);
  }

  /** The slot's live sandbox, or a fresh one if it died while waiting. */
  private async takeBox(slot: Slot): Promise<Box> {
    for (let attempt = 0; ; attempt++) {
      let p = this.boxes.get(slot);
      if (!p) this.boxes.set(slot, (p = this.prepare(slot)));
      try {
        const box = await p;
        if (!box.dead) return box;
        if (attempt > 0) throw new Error('sandbox init exits before its go message');
      } catch (e) {
        if (attempt > 0) throw e;
      }
      this.boxes.delete(slot);
    }
  }

  /** A box that ended a run badly is spent: kill it and start making the next one. */
  private replaceBox(slot: Slot, box: Box): void {
    box.kill();
    box.closeControl();
    if (this.closing) return;
    const next = this.prepare(slot);
    next.catch(() => {}); // reported to the run that takes it
    this.boxes.set(slot, next);
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

  private async runIn(slot: Slot, spec: RunSpec): Promise<RunResult> {
    const box = await this.takeBox(slot).catch((e: Error) => e);
    if (box instanceof Error) {
      this.boxes.delete(slot);
      return seResult(box.message);
    }
    return this.go(slot, box, spec);
  }

  /** Starts `spec` in the slot's live sandbox and watches it to its end. */
  private go(slot: Slot, box: Box, spec: RunSpec): Promise<RunResult> {
    const L = spec.limits;
    const streams: { fd: number; owned: boolean }[] = [];
    const trees: number[] = [];
    let startedAt: bigint;
    try {
      validateLimits(L);
      if (spec.argv.length === 0) throw new Error('argv must not be empty');
      if (!spec.sealedWorkDir) chownSync(spec.workDir, slot.uid, slot.gid);
      streams.push(this.openStream(spec.stdin, false), this.openStream(spec.stdout, true), this.openStream(spec.stderr, true));
      const mounts = perRunMounts(slot.rootDir, spec);
      for (const m of mounts) trees.push(cloneTree(m.source, m.attr));
      const msg = this.goMessage(slot, spec, [streams[0].fd, streams[1].fd, streams[2].fd], trees, mounts.map((m) => m.target));
      slot.cgroup.reset({ memoryBytes: L.memoryBytes, pids: L.processes + 1, cpuQuota: L.cpuQuota, cpus: slot.cpus });
      startedAt = process.hrtime.bigint();
      sendGo(box.control, msg.build(), msg.fds);
    } catch (e) {
      for (const s of streams) if (s.owned) closeSync(s.fd);
      this.replaceBox(slot, box);
      return Promise.reject(e);
    } finally {
      for (const fd of trees) closeSync(fd);
    }
    // The sandbox has its own copy of stdin now; the outputs stay open to measure them.
    if (streams[0].owned) closeSync(streams[0].fd);
    return this.watch(slot, box, spec, streams, startedAt);
  }

  private async watch(slot: Slot, box: Box, spec: RunSpec, streams: { fd: number; owned: boolean }[], startedAt: bigint): Promise<RunResult> {
    const L = spec.limits;
    let killedAt: number | undefined;
    const kill = () => {
      killedAt ??= Number(process.hrtime.bigint()) / 1e6;
      box.kill();
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
      rec = await box.next();
    } finally {
      monitor.stop();
      spec.signal?.removeEventListener('abort', onAbort);
    }
    const reportedAt = Number(process.hrtime.bigint()) / 1e6;
    const nodeWallMs = Number(process.hrtime.bigint() - startedAt) / 1e6;
    const stats = slot.cgroup.stats();
    const fileSize = (i: 1 | 2) => (spec[i === 1 ? 'stdout' : 'stderr']?.kind === 'file' ? safeSize(streams[i].fd) : 0);
    const stdoutBytes = fileSize(1);
    const stderrBytes = fileSize(2);
    for (const s of streams.slice(1)) if (s.owned) closeSync(s.fd);
    const reusable = rec.kind === 'run' && !rec.goFailure && !monitor.reason && !cancelled && !box.dead;
    if (!reusable) this.replaceBox(slot, box);

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
      // The program's end on Node's clock: when it was killed, else when init reported its
      // exit (init reports right after reaping, so reports keep the order of the exits).
      endedAt: killedAt ?? reportedAt,
    };
    if (cancelled) return { ...base, status: 'SE', exitCode: null, signal: null, error: 'cancelled' };
    if (rec.goFailure) {
      return { ...base, status: 'SE', exitCode: null, signal: null, error: `sandbox setup failed ${rec.goFailure.step}: ${errnoName(rec.goFailure.errno)}` };
    }
    if (rec.execErrno !== undefined) {
      const what = rec.execStep ? `${rec.execStep} for ${spec.argv[0]}` : `cannot execute ${spec.argv[0]}`;
      return { ...base, status: 'SE', exitCode: null, signal: null, error: `${what}: ${errnoName(rec.execErrno)}` };
    }
    return { ...base, ...classify(rec, monitor.reason, stats.oomKills, base, L) };
  }

  /** Waits for running work, then removes every sandbox, cgroup, namespace and directory. */
  async close(): Promise<void> {
    this.closing = true;
    await Promise.allSettled([...this.running]);
    const boxes = [...this.boxes.values()];
    this.boxes.clear();
    await Promise.allSettled(boxes.map(async (p) => (await p).dispose()));
    this.pool.close();
    closeSync(this.initFd);
    closeSync(this.devNull);
  }
}

function classify(
  rec: ExitRecord,
  monitorReason: 'cpu' | 'wall' | null,
  oomKills: number,
  m: { memoryBytes: number; stdoutBytes: number; stderrBytes: number; cpuTimeMs: number },
  L: RunLimits,
): Pick<RunResult, 'status' | 'limit' | 'exitCode' | 'signal' | 'error'> {
  const prog = rec.program;
  let exitCode: number | null = null;
  let signal: number | null = null;
  if (prog) {
    const st = prog.wstatus;
    if ((st & 0x7f) === 0) exitCode = (st >> 8) & 0xff;
    else signal = st & 0x7f;
  } else if (rec.code === 2 || rec.code === 3) {
    signal = rec.status; // init itself was killed (by the monitor or the OOM killer)
  }
  if (monitorReason) return { status: 'TLE', limit: monitorReason, exitCode, signal };
  if (oomKills > 0) return { status: 'MLE', exitCode, signal };
  if (signal === SIGXCPU) return { status: 'TLE', limit: 'cpu', exitCode, signal };
  if (m.cpuTimeMs >= L.timeMs) return { status: 'TLE', limit: 'cpu', exitCode, signal };
  if (signal === SIGXFSZ || m.stdoutBytes > L.outputBytes || m.stderrBytes > L.outputBytes) {
    return { status: 'OLE', exitCode, signal };
  }
  if (!prog && signal === null) return { status: 'SE', exitCode, signal, error: `sandbox init ended without a report (code ${rec.code}, status ${rec.status})` };
  const failed = signal !== null || exitCode !== 0;
  // The cgroup's peak also counts page cache an earlier run (a compiler reading its
  // libraries) left charged to the slot, so it can sit at the limit for any program; the
  // program's own peak RSS tells whether it was the one near the limit.
  const ownBytes = prog ? prog.maxrssKb * 1024 : Infinity;
  if (failed && m.memoryBytes >= L.memoryBytes * MLE_MARGIN && ownBytes >= L.memoryBytes * MLE_OWN_SHARE) return { status: 'MLE', exitCode, signal };
  if (failed) return { status: 'RE', exitCode, signal };
  return { status: 'OK', exitCode, signal };
}

function seResult(error: string): RunResult {
  return { status: 'SE', exitCode: null, signal: null, cpuTimeMs: 0, wallTimeMs: 0, memoryBytes: 0, stdoutBytes: 0, stderrBytes: 0, error };
}

function safeSize(fd: number): number {
  try {
    return fstatSync(fd).size;
  } catch {
    return 0;
  }
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}

export function validateLimits(L: RunLimits): void {
  for (const k of ['timeMs', 'wallTimeMs', 'memoryBytes', 'outputBytes', 'processes'] as const) {
    const v = L[k];
    if (!Number.isFinite(v) || v <= 0) throw new Error(`limit ${k} must be a positive number, got ${v}`);
  }
}
