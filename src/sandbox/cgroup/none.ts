// No cgroups at all: the explicitly requested, development-only "unlimited" mode for
// hosts where the service cannot manage cgroups (an unprivileged container, say).
// Memory and process limits are not enforced; CPU time is limited only by RLIMIT_CPU
// (whole seconds) and measured from the program's rusage; wall time still works.
import type { CgroupBackend, CgroupLimits, CgroupStats, SlotCgroup } from './types.js';

class NoSlot implements SlotCgroup {
  readonly procsFiles: string[] = [];
  readonly dir = null;
  constructor(readonly name: string) {}
  reset(_limits: CgroupLimits): void {}
  cpuTimeUs(): number {
    return 0;
  }
  stats(): CgroupStats {
    return { cpuTimeUs: Number.NaN, memoryPeakBytes: null, memoryBytes: 0, oomKills: 0, pidsMaxHits: 0, processes: 0 };
  }
  killAll(): void {}
  isEmpty(): boolean {
    return true;
  }
  destroy(): void {}
}

export function openNone(reason: string): CgroupBackend {
  return {
    version: 0,
    features: { memoryPeak: false, cgroupKill: false, cloneIntoCgroup: false, cpuset: false, io: false, swapAccounting: false },
    root: '(none)',
    createSlot: (name) => new NoSlot(name),
    cleanupStale: () => {},
    destroy: () => {},
    describe: () => `NO CGROUPS — unlimited development mode (memory and process limits are not enforced; CPU time only to whole seconds): ${reason}`,
  };
}
