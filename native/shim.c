/*
 * gavel's native shim: the only code that runs between clone and execve.
 *
 * Node is multi-threaded, so the child of clone() must not touch anything that another
 * thread may hold (malloc arenas, stdio locks, the JS heap). The child here therefore
 * runs a *plan*: a flat buffer of fixed-size operations that TypeScript prepared in the
 * parent (mounts, setns, rlimits, ids, seccomp...). The interpreter below uses raw
 * syscalls only and touches no memory but the plan and its own stack.
 *
 * The child ends by exec'ing gavel-init (native/init.c), which waits in the finished
 * sandbox for a "go" message with the per-run details: the slot is pre-warmed, and the
 * expensive part of a run happens before the run is asked for.
 *
 * The parent side also lives here: a reaper thread that waits on pidfds with epoll and
 * writes one fixed-size record per exited sandbox to a pipe that Node reads as a stream,
 * so no libuv threadpool thread is ever parked in waitid().
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define GV_EXPORT __attribute__((visibility("default")))

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif

/* ---- The plan: shared layout with src/sandbox/plan.ts ---------------------------- */

#define GV_PLAN_MAGIC 0x6776706cu /* "gvpl" */

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
  int32_t pad2;
};

/* Records on the status pipe. The child of clone writes FAIL; gavel-init writes EXIT or
 * EXEC_FAIL (see init.c). 32 bytes each so several fit one atomic pipe write. */
#define GV_REC_FAIL 0x6c696166u /* "fail" */
struct gv_fail_rec {
  uint32_t magic;
  int32_t op_index;
  int32_t op_code;
  int32_t err;
  int64_t pad[2];
};

/* ---- Raw syscall helpers used by the child ---------------------------------------- */

static inline long sc(long n, long a, long b, long c, long d, long e) {
  return syscall(n, a, b, c, d, e);
}

/* syscall() from glibc sets errno in the TLS of the calling thread; under CLONE_VM the
 * child runs on the parent thread's TLS, and errno is only read back by the child
 * itself before the parent resumes (CLONE_VFORK), so that is harmless. */

static const char *plan_str(const struct gv_plan *p, int64_t off) {
  return off ? (const char *)p + off : NULL;
}

static void child_fail(struct gv_plan *p, int i, const struct gv_op *op, int err) {
  struct gv_fail_rec r;
  for (unsigned k = 0; k < sizeof r; k++) ((char *)&r)[k] = 0;
  r.magic = GV_REC_FAIL;
  r.op_index = i;
  r.op_code = (int32_t)op->code;
  r.err = err;
  p->fail_op = i;
  p->fail_errno = err;
  /* The status pipe may already sit at fd 3; either way one of them is valid. */
  if (p->status_fd >= 0 && sc(SYS_write, p->status_fd, (long)&r, sizeof r, 0, 0) < 0) sc(SYS_write, 3, (long)&r, sizeof r, 0, 0);
  sc(SYS_exit_group, 127, 0, 0, 0, 0);
}

static int pivot_into(const char *newroot) {
  /* pivot_root(".", ".") stacks the old root under the new one; detaching it leaves
   * only the new tree, without needing a directory to park the old root in. */
  if (sc(SYS_chdir, (long)newroot, 0, 0, 0, 0) < 0) return -1;
  if (sc(SYS_pivot_root, (long)".", (long)".", 0, 0, 0) < 0) return -1;
  if (sc(SYS_umount2, (long)".", MNT_DETACH, 0, 0, 0) < 0) return -1;
  return (int)sc(SYS_chdir, (long)"/", 0, 0, 0, 0);
}

#define GV_MAX_ARGS 1024

static int run_exec(struct gv_plan *p, const struct gv_op *op) {
  /* argv/envp pointer arrays live on this (private) stack: no allocation. */
  const char *argv[GV_MAX_ARGS + 1];
  const char *envp[GV_MAX_ARGS + 1];
  int64_t argc = op->b, envc = op->d;
  if (argc < 1 || argc > GV_MAX_ARGS || envc < 0 || envc > GV_MAX_ARGS) {
    errno = E2BIG;
    return -1;
  }
  const char *s = plan_str(p, op->c);
  for (int64_t k = 0; k < argc; k++) {
    argv[k] = s;
    while (*s) s++;
    s++;
  }
  argv[argc] = NULL;
  s = plan_str(p, op->e);
  for (int64_t k = 0; k < envc; k++) {
    envp[k] = s;
    while (*s) s++;
    s++;
  }
  envp[envc] = NULL;
  return (int)sc(SYS_execveat, op->a, (long)"", (long)argv, (long)envp, AT_EMPTY_PATH);
}

