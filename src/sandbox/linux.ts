// Linux ABI constants the sandbox layer uses (x86_64 values), each defined once. The host
// has no kernel headers at run time, so they are written out here.
import { constants as osConstants } from 'node:os';

/** clone(2)/unshare(2)/setns(2) namespace flags. */
export const CLONE = {
  NEWNS: 0x00020000, NEWCGROUP: 0x02000000, NEWUTS: 0x04000000, NEWIPC: 0x08000000,
  NEWUSER: 0x10000000, NEWPID: 0x20000000, NEWNET: 0x40000000,
} as const;

/** mount(2) flags. */
export const MS = {
  RDONLY: 1, NOSUID: 2, NODEV: 4, NOEXEC: 8, REMOUNT: 32, BIND: 4096, REC: 16384, PRIVATE: 1 << 18,
  SLAVE: 1 << 19,
} as const;

/** mount_setattr(2) attributes of a detached mount tree. */
export const MOUNT_ATTR = { RDONLY: 0x1, NOSUID: 0x2, NODEV: 0x4, NOEXEC: 0x8 } as const;

/** setrlimit(2) resources. */
export const RLIMIT = { CPU: 0, FSIZE: 1, STACK: 3, CORE: 4, NOFILE: 7 } as const;

/** Signal numbers. */
export const SIG = { KILL: 9, XCPU: 24, XFSZ: 25 } as const;

/** waitid(2) si_code values of a child's end. */
export const CLD = { EXITED: 1, KILLED: 2, DUMPED: 3 } as const;

export const O_CLOEXEC = 0o2000000;
export const MFD_CLOEXEC = 1;

/** seccomp BPF: the instruction cap, the x32 syscall bit and the opcode of its guard. */
export const BPF_MAXINSNS = 4096;
export const X32_SYSCALL_BIT = 0x40000000;
export const BPF_JMP_JGE_K = 0x35;

/** The errno constant's name ("ENOENT") for a number, for messages. */
export function errnoName(err: number): string {
  for (const [name, value] of Object.entries(osConstants.errno)) if (value === err) return name;
  return `errno ${err}`;
}
