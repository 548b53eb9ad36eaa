/*
 * gavel-init: pid 1 of every sandbox, and what makes a sandbox reusable.
 *
 * It is exec'd by the clone child (native/child.c) once the sandbox's namespaces, cgroup
 * and filesystem view are in place, as root inside them, and then *waits*: the slot is
 * pre-warmed. For each run Node sends one "go" message on fd 4 carrying what differs per
 * run — the work dir and other mounts as detached mount trees, stdio fds, rlimits, ids,
 * the seccomp filter, argv and env. Init attaches the mounts and forks the program, which
 * drops every privilege, installs the filter and execs. When the program ends, init
 * kills whatever it left in the pid namespace, detaches the run's mounts, makes /tmp
 * anew, reports on fd 3 and waits for the next go. A sandbox is thrown away (init killed
 * from outside) only when a run hit a limit or was cancelled.
 *
 * Init itself never runs untrusted code and stays root in the sandbox: the program
 * cannot signal it (a namespace init only gets signals it handles, and it handles none),
 * cannot ptrace it (seccomp) and cannot read or write its memory (other uid,
 * non-dumpable).
 *
 * The program must not be pid 1 of its namespace: the kernel drops signals to a
 * namespace init that has no handler for them, so abort(), SIGXCPU or SIGTERM would not
 * behave as on a normal system and verdicts would differ.
 *
 * fds on entry: 0-2 /dev/null, 3 the status pipe, 4 the control socket; nothing else.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "protocol.h"

#define STATUS_FD GV_INIT_STATUS_FD
#define CONTROL_FD GV_INIT_CONTROL_FD

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void put(uint32_t magic, int32_t a, int64_t b, int64_t c, int64_t d) {
  struct gv_status_rec r = {magic, a, b, c, d};
  ssize_t n;
  do n = write(STATUS_FD, &r, sizeof r); while (n < 0 && errno == EINTR);
}

/* Several records in one write (at most 4 KiB: atomic on a pipe). */
static void put_all(const struct gv_status_rec *r, int n) {
  ssize_t w;
  do w = write(STATUS_FD, r, sizeof *r * (size_t)n); while (w < 0 && errno == EINTR);
}

/* A failure of init's own work: report it and end the sandbox. */
static void fail(enum gv_step s) {
  put(GV_REC_GO_FAIL, s, errno, 0, 0);
  _exit(127);
}

/* A failure in the program's child before exec: init reports it as an exec failure. */
static void child_fail(enum gv_step s) {
  put(GV_REC_EXEC_FAIL, -(int32_t)s, errno, 0, 0);
  _exit(127);
}

#define MAX_FDS GV_GO_MAX_FDS

/* Reads the whole go message: a u32 total length first, the fds ride on the first bytes. */
static uint8_t *receive(int *fds, int *nfds, uint32_t *len_out) {
  uint32_t len;
  char cbuf[CMSG_SPACE(sizeof(int) * MAX_FDS)];
  struct iovec iov = {&len, sizeof len};
  struct msghdr mh = {0};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = cbuf;
  mh.msg_controllen = sizeof cbuf;
  ssize_t n;
  do n = recvmsg(CONTROL_FD, &mh, MSG_CMSG_CLOEXEC | MSG_WAITALL); while (n < 0 && errno == EINTR);
  if (n == 0) _exit(0); /* Node closed the slot: nothing to run */
  if (n != sizeof len || (mh.msg_flags & MSG_CTRUNC)) fail(GV_STEP_READ);
  *nfds = 0;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
      memcpy(fds, CMSG_DATA(c), sizeof(int) * (size_t)k);
      *nfds = k;
    }
  }
  if (len < GV_GO_HEADER_SIZE || len > GV_GO_MAX_BYTES) {
    errno = EMSGSIZE;
    fail(GV_STEP_READ);
  }
  uint8_t *buf = malloc(len);
  if (!buf) fail(GV_STEP_READ);
  for (uint32_t got = 0; got < len;) {
    ssize_t r = read(CONTROL_FD, buf + got, len - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) fail(GV_STEP_READ);
    got += (uint32_t)r;
  }
  *len_out = len;
  return buf;
}

/* The bounding set limits what exec can ever grant; emptying it leaves init's own
 * capabilities intact for the go message, so it is done while the slot waits. */
static void drop_bounding_set(void) {
  /* Capabilities are numbered without gaps: EINVAL means we are past the last one. */
  for (int cap = 0; cap <= 63; cap++) {
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
      if (errno == EINVAL) break;
      fail(GV_STEP_CAPS);
    }
  }
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) fail(GV_STEP_CAPS);
}

