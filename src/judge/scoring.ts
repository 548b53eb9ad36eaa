// OI-style scoring over per-test verdicts.
//
// - Tests sharing a `group` string form one group, wherever they sit in the list; a test
//   without a group is a group of its own.
// - Worth: if no test in the submission has `points`, every test is worth 1 (so the score is
//   the number of passed ungrouped tests / fully passed groups' test counts). If any test has
//   `points`, a test without them is worth 0 — which lets a problem put a group's whole value
//   on one of its tests and still require all of them to pass.
// - A group is worth the sum of its tests' points and earns them only if every one of its
//   tests is 'AC'. Anything else fails it, including 'SKIPPED' (tests not run, e.g. after
//   stopOnFirstFailure).
// - Totals are rounded to 9 decimal places so fractional points (0.1 + 0.2) add up cleanly.

export interface ScoredTest {
  verdict: string;
  group?: string;
  points?: number;
}

export function score(tests: ScoredTest[]): { score: number; maxScore: number } {
  const anyPoints = tests.some((t) => t.points !== undefined);
  const groups = new Map<string, { points: number; passed: boolean }>();
  tests.forEach((t, i) => {
    if (t.points !== undefined && !(Number.isFinite(t.points) && t.points >= 0)) {
      throw new RangeError(`test ${i + 1}: points must be a finite number >= 0, got ${t.points}`);
    }
    // Distinct prefixes keep a group literally named like an index apart from ungrouped tests.
    const key = t.group !== undefined ? `group:${t.group}` : `test:${i}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { points: 0, passed: true }));
    g.points += anyPoints ? (t.points ?? 0) : 1;
    g.passed &&= t.verdict === 'AC';
  });
  let earned = 0;
  let max = 0;
  for (const g of groups.values()) {
    max += g.points;
    if (g.passed) earned += g.points;
  }
  return { score: tidy(earned), maxScore: tidy(max) };
}

function tidy(x: number): number {
  return Number(x.toFixed(9));
}
