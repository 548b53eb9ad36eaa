// Small synchronous helpers shared by the v1 and v2 backends: cached cgroupfs file handles,
// parsers for the kernel's flat formats, and the kill/rmdir loops used on teardown.
import {
  closeSync, existsSync, mkdirSync, openSync, readdirSync, readSync, rmdirSync, writeSync,
  constants as fsc,
} from 'node:fs';
import { join } from 'node:path';

/** An Error carrying the errno code of the failure it wraps, so callers can still branch on it. */
export class CgroupError extends Error {
  readonly code?: string;
  constructor(message: string, code?: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CgroupError';
    this.code = code;
  }
}

export function errCode(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | null)?.code;
}

/** Advice for the errno codes that mean "this host will not let us use cgroups". */
export function hintFor(code: string | undefined): string {
  switch (code) {
    case 'EROFS':
      return ' (the cgroup filesystem is read-only: in a container, run it with --privileged or mount /sys/fs/cgroup read-write)';
    case 'EACCES':
    case 'EPERM':
      return ' (permission denied: gavel must run as root, or in a cgroup delegated to it, e.g. systemd Delegate=yes)';
    default:
      return '';
  }
}

export function wrapFsError(what: string, e: unknown): CgroupError {
  const code = errCode(e);
  const msg = e instanceof Error ? e.message : String(e);
  return new CgroupError(`cgroup: ${what}: ${msg}${hintFor(code)}`, code, { cause: e });
}

/**
 * A run's peak counter restarts from the slot's usage at reset, and that usage includes the page
 * cache earlier runs (a compile reading the compiler and headers) charged to the slot. Above this
 * much usage, reset() first gives that cache back; an idle slot (init alone) stays far below it,
 * so the warm path pays one read.
 */
export const RECLAIM_ABOVE_BYTES = 8 << 20;
/** What v1's reclaim leaves above the non-cache usage, so idle init is never squeezed. */
export const RECLAIM_SLACK_BYTES = 1 << 20;

// One scratch buffer for every read: reads are synchronous, so nothing can interleave.
let scratch = Buffer.allocUnsafe(16 * 1024);

/**
 * Reads a whole file through an already open fd, from offset 0 (cgroupfs regenerates on each
 * read from 0). `oneRecord`: the file is printed by one show call (a number, or flat "key
 * value" lines), so a read shorter than asked for already holds all of it and the pread that
 * would only see the end is skipped. Not for files listed record by record (cgroup.procs),
 * which the kernel may return a page at a time.
 */
function preadAll(fd: number, oneRecord = false): string {
  let len = 0;
  for (;;) {
    if (len === scratch.length) {
      const bigger = Buffer.allocUnsafe(scratch.length * 2);
      scratch.copy(bigger, 0, 0, len);
      scratch = bigger;
    }
    const asked = scratch.length - len;
    const n = readSync(fd, scratch, len, asked, len);
    len += n;
    if (n === 0 || (oneRecord && n < asked)) break;
  }
  return scratch.toString('latin1', 0, len);
}

/**
 * A cgroup control file whose fds are opened on first use and kept, so a hot-path read is one
 * pread() instead of open+read+close. Reads and writes use separate fds: some files (memory.peak
 * on >= 6.12) keep per-fd state, and those use `rw` mode so the reset and the reads share one.
 */
export class CgFile {
  private rfd = -1;
  private wfd = -1;
  constructor(readonly path: string, private readonly rw = false) {}

  /**
   * For cgroup.procs: v1 caches the pid list per open file for as long as it keeps being read
   * (it expires 1 s after the last read), so a kept fd would see the same pids forever.
   */
  static uncached(path: string): CgFile {
    return new UncachedCgFile(path);
  }

  private readFd(): number {
    if (this.rfd < 0) {
      if (this.rw) this.rfd = this.wfd = openSync(this.path, fsc.O_RDWR);
      else this.rfd = openSync(this.path, fsc.O_RDONLY);
    }
    return this.rfd;
  }

  private writeFd(): number {
    if (this.wfd < 0) {
      if (this.rw) this.rfd = this.wfd = openSync(this.path, fsc.O_RDWR);
      else this.wfd = openSync(this.path, fsc.O_WRONLY);
    }
    return this.wfd;
  }

  read(oneRecord = false): string {
    try {
      return preadAll(this.readFd(), oneRecord);
    } catch (e) {
      throw wrapFsError(`cannot read ${this.path}`, e);
    }
  }

  /** The file's content as one integer ("max" reads as Infinity). */
  readNumber(): number {
    const s = this.read(true).trim();
    if (s === 'max') return Infinity;
    const n = Number(s);
    if (!Number.isFinite(n)) throw new CgroupError(`cgroup: ${this.path} holds ${JSON.stringify(s)}, expected a number`);
    return n;
  }

