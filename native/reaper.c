/*
 * The reaper: one thread that waits on every sandbox's pidfd with epoll and writes one
 * fixed-size note (struct gv_note) per dead sandbox to a pipe that Node reads as a
 * stream. So no libuv threadpool thread is ever parked in waitid(). The end of each run
 * does not come this way: Node reads it from the sandbox's status pipe itself, one
 * thread wake-up sooner.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"

#define GV_MAX_SANDBOXES 4096

struct gv_entry {
  int used;
  int pidfd;
  /* Holds the sandbox's mount namespace: without it the namespace (and its dozen mounts)
   * is torn down inside the dying init, before its exit is even reported. */
  int mntfd;
  uint64_t token;
};

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static struct gv_entry g_tab[GV_MAX_SANDBOXES];
static int g_epfd = -1;
static int g_notify_rd = -1, g_notify_wr = -1;
static pthread_t g_reaper;

_Static_assert(sizeof(struct gv_note) == 48, "gv_note layout");
_Static_assert(sizeof(struct gv_status_rec) == GV_STATUS_REC_SIZE, "status record size");
_Static_assert(sizeof(struct gv_setup_fail_rec) == GV_STATUS_REC_SIZE, "setup-fail record size");

static void emit(const struct gv_note *r) {
  /* A full pipe means Node stopped reading; blocking here is the right back-pressure. */
  ssize_t w;
  do w = write(g_notify_wr, r, sizeof *r); while (w < 0 && errno == EINTR);
}

/* The sandbox's init is gone: report its death. Returns the mount-namespace fd to close
 * once the lock is released (or -1). */
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
  struct gv_note r;
  memset(&r, 0, sizeof r);
  r.magic = GV_NOTE_DEATH;
  r.token = e->token;
  r.code = si.si_code;
  r.status = si.si_status;
  r.utime_us = (int64_t)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec;
  r.stime_us = (int64_t)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec;
  r.maxrss_kb = ru.ru_maxrss;
  emit(&r);
  epoll_ctl(g_epfd, EPOLL_CTL_DEL, e->pidfd, NULL);
  close(e->pidfd);
  int mntfd = e->mntfd;
  e->used = 0;
  return mntfd;
}

static void *reaper_main(void *unused) {
  (void)unused;
  struct epoll_event evs[64];
  for (;;) {
    int n = epoll_wait(g_epfd, evs, 64, -1);
    if (n < 0) continue;
    int mnt[64];
    int nmnt = 0;
    pthread_mutex_lock(&g_mu);
    for (int i = 0; i < n; i++) {
      int idx = (int)evs[i].data.u32;
      if (idx < 0 || idx >= GV_MAX_SANDBOXES || !g_tab[idx].used) continue;
      int fd = reap_entry(idx);
      if (fd >= 0) mnt[nmnt++] = fd;
    }
    pthread_mutex_unlock(&g_mu);
    /* The mount namespaces go now, after Node has its answers, and outside the lock:
     * tearing one down waits for an RCU grace period. */
    for (int i = 0; i < nmnt; i++) close(mnt[i]);
  }
  return NULL;
}

/* Starts the reaper once; returns the read end of the notification pipe, or -errno. */
GV_EXPORT int gv_reaper_start(void) {
  pthread_mutex_lock(&g_mu);
  if (g_notify_rd < 0) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0) goto fail;
    g_epfd = epoll_create1(EPOLL_CLOEXEC);
    if (g_epfd < 0) {
      int e = errno;
      close(fds[0]);
      close(fds[1]);
      errno = e;
      goto fail;
    }
    /* The thread starts with every signal blocked (it inherits our mask), so no signal
     * meant for Node ever lands on it. */
    uint64_t old;
    gv_block_all_signals(&old);
    int rc = pthread_create(&g_reaper, NULL, reaper_main, NULL);
    gv_restore_signals(&old);
    if (rc != 0) {
      close(fds[0]);
      close(fds[1]);
      close(g_epfd);
      g_epfd = -1;
      errno = rc;
      goto fail;
    }
    g_notify_rd = fds[0];
    g_notify_wr = fds[1];
  }
  pthread_mutex_unlock(&g_mu);
  return g_notify_rd;
fail:;
  int err = errno;
  pthread_mutex_unlock(&g_mu);
  return -err;
}

int gv_reaper_add(int pidfd, int mntfd, uint64_t token) {
  pthread_mutex_lock(&g_mu);
  int idx = -1;
  for (int i = 0; i < GV_MAX_SANDBOXES; i++) {
    if (!g_tab[i].used) {
      idx = i;
      break;
    }
  }
  if (idx < 0) {
    pthread_mutex_unlock(&g_mu);
    return -EAGAIN;
  }
  memset(&g_tab[idx], 0, sizeof g_tab[idx]);
  g_tab[idx].used = 1;
  g_tab[idx].pidfd = pidfd;
  g_tab[idx].mntfd = mntfd;
  g_tab[idx].token = token;
  struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)idx};
  if (epoll_ctl(g_epfd, EPOLL_CTL_ADD, pidfd, &ev) < 0) {
    int e = errno;
    g_tab[idx].used = 0;
    pthread_mutex_unlock(&g_mu);
    return -e;
  }
  pthread_mutex_unlock(&g_mu);
  return 0;
}

/* Signals a running sandbox by token. Going through the table under the lock means a
 * reused fd number can never redirect the signal to another sandbox. */
GV_EXPORT int gv_kill(uint64_t token, int sig) {
  int rc = -ESRCH;
  pthread_mutex_lock(&g_mu);
  for (int i = 0; i < GV_MAX_SANDBOXES; i++) {
    if (g_tab[i].used && g_tab[i].token == token) {
      rc = syscall(SYS_pidfd_send_signal, g_tab[i].pidfd, sig, NULL, 0) < 0 ? -errno : 0;
      break;
    }
  }
  pthread_mutex_unlock(&g_mu);
  return rc;
}
