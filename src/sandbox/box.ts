// One live sandbox: a gavel-init waiting in its namespaces and cgroup for go messages.
// It serves run after run until a run ends badly (a limit, a cancel, a failed go), when
// it is killed and the slot gets a fresh one.
import { closeSync } from 'node:fs';
import { exitWatcher, killSandbox, type ExitRecord } from './native.js';

export class Box {
  dead = false;
  /** Resolves with the reaper's record of init's end. */
  readonly death: Promise<ExitRecord>;
  private waiter: ((r: ExitRecord) => void) | undefined;
  private queued: ExitRecord[] = [];
  private controlOpen = true;

  constructor(readonly token: number, readonly control: number) {
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

  /** The end of the run in progress: its 'run' record, or the sandbox's 'death'. */
  next(): Promise<ExitRecord> {
    const q = this.queued.shift();
    if (q) return Promise.resolve(q);
    if (this.dead) return this.death;
    exitWatcher().ref();
    return new Promise((resolve) => (this.waiter = resolve));
  }

  kill(): void {
    killSandbox(this.token, 9);
  }

  /** init sees EOF on its control socket and exits. */
  closeControl(): void {
    if (this.controlOpen) {
      this.controlOpen = false;
      closeSync(this.control);
    }
  }

  /** Ends the sandbox and waits until its init is gone. */
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
