// The two plans a slot runs in a clone child (native/child.c), built once per slot: the
// template plan that makes the slot's mount namespace, and the cell plan that every cell
// of the slot starts with, up to gavel-init waiting for its first go message.
import { boundEtcDirs, boundSystemDirs } from './filesystem.js';
import { CLONE, MS } from './linux.js';
import { PlanBuilder } from './plan.js';
import type { Slot } from './pool.js';
import { DEFAULT_TMP_BYTES, FD_CONTROL, FD_STATUS, INIT_CONTROL_FD, INIT_EXE_FD, INIT_STATUS_FD, Op, tmpOptions } from './protocol.js';

const RO_REMOUNT = MS.BIND | MS.REMOUNT | MS.RDONLY | MS.NOSUID | MS.NODEV;

function bindReadOnly(plan: PlanBuilder, src: string, dst: string): void {
  plan.add(Op.MOUNT, src, dst, null, MS.BIND | MS.REC, null);
  plan.add(Op.MOUNT, null, dst, null, RO_REMOUNT, null);
}

/**
 * The slot's template mount namespace: its root skeleton (filesystem.ts) as the read-only
 * root, /usr (and any other real system directory) and the /etc directories programs
 * read at start, read-only. It ends in EXIT; the
 * namespace lives on through the fd OPEN_NS leaves in our fd table. A cell then copies
 * the template (a handful of mounts, no pivot_root, no copy of the host's mount table to
 * detach).
 */
export function templatePlan(rootDir: string): PlanBuilder {
  const R = rootDir;
  const plan = new PlanBuilder();
  plan.cloneFlags = CLONE.NEWNS;
  plan.add(Op.OPEN_NS, '/proc/self/ns/mnt');
  // Nothing we mount may propagate back to the host.
  plan.add(Op.MOUNT, null, '/', null, MS.REC | MS.PRIVATE, null);
  // The skeleton becomes a mount point of its own, so pivot_root can use it.
  plan.add(Op.MOUNT, R, R, null, MS.BIND, null);
  for (const d of [...boundSystemDirs(), ...boundEtcDirs()]) bindReadOnly(plan, d, R + d);
  plan.add(Op.PIVOT, R);
  // Read-only from here on, except what gets mounted on top. Not nodev: /dev's nodes live here.
  plan.add(Op.MOUNT, null, '/', null, MS.BIND | MS.REMOUNT | MS.RDONLY | MS.NOSUID, null);
  plan.add(Op.EXIT, 0);
  return plan;
}

/** The fds the cell plan starts from: /dev/null for stdio and the gavel-init binary. */
export interface CellFds { devNull: number; init: number }

/**
 * A cell of `slot`: its cgroup, the slot's pooled namespaces, a new pid namespace, a
 * private copy of the template with its own /proc and a default-size /tmp, then
 * gavel-init exec'd as pid 1 with its fds in place. /box, /data and extra read-only paths
 * differ per run and are attached by init from detached mount trees.
 */
export function cellPlan(slot: Slot, fds: CellFds): PlanBuilder {
  const plan = new PlanBuilder();
  plan.cloneFlags = CLONE.NEWPID;
  plan.cgroupFd = slot.cgroupFd;
  for (const fd of slot.procsFds) plan.add(Op.WRITE_FD, fd, '0');
  plan.add(Op.SETNS, slot.ns.net, CLONE.NEWNET);
  plan.add(Op.SETNS, slot.ns.ipc, CLONE.NEWIPC);
  plan.add(Op.SETNS, slot.ns.uts, CLONE.NEWUTS);
  // After the cgroup joins: the same unshare makes the cgroup namespace.
  plan.add(Op.SETNS, slot.ns.mnt, CLONE.NEWNS);
  plan.add(Op.UNSHARE, CLONE.NEWNS | CLONE.NEWCGROUP);
  plan.add(Op.MOUNT, 'proc', '/proc', 'proc', MS.NOSUID | MS.NODEV | MS.NOEXEC, null);
  plan.add(Op.MOUNT, 'gavel-tmp', '/tmp', 'tmpfs', MS.NOSUID | MS.NODEV, tmpOptions(DEFAULT_TMP_BYTES));
  // fds 0-2 /dev/null, 3 status pipe, 4 control socket, 5 the init binary; moved in two
  // steps through numbers above every source so none is overwritten before it is copied.
  // The status pipe and control socket exist only at spawn, so they go first.
  const target = [0, 1, 2, INIT_STATUS_FD, INIT_CONTROL_FD, INIT_EXE_FD];
  const sources = [fds.devNull, fds.devNull, fds.devNull, FD_STATUS, FD_CONTROL, fds.init];
  const high = Math.max(...sources, 10) + 1;
  const order = [3, 4, 0, 1, 2, 5];
  for (const i of order) plan.add(Op.DUP2, sources[i], high + i);
  for (const i of order) plan.add(Op.DUP2, high + i, target[i]);
  plan.add(Op.CLOSE_FROM, sources.length);
  plan.add(Op.CHDIR, '/');
  plan.add(Op.UMASK, 0o022);
  plan.add(Op.EXEC, INIT_EXE_FD, 1, Buffer.from('gavel-init\0'), 0, Buffer.alloc(8));
  return plan;
}