  /** One value of a "key value" per line file (cpu.stat, memory.events, pids.events, ...); 0 when absent. */
  readKey(key: string): number {
    return keyedValue(this.read(true), key);
  }

  write(value: string): void {
    try {
      writeSync(this.writeFd(), value);
    } catch (e) {
      throw wrapFsError(`cannot write ${JSON.stringify(value)} to ${this.path}`, e);
    }
  }

  close(): void {
    if (this.rfd >= 0) closeSync(this.rfd);
    if (this.wfd >= 0 && this.wfd !== this.rfd) closeSync(this.wfd);
    this.rfd = this.wfd = -1;
  }
}

class UncachedCgFile extends CgFile {
  override read(oneRecord = false): string {
    try {
      return super.read(oneRecord);
    } finally {
      this.close();
    }
  }
}

/** Finds `key` in "key value\n" text (cpu.stat, memory.events, pids.events, memory.oom_control); 0 when absent. */
export function keyedValue(text: string, key: string): number {
  let at = 0;
  while (at < text.length) {
    const eol = text.indexOf('\n', at);
    const end = eol < 0 ? text.length : eol;
    if (text.startsWith(key, at) && text.charCodeAt(at + key.length) === 32 /* space */) {
      const n = Number(text.slice(at + key.length + 1, end));
      return Number.isFinite(n) ? n : 0;
    }
    at = end + 1;
  }
  return 0;
}

/** Rejects names that could escape the parent directory or need quoting. */
export function checkName(what: string, name: string): void {
  if (!/^[A-Za-z0-9_.-]+$/.test(name) || name === '.' || name === '..') {
    throw new CgroupError(`cgroup: ${what} must be a plain directory name ([A-Za-z0-9_.-]), got ${JSON.stringify(name)}`);
  }
}

/** Parses cgroup.procs / tasks content: one pid per line. */
export function parsePids(text: string): number[] {
  const out: number[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const pid = Number(line);
    if (Number.isInteger(pid) && pid > 0) out.push(pid);
  }
  return out;
}

/** The cgroup2 path of a process from /proc/<pid>/cgroup text (the "0::/path" line), or null on a pure v1 host. */
export function parseUnifiedPath(procCgroup: string): string | null {
  for (const line of procCgroup.split('\n')) {
    if (line.startsWith('0::')) return line.slice(3) || '/';
  }
  return null;
}

/** Parses a space-separated controller list (cgroup.controllers, cgroup.subtree_control). */
export function parseControllers(text: string): Set<string> {
  return new Set(text.split(/\s+/).filter(Boolean));
}

/** Maps a v2-style cpu weight (1..10000, default 100) to v1 cpu.shares (2..262144, default 1024), as systemd does. */
export function weightToShares(weight: number): number {
  return Math.min(262144, Math.max(2, Math.round((weight * 1024) / 100)));
}

/** CFS period used for every quota; 100 ms is the kernel default. */
export const CFS_PERIOD_US = 100_000;

/** Quota in µs per CFS_PERIOD_US for a fraction of one CPU; -1 = unlimited. The kernel's floor is 1 ms. */
export function quotaToCfs(fraction: number | undefined): number {
  if (fraction === undefined) return -1;
  return Math.max(1000, Math.round(fraction * CFS_PERIOD_US));
}

