// The judge's input and output, as TypeBox schemas: the single source for validation,
// TypeScript types and the OpenAPI document (the HTTP layer reuses these directly).
import { Type, type Static, type TLiteral, type TUnion } from 'typebox';

/** A union of string literals that keeps its literal types (Static of a mapped array loses them). */
function literals<const T extends readonly string[]>(values: T, options?: { description?: string }) {
  return Type.Union(values.map((v) => Type.Literal(v)) as unknown as { -readonly [K in keyof T]: TLiteral<T[K]> }, options) as TUnion<{ -readonly [K in keyof T]: TLiteral<T[K]> }>;
}

export const Verdict = literals(
  ['AC', 'WA', 'TLE', 'MLE', 'RE', 'OLE', 'CE', 'IE'],
  { description: 'AC accepted, WA wrong answer, TLE time limit, MLE memory limit, RE runtime error, OLE output limit, CE compile error, IE internal (judge) error' },
);
export type Verdict = 'AC' | 'WA' | 'TLE' | 'MLE' | 'RE' | 'OLE' | 'CE' | 'IE';

export const SourceFile = Type.Object({
  path: Type.String({ minLength: 1, maxLength: 255, description: 'relative path inside the work dir' }),
  content: Type.String({ description: 'file content, text or base64 per encoding' }),
  encoding: Type.Optional(Type.Union([Type.Literal('utf8'), Type.Literal('base64')])),
  entry: Type.Optional(Type.Boolean({ description: 'the file the language compiles or runs' })),
}, { additionalProperties: false });
export type SourceFile = Static<typeof SourceFile>;

export const Limits = Type.Object({
  timeMs: Type.Optional(Type.Integer({ minimum: 1 })),
  wallTimeMs: Type.Optional(Type.Integer({ minimum: 1 })),
  memoryBytes: Type.Optional(Type.Integer({ minimum: 1048576 })),
  outputBytes: Type.Optional(Type.Integer({ minimum: 1 })),
  processes: Type.Optional(Type.Integer({ minimum: 1 })),
}, { additionalProperties: false });
export type Limits = Static<typeof Limits>;

export const TestCase = Type.Object({
  id: Type.Optional(Type.String({ maxLength: 128 })),
  input: Type.String(),
  expected: Type.String(),
  group: Type.Optional(Type.String({ maxLength: 128 })),
  points: Type.Optional(Type.Number({ minimum: 0 })),
}, { additionalProperties: false });
export type TestCase = Static<typeof TestCase>;

export const CheckerKind = literals(['exact', 'lines', 'tokens', 'float', 'program']);

export const Checker = Type.Object({
  kind: CheckerKind,
  absError: Type.Optional(Type.Number({ minimum: 0 })),
  relError: Type.Optional(Type.Number({ minimum: 0 })),
  language: Type.Optional(Type.String()),
  source: Type.Optional(Type.String()),
  files: Type.Optional(Type.Array(SourceFile, { maxItems: 64 })),
}, { additionalProperties: false });
export type Checker = Static<typeof Checker>;

export const Program = Type.Object({
  language: Type.String({ minLength: 1, maxLength: 32 }),
  source: Type.Optional(Type.String()),
  files: Type.Optional(Type.Array(SourceFile, { maxItems: 64 })),
}, { additionalProperties: false });
export type Program = Static<typeof Program>;

export const Submission = Type.Object({
  language: Type.String({ minLength: 1, maxLength: 32 }),
  source: Type.Optional(Type.String()),
  files: Type.Optional(Type.Array(SourceFile, { maxItems: 64 })),
  tests: Type.Optional(Type.Array(TestCase, { minItems: 1, description: 'the tests, inline; give these or "problem"' })),
  problem: Type.Optional(Type.String({
    pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$',
    description: 'an imported problem (PUT /v1/problems/{id}): judge against its tests and validators instead of inline tests',
  })),
  problemVersion: Type.Optional(Type.Integer({
    minimum: 1, description: 'with "problem": the version to judge against; default the current one, fixed when the submission is accepted',
  })),
  limits: Type.Optional(Limits),
  checker: Type.Optional(Checker),
  interactor: Type.Optional(Program),
  stopOnFirstFailure: Type.Optional(Type.Boolean()),
  callbackUrl: Type.Optional(Type.String({ format: 'uri', maxLength: 2048 })),
}, { additionalProperties: false });
export type Submission = Static<typeof Submission>;

export const TestResult = Type.Object({
  id: Type.String(),
  verdict: Verdict,
  timeMs: Type.Number({ description: 'CPU time' }),
  wallTimeMs: Type.Number(),
  memoryBytes: Type.Number({ description: 'peak memory' }),
  exitCode: Type.Union([Type.Integer(), Type.Null()]),
  signal: Type.Union([Type.Integer(), Type.Null()]),
  limit: Type.Optional(Type.Union([Type.Literal('cpu'), Type.Literal('wall')])),
  group: Type.Optional(Type.String()),
  stdout: Type.Optional(Type.String({ description: 'capped preview' })),
  stderr: Type.Optional(Type.String({ description: 'capped preview' })),
  checkerMessage: Type.Optional(Type.String()),
  score: Type.Optional(Type.Number({ description: 'problems: the score the output validator gave this case (score.txt)' })),
});
export type TestResult = Static<typeof TestResult>;

