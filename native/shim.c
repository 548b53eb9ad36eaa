/*
 * libgavel.so: what Node calls through koffi to make sandboxes.
 *
 * gv_spawn clones a sandbox (namespaces, cgroup, filesystem view) by handing a plan to
 * the clone child (native/child.c, the only code that runs between clone and exec),
 * which ends by exec'ing gavel-init (native/init.c); init then waits in the finished
 * sandbox for go messages (gv_go). Each run's end Node reads from the sandbox's status
 * pipe; the reaper thread (native/reaper.c) reports the sandbox's death. Also here: the slot's template mount namespace (gv_make_template), the namespaces
 * a slot keeps for life (gv_make_namespaces), detached mount trees for a run
 * (gv_clone_tree), and the protocol table TypeScript checks itself against.
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"

/* ---- Signals around clone ---------------------------------------------------------- */

/*
 * A CLONE_VM child runs on our memory with copies of Node's signal handlers: a signal
 * arriving before it has exec'd would run a Node handler on the child's stack, touching
 * state this thread owns. So, as glibc's posix_spawn does, every signal (glibc's internal
 * SIGCANCEL/SIGSETXID too, hence the raw syscall) is blocked in this thread from before
 * the clone until after it returns; the child inherits the full mask and keeps it until
 * gavel-init replaces it.
 */
void gv_block_all_signals(uint64_t *old) {
  uint64_t all = ~(uint64_t)0;
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, old, sizeof all);
}

void gv_restore_signals(const uint64_t *old) {
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, old, NULL, sizeof *old);
}

/* ---- Cloning ------------------------------------------------------------------------- */

/* One child stack at a time is enough: with CLONE_VFORK the caller is suspended until the
 * child has exec'd or died, so the stack is free again when clone returns. The mutex only
 * guards against two Node threads spawning at once. */
#define GV_STACK_SIZE (512 * 1024)
static pthread_mutex_t g_spawn_mu = PTHREAD_MUTEX_INITIALIZER;
static char *g_stack;
/* What clone3 offers here, learnt on first use: 2 with CLONE_CLEAR_SIGHAND, 1 without
 * (kernels 5.3-5.4), 0 no clone3 at all. -1 until the first clone. */
static int g_clone3_level = -1;

/* The older kernels' paths are tested on a new one by starting lower: GAVEL_TEST_CLONE
 * "no-clear-sighand" (clone3 without CLONE_CLEAR_SIGHAND) or "clone" (no clone3). */
static int initial_clone_level(void) {
  const char *forced = getenv("GAVEL_TEST_CLONE");
  int level = GV_HAVE_CLONE3 ? 2 : 0;
  if (forced && strcmp(forced, "no-clear-sighand") == 0 && level > 1) level = 1;
  if (forced && strcmp(forced, "clone") == 0) level = 0;
  return level;
}

