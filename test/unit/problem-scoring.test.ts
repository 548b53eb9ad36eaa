// Scoring problems: group scores aggregated upwards through nested groups (scoring.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { scoreProblem, type CaseOutcome } from '../../src/problems/scoring.js';
import type { TestGroupInfo } from '../../src/problems/types.js';

function group(name: string, o: Partial<TestGroupInfo> = {}): TestGroupInfo {
  return { name, validatorArgs: [], aggregation: o.maxScore !== undefined ? 'min' : 'sum', acceptScore: 1, stopOnReject: false, ...o };
}
const ac = (g: string, score?: number): CaseOutcome => ({ group: g, verdict: 'AC', ...(score !== undefined ? { score } : {}) });
const wa = (g: string): CaseOutcome => ({ group: g, verdict: 'WA' });

test('flat subtasks: each all or nothing, summed into secret', () => {
  const groups = [group('sample'), group('secret'), group('secret/g1', { maxScore: 30 }), group('secret/g2', { maxScore: 70 })];
  const r = scoreProblem(groups, [ac('sample'), ac('secret/g1'), ac('secret/g1'), ac('secret/g2'), wa('secret/g2')]);
  assert.deepEqual(r, { score: 30, maxScore: 100, groups: { 'secret/g1': { score: 30, maxScore: 30 }, 'secret/g2': { score: 0, maxScore: 70 }, secret: { score: 30, maxScore: 100 } } });
});

test('nested groups: a sum group adds its subgroups, scaled to its own max_score', () => {
  const groups = [group('secret'), group('secret/a', { maxScore: 60, aggregation: 'sum' }), group('secret/a/x', { maxScore: 20 }), group('secret/a/y', { maxScore: 40 }), group('secret/b', { maxScore: 40 })];
  const r = scoreProblem(groups, [ac('secret/a/x'), wa('secret/a/y'), ac('secret/b')]);
  assert.equal(r.groups['secret/a'].score, 20);
  assert.equal(r.score, 60);
  assert.equal(r.maxScore, 100);
  // The same subgroups under a parent worth half of them: scaled down, never above it.
  const half = scoreProblem([group('secret'), group('secret/a', { maxScore: 30, aggregation: 'sum' }), group('secret/a/x', { maxScore: 20 }), group('secret/a/y', { maxScore: 40 })], [ac('secret/a/x'), ac('secret/a/y')]);
  assert.deepEqual([half.score, half.maxScore], [30, 30]);
});

test('nested groups: a min parent is as good as its weakest subgroup; pass-fail needs all', () => {
  const sub = [group('secret/a/x', { maxScore: 10, aggregation: 'sum' }), group('secret/a/y', { maxScore: 40 })];
  const cases = [ac('secret/a/x'), wa('secret/a/x'), ac('secret/a/y')];
  const min = scoreProblem([group('secret'), group('secret/a', { maxScore: 50, aggregation: 'min' }), ...sub], cases);
  // x scored 5 of 10: the weakest fraction is one half.
  assert.equal(min.groups['secret/a/x'].score, 5);
  assert.equal(min.score, 25);
  const pf = scoreProblem([group('secret'), group('secret/a', { maxScore: 50, aggregation: 'pass-fail' }), ...sub], cases);
  assert.equal(pf.score, 0);
  const allGood = scoreProblem([group('secret'), group('secret/a', { maxScore: 50, aggregation: 'pass-fail' }), ...sub], [ac('secret/a/x'), ac('secret/a/y')]);
  assert.equal(allGood.score, 50);
});

test('a group with cases of its own and a subgroup: its cases share what the subgroup leaves', () => {
  const groups = [group('secret'), group('secret/c', { maxScore: 10, aggregation: 'sum' }), group('secret/c/d', { maxScore: 4 })];
  const r = scoreProblem(groups, [ac('secret/c'), wa('secret/c'), ac('secret/c/d')]);
  // Own cases: 6 points, 3 each; one accepted. Subgroup: 4.
  assert.equal(r.groups['secret/c'].score, 7);
  assert.equal(r.score, 7);
  assert.equal(r.maxScore, 10);
});

test('legacy: accept_score per case straight in secret, score.txt values, and unlisted directories', () => {
  const r = scoreProblem([group('secret', { acceptScore: 2 })], [ac('secret'), ac('secret', 1.5), wa('secret')]);
  assert.deepEqual([r.score, r.maxScore], [3.5, 6]);
  // Cases in a directory the group list does not name still count, with the defaults.
  const u = scoreProblem([], [ac('secret/extra'), wa('secret/extra')]);
  assert.deepEqual([u.score, u.maxScore], [1, 2]);
  assert.deepEqual(scoreProblem([group('sample')], [ac('sample')]), { score: 0, maxScore: 0, groups: {} });
});
