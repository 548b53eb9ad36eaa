// Judging submissions against imported problem packages, for real: the sandbox, gcc/g++,
// python3, and the fixture packages of test/fixtures/problems built into archives. Covers
// the default validator's flags and tolerances, a C++20 validator, a Python validator with
// judgemessage.txt, a build/run directory validator, an interactive problem, a scoring
// problem with groups, include/ files, the stack = memory rule, limits that may only
// lower, version pinning, and a validator that does not compile (422).
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { createJudge, type LocalJudge } from '../src/judge/index.js';
import type { JudgeEvent, JudgeResult } from '../src/judge/schema.js';
import { ProblemError } from '../src/problems/errors.js';
import { ProblemService } from '../src/problems/service.js';
import type { ProblemRun } from '../src/problems/judging.js';
import { files, fixture, pack, type RawEntry } from './helpers/packages.js';

let judge: LocalJudge;
let service: ProblemService;
let data: string;

async function put(id: string, entries: RawEntry[], format: 'zip' | 'tar' | 'tar.gz' = 'tar', opts: { timeLimitMs?: number } = {}) {
  return service.put(id, Readable.from([await pack(entries, format)]), opts);
}

async function submit(id: string, run: ProblemRun, version?: number, events?: JudgeEvent[]): Promise<JudgeResult> {
  const v = await service.resolve(id, version);
  service.judge.validate(v, run);
  return service.judge.judge(v, run, (e) => events?.push(e));
}

const py = (source: string): ProblemRun => ({ language: 'python3', source });
const cpp = (source: string): ProblemRun => ({ language: 'cpp', source });

before(async () => {
  mkdirSync('/var/tmp', { recursive: true });
  data = mkdtempSync(join('/var/tmp', `gavel-pjudge-${process.pid}-`));
  judge = await createJudge({ poolSize: 2, name: `gavel-ptest-${process.pid}` });
  service = await ProblemService.open({ dataDir: data, pipeline: judge.pipeline, ctx: judge.ctx, synchronous: 'NORMAL' });
  await Promise.all([
    put('flags', fixture('flags')), put('floats', fixture('floats'), 'zip'), put('cppcheck', fixture('cppcheck'), 'tar.gz'),
    put('pycheck', fixture('pycheck')), put('buildrun', fixture('buildrun'), 'zip'), put('guess', fixture('guess')),
    put('scoring', fixture('scoring')), put('aplusb', fixture('aplusb')),
  ]);
});

after(async () => {
  await service?.close();
  await judge?.close();
  rmSync(data, { recursive: true, force: true });
});

describe('problems: default validator flags', () => {
  it('case_sensitive + space_change_sensitive (legacy validator_flags)', async () => {
    assert.equal((await submit('flags', py('print("Hello " + input())'))).verdict, 'AC');
    assert.equal((await submit('flags', py('print("hello " + input())'))).verdict, 'WA');
    assert.equal((await submit('flags', py('print("Hello  " + input())'))).verdict, 'WA');
    assert.equal((await submit('flags', py('print("Hello " + input(), end="")'))).verdict, 'WA', 'the missing newline is a whitespace change');
  });

  it('float tolerances from test_group.yaml (2023-07): absolute or relative', async () => {
    const ok = await submit('floats', py('import math\nprint("%.4f" % math.sqrt(float(input())))'));
    assert.equal(ok.verdict, 'AC', JSON.stringify(ok.tests.map((t) => t.checkerMessage)));
    const off = await submit('floats', py('import math\nx = float(input())\nprint(math.sqrt(x) * (1.01 if x > 100 else 1))'));
    assert.equal(off.verdict, 'WA');
    assert.equal(off.tests.at(-1)!.id, 'secret/1-big');
    assert.match(off.tests.at(-1)!.checkerMessage!, /relative error/);
    assert.equal((await submit('floats', py('input()\nprint("one point four")'))).verdict, 'WA');
  });
});

