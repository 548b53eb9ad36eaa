/*
 * gavel-init: pid 1 of every sandbox.
 *
 * It is exec'd by the clone child (native/shim.c) once the sandbox's namespaces, cgroup
 * and filesystem view are in place, still as root inside them, and then *waits*: the
 * slot is pre-warmed. When a run comes, Node sends one "go" message on fd 4 carrying
 * what differs per run — the work dir and other mounts as detached mount trees, stdio
 * fds, rlimits, ids, the seccomp filter, argv and env. Init applies them, drops every
 * privilege, and starts the program as pid 2.
 *
 * The program must not be pid 1 of its namespace: the kernel drops signals to a
 * namespace init that has no handler for them, so abort(), SIGXCPU or SIGTERM would not
 * behave as on a normal system and verdicts would differ. Init reaps whatever gets
 * reparented to it, reports how the program ended on fd 3 and exits, which makes the
 * kernel kill everything left in the namespace.
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
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define STATUS_FD 3
#define CONTROL_FD 4

#define REC_EXIT 0x74697865u      /* "exit" */
#define REC_EXEC_FAIL 0x63657865u /* "exec" */
#define REC_GO_FAIL 0x6c666f67u   /* "gofl" */
#define GO_MAGIC 0x21216f67u      /* "go!!" */

/* 32 bytes, shared layout with src/sandbox/native.ts */
struct rec {
  uint32_t magic;
  int32_t a;   /* wait status; errno for EXEC_FAIL; step for GO_FAIL */
  int64_t b;   /* utime µs; errno for GO_FAIL */
  int64_t c;   /* stime µs */
  int64_t d;   /* maxrss KiB */
};

/* Steps of the go message, reported in GO_FAIL records; names in src/sandbox/native.ts. */
enum step {
  S_READ = 1, S_MOUNT, S_TMP, S_STDIO, S_CHDIR, S_RLIMIT, S_CAPS, S_IDS, S_PDEATH, S_NNP,
  S_SECCOMP, S_FORK, S_MESSAGE,
};

/* Records of the go message: a u32 type, a u32 payload length, the payload padded to 8. */
enum item {
  I_IDS = 1,     /* u32 uid, u32 gid */
  I_RLIMIT = 2,  /* u32 resource, u32 pad, u64 soft, u64 hard */
  I_MOUNT = 3,   /* u32 index into the received fds, then the target path */
  I_TMP = 4,     /* tmpfs options for remounting /tmp */
  I_FILTER = 5,  /* struct sock_filter[] */
  I_ARG = 6,     /* one argv string */
  I_ENV = 7,     /* one environment string */
  I_CHDIR = 8,   /* working directory */
};

static void put(uint32_t magic, int32_t a, int64_t b, int64_t c, int64_t d) {
  struct rec r = {magic, a, b, c, d};
  ssize_t n;
  do n = write(STATUS_FD, &r, sizeof r); while (n < 0 && errno == EINTR);
}

static void fail(enum step s) {
  put(REC_GO_FAIL, s, errno, 0, 0);
  _exit(127);
}

#define MAX_FDS 16
#define MAX_ITEMS 4096

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
  if (n != sizeof len || (mh.msg_flags & MSG_CTRUNC)) fail(S_READ);
  *nfds = 0;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
      memcpy(fds, CMSG_DATA(c), sizeof(int) * (size_t)k);
      *nfds = k;
    }
  }
  if (len < 8 || len > (64u << 20)) {
    errno = EMSGSIZE;
    fail(S_READ);
  }
  uint8_t *buf = malloc(len);
  if (!buf) fail(S_READ);
  for (uint32_t got = 0; got < len;) {
    ssize_t r = read(CONTROL_FD, buf + got, len - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) fail(S_READ);
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
      fail(S_CAPS);
    }
  }
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) fail(S_CAPS);
}

