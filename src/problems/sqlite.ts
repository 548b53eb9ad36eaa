// The problem registry in SQLite (better-sqlite3), in its own file beside the submissions
// database (which is opened exclusively). Version numbers are never reused for an id, even
// after a delete, so a result naming {problem, version} always means one package.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { ImportBusyError, summarize, type ImportTicket, type ProblemStore, type StoredVersion } from './store.js';
import type { ProblemSummary } from './types.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS problem_seq (id TEXT PRIMARY KEY, last INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS problems (id TEXT PRIMARY KEY, current INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS problem_versions (
  id TEXT NOT NULL, version INTEGER NOT NULL, meta TEXT NOT NULL, blobs TEXT NOT NULL,
  bytes INTEGER NOT NULL, created_at INTEGER NOT NULL, PRIMARY KEY (id, version)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS problem_imports (id TEXT PRIMARY KEY, version INTEGER NOT NULL, started_at INTEGER NOT NULL) WITHOUT ROWID;
`;

interface VersionRow { id: string; version: number; meta: string; blobs: string; bytes: number; created_at: number }

function toVersion(r: VersionRow): StoredVersion {
  return { id: r.id, version: r.version, meta: JSON.parse(r.meta), blobs: JSON.parse(r.blobs), bytes: r.bytes, createdAt: r.created_at };
}

export class SqliteProblemStore implements ProblemStore {
  readonly file: string;
  private db: Database.Database;

  constructor(dataDir: string, opts: { synchronous?: 'FULL' | 'NORMAL' } = {}) {
    if (dataDir === ':memory:') this.file = ':memory:';
    else {
      mkdirSync(dataDir, { recursive: true });
      this.file = join(dataDir, 'problems.db');
    }
    this.db = new Database(this.file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${opts.synchronous ?? 'FULL'}`);
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(SCHEMA);
  }

  async begin(id: string): Promise<ImportTicket> {
    return this.db.transaction(() => {
      if (this.db.prepare('SELECT 1 FROM problem_imports WHERE id = ?').get(id)) throw new ImportBusyError(id);
      const row = this.db.prepare('SELECT last FROM problem_seq WHERE id = ?').get(id) as { last: number } | undefined;
      const version = (row?.last ?? 0) + 1;
      this.db.prepare('INSERT INTO problem_seq (id, last) VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET last = excluded.last').run(id, version);
      this.db.prepare('INSERT INTO problem_imports (id, version, started_at) VALUES (?, ?, ?)').run(id, version, Date.now());
      return { id, version };
    }).immediate();
  }

  async commit(t: ImportTicket, v: Omit<StoredVersion, 'id' | 'version'>): Promise<{ created: boolean }> {
    return this.db.transaction(() => {
      const lock = this.db.prepare('SELECT version FROM problem_imports WHERE id = ?').get(t.id) as { version: number } | undefined;
      if (lock?.version !== t.version) throw new Error(`import of ${t.id} v${t.version} holds no lock`);
      this.db.prepare('INSERT INTO problem_versions (id, version, meta, blobs, bytes, created_at) VALUES (?, ?, ?, ?, ?, ?)')
        .run(t.id, t.version, JSON.stringify(v.meta), JSON.stringify(v.blobs), v.bytes, v.createdAt);
      const existed = !!this.db.prepare('SELECT 1 FROM problems WHERE id = ?').get(t.id);
      this.db.prepare('INSERT INTO problems (id, current) VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET current = excluded.current').run(t.id, t.version);
      this.db.prepare('DELETE FROM problem_imports WHERE id = ?').run(t.id);
      return { created: !existed };
    }).immediate();
  }

  async abort(t: ImportTicket): Promise<void> {
    this.db.prepare('DELETE FROM problem_imports WHERE id = ? AND version = ?').run(t.id, t.version);
  }

  async importing(id: string): Promise<boolean> {
    return !!this.db.prepare('SELECT 1 FROM problem_imports WHERE id = ?').get(id);
  }

  async current(id: string): Promise<StoredVersion | undefined> {
    const r = this.db.prepare('SELECT v.* FROM problems p JOIN problem_versions v ON v.id = p.id AND v.version = p.current WHERE p.id = ?').get(id) as VersionRow | undefined;
    return r && toVersion(r);
  }

  async version(id: string, version: number): Promise<StoredVersion | undefined> {
    const r = this.db.prepare('SELECT * FROM problem_versions WHERE id = ? AND version = ?').get(id, version) as VersionRow | undefined;
    return r && toVersion(r);
  }

  async list(): Promise<ProblemSummary[]> {
    const rows = this.db.prepare('SELECT v.* FROM problems p JOIN problem_versions v ON v.id = p.id AND v.version = p.current ORDER BY p.id').all() as VersionRow[];
    return rows.map((r) => summarize(toVersion(r)));
  }

  async delete(id: string): Promise<boolean> {
    return this.db.transaction(() => {
      if (this.db.prepare('SELECT 1 FROM problem_imports WHERE id = ?').get(id)) throw new ImportBusyError(id);
      const n = this.db.prepare('DELETE FROM problems WHERE id = ?').run(id).changes;
      this.db.prepare('DELETE FROM problem_versions WHERE id = ?').run(id);
      return n > 0;
    }).immediate();
  }

  async referencedBlobs(): Promise<Set<string>> {
    const out = new Set<string>();
    for (const r of this.db.prepare('SELECT blobs FROM problem_versions').iterate() as Iterable<{ blobs: string }>) {
      for (const h of Object.values(JSON.parse(r.blobs) as Record<string, string>)) out.add(h);
    }
    return out;
  }

  async versions(): Promise<Array<{ id: string; version: number }>> {
    return this.db.prepare('SELECT id, version FROM problem_versions').all() as Array<{ id: string; version: number }>;
  }

  async clearStaleImports(): Promise<void> {
    this.db.prepare('DELETE FROM problem_imports').run();
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
