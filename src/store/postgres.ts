// PostgreSQL store (node-postgres), the durable state of a cluster. Choices:
// - Every write is one statement (CTEs join the submission update and the event insert), so it
//   is atomic without an explicit transaction and costs one round trip; PostgreSQL's own group
//   commit batches the fsyncs of concurrent writers.
// - Writes of a judging attempt are fenced: each submission row carries `attempt`, bumped by
//   claim(). A write made for an older attempt (a worker that lost its queue lock but kept
//   going) matches no row and is refused, so however often a submission is started, exactly one
//   attempt stores the outcome and its `verdict` event. The row lock the UPDATE takes orders a
//   fenced write against a concurrent claim.
// - Migrations run at start under a transaction-scoped advisory lock, so nodes starting at once
//   apply them once, in order.
// - Errors that mean "the database is not reachable now" become StoreUnavailableError (503);
//   anything else is a bug and stays what it is.
import pg from 'pg';
import type { Submission } from '../judge/schema.js';
import type {
  CallbackState, NewSubmission, Outcome, Store, StoredEvent, SubmissionRecord, SubmissionStatus,
} from './index.js';
import { StoreUnavailableError } from './unavailable.js';
import { pgStorageFault } from './pg-faults.js';
import { RECORD_COLUMNS, toRecord, type SubmissionRow } from './rows.js';

/** Key of the advisory lock migrations run under ("gavl"). */
const MIGRATION_LOCK = 0x6761766c;

const MIGRATIONS: string[] = [
  `CREATE TABLE submissions (
    id text PRIMARY KEY,
    ord bigserial NOT NULL,
    language text NOT NULL,
    status text NOT NULL,
    request text NOT NULL,
    result text,
    verdict text,
    created_at bigint NOT NULL,
    started_at bigint,
    finished_at bigint,
    last_seq integer NOT NULL DEFAULT 0,
    attempt integer NOT NULL DEFAULT 0,
    cancel_requested boolean NOT NULL DEFAULT false,
    callback_url text,
    callback_state text,
    callback_attempts integer NOT NULL DEFAULT 0,
    callback_lease_until bigint
  );
  CREATE INDEX submissions_unfinished ON submissions (created_at, ord) WHERE status <> 'finished';
  CREATE INDEX submissions_by_finish ON submissions (finished_at) WHERE finished_at IS NOT NULL;
  CREATE INDEX submissions_callbacks ON submissions (finished_at) WHERE callback_state = 'pending';
  CREATE TABLE events (
    submission_id text NOT NULL REFERENCES submissions (id) ON DELETE CASCADE,
    seq integer NOT NULL,
    type text NOT NULL,
    data text NOT NULL,
    at bigint NOT NULL,
    PRIMARY KEY (submission_id, seq)
  );`,
  // 2: the problem registry (src/problems/postgres.ts) and content-addressed test data in
  // 1 MiB chunks (src/problems/pg-blobs.ts).
  `CREATE TABLE problem_seq (id text PRIMARY KEY, last integer NOT NULL);
  CREATE TABLE problems (id text PRIMARY KEY, current integer NOT NULL);
  CREATE TABLE problem_versions (
    id text NOT NULL, version integer NOT NULL, meta text NOT NULL, blobs text NOT NULL,
    bytes bigint NOT NULL, created_at bigint NOT NULL, PRIMARY KEY (id, version));
  CREATE TABLE problem_imports (id text PRIMARY KEY, version integer NOT NULL, started_at bigint NOT NULL);
  CREATE TABLE blobs (hash text PRIMARY KEY, size bigint NOT NULL, complete boolean NOT NULL DEFAULT false);
  CREATE TABLE blob_chunks (hash text NOT NULL REFERENCES blobs (hash) ON DELETE CASCADE, n integer NOT NULL,
    data bytea NOT NULL, PRIMARY KEY (hash, n));`,
  // 3: the manifest of a version's files besides test data (src/problems/replica.ts).
  'ALTER TABLE problem_versions ADD COLUMN manifest text;',
];


/** What a worker gets when it takes a submission on: the attempt its writes are fenced by. */
export interface Claim {
  attempt: number;
  /** Events stored so far; this attempt's events continue after it. */
  lastSeq: number;
  /** Status before the claim: anything but 'queued' means an earlier attempt was cut short. */
  previousStatus: Exclude<SubmissionStatus, 'finished'>;
  cancelRequested: boolean;
  record: SubmissionRecord;
}