static int run_op(struct gv_plan *p, const struct gv_op *op) {
  switch (op->code) {
    case GV_OP_WRITE_FD: {
      const char *s = plan_str(p, op->b);
      return sc(SYS_write, op->a, (long)s, (long)strlen(s), 0, 0) < 0 ? -1 : 0;
    }
    case GV_OP_SETNS:
      return (int)sc(SYS_setns, op->a, op->b, 0, 0, 0);
    case GV_OP_UNSHARE:
      return (int)sc(SYS_unshare, op->a, 0, 0, 0, 0);
    case GV_OP_MOUNT:
      return (int)sc(SYS_mount, (long)plan_str(p, op->a), (long)plan_str(p, op->b), (long)plan_str(p, op->c),
                     op->d, (long)plan_str(p, op->e));
    case GV_OP_PIVOT:
      return pivot_into(plan_str(p, op->a));
    case GV_OP_CHDIR:
      return (int)sc(SYS_chdir, (long)plan_str(p, op->a), 0, 0, 0, 0);
    case GV_OP_DUP2: {
      long from = op->a == GV_FD_STATUS ? p->status_fd : op->a == GV_FD_CONTROL ? p->control_fd : op->a;
      if (from == op->b) {
        /* dup3 refuses equal fds; just make sure it survives exec. */
        return (int)sc(SYS_fcntl, from, F_SETFD, 0, 0, 0);
      }
      if (sc(SYS_dup3, from, op->b, 0, 0, 0) < 0) return -1;
      if (op->a == GV_FD_STATUS) p->status_fd = (int32_t)op->b;
      return 0;
    }
    case GV_OP_CLOSE_FROM:
      return (int)sc(SYS_close_range, op->a, ~0U, 0, 0, 0);
    case GV_OP_EXEC:
      return run_exec(p, op);
    case GV_OP_UMASK:
      sc(SYS_umask, op->a, 0, 0, 0, 0);
      return 0;
    case GV_OP_OPEN_NS: {
      long fd = sc(SYS_openat, AT_FDCWD, (long)plan_str(p, op->a), O_RDONLY | O_CLOEXEC, 0, 0);
      if (fd < 0) return -1;
      p->opened_fd = (int32_t)fd;
      return 0;
    }
    case GV_OP_EXIT:
      sc(SYS_exit_group, op->a, 0, 0, 0, 0);
      return 0;
    default:
      errno = EINVAL;
      return -1;
  }
}

/* The entry point of the cloned child. Returns only by exec or exit. */
static int child_main(void *arg) {
  struct gv_plan *p = arg;
  const struct gv_op *ops = (const struct gv_op *)((char *)p + p->ops_offset);
  for (uint32_t i = 0; i < p->nops; i++) {
    if (run_op(p, &ops[i]) < 0) child_fail(p, (int)i, &ops[i], errno);
  }
  /* A plan must end in GV_OP_EXEC; falling off the end is a plan bug. */
  child_fail(p, (int)p->nops, &ops[0], ENOEXEC);
  return 127;
}

/* ---- clone3 with a caller-provided stack ------------------------------------------ */

#if defined(__x86_64__)
/* clone3 returns into the child on the new stack, where the C frame of the caller does
 * not exist; this stub calls fn(arg) there and exits with its result. */
long gv_clone3(struct clone_args *args, size_t size, int (*fn)(void *), void *arg);
__asm__(
    ".text\n"
    ".type gv_clone3,@function\n"
    "gv_clone3:\n"
    "  mov %rdx, %r8\n"    /* fn: r8/r9 survive the syscall in both parent and child */
    "  mov %rcx, %r9\n"    /* arg */
    "  mov $435, %eax\n"   /* SYS_clone3 */
    "  syscall\n"
    "  test %rax, %rax\n"
    "  jnz 1f\n"
    "  xor %ebp, %ebp\n"
    "  and $-16, %rsp\n"
    "  mov %r9, %rdi\n"
    "  call *%r8\n"
    "  mov %eax, %edi\n"
    "  mov $231, %eax\n"   /* exit_group */
    "  syscall\n"
    "  hlt\n"
    "1:\n"
    "  ret\n"
    ".size gv_clone3, .-gv_clone3\n");
