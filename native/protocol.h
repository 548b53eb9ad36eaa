/*
 * gavel's wire protocol: every number that crosses between TypeScript, the shim
 * (libgavel.so) and gavel-init. src/sandbox/protocol.ts mirrors this file, and at load it
 * compares each constant with the table the shim exports (gv_protocol_table in shim.c), so
 * a change here that is not made there too stops the service instead of misreading bytes.
 *
 * Each record kind has a magic of its own: a record is never recognised by its size or by
 * the channel it came on alone.
 */
#ifndef GAVEL_PROTOCOL_H
#define GAVEL_PROTOCOL_H

#include <stdint.h>

/* Four ASCII bytes, read as a little-endian u32 (so they show as text in a hex dump). */
#define GV_FOURCC(a, b, c, d) ((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)

/* ---- The plan: Node → clone child (shim, child.c) -------------------------------- */

#define GV_PLAN_MAGIC GV_FOURCC('g', 'v', 'p', 'l')

enum gv_opcode {
  GV_OP_WRITE_FD = 1,   /* a=fd b=str: write string (join a v1 cgroup with "0") */
  GV_OP_SETNS = 2,      /* a=fd b=nstype */
  GV_OP_UNSHARE = 3,    /* a=flags */
  GV_OP_MOUNT = 4,      /* a=src b=target c=fstype d=flags e=data (strings may be 0 = NULL) */
  GV_OP_PIVOT = 8,      /* a=new root dir: pivot_root there and detach the old root */
  GV_OP_CHDIR = 9,      /* a=path */
  GV_OP_DUP2 = 12,      /* a=oldfd (GV_FD_STATUS / GV_FD_CONTROL placeholders) b=newfd */
  GV_OP_CLOSE_FROM = 13,/* a=first fd to close */
  GV_OP_EXEC = 17,      /* a=fd of the program b=argc c=argv strings d=envc e=env strings */
  GV_OP_UMASK = 19,     /* a=mask */
  GV_OP_OPEN_NS = 20,   /* a=path: open it (O_CLOEXEC) into the shared fd table, fd to the header */
  GV_OP_EXIT = 21,      /* a=code: the end of a plan that only prepares something */
};

/* fds only the shim knows when the plan is built: this run's status pipe and control socket */
#define GV_FD_STATUS (-2)
#define GV_FD_CONTROL (-3)

/* Largest argc and envc of GV_OP_EXEC (the pointer arrays live on the child's stack). */
#define GV_PLAN_MAX_ARGS 1024

struct gv_op {
  uint32_t code;
  uint32_t pad;
  int64_t a, b, c, d, e;
};

struct gv_plan {
  uint32_t magic;
  uint32_t nops;
  uint64_t clone_flags;  /* namespaces to create (CLONE_NEW*) */
  int64_t cgroup_fd;     /* >= 0: CLONE_INTO_CGROUP this v2 cgroup dir */
  int64_t ops_offset;    /* byte offset of the first gv_op */
  /* written by the child on failure, read by the parent (shared memory under CLONE_VM) */
  int32_t fail_op;
  int32_t fail_errno;
  int32_t status_fd;     /* set by gv_spawn: the write end of this run's status pipe */
  int32_t control_fd;    /* set by gv_spawn: the sandbox's end of the control socket */
  int32_t opened_fd;     /* set by GV_OP_OPEN_NS */
  int32_t flags;         /* set by the shim: GV_PLAN_F_* */
};

/* The kernel already reset the child's signal handlers (clone3 with CLONE_CLEAR_SIGHAND). */
#define GV_PLAN_F_SIGHAND_CLEARED 1

/* ---- Status records: clone child / gavel-init → Node, on the sandbox's status pipe --- */

/* All 32 bytes, so several fit one atomic pipe write and reads return whole records. */
#define GV_STATUS_REC_SIZE 32
#define GV_REC_SETUP_FAIL GV_FOURCC('f', 'a', 'i', 'l') /* the clone child: a plan op failed */
#define GV_REC_EXIT GV_FOURCC('e', 'x', 'i', 't')       /* init: the program ended, cleanup done */
#define GV_REC_EXEC_FAIL GV_FOURCC('e', 'x', 'e', 'c')  /* init: the program could not be started */
#define GV_REC_GO_FAIL GV_FOURCC('g', 'o', 'f', 'l')    /* init: the go message could not be carried out */
#define GV_REC_TRACE GV_FOURCC('t', 'r', 'c', 'e')      /* init or the program's child: phase times */

/* SETUP_FAIL: a=op index, b=op code, c=errno. */
struct gv_setup_fail_rec {
  uint32_t magic;
  int32_t op_index;
  int32_t op_code;
  int32_t err;
  int64_t pad[2];
};

