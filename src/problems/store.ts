// The two stores problems live in, as small interfaces so another backend (PostgreSQL and
// shared blobs for a cluster) can stand in for the local ones:
// - BlobStore: test data by sha256, each distinct file stored once;
// - ProblemStore: the registry of problems and their versions, where a version becomes
//   visible only by commit, in one step, after all its blobs are stored.
import type { ProblemMeta, ProblemSummary } from './types.js';

export interface BlobStore {
  has(hash: string): Promise<boolean>;
  /**
   * Takes a local file whose sha256 the caller computed while writing it; afterwards the
   * file may be gone (moved) or still there (linked). Idempotent.
   */
  /** `synced`: the caller has already fdatasynced the file's data (only its name is left to make durable). */
  putFile(hash: string, file: string, synced?: boolean): Promise<void>;
  /** A local path of the blob, read-only; for judging (no copy per run). */
  localPath(hash: string): Promise<string>;
  /** Deletes every blob not in `keep`; returns how many went. */
  sweep(keep: Set<string>): Promise<number>;
}

/** One committed version of a problem. */
export interface StoredVersion {
  id: string;
  version: number;
  meta: ProblemMeta;
  /** sha256 of every test file: meta.tests' input/answer paths → hash. */
  blobs: Record<string, string>;
  /** Bytes of the package unpacked. */
  bytes: number;
  /**
   * Cluster mode: every file of the version directory but the test tree (package files and
   * built programs), path under the version directory → blob and mode, so a node that did not
   * import the version can rebuild the directory. Absent on single-node stores.
   */
  files?: Record<string, { hash: string; mode: number }>;
  createdAt: number;
}

/** An import in progress: its id is locked until commit or abort. */
export interface ImportTicket {
  id: string;
  version: number;
}

export class ImportBusyError extends Error {
  constructor(readonly id: string) {
    super(`an import of problem "${id}" is running; retry when it has finished`);
  }
}

export interface ProblemStore {
  /** Locks `id` for an import and reserves its next version; ImportBusyError if one runs. */
  begin(id: string): Promise<ImportTicket>;
  /** Makes the version current in one step; `created` when the problem did not exist before. */
  commit(ticket: ImportTicket, v: Omit<StoredVersion, 'id' | 'version'>): Promise<{ created: boolean }>;
  /** Releases the lock of an import that failed; nothing of it stays. */
  abort(ticket: ImportTicket): Promise<void>;
  /** Whether an import of `id` is running (a delete waits for none: it is refused). */
  importing(id: string): Promise<boolean>;
  current(id: string): Promise<StoredVersion | undefined>;
  version(id: string, version: number): Promise<StoredVersion | undefined>;
  list(): Promise<ProblemSummary[]>;
  /** Removes the problem and all its versions; false when there was none. ImportBusyError while one imports. */
  delete(id: string): Promise<boolean>;
  /** Every blob hash any stored version refers to. */
  referencedBlobs(): Promise<Set<string>>;
  /** Every (id, version) stored, for sweeping files of versions that were never committed. */
  versions(): Promise<Array<{ id: string; version: number }>>;
  /** Whether any import is running on any node (blobs it stored are not referenced yet). */
  anyImporting?(): Promise<boolean>;
  /** Forgets import locks left by a process that died (single-node backends: at start). */
  clearStaleImports(): Promise<void>;
  close(): Promise<void>;
}

export function summarize(v: StoredVersion): ProblemSummary {
  const m = v.meta;
  return {
    id: v.id, version: v.version, name: m.name, format: m.format, type: m.type,
    timeLimitMs: m.timeLimitMs, memoryBytes: m.memoryBytes, outputBytes: m.outputBytes,
    validation: m.validation, tests: m.tests.length,
    samples: m.tests.filter((t) => t.group === 'sample' || t.group.startsWith('sample/')).length,
    groups: m.groups.map((g) => g.name), bytes: v.bytes, createdAt: v.createdAt,
  };
}
