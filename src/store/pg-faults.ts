// PostgreSQL's own storage faults as the StorageError the SQLite store throws, so the layers
// above (the recorder's retry until stored, the worker's pause, 507/503 for new work) treat
// a full or read-only database in cluster mode as they treat a full or read-only disk.
import { StorageError } from './index.js';

/** SQLSTATE 53100 disk_full: the database server's disk. */
const FULL = '53100';
/**
 * Not full, but the server cannot take writes now: the rest of class 53
 * (insufficient_resources: out of memory, too many connections, a configured limit),
 * 25006 read_only_sql_transaction (a standby, or default_transaction_read_only after a
 * failover) and 58030 io_error.
 */
const UNAVAILABLE = /^(53...|25006|58030)$/;

/** The error as a StorageError when PostgreSQL's storage is at fault; otherwise unchanged. */
export function pgStorageFault(err: unknown): unknown {
  if (err instanceof StorageError) return err;
  const code = (err as { code?: unknown })?.code;
  if (typeof code !== 'string') return err;
  const detail = `${code}: ${(err as Error).message}`;
  if (code === FULL) return new StorageError(`the PostgreSQL server's disk is full (${detail})`, 'full', { cause: err });
  if (UNAVAILABLE.test(code)) return new StorageError(`the PostgreSQL server cannot take writes (${detail})`, 'unavailable', { cause: err });
  return err;
}
