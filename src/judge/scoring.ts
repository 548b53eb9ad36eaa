// OI-style scoring: tests are grouped; a group earns its points only if every test in it
// is AC. Tests without a group are groups of their own. When no test has points, each
// test is worth 1; otherwise a test without points is worth 0. Tests that were not run
// (stopOnFirstFailure) come in as 'SKIPPED' and fail their group.

export interface ScoredTest { verdict: string; group?: string; points?: number }

export function score(tests: ScoredTest[]): { score: number; maxScore: number } {
  const anyPoints = tests.some((t) => t.points !== undefined);
  const groups = new Map<string, { points: number; ok: boolean }>();
  tests.forEach((t, i) => {
    const key = t.group !== undefined ? `g:${t.group}` : `t:${i}`;
    const g = groups.get(key) ?? { points: 0, ok: true };
    g.points += anyPoints ? t.points ?? 0 : 1;
    g.ok &&= t.verdict === 'AC';
    groups.set(key, g);
  });
  let s = 0;
  let max = 0;
  for (const g of groups.values()) {
    max += g.points;
    if (g.ok) s += g.points;
  }
  return { score: s, maxScore: max };
}