static int drop_privileges(uid_t uid, gid_t gid) {
  /* Raw syscalls: glibc's set*id wrappers would try to sync other threads; there are none,
   * but the raw calls say exactly what happens. */
  if (syscall(SYS_setgroups, 0, NULL) < 0) fail(S_IDS);
  if (syscall(SYS_setresgid, gid, gid, gid) < 0) fail(S_IDS);
  if (syscall(SYS_setresuid, uid, uid, uid) < 0) fail(S_IDS);
  struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct d[2];
  memset(d, 0, sizeof d);
  if (syscall(SYS_capset, &h, d) < 0) fail(S_CAPS);
  return 0;
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
  int fds[MAX_FDS];
  int nfds = 0;
  uint32_t len = 0;
  uint8_t *msg = receive(fds, &nfds, &len);
  if (*(uint32_t *)msg != GO_MAGIC) {
    errno = EPROTO;
    fail(S_MESSAGE);
  }
  if (nfds < 3) {
    errno = EBADF;
    fail(S_STDIO);
  }

  uid_t uid = 65534;
  gid_t gid = 65534;
  char *args[MAX_ITEMS + 1], *envs[MAX_ITEMS + 1];
  int nargs = 0, nenvs = 0;
  struct sock_fprog prog = {0, NULL};
  const char *cwd = "/box";
  struct rlimit limits[16];
  int resources[16], nlimits = 0;

  /* First pass: mounts happen while we are still root; the rest is collected. */
  for (uint32_t off = 8; off + 8 <= len;) {
    uint32_t type = *(uint32_t *)(msg + off), plen = *(uint32_t *)(msg + off + 4);
    uint8_t *p = msg + off + 8;
    if (off + 8 + plen > len) {
      errno = EPROTO;
      fail(S_MESSAGE);
    }
    switch (type) {
      case I_IDS:
        uid = ((uint32_t *)p)[0];
        gid = ((uint32_t *)p)[1];
        break;
      case I_RLIMIT:
        if (nlimits < 16) {
          resources[nlimits] = (int)((uint32_t *)p)[0];
          limits[nlimits].rlim_cur = ((uint64_t *)p)[1];
          limits[nlimits].rlim_max = ((uint64_t *)p)[2];
          nlimits++;
        }
        break;
      case I_MOUNT: {
        uint32_t idx = *(uint32_t *)p;
        if ((int)idx >= nfds) {
          errno = EBADF;
          fail(S_MOUNT);
        }
        if (syscall(SYS_move_mount, fds[idx], "", AT_FDCWD, (char *)p + 4, 0x00000004 /* MOVE_MOUNT_F_EMPTY_PATH */) < 0)
          fail(S_MOUNT);
        close(fds[idx]);
        break;
      }
      case I_TMP:
        if (mount(NULL, "/tmp", NULL, MS_REMOUNT | MS_NOSUID | MS_NODEV, p) < 0) fail(S_TMP);
        break;
      case I_FILTER:
        prog.len = (unsigned short)(plen / sizeof(struct sock_filter));
        prog.filter = (struct sock_filter *)p;
        break;
      case I_ARG:
        if (nargs < MAX_ITEMS) args[nargs++] = (char *)p;
        break;
      case I_ENV:
        if (nenvs < MAX_ITEMS) envs[nenvs++] = (char *)p;
        break;
      case I_CHDIR:
        cwd = (char *)p;
        break;
    }
    off += 8 + ((plen + 7) & ~7u);
  }
  args[nargs] = NULL;
  envs[nenvs] = NULL;
  if (nargs == 0) {
    errno = EINVAL;
    fail(S_MESSAGE);
  }

  for (int i = 0; i < 3; i++) {
    if (dup2(fds[i], i) < 0) fail(S_STDIO);
  }
  close(CONTROL_FD);
  /* Every fd but 0-3 goes: the stdio originals and anything unused. */
  syscall(SYS_close_range, 4, ~0U, 0);
  if (chdir(cwd) < 0) fail(S_CHDIR);
  for (int i = 0; i < nlimits; i++) {
    if (setrlimit(resources[i], &limits[i]) < 0) fail(S_RLIMIT);
  }
  drop_privileges(uid, gid);
  /* After the uid change, which clears it: if Node dies, the sandbox dies with it. */
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) fail(S_PDEATH);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) fail(S_NNP);
  if (prog.len && syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0) fail(S_SECCOMP);
  /* Non-dumpable: the program runs as the same uid and must not be able to rewrite our
   * memory through /proc/1/mem to fake its own verdict. */
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

  pid_t child = fork();
  if (child < 0) fail(S_FORK);
  if (child == 0) {
    /* The program must not inherit the status pipe. */
    fcntl(STATUS_FD, F_SETFD, FD_CLOEXEC);
    execvpe(args[0], args, envs);
    put(REC_EXEC_FAIL, errno, 0, 0, 0);
    _exit(127);
  }

  for (;;) {
    int st;
    struct rusage ru;
    pid_t p = wait4(-1, &st, __WALL, &ru);
    if (p < 0) {
      if (errno == EINTR) continue;
      return 126; /* no child left without having seen ours: cannot happen */
    }
    if (p != child) continue; /* an orphan of the program */
    put(REC_EXIT, st,
        (int64_t)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec,
        (int64_t)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec,
        ru.ru_maxrss);
    return 0;
  }
}
