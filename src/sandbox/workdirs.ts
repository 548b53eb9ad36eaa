// Work dirs handed out by Sandbox.makeWorkDir, kept and emptied for reuse instead of
// removed: on a disk-backed run dir making and removing a directory tree costs as much as
// the warm run it is for, and far more when the disk is busy. A returned dir is emptied,
// reset to what mkdtemp makes (root-owned, 0700) and parked in a directory of its own
// (`stock`), so `parent` only ever holds the dirs in use and a reused one cannot be told
// from a fresh one.
import { chmodSync, chownSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';

export class WorkDirs {
  private free: string[] = [];
  private issued = new Set<string>();

  constructor(private parent: string, private stock: string, private keep: number) {
    mkdirSync(stock, { recursive: true, mode: 0o700 });
  }

  take(): string {
    const spare = this.free.pop();
    let dir: string;
    if (spare) {
      dir = join(this.parent, basename(spare));
      renameSync(spare, dir);
    } else {
      dir = mkdtempSync(join(this.parent, 'w'));
    }
    this.issued.add(dir);
    return dir;
  }

  /** Takes back a dir from take() (any other path is just removed). */
  give(dir: string): void {
    if (this.issued.delete(dir) && this.free.length < this.keep && this.empty(dir)) {
      const spare = join(this.stock, basename(dir));
      try {
        renameSync(dir, spare);
        this.free.push(spare);
        return;
      } catch {
        // fall through: removed like any other
      }
    }
    rmSync(dir, { recursive: true, force: true });
  }

  /** Empties `dir` and resets its owner and mode; false if it is not a plain dir anymore. */
  private empty(dir: string): boolean {
    try {
      const st = lstatSync(dir);
      if (!st.isDirectory()) return false;
      for (const e of readdirSync(dir)) rmSync(join(dir, e), { recursive: true, force: true });
      if (st.uid !== 0 || st.gid !== 0) chownSync(dir, 0, 0);
      if ((st.mode & 0o7777) !== 0o700) chmodSync(dir, 0o700);
      return true;
    } catch {
      return false;
    }
  }

  clear(): void {
    for (const dir of this.issued) rmSync(dir, { recursive: true, force: true });
    this.issued.clear();
    this.free = [];
    rmSync(this.stock, { recursive: true, force: true });
  }
}