#define GV_HAVE_CLONE3 1
#else
#define GV_HAVE_CLONE3 0
#endif

/* One child stack at a time is enough: with CLONE_VFORK the caller is suspended until the
 * child has exec'd or died, so the stack is free again when clone returns. The mutex only
 * guards against two Node threads spawning at once. */
#define GV_STACK_SIZE (512 * 1024)
static pthread_mutex_t g_spawn_mu = PTHREAD_MUTEX_INITIALIZER;
static char *g_stack;
static int g_clone3_state = GV_HAVE_CLONE3 ? 1 : 0; /* 1 untested/works, 0 unavailable */

static int ensure_stack(void) {
  if (g_stack) return 0;
  void *m = mmap(NULL, GV_STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (m == MAP_FAILED) return -1;
  g_stack = m;
  return 0;
}

/* ---- Reaper ------------------------------------------------------------------------ */

#define GV_MAX_RUNS 4096
#define GV_EXIT_MAGIC 0x74697865u /* "exit" */

/* What Node reads from the notification pipe: one "runx" record per finished run, and one
 * "exit" record when a sandbox's init is gone. 128 bytes. */
struct gv_exit_rec {
  uint32_t magic;
  uint32_t nbytes;       /* bytes of status-pipe data copied into data[] */
  uint64_t token;
  int32_t code;          /* CLD_EXITED / CLD_KILLED / CLD_DUMPED of the sandbox init */
  int32_t status;        /* its exit code or signal */
  int64_t utime_us;      /* rusage of the init and the children it reaped */
  int64_t stime_us;
  int64_t maxrss_kb;
  uint8_t data[80];      /* records init or the clone child left on the status pipe */
};

struct gv_entry {
  int used;
  int pidfd;
  int statusfd;
  /* init's records of the current run, until its final one (EXIT or GO_FAIL) arrives */
  uint8_t pending[64];
  uint32_t npending;
  /* Holds the sandbox's mount namespace: without it the namespace (and its dozen mounts)
   * is torn down inside the dying init, before its exit is even reported. */
  int mntfd;
  uint64_t token;
};

/* epoll data: the table index, with this bit set for the status pipe (else the pidfd) */
#define GV_EV_STATUS 0x80000000u

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static struct gv_entry g_tab[GV_MAX_RUNS];
static int g_epfd = -1;
static int g_notify_rd = -1, g_notify_wr = -1;
static pthread_t g_reaper;

#define GV_REC_EXIT 0x74697865u      /* "exit": init saw the program end and cleaned up */
#define GV_REC_EXEC_FAIL 0x63657865u /* "exec": the program could not be started */
#define GV_REC_GO_FAIL 0x6c666f67u   /* "gofl": init could not carry out the go message */
#define GV_RUN_MAGIC 0x786e7572u     /* "runx": a run ended; the sandbox lives on */

static void emit(const struct gv_exit_rec *r) {
  /* A full pipe means Node stopped reading; blocking here is the right back-pressure. */
  ssize_t w;
  do w = write(g_notify_wr, r, sizeof *r); while (w < 0 && errno == EINTR);
}

/* Files init's 32-byte records; a final one closes the run and goes to Node at once. */
static void take_records(struct gv_entry *e, const uint8_t *buf, size_t n) {
  for (size_t off = 0; off + 32 <= n; off += 32) {
    if (e->npending + 32 <= sizeof e->pending) {
      memcpy(e->pending + e->npending, buf + off, 32);
      e->npending += 32;
    }
    uint32_t magic = *(const uint32_t *)(buf + off);
    if (magic == GV_REC_EXIT || magic == GV_REC_GO_FAIL) {
      struct gv_exit_rec r;
      memset(&r, 0, sizeof r);
      r.magic = GV_RUN_MAGIC;
      r.token = e->token;
      r.code = CLD_EXITED;
      r.nbytes = e->npending;
      memcpy(r.data, e->pending, e->npending);
      e->npending = 0;
      emit(&r);
    }
  }
}

/* init wrote to the status pipe (or closed it). Pipe writes of 32 bytes are atomic, so
 * reads return whole records. */
static void on_status(int idx) {
  struct gv_entry *e = &g_tab[idx];
  uint8_t buf[512];
  ssize_t n = read(e->statusfd, buf, sizeof buf);
  if (n < 0 && errno == EAGAIN) return;
  if (n <= 0) {
    epoll_ctl(g_epfd, EPOLL_CTL_DEL, e->statusfd, NULL);
    return;
  }
  take_records(e, buf, (size_t)n);
}

/* The sandbox's init is gone: report what is left of its records, then its death.
 * Returns the mount-namespace fd to close once the lock is released (or -1). */
static int reap_entry(int idx) {
  struct gv_entry *e = &g_tab[idx];
  siginfo_t si;
  struct rusage ru;
  memset(&si, 0, sizeof si);
  memset(&ru, 0, sizeof ru);
  if (syscall(SYS_waitid, P_PIDFD, e->pidfd, &si, WEXITED | WNOHANG | __WALL, &ru) < 0) {
    if (errno != ECHILD) return -1;
  } else if (si.si_pid == 0) {
    return -1; /* not exited yet */
  }
  uint8_t buf[512];
  ssize_t n;
  while ((n = read(e->statusfd, buf, sizeof buf)) > 0) take_records(e, buf, (size_t)n);
  struct gv_exit_rec r;
  memset(&r, 0, sizeof r);
  r.magic = GV_EXIT_MAGIC;
  r.token = e->token;
  r.code = si.si_code;
  r.status = si.si_status;
  r.utime_us = (int64_t)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec;
  r.stime_us = (int64_t)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec;
  r.maxrss_kb = ru.ru_maxrss;
  r.nbytes = e->npending;
  memcpy(r.data, e->pending, e->npending);
  emit(&r);
  epoll_ctl(g_epfd, EPOLL_CTL_DEL, e->pidfd, NULL);
  epoll_ctl(g_epfd, EPOLL_CTL_DEL, e->statusfd, NULL);
  close(e->pidfd);
  close(e->statusfd);
  int mntfd = e->mntfd;
  e->used = 0;
  return mntfd;
}

static void *reaper_main(void *unused) {
  (void)unused;
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, NULL);
  struct epoll_event evs[64];
  for (;;) {
    int n = epoll_wait(g_epfd, evs, 64, -1);
    if (n < 0) continue;
    int mnt[64];
    int nmnt = 0;
    pthread_mutex_lock(&g_mu);
    for (int i = 0; i < n; i++) {
      uint32_t d = evs[i].data.u32;
      int idx = (int)(d & ~GV_EV_STATUS);
      if (idx < 0 || idx >= GV_MAX_RUNS || !g_tab[idx].used) continue;
      if (d & GV_EV_STATUS) {
        on_status(idx);
      } else {
        int fd = reap_entry(idx);
        if (fd >= 0) mnt[nmnt++] = fd;
      }
    }
    pthread_mutex_unlock(&g_mu);
    /* The mount namespaces go now, after Node has its answers, and outside the lock:
     * tearing one down waits for an RCU grace period. */
    for (int i = 0; i < nmnt; i++) close(mnt[i]);
  }
  return NULL;
}

