// The filesystem view of a sandbox. Each slot owns a root skeleton on the host, built
// once when the slot is made: the top-level directories, the symlinks of a merged /usr,
// copies of the few /etc files programs read at start, and the five harmless device
// nodes. Each slot also owns a template mount namespace: that skeleton as a read-only
// root with /usr bound read-only. A sandbox then copies the template (a handful of
// mounts, no pivot_root, no copy of the host's mount table to detach), mounts its own
// /proc and /tmp, and per run gets the writable /box and optionally a read-only /data.
import { chmodSync, cpSync, lstatSync, mkdirSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { posix } from 'node:path';
import { mknod } from './native.js';
import { CLONE, MS, Op, type PlanBuilder } from './plan.js';

/** System trees; on merged-/usr hosts all but /usr are symlinks and stay symlinks. */
const SYSTEM_DIRS = ['/usr', '/bin', '/sbin', '/lib', '/lib64', '/lib32', '/libx32'];

/** /etc entries programs and runtimes read at start (loader cache, JVM and Python config).
 *  Not /etc/ssl: without a network there is no TLS to verify. */
const ETC_ENTRIES = [
  'ld.so.cache', 'ld.so.conf', 'ld.so.conf.d', 'nsswitch.conf', 'hosts', 'localtime', 'alternatives',
  'java-17-openjdk', 'java-21-openjdk', 'python3', 'python3.11',
];

const DEVICES = ['null', 'zero', 'full', 'random', 'urandom'];

const RO_REMOUNT = MS.BIND | MS.REMOUNT | MS.RDONLY | MS.NOSUID | MS.NODEV;

function lkind(path: string): 'dir' | 'file' | 'link' | null {
  try {
    const st = lstatSync(path);
    return st.isSymbolicLink() ? 'link' : st.isDirectory() ? 'dir' : 'file';
  } catch {
    return null;
  }
}

/** Host system directories that are real directories (bound per run), not symlinks. */
function boundSystemDirs(): string[] {
  return SYSTEM_DIRS.filter((d) => lkind(d) === 'dir');
}
let systemDirs: string[] | undefined;

export interface SkeletonFiles { passwd: string; group: string }

/** Builds (or rebuilds) a slot's root skeleton at `root` on the host. */
export function prepareRoot(root: string, files: SkeletonFiles): void {
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { mode: 0o755 });
  for (const d of ['proc', 'dev', 'tmp', 'box', 'data', 'etc']) mkdirSync(`${root}/${d}`, { mode: 0o755 });
  for (const d of SYSTEM_DIRS) {
    const k = lkind(d);
    if (k === 'link') symlinkSync(readlinkSync(d), root + d);
    else if (k === 'dir') mkdirSync(root + d, { mode: 0o755 });
  }
  for (const e of ETC_ENTRIES) {
    const src = `/etc/${e}`;
    if (lkind(src)) cpSync(src, `${root}/etc/${e}`, { recursive: true, verbatimSymlinks: true, dereference: false });
  }
  writeFileSync(`${root}/etc/passwd`, files.passwd, { mode: 0o644 });
  writeFileSync(`${root}/etc/group`, files.group, { mode: 0o644 });
  for (const d of DEVICES) {
    mknod(`${root}/dev/${d}`, 0o020666, statSync(`/dev/${d}`).rdev);
    // mknod applies the umask (Node's is usually 022): without this the program could
    // not write to /dev/null.
    chmodSync(`${root}/dev/${d}`, 0o666);
  }
  for (const [name, target] of [['fd', '/proc/self/fd'], ['stdin', '/proc/self/fd/0'], ['stdout', '/proc/self/fd/1'], ['stderr', '/proc/self/fd/2']]) {
    symlinkSync(target, `${root}/dev/${name}`);
  }
}

function bindReadOnly(plan: PlanBuilder, src: string, dst: string): void {
  plan.add(Op.MOUNT, src, dst, null, MS.BIND | MS.REC, null);
  plan.add(Op.MOUNT, null, dst, null, RO_REMOUNT, null);
}

