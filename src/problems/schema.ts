// The problems API's shapes as TypeBox schemas: the single source for validation, types and
// the OpenAPI document.
import { Type, type Static } from 'typebox';

export const PROBLEM_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$';

export const ProblemSummary = Type.Object({
  id: Type.String({ pattern: PROBLEM_ID_PATTERN }),
  version: Type.Integer({ minimum: 1, description: 'increases with every replace; never reused' }),
  name: Type.String({ description: 'from problem.yaml (or domjudge-problem.ini)' }),
  format: Type.Union([Type.Literal('legacy'), Type.Literal('2023-07'), Type.Literal('2025-09')], { description: 'the package format version read' }),
  type: Type.Union([Type.Literal('pass-fail'), Type.Literal('scoring')]),
  timeLimitMs: Type.Integer({ description: 'CPU time per test case' }),
  memoryBytes: Type.Integer(),
  outputBytes: Type.Integer(),
  validation: Type.Union([Type.Literal('default'), Type.Literal('custom'), Type.Literal('custom interactive')]),
  tests: Type.Integer({ description: 'test cases, samples included' }),
  samples: Type.Integer(),
  groups: Type.Array(Type.String(), { description: 'test groups: sample, secret, secret/group1, ...' }),
  bytes: Type.Integer({ description: 'the package unpacked' }),
  createdAt: Type.Integer({ description: 'epoch ms of the import' }),
}, { additionalProperties: false });
export type ProblemSummary = Static<typeof ProblemSummary>;