export const CompileResult = Type.Object({
  ok: Type.Boolean(),
  output: Type.String({ description: 'compiler messages, capped' }),
  timeMs: Type.Number(),
  cached: Type.Optional(Type.Boolean({ description: 'the build was reused from the compile cache (same language, compiler and sources)' })),
});
export type CompileResult = Static<typeof CompileResult>;

export const JudgeResult = Type.Object({
  verdict: Verdict,
  score: Type.Optional(Type.Number()),
  maxScore: Type.Optional(Type.Number()),
  timeMs: Type.Number({ description: 'max CPU time over tests' }),
  memoryBytes: Type.Number({ description: 'max peak memory over tests' }),
  compile: Type.Optional(CompileResult),
  tests: Type.Array(TestResult),
  error: Type.Optional(Type.String({ description: 'for IE: what went wrong' })),
  problem: Type.Optional(Type.Object({ id: Type.String(), version: Type.Integer() }, { description: 'submissions to an imported problem: the problem version judged against' })),
});
export type JudgeResult = Static<typeof JudgeResult>;

/** Everything the judge reports while it works; the HTTP layer streams these as SSE. */
export type JudgeEvent =
  | { type: 'status'; status: 'compiling' | 'running' }
  | { type: 'compile'; result: CompileResult }
  | { type: 'test-start'; id: string; index: number }
  | { type: 'telemetry'; id: string; elapsedMs: number; cpuTimeMs: number; memoryBytes: number; processes: number }
  | { type: 'test'; index: number; result: TestResult }
  | { type: 'verdict'; result: JudgeResult };

/** POST /v1/run: one low-level synchronous run, for platforms with their own judging. */
export const RunRequest = Type.Object({
  cmd: Type.Optional(Type.Array(Type.String({ maxLength: 4096 }), { minItems: 1, maxItems: 256 })),
  language: Type.Optional(Type.String({ minLength: 1, maxLength: 32 })),
  source: Type.Optional(Type.String()),
  stdin: Type.Optional(Type.String()),
  files: Type.Optional(Type.Record(Type.String({ minLength: 1, maxLength: 255 }), Type.String(), { maxProperties: 64 })),
  limits: Type.Optional(Limits),
}, { additionalProperties: false });
export type RunRequest = Static<typeof RunRequest>;

export const RunResponse = Type.Object({
  status: literals(['OK', 'TLE', 'MLE', 'OLE', 'RE', 'SE', 'CE']),
  limit: Type.Optional(Type.Union([Type.Literal('cpu'), Type.Literal('wall')])),
  exitCode: Type.Union([Type.Integer(), Type.Null()]),
  signal: Type.Union([Type.Integer(), Type.Null()]),
  cpuTimeMs: Type.Number(),
  wallTimeMs: Type.Number(),
  memoryBytes: Type.Number(),
  stdout: Type.String({ description: 'capped' }),
  stderr: Type.String({ description: 'capped' }),
  error: Type.Optional(Type.String()),
  compile: Type.Optional(CompileResult),
});
export type RunResponse = Static<typeof RunResponse>;

export interface LanguageInfo {
  id: string;
  name: string;
  version: string;
  /** File extensions (no dot) that map to this language. */
  extensions: string[];
  /** Entry file name in /box; {class} is the stem the entry point requires. */
  source: string;
  /** Command templates: {class}, {main} (entry class) and {heapMb} (memory limit, MiB). */
  compile?: string[];
  run: string[];
}

/**
 * The judge as the service and the CLI see it: what it offers, what it accepts, judging a
 * submission, and one-off runs. createJudge() in ./index.ts builds the sandbox-backed one.
 */
export interface Judge {
  languages(): LanguageInfo[];
  /** Caps the server enforces on client-supplied limits (400 when exceeded). */
  readonly caps: Required<Limits>;
  /** Throws InputError (./checks.ts) naming the field when the judge cannot take `sub`. */
  validate(sub: Submission): void;
  /** The same for a /v1/run request. */
  validateRun(req: RunRequest): void;
  /** Judges a whole submission; never throws for a fault in the submission itself. */
  judge(sub: Submission, onEvent: (e: JudgeEvent) => void, signal?: AbortSignal): Promise<JudgeResult>;
  /** Runs one program once (POST /v1/run) in a free sandbox slot; the caller holds the slot. */
  execute(req: RunRequest, signal?: AbortSignal): Promise<RunResponse>;
  pool(): { size: number; busy: number };
  /** One line on the sandbox: cgroup version, controllers and features found. */
  describe?(): string;
  close(): Promise<void>;
}
