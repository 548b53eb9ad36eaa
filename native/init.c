/*
 * gavel-init: pid 1 of every sandbox.
 *
 * The user's program must not be pid 1 of its namespace: the kernel drops signals to a
 * namespace init that has no handler for them, so abort(), SIGXCPU or SIGTERM would not
 * behave as on a normal system and verdicts would differ. This init starts the program
 * as pid 2, reaps whatever gets reparented to it, reports how the program ended on fd 3
 * and exits, which makes the kernel kill everything left in the namespace.
 *
 * It is exec'd already unprivileged and under seccomp, with the program's stdio on
 * 0/1/2, the status pipe on fd 3, and the program's argv/env as its own argv[1..]/env.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#define STATUS_FD 3
#define REC_EXIT 0x74697865u /* "exit" */
#define REC_EXEC_FAIL 0x63657865u /* "exec" */

/* 32 bytes, shared layout with src/sandbox/native.ts */
struct rec {
  uint32_t magic;
  int32_t wstatus;   /* wait status of the program, or errno for REC_EXEC_FAIL */
  int64_t utime_us;
  int64_t stime_us;
  int64_t maxrss_kb;
};

static void put(const struct rec *r) {
  ssize_t n;
  do n = write(STATUS_FD, r, sizeof *r); while (n < 0 && errno == EINTR);
}

int main(int argc, char **argv, char **envp) {
  if (argc < 2) return 127;
  /* Whatever the plan left above fd 3 (e.g. the fd this binary was exec'd from). */
  syscall(SYS_close_range, 4, ~0U, 0);
  /* Non-dumpable: the program runs as the same uid and must not be able to rewrite our
   * memory through /proc/1/mem to fake its own verdict. */
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

  pid_t child = fork();
  if (child < 0) {
    struct rec r = {REC_EXEC_FAIL, errno, 0, 0, 0};
    put(&r);
    return 127;
  }
  if (child == 0) {
    /* The program must not inherit the status pipe. */
    fcntl(STATUS_FD, F_SETFD, FD_CLOEXEC);
    /* Ignored signals survive exec, and Node ignores SIGPIPE and SIGXFSZ: without this a
     * program flooding its output would never die of SIGXFSZ, nor a writer to a closed
     * pipe of SIGPIPE. Start the program with the defaults a shell would give it. */
    for (int sig = 1; sig < NSIG; sig++) signal(sig, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execvpe(argv[1], argv + 1, envp);
    struct rec r = {REC_EXEC_FAIL, errno, 0, 0, 0};
    put(&r);
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
    struct rec r = {
        REC_EXIT, st,
        (int64_t)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec,
        (int64_t)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec,
        ru.ru_maxrss,
    };
    put(&r);
    return 0;
  }
}
