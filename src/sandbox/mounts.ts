// The filesystem view of a sandbox, as plan operations: a fresh tmpfs root holding
// read-only binds of the system directories and a few /etc files, a writable /box (the
// work dir), a size-limited /tmp, its own /proc, and a /dev with five harmless devices.
import { lstatSync, readlinkSync } from 'node:fs';
import { posix } from 'node:path';
import { MS, Op, type PlanBuilder } from './plan.js';

/** System trees bound read-only; on merged-/usr hosts most are symlinks and stay so. */
const SYSTEM_DIRS = ['/usr', '/bin', '/sbin', '/lib', '/lib64', '/lib32', '/libx32'];

/** /etc entries programs and runtimes read at start (loader cache, users, JVM config). */
const ETC_ENTRIES = [
  '/etc/ld.so.cache', '/etc/ld.so.conf', '/etc/ld.so.conf.d', '/etc/nsswitch.conf', '/etc/hosts',
  '/etc/localtime', '/etc/alternatives', '/etc/java-17-openjdk', '/etc/java-21-openjdk', '/etc/ssl',
  '/etc/python3', '/etc/python3.11',
];

const DEVICES = ['null', 'zero', 'full', 'random', 'urandom'];

export interface ViewOptions {
  /** Empty host directory the per-run tmpfs root is mounted on (inside the child's mount ns). */
  rootDir: string;
  /** Host directory bound read-write at /box. */
  workDir: string;
  /** Generated passwd/group for this slot (host paths), bound over /etc/passwd and /etc/group. */
  passwdFile: string;
  groupFile: string;
  tmpBytes: number;
  readOnlyPaths: string[];
  dataDir?: string;
}

const RO_REMOUNT = MS.BIND | MS.REMOUNT | MS.RDONLY | MS.NOSUID | MS.NODEV;

function kindOf(path: string): 'dir' | 'file' | 'link' | null {
  try {
    const st = lstatSync(path);
    if (st.isSymbolicLink()) return 'link';
    return st.isDirectory() ? 'dir' : 'file';
  } catch {
    return null;
  }
}

/** Host-side facts about the system paths, read once (they do not change under us). */
interface HostEntry { path: string; kind: 'dir' | 'file' | 'link'; target?: string }
let hostEntries: HostEntry[] | undefined;
function systemEntries(): HostEntry[] {
  hostEntries ??= [...SYSTEM_DIRS, ...ETC_ENTRIES].flatMap((path) => {
    const kind = kindOf(path);
    if (!kind) return [];
    return [{ path, kind, target: kind === 'link' ? readlinkSync(path) : undefined }];
  });
  return hostEntries;
}

function bindReadOnly(plan: PlanBuilder, src: string, dst: string, kind: 'dir' | 'file'): void {
  plan.add(kind === 'dir' ? Op.MKDIR : Op.TOUCH, dst, kind === 'dir' ? 0o755 : 0o644);
  plan.add(Op.MOUNT, src, dst, null, MS.BIND | MS.REC, null);
  plan.add(Op.MOUNT, null, dst, null, RO_REMOUNT, null);
}

/** mkdir -p of `path`'s ancestors under root, as plan ops. */
function mkdirs(plan: PlanBuilder, root: string, path: string, made: Set<string>): void {
  const parts = path.split('/').filter(Boolean);
  let cur = '';
  for (const p of parts.slice(0, -1)) {
    cur += '/' + p;
    if (!made.has(cur)) {
      made.add(cur);
      plan.add(Op.MKDIR, root + cur, 0o755);
    }
  }
}

export function addFilesystemView(plan: PlanBuilder, v: ViewOptions): void {
  const R = v.rootDir;
  // Nothing we mount may propagate back to the host.
  plan.add(Op.MOUNT, null, '/', null, MS.REC | MS.PRIVATE, null);
  plan.add(Op.MOUNT, 'gavel-root', R, 'tmpfs', MS.NOSUID | MS.NODEV, 'size=1m,nr_inodes=4096,mode=755');
  const made = new Set<string>(['/etc']);
  plan.add(Op.MKDIR, R + '/etc', 0o755);
  for (const e of systemEntries()) {
    mkdirs(plan, R, e.path, made);
    if (e.kind === 'link') plan.add(Op.SYMLINK, e.target!, R + e.path);
    else bindReadOnly(plan, e.path, R + e.path, e.kind);
  }
  bindReadOnly(plan, v.passwdFile, R + '/etc/passwd', 'file');
  bindReadOnly(plan, v.groupFile, R + '/etc/group', 'file');
  for (const p of v.readOnlyPaths) {
    const abs = posix.resolve(p);
    const kind = kindOf(abs);
    if (kind !== 'dir' && kind !== 'file') throw new Error(`read-only path ${abs} does not exist or is a symlink`);
    mkdirs(plan, R, abs, made);
    bindReadOnly(plan, abs, R + abs, kind);
  }

  plan.add(Op.MKDIR, R + '/proc', 0o555);
  plan.add(Op.MOUNT, 'proc', R + '/proc', 'proc', MS.NOSUID | MS.NODEV | MS.NOEXEC, null);

  plan.add(Op.MKDIR, R + '/dev', 0o755);
  plan.add(Op.MOUNT, 'gavel-dev', R + '/dev', 'tmpfs', MS.NOSUID | MS.NOEXEC, 'size=64k,nr_inodes=64,mode=755');
  for (const d of DEVICES) {
    plan.add(Op.TOUCH, `${R}/dev/${d}`, 0o666);
    plan.add(Op.MOUNT, `/dev/${d}`, `${R}/dev/${d}`, null, MS.BIND, null);
  }
  plan.add(Op.SYMLINK, '/proc/self/fd', R + '/dev/fd');
  plan.add(Op.SYMLINK, '/proc/self/fd/0', R + '/dev/stdin');
  plan.add(Op.SYMLINK, '/proc/self/fd/1', R + '/dev/stdout');
  plan.add(Op.SYMLINK, '/proc/self/fd/2', R + '/dev/stderr');

  plan.add(Op.MKDIR, R + '/tmp', 0o1777);
  plan.add(Op.MOUNT, 'gavel-tmp', R + '/tmp', 'tmpfs', MS.NOSUID | MS.NODEV,
    `size=${Math.max(4096, v.tmpBytes)},nr_inodes=4096,mode=1777`);

  plan.add(Op.MKDIR, R + '/box', 0o755);
  plan.add(Op.MOUNT, v.workDir, R + '/box', null, MS.BIND, null);
  plan.add(Op.MOUNT, null, R + '/box', null, MS.BIND | MS.REMOUNT | MS.NOSUID | MS.NODEV, null);

  if (v.dataDir) bindReadOnly(plan, v.dataDir, R + '/data', 'dir');

  plan.add(Op.PIVOT, R);
  // Only /box and /tmp stay writable.
  plan.add(Op.MOUNT, null, '/', null, RO_REMOUNT, null);
  plan.add(Op.MOUNT, null, '/dev', null, RO_REMOUNT | MS.NOEXEC, null);
}
