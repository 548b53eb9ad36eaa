// Test data in PostgreSQL for cluster mode, content-addressed and chunked: a blob is its row in
// `blobs` plus 1 MiB rows in `blob_chunks`, written in one transaction, so it appears whole or
// not at all. Workers read a blob by hash into an on-disk cache (checked against its sha256,
// renamed into place read-only, so a reader never sees half of one) and evict least recently
// used files past a size cap; a file used in the last minutes is never evicted, since a
// judging run may still be about to open it. The tables are created by the cluster store's
// migrations (src/store/postgres.ts).
import { createHash } from 'node:crypto';
import {
  chmodSync, closeSync, createReadStream, linkSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, statSync, utimesSync, writeSync,
} from 'node:fs';
import { join } from 'node:path';
import type pg from 'pg';
import type { BlobStore } from './store.js';
import { inTransaction } from '../store/postgres.js';

const HASH = /^[0-9a-f]{64}$/;
const CHUNK = 1 << 20;
/** Files used this recently stay in the cache whatever its size. */
const IN_USE_MS = 10 * 60_000;

export interface PgBlobOptions {
  pool: pg.Pool;
  /** The node's cache directory. */
  cacheDir: string;
  /** Bytes the cache may hold (beyond files in use). */
  cacheBytes: number;
}

export class PgBlobStore implements BlobStore {
  private readonly fetching = new Map<string, Promise<string>>();

  constructor(private readonly o: PgBlobOptions) {
    mkdirSync(o.cacheDir, { recursive: true, mode: 0o755 });
  }

  private cached(hash: string): string {
    if (!HASH.test(hash)) throw new Error(`not a sha256: ${hash}`);
    return join(this.o.cacheDir, hash.slice(0, 2), hash);
  }

  async has(hash: string): Promise<boolean> {
    const { rows } = await this.o.pool.query<{ complete: boolean }>('SELECT complete FROM blobs WHERE hash = $1', [hash]);
    return rows[0]?.complete === true;
  }

  async putFile(hash: string, file: string): Promise<void> {
    await inTransaction(this.o.pool, async (c) => {
      // A concurrent put of the same blob waits here on the key, then finds it done.
      const fresh = await c.query('INSERT INTO blobs (hash, size) VALUES ($1, $2) ON CONFLICT (hash) DO NOTHING RETURNING hash', [hash, statSync(file).size]);
      if (!fresh.rowCount) return;
      let n = 0;
      for await (const chunk of createReadStream(file, { highWaterMark: CHUNK })) {
        await c.query('INSERT INTO blob_chunks (hash, n, data) VALUES ($1, $2, $3)', [hash, n++, chunk]);
      }
      await c.query('UPDATE blobs SET complete = true WHERE hash = $1', [hash]);
    });
    // The importing node has the file already: keep it in its cache.
    this.adopt(hash, file);
  }

  private adopt(hash: string, file: string): void {
    const dest = this.cached(hash);
    try {
      statSync(dest);
      return;
    } catch { /* not cached yet */ }
    mkdirSync(join(this.o.cacheDir, hash.slice(0, 2)), { recursive: true, mode: 0o755 });
    const tmp = `${dest}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
    try {
      linkSync(file, tmp);
      chmodSync(tmp, 0o444);
      renameSync(tmp, dest);
    } catch {
      rmSync(tmp, { force: true });
    }
  }

  async localPath(hash: string): Promise<string> {
    const dest = this.cached(hash);
    try {
      statSync(dest);
      const now = new Date();
      utimesSync(dest, now, now);
      return dest;
    } catch { /* fetch it */ }
    let p = this.fetching.get(hash);
    if (!p) {
      p = this.fetch(hash, dest).finally(() => this.fetching.delete(hash));
      this.fetching.set(hash, p);
    }
    return p;
  }

  /** Copies a blob chunk by chunk into the cache (never the whole blob in memory), checking its hash. */
  private async fetch(hash: string, dest: string): Promise<string> {
    const { rows } = await this.o.pool.query<{ size: string }>('SELECT size FROM blobs WHERE hash = $1 AND complete', [hash]);
    if (!rows[0]) throw new Error(`blob ${hash} is not in the database`);
    mkdirSync(join(this.o.cacheDir, hash.slice(0, 2)), { recursive: true, mode: 0o755 });
    const tmp = `${dest}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
    const fd = openSync(tmp, 'w', 0o644);
    const sha = createHash('sha256');
    let size = 0;
    try {
      for (let n = 0; ; n++) {
        const chunk = await this.o.pool.query<{ data: Buffer }>('SELECT data FROM blob_chunks WHERE hash = $1 AND n = $2', [hash, n]);
        if (!chunk.rows[0]) break;
        const data = chunk.rows[0].data;
        sha.update(data);
        writeSync(fd, data);
        size += data.length;
      }
    } catch (err) {
      closeSync(fd);
      rmSync(tmp, { force: true });
      throw err;
    }
    closeSync(fd);
    const got = sha.digest('hex');
    if (got !== hash || size !== Number(rows[0].size)) {
      rmSync(tmp, { force: true });
      throw new Error(`blob ${hash} from the database is damaged (${size} bytes, sha256 ${got})`);
    }
    chmodSync(tmp, 0o444);
    renameSync(tmp, dest);
    this.evict();
    return dest;
  }

  /** Least recently used first, down to the cap, sparing files used within IN_USE_MS. */
  private evict(): void {
    const files: Array<{ path: string; size: number; used: number }> = [];
    let total = 0;
    for (const sub of readdirSync(this.o.cacheDir)) {
      for (const f of readdirSync(join(this.o.cacheDir, sub))) {
        const path = join(this.o.cacheDir, sub, f);
        const st = statSync(path);
        files.push({ path, size: st.size, used: st.mtimeMs });
        total += st.size;
      }
    }
    if (total <= this.o.cacheBytes) return;
    const cutoff = Date.now() - IN_USE_MS;
    for (const f of files.sort((a, b) => a.used - b.used)) {
      if (total <= this.o.cacheBytes || f.used > cutoff) break;
      rmSync(f.path, { force: true });
      total -= f.size;
    }
  }

  async sweep(keep: Set<string>): Promise<number> {
    const { rowCount } = await this.o.pool.query('DELETE FROM blobs WHERE NOT (hash = ANY($1))', [[...keep]]);
    for (const sub of readdirSync(this.o.cacheDir)) {
      for (const f of readdirSync(join(this.o.cacheDir, sub))) if (!keep.has(f)) rmSync(join(this.o.cacheDir, sub, f), { force: true });
    }
    return rowCount ?? 0;
  }
}
