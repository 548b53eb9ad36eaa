/*
 * What the shim's three files share among themselves (nothing here is exported from
 * libgavel.so): the clone child's entry point (child.c) and the reaper's table
 * (reaper.c), used by the API in shim.c.
 */
#ifndef GAVEL_INTERNAL_H
#define GAVEL_INTERNAL_H

#include <linux/sched.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol.h"

#define GV_EXPORT __attribute__((visibility("default")))

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif
#ifndef CLONE_CLEAR_SIGHAND
#define CLONE_CLEAR_SIGHAND 0x100000000ULL
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

/* child.c: runs the plan `arg` (a struct gv_plan) in the cloned child; never returns. */
int gv_child_main(void *arg);

#if defined(__x86_64__)
/* child.c: clone3 onto args->stack, calling fn(arg) there; returns the pid or -errno. */
long gv_clone3(struct clone_args *args, size_t size, int (*fn)(void *), void *arg);
#define GV_HAVE_CLONE3 1
#else
#define GV_HAVE_CLONE3 0
#endif

/* reaper.c: has the reaper watch a new sandbox. Returns 0 or -errno (nothing taken over). */
int gv_reaper_add(int pidfd, int mntfd, uint64_t token);

/* Blocks every signal (glibc's internal ones too) in the calling thread; see shim.c. */
void gv_block_all_signals(uint64_t *old);
void gv_restore_signals(const uint64_t *old);

#endif