describe('problems: custom output validators (Kattis protocol)', () => {
  it('a C++20 validator accepts any right answer and explains a wrong one', async () => {
    const ok = await submit('cppcheck', py('n = int(input())\nprint(n - 1, 1)'));
    assert.equal(ok.verdict, 'AC');
    const wa = await submit('cppcheck', py('n = int(input())\nprint(n, 1)'));
    assert.equal(wa.verdict, 'WA');
    assert.equal(wa.tests.length, 1, 'pass-fail stops at the first failure');
    assert.equal(wa.tests[0].id, 'sample/1');
    assert.match(wa.tests[0].checkerMessage!, /10 \+ 1 != 10/);
  });

  it('a Python validator: judgemessage.txt comes back, exit 42/43 is AC/WA', async () => {
    const ok = await submit('pycheck', py('print(input()[::-1])'));
    assert.equal(ok.verdict, 'AC');
    assert.equal(ok.tests[0].checkerMessage, 'reversed correctly');
    const wa = await submit('pycheck', py('print(input())'));
    assert.equal(wa.verdict, 'WA');
    assert.equal(wa.tests[0].checkerMessage, "expected 'cba', got 'abc'");
  });

  it('a validator exiting with anything but 42/43 is a judge error, never WA', async () => {
    await put('pycrash', fixture('pycheck', { 'data/secret/1.ans': 'crash-the-validator\n' }));
    const r = await submit('pycrash', py('print("whatever")'));
    assert.equal(r.verdict, 'IE');
    assert.match(r.tests[0].checkerMessage!, /exited with 3 \(42 accepts, 43 rejects\)/);
  });

  it('a build/run directory validator', async () => {
    assert.equal((await submit('buildrun', py('print(input())'))).verdict, 'AC');
    assert.equal((await submit('buildrun', py('print(41)'))).verdict, 'WA');
  });

  it('a validator that does not compile fails the import with 422 and the compiler output', async () => {
    const bad = fixture('cppcheck', { 'output_validators/sum/validator.cpp': 'int main() { return undeclared; }\n' });
    await assert.rejects(put('cppbad', bad), (e: ProblemError) => {
      assert.equal(e.status, 422);
      assert.equal(e.entry, 'output_validators/sum');
      assert.match(e.message, /undeclared/);
      return true;
    });
    await assert.rejects(service.resolve('cppbad'), (e: ProblemError) => e.status === 404);
  });
});

describe('problems: interactive', () => {
  it('guessing game: AC, WA (too many guesses), TLE, RE by the precedence rules', async () => {
    const bisect = await submit('guess', py(`lo, hi = 1, 1000
while True:
    mid = (lo + hi) // 2
    print(mid, flush=True)
    r = input().strip()
    if r == 'correct': break
    if r == 'lower': hi = mid - 1
    else: lo = mid + 1
`));
    assert.equal(bisect.verdict, 'AC', JSON.stringify(bisect.tests));
    assert.equal(bisect.tests.length, 4);
    assert.match(bisect.tests[0].checkerMessage!, /guesses/);
    const linear = await submit('guess', py('g = 1\nwhile True:\n    print(g, flush=True)\n    if input().strip() == "correct": break\n    g += 1\n'));
    assert.equal(linear.verdict, 'WA');
    assert.equal(linear.tests.at(-1)!.checkerMessage, 'too many guesses');
    const silent = await submit('guess', { language: 'c', source: 'int main(void) { volatile unsigned long x = 0; for (;;) x++; }' });
    assert.equal(silent.verdict, 'TLE');
    const crash = await submit('guess', { language: 'c', source: '#include <stdio.h>\n#include <stdlib.h>\nint main(void) { printf("500\\n"); fflush(stdout); char r[16]; if (scanf("%15s", r) != 1) return 0; abort(); }' });
    assert.equal(crash.verdict, 'RE');
  });
});

describe('problems: scoring and pass-fail', () => {
  it('scoring groups: full marks, and partial marks by group', async () => {
    const full = await submit('scoring', py('print(2 * int(input()))'));
    assert.equal(full.verdict, 'AC');
    assert.equal(full.score, 100);
    assert.equal(full.maxScore, 100);
    const partial = await submit('scoring', { language: 'c', source: '#include <stdio.h>\nint main(void) { int n; scanf("%d", &n); printf("%d\\n", 2 * n); return 0; }' });
    assert.equal(partial.verdict, 'WA');
    assert.equal(partial.score, 30, JSON.stringify(partial.tests.map((t) => [t.id, t.verdict])));
    assert.equal(partial.tests.length, 5, 'a scoring problem runs every case');
  });

  it('pass-fail: samples then secret, stops at the first failure, names tests as in the package', async () => {
    const events: JudgeEvent[] = [];
    const r = await submit('aplusb', { language: 'c', source: '#include <stdio.h>\nint main(void){long long a,b;scanf("%lld %lld",&a,&b);printf("%d\\n",(int)(a+b));return 0;}' }, undefined, events);
    assert.equal(r.verdict, 'WA');
    assert.deepEqual(r.tests.map((t) => `${t.id}:${t.verdict}`), ['sample/1:AC', 'secret/01-small:AC', 'secret/02-negative:AC', 'secret/03-big:WA']);
    assert.deepEqual(r.problem, { id: 'aplusb', version: 1 });
    assert.deepEqual(events.filter((e) => e.type === 'test-start').map((e) => (e as { id: string }).id), ['sample/1', 'secret/01-small', 'secret/02-negative', 'secret/03-big']);
    const tle = await submit('aplusb', cpp('int main() { volatile unsigned long long x = 0; for (;;) x++; }'));
    assert.equal(tle.verdict, 'TLE');
    assert.equal(tle.tests.length, 1);
  });
});

