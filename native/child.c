/*
 * The code that runs between clone and execve — all of it, so this is the one file to
 * audit for that window.
 *
 * The child is cloned with CLONE_VM | CLONE_VFORK from a multi-threaded Node: it shares
 * the parent's memory while the parent thread waits, so it must not touch anything that
 * another thread may hold (malloc arenas, stdio locks, the JS heap) nor return into any
 * frame of the parent. It therefore interprets a *plan*: a flat buffer of fixed-size
 * operations that TypeScript prepared in the parent (write, to join a v1 cgroup; setns,
 * unshare, mount, pivot_root, open of a namespace, dup3, close_range, chdir, umask,
 * execveat). The interpreter uses raw syscalls only and touches no memory but the plan
 * and its own stack.
 *
 * Signals: the parent blocks all of them before the clone and the child never unblocks
 * any, so no handler of Node's can run on this stack; the handlers themselves are reset
 * to SIG_DFL (by the kernel with CLONE_CLEAR_SIGHAND, else by reset_handlers below)
 * before anything else. gavel-init, exec'd at the end, sets its own mask and handlers.
 *
 * Everything per run (rlimits, ids, capabilities, seccomp, argv) is gavel-init's job
 * (native/init.c), in a process of its own, after a go message.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

static inline long sc(long n, long a, long b, long c, long d, long e) {
  return syscall(n, a, b, c, d, e);
}

/* syscall() from glibc sets errno in the TLS of the calling thread; under CLONE_VM the
 * child runs on the parent thread's TLS, and errno is only read back by the child
 * itself before the parent resumes (CLONE_VFORK), so that is harmless. */

static const char *plan_str(const struct gv_plan *p, int64_t off) {
  return off ? (const char *)p + off : NULL;
}

static long str_len(const char *s) {
  long n = 0;
  while (s[n]) n++;
  return n;
}

static void child_fail(struct gv_plan *p, int i, uint32_t code, int err) {
  struct gv_setup_fail_rec r;
  for (unsigned k = 0; k < sizeof r; k++) ((char *)&r)[k] = 0;
  r.magic = GV_REC_SETUP_FAIL;
  r.op_index = i;
  r.op_code = (int32_t)code;
  r.err = err;
  p->fail_op = i;
  p->fail_errno = err;
  /* The status pipe may already sit at fd 3; either way one of them is valid. */
  if (p->status_fd >= 0 && sc(SYS_write, p->status_fd, (long)&r, sizeof r, 0, 0) < 0)
    sc(SYS_write, GV_INIT_STATUS_FD, (long)&r, sizeof r, 0, 0);
  sc(SYS_exit_group, 127, 0, 0, 0, 0);
}

/* The kernel's struct sigaction (not glibc's: its mask is 128 bytes). */
struct k_sigaction {
  void *handler;
  unsigned long flags;
  void *restorer;
  uint64_t mask;
};

/* Without CLONE_CLEAR_SIGHAND the child starts with copies of Node's handlers: set every
 * handled signal back to SIG_DFL (ignored ones stay ignored, as the kernel flag does). */
static void reset_handlers(void) {
  for (long sig = 1; sig <= 64; sig++) {
    struct k_sigaction old = {0}, dfl = {0};
    if (sc(SYS_rt_sigaction, sig, 0, (long)&old, 8, 0) < 0) continue;
    if (old.handler == (void *)SIG_DFL || old.handler == (void *)SIG_IGN) continue;
    sc(SYS_rt_sigaction, sig, (long)&dfl, 0, 8, 0);
  }
}

static int pivot_into(const char *newroot) {
  /* pivot_root(".", ".") stacks the old root under the new one; detaching it leaves
   * only the new tree, without needing a directory to park the old root in. */
  if (sc(SYS_chdir, (long)newroot, 0, 0, 0, 0) < 0) return -1;
  if (sc(SYS_pivot_root, (long)".", (long)".", 0, 0, 0) < 0) return -1;
  if (sc(SYS_umount2, (long)".", MNT_DETACH, 0, 0, 0) < 0) return -1;
  return (int)sc(SYS_chdir, (long)"/", 0, 0, 0, 0);
}

static int run_exec(struct gv_plan *p, const struct gv_op *op) {
  /* argv/envp pointer arrays live on this (private) stack: no allocation. */
  const char *argv[GV_PLAN_MAX_ARGS + 1];
  const char *envp[GV_PLAN_MAX_ARGS + 1];
  int64_t argc = op->b, envc = op->d;
  if (argc < 1 || argc > GV_PLAN_MAX_ARGS || envc < 0 || envc > GV_PLAN_MAX_ARGS) {
    errno = E2BIG;
    return -1;
  }
  const char *s = plan_str(p, op->c);
  for (int64_t k = 0; k < argc; k++) {
    argv[k] = s;
    s += str_len(s) + 1;
  }
  argv[argc] = NULL;
  s = plan_str(p, op->e);
  for (int64_t k = 0; k < envc; k++) {
    envp[k] = s;
    s += str_len(s) + 1;
  }
  envp[envc] = NULL;
  return (int)sc(SYS_execveat, op->a, (long)"", (long)argv, (long)envp, AT_EMPTY_PATH);
}

static int run_op(struct gv_plan *p, const struct gv_op *op) {
  switch (op->code) {
    case GV_OP_WRITE_FD: {
      const char *s = plan_str(p, op->b);
      return sc(SYS_write, op->a, (long)s, str_len(s), 0, 0) < 0 ? -1 : 0;
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

int gv_child_main(void *arg) {
  struct gv_plan *p = arg;
  if (!(p->flags & GV_PLAN_F_SIGHAND_CLEARED)) reset_handlers();
  const struct gv_op *ops = (const struct gv_op *)((char *)p + p->ops_offset);
  for (uint32_t i = 0; i < p->nops; i++) {
    if (run_op(p, &ops[i]) < 0) child_fail(p, (int)i, ops[i].code, errno);
  }
  /* A plan must end in GV_OP_EXEC or GV_OP_EXIT; falling off the end is a plan bug. */
  child_fail(p, (int)p->nops, 0, ENOEXEC);
  return 127;
}

#if GV_HAVE_CLONE3
/* clone3 returns into the child on the new stack, where the C frame of the caller does
 * not exist; this stub calls fn(arg) there and exits with its result. */
__asm__(
    ".text\n"
    ".globl gv_clone3\n"
    ".hidden gv_clone3\n"
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
#endif
