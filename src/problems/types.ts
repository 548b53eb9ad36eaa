// What the service keeps of one imported problem version: everything judging needs, as
// plain JSON (the registry stores it as is). Test data is named by sha256, not by path.

export type PackageFormat = 'legacy' | '2023-07' | '2025-09';

/** Flags of the default output validator (the spec's names, parsed). */
export interface DefaultValidatorFlags {
  caseSensitive: boolean;
  spaceChangeSensitive: boolean;
  absoluteTolerance?: number;
  relativeTolerance?: number;
}

export interface ProblemTest {
  /** Path under data/ without ".in": "sample/1", "secret/group1/03-random". */
  name: string;
  /** The directory it is in, under data/: "sample", "secret", "secret/group1". */
  group: string;
  input: string;
  answer: string;
  inputBytes: number;
  answerBytes: number;
}

export interface TestGroupInfo {
  /** "sample", "secret", "secret/group1"… */
  name: string;
  /** Arguments for the output validator in this group (problem-wide ones first). */
  validatorArgs: string[];
  /** Scoring problems: what the group is worth, when it is worth anything. */
  maxScore?: number;
  /** How case scores combine: "sum" (default), "min", or "pass-fail" (all or nothing). */
  aggregation: 'sum' | 'min' | 'pass-fail';
  /** Score of an accepted case when the validator gives none (legacy accept_score, default 1). */
  acceptScore: number;
  /** Stop the group at its first rejected case (legacy on_reject: break). */
  stopOnReject: boolean;
}

/** A program shipped in the package (validator, interactor): one source file or a directory. */
export interface PackageProgram {
  /** Package path of the file or directory. */
  path: string;
  kind: 'file' | 'dir';
}

export interface ValidationLimits {
  timeMs: number;
  memoryBytes: number;
  outputBytes: number;
}

export interface ProblemSubmission {
  category: string;
  /** Package path of the source file or directory. */
  path: string;
  /** Verdicts the submission may end with (from the category or @EXPECTED_RESULTS@). */
  expected: string[];
}

export interface ProblemMeta {
  name: string;
  format: PackageFormat;
  type: 'pass-fail' | 'scoring';
  interactive: boolean;
  validation: 'default' | 'custom' | 'custom interactive';
  timeLimitMs: number;
  /** Where the time limit came from. */
  timeLimitFrom: 'problem.yaml' | '.timelimit' | 'domjudge-problem.ini' | 'request' | 'accepted submissions';
  memoryBytes: number;
  outputBytes: number;
  validationLimits: ValidationLimits;
  /** Default validator flags per group are parsed from group args at judge time. */
  validators: PackageProgram[];
  /** include/<language>/ directories by language id. */
  includes: Record<string, string>;
  tests: ProblemTest[];
  groups: TestGroupInfo[];
  submissions: ProblemSubmission[];
}

export type { ProblemSummary } from './schema.js';