describe('problems: limits, includes, versions', () => {
  it('limits may lower the problem limits, never raise them', async () => {
    const v = await service.resolve('aplusb');
    assert.throws(() => service.judge.validate(v, { ...py('print(1)'), limits: { timeMs: 5000 } }), /above the problem's timeMs of 1000/);
    assert.throws(() => service.judge.validate(v, { ...py('print(1)'), limits: { memoryBytes: 4 * 1024 ** 3 } }), /limits may only lower/);
    const r = await submit('aplusb', { ...cpp('int main() { volatile unsigned long long x = 0; for (;;) x++; }'), limits: { timeMs: 100 } });
    assert.equal(r.verdict, 'TLE');
    assert.ok(r.tests[0].timeMs < 1000, `stopped by the lowered limit, not the problem's: ${r.tests[0].timeMs} ms`);
  });

  it('the stack is as large as the memory limit: deep recursion is fine', async () => {
    await put('deep', files({
      'problem.yaml': 'name: Deep\nlimits:\n  memory: 512\n', '.timelimit': '2',
      'data/secret/1.in': '1000000\n', 'data/secret/1.ans': '1000000\n',
    }));
    const deep = `#include <cstdio>
int depth(int n) { volatile char pad[128]; pad[0] = 1; if (n == 0) return 0; return depth(n - 1) + pad[0]; }
int main() { int n; std::scanf("%d", &n); std::printf("%d\\n", depth(n)); }`;
    const r = await submit('deep', cpp(deep));
    assert.equal(r.verdict, 'AC', JSON.stringify(r.tests[0]));
    assert.ok(r.memoryBytes > 64 << 20, 'the recursion really used well over 8 MiB of stack');
  });

  it('include/<language>/ files are added to submissions', async () => {
    await put('inc', files({
      'problem.yaml': 'name: Include\n', '.timelimit': '1',
      'include/cpp/helper.h': 'inline int answer() { return 42; }\n',
      'data/secret/1.in': '', 'data/secret/1.ans': '42\n',
    }));
    assert.equal((await submit('inc', cpp('#include "helper.h"\n#include <cstdio>\nint main() { std::printf("%d\\n", answer()); }'))).verdict, 'AC');
  });

  it('a submission runs against the version it started with while a new one is imported', async () => {
    const v1 = await service.resolve('flags');
    const running = service.judge.judge(v1, py('import time\ntime.sleep(0.3)\nprint("Hello " + input())'), () => {});
    const replaced = await put('flags', fixture('flags', { 'data/secret/1.ans': 'Goodbye World\n' }));
    assert.equal(replaced.created, false);
    assert.equal(replaced.problem.version, 2);
    const r1 = await running;
    assert.equal(r1.verdict, 'AC');
    assert.deepEqual(r1.problem, { id: 'flags', version: v1.version });
    const r2 = await submit('flags', py('print("Hello " + input())'));
    assert.equal(r2.verdict, 'WA');
    assert.deepEqual(r2.problem, { id: 'flags', version: 2 });
    assert.equal((await submit('flags', py('print("Hello " + input())'), 1)).verdict, 'AC', 'an older version stays judgeable');
  });

  it('a time limit derived from the accepted submissions, as problemtools does', async () => {
    const pkg = fixture('aplusb', { '.timelimit': null });
    const { problem } = await put('derived', pkg);
    assert.equal(problem.timeLimitMs, 1000, 'slowest accepted × 5, rounded up to whole seconds');
  });

  it('resubmitting the same source reuses the build (compile cache)', async () => {
    const src = cpp('#include <iostream>\nint main() { long long a, b; std::cin >> a >> b; std::cout << a + b << "\\n"; } // cache probe');
    const first = await submit('aplusb', src);
    assert.equal(first.verdict, 'AC');
    assert.equal(first.compile!.cached, undefined);
    const again = await submit('aplusb', src);
    assert.equal(again.verdict, 'AC');
    assert.equal(again.compile!.cached, true);
    const changed = await submit('aplusb', { ...src, source: src.source + ' ' });
    assert.equal(changed.compile!.cached, undefined, 'another source compiles anew');
  });
});
