// Scratch directories for POST /v1/run, reused from call to call: making and removing a
// directory tree per run was most of the service's own work per run on a disk-backed
// run dir. A returned one is emptied (the program may have written to its box) and its
// output files are truncated by the next run that opens them.
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

export interface Scratch {
  root: string;
  box: string;
  stdin: string;
  stdout: string;
  stderr: string;
}

export class ScratchDirs {
  private free: Scratch[] = [];

  constructor(private parent: string, private keep: number) {}

  take(): Scratch {
    const s = this.free.pop();
    if (s) return s;
    const root = mkdtempSync(join(this.parent, 'r'));
    const box = join(root, 'box');
    mkdirSync(box);
    return { root, box, stdin: join(root, 'stdin'), stdout: join(root, 'stdout'), stderr: join(root, 'stderr') };
  }

  give(s: Scratch): void {
    try {
      for (const e of readdirSync(s.box)) rmSync(join(s.box, e), { recursive: true, force: true });
      rmSync(s.stdin, { force: true });
    } catch {
      rmSync(s.root, { recursive: true, force: true });
      return;
    }
    if (this.free.length < this.keep) this.free.push(s);
    else rmSync(s.root, { recursive: true, force: true });
  }

  clear(): void {
    for (const s of this.free.splice(0)) rmSync(s.root, { recursive: true, force: true });
  }
}
