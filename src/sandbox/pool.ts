// The sandbox pool: N slots, each owning for its whole life an unprivileged uid, a
// cgroup, pooled network (loopback only), IPC and UTS namespaces, a root skeleton on the
// host and a template mount namespace made from it. A slot's cell (cell.ts) serves run
// after run; a new cell — with a new pid, mount and cgroup namespace, the rest joined
// from the slot — is made only when a run ended badly.
import { closeSync, mkdirSync, openSync, readdirSync, rmdirSync, rmSync, constants as fsc } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { openCgroups, type CgroupBackend, type SlotCgroup } from './cgroup/index.js';
import { openNone } from './cgroup/none.js';
import { prepareRoot } from './filesystem.js';
import { makeNamespaces, makeTemplate } from './native.js';
import { templatePlan } from './plans.js';

export interface PoolOptions {
  /** Number of slots; default: the CPU count. */
  size?: number;
  /** Instance name: cgroup parent and run dir are named after it (default "gavel"). */
  name?: string;
  /** Directory for slot roots and work dirs (default /run/<name>). */
  runDir?: string;
  /** First sandbox uid/gid; slot i runs as uidBase + i (default 60000). */
  uidBase?: number;
  /** Pin each slot to one CPU (default: when size <= CPU count), for steadier timings. */
  pinCpus?: boolean;
  /** Run without cgroups when they cannot be managed (development only: no memory or
   *  process limits). Without it, such a host is refused with the reason. */
  allowUnlimited?: boolean;
  /** Where cgroupfs is mounted (default /sys/fs/cgroup). */
  cgroupMountRoot?: string;
}

export interface Slot {
  index: number;
  uid: number;
  gid: number;
  cgroup: SlotCgroup;
  /** v1: open cgroup.procs fds the child writes "0" into. v2 without CLONE_INTO_CGROUP: the one cgroup.procs. */
  procsFds: number[];
  /** v2 with CLONE_INTO_CGROUP: an O_DIRECTORY fd of the slot's cgroup; else -1. */
  cgroupFd: number;
  /** Pooled namespaces (see makeNamespaces) and the template mount namespace (plans.ts); -1 until made. */
  ns: { net: number; ipc: number; uts: number; mnt: number };
  /** The slot's root skeleton on the host (see filesystem.ts). */
  rootDir: string;
  cpus?: string;
  /** CPUs the slot can use at once; the monitor's bound on CPU time growth. */
  parallelism: number;
}

/**
 * Empties `dir` (what a crashed predecessor left, or our own at close), then removes it
 * too if asked — unless it is a mount point (an operator's tmpfs), which must stay.
 */
function emptyDir(dir: string, remove = false): void {
  mkdirSync(dir, { recursive: true, mode: 0o711 });
  for (const e of readdirSync(dir)) rmSync(join(dir, e), { recursive: true, force: true });
  if (remove) {
    try {
      rmdirSync(dir);
    } catch {
      // EBUSY: a mount point; it stays, empty
    }
  }
}

function openBackend(name: string, allowUnlimited: boolean, pin: boolean, mountRoot?: string): CgroupBackend {
  try {
    return openCgroups({ parentName: name, cpuset: pin, mountRoot });
  } catch (e) {
    const reason = (e as Error).message;
    if (allowUnlimited) return openNone(reason);
    throw new Error(`gavel cannot enforce limits here: ${reason}\n(for development only, GAVEL_ALLOW_UNLIMITED=1 runs without cgroups: no memory or process limits)`);
  }
}

interface Waiter {
  n: number;
  resolve: (s: Slot[]) => void;
  reject: (e: Error) => void;
  signal?: AbortSignal;
  onAbort?: () => void;
}

export class Pool {
  readonly cgroups: CgroupBackend;
  readonly slots: Slot[] = [];
  readonly runDir: string;
  private idle: Slot[] = [];
  private waiters: Waiter[] = [];
  private closed = false;

  constructor(opts: PoolOptions = {}) {
    const name = opts.name ?? 'gavel';
    const ncpu = cpus().length;
    const size = opts.size ?? ncpu;
    if (!Number.isInteger(size) || size < 1 || size > 1024) throw new Error(`pool size must be 1..1024, got ${size}`);
    const uidBase = opts.uidBase ?? 60000;
    const pin = opts.pinCpus ?? size <= ncpu;
    this.runDir = opts.runDir ?? `/run/${name}`;
    this.cgroups = openBackend(name, opts.allowUnlimited ?? false, pin, opts.cgroupMountRoot);
    // A crashed earlier process may have left cgroups and work dirs behind.
    this.cgroups.cleanupStale();
    emptyDir(this.runDir);
    mkdirSync(join(this.runDir, 'work'), { recursive: true, mode: 0o711 });
    try {
      const pinned = pin && this.cgroups.features.cpuset;
      for (let i = 0; i < size; i++) this.slots.push(this.makeSlot(i, uidBase + i, pinned ? String(i % ncpu) : undefined, pinned ? 1 : ncpu));
    } catch (e) {
      this.destroySlots();
      this.cgroups.destroy();
      emptyDir(this.runDir, true);
      throw e;
    }
    this.idle = [...this.slots];
  }