static void drop_privileges(uid_t uid, gid_t gid) {
  /* Raw syscalls: glibc's set*id wrappers would try to sync other threads; there are none,
   * but the raw calls say exactly what happens. */
  if (syscall(SYS_setgroups, 0, NULL) < 0) child_fail(GV_STEP_IDS);
  if (syscall(SYS_setresgid, gid, gid, gid) < 0) child_fail(GV_STEP_IDS);
  if (syscall(SYS_setresuid, uid, uid, uid) < 0) child_fail(GV_STEP_IDS);
  struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct d[2];
  memset(d, 0, sizeof d);
  if (syscall(SYS_capset, &h, d) < 0) child_fail(GV_STEP_CAPS);
}

#define MAX_MOUNTS GV_GO_MAX_MOUNTS

/* One run's settings, parsed out of its go message (pointers into the message). */
struct run {
  uid_t uid;
  gid_t gid;
  char *args[GV_GO_MAX_ARGS + 1], *envs[GV_GO_MAX_ENVS + 1];
  int nargs, nenvs;
  struct sock_fprog prog;
  const char *cwd;
  struct rlimit limits[GV_GO_MAX_RLIMITS];
  int resources[GV_GO_MAX_RLIMITS], nlimits;
  int tmp_resized;
  int trace;
};

/* Targets of this run's mounts, detached again when it ends. */
static char *mounted[MAX_MOUNTS];
static int nmounted;

