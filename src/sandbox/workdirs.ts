// Work dirs handed out by Sandbox.makeWorkDir, kept and emptied for reuse instead of
// removed: on a disk-backed run dir making and removing a directory costs a journal
// commit's worth of time (0.1-1 ms here), as much as the whole warm run it is for. A
// returned dir is emptied and reset to what mkdtemp makes (root-owned, 0700), so a
// reused one cannot be told from a fresh one.
import { chmodSync, chownSync, lstatSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

export class WorkDirs {
  private free: string[] = [];
  private issued = new Set<string>();

  constructor(private parent: string, private keep: number) {}

  take(): string {
    const dir = this.free.pop() ?? mkdtempSync(join(this.parent, 'w'));
    this.issued.add(dir);
    return dir;
  }

  /** Takes back a dir from take() (any other path is just removed). */
  give(dir: string): void {
    if (!this.issued.delete(dir) || this.free.length >= this.keep || !this.empty(dir)) {
      rmSync(dir, { recursive: true, force: true });
      return;
    }
    this.free.push(dir);
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
    for (const dir of this.free.splice(0)) rmSync(dir, { recursive: true, force: true });
    for (const dir of this.issued) rmSync(dir, { recursive: true, force: true });
    this.issued.clear();
  }
}
