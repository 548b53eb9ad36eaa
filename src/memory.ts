// Gives memory back after large requests. A burst of large bodies leaves its peak behind: V8
// keeps the heap it grew for the parsed strings and objects, and glibc keeps the freed
// buffers in its arenas, long after the garbage is gone (RSS stayed near 4× idle here).
// Shortly after the last large body, one full GC and malloc_trim(0) return it to the OS.
import v8 from 'node:v8';
import vm from 'node:vm';
import koffi from 'koffi';
import type { Logger } from 'pino';

/** Bodies from this size on count as large. */
export const LARGE_BYTES = 4 << 20;
/** Quiet time after the last large body before memory is released. */
const SETTLE_MS = 1000;

let gc: (() => void) | null | undefined;
let trim: ((pad: number) => number) | null | undefined;

function tools(log: Logger): { gc: (() => void) | null; trim: ((pad: number) => number) | null } {
  if (gc === undefined) {
    try {
      // The documented way to reach gc() in a process not started with --expose-gc.
      v8.setFlagsFromString('--expose-gc');
      gc = vm.runInNewContext('gc') as () => void;
    } catch (err) {
      log.warn({ err }, 'cannot reach the garbage collector; memory after large requests is released later');
      gc = null;
    }
  }
  if (trim === undefined) {
    try {
      trim = koffi.load('libc.so.6').func('int malloc_trim(size_t pad)') as (pad: number) => number;
    } catch {
      trim = null; // not glibc: its allocator has its own policy
    }
  }
  return { gc, trim };
}

export class MemoryReleaser {
  private timer?: NodeJS.Timeout;

  constructor(private readonly log: Logger) {}

  /** Notes that something of `bytes` was handled; large ones schedule a release. */
  note(bytes: number): void {
    if (bytes < LARGE_BYTES) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.release(), SETTLE_MS);
    this.timer.unref();
  }

  release(): void {
    const t = tools(this.log);
    const before = process.memoryUsage.rss();
    // Two collections: the first frees what the large values held, the second what only the
    // first one's finalisers let go of (external strings, buffers).
    t.gc?.();
    t.gc?.();
    t.trim?.(0);
    this.log.debug({ rssBefore: before, rssAfter: process.memoryUsage.rss() }, 'released memory after large requests');
  }

  close(): void {
    clearTimeout(this.timer);
  }
}