static void fresh_tmp(const char *opts) {
  umount2("/tmp", MNT_DETACH);
  if (mount("gavel-tmp", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0) fail(GV_STEP_TMP);
}

/* A go message init cannot take whole is refused, never cut short: the run fails with
 * GO_FAIL (step MESSAGE) and this errno, which Node reports to the caller. */
static void refuse(int err) {
  errno = err;
  fail(GV_STEP_MESSAGE);
}

/* A string payload: NUL-ended exactly at its end, no NUL before. */
static int is_string(const uint8_t *p, uint32_t plen) {
  return plen >= 1 && p[plen - 1] == 0 && strlen((const char *)p) == plen - 1;
}

/* Checks the whole go message before any of it takes effect: every item known, every
 * payload exactly the length its type takes, nothing past the caps, nothing left over. */
static void check(const uint8_t *msg, uint32_t len, int nfds) {
  if (*(const uint32_t *)(msg + 4) != 0) refuse(EPROTO);
  uint32_t nargs = 0, nenvs = 0, nlimits = 0, nmounts = 0;
  uint32_t off = GV_GO_HEADER_SIZE;
  while (off < len) {
    if (len - off < GV_GO_ITEM_HEADER_SIZE) refuse(EBADMSG);
    uint32_t type = *(const uint32_t *)(msg + off), plen = *(const uint32_t *)(msg + off + 4);
    const uint8_t *p = msg + off + GV_GO_ITEM_HEADER_SIZE;
    uint32_t room = len - off - GV_GO_ITEM_HEADER_SIZE;
    if (plen > room || ((plen + 7) & ~7u) > room) refuse(EBADMSG);
    switch (type) {
      case GV_ITEM_IDS:
        if (plen != 8) refuse(EBADMSG);
        break;
      case GV_ITEM_RLIMIT:
        if (plen != 24) refuse(EBADMSG);
        if (++nlimits > GV_GO_MAX_RLIMITS) refuse(E2BIG);
        break;
      case GV_ITEM_MOUNT:
        if (plen < 5 || !is_string(p + 4, plen - 4)) refuse(EBADMSG);
        if (++nmounts > GV_GO_MAX_MOUNTS) refuse(E2BIG);
        if (*(const uint32_t *)p >= (uint32_t)nfds) refuse(EBADF);
        break;
      case GV_ITEM_FILTER:
        if (plen == 0 || plen % sizeof(struct sock_filter)) refuse(EBADMSG);
        if (plen / sizeof(struct sock_filter) > GV_GO_MAX_FILTER) refuse(E2BIG);
        break;
      case GV_ITEM_ARG:
        if (!is_string(p, plen)) refuse(EBADMSG);
        if (++nargs > GV_GO_MAX_ARGS) refuse(E2BIG);
        break;
      case GV_ITEM_ENV:
        if (!is_string(p, plen)) refuse(EBADMSG);
        if (++nenvs > GV_GO_MAX_ENVS) refuse(E2BIG);
        break;
      case GV_ITEM_TMP:
      case GV_ITEM_CHDIR:
        if (!is_string(p, plen)) refuse(EBADMSG);
        break;
      case GV_ITEM_TRACE:
        if (plen != 0) refuse(EBADMSG);
        break;
      default:
        refuse(EPROTO);
    }
    off += GV_GO_ITEM_HEADER_SIZE + ((plen + 7) & ~7u);
  }
  if (nargs == 0) refuse(EINVAL);
}

/* Takes a checked go message apart; attaches its mounts while we are root. */
static void parse(uint8_t *msg, uint32_t len, int *fds, struct run *r) {
  memset(r, 0, sizeof *r);
  r->uid = r->gid = 65534;
  r->cwd = "/box";
  for (uint32_t off = GV_GO_HEADER_SIZE; off < len;) {
    uint32_t type = *(uint32_t *)(msg + off), plen = *(uint32_t *)(msg + off + 4);
    uint8_t *p = msg + off + GV_GO_ITEM_HEADER_SIZE;
    switch (type) {
      case GV_ITEM_IDS:
        r->uid = ((uint32_t *)p)[0];
        r->gid = ((uint32_t *)p)[1];
        break;
      case GV_ITEM_RLIMIT:
        r->resources[r->nlimits] = (int)((uint32_t *)p)[0];
        r->limits[r->nlimits].rlim_cur = ((uint64_t *)p)[1];
        r->limits[r->nlimits].rlim_max = ((uint64_t *)p)[2];
        r->nlimits++;
        break;
      case GV_ITEM_MOUNT: {
        uint32_t idx = *(uint32_t *)p;
        if (fds[idx] < 0) {
          errno = EBADF; /* the same fd named twice */
          fail(GV_STEP_MOUNT);
        }
        const char *target = (char *)p + 4;
        if (syscall(SYS_move_mount, fds[idx], "", AT_FDCWD, target, 0x00000004 /* MOVE_MOUNT_F_EMPTY_PATH */) < 0)
          fail(GV_STEP_MOUNT);
        close(fds[idx]);
        fds[idx] = -1;
        mounted[nmounted++] = strdup(target);
        break;
      }
      case GV_ITEM_TMP:
        if (mount(NULL, "/tmp", NULL, MS_REMOUNT | MS_NOSUID | MS_NODEV, p) < 0) fail(GV_STEP_TMP);
        r->tmp_resized = 1;
        break;
      case GV_ITEM_FILTER:
        r->prog.len = (unsigned short)(plen / sizeof(struct sock_filter));
        r->prog.filter = (struct sock_filter *)p;
        break;
      case GV_ITEM_ARG:
        r->args[r->nargs++] = (char *)p;
        break;
      case GV_ITEM_ENV:
        r->envs[r->nenvs++] = (char *)p;
        break;
      case GV_ITEM_CHDIR:
        r->cwd = (char *)p;
        break;
      case GV_ITEM_TRACE:
        r->trace = 1;
        break;
    }
    off += GV_GO_ITEM_HEADER_SIZE + ((plen + 7) & ~7u);
  }
  r->args[r->nargs] = NULL;
  r->envs[r->nenvs] = NULL;
}

/* The program's side of the fork: stdio, limits, no privileges, the filter, exec. */
static void start_program(const struct run *r, const int *fds) {
  int64_t t_child = now_ns();
  for (int i = 0; i < 3; i++) {
    if (dup2(fds[i], i) < 0) child_fail(GV_STEP_STDIO);
  }
  /* Everything but stdio goes, the control socket included. The status pipe stays until
   * exec, so that a failure of any step below (or of exec itself) reaches the report. */
  syscall(SYS_close_range, CONTROL_FD, ~0U, 0);
  if (fcntl(STATUS_FD, F_SETFD, FD_CLOEXEC) < 0) child_fail(GV_STEP_STDIO);
  if (chdir(r->cwd) < 0) child_fail(GV_STEP_CHDIR);
  for (int i = 0; i < r->nlimits; i++) {
    if (setrlimit(r->resources[i], &r->limits[i]) < 0) child_fail(GV_STEP_RLIMIT);
  }
  drop_privileges(r->uid, r->gid);
  /* After the uid change, which clears it. */
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) child_fail(GV_STEP_PDEATH);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) child_fail(GV_STEP_NNP);
  int64_t t_dropped = now_ns();
  if (r->prog.len && syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &r->prog) < 0) child_fail(GV_STEP_SECCOMP);
  if (r->trace) put(GV_REC_TRACE, GV_TRACE_CHILD, t_child, t_dropped, now_ns());
  execvpe(r->args[0], r->args, r->envs);
  put(GV_REC_EXEC_FAIL, errno, 0, 0, 0);
  _exit(127);
}

/*
 * vfork: no copy of our page tables, and we wait for the exec anyway. The child only
 * calls what may run on a borrowed stack (syscalls, prctl, setrlimit, execve, its own
 * records) and never returns from start_program; what it changes (fds, cwd, rlimits,
 * ids, the filter) belongs to its own task, not to the memory it shares with us. A
 * function of its own, so that no frame the child could clobber is one we return to.
 */
static pid_t __attribute__((noinline)) spawn_program(const struct run *r, const int *fds) {
  pid_t child = vfork();
  if (child == 0) start_program(r, fds);
  return child;
}

/* After a run, before it is reported: no process of it may go on running (or using
 * memory) into the next run's accounting. */
