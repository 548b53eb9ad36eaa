/*
 * The reaper: one thread that waits on every sandbox's pidfd and status pipe with epoll,
 * and writes one fixed-size note (struct gv_note) per finished run and per dead sandbox
 * to a pipe that Node reads as a stream. So no libuv threadpool thread is ever parked in
 * waitid(), and Node learns of a run's end with one read.
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
  int statusfd;
  /* init's records of the current run, until its final one (EXIT or GO_FAIL) arrives */
  uint8_t pending[GV_NOTE_DATA_BYTES / GV_STATUS_REC_SIZE * GV_STATUS_REC_SIZE];
  uint32_t npending;
  /* Holds the sandbox's mount namespace: without it the namespace (and its dozen mounts)
   * is torn down inside the dying init, before its exit is even reported. */
  int mntfd;
  uint64_t token;
};

/* epoll data: the table index, with this bit set for the status pipe (else the pidfd) */
#define GV_EV_STATUS 0x80000000u

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static struct gv_entry g_tab[GV_MAX_SANDBOXES];
static int g_epfd = -1;
static int g_notify_rd = -1, g_notify_wr = -1;
static pthread_t g_reaper;

_Static_assert(sizeof(struct gv_note) == GV_NOTE_DATA_OFFSET + GV_NOTE_DATA_BYTES, "gv_note layout");
_Static_assert(__builtin_offsetof(struct gv_note, data) == GV_NOTE_DATA_OFFSET, "gv_note data offset");
_Static_assert(sizeof(struct gv_status_rec) == GV_STATUS_REC_SIZE, "status record size");
_Static_assert(sizeof(struct gv_setup_fail_rec) == GV_STATUS_REC_SIZE, "setup-fail record size");

static void emit(const struct gv_note *r) {
  /* A full pipe means Node stopped reading; blocking here is the right back-pressure. */
  ssize_t w;
  do w = write(g_notify_wr, r, sizeof *r); while (w < 0 && errno == EINTR);
}

/* Files init's records; a final one closes the run and goes to Node at once. */
static void take_records(struct gv_entry *e, const uint8_t *buf, size_t n) {
  for (size_t off = 0; off + GV_STATUS_REC_SIZE <= n; off += GV_STATUS_REC_SIZE) {
    uint32_t magic;
    memcpy(&magic, buf + off, sizeof magic);
    int final = magic == GV_REC_EXIT || magic == GV_REC_GO_FAIL;
    /* A full buffer drops records, never the final one: it takes the last place. */
    if (e->npending + GV_STATUS_REC_SIZE > sizeof e->pending && final) e->npending -= GV_STATUS_REC_SIZE;
    if (e->npending + GV_STATUS_REC_SIZE <= sizeof e->pending) {
      memcpy(e->pending + e->npending, buf + off, GV_STATUS_REC_SIZE);
      e->npending += GV_STATUS_REC_SIZE;
    }
    if (final) {
      struct gv_note r;
      memset(&r, 0, sizeof r);
      r.magic = GV_NOTE_RUN;
      r.token = e->token;
      r.code = CLD_EXITED;
      r.nbytes = e->npending;
      memcpy(r.data, e->pending, e->npending);
      e->npending = 0;
      emit(&r);
    }
  }
}

/* init wrote to the status pipe (or closed it). */
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
  struct gv_note r;
  memset(&r, 0, sizeof r);
  r.magic = GV_NOTE_DEATH;
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
      if (idx < 0 || idx >= GV_MAX_SANDBOXES || !g_tab[idx].used) continue;
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

int gv_reaper_add(int pidfd, int statusfd, int mntfd, uint64_t token) {
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
  g_tab[idx].statusfd = statusfd;
  g_tab[idx].mntfd = mntfd;
  g_tab[idx].token = token;
  struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)idx};
  struct epoll_event evs = {.events = EPOLLIN, .data.u32 = (uint32_t)idx | GV_EV_STATUS};
  if (epoll_ctl(g_epfd, EPOLL_CTL_ADD, pidfd, &ev) < 0 || epoll_ctl(g_epfd, EPOLL_CTL_ADD, statusfd, &evs) < 0) {
    int e = errno;
    epoll_ctl(g_epfd, EPOLL_CTL_DEL, pidfd, NULL);
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