/** Throws when limits are out of range, before anything is written. */
export function checkCgroupLimits(l: {
  memoryBytes: number; pids: number; cpuQuota?: number; cpuWeight?: number; cpus?: string; ioWeight?: number;
}): void {
  const bad = (what: string) => {
    throw new CgroupError(`cgroup limits: ${what}`);
  };
  if (!Number.isSafeInteger(l.memoryBytes) || l.memoryBytes < 4096) bad(`memoryBytes must be an integer >= 4096, got ${l.memoryBytes}`);
  if (!Number.isSafeInteger(l.pids) || l.pids < 1) bad(`pids must be a positive integer, got ${l.pids}`);
  if (l.cpuQuota !== undefined && !(Number.isFinite(l.cpuQuota) && l.cpuQuota > 0)) bad(`cpuQuota must be > 0, got ${l.cpuQuota}`);
  if (l.cpuWeight !== undefined && !(Number.isInteger(l.cpuWeight) && l.cpuWeight >= 1 && l.cpuWeight <= 10000)) {
    bad(`cpuWeight must be an integer in 1..10000, got ${l.cpuWeight}`);
  }
  if (l.ioWeight !== undefined && !(Number.isInteger(l.ioWeight) && l.ioWeight >= 1 && l.ioWeight <= 10000)) {
    bad(`ioWeight must be an integer in 1..10000, got ${l.ioWeight}`);
  }
  if (l.cpus !== undefined && !/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(l.cpus)) bad(`cpus must be a cpu list like "1" or "0-1,3", got ${JSON.stringify(l.cpus)}`);
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
/** Blocks the thread briefly; only used on teardown paths that must finish synchronously. */
export function sleepSync(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

/** mkdir that accepts an existing directory; returns whether it created it. */
export function ensureDir(dir: string): boolean {
  try {
    mkdirSync(dir);
    return true;
  } catch (e) {
    if (errCode(e) === 'EEXIST') return false;
    throw wrapFsError(`cannot create ${dir}`, e);
  }
}

export function readPidsOf(procsFile: string): number[] {
  const f = CgFile.uncached(procsFile);
  try {
    return parsePids(f.read());
  } catch (e) {
    if (errCode(e) === 'ENOENT' || errCode(e) === 'ENODEV') return [];
    throw e;
  }
  finally {
    f.close();
  }
}

/**
 * SIGKILLs every process listed in the given cgroup.procs files, re-reading until a pass finds
 * nobody new. A process with SIGKILL pending cannot fork, so each pass only has to catch
 * children forked before the previous one. (A pid read here could in theory exit and be reused
 * before the kill; the window is a few µs and only ever hits a process of the sandbox's uid range.)
 */
export function killListed(procsFiles: CgFile[] /* uncached ones */, maxPasses = 1000): void {
  const killed = new Set<number>();
  for (let pass = 0; pass < maxPasses; pass++) {
    let fresh = 0;
    for (const f of procsFiles) {
      let text: string;
      try {
        text = f.read();
      } catch (e) {
        if (errCode(e) === 'ENOENT' || errCode(e) === 'ENODEV') continue;
        throw e;
      }
      for (const pid of parsePids(text)) {
        if (killed.has(pid)) continue;
        killed.add(pid);
        fresh++;
        try {
          process.kill(pid, 'SIGKILL');
        } catch (e) {
          if (errCode(e) !== 'ESRCH') throw wrapFsError(`cannot kill pid ${pid} listed in ${f.path}`, e);
        }
      }
    }
    if (fresh === 0) return;
  }
}

/** SIGKILLs everything in one cgroup directory (through its cgroup.procs). */
export function killDir(dir: string): void {
  const f = CgFile.uncached(join(dir, 'cgroup.procs'));
  try {
    killListed([f]);
  } finally {
    f.close();
  }
}

/** rmdir that waits briefly while the last processes finish exiting (EBUSY); ENOENT counts as done. */
export function rmdirRetry(dir: string, budgetMs = 2000): void {
  const deadline = Date.now() + budgetMs;
  for (let delay = 1; ; delay = Math.min(delay * 2, 50)) {
    try {
      rmdirSync(dir);
      return;
    } catch (e) {
      const code = errCode(e);
      if (code === 'ENOENT') return;
      if (code !== 'EBUSY' || Date.now() >= deadline) {
        let detail = '';
        if (code === 'EBUSY') {
          const left = readPidsOf(join(dir, 'cgroup.procs'));
          detail = left.length ? ` (still holds pids ${left.slice(0, 10).join(', ')})` : ' (still has child cgroups or exiting tasks)';
        }
        throw new CgroupError(`cgroup: cannot remove ${dir}: ${code ?? String(e)}${detail}`, code, { cause: e });
      }
      sleepSync(delay);
    }
  }
}

/** Sub-directories of a cgroup (its child cgroups); none when it does not exist. */
export function childCgroups(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => join(dir, d.name));
  } catch (e) {
    if (errCode(e) === 'ENOENT') return [];
    throw wrapFsError(`cannot list ${dir}`, e);
  }
}

/**
 * Removes a cgroup and everything below it, deepest first, killing what runs there.
 * `kill` empties one cgroup (the backends differ: v2 may have cgroup.kill).
 */
export function removeTree(dir: string, kill: (dir: string) => void): void {
  if (!existsSync(dir)) return;
  for (const child of childCgroups(dir)) removeTree(child, kill);
  kill(dir);
  rmdirRetry(dir);
}

/** Kernel release as [major, minor] (e.g. "6.1.0-18-amd64" -> [6, 1]). */
export function parseKernelRelease(release: string): [number, number] {
  const m = /^(\d+)\.(\d+)/.exec(release);
  return m ? [Number(m[1]), Number(m[2])] : [0, 0];
}

export function kernelAtLeast(release: string, major: number, minor: number): boolean {
  const [a, b] = parseKernelRelease(release);
  return a > major || (a === major && b >= minor);
}