/* Starts the reaper once; returns the read end of the notification pipe. */
GV_EXPORT int gv_reaper_start(void) {
  pthread_mutex_lock(&g_mu);
  if (g_notify_rd < 0) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0) goto fail;
    g_epfd = epoll_create1(EPOLL_CLOEXEC);
    if (g_epfd < 0) goto fail;
    g_notify_rd = fds[0];
    g_notify_wr = fds[1];
    if (pthread_create(&g_reaper, NULL, reaper_main, NULL) != 0) goto fail;
  }
  pthread_mutex_unlock(&g_mu);
  return g_notify_rd;
fail:;
  int err = errno;
  pthread_mutex_unlock(&g_mu);
  return -err;
}

/* The checks both entry points start with; err[] as documented at gv_spawn. */
static struct gv_plan *check_plan(uint8_t *plan, uint32_t len, int32_t *err) {
  struct gv_plan *p = (struct gv_plan *)plan;
  err[0] = -1;
  err[1] = 0;
  err[2] = 0;
  if (len < sizeof *p || p->magic != GV_PLAN_MAGIC) {
    err[1] = EINVAL;
    return NULL;
  }
  return p;
}

/*
 * Runs a plan that prepares something shared and ends in GV_OP_EXIT: a slot's template
 * mount namespace. The child shares our fd table, so the namespace fd it opens stays
 * with us. Returns that fd, or -1 with err[] as for gv_spawn.
 */
