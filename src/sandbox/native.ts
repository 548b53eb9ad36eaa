// koffi bindings to libgavel.so (native/shim.c) and the few libc calls the parent needs,
// plus the reader of the reaper's exit records.
import koffi from 'koffi';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { constants as osConstants } from 'node:os';

const here = dirname(fileURLToPath(import.meta.url));
/** native/build, found from src/ (tsx) and dist/src/ (compiled) alike. */
export const NATIVE_DIR = [join(here, '../../native/build'), join(here, '../../../native/build')]
  .find((d) => existsSync(join(d, 'libgavel.so'))) ?? join(here, '../../native/build');
export const INIT_PATH = join(NATIVE_DIR, 'gavel-init');

const EXIT_RECORD_SIZE = 128;

let lib: ReturnType<typeof loadLib> | undefined;

function loadLib() {
  const path = join(NATIVE_DIR, 'libgavel.so');
  if (!existsSync(path)) {
    throw new Error(`gavel: ${path} is missing; the native shim is built by "npm ci" (or "node native/build.mjs")`);
  }
  const so = koffi.load(path);
  const api = {
    reaperStart: so.func('int gv_reaper_start(void)'),
    spawn: so.func('long gv_spawn(uint8_t *plan, uint32_t len, uint64_t token, _Out_ int32_t *err, _Out_ int32_t *control)'),
    go: so.func('int gv_go(int ctl, const uint8_t *msg, uint32_t len, const int32_t *fds, uint32_t nfds)'),
    cloneTree: so.func('int gv_clone_tree(const char *path, uint64_t attr)'),
    makeTemplate: so.func('int gv_make_template(uint8_t *plan, uint32_t len, _Out_ int32_t *err)'),
    kill: so.func('int gv_kill(uint64_t token, int sig)'),
    makeNamespaces: so.func('int gv_make_namespaces(_Out_ int32_t *fds, _Out_ const char **step)'),
    exitRecordSize: so.func('int gv_exit_record_size(void)'),
    opSize: so.func('int gv_op_size(void)'),
    headerSize: so.func('int gv_plan_header_size(void)'),
  };
  // The plan layout is shared with plan.ts; refuse to run on a mismatched build.
  if (api.exitRecordSize() !== EXIT_RECORD_SIZE || api.opSize() !== 48 || api.headerSize() !== 56) {
    throw new Error('gavel: native/build/libgavel.so does not match this version; rebuild it with "node native/build.mjs"');
  }
  return api;
}

export function native() {
  lib ??= loadLib();
  return lib;
}

let libcFns: ReturnType<typeof loadLibc> | undefined;
function loadLibc() {
  const c = koffi.load('libc.so.6');
  return {
    pipe2: c.func('int pipe2(_Out_ int *fds, int flags)'),
    mknod: c.func('int mknod(const char *path, uint32_t mode, uint64_t dev)'),
    errno: () => koffi.errno(),
  };
}
function libc() {
  libcFns ??= loadLibc();
  return libcFns;
}

/** A close-on-exec pipe, for connecting two sandboxes directly (interactive problems). */
export function makePipe(): [read: number, write: number] {
  const fds = new Int32Array(2);
  if (libc().pipe2(fds, 0o2000000 /* O_CLOEXEC */) !== 0) throw new Error(`gavel: pipe2 failed: ${errnoName(libc().errno())}`);
  return [fds[0], fds[1]];
}

/** Creates a device node (Node has no mknod); used for the sandbox's /dev skeleton. */
export function mknod(path: string, mode: number, dev: number): void {
  if (libc().mknod(path, mode, dev) !== 0) throw new Error(`gavel: mknod ${path}: ${errnoName(libc().errno())}`);
}

export function errnoName(err: number): string {
  for (const [name, value] of Object.entries(osConstants.errno)) if (value === err) return name;
  return `errno ${err}`;
}

export interface SpawnFailure { opIndex: number; errno: number; opCode: number }

