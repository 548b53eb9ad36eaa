// Node's end of the reaper thread (native/reaper.c): reads its death notes from one pipe
// and hands each to the cell it belongs to (by token). A cell hears of its runs' ends on
// its own status pipe (cell.ts); this is only how it learns that it is gone.
import net from 'node:net';
import { errnoName } from './linux.js';
import { native } from './native.js';
import { parseNote, type ExitRecord } from './notes.js';
import { NOTE_SIZE } from './protocol.js';

/**
 * Only cells with a run in progress keep Node's event loop alive: a waiting, pre-warmed
 * cell must not.
 */
class ExitWatcher {
  private socket: net.Socket;
  private subscribers = new Map<number, (r: ExitRecord) => void>();
  /** Deaths that came before their cell subscribed (a cell that died at once). */
  private early = new Map<number, ExitRecord>();
  private pending: Buffer = Buffer.alloc(0);
  private refs = 0;

  constructor() {
    const fd = native().reaperStart();
    if (fd < 0) throw new Error(`gavel: cannot start the reaper thread: ${errnoName(-fd)}`);
    this.socket = new net.Socket({ fd, readable: true, writable: false });
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.unref();
  }

  private onData(chunk: Buffer): void {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    while (this.pending.length >= NOTE_SIZE) {
      const rec = parseNote(this.pending.subarray(0, NOTE_SIZE));
      this.pending = this.pending.subarray(NOTE_SIZE);
      const fn = this.subscribers.get(rec.token);
      this.subscribers.delete(rec.token);
      if (fn) fn(rec);
      else this.early.set(rec.token, rec);
    }
  }

  /** Calls `fn` once, with the death of the cell `token` (at once if it came already). */
  subscribe(token: number, fn: (r: ExitRecord) => void): void {
    const early = this.early.get(token);
    if (!early) return void this.subscribers.set(token, fn);
    this.early.delete(token);
    fn(early);
  }

  /** Holds the event loop open while a program runs. */
  ref(): void {
    if (this.refs++ === 0) this.socket.ref();
  }

  unref(): void {
    if (--this.refs === 0) this.socket.unref();
  }
}

let watcher: ExitWatcher | undefined;
export function exitWatcher(): ExitWatcher {
  watcher ??= new ExitWatcher();
  return watcher;
}
