// SQLite store (better-sqlite3). Durability choices:
// - WAL journal + synchronous=FULL (default): every commit fsyncs the WAL, so a 202 survives
//   power loss, not just a process crash. NORMAL (configurable) skips that fsync and may lose the
//   last commits on an OS crash; it never corrupts the database.
// - Writes are group-committed: all writes issued in one event-loop turn go into one
//   transaction (one fsync), each inside its own savepoint so one failing write rejects alone.
//   A burst of POSTs therefore costs one fsync per turn, not one per request.
// - locking_mode=EXCLUSIVE: the first write takes the database lock for the life of the process
//   (the OS drops it when the process dies, even on kill -9), so two services can never share a
//   data dir and both re-queue the same submissions.
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Submission } from '../judge/schema.js';
import {
  StorageError, type CallbackState, type NewSubmission, type Outcome, type Store, type StoredEvent, type SubmissionRecord,
  type SubmissionStatus,
} from './index.js';
import { RECORD_COLUMNS, toRecord, type SubmissionRow } from './rows.js';

const SCHEMA_VERSION = 2;

const MIGRATION_1 = `
CREATE TABLE submissions (
  id TEXT PRIMARY KEY,
  language TEXT NOT NULL,
  status TEXT NOT NULL,
  request TEXT NOT NULL,
  result TEXT,
  verdict TEXT,
  created_at INTEGER NOT NULL,
  started_at INTEGER,
  finished_at INTEGER,
  last_seq INTEGER NOT NULL DEFAULT 0,
  callback_url TEXT,
  callback_state TEXT,
  callback_attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX submissions_by_status ON submissions(status, created_at);
CREATE INDEX submissions_by_finish ON submissions(finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX submissions_by_callback ON submissions(callback_state) WHERE callback_state = 'pending';
CREATE TABLE events (
  submission_id TEXT NOT NULL REFERENCES submissions(id) ON DELETE CASCADE,
  seq INTEGER NOT NULL,
  type TEXT NOT NULL,
  data TEXT NOT NULL,
  at INTEGER NOT NULL,
  PRIMARY KEY (submission_id, seq)
) WITHOUT ROWID;
`;

// A one-row table readiness writes to while writes are failing, to learn when they work again.
const MIGRATION_2 = 'CREATE TABLE write_probe (id INTEGER PRIMARY KEY CHECK (id = 1), at INTEGER NOT NULL);';

/** SQLite result codes that are the storage's fault, not the request's (extended codes share the prefix). */
const FULL_CODES = ['SQLITE_FULL'];
const UNAVAILABLE_CODES = ['SQLITE_IOERR', 'SQLITE_READONLY', 'SQLITE_CANTOPEN', 'SQLITE_NOMEM', 'SQLITE_PROTOCOL', 'SQLITE_BUSY', 'SQLITE_NOLFS'];

/** The error as a StorageError when the storage is at fault; otherwise unchanged. */
export function storageFault(err: unknown, file: string): unknown {
  if (err instanceof StorageError) return err;
  const code = (err as { code?: unknown })?.code;
  if (typeof code !== 'string') return err;
  const starts = (list: string[]) => list.some((c) => code === c || code.startsWith(`${c}_`));
  if (starts(FULL_CODES)) {
    return new StorageError(`the disk holding ${file} is full (${code})`, 'full', { cause: err });
  }
  if (starts(UNAVAILABLE_CODES)) {
    return new StorageError(`the database ${file} cannot be written (${code}: ${(err as Error).message})`, 'unavailable', { cause: err });
  }
  return err;
}


interface PendingWrite { fn: () => void; resolve: () => void; reject: (e: unknown) => void }

export interface SqliteStoreOptions {
  /** Directory for gavel.db; created if missing. ':memory:' for a throwaway store. */
  dataDir: string;
  synchronous?: 'FULL' | 'NORMAL';
}

export class SqliteStore implements Store {
  readonly file: string;
  private readonly db: Database.Database;
  private pending: PendingWrite[] = [];
  private scheduled = false;
  private closed = false;
  /** Set while writes fail for a reason of the storage; cleared by the next write that commits. */
  private failing?: StorageError;
  private readonly inSavepoint: (fn: () => void) => void;
  private readonly stmt;