static int ensure_stack(void) {
  if (g_stack) return 0;
  void *m = mmap(NULL, GV_STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (m == MAP_FAILED) return -1;
  g_stack = m;
  return 0;
}

/*
 * Clones the child that runs plan `p` (CLONE_VM | CLONE_VFORK: returns once it has
 * exec'd or exited) with all signals blocked. `extra` adds clone flags; pidfd, if given,
 * receives a pidfd (CLONE_PIDFD). Returns the pid, or -1 with errno. Call with
 * g_spawn_mu held.
 */
static long clone_child(struct gv_plan *p, uint64_t extra, int *pidfd) {
  if (ensure_stack() < 0) return -1;
  uint64_t flags = CLONE_VM | CLONE_VFORK | extra | p->clone_flags | (pidfd ? CLONE_PIDFD : 0);
  uint64_t old;
  long pid = -1;
  int err = 0;
  if (g_clone3_level < 0) g_clone3_level = initial_clone_level();
  gv_block_all_signals(&old);
#if GV_HAVE_CLONE3
  while (g_clone3_level > 0) {
    struct clone_args ca;
    memset(&ca, 0, sizeof ca);
    ca.flags = flags | (g_clone3_level == 2 ? CLONE_CLEAR_SIGHAND : 0) | (p->cgroup_fd >= 0 ? CLONE_INTO_CGROUP : 0);
    ca.pidfd = (uint64_t)(uintptr_t)pidfd;
    ca.exit_signal = SIGCHLD;
    ca.stack = (uint64_t)(uintptr_t)g_stack;
    ca.stack_size = GV_STACK_SIZE;
    ca.cgroup = p->cgroup_fd >= 0 ? (uint64_t)p->cgroup_fd : 0;
    p->flags = g_clone3_level == 2 ? GV_PLAN_F_SIGHAND_CLEARED : 0;
    pid = gv_clone3(&ca, sizeof ca, gv_child_main, p);
    if (pid >= 0) goto done;
    /* A kernel that does not know a flag says EINVAL before doing anything. */
    if (pid == -EINVAL && g_clone3_level == 2) {
      g_clone3_level = 1;
      continue;
    }
    if (pid != -ENOSYS) {
      err = (int)-pid;
      pid = -1;
      goto done;
    }
    g_clone3_level = 0;
  }
#endif
  p->flags = 0;
  if (p->cgroup_fd >= 0) {
    err = ENOSYS; /* the caller falls back to joining through cgroup.procs */
  } else {
    pid = clone(gv_child_main, g_stack + GV_STACK_SIZE, (int)flags | SIGCHLD, p, pidfd);
    if (pid < 0) err = errno;
  }
done:
  gv_restore_signals(&old);
  if (pid < 0) errno = err;
  return pid;
}

/* The checks both entry points start with; err[] as documented at gv_spawn. */
static struct gv_plan *check_plan(uint8_t *plan, uint32_t len, int32_t *err) {
  struct gv_plan *p = (struct gv_plan *)plan;
  err[0] = -1;
  err[1] = 0;
  err[2] = 0;
  if (len < sizeof *p || p->magic != GV_PLAN_MAGIC || p->ops_offset < (int64_t)sizeof *p ||
      (uint64_t)p->ops_offset + (uint64_t)p->nops * sizeof(struct gv_op) > len) {
    err[1] = EINVAL;
    return NULL;
  }
  p->fail_op = -1;
  p->fail_errno = 0;
  p->opened_fd = -1;
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
  p->cgroup_fd = -1;
  pthread_mutex_lock(&g_spawn_mu);
  long pid = clone_child(p, CLONE_FILES, NULL);
  int e = errno;
  pthread_mutex_unlock(&g_spawn_mu);
  if (pid < 0) {
    err[1] = e;
    return -1;
  }
  int st = 0;
  while (waitpid((pid_t)pid, &st, __WALL) < 0 && errno == EINTR) {
  }
  if (p->fail_op >= 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    err[0] = p->fail_op;
    err[1] = p->fail_errno ? p->fail_errno : EIO;
    if (p->opened_fd >= 0) close(p->opened_fd);
    return -1;
  }
  return p->opened_fd;
}

/* Gets rid of a child we cannot hand over: kill (it may be dead already), reap, close. */
static void abandon(int pidfd, int statusfd, int controlfd) {
  siginfo_t si;
  syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
  while (syscall(SYS_waitid, P_PIDFD, pidfd, &si, WEXITED | __WALL, NULL) < 0 && errno == EINTR) {
  }
  close(pidfd);
  close(statusfd);
  close(controlfd);
}

/*
 * Clones a sandbox that runs `plan`. On success returns the pid and registers the child
 * with the reaper under `token`; *control is Node's end of the control socket and
 * *status the read end (non-blocking) of its status pipe. On
 * failure returns -1 and fills err[0] = failed op index (-1 when clone itself failed),
 * err[1] = errno, err[2] = op code.
 */
GV_EXPORT long gv_spawn(uint8_t *plan, uint32_t len, uint64_t token, int32_t *err, int32_t *control, int32_t *status) {
  struct gv_plan *p = check_plan(plan, len, err);
  if (!p) return -1;
  *control = -1;
  *status = -1;
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
  int pidfd = -1;

  pthread_mutex_lock(&g_spawn_mu);
  long pid = clone_child(p, 0, &pidfd);
  int clone_errno = errno;
  pthread_mutex_unlock(&g_spawn_mu);
  /* Until it execs, the child runs on our mm, and a credential change there (setns into
   * a user namespace would be one) makes the kernel mark that mm non-dumpable, which
   * turns Node's /proc/self root-owned. No op of today's plans changes credentials (ids
   * and capabilities are gavel-init's job, after exec, on its own mm), so this is a guard
   * that costs one syscall, not a repair of something that happens. */
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
    struct gv_setup_fail_rec r;
    ssize_t n = read(sfd[0], &r, sizeof r);
    err[0] = p->fail_op;
    err[1] = p->fail_errno;
    err[2] = (n == sizeof r && r.magic == GV_REC_SETUP_FAIL) ? r.op_code : 0;
    abandon(pidfd, sfd[0], cfd[0]);
    return -1;
  }

  char path[64];
  snprintf(path, sizeof path, "/proc/%ld/ns/mnt", pid);
  int mntfd = open(path, O_RDONLY | O_CLOEXEC);
  int rc = gv_reaper_add(pidfd, mntfd, token);
  if (rc < 0) {
    if (mntfd >= 0) close(mntfd);
    abandon(pidfd, sfd[0], cfd[0]);
    err[1] = -rc;
    return -1;
  }
  *control = cfd[0];
  *status = sfd[0];
  return pid;
}

