// What every cgroup backend (v1, v2, none) provides, apart from how: the interfaces
// index.ts chooses an implementation of. Kept apart so the backends import these, not
// the module that imports them.
export interface CgroupLimits {
  /** Hard limit; swap is always 0 (v1: memsw = memory; v2: memory.swap.max 0). */
  memoryBytes: number;
  /** pids.max */
  pids: number;
  /** Fraction of one CPU (1 = one CPU); absent = no quota. */
  cpuQuota?: number;
  /** 1..10000 (v2 cpu.weight; v1 mapped to cpu.shares); absent = the default (100). */
  cpuWeight?: number;
  /** cpuset list, e.g. "1"; absent = leave as it is. */
  cpus?: string;
  /** Only where the io controller exists; ignored otherwise. */
  ioWeight?: number;
}

export interface CgroupStats {
  /** CPU time of every process of the slot since the last reset. */
  cpuTimeUs: number;
  /** Peak memory since the last reset; null when the kernel cannot tell (see the v2 backend). */
  memoryPeakBytes: number | null;
  /** Current usage. */
  memoryBytes: number;
  /** OOM kills since the last reset. */
  oomKills: number;
  /** Forks refused by pids.max since the last reset. */
  pidsMaxHits: number;
  /** pids.current (tasks, counted until reaped). */
  processes: number;
}

export interface SlotCgroup {
  readonly name: string;
  /** v1: absolute paths of every `cgroup.procs` the child must write "0" into to join (one per hierarchy), in this order. v2: []. */
  readonly procsFiles: string[];
  /** v2: absolute path of the slot's cgroup dir (for CLONE_INTO_CGROUP, or its cgroup.procs). v1: null. */
  readonly dir: string | null;
  /** Apply limits and zero the counters (cpu usage, peak memory, oom/pids baselines) before a run. */
  reset(limits: CgroupLimits): void;
  /** Cheap read used by the monitor every few ms. */
  cpuTimeUs(): number;
  stats(): CgroupStats;
  /** Kill every process in the cgroup (signals them; use isEmpty() to see them gone). */
  killAll(): void;
  /** True when no process is in the cgroup. */
  isEmpty(): boolean;
  /** Remove the slot's cgroup(s) (kills leftovers first, retries rmdir on EBUSY briefly). */
  destroy(): void;
}

export interface CgroupFeatures {
  memoryPeak: boolean;
  cgroupKill: boolean;
  cloneIntoCgroup: boolean;
  cpuset: boolean;
  io: boolean;
  swapAccounting: boolean;
}

export interface CgroupBackend {
  /** 0: no cgroups (the unlimited development mode, see none.ts). */
  readonly version: 0 | 1 | 2;
  readonly features: CgroupFeatures;
  /** The parent cgroup (v2) or a description of the v1 parents. */
  readonly root: string;
  createSlot(name: string): SlotCgroup;
  /** Remove everything a crashed earlier process left under the parent. Call before createSlot(); live slots are skipped. */
  cleanupStale(): void;
  /** Destroy remaining slots and remove the parent(s). */
  destroy(): void;
  /** One line for the start-up log. */
  describe(): string;
}

export interface CgroupOptions {
  /** Name of the parent cgroup (default "gavel"); tests use a unique name. */
  parentName?: string;
  /** Where cgroupfs is mounted (default /sys/fs/cgroup). */
  mountRoot?: string;
  /**
   * v1 only: put slots in the cpuset hierarchy too, so reset({ cpus }) can pin them. It costs
   * one more cgroup.procs write per run. Default: when the cpuset controller is mounted.
   * (On v2 cpuset is enabled whenever it is available; joining costs nothing extra there.)
   */
  cpuset?: boolean;
}
