// koffi bindings to libgavel.so (native/shim.c) and the few libc calls the parent needs.
// Loading checks the library against protocol.ts, constant by constant.
import koffi from 'koffi';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { errnoName, MFD_CLOEXEC, O_CLOEXEC } from './linux.js';
import { checkProtocol, type ProtocolEntry } from './protocol.js';

const here = dirname(fileURLToPath(import.meta.url));
/** native/build, found from src/ (tsx) and dist/src/ (compiled) alike. */
export const NATIVE_DIR = [join(here, '../../native/build'), join(here, '../../../native/build')]
  .find((d) => existsSync(join(d, 'libgavel.so'))) ?? join(here, '../../native/build');
export const INIT_PATH = join(NATIVE_DIR, 'gavel-init');
const REBUILD = 'rebuild it with "node native/build.mjs"';

let lib: ReturnType<typeof loadLib> | undefined;

function loadLib() {
  const path = join(NATIVE_DIR, 'libgavel.so');
  if (!existsSync(path)) {
    throw new Error(`gavel: ${path} is missing; the native shim is built by "npm ci" (or "node native/build.mjs")`);
  }
  const so = koffi.load(path);
  const api = {
    reaperStart: so.func('int gv_reaper_start(void)'),
    spawn: so.func('long gv_spawn(uint8_t *plan, uint32_t len, uint64_t token, _Out_ int32_t *err, _Out_ int32_t *control, _Out_ int32_t *status)'),
    go: so.func('int gv_go(int ctl, const uint8_t *msg, uint32_t len, const int32_t *fds, uint32_t nfds)'),
    cloneTree: so.func('int gv_clone_tree(const char *path, uint64_t attr)'),
    tmpfs: so.func('int gv_tmpfs(uint64_t bytes)'),
    makeTemplate: so.func('int gv_make_template(uint8_t *plan, uint32_t len, _Out_ int32_t *err)'),
    kill: so.func('int gv_kill(uint64_t token, int sig)'),
    makeNamespaces: so.func('int gv_make_namespaces(_Out_ int32_t *fds, _Out_ const char **step)'),
    protocolEntry: so.func('int gv_protocol_entry(int i, _Out_ const char **name, _Out_ int64_t *value, _Out_ const char **text)'),
  };
  const problems = checkProtocol(readProtocolTable(api.protocolEntry));
  if (problems.length) {
    throw new Error(`gavel: ${path} does not match this version (${problems.slice(0, 3).join('; ')}); ${REBUILD}`);
  }
  return api;
}

/** The shim's gv_protocol_entry table, all of it. */
function readProtocolTable(entry: (i: number, name: (string | null)[], value: bigint[], text: (string | null)[]) => number): ProtocolEntry[] {
  const out: ProtocolEntry[] = [];
  for (let i = 0; ; i++) {
    const name: (string | null)[] = [null];
    const value: bigint[] = [0n];
    const text: (string | null)[] = [null];
    if (entry(i, name, value, text) !== 0) return out;
    out.push({ name: name[0] ?? `#${i}`, value: text[0] ?? Number(value[0]) });
  }
}

export function native() {
  lib ??= loadLib();
  return lib;
}

/** The table the loaded library exports (for tests of C/TS agreement). */
export function protocolTable(): ProtocolEntry[] {
  return readProtocolTable(native().protocolEntry);
}

let libcFns: ReturnType<typeof loadLibc> | undefined;
function loadLibc() {
  const c = koffi.load('libc.so.6');
  return {
    pipe2: c.func('int pipe2(_Out_ int *fds, int flags)'),
    mknod: c.func('int mknod(const char *path, uint32_t mode, uint64_t dev)'),
    memfdCreate: c.func('int memfd_create(const char *name, uint32_t flags)'),
    errno: () => koffi.errno(),
  };
}
function libc() {
  libcFns ??= loadLibc();
  return libcFns;
}

/** A close-on-exec pipe (Node has no pipe2). */
export function pipe2(): [read: number, write: number] {
  const fds = new Int32Array(2);
  if (libc().pipe2(fds, O_CLOEXEC) !== 0) throw new Error(`gavel: pipe2 failed: ${errnoName(libc().errno())}`);
  return [fds[0], fds[1]];
}

/** An anonymous in-memory file (close-on-exec), e.g. for a run's output. */
export function memfd(name: string): number {
  const fd = libc().memfdCreate(name, MFD_CLOEXEC);
  if (fd < 0) throw new Error(`gavel: memfd_create failed: ${errnoName(libc().errno())}`);
  return fd;
}

/** Creates a device node (Node has no mknod); used for the sandbox's /dev skeleton. */
export function mknod(path: string, mode: number, dev: number): void {
  if (libc().mknod(path, mode, dev) !== 0) throw new Error(`gavel: mknod ${path}: ${errnoName(libc().errno())}`);
}

export interface SpawnFailure { opIndex: number; errno: number; opCode: number }

/**
 * Clones a cell that runs `plan` up to its waiting init, on a libuv thread: the clone
 * child's work (namespaces, mounts, joining cgroups) never blocks the event loop. The
 * reaper must be running (exitWatcher()) before this is called.
 */
export function spawnPlan(plan: Buffer, token: number): Promise<{ pid: number; control: number; status: number } | { failure: SpawnFailure }> {
  const err = new Int32Array(3);
  const control = new Int32Array(1);
  const status = new Int32Array(1);
  return new Promise((resolve, reject) => {
    native().spawn.async(plan, plan.length, token, err, control, status, (e: Error | null, pid: number | bigint) => {
      if (e) return reject(e);
      const n = Number(pid);
      resolve(n > 0 ? { pid: n, control: control[0], status: status[0] } : { failure: { opIndex: err[0], errno: err[1], opCode: err[2] } });
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

/** Sends the go message and the fds it needs to a waiting init. */
export function sendGo(control: number, msg: Buffer, fds: number[]): void {
  const rc = native().go(control, msg, msg.length, Int32Array.from(fds), fds.length);
  if (rc < 0) throw new Error(`gavel: cannot start the sandbox: ${errnoName(-rc)}`);
}

/** A detached copy of the mount tree at `path`, for an init to attach. */
export function cloneTree(path: string, attr: number): number {
  const fd = native().cloneTree(path, attr);
  if (fd < 0) throw new Error(`gavel: cannot clone the mount tree of ${path}: ${errnoName(-fd)}`);
  return fd;
}

/** A new tmpfs of `bytes` as a detached mount (see gv_tmpfs); returns its fd. */
export function detachedTmpfs(bytes: number): number {
  const fd = native().tmpfs(Math.max(4096, Math.floor(bytes)));
  if (fd < 0) throw new Error(`gavel: cannot make a tmpfs work dir: ${errnoName(-fd)}`);
  return fd;
}

/** Signals a cell's init by token; false when the cell is gone. */
export function signalCell(token: number, signal: number): boolean {
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