/*
 * Sends a pre-warmed sandbox its go message: a u32 length, then `len` bytes; `fds` ride
 * on the length as SCM_RIGHTS. One sendmsg carries it all (unless the socket buffer is
 * smaller), so init is woken once, with the whole message there. Returns 0 or -errno.
 */
GV_EXPORT int gv_go(int ctl, const uint8_t *msg, uint32_t len, const int32_t *fds, uint32_t nfds) {
  if (nfds > GV_GO_MAX_FDS) return -EINVAL;
  char cbuf[CMSG_SPACE(sizeof(int) * GV_GO_MAX_FDS)];
  memset(cbuf, 0, sizeof cbuf);
  struct iovec iov[2] = {{&len, sizeof len}, {(void *)msg, len}};
  struct msghdr mh;
  memset(&mh, 0, sizeof mh);
  mh.msg_iov = iov;
  mh.msg_iovlen = 2;
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
  if (n < (ssize_t)sizeof len) return n < 0 ? -errno : -EIO;
  for (uint32_t sent = (uint32_t)(n - (ssize_t)sizeof len); sent < len;) {
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

#ifndef SYS_fsopen
#define SYS_fsopen 430
#endif
#ifndef SYS_fsconfig
#define SYS_fsconfig 431
#endif
#ifndef SYS_fsmount
#define SYS_fsmount 432
#endif

/*
 * A new tmpfs of `bytes` (mode 0700, nosuid, nodev) as a detached mount, for a work dir
 * that lives in memory: Node fills it through /proc/self/fd/<fd>, and a sandbox's init
 * attaches this very mount (not a copy) at /box. Returns the mount's fd or -errno.
 */
GV_EXPORT int gv_tmpfs(uint64_t bytes) {
  int fs = (int)syscall(SYS_fsopen, "tmpfs", 1 /* FSOPEN_CLOEXEC */);
  if (fs < 0) return -errno;
  char size[32];
  snprintf(size, sizeof size, "%llu", (unsigned long long)bytes);
  int m = -1;
  if (syscall(SYS_fsconfig, fs, 1 /* FSCONFIG_SET_STRING */, "size", size, 0) == 0 &&
      syscall(SYS_fsconfig, fs, 1, "nr_inodes", "4096", 0) == 0 &&
      syscall(SYS_fsconfig, fs, 1, "mode", "0700", 0) == 0 &&
      syscall(SYS_fsconfig, fs, 6 /* FSCONFIG_CMD_CREATE */, NULL, NULL, 0) == 0) {
    m = (int)syscall(SYS_fsmount, fs, 1 /* FSMOUNT_CLOEXEC */, 0x2 | 0x4 /* MOUNT_ATTR_NOSUID | NODEV */);
  }
  int e = errno;
  close(fs);
  return m < 0 ? -e : m;
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
  /* The throwaway thread takes no signals of Node's (it inherits the blocked mask). */
  uint64_t old;
  gv_block_all_signals(&old);
  int rc = pthread_create(&t, NULL, ns_thread, &job);
  gv_restore_signals(&old);
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

/* ---- The protocol table ---------------------------------------------------------------- */

/* Every constant of protocol.h, by name, for src/sandbox/protocol.ts to check itself
 * against at load. A string entry has value -1 and its text in `text`. */
struct gv_proto_entry {
  const char *name;
  int64_t value;
  const char *text;
};

#define N(x) {#x, (int64_t)(x), NULL}
static const struct gv_proto_entry g_protocol[] = {
    N(GV_PLAN_MAGIC), N(GV_OP_WRITE_FD), N(GV_OP_SETNS), N(GV_OP_UNSHARE), N(GV_OP_MOUNT), N(GV_OP_PIVOT),
    N(GV_OP_CHDIR), N(GV_OP_DUP2), N(GV_OP_CLOSE_FROM), N(GV_OP_EXEC), N(GV_OP_UMASK), N(GV_OP_OPEN_NS),
    N(GV_OP_EXIT), N(GV_FD_STATUS), N(GV_FD_CONTROL), N(GV_PLAN_MAX_ARGS),
    {"sizeof(struct gv_op)", sizeof(struct gv_op), NULL},
    {"sizeof(struct gv_plan)", sizeof(struct gv_plan), NULL},
    {"offsetof(struct gv_plan, fail_op)", __builtin_offsetof(struct gv_plan, fail_op), NULL},
    N(GV_STATUS_REC_SIZE), N(GV_REC_SETUP_FAIL), N(GV_REC_EXIT), N(GV_REC_EXEC_FAIL), N(GV_REC_GO_FAIL), N(GV_REC_TRACE),
    N(GV_TRACE_INIT_START), N(GV_TRACE_CHILD), N(GV_TRACE_INIT_END), N(GV_TRACE_DETACH),
    {"sizeof(struct gv_status_rec)", sizeof(struct gv_status_rec), NULL},
    N(GV_NOTE_DEATH),
    {"sizeof(struct gv_note)", sizeof(struct gv_note), NULL},
    N(GV_GO_MAGIC), N(GV_GO_HEADER_SIZE), N(GV_GO_ITEM_HEADER_SIZE),
    N(GV_ITEM_IDS), N(GV_ITEM_RLIMIT), N(GV_ITEM_MOUNT), N(GV_ITEM_TMP), N(GV_ITEM_FILTER), N(GV_ITEM_ARG),
    N(GV_ITEM_ENV), N(GV_ITEM_CHDIR), N(GV_ITEM_TRACE),
    N(GV_GO_MAX_BYTES), N(GV_GO_MAX_FDS), N(GV_GO_MAX_ARGS), N(GV_GO_MAX_ENVS), N(GV_GO_MAX_RLIMITS),
    N(GV_GO_MAX_MOUNTS), N(GV_GO_MAX_FILTER),
    N(GV_STEP_READ), N(GV_STEP_MOUNT), N(GV_STEP_TMP), N(GV_STEP_STDIO), N(GV_STEP_CHDIR), N(GV_STEP_RLIMIT),
    N(GV_STEP_CAPS), N(GV_STEP_IDS), N(GV_STEP_PDEATH), N(GV_STEP_NNP), N(GV_STEP_SECCOMP), N(GV_STEP_FORK),
    N(GV_STEP_MESSAGE), N(GV_STEP_CLEANUP),
    N(GV_INIT_STATUS_FD), N(GV_INIT_CONTROL_FD), N(GV_INIT_EXE_FD),
    N(GV_DEFAULT_TMP_BYTES),
    {"GV_DEFAULT_TMP_OPTIONS", -1, GV_DEFAULT_TMP_OPTIONS},
};
#undef N

/* Entry i of the table: 0 with the outputs filled, or -1 past its end. */
GV_EXPORT int gv_protocol_entry(int i, const char **name, int64_t *value, const char **text) {
  if (i < 0 || i >= (int)(sizeof g_protocol / sizeof g_protocol[0])) return -1;
  *name = g_protocol[i].name;
  *value = g_protocol[i].value;
  *text = g_protocol[i].text;
  return 0;
}