  constructor(opts: SqliteStoreOptions) {
    if (opts.dataDir === ':memory:') {
      this.file = ':memory:';
    } else {
      fs.mkdirSync(opts.dataDir, { recursive: true });
      this.file = path.join(opts.dataDir, 'gavel.db');
    }
    try {
      this.db = new Database(this.file, { timeout: 2000 });
    } catch (err) {
      throw new Error(`cannot open the database ${this.file}: ${(err as Error).message}`, { cause: err });
    }
    try {
      this.db.pragma('locking_mode = EXCLUSIVE');
      this.db.pragma('journal_mode = WAL');
      this.db.pragma(`synchronous = ${opts.synchronous ?? 'FULL'}`);
      this.db.pragma('foreign_keys = ON');
      this.migrate();
    } catch (err) {
      this.db.close();
      const busy = (err as { code?: string }).code?.startsWith('SQLITE_BUSY');
      throw new Error(busy
        ? `the database ${this.file} is locked: another gavel process uses this data dir (GAVEL_DATA_DIR)`
        : `cannot initialise the database ${this.file}: ${(err as Error).message}`, { cause: err });
    }
    this.inSavepoint = this.db.transaction((fn: () => void) => fn());
    const db = this.db;
    this.stmt = {
      insertSub: db.prepare(`INSERT INTO submissions (id, language, status, request, created_at, last_seq, callback_url)
        VALUES (@id, @language, 'queued', @request, @createdAt, @seq, @callbackUrl)`),
      insertEvent: db.prepare('INSERT INTO events (submission_id, seq, type, data, at) VALUES (?, ?, ?, ?, ?)'),
      bumpSeq: db.prepare('UPDATE submissions SET last_seq = MAX(last_seq, ?) WHERE id = ?'),
      get: db.prepare(`SELECT ${RECORD_COLUMNS} FROM submissions WHERE id = ?`),
      request: db.prepare('SELECT request FROM submissions WHERE id = ?'),
      setStatus: db.prepare(`UPDATE submissions SET status = ?, started_at = COALESCE(?, started_at),
        last_seq = MAX(last_seq, ?) WHERE id = ? AND status <> 'finished'`),
      events: db.prepare('SELECT seq, type, data, at FROM events WHERE submission_id = ? AND seq > ? ORDER BY seq'),
      finish: db.prepare(`UPDATE submissions SET status = 'finished', result = ?, verdict = ?, finished_at = ?,
        last_seq = MAX(last_seq, ?), callback_state = CASE WHEN callback_url IS NULL THEN NULL ELSE 'pending' END
        WHERE id = ? AND status <> 'finished'`),
      exists: db.prepare('SELECT 1 AS ok FROM submissions WHERE id = ?'),
      unfinished: db.prepare(`SELECT ${RECORD_COLUMNS} FROM submissions WHERE status <> 'finished' ORDER BY created_at, rowid`),
      expired: db.prepare(`SELECT id FROM submissions WHERE finished_at IS NOT NULL AND finished_at < ? LIMIT 200`),
      delete: db.prepare('DELETE FROM submissions WHERE id = ?'),
      pendingCallbacks: db.prepare(`SELECT ${RECORD_COLUMNS} FROM submissions WHERE callback_state = 'pending' ORDER BY finished_at`),
      setCallback: db.prepare('UPDATE submissions SET callback_state = ?, callback_attempts = ? WHERE id = ?'),
      ping: db.prepare('SELECT 1 AS ok'),
      probe: db.prepare('INSERT OR REPLACE INTO write_probe (id, at) VALUES (1, ?)'),
    };
  }