/** Default size of /tmp in a waiting sandbox; a run asking for another size remounts it. */
export const DEFAULT_TMP_BYTES = 64 << 20;

/**
 * The slot's template mount namespace, built once: the skeleton as the read-only root,
 * /usr (and any other real system directory) read-only. It ends in EXIT; the namespace
 * lives on through the fd OPEN_NS leaves in our fd table.
 */
export function templatePlan(plan: PlanBuilder, rootDir: string): void {
  const R = rootDir;
  plan.cloneFlags = CLONE.NEWNS;
  plan.add(Op.OPEN_NS, '/proc/self/ns/mnt');
  // Nothing we mount may propagate back to the host.
  plan.add(Op.MOUNT, null, '/', null, MS.REC | MS.PRIVATE, null);
  // The skeleton becomes a mount point of its own, so pivot_root can use it.
  plan.add(Op.MOUNT, R, R, null, MS.BIND, null);
  systemDirs ??= boundSystemDirs();
  for (const d of systemDirs) bindReadOnly(plan, d, R + d);
  plan.add(Op.PIVOT, R);
  // Read-only from here on, except what gets mounted on top. Not nodev: /dev's nodes live here.
  plan.add(Op.MOUNT, null, '/', null, MS.BIND | MS.REMOUNT | MS.RDONLY | MS.NOSUID, null);
  plan.add(Op.EXIT, 0);
}

/**
 * What each sandbox does to its view while the slot is pre-warmed: a private copy of the
 * slot's template (a handful of mounts, no pivot), its own /proc and a size-limited /tmp.
 * /box, /data and extra read-only paths differ per run and are attached by gavel-init
 * from detached mount trees (see perRunMounts). Must follow the cgroup joins: the same
 * unshare makes the cgroup namespace.
 */
export function addSandboxView(plan: PlanBuilder, templateFd: number): void {
  plan.add(Op.SETNS, templateFd, CLONE.NEWNS);
  plan.add(Op.UNSHARE, CLONE.NEWNS | CLONE.NEWCGROUP);
  plan.add(Op.MOUNT, 'proc', '/proc', 'proc', MS.NOSUID | MS.NODEV | MS.NOEXEC, null);
  plan.add(Op.MOUNT, 'gavel-tmp', '/tmp', 'tmpfs', MS.NOSUID | MS.NODEV, tmpOptions(DEFAULT_TMP_BYTES));
}

export function tmpOptions(bytes: number): string {
  return `size=${Math.max(4096, Math.floor(bytes))},nr_inodes=4096,mode=1777`;
}

export interface RunMount { source: string; target: string; attr: number }

/**
 * The per-run mounts: host source → target inside the sandbox, with MOUNT_ATTR_* flags.
 * Mount points for extra read-only paths are made in the host skeleton, which the
 * sandbox sees through its bind.
 */
export function perRunMounts(rootDir: string, o: { workDir: string; dataDir?: string; readOnlyPaths?: string[] }): RunMount[] {
  const A = { RDONLY: 0x1, NOSUID: 0x2, NODEV: 0x4 };
  const out: RunMount[] = [{ source: o.workDir, target: '/box', attr: A.NOSUID | A.NODEV }];
  if (o.dataDir) out.push({ source: o.dataDir, target: '/data', attr: A.RDONLY | A.NOSUID | A.NODEV });
  for (const p of o.readOnlyPaths ?? []) {
    const abs = posix.resolve(p);
    const k = lkind(abs);
    if (k !== 'dir' && k !== 'file') throw new Error(`read-only path ${abs} does not exist or is a symlink`);
    const dst = rootDir + abs;
    if (k === 'dir') mkdirSync(dst, { recursive: true, mode: 0o755 });
    else if (!lkind(dst)) {
      mkdirSync(posix.dirname(dst), { recursive: true, mode: 0o755 });
      writeFileSync(dst, '');
    }
    out.push({ source: abs, target: abs, attr: A.RDONLY | A.NOSUID | A.NODEV });
  }
  return out;
}
