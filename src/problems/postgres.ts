// The problem registry on PostgreSQL, for cluster mode: the same four tables as the SQLite
// registry (version numbers never reused for an id), in the cluster's database. Import locks are
// leased by time instead of cleared at start: nodes start and stop independently, so a lock is
// stale only when its import has been silent for longer than the lease. The tables are created
// by the cluster store's migrations (src/store/postgres.ts).
import type pg from 'pg';
import { ImportBusyError, summarize, type ImportTicket, type ProblemStore, type StoredVersion } from './store.js';
import type { ProblemSummary } from './types.js';
import { inTransaction } from '../store/postgres.js';

interface VersionRow { id: string; version: number; meta: string; blobs: string; bytes: string; created_at: string; manifest: string | null }

function toVersion(r: VersionRow): StoredVersion {
  return { id: r.id, version: r.version, meta: JSON.parse(r.meta), blobs: JSON.parse(r.blobs), bytes: Number(r.bytes), createdAt: Number(r.created_at),
    ...(r.manifest ? { files: JSON.parse(r.manifest) } : {}) };
}

type Query = <R extends pg.QueryResultRow>(text: string, values?: unknown[]) => Promise<pg.QueryResult<R>>;

export class PostgresProblemStore implements ProblemStore {
  /** `owner`: closed with this store when the pool is this store's own. */
  constructor(private readonly pool: pg.Pool, private readonly query: Query, private readonly importLeaseMs = 3_600_000,
    private readonly owner?: { close(): Promise<void> }) {}

  private tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    return inTransaction(this.pool, fn);
  }

  begin(id: string): Promise<ImportTicket> {
    return this.tx(async (c) => {
      // Taking the lock is the insert: a concurrent import of the same id conflicts here.
      const lock = await c.query(
        'INSERT INTO problem_imports (id, version, started_at) VALUES ($1, 0, $2) ON CONFLICT (id) DO NOTHING RETURNING id', [id, Date.now()]);
      if (!lock.rowCount) throw new ImportBusyError(id);
      const { rows } = await c.query<{ last: number }>(
        `INSERT INTO problem_seq (id, last) VALUES ($1, 1) ON CONFLICT (id) DO UPDATE SET last = problem_seq.last + 1 RETURNING last`, [id]);
      await c.query('UPDATE problem_imports SET version = $2 WHERE id = $1', [id, rows[0].last]);
      return { id, version: rows[0].last };
    });
  }

  commit(t: ImportTicket, v: Omit<StoredVersion, 'id' | 'version'>): Promise<{ created: boolean }> {
    return this.tx(async (c) => {
      const lock = await c.query<{ version: number }>('SELECT version FROM problem_imports WHERE id = $1 FOR UPDATE', [t.id]);
      if (lock.rows[0]?.version !== t.version) throw new Error(`import of ${t.id} v${t.version} holds no lock`);
      await c.query('INSERT INTO problem_versions (id, version, meta, blobs, bytes, created_at, manifest) VALUES ($1, $2, $3, $4, $5, $6, $7)',
        [t.id, t.version, JSON.stringify(v.meta), JSON.stringify(v.blobs), v.bytes, v.createdAt, v.files ? JSON.stringify(v.files) : null]);
      const prev = await c.query('SELECT 1 FROM problems WHERE id = $1', [t.id]);
      await c.query('INSERT INTO problems (id, current) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET current = excluded.current', [t.id, t.version]);
      await c.query('DELETE FROM problem_imports WHERE id = $1', [t.id]);
      return { created: !prev.rowCount };
    });
  }

  async abort(t: ImportTicket): Promise<void> {
    await this.query('DELETE FROM problem_imports WHERE id = $1 AND version = $2', [t.id, t.version]);
  }

  async importing(id: string): Promise<boolean> {
    return !!(await this.query('SELECT 1 FROM problem_imports WHERE id = $1', [id])).rowCount;
  }

  async current(id: string): Promise<StoredVersion | undefined> {
    const { rows } = await this.query<VersionRow>(
      'SELECT v.* FROM problems p JOIN problem_versions v ON v.id = p.id AND v.version = p.current WHERE p.id = $1', [id]);
    return rows[0] && toVersion(rows[0]);
  }

  async version(id: string, version: number): Promise<StoredVersion | undefined> {
    const { rows } = await this.query<VersionRow>('SELECT * FROM problem_versions WHERE id = $1 AND version = $2', [id, version]);
    return rows[0] && toVersion(rows[0]);
  }

  async list(): Promise<ProblemSummary[]> {
    const { rows } = await this.query<VersionRow>(
      'SELECT v.* FROM problems p JOIN problem_versions v ON v.id = p.id AND v.version = p.current ORDER BY p.id');
    return rows.map((r) => summarize(toVersion(r)));
  }

  delete(id: string): Promise<boolean> {
    return this.tx(async (c) => {
      if ((await c.query('SELECT 1 FROM problem_imports WHERE id = $1', [id])).rowCount) throw new ImportBusyError(id);
      const n = (await c.query('DELETE FROM problems WHERE id = $1', [id])).rowCount ?? 0;
      await c.query('DELETE FROM problem_versions WHERE id = $1', [id]);
      return n > 0;
    });
  }

  async referencedBlobs(): Promise<Set<string>> {
    const out = new Set<string>();
    const { rows } = await this.query<{ blobs: string; manifest: string | null }>('SELECT blobs, manifest FROM problem_versions');
    for (const r of rows) {
      for (const h of Object.values(JSON.parse(r.blobs) as Record<string, string>)) out.add(h);
      for (const f of Object.values(JSON.parse(r.manifest ?? '{}') as NonNullable<StoredVersion['files']>)) out.add(f.hash);
    }
    return out;
  }

  async versions(): Promise<Array<{ id: string; version: number }>> {
    return (await this.query<{ id: string; version: number }>('SELECT id, version FROM problem_versions')).rows;
  }

  async anyImporting(): Promise<boolean> {
    return !!(await this.query('SELECT 1 FROM problem_imports LIMIT 1')).rowCount;
  }

  async clearStaleImports(): Promise<void> {
    await this.query('DELETE FROM problem_imports WHERE started_at < $1', [Date.now() - this.importLeaseMs]);
  }

  async close(): Promise<void> {
    await this.owner?.close();
  }
}