/* The others, from init (and TRACE also from the program's child before exec). */
struct gv_status_rec {
  uint32_t magic;
  int32_t a;   /* EXIT: wait status; EXEC_FAIL: errno (> 0) or -step; GO_FAIL: step; TRACE: GV_TRACE_* */
  int64_t b;   /* EXIT: CPU time µs (user + system); EXEC_FAIL/GO_FAIL: errno; TRACE: stamp */
  int64_t c;   /* EXIT: wall time µs, fork to reaped; TRACE: stamp */
  int64_t d;   /* EXIT: peak RSS KiB; TRACE: stamp */
};

/* TRACE records (only for a go message with GV_ITEM_TRACE, except INIT_END, which comes with
 * every EXIT): three CLOCK_MONOTONIC stamps in ns each, the same clock Node's process.hrtime reads. */
enum gv_trace {
  GV_TRACE_INIT_START = 1, /* message received, checked and mounts attached, fork returned */
  GV_TRACE_CHILD = 2,      /* the program's child: started, privileges dropped, filter installed */
  GV_TRACE_INIT_END = 3,   /* program reaped, pid namespace swept, /tmp checked */
  GV_TRACE_DETACH = 4,     /* after the report: report written, mounts detached, 0; comes
                              with the note of the *next* run */
};

/* ---- Notes: the reaper → Node, on the notification pipe ----------------------------- */

/* The reaper only reports deaths: the end of each run Node reads from the sandbox's own
 * status pipe, with no thread in between. */
#define GV_NOTE_DEATH GV_FOURCC('d', 'e', 'a', 'd') /* a sandbox's init is gone */

struct gv_note {
  uint32_t magic;
  uint32_t pad;
  uint64_t token;
  int32_t code;          /* CLD_EXITED / CLD_KILLED / CLD_DUMPED of the init */
  int32_t status;        /* its exit code or signal */
  int64_t utime_us;      /* rusage of the init and the children it reaped */
  int64_t stime_us;
  int64_t maxrss_kb;
};

/* ---- The go message: Node → gavel-init, on the control socket ----------------------- */

/* On the socket: a u32 total length (the fds ride on it as SCM_RIGHTS), then the message:
 * an 8-byte header (magic, u32 0), then items: u32 type, u32 payload length, the payload
 * padded to 8. The payload length must be exactly what the item type takes. */
#define GV_GO_MAGIC GV_FOURCC('g', 'o', '!', '!')
#define GV_GO_HEADER_SIZE 8
#define GV_GO_ITEM_HEADER_SIZE 8

enum gv_item {
  GV_ITEM_IDS = 1,     /* u32 uid, u32 gid (8 bytes) */
  GV_ITEM_RLIMIT = 2,  /* u32 resource, u32 pad, u64 soft, u64 hard (24 bytes) */
  GV_ITEM_MOUNT = 3,   /* u32 index into the received fds, then the target path, NUL-ended */
  GV_ITEM_TMP = 4,     /* tmpfs options for remounting /tmp, NUL-ended */
  GV_ITEM_FILTER = 5,  /* struct sock_filter[] (8 bytes each) */
  GV_ITEM_ARG = 6,     /* one argv string, NUL-ended */
  GV_ITEM_ENV = 7,     /* one environment string, NUL-ended */
  GV_ITEM_CHDIR = 8,   /* working directory, NUL-ended */
  GV_ITEM_TRACE = 9,   /* no payload: report phase times (TRACE records) for this run */
};

/* What init accepts; anything past these is refused (GO_FAIL, step MESSAGE, E2BIG). */
#define GV_GO_MAX_BYTES (64u << 20)
#define GV_GO_MAX_FDS 16
#define GV_GO_MAX_ARGS 4096
#define GV_GO_MAX_ENVS 4096
#define GV_GO_MAX_RLIMITS 16
#define GV_GO_MAX_MOUNTS 16
#define GV_GO_MAX_FILTER 4096 /* BPF_MAXINSNS */

/* Steps of init's handling of a go message, reported in GO_FAIL and EXEC_FAIL records. */
enum gv_step {
  GV_STEP_READ = 1,
  GV_STEP_MOUNT = 2,
  GV_STEP_TMP = 3,
  GV_STEP_STDIO = 4,
  GV_STEP_CHDIR = 5,
  GV_STEP_RLIMIT = 6,
  GV_STEP_CAPS = 7,
  GV_STEP_IDS = 8,
  GV_STEP_PDEATH = 9,
  GV_STEP_NNP = 10,
  GV_STEP_SECCOMP = 11,
  GV_STEP_FORK = 12,
  GV_STEP_MESSAGE = 13,
  GV_STEP_CLEANUP = 14,
};

/* ---- gavel-init's fds and defaults ---------------------------------------------------- */

#define GV_INIT_STATUS_FD 3
#define GV_INIT_CONTROL_FD 4
#define GV_INIT_EXE_FD 5 /* where the plan leaves the init binary for execveat */

/* /tmp of a waiting sandbox (the plan mounts it, init restores it after a run) */
#define GV_DEFAULT_TMP_BYTES (64 << 20)
#define GV_DEFAULT_TMP_OPTIONS "size=67108864,nr_inodes=4096,mode=1777"

#endif
