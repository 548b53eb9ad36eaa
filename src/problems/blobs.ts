// Test data on the local disk, content-addressed: <dir>/ab/abcdef… named by sha256, root-
// owned and read-only (0444), so the sandbox can be handed the file itself. A blob appears
// by rename from a temporary name in the same directory, so a reader never sees half of one.
import { chmodSync, linkSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import type { BlobStore } from './store.js';

const HASH = /^[0-9a-f]{64}$/;

async function syncPath(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export class FileBlobStore implements BlobStore {
  /** `durable`: each new blob's data and name are fsynced before putFile resolves (survives power loss). */
  constructor(readonly dir: string, private readonly durable = false) {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
  }

  path(hash: string): string {
    if (!HASH.test(hash)) throw new Error(`not a sha256: ${hash}`);
    return join(this.dir, hash.slice(0, 2), hash);
  }

  async has(hash: string): Promise<boolean> {
    try {
      return statSync(this.path(hash)).isFile();
    } catch {
      return false;
    }
  }

  async putFile(hash: string, file: string): Promise<void> {
    const dest = this.path(hash);
    if (await this.has(hash)) return;
    mkdirSync(join(this.dir, hash.slice(0, 2)), { recursive: true, mode: 0o755 });
    chmodSync(file, 0o444);
    if (this.durable) await syncPath(file);
    const tmp = `${dest}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
    // A link keeps the caller's file (an unpacked package may refer to it twice); the
    // rename makes the blob appear whole.
    linkSync(file, tmp);
    renameSync(tmp, dest);
    if (this.durable) await syncPath(join(this.dir, hash.slice(0, 2)));
  }

  async localPath(hash: string): Promise<string> {
    const p = this.path(hash);
    if (!(await this.has(hash))) throw new Error(`blob ${hash} is missing from ${this.dir}`);
    return p;
  }

  async sweep(keep: Set<string>): Promise<number> {
    let n = 0;
    for (const sub of readdirSync(this.dir)) {
      const d = join(this.dir, sub);
      for (const f of readdirSync(d)) {
        // Temporaries are leftovers of an interrupted put.
        if (HASH.test(f) && keep.has(f)) continue;
        rmSync(join(d, f), { force: true });
        n++;
      }
    }
    return n;
  }
}