/** Columns of one fenced write: events to add and, optionally, a status change. */
interface Change {
  status?: Exclude<SubmissionStatus, 'finished'>;
  startedAt?: number;
  events: StoredEvent[];
}

interface LaneOp {
  ch?: Change;
  fn?: () => Promise<unknown>;
  resolve(v: unknown): void;
  reject(err: unknown): void;
}

/** SQLSTATE classes that mean the server is unreachable, restarting or out of resources. */
const UNAVAILABLE_SQLSTATE = /^(08|53|57)/;

export function isUnavailable(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return UNAVAILABLE_SQLSTATE.test(code);
  // No SQLSTATE: a socket error, a timeout or a dropped connection inside node-postgres.
  return err instanceof Error;
}

/** Runs `fn` in one transaction on one pooled connection: committed, or rolled back if it throws. */
export async function inTransaction<T>(pool: pg.Pool, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  const c = await pool.connect();
  try {
    await c.query('BEGIN');
    const out = await fn(c);
    await c.query('COMMIT');
    return out;
  } catch (err) {
    await c.query('ROLLBACK').catch(() => undefined);
    throw pgStorageFault(err);
  } finally {
    c.release();
  }
}

export interface PostgresStoreOptions {
  url: string;
  /** Connections in the pool. */
  max?: number;
  /** How long a request waits for a connection or a query before giving up (503). */
  timeoutMs?: number;
  onError?: (err: Error) => void;
  /** How long a node may take to deliver a callback before another node retries it. */
  callbackLeaseMs?: number;
}

export class PostgresStore implements Store {
  readonly pool: pg.Pool;
  private closed = false;
  /** Submission id → the attempt this node's writes for it belong to. */
  private readonly fences = new Map<string, number>();
  /** Told when a write of `attempt` was refused because a newer attempt claimed the submission. */
  onFenced?: (id: string, attempt: number) => void;
  private readonly callbackLeaseMs: number;
  /** Per submission: its writes waiting to go out, in order. */
  private readonly lanes = new Map<string, LaneOp[]>();

  private constructor(opts: PostgresStoreOptions) {
    const timeout = opts.timeoutMs ?? 5000;
    this.callbackLeaseMs = opts.callbackLeaseMs ?? 15 * 60_000;
    this.pool = new pg.Pool({
      connectionString: opts.url, max: opts.max ?? 16,
      connectionTimeoutMillis: timeout, query_timeout: timeout, idleTimeoutMillis: 30_000,
      application_name: 'gavel',
    });
    // An idle client whose server went away emits here; without a listener it would crash Node.
    this.pool.on('error', (err) => opts.onError?.(err));
  }

  /** Connects, migrates the schema (once across nodes starting together), and returns the store. */
  static async open(opts: PostgresStoreOptions): Promise<PostgresStore> {
    const store = new PostgresStore(opts);
    try {
      await store.migrate();
    } catch (err) {
      await store.pool.end().catch(() => undefined);
      const where = opts.url.replace(/\/\/[^@/]*@/, '//…@');
      throw new Error(`cannot open the PostgreSQL store at ${where} (GAVEL_DATABASE_URL): ${(err as Error).message}`, { cause: err });
    }
    return store;
  }

  private migrate(): Promise<void> {
    return inTransaction(this.pool, async (c) => {
      await c.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      await c.query('CREATE TABLE IF NOT EXISTS gavel_schema (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())');
      const { rows } = await c.query<{ v: number | null }>('SELECT max(version) AS v FROM gavel_schema');
      const current = rows[0].v ?? 0;
      if (current > MIGRATIONS.length) {
        throw new Error(`schema version ${current} is newer than this gavel understands (${MIGRATIONS.length}); upgrade gavel`);
      }
      for (let v = current + 1; v <= MIGRATIONS.length; v++) {
        await c.query(MIGRATIONS[v - 1]);
        await c.query('INSERT INTO gavel_schema (version) VALUES ($1)', [v]);
      }
    });
  }

  /** Runs a query, turning storage faults into StorageError and "cannot reach the database" into StoreUnavailableError. */
  async query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<pg.QueryResult<R>> {
    if (this.closed) throw new StoreUnavailableError('database', 'the store is closed');
    try {
      return await this.pool.query<R>(text, values);
    } catch (err) {
      // A full or read-only database first: those are retried until stored, like a full disk.
      const fault = pgStorageFault(err);
      if (fault !== err) throw fault;
      if (isUnavailable(err)) throw new StoreUnavailableError('database', (err as Error).message, err);
      throw err;
    }
  }

