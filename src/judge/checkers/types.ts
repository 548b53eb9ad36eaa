// The checker contract shared by the built-in checkers and the judge pipeline.

export interface CheckResult {
  ok: boolean;
  /** Why the output was rejected (first difference), for the submitter. */
  message?: string;
}

export type BuiltinChecker =
  /** Byte-for-byte equality. */
  | { kind: 'exact' }
  /** Equal line by line, ignoring spaces, tabs and \r at line ends and blank lines at the end. */
  | { kind: 'lines' }
  /** Equal sequences of whitespace-separated tokens (case-sensitive). */
  | { kind: 'tokens' }
  /** Tokens, with numbers compared within an absolute or relative tolerance (default 1e-6 each). */
  | { kind: 'float'; absError?: number; relError?: number };

export interface CheckOptions {
  /** Read size per file; tests shrink it to exercise chunk boundaries. Default 64 KiB. */
  chunkBytes?: number;
}
