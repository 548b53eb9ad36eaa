// cgroup v2: one unified hierarchy. The `gavel` parent sits under the service's own cgroup
// (or the root), with memory, pids and cpu (and cpuset, io where available) enabled down to
// the slots. A child joins with CLONE_INTO_CGROUP on the slot directory, or by writing
// cgroup.procs.
import { existsSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { CgroupBackend, CgroupFeatures, CgroupLimits, CgroupStats, SlotCgroup } from './types.js';
import {
  CFS_PERIOD_US, CgFile, CgroupError, checkName, childCgroups, ensureDir, errCode, kernelAtLeast, keyedValue, killDir,
  killListed, parseControllers, parsePids, parseUnifiedPath, quotaToCfs, RECLAIM_ABOVE_BYTES, removeTree,
  checkCgroupLimits, wrapFsError,
} from './files.js';

const REQUIRED = ['cpu', 'memory', 'pids'];
const OPTIONAL = ['cpuset', 'io'];
/** Leaf the service's own processes move into when its cgroup must hand controllers down. */
export const SERVICE_LEAF = 'gavel-service';

export interface V2Options {
  parentName: string;
  mountRoot: string;
  /** /proc/self/cgroup content (tests pass their own). */
  procSelfCgroup?: string;
}

/** Where the `gavel` parent goes: the service's own cgroup, or its parent if we already moved into the leaf. */
export function anchorCgroup(mountRoot: string, procSelfCgroup: string): string {
  const rel = parseUnifiedPath(procSelfCgroup);
  if (rel === null) throw new CgroupError('cgroup v2: /proc/self/cgroup has no "0::" line, so this process is not in a cgroup2 hierarchy');
  if (rel.startsWith('/..')) {
    throw new CgroupError(`cgroup v2: this process's cgroup (${rel}) is outside the visible cgroup tree at ${mountRoot}; mount cgroupfs from inside the cgroup namespace`);
  }
  const own = rel === '/' ? mountRoot : join(mountRoot, rel);
  return basename(own) === SERVICE_LEAF ? dirname(own) : own;
}

export function openV2(opts: V2Options): CgroupBackend {
  const { parentName, mountRoot } = opts;
  const own = anchorCgroup(mountRoot, opts.procSelfCgroup ?? readFileSync('/proc/self/cgroup', 'utf8'));
  if (!opts.procSelfCgroup) checkAnchor(own);
  const available = readControllers(join(own, 'cgroup.controllers'));
  const missing = REQUIRED.filter((c) => !available.has(c));
  if (missing.length) {
    throw new CgroupError(
      `cgroup v2: controller(s) ${missing.join(', ')} not available in ${own} (it has: ${[...available].join(' ') || 'none'}); ` +
        'delegate them to the service (systemd: Delegate=yes) or run it as root in the root cgroup',
    );
  }
  const wanted = [...REQUIRED, ...OPTIONAL.filter((c) => available.has(c))];
  const movedTo = enableControllers(own, wanted, true);

  const parent = join(own, parentName);
  const created = ensureDir(parent);
  try {
    enableControllers(parent, wanted, false);
  } catch (e) {
    if (created) removeTree(parent, killV2);
    throw e;
  }
  return new V2Backend(parent, wanted, movedTo);
}

/**
 * /proc/self/cgroup is relative to our cgroup namespace, the mount may show another one
 * (a container with a private cgroup namespace and the host's cgroupfs bound in): then
 * the path we computed is not where we are, and everything made there would escape the
 * container's limits. Our pid, or the leaf we moved into, must be there.
 */
function checkAnchor(own: string): void {
  const pid = String(process.pid);
  const listed = (dir: string) => {
    try {
      return readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').includes(pid);
    } catch {
      return false;
    }
  };
  if (!listed(own) && !listed(join(own, SERVICE_LEAF))) {
    throw new CgroupError(
      `cgroup v2: this process (pid ${pid}) is not in ${own}, where /proc/self/cgroup places it: the cgroupfs mounted at ` +
        'the cgroup root belongs to another cgroup namespace. Mount cgroupfs from inside the container\'s own cgroup ' +
        'namespace (e.g. docker/podman --privileged, or --cgroupns=host with the host\'s /sys/fs/cgroup)',
    );
  }
}

function readControllers(path: string): Set<string> {
  const f = new CgFile(path);
  try {
    return parseControllers(f.read());
  } catch (e) {
    if (errCode(e) === 'ENOENT') throw new CgroupError(`cgroup v2: ${path} does not exist; is cgroup2 mounted at ${dirname(path)}?`, 'ENOENT');
    throw e;
  } finally {
    f.close();
  }
}

/**
 * Enables `wanted` in dir/cgroup.subtree_control. A non-root cgroup that holds processes refuses
 * (EBUSY, the no-internal-process rule); with `moveOut`, its processes, this service's among
 * them, then move into a leaf child first. Returns that leaf, if it was used.
 */
function enableControllers(dir: string, wanted: string[], moveOut: boolean): string | null {
  const sc = new CgFile(join(dir, 'cgroup.subtree_control'));
  try {
    const need = wanted.filter((c) => !parseControllers(sc.read()).has(c));
    if (need.length === 0) return null;
    const line = need.map((c) => `+${c}`).join(' ');
    try {
      sc.write(line);
      return null;
    } catch (e) {
      if (errCode(e) !== 'EBUSY' || !moveOut) throw e;
    }
    const leaf = moveProcessesToLeaf(dir);
    try {
      sc.write(line);
    } catch (e) {
      throw new CgroupError(
        `cgroup v2: cannot enable ${line} in ${sc.path} even after moving its processes to ${leaf}: ${(e as Error).message}`,
        errCode(e),
        { cause: e },
      );
    }
    return leaf;
  } finally {
    sc.close();
  }
}

function moveProcessesToLeaf(dir: string): string {
  const leaf = join(dir, SERVICE_LEAF);
  ensureDir(leaf);
  const from = CgFile.uncached(join(dir, 'cgroup.procs'));
  const to = new CgFile(join(leaf, 'cgroup.procs'));
  try {
    // Processes may fork while we move them; repeat until the cgroup reads empty.
    for (let pass = 0; pass < 100; pass++) {
      const pids = parsePids(from.read());
      if (pids.length === 0) return leaf;
      for (const pid of pids) {
        try {
          to.write(String(pid));
        } catch (e) {
          if (errCode(e) !== 'ESRCH') throw e;
        }
      }
    }
    throw new CgroupError(`cgroup v2: processes in ${dir} keep appearing; cannot move them all into ${leaf}`);
  } finally {
    from.close();
    to.close();
  }
}

/** Empties one cgroup: cgroup.kill (5.14+) is atomic against forks; else SIGKILL pid by pid. */
function killV2(dir: string): void {
  const kill = join(dir, 'cgroup.kill');
  if (!existsSync(kill)) return killDir(dir);
  const f = new CgFile(kill);
  try {
    f.write('1');
  } catch (e) {
    if (errCode(e) !== 'ENOENT' && errCode(e) !== 'ENODEV') throw e;
  } finally {
    f.close();
  }
}

class V2Backend implements CgroupBackend {
  readonly version = 2 as const;
  readonly features: CgroupFeatures;
  /** Whether writing memory.peak resets it (kernel 6.12+); decided by the first slot reset. */
  memoryPeakResettable: boolean | undefined;
  readonly slots = new Map<string, V2Slot>();

  constructor(
    readonly root: string,
    readonly controllers: string[],
    /** The leaf the service's processes were moved into, if that was needed. */
    readonly serviceLeaf: string | null,
  ) {
    const has = (f: string) => existsSync(join(root, f));
    this.features = {
      memoryPeak: has('memory.peak'),
      cgroupKill: has('cgroup.kill'),
      cloneIntoCgroup: kernelAtLeast(release(), 5, 7),
      cpuset: controllers.includes('cpuset'),
      io: controllers.includes('io'),
      swapAccounting: has('memory.swap.max'),
    };
  }

  createSlot(name: string): SlotCgroup {
    checkName('slot name', name);
    if (this.slots.has(name)) throw new CgroupError(`cgroup: slot ${name} already exists under ${this.root}`);
    const slot = new V2Slot(this, name);
    this.slots.set(name, slot);
    return slot;
  }

  cleanupStale(): void {
    for (const child of childCgroups(this.root)) {
      if (this.slots.has(basename(child))) continue;
      removeTree(child, killV2);
    }
  }

  destroy(): void {
    for (const slot of [...this.slots.values()]) slot.destroy();
    // The service leaf and the controllers enabled above us stay: we still live in that leaf.
    removeTree(this.root, killV2);
  }

  describe(): string {
    const f = this.features;
    const extras = [
      f.memoryPeak ? 'memory.peak' : 'no memory.peak',
      f.cgroupKill ? 'cgroup.kill' : 'no cgroup.kill',
      f.cloneIntoCgroup ? 'clone-into-cgroup' : 'no clone-into-cgroup',
      f.swapAccounting ? 'swap accounting' : 'NO swap accounting: swap is not limited',
    ];
    const moved = this.serviceLeaf ? `; service processes moved to ${this.serviceLeaf}` : '';
    return `cgroup v2 (${this.controllers.join(', ')}; ${extras.join('; ')}) at ${this.root}${moved}`;
  }
}

class V2Slot implements SlotCgroup {
  readonly procsFiles: string[] = [];
  readonly dir: string;
  private readonly all: CgFile[] = [];
  private readonly memMax: CgFile;
  private readonly pidsMax: CgFile;
  private readonly cpuMax: CgFile;
  private readonly cpuWeight: CgFile;
  private readonly cpusetCpus: CgFile | null;
  private readonly ioWeight: { file: CgFile; bfq: boolean } | null;
  private readonly cpuStat: CgFile;
  private readonly memCurrent: CgFile;
  private readonly memStat: CgFile;
  /** memory.reclaim (kernel 5.19+); null before. */
  private readonly memReclaim: CgFile | null;
  private readonly memEvents: CgFile;
  private readonly pidsEvents: CgFile;
  private readonly pidsCurrent: CgFile;
  private readonly events: CgFile;
  private readonly procs: CgFile;
  private readonly kill: CgFile | null;
  /** memory.peak through one read-write fd: on 6.12+ a write resets the peak seen by that fd. */
  private readonly peakRw: CgFile | null;
  private readonly peakRo: CgFile | null;

  private applied = { mem: NaN, pids: NaN, cpuMax: '', weight: NaN, cpus: '', io: NaN };
  private cpuBase = 0;
  private oomBase = 0;
  private pidsBase = 0;
  private peakBase = 0;
  private destroyed = false;

  constructor(private readonly backend: V2Backend, readonly name: string) {
    this.dir = join(backend.root, name);
    const made = ensureDir(this.dir);
    if (!made) killV2(this.dir); // left by a crashed run: reuse it, but not its processes
    try {
      const at = (file: string) => this.file(join(this.dir, file));
      const has = (file: string) => existsSync(join(this.dir, file));
      this.memMax = at('memory.max');
      this.pidsMax = at('pids.max');
      this.cpuMax = at('cpu.max');
      this.cpuWeight = at('cpu.weight');
      this.cpusetCpus = backend.features.cpuset ? at('cpuset.cpus') : null;
      this.ioWeight = has('io.weight') ? { file: at('io.weight'), bfq: false } : has('io.bfq.weight') ? { file: at('io.bfq.weight'), bfq: true } : null;
      this.cpuStat = at('cpu.stat');
      this.memCurrent = at('memory.current');
      this.memStat = at('memory.stat');
      this.memReclaim = has('memory.reclaim') ? at('memory.reclaim') : null;
      this.memEvents = at('memory.events');
      this.pidsEvents = at('pids.events');
      this.pidsCurrent = at('pids.current');
      this.events = at('cgroup.events');
      this.procs = CgFile.uncached(join(this.dir, 'cgroup.procs'));
      this.kill = backend.features.cgroupKill ? at('cgroup.kill') : null;
      const peak = backend.features.memoryPeak;
      this.peakRw = peak ? this.file(join(this.dir, 'memory.peak'), true) : null;
      this.peakRo = peak ? at('memory.peak') : null;

      // Fixed for the slot's lifetime: no swap, and an OOM kills the whole run, not one process.
      if (backend.features.swapAccounting) at('memory.swap.max').write('0');
      if (has('memory.oom.group')) at('memory.oom.group').write('1');

      this.applied.mem = this.memMax.readNumber();
      this.applied.pids = this.pidsMax.readNumber();
      this.applied.cpuMax = this.cpuMax.read().trim();
      this.applied.weight = this.cpuWeight.readNumber();
      this.applied.cpus = this.cpusetCpus ? this.cpusetCpus.read().trim() : '';
    } catch (e) {
      this.closeFiles();
      if (made) removeTree(this.dir, killV2);
      throw e;
    }
  }

  private file(path: string, rw = false): CgFile {
    const f = new CgFile(path, rw);
    this.all.push(f);
    return f;
  }

  reset(l: CgroupLimits): void {
    if (this.destroyed) throw new CgroupError(`cgroup: slot ${this.name} was destroyed`);
    checkCgroupLimits(l);
    if (l.cpus !== undefined && !this.cpusetCpus) {
      throw new CgroupError(`cgroup v2: slot ${this.name} cannot be pinned to CPUs ${l.cpus}: the cpuset controller is not available in ${this.backend.root}`);
    }
    const a = this.applied;
    // Writes only what changed; on failure the cached value stays stale-safe (NaN/'' forces a rewrite next time).
    const set = <K extends keyof typeof a>(key: K, value: (typeof a)[K], file: CgFile, text: string) => {
      if (a[key] === value) return;
      a[key] = (typeof value === 'number' ? NaN : '') as (typeof a)[K];
      file.write(text);
      a[key] = value;
    };
    set('mem', l.memoryBytes, this.memMax, String(l.memoryBytes));
    set('pids', l.pids, this.pidsMax, String(l.pids));
    const quota = quotaToCfs(l.cpuQuota);
    const cpuMax = `${quota < 0 ? 'max' : quota} ${CFS_PERIOD_US}`;
    set('cpuMax', cpuMax, this.cpuMax, cpuMax);
    const weight = l.cpuWeight ?? 100;
    set('weight', weight, this.cpuWeight, String(weight));
    if (l.cpus !== undefined) set('cpus', l.cpus, this.cpusetCpus!, l.cpus);
    if (l.ioWeight !== undefined && this.ioWeight) {
      // io.bfq.weight only takes 1..1000.
      const w = this.ioWeight.bfq ? Math.min(1000, l.ioWeight) : l.ioWeight;
      set('io', w, this.ioWeight.file, `default ${w}`);
    }

    // usage_usec and the event counts cannot be reset: keep baselines.
    this.cpuBase = this.cpuStat.readKey('usage_usec');
    this.oomBase = this.memEvents.readKey('oom_kill');
    this.pidsBase = this.pidsEvents.readKey('max');
    this.reclaimPageCache();
    this.resetPeak();
  }

  /** Asks the kernel to reclaim the slot's file cache; EAGAIN only means not all of it could go. */
  private reclaimPageCache(): void {
    if (!this.memReclaim || this.memCurrent.readNumber() <= RECLAIM_ABOVE_BYTES) return;
    // The file LRUs, not "file": that also counts tmpfs pages, which cannot go without swap.
    const stat = this.memStat.read();
    const file = keyedValue(stat, 'active_file') + keyedValue(stat, 'inactive_file');
    if (file <= 0) return;
    try {
      this.memReclaim.write(String(file));
    } catch (e) {
      if (errCode(e) !== 'EAGAIN') throw e;
    }
  }

  private resetPeak(): void {
    if (!this.peakRw) return;
    if (this.backend.memoryPeakResettable !== false) {
      try {
        this.peakRw.write('reset');
        this.backend.memoryPeakResettable = true;
        return;
      } catch (e) {
        if (this.backend.memoryPeakResettable === true) throw e;
        this.backend.memoryPeakResettable = false; // before 6.12 memory.peak is read-only
        this.peakRw.close();
      }
    }
    this.peakBase = this.peakRo!.readNumber();
  }

  cpuTimeUs(): number {
    return this.cpuStat.readKey('usage_usec') - this.cpuBase;
  }

  /**
   * memoryPeakBytes: exact on 6.12+. Before that memory.peak is the cgroup's all-time peak, so
   * it is only known to belong to this run when it rose above the value at reset(); otherwise null.
   */
  private peak(): number | null {
    if (!this.peakRw) return null;
    if (this.backend.memoryPeakResettable) return this.peakRw.readNumber();
    const p = this.peakRo!.readNumber();
    return p > this.peakBase ? p : null;
  }

  stats(): CgroupStats {
    return {
      cpuTimeUs: this.cpuTimeUs(),
      memoryPeakBytes: this.peak(),
      memoryBytes: this.memCurrent.readNumber(),
      oomKills: Math.max(0, this.memEvents.readKey('oom_kill') - this.oomBase),
      pidsMaxHits: Math.max(0, this.pidsEvents.readKey('max') - this.pidsBase),
      processes: this.pidsCurrent.readNumber(),
    };
  }

  killAll(): void {
    if (this.kill) this.kill.write('1');
    else killListed([this.procs]);
  }

  isEmpty(): boolean {
    return this.events.readKey('populated') === 0;
  }

  destroy(): void {
    if (this.destroyed) return;
    try {
      if (existsSync(this.dir)) this.killAll();
    } catch (e) {
      throw wrapFsError(`cannot kill the processes of slot ${this.name}`, e);
    } finally {
      this.closeFiles();
    }
    removeTree(this.dir, killV2);
    this.destroyed = true;
    this.backend.slots.delete(this.name);
  }

  private closeFiles(): void {
    for (const f of this.all) f.close();
  }
}