  async insert(sub: NewSubmission, first: StoredEvent): Promise<void> {
    await this.query(`WITH s AS (
        INSERT INTO submissions (id, language, status, request, created_at, last_seq, callback_url)
        VALUES ($1, $2, 'queued', $3, $4, $5, $6) RETURNING id)
      INSERT INTO events (submission_id, seq, type, data, at) SELECT s.id, $5, $7, $8, $9 FROM s`,
    [sub.id, sub.language, JSON.stringify(sub.request), sub.createdAt, first.seq, sub.callbackUrl ?? null,
      first.type, JSON.stringify(first.data ?? null), first.at]);
  }

  async get(id: string): Promise<SubmissionRecord | undefined> {
    const { rows } = await this.query<SubmissionRow>(`SELECT ${RECORD_COLUMNS} FROM submissions WHERE id = $1`, [id]);
    return rows[0] ? toRecord(rows[0]) : undefined;
  }

  async request(id: string): Promise<Submission | undefined> {
    const { rows } = await this.query<{ request: string }>('SELECT request FROM submissions WHERE id = $1', [id]);
    return rows[0] ? (JSON.parse(rows[0].request) as Submission) : undefined;
  }

  async events(id: string, afterSeq: number): Promise<StoredEvent[]> {
    const { rows } = await this.query<{ seq: number; type: string; data: string; at: string }>(
      'SELECT seq, type, data, at FROM events WHERE submission_id = $1 AND seq > $2 ORDER BY seq', [id, afterSeq]);
    return rows.map((r) => ({ seq: r.seq, type: r.type, data: JSON.parse(r.data) as unknown, at: Number(r.at) }));
  }

  /**
   * Adds events (and a status change) unless the submission has finished or, when `attempt` is
   * given, a newer attempt has claimed it. Returns whether it was written.
   */
  async change(id: string, attempt: number | undefined, ch: Change): Promise<boolean> {
    const maxSeq = ch.events.reduce((m, e) => Math.max(m, e.seq), 0);
    const { rows } = await this.query<{ id: string }>(`WITH s AS (
        UPDATE submissions SET status = COALESCE($3, status), started_at = COALESCE($4, started_at),
          last_seq = GREATEST(last_seq, $5)
        WHERE id = $1 AND status <> 'finished' AND ($2::integer IS NULL OR attempt = $2) RETURNING id),
      e AS (INSERT INTO events (submission_id, seq, type, data, at)
        SELECT s.id, e.seq, e.type, e.data, e.at FROM s, unnest($6::integer[], $7::text[], $8::text[], $9::bigint[]) AS e(seq, type, data, at))
      SELECT id FROM s`,
    [id, attempt ?? null, ch.status ?? null, ch.startedAt ?? null, maxSeq,
      ch.events.map((e) => e.seq), ch.events.map((e) => e.type), ch.events.map((e) => JSON.stringify(e.data ?? null)),
      ch.events.map((e) => e.at)]);
    return rows.length > 0;
  }

  /**
   * From now on this node's writes for `id` are those of `attempt` (the worker judging it here):
   * refused once another attempt claims the submission. Set by the queue consumer.
   */
  fence(id: string, attempt: number): void {
    this.fences.set(id, attempt);
  }

  unfence(id: string, attempt: number): void {
    if (this.fences.get(id) === attempt) this.fences.delete(id);
  }

  private async fencedChange(id: string, ch: Change): Promise<void> {
    const attempt = this.fences.get(id);
    if (await this.change(id, attempt, ch)) return;
    if (attempt !== undefined) this.onFenced?.(id, attempt);
    throw new Error(`submission ${id} has finished${attempt !== undefined ? ` or attempt ${attempt} was superseded` : ''}; event not stored`);
  }

  setStatus(id: string, status: Exclude<SubmissionStatus, 'finished'>, event: StoredEvent, startedAt?: number): Promise<void> {
    return this.submit(id, { status, startedAt, events: [event] });
  }

  async appendEvents(id: string, events: StoredEvent[]): Promise<void> {
    if (events.length) await this.submit(id, { events });
  }

