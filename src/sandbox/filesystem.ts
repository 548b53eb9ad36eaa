// What a cell's filesystem view is made of, on the host. Each slot owns a root skeleton,
// built once when the slot is made: the top-level directories, the symlinks of a merged
// /usr, copies of the few /etc files programs read at start (the /etc directories among
// them are bound read-only instead: copying their ~550 entries was most of the cost of
// making and removing a pool), and the five harmless device nodes. plans.ts turns it into
// the slot's template mount namespace; per run a cell gets the writable /box, optionally
// a read-only /data and extra read-only paths (perRunMounts).
import { chmodSync, copyFileSync, lstatSync, mkdirSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { posix } from 'node:path';
import { MOUNT_ATTR as A } from './linux.js';
import { mknod } from './native.js';

/** System trees; on merged-/usr hosts all but /usr are symlinks and stay symlinks. */
const SYSTEM_DIRS = ['/usr', '/bin', '/sbin', '/lib', '/lib64', '/lib32', '/libx32'];

/** /etc entries programs and runtimes read at start (loader cache, JVM and Python config).
 *  Not /etc/ssl: without a network there is no TLS to verify. */
const ETC_ENTRIES = [
  'ld.so.cache', 'ld.so.conf', 'ld.so.conf.d', 'nsswitch.conf', 'hosts', 'localtime', 'alternatives',
  'java-17-openjdk', 'java-21-openjdk', 'python3', 'python3.11',
];

const DEVICES = ['null', 'zero', 'full', 'random', 'urandom'];

function lkind(path: string): 'dir' | 'file' | 'link' | null {
  try {
    const st = lstatSync(path);
    return st.isSymbolicLink() ? 'link' : st.isDirectory() ? 'dir' : 'file';
  } catch {
    return null;
  }
}

let systemDirs: string[] | undefined;
/** Host system directories that are real directories (bound into the view), not symlinks. */
export function boundSystemDirs(): string[] {
  systemDirs ??= SYSTEM_DIRS.filter((d) => lkind(d) === 'dir');
  return systemDirs;
}

/** The /etc directories of ETC_ENTRIES on this host, bound read-only into the view. */
export function boundEtcDirs(): string[] {
  return ETC_ENTRIES.map((e) => `/etc/${e}`).filter((p) => lkind(p) === 'dir');
}

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
    const k = lkind(src);
    if (k === 'link') symlinkSync(readlinkSync(src), `${root}/etc/${e}`);
    else if (k === 'file') copyFileSync(src, `${root}/etc/${e}`);
    else if (k === 'dir') mkdirSync(`${root}/etc/${e}`, { mode: 0o755 }); // a mount point: see boundEtcDirs
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

/** A host path to clone, or (`fd`) a detached mount to attach as it is. */
export interface RunMount { source: string; target: string; attr: number; fd?: number }

/**
 * The per-run mounts: host source → target inside the sandbox, with MOUNT_ATTR_* flags;
 * `workTree` is the detached mount of a memory work dir, attached as /box itself.
 * Mount points for extra read-only paths are made in the host skeleton, which the
 * sandbox sees through its bind.
 */
export function perRunMounts(rootDir: string, o: { workDir: string; dataDir?: string; readOnlyPaths?: string[] }, workTree?: number): RunMount[] {
  const out: RunMount[] = [{ source: o.workDir, target: '/box', attr: A.NOSUID | A.NODEV, fd: workTree }];
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
