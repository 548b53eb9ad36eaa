// The cgroup backend: one interface over cgroup v1 (one cgroup per controller hierarchy)
// and cgroup v2 (one unified cgroup). Every pool slot owns one cgroup that is reset and
// reused run after run, all below a parent named after the instance ("gavel").
import { existsSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import { CgroupError, checkName } from './files.js';
import { openV1 } from './v1.js';
import { openV2 } from './v2.js';

import type { CgroupBackend, CgroupOptions } from './types.js';

export type { CgroupBackend, CgroupFeatures, CgroupLimits, CgroupOptions, CgroupStats, SlotCgroup } from './types.js';
export { CgroupError, keyedValue, parseControllers, parsePids, parseUnifiedPath, quotaToCfs, weightToShares } from './files.js';

export const DEFAULT_MOUNT_ROOT = '/sys/fs/cgroup';
const CGROUP2_SUPER_MAGIC = 0x63677270;

/** 2 when `mountRoot` is a cgroup2 mount (pure v2 host), 1 for v1 and hybrid hosts. */
export function detectCgroupVersion(mountRoot: string = DEFAULT_MOUNT_ROOT): 1 | 2 {
  if (existsSync(join(mountRoot, 'cgroup.controllers'))) {
    try {
      if (statfsSync(mountRoot).type === CGROUP2_SUPER_MAGIC) return 2;
    } catch {
      return 2; // statfs unsupported here: cgroup.controllers at the top is v2 enough
    }
  }
  if (['memory', 'cpu', 'cpuacct', 'pids'].some((c) => existsSync(join(mountRoot, c)))) return 1;
  throw new CgroupError(
    `cgroup: no cgroup filesystem found at ${mountRoot} (neither cgroup2 with cgroup.controllers nor v1 controller directories); ` +
      'mount cgroupfs there, or in a container run with --privileged',
  );
}

/** Detects v1 vs v2 and builds the backend; throws with advice when limits cannot be enforced. */
export function openCgroups(opts: CgroupOptions = {}): CgroupBackend {
  const parentName = opts.parentName ?? 'gavel';
  checkName('parentName', parentName);
  const mountRoot = opts.mountRoot ?? DEFAULT_MOUNT_ROOT;
  return detectCgroupVersion(mountRoot) === 2
    ? openV2({ parentName, mountRoot })
    : openV1({ parentName, mountRoot, cpuset: opts.cpuset });
}
