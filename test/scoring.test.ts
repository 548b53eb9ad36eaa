// OI-style group scoring.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { score, type ScoredTest } from '../src/judge/scoring.js';

const t = (verdict: string, group?: string, points?: number): ScoredTest => ({ verdict, group, points });

test('no tests: nothing to earn', () => {
  assert.deepEqual(score([]), { score: 0, maxScore: 0 });
});

test('without points every test is worth 1 and ungrouped tests stand alone', () => {
  assert.deepEqual(score([t('AC'), t('AC'), t('AC')]), { score: 3, maxScore: 3 });
  assert.deepEqual(score([t('AC'), t('WA'), t('AC'), t('TLE')]), { score: 2, maxScore: 4 });
});

test('a group earns its points only when all its tests are AC', () => {
  const tests = [t('AC', 'a'), t('AC', 'a'), t('AC', 'b'), t('WA', 'b'), t('AC', 'b'), t('AC')];
  // a: 2 of 2; b: 0 of 3 (one WA); the ungrouped test: 1 of 1.
  assert.deepEqual(score(tests), { score: 3, maxScore: 6 });
});

test('every non-AC verdict fails its group', () => {
  for (const v of ['WA', 'TLE', 'MLE', 'RE', 'OLE', 'IE', 'CE', 'ac', '']) {
    assert.deepEqual(score([t('AC', 'g', 5), t(v, 'g', 5), t('AC', undefined, 1)]), { score: 1, maxScore: 11 }, v);
  }
});

test('SKIPPED tests count as failed', () => {
  const tests = [t('AC', 's1', 30), t('WA', 's2', 30), t('SKIPPED', 's2', 0), t('SKIPPED', 's3', 40)];
  assert.deepEqual(score(tests), { score: 30, maxScore: 100 });
  assert.deepEqual(score([t('AC'), t('SKIPPED')]), { score: 1, maxScore: 2 });
});

test("a group's points are the sum of its tests' points", () => {
  const tests = [t('AC', 'g1', 10), t('AC', 'g1', 15), t('AC', 'g2', 20), t('RE', 'g2', 5), t('AC', undefined, 50)];
  assert.deepEqual(score(tests), { score: 75, maxScore: 100 });
});

test('once any test has points, tests without points are worth 0 (but still gate their group)', () => {
  const tests = [t('AC', 'g', 40), t('AC', 'g'), t('AC', 'h', 60), t('WA', 'h'), t('AC')];
  assert.deepEqual(score(tests), { score: 40, maxScore: 100 });
});

test('group members need not be adjacent', () => {
  const tests = [t('AC', 'g', 1), t('AC', 'h', 1), t('WA', 'g', 1), t('AC', 'h', 1)];
  assert.deepEqual(score(tests), { score: 2, maxScore: 4 });
});

test('a group named like a test index does not absorb ungrouped tests', () => {
  assert.deepEqual(score([t('WA'), t('AC', '0'), t('AC', 't:0'), t('AC', 'test:0')]), { score: 3, maxScore: 4 });
});

test('fractional points add up cleanly', () => {
  assert.deepEqual(score([t('AC', undefined, 0.1), t('AC', undefined, 0.2), t('WA', undefined, 0.7)]), { score: 0.3, maxScore: 1 });
  assert.deepEqual(score([t('AC', 'a', 33.33), t('AC', 'b', 33.33), t('AC', 'c', 33.34)]), { score: 100, maxScore: 100 });
});

test('zero-point tests and all-zero points', () => {
  assert.deepEqual(score([t('AC', undefined, 0), t('WA', undefined, 0)]), { score: 0, maxScore: 0 });
});

test('invalid points are refused with the test they belong to', () => {
  assert.throws(() => score([t('AC', undefined, 1), t('AC', undefined, -1)]), /test 2: points must be a finite number >= 0/);
  assert.throws(() => score([t('AC', undefined, Number.NaN)]), /test 1: points/);
  assert.throws(() => score([t('AC', undefined, Number.POSITIVE_INFINITY)]), /test 1: points/);
});
