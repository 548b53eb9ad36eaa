// cgroup v1 (and hybrid hosts): one hierarchy per controller, so a slot is one directory in
// each of memory, cpu, cpuacct, pids (and cpuset), and a child joins by writing "0" into the
// cgroup.procs of every one of them.
import { existsSync, realpathSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import type { CgroupBackend, CgroupFeatures, CgroupLimits, CgroupStats, SlotCgroup } from './types.js';
import {
  CFS_PERIOD_US, CgFile, CgroupError, checkName, childCgroups, ensureDir, errCode, killDir, killListed,
  keyedValue, quotaToCfs, RECLAIM_ABOVE_BYTES, RECLAIM_SLACK_BYTES, removeTree, checkCgroupLimits, weightToShares,
  wrapFsError,
} from './files.js';

type Ctrl = 'memory' | 'cpu' | 'cpuacct' | 'pids' | 'cpuset';
// pids comes first: procsFiles are joined in this order, so a process in any of the slot's
// cgroups is already counted in pids.current, which makes that a cheap emptiness test.
const REQUIRED: Ctrl[] = ['pids', 'memory', 'cpu', 'cpuacct'];

/** A file only a real hierarchy of that controller has below its root. */
const MARKER: Record<Ctrl, string> = {
  memory: 'memory.limit_in_bytes',
  cpu: 'cpu.cfs_quota_us',
  cpuacct: 'cpuacct.usage',
  pids: 'pids.max',
  cpuset: 'cpuset.cpus',
};

interface Hierarchy {
  ctrls: Ctrl[];
  /** The `gavel` parent inside this hierarchy. */
  parent: string;
}

export interface V1Options {
  parentName: string;
  mountRoot: string;
  cpuset?: boolean;
}

export function openV1(opts: V1Options): CgroupBackend {
  const { parentName, mountRoot } = opts;
  const cpusetMounted = existsSync(join(mountRoot, 'cpuset', 'cpuset.cpus'));
  if (opts.cpuset === true && !cpusetMounted) {
    throw new CgroupError(`cgroup v1: CPU pinning was asked for but the cpuset controller is not mounted at ${join(mountRoot, 'cpuset')}`);
  }
  const ctrls: Ctrl[] = opts.cpuset ?? cpusetMounted ? [...REQUIRED, 'cpuset'] : [...REQUIRED];

  // Controllers may share a hierarchy (e.g. cpu,cpuacct behind two symlinks): group by real path.
  const byMount = new Map<string, Ctrl[]>();
  for (const c of ctrls) {
    const dir = join(mountRoot, c);
    if (!existsSync(dir)) {
      throw new CgroupError(
        `cgroup v1: the ${c} controller is not mounted at ${dir}; gavel needs memory, cpu, cpuacct and pids to enforce limits ` +
          '(in a container, run it with --privileged)',
      );
    }
    const real = realpathSync(dir);
    byMount.set(real, [...(byMount.get(real) ?? []), c]);
  }

  const hierarchies: Hierarchy[] = [];
  const created: string[] = [];
  try {
    for (const [mount, cs] of byMount) {
      const parent = join(mount, parentName);
      if (ensureDir(parent)) created.push(parent);
      for (const c of cs) {
        if (!existsSync(join(parent, MARKER[c]))) {
          throw new CgroupError(`cgroup v1: ${join(mountRoot, c)} is not a ${c} hierarchy (${MARKER[c]} missing in ${parent})`);
        }
      }
      if (cs.includes('cpuset')) inheritCpuset(parent, mount);
      if (cs.includes('memory')) {
        // Modern kernels force hierarchy on; older ones need it so a slot's limit covers its children.
        const uh = new CgFile(join(parent, 'memory.use_hierarchy'));
        try {
          if (uh.read().trim() === '0') uh.write('1');
        } catch {
          // not fatal: every slot carries its own limit
        } finally {
          uh.close();
        }
      }
      hierarchies.push({ ctrls: cs, parent });
    }
  } catch (e) {
    for (const dir of created.reverse()) {
      try {
        rmdirSync(dir);
      } catch {
        // best effort; cleanupStale() on the next start handles the rest
      }
    }
    throw e;
  }
  // Parents this instance does not use (cpuset when not pinning) may still hold a crashed run's slots.
  const unused = existsSync(join(mountRoot, 'cpuset')) && !ctrls.includes('cpuset')
    ? [join(realpathSync(join(mountRoot, 'cpuset')), parentName)]
    : [];
  return new V1Backend(parentName, mountRoot, hierarchies, unused);
}

/** A new cpuset cgroup has empty cpus/mems and refuses tasks until they are filled in. */
function inheritCpuset(dir: string, from: string): void {
  for (const key of ['cpuset.cpus', 'cpuset.mems']) {
    const mine = new CgFile(join(dir, key));
    const theirs = new CgFile(join(from, key));
    try {
      if (mine.read().trim() === '') mine.write(theirs.read().trim());
    } finally {
      mine.close();
      theirs.close();
    }
  }
}

class V1Backend implements CgroupBackend {
  readonly version = 1 as const;
  readonly features: CgroupFeatures;
  readonly root: string;
  /** Live slots by name. */
  readonly slots = new Map<string, V1Slot>();

  constructor(
    readonly parentName: string,
    readonly mountRoot: string,
    readonly hierarchies: Hierarchy[],
    private readonly unusedParents: string[],
  ) {
    const memory = this.parentOf('memory')!;
    this.features = {
      memoryPeak: true,
      cgroupKill: false,
      cloneIntoCgroup: false,
      cpuset: this.parentOf('cpuset') !== undefined,
      io: false,
      swapAccounting: existsSync(join(memory, 'memory.memsw.limit_in_bytes')),
    };
    this.root = `${mountRoot}/{${hierarchies.flatMap((h) => h.ctrls).join(',')}}/${parentName}`;
  }

  parentOf(c: Ctrl): string | undefined {
    return this.hierarchies.find((h) => h.ctrls.includes(c))?.parent;
  }

  createSlot(name: string): SlotCgroup {
    checkName('slot name', name);
    if (this.slots.has(name)) throw new CgroupError(`cgroup: slot ${name} already exists under ${this.root}`);
    const slot = new V1Slot(this, name);
    this.slots.set(name, slot);
    return slot;
  }

  cleanupStale(): void {
    for (const h of this.hierarchies) {
      for (const child of childCgroups(h.parent)) {
        if (this.slots.has(child.slice(h.parent.length + 1))) continue;
        removeTree(child, killDir);
      }
    }
    // A parent in a hierarchy shared with this one (co-mounted) is never "unused", so this cannot remove ours.
    for (const p of this.unusedParents) if (!this.hierarchies.some((h) => h.parent === p)) removeTree(p, killDir);
  }

  destroy(): void {
    for (const slot of [...this.slots.values()]) slot.destroy();
    for (const h of this.hierarchies) removeTree(h.parent, killDir);
  }

  describe(): string {
    const extras = [
      this.features.cpuset ? 'cpuset' : 'no cpuset',
      this.features.swapAccounting ? 'swap accounting' : 'NO swap accounting: swap is not limited',
    ];
    return `cgroup v1 (memory, cpu, cpuacct, pids; ${extras.join('; ')}) at ${this.root}`;
  }
}

class V1Slot implements SlotCgroup {
  readonly procsFiles: string[];
  readonly dir = null;
  private readonly dirs: string[];
  private readonly procs: CgFile[];
  private readonly memLimit: CgFile;
  private readonly memswLimit: CgFile | null;
  private readonly memMaxUsage: CgFile;
  private readonly memswMaxUsage: CgFile | null;
  private readonly memUsage: CgFile;
  private readonly oomControl: CgFile;
  private readonly forceEmpty: CgFile;
  private readonly memStat: CgFile;
  private readonly cfsQuota: CgFile;
  private readonly shares: CgFile;
  private readonly cpuUsage: CgFile;
  private readonly pidsMax: CgFile;
  private readonly pidsCurrent: CgFile;
  private readonly pidsEvents: CgFile;
  private readonly cpusetCpus: CgFile | null;
  private readonly all: CgFile[] = [];

  // What the files hold now, so reset() writes only what changes.
  private applied = { mem: NaN, memsw: NaN, pids: NaN, quota: NaN, shares: NaN, cpus: '' };
  private oomBase = 0;
  private pidsBase = 0;
  private destroyed = false;

  constructor(private readonly backend: V1Backend, readonly name: string) {
    const made: string[] = [];
    try {
      this.dirs = backend.hierarchies.map((h) => {
        const dir = join(h.parent, name);
        if (ensureDir(dir)) made.push(dir);
        else killDir(dir); // left by a crashed run: reuse it, but not its processes
        if (h.ctrls.includes('cpuset')) inheritCpuset(dir, h.parent);
        return dir;
      });
      this.procsFiles = this.dirs.map((d) => join(d, 'cgroup.procs'));
      this.procs = this.procsFiles.map((f) => CgFile.uncached(f));

      const at = (c: Ctrl, file: string) => this.file(join(backend.parentOf(c)!, name, file));
      const swap = backend.features.swapAccounting;
      this.memLimit = at('memory', 'memory.limit_in_bytes');
      this.memswLimit = swap ? at('memory', 'memory.memsw.limit_in_bytes') : null;
      this.memMaxUsage = at('memory', 'memory.max_usage_in_bytes');
      this.memswMaxUsage = swap ? at('memory', 'memory.memsw.max_usage_in_bytes') : null;
      this.memUsage = at('memory', 'memory.usage_in_bytes');
      this.oomControl = at('memory', 'memory.oom_control');
      this.forceEmpty = at('memory', 'memory.force_empty');
      this.memStat = at('memory', 'memory.stat');
      this.cfsQuota = at('cpu', 'cpu.cfs_quota_us');
      this.shares = at('cpu', 'cpu.shares');
      this.cpuUsage = at('cpuacct', 'cpuacct.usage');
      this.pidsMax = at('pids', 'pids.max');
      this.pidsCurrent = at('pids', 'pids.current');
      this.pidsEvents = at('pids', 'pids.events');
      this.cpusetCpus = backend.features.cpuset ? at('cpuset', 'cpuset.cpus') : null;

      const period = at('cpu', 'cpu.cfs_period_us');
      if (period.readNumber() !== CFS_PERIOD_US) period.write(String(CFS_PERIOD_US));
      if (!swap) {
        // Without memsw the limit covers RAM only; at least keep this cgroup from swapping.
        try {
          at('memory', 'memory.swappiness').write('0');
        } catch {
          // not every kernel allows it (e.g. when the hierarchy root forbids it)
        }
      }
      this.readApplied();
    } catch (e) {
      this.closeFiles();
      for (const dir of made.reverse()) {
        try {
          rmdirSync(dir);
        } catch {
          // best effort
        }
      }
      throw e;
    }
  }

  private file(path: string): CgFile {
    const f = new CgFile(path);
    this.all.push(f);
    return f;
  }

  /** Re-reads the limits from the kernel (at start, and after a failed write left them unknown). */
  private readApplied(): void {
    this.applied.mem = this.memLimit.readNumber();
    this.applied.memsw = this.memswLimit ? this.memswLimit.readNumber() : NaN;
    this.applied.pids = this.pidsMax.readNumber();
    this.applied.quota = this.cfsQuota.readNumber();
    this.applied.shares = this.shares.readNumber();
    this.applied.cpus = this.cpusetCpus ? this.cpusetCpus.read().trim() : '';
  }

  reset(l: CgroupLimits): void {
    this.assertLive();
    checkCgroupLimits(l);
    if (l.cpus !== undefined && !this.cpusetCpus) {
      throw new CgroupError(`cgroup v1: slot ${this.name} cannot be pinned to CPUs ${l.cpus}: the backend was opened without the cpuset hierarchy`);
    }
    const a = this.applied;
    try {
      if (l.memoryBytes !== a.mem) this.setMemory(l.memoryBytes);
      if (l.pids !== a.pids) {
        this.pidsMax.write(String(l.pids));
        a.pids = l.pids;
      }
      const quota = quotaToCfs(l.cpuQuota);
      if (quota !== a.quota) {
        this.cfsQuota.write(String(quota));
        a.quota = quota;
      }
      const shares = weightToShares(l.cpuWeight ?? 100);
      if (shares !== a.shares) {
        this.shares.write(String(shares));
        a.shares = shares;
      }
      if (l.cpus !== undefined && l.cpus !== a.cpus) {
        this.cpusetCpus!.write(l.cpus);
        a.cpus = l.cpus;
      }
    } catch (e) {
      this.readApplied();
      throw e;
    }
    this.reclaimPageCache();
    // Counters: cpu and peak memory reset by writing 0; the OOM and pids counts cannot be reset.
    this.cpuUsage.write('0');
    this.memMaxUsage.write('0');
    this.memswMaxUsage?.write('0');
    this.oomBase = this.oomControl.readKey('oom_kill');
    this.pidsBase = this.pidsEvents.readKey('max');
  }

  /**
   * v1 has no memory.reclaim, and force_empty needs an empty cgroup (init lives here). Lowering
   * memory.limit_in_bytes reclaims synchronously, so the limit dips to what is not file cache
   * (plus slack for init) and comes straight back. EBUSY only means some cache could not go.
   */
  private reclaimPageCache(): void {
    const usage = this.memUsage.readNumber();
    if (usage <= RECLAIM_ABOVE_BYTES) return;
    const stat = this.memStat.read();
    const file = keyedValue(stat, 'total_active_file') + keyedValue(stat, 'total_inactive_file');
    const target = Math.max(usage - file, 0) + RECLAIM_SLACK_BYTES;
    if (target >= usage || target >= this.applied.mem) return;
    try {
      this.memLimit.write(String(target));
    } catch (e) {
      if (errCode(e) !== 'EBUSY') throw e;
    } finally {
      this.memLimit.write(String(this.applied.mem));
    }
  }

  /** memsw must never drop below the memory limit, so the write order depends on the direction. */
  private setMemory(bytes: number): void {
    const a = this.applied;
    if (!this.memswLimit) {
      this.writeMemLimit(this.memLimit, bytes);
      a.mem = bytes;
      return;
    }
    if (bytes > a.memsw) {
      this.writeMemLimit(this.memswLimit, bytes);
      a.memsw = bytes;
      this.writeMemLimit(this.memLimit, bytes);
      a.mem = bytes;
    } else {
      this.writeMemLimit(this.memLimit, bytes);
      a.mem = bytes;
      this.writeMemLimit(this.memswLimit, bytes);
      a.memsw = bytes;
    }
  }

  /** Lowering a limit below what an earlier run left charged (page cache) fails with EBUSY until it is reclaimed. */
  private writeMemLimit(file: CgFile, bytes: number): void {
    try {
      file.write(String(bytes));
    } catch (e) {
      if (errCode(e) !== 'EBUSY' || !this.isEmpty()) throw e;
      try {
        this.forceEmpty.write('0');
        file.write(String(bytes));
      } catch (e2) {
        throw new CgroupError(
          `cgroup v1: cannot lower the memory limit of slot ${this.name} to ${bytes} bytes: ` +
            `${this.memUsage.readNumber()} bytes are still charged and cannot be reclaimed (${(e2 as Error).message})`,
          errCode(e2),
          { cause: e2 },
        );
      }
    }
  }

  cpuTimeUs(): number {
    return Math.floor(this.cpuUsage.readNumber() / 1000);
  }

  stats(): CgroupStats {
    return {
      cpuTimeUs: this.cpuTimeUs(),
      memoryPeakBytes: this.memMaxUsage.readNumber(),
      memoryBytes: this.memUsage.readNumber(),
      oomKills: Math.max(0, this.oomControl.readKey('oom_kill') - this.oomBase),
      pidsMaxHits: Math.max(0, this.pidsEvents.readKey('max') - this.pidsBase),
      processes: this.pidsCurrent.readNumber(),
    };
  }

  killAll(): void {
    killListed(this.procs);
  }

  isEmpty(): boolean {
    // pids.current also counts exited-but-unreaped tasks, so only a 0 there is conclusive.
    if (this.pidsCurrent.readNumber() === 0) return true;
    for (const f of this.procs) if (f.read().length > 0) return false;
    return true;
  }

  destroy(): void {
    if (this.destroyed) return;
    try {
      if (this.dirs.every((d) => existsSync(d))) this.killAll();
    } catch (e) {
      throw wrapFsError(`cannot kill the processes of slot ${this.name}`, e);
    } finally {
      this.closeFiles();
    }
    for (const dir of this.dirs) removeTree(dir, killDir);
    this.destroyed = true;
    this.backend.slots.delete(this.name);
  }

  private closeFiles(): void {
    for (const f of this.all) f.close();
  }

  private assertLive(): void {
    if (this.destroyed) throw new CgroupError(`cgroup: slot ${this.name} was destroyed`);
  }
}
