// Compiled programs kept for reuse: the same (language, compiler version, build commands,
// sources) compiles to the same box, so a rejudge or a resubmission links the cached
// files into its fresh box instead of running the compiler. Entries are hard links of a
// sealed (root-owned, read-only) box on the same filesystem as the work dirs, so a hit
// costs a directory walk and no copy. Least recently used entries go past the size cap.
import { createHash } from 'node:crypto';
import { linkSync, lstatSync, mkdirSync, readdirSync, rmSync, symlinkSync, readlinkSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import type { Language } from './languages.js';
import type { CompileResult, SourceFile } from './schema.js';

interface Entry {
  dir: string;
  bytes: number;
  compile: CompileResult;
}

/** Hard-links the tree `from` into the existing directory `to`; returns the bytes it holds. */
function linkTree(from: string, to: string): number {
  let bytes = 0;
  for (const e of readdirSync(from)) {
    const src = join(from, e);
    const dst = join(to, e);
    const st = lstatSync(src);
    if (st.isDirectory()) {
      mkdirSync(dst, { mode: st.mode & 0o777 });
      bytes += linkTree(src, dst);
    } else if (st.isSymbolicLink()) symlinkSync(readlinkSync(src), dst);
    else {
      linkSync(src, dst);
      bytes += st.size;
    }
  }
  return bytes;
}

export class CompileCache {
  private entries = new Map<string, Entry>();
  private bytes = 0;
  hits = 0;
  misses = 0;

  constructor(private dir: string, private maxBytes: number) {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  /** The key of a build: everything that decides what the compiler produces. */
  key(lang: Language, files: SourceFile[], vars: Record<string, string>): string {
    const h = createHash('sha256');
    h.update(JSON.stringify([lang.id, lang.versionString, lang.compile, lang.run, lang.env ?? {}, vars]));
    for (const f of [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))) {
      h.update(JSON.stringify([f.path, f.encoding ?? 'utf8', !!f.entry]));
      h.update('\0');
      h.update(f.content);
      h.update('\0');
    }
    return h.digest('hex');
  }

  /** Links a cached build into `box`; its compile result, or undefined on a miss. */
  take(key: string, box: string): CompileResult | undefined {
    const e = this.entries.get(key);
    if (!e) {
      this.misses++;
      return undefined;
    }
    for (const name of readdirSync(box)) rmSync(join(box, name), { recursive: true, force: true });
    linkTree(e.dir, box);
    // Most recently used last.
    this.entries.delete(key);
    this.entries.set(key, e);
    this.hits++;
    return { ...e.compile, cached: true };
  }

  /** Keeps a sealed, successfully compiled box. */
  put(key: string, box: string, compile: CompileResult): void {
    if (this.entries.has(key) || this.maxBytes <= 0) return;
    const tmp = join(this.dir, `${key}.tmp`);
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { mode: 0o755 });
    let bytes: number;
    try {
      bytes = linkTree(box, tmp);
    } catch {
      rmSync(tmp, { recursive: true, force: true });
      return;
    }
    if (bytes > this.maxBytes) {
      rmSync(tmp, { recursive: true, force: true });
      return;
    }
    const dir = join(this.dir, key);
    renameSync(tmp, dir);
    this.entries.set(key, { dir, bytes, compile });
    this.bytes += bytes;
    for (const [k, e] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(k);
      this.bytes -= e.bytes;
      rmSync(e.dir, { recursive: true, force: true });
    }
  }

  get size(): { entries: number; bytes: number } {
    return { entries: this.entries.size, bytes: this.bytes };
  }

  clear(): void {
    this.entries.clear();
    this.bytes = 0;
    rmSync(this.dir, { recursive: true, force: true });
  }
}
