// A cell: one live sandbox, a gavel-init waiting in its namespaces and cgroup for go
// messages. It serves run after run until a run ends badly (a limit, a cancel, a failed
// go), when it is killed and the slot gets a fresh one. (The /box directory is what a
// cell's program sees as its work dir; "cell" is never the directory.)
import { closeSync } from 'node:fs';
import { errnoName, SIG } from './linux.js';
import { sendGo, signalCell, spawnPlan } from './native.js';
import type { ExitRecord } from './notes.js';
import type { PlanBuilder } from './plan.js';
import { exitWatcher } from './reaper.js';

let nextToken = 1;

export class Cell {
  dead = false;
  /** Resolves with the reaper's record of init's end. */
  readonly death: Promise<ExitRecord>;
  private waiter: ((r: ExitRecord) => void) | undefined;
  private queued: ExitRecord[] = [];
  private controlOpen = true;

  /** Clones a cell that runs `plan` (plans.ts's cellPlan), up to init waiting. */
  static async start(plan: PlanBuilder, buf: Buffer = plan.build()): Promise<Cell> {
    exitWatcher(); // the reaper must be running before a child is registered with it
    const token = nextToken++;
    const r = await spawnPlan(buf, token);
    if ('failure' in r) {
      const f = r.failure;
      throw new Error(`sandbox setup failed at ${f.opIndex >= 0 ? plan.describe(f.opIndex) : 'clone'}: ${errnoName(f.errno)}`);
    }
    return new Cell(token, r.control);
  }

  private constructor(readonly token: number, readonly control: number) {
    let onDeath!: (r: ExitRecord) => void;
    this.death = new Promise((resolve) => (onDeath = resolve));
    exitWatcher().subscribe(token, (rec) => {
      if (rec.kind === 'death') {
        this.dead = true;
        this.closeControl();
        onDeath(rec);
      }
      const w = this.waiter;
      if (w) {
        this.waiter = undefined;
        exitWatcher().unref();
        w(rec);
      } else if (rec.kind === 'run') {
        this.queued.push(rec);
      }
    });
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
