// Runs one command in a slot of the pool: builds the plan, clones, monitors, classifies.
import { chownSync, closeSync, fstatSync, mkdtempSync, openSync, rmSync, constants as fsc } from 'node:fs';
import { join } from 'node:path';
import { Monitor } from './monitor.js';
import { addFilesystemView } from './mounts.js';
import { errnoName, exitWatcher, INIT_PATH, killSandbox, spawnPlan, type ExitRecord } from './native.js';
import { CLONE, FD_STATUS, Op, PlanBuilder, RLIMIT, stringList } from './plan.js';
import { Pool, type PoolOptions, type Slot } from './pool.js';
import { buildSeccompFilter, type SeccompOptions } from './seccomp.js';
import type { RunLimits, RunResult, RunSpec, StreamSpec } from './types.js';

export interface SandboxOptions extends PoolOptions {
  seccomp?: SeccompOptions;
}

const SIGKILL = 9;
const SIGXCPU = 24;
const SIGXFSZ = 25;
const PR_SIGKILL = SIGKILL;
const DEFAULT_ENV = { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: '/box', LANG: 'C.UTF-8', TMPDIR: '/tmp' };

/** A crash or non-zero exit with the cgroup this close to its limit is an MLE, not an RE. */
const MLE_MARGIN = 0.97;

let nextToken = 1;

export class Sandbox {
  readonly pool: Pool;
  private initFd: number;
  private filter: Buffer;
  private running = new Set<Promise<unknown>>();