static void end_processes(void) {
  /* kill(-1) from a namespace's init reaches every other process in the namespace. A
   * fork bomb may fork past one sweep, so sweep until nobody is left to signal (zombies
   * still count, hence the reaping in between). */
  while (kill(-1, SIGKILL) == 0) {
    while (waitpid(-1, NULL, __WALL | WNOHANG) > 0) {
    }
  }
  while (wait4(-1, NULL, __WALL, NULL) > 0 || errno == EINTR) {
  }
}

/* /tmp must start the next run empty and at the default size. Its pages are charged to
 * the slot's memory cgroup, so this too happens before the report. Most runs leave it
 * untouched, and a fresh tmpfs costs an RCU grace period: skip it then. */
static void reset_tmp(int resized) {
  struct statfs st;
  int empty = statfs("/tmp", &st) == 0 && st.f_files - st.f_ffree <= 1 && st.f_blocks == st.f_bfree;
  if (!empty) {
    fresh_tmp(GV_DEFAULT_TMP_OPTIONS);
  } else if (resized && mount(NULL, "/tmp", NULL, MS_REMOUNT | MS_NOSUID | MS_NODEV, GV_DEFAULT_TMP_OPTIONS) < 0) {
    fail(GV_STEP_TMP);
  }
}

/* The run's mounts go after the report: detaching waits for an RCU grace period, and the
 * next go message is only read once this is done. */
static void detach_mounts(void) {
  for (int i = 0; i < nmounted; i++) {
    if (umount2(mounted[i], MNT_DETACH) < 0) fail(GV_STEP_CLEANUP);
    free(mounted[i]);
  }
  nmounted = 0;
}

int main(int argc, char **argv) {
  (void)argc;
  (void)argv;
  /* Ignored signals survive exec, and Node ignores SIGPIPE and SIGXFSZ: without this a
   * program flooding its output would never die of SIGXFSZ, nor a writer to a closed
   * pipe of SIGPIPE. The program inherits the defaults a shell would give it. Done
   * while the slot waits, not when the run starts. */
  for (int sig = 1; sig < NSIG; sig++) signal(sig, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  drop_bounding_set();
  /* If Node dies (even by SIGKILL), so does this sandbox, with everything in it; the
   * signal comes from the kernel, which a namespace init cannot ignore. A Node that died
   * before this line leaves us an EOF on the control socket, which ends us too. */
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  /* Non-dumpable: the program must not be able to read or rewrite our memory. */
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

  for (;;) {
    int fds[MAX_FDS];
    int nfds = 0;
    uint32_t len = 0;
    uint8_t *msg = receive(fds, &nfds, &len);
    int64_t t_received = now_ns();
    if (*(uint32_t *)msg != GV_GO_MAGIC) {
      errno = EPROTO;
      fail(GV_STEP_MESSAGE);
    }
    if (nfds < 3) {
      errno = EBADF;
      fail(GV_STEP_STDIO);
    }
    check(msg, len, nfds);
    struct run r;
    parse(msg, len, fds, &r);

    int64_t started = now_ns();
    pid_t child = spawn_program(&r, fds);
    if (child < 0) fail(GV_STEP_FORK);
    int64_t t_forked = now_ns();
    /* Our copies of the program's stdio must go, or a pipe would never see EOF. */
    for (int i = 0; i < nfds; i++)
      if (fds[i] >= 0) close(fds[i]);
    free(msg);

    int st = 0;
    struct rusage ru;
    for (;;) {
      pid_t p = wait4(-1, &st, __WALL, &ru);
      if (p == child) break;
      if (p < 0 && errno != EINTR) fail(GV_STEP_CLEANUP);
      /* otherwise an orphan of the program */
    }
    int64_t reaped = now_ns();
    end_processes();
    int64_t t_swept = now_ns();
    reset_tmp(r.tmp_resized);
    /* The report, with the trace records before it, in one write. */
    struct gv_status_rec out[3];
    int nout = 0;
    if (r.trace)
      out[nout++] = (struct gv_status_rec){GV_REC_TRACE, GV_TRACE_INIT_START, t_received, started, t_forked};
    /* Always: its reaping stamp orders the ends of the runs of a group (interactive judging). */
    out[nout++] = (struct gv_status_rec){GV_REC_TRACE, GV_TRACE_INIT_END, reaped, t_swept, now_ns()};
    int64_t cpu_us = (int64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
    out[nout++] = (struct gv_status_rec){GV_REC_EXIT, st, cpu_us, (reaped - started) / 1000, ru.ru_maxrss};
    put_all(out, nout);
    int64_t t_reported = now_ns();
    detach_mounts();
    if (r.trace) put(GV_REC_TRACE, GV_TRACE_DETACH, t_reported, now_ns(), 0);
  }
}