GV_EXPORT int gv_make_template(uint8_t *plan, uint32_t len, int32_t *err) {
  struct gv_plan *p = check_plan(plan, len, err);
  if (!p) return -1;
  p->status_fd = -1;
  p->control_fd = -1;
  p->opened_fd = -1;
  p->fail_op = -1;
  pthread_mutex_lock(&g_spawn_mu);
  long pid = -1;
  if (ensure_stack() == 0) {
    pid = clone(child_main, g_stack + GV_STACK_SIZE, CLONE_VM | CLONE_VFORK | CLONE_FILES | (int)p->clone_flags | SIGCHLD, p);
  }
  int e = errno;
  pthread_mutex_unlock(&g_spawn_mu);
  if (pid < 0) {
    err[1] = e;
    return -1;
  }
  int st = 0;
  waitpid((pid_t)pid, &st, __WALL);
  if (p->fail_op >= 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    err[0] = p->fail_op;
    err[1] = p->fail_errno ? p->fail_errno : EIO;
    if (p->opened_fd >= 0) close(p->opened_fd);
    return -1;
  }
  return p->opened_fd;
}

GV_EXPORT int gv_exit_record_size(void) { return (int)sizeof(struct gv_exit_rec); }
GV_EXPORT int gv_op_size(void) { return (int)sizeof(struct gv_op); }
GV_EXPORT int gv_plan_header_size(void) { return (int)sizeof(struct gv_plan); }

/* ---- Spawn ------------------------------------------------------------------------- */

static long do_clone(struct gv_plan *p, int *pidfd) {
  uint64_t flags = CLONE_VM | CLONE_VFORK | CLONE_PIDFD | p->clone_flags;
  if (g_clone3_state) {
    struct clone_args ca;
    memset(&ca, 0, sizeof ca);
    ca.flags = flags | (p->cgroup_fd >= 0 ? CLONE_INTO_CGROUP : 0);
    ca.pidfd = (uint64_t)(uintptr_t)pidfd;
    ca.exit_signal = SIGCHLD;
    ca.stack = (uint64_t)(uintptr_t)g_stack;
    ca.stack_size = GV_STACK_SIZE;
    ca.cgroup = p->cgroup_fd >= 0 ? (uint64_t)p->cgroup_fd : 0;
#if GV_HAVE_CLONE3
    long pid = gv_clone3(&ca, sizeof ca, child_main, p);
    if (pid != -ENOSYS) {
      if (pid < 0) errno = (int)-pid;
      return pid < 0 ? -1 : pid;
    }
#endif
    g_clone3_state = 0;
  }
  if (p->cgroup_fd >= 0) {
    errno = ENOSYS; /* the caller falls back to joining through cgroup.procs */
    return -1;
  }
  return clone(child_main, g_stack + GV_STACK_SIZE, (int)flags | SIGCHLD, p, pidfd);
}

/* Gets rid of a child we cannot hand over: kill (it may be dead already), reap, close. */
static void abandon(int pidfd, int statusfd, int controlfd) {
  siginfo_t si;
  syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
  syscall(SYS_waitid, P_PIDFD, pidfd, &si, WEXITED | __WALL, NULL);
  close(pidfd);
  close(statusfd);
  close(controlfd);
}

/*
 * Clones a sandbox that runs `plan`. On success returns the pid and registers the child
 * with the reaper under `token`. On failure returns -1 and fills err[0] = failed op
 * index (-1 when clone itself failed), err[1] = errno, err[2] = op code.
 */