  /**
   * Writes of one submission go out one at a time, in the order they were made (the pool would
   * otherwise commit them out of order); changes queued behind a write in flight are merged into
   * one statement, so a burst of events costs one round trip.
   */
  private submit(id: string, op: Change | (() => Promise<unknown>)): Promise<any> {
    return new Promise((resolve, reject) => {
      const lane = this.lanes.get(id);
      const entry: LaneOp = typeof op === 'function' ? { fn: op, resolve, reject } : { ch: op, resolve, reject };
      if (lane) {
        lane.push(entry);
        return;
      }
      const fresh = [entry];
      this.lanes.set(id, fresh);
      void this.drainLane(id, fresh);
    });
  }

  private async drainLane(id: string, lane: LaneOp[]): Promise<void> {
    while (lane.length) {
      const head = lane[0];
      if (head.fn) {
        lane.shift();
        try { head.resolve(await head.fn()); } catch (err) { head.reject(err); }
        continue;
      }
      const batch: LaneOp[] = [];
      while (lane.length && !lane[0].fn) batch.push(lane.shift()!);
      const merged: Change = { events: [] };
      for (const b of batch) {
        if (b.ch!.status !== undefined) merged.status = b.ch!.status;
        merged.startedAt ??= b.ch!.startedAt;
        merged.events.push(...b.ch!.events);
      }
      try {
        await this.fencedChange(id, merged);
        for (const b of batch) b.resolve(undefined);
      } catch (err) {
        for (const b of batch) b.reject(err);
      }
    }
    this.lanes.delete(id);
  }

  /**
   * Stores the outcome and the final event in one statement, unless the submission already
   * finished or (with `attempt`) belongs to a newer attempt. Returns whether this call finished it.
   */
  async finishAttempt(id: string, attempt: number | undefined, result: Outcome, finishedAt: number, event: StoredEvent): Promise<boolean> {
    const { rows } = await this.query<{ id: string }>(`WITH s AS (
        UPDATE submissions SET status = 'finished', result = $3, verdict = $4, finished_at = $5,
          last_seq = GREATEST(last_seq, $6),
          callback_state = CASE WHEN callback_url IS NULL THEN NULL ELSE 'pending' END, callback_lease_until = $10
        WHERE id = $1 AND status <> 'finished' AND ($2::integer IS NULL OR attempt = $2) RETURNING id),
      e AS (INSERT INTO events (submission_id, seq, type, data, at) SELECT s.id, $6, $7, $8, $9 FROM s)
      SELECT id FROM s`,
    [id, attempt ?? null, JSON.stringify(result), result.verdict, finishedAt, event.seq, event.type,
      JSON.stringify(event.data ?? null), event.at, Date.now() + this.callbackLeaseMs]);
    return rows.length > 0;
  }

  finish(id: string, result: Outcome, finishedAt: number, event: StoredEvent): Promise<boolean> {
    return this.submit(id, () => this.finishFenced(id, result, finishedAt, event));
  }

  private async finishFenced(id: string, result: Outcome, finishedAt: number, event: StoredEvent): Promise<boolean> {
    const attempt = this.fences.get(id);
    if (await this.finishAttempt(id, attempt, result, finishedAt, event)) return true;
    const { rows } = await this.query<{ status: string }>('SELECT status FROM submissions WHERE id = $1', [id]);
    if (!rows[0]) throw new Error(`submission ${id} is not in the store`);
    if (rows[0].status !== 'finished' && attempt !== undefined) this.onFenced?.(id, attempt);
    return false;
  }

  /**
   * Finishes a submission that no worker has started, with the event numbered after the last
   * stored one. `event` gets the seq and time of the row it ended; undefined when it was not
   * queued (a worker has it, or it finished).
   */
  async finishQueued(id: string, result: Outcome, finishedAt: number, type: string, data: unknown): Promise<StoredEvent | undefined> {
    const { rows } = await this.query<{ seq: number }>(`WITH s AS (
        UPDATE submissions SET status = 'finished', result = $2, verdict = $3, finished_at = $4, last_seq = last_seq + 1,
          callback_state = CASE WHEN callback_url IS NULL THEN NULL ELSE 'pending' END, callback_lease_until = $7
        WHERE id = $1 AND status = 'queued' RETURNING id, last_seq),
      e AS (INSERT INTO events (submission_id, seq, type, data, at) SELECT s.id, s.last_seq, $5, $6, $4 FROM s)
      SELECT last_seq AS seq FROM s`,
    [id, JSON.stringify(result), result.verdict, finishedAt, type, JSON.stringify(data ?? null), Date.now() + this.callbackLeaseMs]);
    return rows[0] ? { seq: rows[0].seq, type, data, at: finishedAt } : undefined;
  }