/**
 * Clones a sandbox that runs `plan` up to its waiting init, on a libuv thread: the clone
 * child's work (namespaces, mounts, joining cgroups) never blocks the event loop.
 */
export function spawnPlan(plan: Buffer, token: number): Promise<{ pid: number; control: number } | { failure: SpawnFailure }> {
  exitWatcher(); // the reaper must be running before a child is registered with it
  const err = new Int32Array(3);
  const control = new Int32Array(1);
  return new Promise((resolve, reject) => {
    native().spawn.async(plan, plan.length, token, err, control, (e: Error | null, pid: number | bigint) => {
      if (e) return reject(e);
      const n = Number(pid);
      resolve(n > 0 ? { pid: n, control: control[0] } : { failure: { opIndex: err[0], errno: err[1], opCode: err[2] } });
    });
  });
}

/** Runs a plan that ends in EXIT and opens a namespace; returns that namespace's fd. */
export function makeTemplate(plan: Buffer, describe: (op: number) => string): number {
  const err = new Int32Array(3);
  const fd = native().makeTemplate(plan, plan.length, err);
  if (fd < 0) throw new Error(`gavel: cannot build the slot's mount namespace at ${err[0] >= 0 ? describe(err[0]) : 'clone'}: ${errnoName(err[1])}`);
  return fd;
}

/** Sends the go message and the fds it needs to a waiting sandbox init. */
export function sendGo(control: number, msg: Buffer, fds: number[]): void {
  const rc = native().go(control, msg, msg.length, Int32Array.from(fds), fds.length);
  if (rc < 0) throw new Error(`gavel: cannot start the sandbox: ${errnoName(-rc)}`);
}

export const MOUNT_ATTR = { RDONLY: 0x1, NOSUID: 0x2, NODEV: 0x4, NOEXEC: 0x8 } as const;

/** A detached copy of the mount tree at `path`, for a sandbox init to attach. */
export function cloneTree(path: string, attr: number): number {
  const fd = native().cloneTree(path, attr);
  if (fd < 0) throw new Error(`gavel: cannot clone the mount tree of ${path}: ${errnoName(-fd)}`);
  return fd;
}

export function killSandbox(token: number, signal = 9): boolean {
  return native().kill(token, signal) === 0;
}

/** The namespaces a slot keeps for life: network (lo only), IPC (keeps nothing), UTS. */
export function makeNamespaces(): { net: number; ipc: number; uts: number } {
  const fds = new Int32Array(3);
  const step: (string | null)[] = [null];
  const rc = native().makeNamespaces(fds, step);
  if (rc < 0) throw new Error(`gavel: cannot create the slot's namespaces (${step[0] ?? '?'}): ${errnoName(-rc)}`);
  return { net: fds[0], ipc: fds[1], uts: fds[2] };
}

/**
 * What the reaper reports: the end of one run ('run', the sandbox lives on and is clean
 * again), or the end of a sandbox ('death': its init is gone, killed or failed).
 */
export interface ExitRecord {
  token: number;
  kind: 'run' | 'death';
  /** For 'death': si_code of the init (1 CLD_EXITED, 2 CLD_KILLED, 3 CLD_DUMPED) and its status. */
  code: number;
  status: number;
  initRusage: { utimeUs: number; stimeUs: number; maxrssKb: number };
  /** The program's end, as gavel-init saw it. */
  program?: { wstatus: number; cpuUs: number; wallUs: number; maxrssKb: number };
  /** errno when the program could not be started (exec, or a step before it). */
  execErrno?: number;
  execStep?: string;
  /** gavel-init could not carry out the go message: which step, and errno. */
  goFailure?: { step: string; errno: number };
}

const RUN_MAGIC = 0x786e7572;
const REC_EXIT = 0x74697865;
const REC_EXEC_FAIL = 0x63657865;
const REC_GO_FAIL = 0x6c666f67;

/** Steps of gavel-init's handling of a go message (enum step in native/init.c). */
const GO_STEPS = ['', 'reading the go message', 'attaching a mount', 'resizing /tmp', 'setting up stdio', 'entering the work dir',
  'setting rlimits', 'dropping capabilities', 'changing ids', 'setting the parent-death signal', 'setting no_new_privs',
  'installing the seccomp filter', 'forking the program', 'parsing the go message', 'cleaning up after the run'];