GV_EXPORT long gv_spawn(uint8_t *plan, uint32_t len, uint64_t token, int32_t *err, int32_t *control) {
  struct gv_plan *p = check_plan(plan, len, err);
  if (!p) return -1;
  int sfd[2], cfd[2];
  if (pipe2(sfd, O_CLOEXEC | O_NONBLOCK) < 0) {
    err[1] = errno;
    return -1;
  }
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, cfd) < 0) {
    err[1] = errno;
    close(sfd[0]);
    close(sfd[1]);
    return -1;
  }
  p->status_fd = sfd[1];
  p->control_fd = cfd[1];
  *control = -1;
  p->fail_op = -1;
  p->fail_errno = 0;
  int pidfd = -1;

  pthread_mutex_lock(&g_spawn_mu);
  long pid = -1;
  if (ensure_stack() == 0) pid = do_clone(p, &pidfd);
  int clone_errno = errno;
  pthread_mutex_unlock(&g_spawn_mu);
  /* A child that changed its uid made the shared mm non-dumpable; that would hide
   * /proc/self of Node from itself. Restore it. */
  prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
  close(sfd[1]);
  close(cfd[1]);

  if (pid < 0) {
    err[1] = clone_errno;
    close(sfd[0]);
    close(cfd[0]);
    return -1;
  }
  if (p->fail_op >= 0) {
    /* Under CLONE_VFORK the child has already exited when we get here. */
    struct gv_fail_rec r;
    ssize_t n = read(sfd[0], &r, sizeof r);
    err[0] = p->fail_op;
    err[1] = p->fail_errno;
    err[2] = (n == sizeof r && r.magic == GV_REC_FAIL) ? r.op_code : 0;
    abandon(pidfd, sfd[0], cfd[0]);
    return -1;
  }

  pthread_mutex_lock(&g_mu);
  int idx = -1;
  for (int i = 0; i < GV_MAX_RUNS; i++) {
    if (!g_tab[i].used) {
      idx = i;
      break;
    }
  }
  if (idx < 0) {
    pthread_mutex_unlock(&g_mu);
    abandon(pidfd, sfd[0], cfd[0]);
    err[1] = EAGAIN;
    return -1;
  }
  char path[64];
  snprintf(path, sizeof path, "/proc/%ld/ns/mnt", pid);
  int mntfd = open(path, O_RDONLY | O_CLOEXEC);
  memset(&g_tab[idx], 0, sizeof g_tab[idx]);
  g_tab[idx].used = 1;
  g_tab[idx].pidfd = pidfd;
  g_tab[idx].statusfd = sfd[0];
  g_tab[idx].mntfd = mntfd;
  g_tab[idx].token = token;
  struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)idx};
  struct epoll_event evs = {.events = EPOLLIN, .data.u32 = (uint32_t)idx | GV_EV_STATUS};
  if (epoll_ctl(g_epfd, EPOLL_CTL_ADD, pidfd, &ev) < 0 || epoll_ctl(g_epfd, EPOLL_CTL_ADD, sfd[0], &evs) < 0) {
    int e = errno;
    epoll_ctl(g_epfd, EPOLL_CTL_DEL, pidfd, NULL);
    g_tab[idx].used = 0;
    if (mntfd >= 0) close(mntfd);
    pthread_mutex_unlock(&g_mu);
    abandon(pidfd, sfd[0], cfd[0]);
    err[1] = e;
    return -1;
  }
  pthread_mutex_unlock(&g_mu);
  *control = cfd[0];
  return pid;
}

/*
 * Sends a pre-warmed sandbox its go message: a u32 length, then `len` bytes; `fds` ride
 * on the length as SCM_RIGHTS. Returns 0 or -errno.
 */