  /** Takes a submission on for a new judging attempt; undefined when it has finished (or is gone). */
  async claim(id: string): Promise<Claim | undefined> {
    // The claim changes only `attempt`, so the status it returns is the one before the claim.
    const { rows } = await this.query<SubmissionRow & { attempt: number; cancel_requested: boolean }>(
      `UPDATE submissions SET attempt = attempt + 1 WHERE id = $1 AND status <> 'finished'
       RETURNING ${RECORD_COLUMNS}, attempt, cancel_requested`, [id]);
    const r = rows[0];
    if (!r) return undefined;
    return {
      attempt: r.attempt, lastSeq: r.last_seq, previousStatus: r.status as Claim['previousStatus'],
      cancelRequested: r.cancel_requested, record: toRecord(r),
    };
  }

  /** Marks an unfinished submission for cancellation (seen by whichever attempt runs next); false when finished. */
  async requestCancel(id: string): Promise<boolean> {
    const { rowCount } = await this.query("UPDATE submissions SET cancel_requested = true WHERE id = $1 AND status <> 'finished'", [id]);
    return (rowCount ?? 0) > 0;
  }

  async cancelRequested(id: string): Promise<boolean> {
    const { rows } = await this.query<{ c: boolean }>('SELECT cancel_requested AS c FROM submissions WHERE id = $1', [id]);
    return rows[0]?.c === true;
  }

  async unfinished(): Promise<SubmissionRecord[]> {
    const { rows } = await this.query<SubmissionRow>(`SELECT ${RECORD_COLUMNS} FROM submissions WHERE status <> 'finished' ORDER BY created_at, ord`);
    return rows.map(toRecord);
  }

  /** Ids of unfinished submissions accepted before `before` (epoch ms), oldest first. */
  async unfinishedIds(before: number, limit = 10_000): Promise<string[]> {
    const { rows } = await this.query<{ id: string }>(
      "SELECT id FROM submissions WHERE status <> 'finished' AND created_at < $1 ORDER BY created_at, ord LIMIT $2", [before, limit]);
    return rows.map((r) => r.id);
  }

  async countUnfinished(): Promise<number> {
    const { rows } = await this.query<{ n: string }>("SELECT count(*) AS n FROM submissions WHERE status <> 'finished'");
    return Number(rows[0].n);
  }

  async purgeFinished(before: number): Promise<number> {
    let total = 0;
    for (;;) {
      if (this.closed) return total;
      const { rowCount } = await this.query(`DELETE FROM submissions WHERE id IN (
        SELECT id FROM submissions WHERE finished_at IS NOT NULL AND finished_at < $1 LIMIT 500)`, [before]);
      if (!rowCount) return total;
      total += rowCount;
    }
  }

  /**
   * Finished submissions whose callback is pending and not being delivered by another node:
   * each is leased to this node (the finishing node holds the lease from the start), so one
   * node sends it; when that node dies the lease runs out and another node's sweep takes over.
   */
  async pendingCallbacks(): Promise<SubmissionRecord[]> {
    const now = Date.now();
    const { rows } = await this.query<SubmissionRow>(`UPDATE submissions SET callback_lease_until = $2 WHERE id IN (
        SELECT id FROM submissions WHERE callback_state = 'pending' AND COALESCE(callback_lease_until, 0) < $1
        ORDER BY finished_at LIMIT 500 FOR UPDATE SKIP LOCKED)
      RETURNING ${RECORD_COLUMNS}`, [now, now + this.callbackLeaseMs]);
    return rows.map(toRecord).sort((a, b) => (a.finishedAt ?? 0) - (b.finishedAt ?? 0));
  }

  async setCallbackState(id: string, state: CallbackState, attempts: number): Promise<void> {
    // Each attempt renews the lease: a delivery still retrying is not taken over.
    await this.query('UPDATE submissions SET callback_state = $2, callback_attempts = $3, callback_lease_until = $4 WHERE id = $1',
      [id, state, attempts, Date.now() + this.callbackLeaseMs]);
  }

  async check(): Promise<void> {
    await this.query('SELECT 1');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }
}
