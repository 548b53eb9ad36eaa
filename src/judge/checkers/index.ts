// The built-in output checkers. Each streams both files side by side in fixed-size chunks
// (64 KiB), so memory stays bounded however large the program's output is:
//   exact   bytes equal
//   lines   equal line by line, ignoring spaces/tabs/\r at line ends and blank lines at the end
//   tokens  equal whitespace-separated tokens (space \t \n \v \f \r), case-sensitive
//   float   tokens, numbers within absError or relError (default 1e-6 each); see number.ts
// exact, lines and tokens hold no line or token whole, so they have no length limit; float
// holds one token per side and caps it at 16 MiB (see float.ts for what happens beyond).
// A file that cannot be opened is an error (thrown), not a wrong answer.
import { checkExact } from './exact.js';
import { checkFloat } from './float.js';
import { checkLines } from './lines.js';
import { checkTokens } from './tokens.js';
import type { BuiltinChecker, CheckOptions, CheckResult } from './types.js';

export type { BuiltinChecker, CheckOptions, CheckResult } from './types.js';
export { DEFAULT_ABS_ERROR, DEFAULT_REL_ERROR } from './float.js';
export { MAX_TOKEN_BYTES } from './tokenizer.js';

export async function checkFiles(checker: BuiltinChecker, outputPath: string, expectedPath: string, opts: CheckOptions = {}): Promise<CheckResult> {
  switch (checker.kind) {
    case 'exact': return checkExact(outputPath, expectedPath, opts);
    case 'lines': return checkLines(outputPath, expectedPath, opts);
    case 'tokens': return checkTokens(outputPath, expectedPath, opts);
    case 'float': return checkFloat(outputPath, expectedPath, { ...opts, absError: checker.absError, relError: checker.relError });
    default: {
      const unknown: never = checker;
      throw new Error(`unknown built-in checker ${JSON.stringify(unknown)}`);
    }
  }
}
