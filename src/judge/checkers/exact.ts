// The exact checker: the output's bytes must equal the answer's.
import { LF } from './bytes.js';
import { compareStreams } from './compare.js';
import { withFiles } from './source.js';
import type { CheckOptions, CheckResult } from './types.js';

export function checkExact(outputPath: string, expectedPath: string, opts: CheckOptions = {}): Promise<CheckResult> {
  return withFiles(outputPath, expectedPath, opts.chunkBytes, (output, expected) =>
    compareStreams(output, expected, { sep: LF, unit: 'line', exact: true }));
}