  private makeSlot(index: number, uid: number, cpuList: string | undefined, parallelism: number): Slot {
    const dir = join(this.runDir, `slot-${index}`);
    const rootDir = join(dir, 'root');
    mkdirSync(dir, { recursive: true, mode: 0o711 });
    prepareRoot(rootDir, {
      passwd: `root:x:0:0:root:/root:/usr/sbin/nologin\nsandbox:x:${uid}:${uid}:sandbox:/box:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n`,
      group: `root:x:0:\nsandbox:x:${uid}:\nnogroup:x:65534:\n`,
    });
    const cgroup = this.cgroups.createSlot(`slot-${index}`);
    const slot: Slot = {
      index, uid, gid: uid, cgroup, procsFds: [], cgroupFd: -1, ns: { net: -1, ipc: -1, uts: -1, mnt: -1 }, rootDir,
      cpus: cpuList, parallelism,
    };
    this.slots.push(slot); // so a failure below still cleans it up
    if (cgroup.dir && this.cgroups.features.cloneIntoCgroup) {
      slot.cgroupFd = openSync(cgroup.dir, fsc.O_RDONLY | fsc.O_DIRECTORY);
    } else {
      const files = cgroup.dir ? [join(cgroup.dir, 'cgroup.procs')] : cgroup.procsFiles;
      slot.procsFds = files.map((f) => openSync(f, fsc.O_WRONLY));
    }
    slot.ns = { ...makeNamespaces(), mnt: -1 };
    const tpl = templatePlan(rootDir);
    slot.ns.mnt = makeTemplate(tpl.build(), (i) => tpl.describe(i));
    this.slots.pop();
    return slot;
  }

  get size(): number {
    return this.slots.length;
  }

  get busy(): number {
    return this.slots.length - this.idle.length;
  }

  acquire(signal?: AbortSignal): Promise<Slot> {
    return this.acquireMany(1, signal).then((s) => s[0]);
  }

  /**
   * Takes `n` slots at once (an interactive test needs two). All-or-nothing and FIFO, so
   * two waiters can never each hold half of what they need.
   */
  acquireMany(n: number, signal?: AbortSignal): Promise<Slot[]> {
    if (this.closed) return Promise.reject(new Error('sandbox pool is closed'));
    if (n > this.slots.length) return Promise.reject(new Error(`needs ${n} sandbox slots at once but the pool has ${this.slots.length}`));
    if (signal?.aborted) return Promise.reject(new Error('cancelled'));
    // Least recently used first: its next sandbox has had the longest to get ready.
    if (this.waiters.length === 0 && this.idle.length >= n) return Promise.resolve(this.idle.splice(0, n));
    return new Promise((resolve, reject) => {
      const w: Waiter = { n, resolve, reject, signal };
      if (signal) {
        w.onAbort = () => {
          this.waiters = this.waiters.filter((x) => x !== w);
          reject(new Error('cancelled'));
          this.dispatch();
        };
        signal.addEventListener('abort', w.onAbort, { once: true });
      }
      this.waiters.push(w);
    });
  }

  release(...slots: Slot[]): void {
    this.idle.push(...slots);
    this.dispatch();
  }

  private dispatch(): void {
    while (this.waiters.length && this.idle.length >= this.waiters[0].n) {
      const w = this.waiters.shift()!;
      if (w.onAbort) w.signal!.removeEventListener('abort', w.onAbort);
      w.resolve(this.idle.splice(0, w.n));
    }
  }

  private destroySlots(): void {
    for (const s of this.slots) {
      for (const fd of [...s.procsFds, s.cgroupFd, s.ns.net, s.ns.ipc, s.ns.uts, s.ns.mnt]) if (fd >= 0) closeSync(fd);
      try {
        s.cgroup.destroy();
      } catch {
        // best effort: cleanupStale() on the next start removes what is left
      }
    }
    this.slots.length = 0;
  }

  /** Tears everything down; runs must have finished (the caller waits for them). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.waiters) w.reject(new Error('sandbox pool is closed'));
    this.waiters = [];
    this.destroySlots();
    this.cgroups.destroy();
    emptyDir(this.runDir, true);
  }
}