  private migrate(): void {
    const version = this.db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION) {
      throw new Error(`schema version ${version} is newer than this gavel understands (${SCHEMA_VERSION}); upgrade gavel`);
    }
    // The exclusive lock is taken by this first write, so a second process fails right here.
    this.db.transaction(() => {
      if (version < 1) this.db.exec(MIGRATION_1);
      if (version < 2) this.db.exec(MIGRATION_2);
      this.db.pragma(`user_version = ${SCHEMA_VERSION}`);
    }).immediate();
  }

  /** Queues a write for the next group commit; resolves once it is durable. */
  private write(fn: () => void): Promise<void> {
    if (this.closed) return Promise.reject(new Error('store is closed'));
    return new Promise((resolve, reject) => {
      this.pending.push({ fn, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return;
    const failed = new Map<PendingWrite, unknown>();
    try {
      this.db.transaction(() => {
        for (const w of batch) {
          try {
            this.inSavepoint(w.fn);
          } catch (err) {
            failed.set(w, storageFault(err, this.file));
          }
        }
      })();
    } catch (err) {
      const fault = storageFault(err, this.file);
      if (fault instanceof StorageError) this.failing = fault;
      for (const w of batch) w.reject(fault);
      return;
    }
    const fault = [...failed.values()].find((e) => e instanceof StorageError) as StorageError | undefined;
    this.failing = fault;
    for (const w of batch) {
      if (failed.has(w)) w.reject(failed.get(w));
      else w.resolve();
    }
  }

  private addEvents(id: string, events: StoredEvent[]): void {
    let max = 0;
    for (const e of events) {
      this.stmt.insertEvent.run(id, e.seq, e.type, JSON.stringify(e.data ?? null), e.at);
      max = Math.max(max, e.seq);
    }
    if (events.length) this.stmt.bumpSeq.run(max, id);
  }

  insert(sub: NewSubmission, first: StoredEvent): Promise<void> {
    const request = JSON.stringify(sub.request);
    return this.write(() => {
      this.stmt.insertSub.run({
        id: sub.id, language: sub.language, request, createdAt: sub.createdAt,
        seq: first.seq, callbackUrl: sub.callbackUrl ?? null,
      });
      this.addEvents(sub.id, [first]);
    });
  }

  /** Runs a read, its storage faults as StorageError. */
  private read<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      throw storageFault(err, this.file);
    }
  }

  async get(id: string): Promise<SubmissionRecord | undefined> {
    const row = this.read(() => this.stmt.get.get(id)) as SubmissionRow | undefined;
    return row ? toRecord(row) : undefined;
  }

  async request(id: string): Promise<Submission | undefined> {
    const row = this.read(() => this.stmt.request.get(id)) as { request: string } | undefined;
    return row ? (JSON.parse(row.request) as Submission) : undefined;
  }

  setStatus(id: string, status: Exclude<SubmissionStatus, 'finished'>, event: StoredEvent, startedAt?: number): Promise<void> {
    return this.write(() => {
      this.stmt.setStatus.run(status, startedAt ?? null, event.seq, id);
      this.addEvents(id, [event]);
    });
  }

  appendEvents(id: string, events: StoredEvent[]): Promise<void> {
    if (events.length === 0) return Promise.resolve();
    return this.write(() => this.addEvents(id, events));
  }

  async events(id: string, afterSeq: number): Promise<StoredEvent[]> {
    const rows = this.read(() => this.stmt.events.all(id, afterSeq)) as Array<{ seq: number; type: string; data: string; at: number }>;
    return rows.map((r) => ({ seq: r.seq, type: r.type, data: JSON.parse(r.data) as unknown, at: r.at }));
  }

  async finish(id: string, result: Outcome, finishedAt: number, event: StoredEvent): Promise<boolean> {
    const json = JSON.stringify(result);
    let finished = false;
    await this.write(() => {
      const info = this.stmt.finish.run(json, result.verdict, finishedAt, event.seq, id);
      if (info.changes === 0) {
        if (!this.stmt.exists.get(id)) throw new Error(`submission ${id} is not in the store`);
        return;
      }
      this.addEvents(id, [event]);
      finished = true;
    });
    return finished;
  }

  async unfinished(): Promise<SubmissionRecord[]> {
    return (this.read(() => this.stmt.unfinished.all()) as SubmissionRow[]).map(toRecord);
  }

  async purgeFinished(before: number): Promise<number> {
    let total = 0;
    // Small transactions, yielding between them, so a large sweep never stalls requests.
    for (;;) {
      if (this.closed) return total;
      const ids = (this.stmt.expired.all(before) as Array<{ id: string }>).map((r) => r.id);
      if (ids.length === 0) return total;
      this.db.transaction(() => { for (const id of ids) this.stmt.delete.run(id); })();
      total += ids.length;
      await new Promise((r) => setImmediate(r));
    }
  }

  async pendingCallbacks(): Promise<SubmissionRecord[]> {
    return (this.read(() => this.stmt.pendingCallbacks.all()) as SubmissionRow[]).map(toRecord);
  }

  setCallbackState(id: string, state: CallbackState, attempts: number): Promise<void> {
    return this.write(() => { this.stmt.setCallback.run(state, attempts, id); });
  }

  async check(): Promise<void> {
    if (this.closed) throw new Error('store is closed');
    this.read(() => this.stmt.ping.get());
    // While writes fail, readiness tries one itself: it comes back as soon as they work again.
    if (this.failing) await this.write(() => { this.stmt.probe.run(Date.now()); });
  }

  /** The last write's storage fault, while writes fail. */
  get writeFault(): StorageError | undefined {
    return this.failing;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.db.close();
  }
}
