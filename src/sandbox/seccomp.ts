// Builds the sandbox's seccomp filter with libseccomp (through koffi) and exports it as raw
// BPF: an array of struct sock_filter {u16 code; u8 jt; u8 jf; u32 k}, 8 bytes each. The
// child only installs these bytes; all the policy lives here.
//
// The policy is default-allow with a deny-list: judged programs, compilers and language
// runtimes use a wide and changing set of syscalls, and the sandbox's namespaces, cgroups
// and dropped privileges already confine what ordinary syscalls can reach. The deny-list
// removes the ways out of that confinement (namespaces, mounts, ptrace, kernel-wide state)
// and kernel interfaces with a large attack surface that no judged program needs.
import koffi from 'koffi';
import { closeSync, fstatSync, readSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { BPF_JMP_JGE_K, BPF_MAXINSNS, CLONE, errnoName, X32_SYSCALL_BIT } from './linux.js';
import { memfd } from './native.js';

export interface SeccompOptions {
  /** Extra syscalls to deny on top of the default list (names). */
  deny?: string[];
  /** Syscalls to remove from the default deny-list (e.g. a language that needs one). */
  allow?: string[];
  /** What a denied syscall does: 'errno' → fails with EPERM (default; compilers and runtimes probe
   *  syscalls and must keep working), 'kill' → kills the process. */
  action?: 'errno' | 'kill';
}

/**
 * Syscalls denied by default. Three of them are conditional rather than plain denials:
 * `clone` only when arg0 asks for a new namespace, `personality` unless it is 0 or the
 * 0xffffffff query, and `clone3` always fails with ENOSYS (whatever `action` is) so that
 * glibc falls back to clone, whose flags the filter can see.
 * Names this architecture lacks (e.g. `stime` on x86_64) are skipped.
 */
export const DEFAULT_DENY: readonly string[] = Object.freeze([
  // debugging and reaching into other processes' memory or files
  'ptrace', 'process_vm_readv', 'process_vm_writev',
  'pidfd_getfd', 'process_madvise', 'kcmp',
  // mount table and root changes, old and new mount API
  'mount', 'umount', 'umount2', 'pivot_root', 'chroot',
  'move_mount', 'open_tree', 'open_tree_attr', 'fsopen', 'fsconfig', 'fsmount', 'fspick', 'mount_setattr',
  // namespaces
  'unshare', 'setns', 'clone', 'clone3',
  // kernel code, kernel objects, kernel-wide state
  'kexec_load', 'kexec_file_load', 'init_module', 'finit_module', 'delete_module',
  'bpf', 'perf_event_open', 'keyctl', 'add_key', 'request_key',
  'reboot', 'swapon', 'swapoff', 'syslog', 'acct', 'quotactl', 'quotactl_fd', 'lookup_dcookie',
  'clock_settime', 'clock_adjtime', 'adjtimex', 'settimeofday', 'stime',
  'sethostname', 'setdomainname', 'vhangup', 'nfsservctl', '_sysctl', 'uselib',
  // file handles bypass path permission checks (the "shocker" container escape)
  'open_by_handle_at', 'name_to_handle_at',
  // attack surface: page-fault handling in user space (a classic race-widening exploit
  // tool), a second syscall interface whose operations seccomp never sees, LDT entries,
  // filesystem-wide watches
  'userfaultfd', 'io_uring_setup', 'io_uring_enter', 'io_uring_register', 'modify_ldt', 'fanotify_init',
  // raw I/O ports
  'iopl', 'ioperm',
  // execution domains can turn on READ_IMPLIES_EXEC, ADDR_NO_RANDOMIZE, MMAP_PAGE_ZERO...
  'personality',
]);

/**
 * Numbers of syscalls newer than the libseccomp the host ships (Debian 12: 2.5.4, which
 * knows syscalls up to ~451). Since 424 every architecture but alpha uses the same numbers.
 */
const NEWER_THAN_LIBSECCOMP: Readonly<Record<string, number>> = { open_tree_attr: 467 };

// Constants from seccomp.h / linux/seccomp.h (the host has no headers).
const SCMP_ACT_ALLOW = 0x7fff0000;
const SCMP_ACT_KILL_PROCESS = 0x80000000;
const scmpActErrno = (errno: number) => (0x00050000 | (errno & 0xffff)) >>> 0;
const SCMP_FLTATR_ACT_BADARCH = 2;
const SCMP_FLTATR_CTL_OPTIMIZE = 8;
const SCMP_CMP_GT = 6;
const SCMP_CMP_MASKED_EQ = 7;
const NR_SCMP_ERROR = -1;
const SCMP_ARCH_X86_64 = 0xc000003e;
const EPERM = osConstants.errno.EPERM;
const ENOSYS = osConstants.errno.ENOSYS;

/** CLONE_NEW* flags that clone(2) can carry in arg0. CLONE_NEWTIME (0x80) is not among them:
 *  in clone(2) that bit belongs to the exit signal, and a time namespace can only be made
 *  with unshare or clone3, both denied. */
const CLONE_NAMESPACE_FLAGS = [CLONE.NEWNS, CLONE.NEWCGROUP, CLONE.NEWUTS, CLONE.NEWIPC, CLONE.NEWUSER, CLONE.NEWPID, CLONE.NEWNET];

/** struct scmp_arg_cmp. The field names must match the koffi struct below: koffi fills a
 *  missing field with 0 without complaint, and a zero mask makes a rule match everything. */
interface ArgCmp { arg: number; op: number; datum_a: bigint; datum_b: bigint }

let lib: ReturnType<typeof loadLibseccomp> | undefined;

function loadLibseccomp() {
  let so: ReturnType<typeof koffi.load>;
  try {
    so = koffi.load('libseccomp.so.2');
  } catch (e) {
    throw new Error(`gavel: cannot load libseccomp.so.2 (install the libseccomp2 package): ${(e as Error).message}`);
  }
  // Anonymous struct: koffi's type names are global and other modules load koffi too.
  const argCmp = koffi.struct({ arg: 'uint32_t', op: 'uint32_t', datum_a: 'uint64_t', datum_b: 'uint64_t' });
  return {
    init: so.func('seccomp_init', 'void *', ['uint32_t']),
    release: so.func('seccomp_release', 'void', ['void *']),
    attrSet: so.func('seccomp_attr_set', 'int', ['void *', 'int', 'uint32_t']),
    archNative: so.func('seccomp_arch_native', 'uint32_t', []),
    resolveName: so.func('seccomp_syscall_resolve_name', 'int', ['str']),
    // The _array form: seccomp_rule_add is variadic with structs passed by value.
    ruleAddArray: so.func('seccomp_rule_add_array', 'int', ['void *', 'uint32_t', 'int', 'uint32_t', koffi.pointer(argCmp)]),
    exportBpf: so.func('seccomp_export_bpf', 'int', ['void *', 'int']),
  };
}

function seccomp() {
  lib ??= loadLibseccomp();
  return lib;
}

/** libseccomp returns -errno on failure. */
function check(rc: number, what: string): void {
  if (rc < 0) throw new Error(`gavel: seccomp: ${what} failed: ${errnoName(-rc)}`);
}

/** What the filter does with one syscall. */
type Rule = 'deny' | 'deny-namespaces' | 'enosys' | 'deny-personality';

function defaultRule(name: string): Rule {
  switch (name) {
    case 'clone': return 'deny-namespaces';
    case 'clone3': return 'enosys';
    case 'personality': return 'deny-personality';
    default: return 'deny';
  }
}

/** Syscall number on the native arch; null if the arch lacks it; throws on unknown names. */
function resolve(name: string): number | null {
  const nr = seccomp().resolveName(name) as number;
  if (nr === NR_SCMP_ERROR) {
    const late = NEWER_THAN_LIBSECCOMP[name];
    if (late !== undefined) return late;
    throw new Error(`gavel: seccomp: unknown syscall name "${name}" (not known to the host's libseccomp)`);
  }
  // libseccomp answers negative pseudo-numbers for syscalls that exist only on other arches.
  return nr < 0 ? null : nr;
}

/** Rules (each an AND of comparisons) whose union is the set of personality values to refuse. */
function personalityDenials(): ArgCmp[][] {
  // The kernel reads the argument as an unsigned int, so any upper 32 bits are dropped and
  // must be refused too (glibc never sets them).
  const rules: ArgCmp[][] = [[{ arg: 0, op: SCMP_CMP_GT, datum_a: 0xffffffffn, datum_b: 0n }]];
  // libseccomp allows one comparison per argument per rule, so "neither 0 nor 0xffffffff"
  // has to be a union: a 32-bit value other than those two has a 1 bit followed, cyclically,
  // by a 0 bit, so one masked test per adjacent bit pair covers exactly those values.
  for (let i = 0; i < 32; i++) {
    const one = 1n << BigInt(i);
    const zero = 1n << BigInt((i + 1) % 32);
    rules.push([{ arg: 0, op: SCMP_CMP_MASKED_EQ, datum_a: one | zero, datum_b: one }]);
  }
  return rules;
}

function rulesFor(rule: Rule, deny: number): { action: number; cmps: ArgCmp[] }[] {
  switch (rule) {
    case 'deny':
      return [{ action: deny, cmps: [] }];
    case 'enosys':
      return [{ action: scmpActErrno(ENOSYS), cmps: [] }];
    case 'deny-namespaces':
      return CLONE_NAMESPACE_FLAGS.map((f) => ({
        action: deny,
        cmps: [{ arg: 0, op: SCMP_CMP_MASKED_EQ, datum_a: BigInt(f), datum_b: BigInt(f) }],
      }));
    case 'deny-personality':
      return personalityDenials().map((cmps) => ({ action: deny, cmps }));
  }
}

/** The syscall → rule table for some options; throws on names it does not know. */
function plan(opts: SeccompOptions): Map<string, Rule> {
  const allow = new Set(opts.allow ?? []);
  const deny = new Set(opts.deny ?? []);
  for (const name of allow) {
    if (deny.has(name)) throw new Error(`gavel: seccomp: "${name}" is both allowed and denied`);
    resolve(name); // reject typos even for names the default list lacks
  }
  const rules = new Map<string, Rule>();
  for (const name of DEFAULT_DENY) if (!allow.has(name)) rules.set(name, defaultRule(name));
  for (const name of deny) rules.set(name, 'deny');
  return rules;
}

function readAll(fd: number): Buffer {
  const size = fstatSync(fd).size;
  const buf = Buffer.alloc(size);
  let off = 0;
  while (off < size) {
    const n = readSync(fd, buf, off, size - off, off);
    if (n === 0) break;
    off += n;
  }
  return buf.subarray(0, off);
}

function compile(opts: SeccompOptions): Buffer {
  const sc = seccomp();
  const denyAction = opts.action === 'kill' ? SCMP_ACT_KILL_PROCESS : scmpActErrno(EPERM);
  const rules = plan(opts);
  const ctx = sc.init(SCMP_ACT_ALLOW);
  if (!ctx) throw new Error('gavel: seccomp: seccomp_init failed');
  try {
    // i386 (int 0x80) and, on x86_64, x32 (nr | 0x40000000) syscalls reach the filter under
    // other numbers, so a deny-list written for the native ABI means nothing to them: kill.
    check(sc.attrSet(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS), 'setting the bad-arch action');
    // A binary search on the syscall number instead of a linear chain of compares: every
    // allowed syscall otherwise walks the whole deny-list.
    check(sc.attrSet(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2), 'setting the optimizer level');
    for (const [name, rule] of rules) {
      const nr = resolve(name);
      if (nr === null) continue;
      for (const { action, cmps } of rulesFor(rule, denyAction)) {
        check(sc.ruleAddArray(ctx, action, nr, cmps.length, cmps.length ? cmps : null), `adding a rule for ${name}`);
      }
    }
    const fd = memfd('gavel-seccomp');
    let bpf: Buffer;
    try {
      check(sc.exportBpf(ctx, fd), 'seccomp_export_bpf');
      bpf = readAll(fd);
    } finally {
      closeSync(fd);
    }
    validate(bpf, sc.archNative() >>> 0);
    return bpf;
  } finally {
    sc.release(ctx);
  }
}

function validate(bpf: Buffer, arch: number): void {
  const insns = bpf.length / 8;
  if (bpf.length === 0 || !Number.isInteger(insns) || insns > BPF_MAXINSNS) {
    throw new Error(`gavel: seccomp: exported filter has an invalid size (${bpf.length} bytes)`);
  }
  // x32 syscalls carry the x86_64 audit arch, so only a test of the x32 bit refuses them;
  // libseccomp 2.5 emits one for x86_64 filters (nr >= 0x40000000 → bad-arch action).
  // Refuse to hand out a filter without it rather than silently allow the x32 ABI.
  if (arch === SCMP_ARCH_X86_64) {
    let guarded = false;
    for (let i = 0; i < bpf.length; i += 8) {
      if (bpf.readUInt16LE(i) === BPF_JMP_JGE_K && bpf.readUInt32LE(i + 4) === X32_SYSCALL_BIT) guarded = true;
    }
    if (!guarded) throw new Error('gavel: seccomp: the host libseccomp emitted no x32 guard; x32 syscalls would pass');
  }
}

const cache = new Map<string, Buffer>();

/** Returns the BPF program bytes (length multiple of 8). Cached per distinct options.
 *  The returned Buffer is shared between callers: do not modify it. */
export function buildSeccompFilter(opts: SeccompOptions = {}): Buffer {
  const action = opts.action ?? 'errno';
  if (action !== 'errno' && action !== 'kill') throw new Error(`gavel: seccomp: unknown action "${String(action)}"`);
  const key = JSON.stringify([action, [...new Set(opts.deny ?? [])].sort(), [...new Set(opts.allow ?? [])].sort()]);
  let bpf = cache.get(key);
  if (!bpf) {
    bpf = compile({ ...opts, action });
    cache.set(key, bpf);
  }
  return bpf;
}
