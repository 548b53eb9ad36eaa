// Scores of a scoring problem from its per-case results. The groups form a tree under
// secret/ (samples score nothing); a group's score is aggregated from its parts, upwards:
// - its own cases, as one part: worth the group's `max_score` less what its subgroups are
//   worth (all of it when it has none), else the legacy accept_score per case (summed, or
//   once for `min`); an accepted case scores what the validator wrote to score.txt, else
//   its share; a rejected or skipped case scores 0; `sum` adds them, `min` takes the least,
//   `pass-fail` gives the whole part only when every case is accepted;
// - each subgroup, as one part worth what that subgroup is worth.
// A group is worth its `max_score`, else what its parts are worth together. Its parts
// combine by its aggregation: `sum` adds them (scaled to the group's worth when that is not
// their total), `min` gives the worth times the least fraction any part scored, `pass-fail`
// all or nothing. No group scores above its worth. A group with max_score and no
// aggregation is `min`: a subtask, all or nothing. The problem's score is secret's.
import type { TestGroupInfo } from './types.js';

export interface CaseOutcome {
  group: string;
  verdict: string;
  /** From the validator's score.txt. */
  score?: number;
}

interface Part {
  score: number;
  worth: number;
}

function isSecret(group: string): boolean {
  return group === 'secret' || group.startsWith('secret/');
}

function parentOf(name: string): string {
  return name.slice(0, Math.max(0, name.lastIndexOf('/')));
}

/** The part a group's own cases make, worth `worth` (undefined: by accept_score). */
function casesPart(g: TestGroupInfo, cs: CaseOutcome[], worth: number | undefined): Part {
  const w = worth ?? (g.aggregation === 'min' || g.aggregation === 'pass-fail' ? g.acceptScore : g.acceptScore * cs.length);
  const share = g.aggregation === 'sum' ? w / cs.length : w;
  const caseScore = (c: CaseOutcome) => (c.verdict === 'AC' ? (c.score ?? share) : 0);
  let s: number;
  if (g.aggregation === 'pass-fail') s = cs.every((c) => c.verdict === 'AC') ? w : 0;
  else if (g.aggregation === 'min') s = Math.min(...cs.map(caseScore));
  else s = cs.reduce((a, c) => a + caseScore(c), 0);
  return { score: Math.max(0, Math.min(w, s)), worth: w };
}

function combine(g: TestGroupInfo, parts: Part[], worth: number): number {
  const total = parts.reduce((a, p) => a + p.worth, 0);
  if (total <= 0) return 0;
  let s: number;
  if (g.aggregation === 'pass-fail') s = parts.every((p) => p.score >= p.worth) ? worth : 0;
  else if (g.aggregation === 'min') s = worth * Math.min(...parts.map((p) => (p.worth > 0 ? p.score / p.worth : 1)));
  else s = (worth * parts.reduce((a, p) => a + p.score, 0)) / total;
  return Math.max(0, Math.min(worth, s));
}

export function scoreProblem(groups: TestGroupInfo[], cases: CaseOutcome[]): { score: number; maxScore: number; groups: Record<string, { score: number; maxScore: number }> } {
  const byGroup = new Map<string, CaseOutcome[]>();
  for (const c of cases) if (isSecret(c.group)) byGroup.set(c.group, [...(byGroup.get(c.group) ?? []), c]);
  const info = new Map(groups.filter((g) => isSecret(g.name)).map((g) => [g.name, g]));
  // Groups the package did not list (cases straight in a directory) score with the defaults.
  for (const name of byGroup.keys()) {
    for (let n = name; n && !info.has(n); n = parentOf(n)) info.set(n, { name: n, validatorArgs: [], aggregation: 'sum', acceptScore: 1, stopOnReject: false });
  }
  const children = new Map<string, string[]>();
  for (const name of info.keys()) if (name !== 'secret') children.set(parentOf(name), [...(children.get(parentOf(name)) ?? []), name]);
  const out: Record<string, { score: number; maxScore: number }> = {};
  const visit = (name: string): Part | undefined => {
    const g = info.get(name)!;
    const subs = (children.get(name) ?? []).map(visit).filter((p): p is Part => p !== undefined);
    const cs = byGroup.get(name) ?? [];
    const subWorth = subs.reduce((a, p) => a + p.worth, 0);
    const parts = [...subs];
    if (cs.length) parts.push(casesPart(g, cs, g.maxScore === undefined ? undefined : subs.length ? Math.max(0, g.maxScore - subWorth) : g.maxScore));
    if (!parts.length) return undefined;
    const worth = g.maxScore ?? parts.reduce((a, p) => a + p.worth, 0);
    const part = { score: subs.length ? combine(g, parts, worth) : parts[0].score, worth };
    out[name] = { score: tidy(part.score), maxScore: tidy(worth) };
    return part;
  };
  const top = info.has('secret') ? visit('secret') : undefined;
  return { score: tidy(top?.score ?? 0), maxScore: tidy(top?.worth ?? 0), groups: out };
}

function tidy(x: number): number {
  return Number(x.toFixed(9));
}
