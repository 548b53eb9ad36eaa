// The submissions row as the SQL stores read it, and how it becomes a SubmissionRecord. Shared by
// the SQLite and PostgreSQL stores (PostgreSQL hands bigint columns back as strings).
import type { CallbackState, Outcome, SubmissionRecord, SubmissionStatus } from './index.js';

type Int = number | string;

export interface SubmissionRow {
  id: string; language: string; status: SubmissionStatus; result: string | null;
  created_at: Int; started_at: Int | null; finished_at: Int | null; last_seq: number;
  callback_url: string | null; callback_state: CallbackState | null; callback_attempts: number;
}

export const RECORD_COLUMNS = 'id, language, status, result, created_at, started_at, finished_at, last_seq, callback_url, callback_state, callback_attempts';

export function toRecord(r: SubmissionRow): SubmissionRecord {
  const rec: SubmissionRecord = {
    id: r.id, language: r.language, status: r.status, createdAt: Number(r.created_at),
    lastSeq: r.last_seq, callbackAttempts: r.callback_attempts,
  };
  if (r.started_at !== null) rec.startedAt = Number(r.started_at);
  if (r.finished_at !== null) rec.finishedAt = Number(r.finished_at);
  if (r.result !== null) rec.result = JSON.parse(r.result) as Outcome;
  if (r.callback_url !== null) rec.callbackUrl = r.callback_url;
  if (r.callback_state !== null) rec.callbackState = r.callback_state;
  return rec;
}