GV_EXPORT int gv_go(int ctl, const uint8_t *msg, uint32_t len, const int32_t *fds, uint32_t nfds) {
  if (nfds > 16) return -EINVAL;
  char cbuf[CMSG_SPACE(sizeof(int) * 16)];
  memset(cbuf, 0, sizeof cbuf);
  struct iovec iov = {&len, sizeof len};
  struct msghdr mh;
  memset(&mh, 0, sizeof mh);
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  if (nfds) {
    mh.msg_control = cbuf;
    mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
  }
  ssize_t n;
  do n = sendmsg(ctl, &mh, MSG_NOSIGNAL); while (n < 0 && errno == EINTR);
  if (n != sizeof len) return n < 0 ? -errno : -EIO;
  for (uint32_t sent = 0; sent < len;) {
    ssize_t w = send(ctl, msg + sent, len - sent, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return -errno;
    sent += (uint32_t)w;
  }
  return 0;
}

#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
struct gv_mount_attr {
  uint64_t attr_set, attr_clr, propagation, userns_fd;
};

/*
 * A detached copy of the mount tree at `path` with `attr` (MOUNT_ATTR_*) set, to be
 * attached inside a sandbox by its init. Returns the tree's fd or -errno.
 */
GV_EXPORT int gv_clone_tree(const char *path, uint64_t attr) {
  int fd = (int)syscall(SYS_open_tree, AT_FDCWD, path, 1 /* OPEN_TREE_CLONE */ | O_CLOEXEC | AT_RECURSIVE);
  if (fd < 0) return -errno;
  struct gv_mount_attr a = {attr, 0, 0, 0};
  if (attr && syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &a, sizeof a) < 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  return fd;
}

/* Signals a running sandbox by token. Going through the table under the lock means a
 * reused fd number can never redirect the signal to another sandbox. */
GV_EXPORT int gv_kill(uint64_t token, int sig) {
  int rc = -ESRCH;
  pthread_mutex_lock(&g_mu);
  for (int i = 0; i < GV_MAX_RUNS; i++) {
    if (g_tab[i].used && g_tab[i].token == token) {
      rc = syscall(SYS_pidfd_send_signal, g_tab[i].pidfd, sig, NULL, 0) < 0 ? -errno : 0;
      break;
    }
  }
  pthread_mutex_unlock(&g_mu);
  return rc;
}

/* ---- Pooled namespaces -------------------------------------------------------------- */

struct ns_job {
  int fds[3]; /* net, ipc, uts */
  int err;
  const char *step;
};

static int write_file(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = write(fd, text, strlen(text));
  int e = errno;
  close(fd);
  errno = e;
  return n < 0 ? -1 : 0;
}

#define NS_FAIL(s)       \
  do {                   \
    job->err = errno;    \
    job->step = (s);     \
    return NULL;         \
  } while (0)

static void *ns_thread(void *arg) {
  struct ns_job *job = arg;
  /* unshare on a throwaway thread moves only that thread; the namespaces outlive it
   * through the fds opened here. */
  if (unshare(CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS) < 0) NS_FAIL("unshare");
  if (sethostname("gavel", 5) < 0) NS_FAIL("sethostname");
  /* A pooled IPC namespace must not carry anything from one run to the next: shared
   * memory dies with its last user, and semaphores and message queues cannot be made. */
  if (write_file("/proc/sys/kernel/shm_rmid_forced", "1") < 0) NS_FAIL("shm_rmid_forced");
  if (write_file("/proc/sys/kernel/msgmni", "0") < 0) NS_FAIL("msgmni");
  if (write_file("/proc/sys/kernel/sem", "250 32000 32 0") < 0) NS_FAIL("sem");
  if (write_file("/proc/sys/fs/mqueue/queues_max", "0") < 0 && errno != ENOENT) NS_FAIL("mqueue");
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) NS_FAIL("socket");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strcpy(ifr.ifr_name, "lo");
  int rc = ioctl(s, SIOCGIFFLAGS, &ifr);
  if (rc == 0) {
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    rc = ioctl(s, SIOCSIFFLAGS, &ifr);
  }
  int e = errno;
  close(s);
  errno = e;
  if (rc < 0) NS_FAIL("bring lo up");
  static const char *const names[3] = {"/proc/thread-self/ns/net", "/proc/thread-self/ns/ipc", "/proc/thread-self/ns/uts"};
  for (int i = 0; i < 3; i++) {
    job->fds[i] = open(names[i], O_RDONLY | O_CLOEXEC);
    if (job->fds[i] < 0) NS_FAIL("open ns");
  }
  return NULL;
}

/*
 * Creates the namespaces a slot keeps for its whole life: network (only `lo`, up), IPC
 * (unable to keep objects) and UTS (hostname "gavel"). Making a network namespace is the
 * largest single cost of a run, and its teardown is slow. Fills fds[0..2] (net, ipc, uts);
 * returns 0, or -errno with *step naming what failed.
 */
GV_EXPORT int gv_make_namespaces(int32_t *fds, const char **step) {
  struct ns_job job = {{-1, -1, -1}, 0, NULL};
  pthread_t t;
  int rc = pthread_create(&t, NULL, ns_thread, &job);
  if (rc != 0) return -rc;
  pthread_join(t, NULL);
  if (job.err) {
    for (int i = 0; i < 3; i++)
      if (job.fds[i] >= 0) close(job.fds[i]);
    *step = job.step;
    return -job.err;
  }
  for (int i = 0; i < 3; i++) fds[i] = job.fds[i];
  *step = NULL;
  return 0;
}