export function parseExitRecord(b: Buffer): ExitRecord {
  const nbytes = b.readUInt32LE(4);
  const rec: ExitRecord = {
    token: Number(b.readBigUInt64LE(8)),
    kind: b.readUInt32LE(0) === RUN_MAGIC ? 'run' : 'death',
    code: b.readInt32LE(16),
    status: b.readInt32LE(20),
    initRusage: {
      utimeUs: Number(b.readBigInt64LE(24)),
      stimeUs: Number(b.readBigInt64LE(32)),
      maxrssKb: Number(b.readBigInt64LE(40)),
    },
  };
  for (let off = 48; off + 32 <= 48 + nbytes && off + 32 <= b.length; off += 32) {
    const magic = b.readUInt32LE(off);
    if (magic === REC_EXIT) {
      rec.program = {
        wstatus: b.readInt32LE(off + 4),
        cpuUs: Number(b.readBigInt64LE(off + 8)),
        wallUs: Number(b.readBigInt64LE(off + 16)),
        maxrssKb: Number(b.readBigInt64LE(off + 24)),
      };
    } else if (magic === REC_EXEC_FAIL) {
      const a = b.readInt32LE(off + 4);
      // a > 0: exec's errno; a < 0: the step before exec that failed, errno in b
      rec.execErrno = a > 0 ? a : Number(b.readBigInt64LE(off + 8));
      if (a < 0) rec.execStep = GO_STEPS[-a] ?? `step ${-a}`;
    } else if (magic === REC_GO_FAIL) {
      const step = b.readInt32LE(off + 4);
      rec.goFailure = { step: GO_STEPS[step] ?? `step ${step}`, errno: Number(b.readBigInt64LE(off + 8)) };
    }
  }
  return rec;
}

/**
 * Delivers the reaper's records to the sandbox each belongs to (by token), in order.
 * Only sandboxes with a run in progress keep Node's event loop alive: a waiting,
 * pre-warmed sandbox must not.
 */
class ExitWatcher {
  private socket: net.Socket;
  private subscribers = new Map<number, (r: ExitRecord) => void>();
  private early = new Map<number, ExitRecord[]>();
  private pending: Buffer = Buffer.alloc(0);
  private refs = 0;

  constructor() {
    const fd = native().reaperStart();
    if (fd < 0) throw new Error(`gavel: cannot start the reaper thread: ${errnoName(-fd)}`);
    this.socket = new net.Socket({ fd, readable: true, writable: false });
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.unref();
  }

  private onData(chunk: Buffer): void {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    while (this.pending.length >= EXIT_RECORD_SIZE) {
      const rec = parseExitRecord(this.pending.subarray(0, EXIT_RECORD_SIZE));
      this.pending = this.pending.subarray(EXIT_RECORD_SIZE);
      const fn = this.subscribers.get(rec.token);
      if (fn) fn(rec);
      else this.early.set(rec.token, [...(this.early.get(rec.token) ?? []), rec]);
      if (rec.kind === 'death') this.subscribers.delete(rec.token);
    }
  }

  /** Calls `fn` with every record of `token`, including any that came before. */
  subscribe(token: number, fn: (r: ExitRecord) => void): void {
    this.subscribers.set(token, fn);
    const early = this.early.get(token);
    if (early) {
      this.early.delete(token);
      for (const r of early) fn(r);
      if (early.some((r) => r.kind === 'death')) this.subscribers.delete(token);
    }
  }

  /** Holds the event loop open while a program runs. */
  ref(): void {
    if (this.refs++ === 0) this.socket.ref();
  }

  unref(): void {
    if (--this.refs === 0) this.socket.unref();
  }
}

let watcher: ExitWatcher | undefined;
export function exitWatcher(): ExitWatcher {
  watcher ??= new ExitWatcher();
  return watcher;
}
