// A cell: one live sandbox, a gavel-init waiting in its namespaces and cgroup for go
// messages. It serves run after run until a run ends badly (a limit, a cancel, a failed
// go), when it is killed and the slot gets a fresh one. (The /box directory is what a
// cell's program sees as its work dir; "cell" is never the directory.)
//
// The end of each run comes on the cell's own status pipe, read by Node's event loop
// directly; the cell's death comes from the reaper thread (reaper.ts), and is only taken
// once the status pipe has ended, so every record init wrote comes before it.
import { closeSync } from 'node:fs';
import net from 'node:net';
import { errnoName, SIG } from './linux.js';
import { sendGo, signalCell, spawnPlan } from './native.js';
import { StatusRecords, type ExitRecord } from './notes.js';
import type { PlanBuilder } from './plan.js';
import { exitWatcher } from './reaper.js';

let nextToken = 1;

/** How long a death waits for the status pipe's end before it is taken anyway. */
const STATUS_END_GRACE_MS = 2000;

export class Cell {
  dead = false;
  /** Resolves with the reaper's record of init's end. */
  readonly death: Promise<ExitRecord>;
  private waiter: ((r: ExitRecord) => void) | undefined;
  private queued: ExitRecord[] = [];
  private controlOpen = true;
  private status: net.Socket;
  private records: StatusRecords;
  private statusEnded = false;
  private deathNote: ExitRecord | undefined;
  private onDeath!: (r: ExitRecord) => void;

  /** Clones a cell that runs `plan` (plans.ts's cellPlan), up to init waiting. */
  static async start(plan: PlanBuilder, buf: Buffer = plan.build()): Promise<Cell> {
    exitWatcher(); // the reaper must be running before a child is registered with it
    const token = nextToken++;
    const r = await spawnPlan(buf, token);
    if ('failure' in r) {
      const f = r.failure;
      throw new Error(`sandbox setup failed at ${f.opIndex >= 0 ? plan.describe(f.opIndex) : 'clone'}: ${errnoName(f.errno)}`);
    }
    return new Cell(token, r.control, r.status);
  }

  private constructor(readonly token: number, readonly control: number, statusFd: number) {
    this.death = new Promise((resolve) => (this.onDeath = resolve));
    this.records = new StatusRecords(token);
    this.status = new net.Socket({ fd: statusFd, readable: true, writable: false });
    this.status.unref();
    this.status.on('data', (chunk: Buffer) => {
      for (const rec of this.records.feed(chunk)) this.deliver(rec);
    });
    // Every writer is gone: init and everything in its pid namespace.
    const ended = () => {
      if (this.statusEnded) return;
      this.statusEnded = true;
      this.status.destroy();
      if (this.deathNote) this.die(this.deathNote);
    };
    this.status.on('end', ended);
    this.status.on('close', ended);
    this.status.on('error', ended);
    exitWatcher().subscribe(token, (note) => {
      this.deathNote = note;
      if (this.statusEnded) return this.die(note);
      // A guard only: the pipe ends when init's namespace is gone, which is when the
      // reaper hears of it.
      setTimeout(() => this.die(note), STATUS_END_GRACE_MS).unref();
    });
  }

  private die(note: ExitRecord): void {
    if (this.dead) return;
    this.dead = true;
    this.status.destroy();
    this.closeControl();
    const rec = this.records.death(note);
    this.onDeath(rec);
    this.deliver(rec);
  }

  private deliver(rec: ExitRecord): void {
    const w = this.waiter;
    if (w) {
      this.waiter = undefined;
      this.status.unref();
      exitWatcher().unref();
      w(rec);
    } else if (rec.kind === 'run') {
      this.queued.push(rec);
    }
  }

  /** Sends the go message `msg` with `fds` (stdio first, then mount trees). */
  go(msg: Buffer, fds: number[]): void {
    sendGo(this.control, msg, fds);
  }

  /** The end of the run in progress: its 'run' record, or the cell's 'death'. */
  next(): Promise<ExitRecord> {
    const q = this.queued.shift();
    if (q) return Promise.resolve(q);
    if (this.dead) return this.death;
    this.status.ref();
    exitWatcher().ref();
    return new Promise((resolve) => (this.waiter = resolve));
  }

  kill(): void {
    signalCell(this.token, SIG.KILL);
  }

  /** init sees EOF on its control socket and exits. */
  closeControl(): void {
    if (this.controlOpen) {
      this.controlOpen = false;
      closeSync(this.control);
    }
  }

  /** Ends the cell and waits until its init is gone. */
  async dispose(): Promise<void> {
    if (this.dead) return;
    this.closeControl();
    this.kill();
    exitWatcher().ref();
    try {
      await this.death;
    } finally {
      exitWatcher().unref();
    }
  }
}
