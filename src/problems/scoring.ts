// Scores of a scoring problem from its per-case results. Every directory of secret/ that
// holds cases is a scored group (samples score nothing):
// - worth `max_score` (test_group.yaml) when given, else the legacy accept_score per case
//   (summed, or once for `min`);
// - an accepted case scores what the validator wrote to score.txt, else its share of the
//   group's worth; a rejected or skipped case scores 0;
// - `sum` adds the case scores, `min` takes the least, `pass-fail` gives the whole worth
//   only when every case is accepted; the group never scores above its worth. A group
//   with max_score and no aggregation is `min`: a subtask, all or nothing.
import type { TestGroupInfo } from './types.js';

export interface CaseOutcome {
  group: string;
  verdict: string;
  /** From the validator's score.txt. */
  score?: number;
}

function isSecret(group: string): boolean {
  return group === 'secret' || group.startsWith('secret/');
}

export function scoreProblem(groups: TestGroupInfo[], cases: CaseOutcome[]): { score: number; maxScore: number; groups: Record<string, { score: number; maxScore: number }> } {
  const byGroup = new Map<string, CaseOutcome[]>();
  for (const c of cases) if (isSecret(c.group)) byGroup.set(c.group, [...(byGroup.get(c.group) ?? []), c]);
  const out: Record<string, { score: number; maxScore: number }> = {};
  let score = 0;
  let max = 0;
  for (const g of groups) {
    const cs = byGroup.get(g.name);
    if (!cs?.length) continue;
    const worth = g.maxScore ?? (g.aggregation === 'min' || g.aggregation === 'pass-fail' ? g.acceptScore : g.acceptScore * cs.length);
    const share = g.aggregation === 'sum' ? worth / cs.length : worth;
    const caseScore = (c: CaseOutcome) => (c.verdict === 'AC' ? (c.score ?? share) : 0);
    let s: number;
    if (g.aggregation === 'pass-fail') s = cs.every((c) => c.verdict === 'AC') ? worth : 0;
    else if (g.aggregation === 'min') s = Math.min(...cs.map(caseScore));
    else s = cs.reduce((a, c) => a + caseScore(c), 0);
    s = Math.max(0, Math.min(worth, s));
    out[g.name] = { score: tidy(s), maxScore: tidy(worth) };
    score += s;
    max += worth;
  }
  return { score: tidy(score), maxScore: tidy(max), groups: out };
}

function tidy(x: number): number {
  return Number(x.toFixed(9));
}