  private constructor(opts: SandboxOptions) {
    this.filter = buildSeccompFilter(opts.seccomp);
    this.initFd = openSync(INIT_PATH, fsc.O_RDONLY);
    try {
      this.pool = new Pool(opts);
    } catch (e) {
      closeSync(this.initFd);
      throw e;
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
    const p = this.runIn(slot, spec).finally(() => this.pool.release(slot));
    this.running.add(p);
    p.finally(() => this.running.delete(p)).catch(() => {});
    return p;
  }

  /**
   * Runs several commands at once on as many slots (e.g. a solution and its interactor
   * joined by pipes). `afterSpawn` runs once all have been cloned: the place to close
   * the parent's copies of fds the runs share.
   */
  async runGroup(specs: RunSpec[], afterSpawn?: () => void, signal?: AbortSignal): Promise<RunResult[]> {
    let slots: Slot[];
    try {
      slots = await this.pool.acquireMany(specs.length, signal);
    } catch (e) {
      afterSpawn?.();
      throw e;
    }
    const runs: Promise<RunResult>[] = [];
    try {
      for (let i = 0; i < specs.length; i++) runs.push(this.runIn(slots[i], specs[i]));
    } finally {
      afterSpawn?.();
    }
    const all = Promise.all(runs).finally(() => this.pool.release(...slots));
    this.running.add(all);
    all.finally(() => this.running.delete(all)).catch(() => {});
    return all;
  }

  private openStream(s: StreamSpec | undefined, write: boolean): { fd: number; owned: boolean } {
    if (!s || s.kind === 'null') return { fd: openSync('/dev/null', write ? fsc.O_WRONLY : fsc.O_RDONLY), owned: true };
    if (s.kind === 'fd') return { fd: s.fd, owned: false };
    const flags = write ? fsc.O_WRONLY | fsc.O_CREAT | fsc.O_TRUNC : fsc.O_RDONLY;
    return { fd: openSync(s.path, flags, 0o644), owned: true };
  }

  private buildPlan(slot: Slot, spec: RunSpec, stdio: number[]): PlanBuilder {
    const L = spec.limits;
    const plan = new PlanBuilder();
    plan.cloneFlags = CLONE.NEWPID | CLONE.NEWNS;
    plan.cgroupFd = slot.cgroupFd;
    for (const fd of slot.procsFds) plan.add(Op.WRITE_FD, fd, '0');
    plan.add(Op.SETNS, slot.ns.net, CLONE.NEWNET);
    plan.add(Op.SETNS, slot.ns.ipc, CLONE.NEWIPC);
    plan.add(Op.SETNS, slot.ns.uts, CLONE.NEWUTS);
    // After joining the cgroups, so the namespace's root is the slot's cgroup.
    plan.add(Op.UNSHARE, CLONE.NEWCGROUP);
    addFilesystemView(plan, {
      rootDir: slot.rootDir,
      workDir: spec.workDir,
      tmpBytes: L.tmpBytes ?? Math.min(L.memoryBytes, 64 << 20),
      readOnlyPaths: spec.readOnlyPaths ?? [],
      dataDir: spec.dataDir,
    });
    // Move stdio, the status pipe and the init binary to 0..4 in two steps through fds
    // above every source, so no source is overwritten before it is copied. The status
    // pipe's number is only known to the shim, so it is copied first, before any of the
    // high targets can land on it.
    const sources = [...stdio, FD_STATUS, this.initFd];
    const high = Math.max(...sources, 10) + 1;
    const order = [3, 0, 1, 2, 4];
    for (const i of order) plan.add(Op.DUP2, sources[i], high + i);
    for (const i of order) plan.add(Op.DUP2, high + i, i);
    plan.add(Op.CLOSE_FROM, sources.length);
    plan.add(Op.CHDIR, '/box');
    plan.add(Op.UMASK, 0o022);
    const cpuSeconds = Math.ceil(L.timeMs / 1000);
    const lim = (res: number, soft: number | bigint, hard = soft) => plan.add(Op.RLIMIT, res, soft, hard);
    lim(RLIMIT.CORE, 0);
    // A backstop only: the monitor kills at the exact limit long before this fires.
    lim(RLIMIT.CPU, cpuSeconds + 1, cpuSeconds + 2);
    lim(RLIMIT.FSIZE, L.outputBytes + 1);
    lim(RLIMIT.STACK, L.stackBytes ?? L.memoryBytes);
    lim(RLIMIT.NOFILE, L.openFiles ?? 256);
    plan.add(Op.IDS, slot.uid, slot.gid);
    // Set after the uid change, which clears it: if Node dies, the sandbox dies with it.
    plan.add(Op.PDEATHSIG, PR_SIGKILL);
    plan.add(Op.NO_NEW_PRIVS);
    plan.add(Op.SECCOMP, this.filter, this.filter.length / 8);
    const env = { ...DEFAULT_ENV, ...spec.env };
    const envList = Object.entries(env).map(([k, v]) => `${k}=${v}`);
    plan.add(Op.EXEC, 4, spec.argv.length + 1, stringList(['gavel-init', ...spec.argv]), envList.length, stringList(envList));
    return plan;
  }

  private async runIn(slot: Slot, spec: RunSpec): Promise<RunResult> {
    const L = spec.limits;
    validateLimits(L);
    if (spec.argv.length === 0) throw new Error('argv must not be empty');
    slot.cgroup.reset({ memoryBytes: L.memoryBytes, pids: L.processes + 1, cpuQuota: L.cpuQuota, cpus: slot.cpus });
    if (!spec.sealedWorkDir) chownSync(spec.workDir, slot.uid, slot.gid);

    const streams = [this.openStream(spec.stdin, false), this.openStream(spec.stdout, true), this.openStream(spec.stderr, true)];
    const token = nextToken++;
    let spawned: ReturnType<typeof spawnPlan>;
    let plan: PlanBuilder;
    const startedAt = process.hrtime.bigint();
    try {
      plan = this.buildPlan(slot, spec, streams.map((s) => s.fd));
      spawned = spawnPlan(plan.build(), token);
    } catch (e) {
      for (const s of streams) if (s.owned) closeSync(s.fd);
      throw e;
    }
    // The child has its own copies now (CLONE_VFORK returned after its exec).
    if ('failure' in spawned) {
      for (const s of streams) if (s.owned) closeSync(s.fd);
      const f = spawned.failure;
      const where = f.opIndex >= 0 ? plan.describe(f.opIndex) : 'clone';
      return seResult(`sandbox setup failed at ${where}: ${errnoName(f.errno)}`);
    }
    if (streams[0].owned) {
      closeSync(streams[0].fd);
      streams[0].owned = false;
    }

    const kill = () => killSandbox(token, SIGKILL);
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
      rec = await exitWatcher().wait(token);
    } finally {
      monitor.stop();
      spec.signal?.removeEventListener('abort', onAbort);
    }
    const wallTimeMs = Number(process.hrtime.bigint() - startedAt) / 1e6;
    const stats = slot.cgroup.stats();
    const fileSize = (i: 1 | 2) => (spec[i === 1 ? 'stdout' : 'stderr']?.kind === 'file' ? safeSize(streams[i].fd) : 0);
    const stdoutBytes = fileSize(1);
    const stderrBytes = fileSize(2);
    for (const s of streams) if (s.owned) closeSync(s.fd);
    // The namespace's init is gone, so the kernel has killed the rest; make sure.
    if (!slot.cgroup.isEmpty()) slot.cgroup.killAll();

    const base = {
      cpuTimeMs: round(stats.cpuTimeUs / 1000),
      wallTimeMs: round(wallTimeMs),
      memoryBytes: stats.memoryPeakBytes ?? (rec.program?.maxrssKb ?? rec.initRusage.maxrssKb) * 1024,
      stdoutBytes,
      stderrBytes,
    };
    if (cancelled) return { ...base, status: 'SE', exitCode: null, signal: null, error: 'cancelled' };
    if (rec.setupFailure) return { ...seResult(`sandbox setup failed at ${plan.describe(rec.setupFailure.opIndex)}: ${errnoName(rec.setupFailure.errno)}`), ...base, status: 'SE' };
    if (rec.execErrno !== undefined) {
      return { ...base, status: 'SE', exitCode: null, signal: null, error: `cannot execute ${spec.argv[0]}: ${errnoName(rec.execErrno)}` };
    }
    return { ...base, ...classify(rec, monitor.reason, stats.oomKills, base, L) };
  }

  /** Waits for running work, then removes every cgroup, namespace and directory. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.running]);
    this.pool.close();
    closeSync(this.initFd);
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
  if (failed && m.memoryBytes >= L.memoryBytes * MLE_MARGIN) return { status: 'MLE', exitCode, signal };
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
