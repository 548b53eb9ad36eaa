// The judge end to end on the real sandbox and real compilers.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { dirname } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createJudge } from '../src/judge/index.js';
import type { Judge, JudgeEvent, JudgeResult, Submission } from '../src/judge/schema.js';

const inVm = process.env.GAVEL_CGROUP2_VM === '1';
let judge: Judge;
const events: JudgeEvent[] = [];

before(async () => {
  judge = await createJudge({ poolSize: 2, name: `gavel-test-judge-${process.pid}`, uidBase: 61000 });
});
after(async () => {
  await judge.close();
});

const has = (id: string) => judge.languages().some((l) => l.id === id);
const ab = [{ input: '1 2\n', expected: '3\n' }, { input: '40 2\n', expected: '42\n' }, { input: '-5 5\n', expected: '0\n' }];

function run(sub: Partial<Submission> & { language: string }): Promise<JudgeResult> {
  events.length = 0;
  return judge.judge({ tests: ab, ...sub } as Submission, (e) => events.push(e));
}

const AB: Record<string, string> = {
  c: '#include <stdio.h>\nint main(void){long a,b;scanf("%ld %ld",&a,&b);printf("%ld\\n",a+b);return 0;}\n',
  cpp: '#include <iostream>\nint main(){long long a,b;std::cin>>a>>b;std::cout<<a+b<<"\\n";}\n',
  python3: 'a, b = map(int, input().split())\nprint(a + b)\n',
  javascript: 'const [a, b] = require("fs").readFileSync(0, "utf8").trim().split(/\\s+/).map(Number);\nconsole.log(a + b);\n',
  java: 'import java.util.*;\npublic class Solution { public static void main(String[] x) { Scanner s = new Scanner(System.in); long a = s.nextLong(), b = s.nextLong(); System.out.println(a + b); } }\n',
  rust: 'use std::io::*;\nfn main(){let mut s=String::new();stdin().read_to_string(&mut s).unwrap();let v:Vec<i64>=s.split_whitespace().map(|x|x.parse().unwrap()).collect();println!("{}",v[0]+v[1]);}\n',
  go: 'package main\nimport "fmt"\nfunc main(){var a,b int64;fmt.Scan(&a,&b);fmt.Println(a+b)}\n',
};

describe('A+B in every offered language', () => {
  for (const [lang, source] of Object.entries(AB)) {
    test(lang, async (t) => {
      if (!has(lang)) return t.skip(`${lang} toolchain not installed`);
      const r = await run({ language: lang, source, limits: { timeMs: 5000, memoryBytes: 256 << 20 } });
      assert.equal(r.verdict, 'AC', JSON.stringify(r).slice(0, 2000));
      assert.equal(r.tests.length, 3);
      assert.ok(r.memoryBytes > 0 && r.timeMs >= 0);
    });
  }
});

describe('peak memory', () => {
  // A slot's cgroup keeps the page cache a compile charged to it (the compiler and headers it was
  // the first to read); a peak counter that restarts from that usage reports it as the program's.
  // The compiler's files are dropped from the page cache first so this compile is the one charged.
  test('A+B in C++ reports a small peak per test, not the compile\'s page cache', async () => {
    const gccDir = dirname(execFileSync('g++', ['-print-prog-name=cc1plus'], { encoding: 'utf8' }).trim());
    // Not in the emulated v2 guest: a compile from a cold cache takes minutes there, and its 6.1
    // kernel cannot reset memory.peak (the figure is the program's maxrss, still asserted below).
    if (!inVm) execFileSync('sh', ['-c', 'find "$@" -type f -exec dd iflag=nocache count=0 status=none if={} ";"', 'sh', gccDir, '/usr/include']);
    // <bits/stdc++.h> reads more headers (a bigger charge), but under the v2 guest's emulation
    // compiling it outruns the compile time limit.
    const source = inVm ? AB.cpp : AB.cpp.replace('<iostream>', '<bits/stdc++.h>');
    const r = await run({ language: 'cpp', source, limits: { timeMs: 5000, memoryBytes: 256 << 20 } });
    assert.equal(r.verdict, 'AC', JSON.stringify(r).slice(0, 2000));
    // The program needs about 2 MiB; what reset() may leave charged stays under RECLAIM_ABOVE_BYTES.
    for (const t of r.tests) assert.ok(t.memoryBytes > 0 && t.memoryBytes < 12 << 20, `test ${t.id} reported ${t.memoryBytes} bytes`);
  });
});

describe('verdicts', () => {
  test('WA', async () => {
    const r = await run({ language: 'cpp', source: AB.cpp.replace('a+b', 'a-b') });
    assert.equal(r.verdict, 'WA');
    assert.ok(r.tests[0].checkerMessage, 'a WA says why');
  });
  test('TLE (cpu)', async () => {
    const r = await run({ language: 'c', source: 'int main(void){volatile unsigned long x=0;for(;;)x++;}', tests: [ab[0]], limits: { timeMs: 300 } });
    assert.equal(r.verdict, 'TLE');
    assert.equal(r.tests[0].limit, 'cpu');
  });
  test('MLE', async () => {
    const src = '#include <stdlib.h>\n#include <string.h>\nint main(void){for(int i=0;i<64;i++){char*p=malloc(16<<20);memset(p,1,16<<20);}return 0;}';
    // A generous CPU limit: inside the emulated v2 guest touching 64 MiB takes a while.
    const r = await run({ language: 'c', source: src, tests: [ab[0]], limits: { memoryBytes: 64 << 20, timeMs: 10_000 } });
    assert.equal(r.verdict, 'MLE');
  });
  test('RE by segfault', async () => {
    const r = await run({ language: 'c', source: 'int main(void){volatile int*p=0;*p=1;return 0;}', tests: [ab[0]] });
    assert.equal(r.verdict, 'RE');
    assert.equal(r.tests[0].signal, 11);
  });
  test('RE by exit code', async () => {
    const r = await run({ language: 'c', source: 'int main(void){return 3;}', tests: [ab[0]] });
    assert.equal(r.verdict, 'RE');
    assert.equal(r.tests[0].exitCode, 3);
  });
  for (const [lang, src] of [['python3', 'raise ValueError("boom")\n'], ['java', 'public class Main { public static void main(String[] a) { throw new RuntimeException("boom"); } }\n'], ['javascript', 'throw new Error("boom");\n']]) {
    test(`RE by uncaught exception in ${lang}`, async (t) => {
      if (!has(lang)) return t.skip('toolchain not installed');
      const r = await run({ language: lang, source: src, tests: [ab[0]], limits: { timeMs: 5000 } });
      assert.equal(r.verdict, 'RE', JSON.stringify(r.tests[0]));
      assert.match(r.tests[0].stderr ?? '', /boom/);
    });
  }
  test('OLE', async () => {
    const r = await run({ language: 'c', source: '#include <stdio.h>\nint main(void){for(;;)fputs("flood flood flood\\n",stdout);}', tests: [ab[0]], limits: { outputBytes: 1 << 20 } });
    assert.equal(r.verdict, 'OLE');
  });
  for (const [lang, src] of [['c', 'int main(void){ return }'], ['cpp', 'int main(){ std::vector<int> v; }'], ['java', 'public class Main { void f( }'], ['python3', 'def f(:\n  pass\n']]) {
    test(`CE for a ${lang} syntax error`, async (t) => {
      if (!has(lang)) return t.skip('toolchain not installed');
      const r = await run({ language: lang, source: src });
      assert.equal(r.verdict, 'CE');
      assert.equal(r.compile?.ok, false);
      assert.ok((r.compile?.output ?? '').length > 0, 'compiler messages are returned');
      assert.equal(r.tests.length, 0);
    });
  }
  test('a compiler reading /dev/zero ends as CE, bounded in time', async () => {
    const t0 = Date.now();
    const r = await run({ language: 'c', source: '#include "/dev/zero"\nint main(void){return 0;}' });
    assert.equal(r.verdict, 'CE');
    assert.ok(Date.now() - t0 < (inVm ? 600_000 : 60_000));
  });
});

describe('checkers and features', () => {
  const echo = '#include <stdio.h>\nint main(void){int c;while((c=getchar())!=EOF)putchar(c);return 0;}';
  test('exact, lines, tokens and float checkers', async () => {
    const t = (input: string, expected: string) => ({ input, expected });
    assert.equal((await run({ language: 'c', source: echo, tests: [t('a b\n', 'a b\n')], checker: { kind: 'exact' } })).verdict, 'AC');
    assert.equal((await run({ language: 'c', source: echo, tests: [t('a b \n', 'a b\n')], checker: { kind: 'exact' } })).verdict, 'WA');
    assert.equal((await run({ language: 'c', source: echo, tests: [t('a b  \n\n\n', 'a b\n')], checker: { kind: 'lines' } })).verdict, 'AC');
    assert.equal((await run({ language: 'c', source: echo, tests: [t('a  b\n', 'a b\n')], checker: { kind: 'lines' } })).verdict, 'WA');
    assert.equal((await run({ language: 'c', source: echo, tests: [t('a\n\n b', 'a b\n')] })).verdict, 'AC');
    assert.equal((await run({ language: 'c', source: echo, tests: [t('1.0000005', '1')], checker: { kind: 'float', absError: 1e-6 } })).verdict, 'AC');
    assert.equal((await run({ language: 'c', source: echo, tests: [t('1.00001', '1')], checker: { kind: 'float', absError: 1e-6, relError: 1e-6 } })).verdict, 'WA');
  });
  test('CRLF input is accepted by the token checker', async () => {
    const r = await run({ language: 'cpp', source: AB.cpp, tests: [{ input: '1 2\r\n', expected: '3\r\n' }] });
    assert.equal(r.verdict, 'AC');
  });
  test('50 tests in one submission', async () => {
    const tests = Array.from({ length: 50 }, (_, i) => ({ input: `${i} ${i}\n`, expected: `${2 * i}\n` }));
    const r = await run({ language: 'cpp', source: AB.cpp, tests });
    assert.equal(r.verdict, 'AC');
    assert.equal(r.tests.length, 50);
    assert.equal(events.filter((e) => e.type === 'test').length, 50);
    assert.equal(events.at(-1)?.type, 'verdict');
  });
  test('a 20 MB correct output is accepted', async () => {
    const src = '#include <stdio.h>\nint main(void){for(int i=0;i<2000000;i++)printf("%09d\\n",i);return 0;}';
    const expected = Array.from({ length: 2_000_000 }, (_, i) => String(i).padStart(9, '0')).join('\n') + '\n';
    const r = await run({ language: 'c', source: src, tests: [{ input: '', expected }], limits: { timeMs: 5000 } });
    assert.equal(r.verdict, 'AC');
  });
  test('stopOnFirstFailure stops after the first non-AC test', async () => {
    const tests = [ab[0], { input: '1 1\n', expected: '3\n' }, ab[1]];
    const r = await run({ language: 'cpp', source: AB.cpp, tests, stopOnFirstFailure: true });
    assert.equal(r.verdict, 'WA');
    assert.equal(r.tests.length, 2);
    const all = await run({ language: 'cpp', source: AB.cpp, tests });
    assert.equal(all.tests.length, 3);
  });
  test('group scoring: a group scores only when all its tests pass', async () => {
    const tests = [
      { ...ab[0], group: 'g1', points: 10 }, { ...ab[1], group: 'g1', points: 10 },
      { input: '1 1\n', expected: '3\n', group: 'g2', points: 30 }, { ...ab[2], group: 'g2', points: 50 },
    ];
    const r = await run({ language: 'cpp', source: AB.cpp, tests });
    assert.equal(r.verdict, 'WA');
    assert.equal(r.score, 20);
    assert.equal(r.maxScore, 100);
  });
  test('a custom checker in C++ (testlib-style exit codes, message kept)', async () => {
    const checker = `#include <fstream>
#include <iostream>
int main(int argc, char** argv) {
  std::ifstream in(argv[1]), out(argv[2]), ans(argv[3]);
  long long a, b, got; in >> a >> b;
  if (!(out >> got)) { std::cerr << "no number"; return 1; }
  if (got != a + b) { std::cerr << "expected " << a + b << " got " << got; return 1; }
  std::cerr << "ok " << got; return 0;
}`;
    const ok = await run({ language: 'cpp', source: AB.cpp, checker: { kind: 'program', language: 'cpp', source: checker } });
    assert.equal(ok.verdict, 'AC');
    assert.match(ok.tests[0].checkerMessage ?? '', /ok 3/);
    const bad = await run({ language: 'cpp', source: AB.cpp.replace('a+b', 'a*b'), checker: { kind: 'program', language: 'cpp', source: checker } });
    assert.equal(bad.verdict, 'WA');
    assert.match(bad.tests[0].checkerMessage ?? '', /expected 3 got 2/);
  });
  test('an interactive guessing game in C++', async () => {
    const interactor = `#include <cstdio>
int main(int argc, char** argv) {
  FILE* in = fopen(argv[1], "r"); int secret; fscanf(in, "%d", &secret);
  for (int q = 0; q < 20; q++) {
    int g; if (scanf("%d", &g) != 1) { fprintf(stderr, "no guess"); return 1; }
    if (g == secret) { printf("=\\n"); fflush(stdout); fprintf(stderr, "found in %d", q + 1); return 0; }
    printf(g < secret ? "<\\n" : ">\\n"); fflush(stdout);
  }
  fprintf(stderr, "too many guesses"); return 1;
}`;
    const solution = `#include <cstdio>
int main() { int lo = 1, hi = 1000000; char r[4];
  while (lo <= hi) { int m = (lo + hi) / 2; printf("%d\\n", m); fflush(stdout);
    if (scanf("%3s", r) != 1) return 0; if (r[0] == '=') return 0; if (r[0] == '<') lo = m + 1; else hi = m - 1; } }`;
    const tests = [{ input: '777\n', expected: '' }, { input: '1\n', expected: '' }, { input: '999999\n', expected: '' }];
    const r = await run({ language: 'cpp', source: solution, tests, interactor: { language: 'cpp', source: interactor } });
    assert.equal(r.verdict, 'AC', JSON.stringify(r.tests));
    assert.match(r.tests[0].checkerMessage ?? '', /found in/);
    const dumb = solution.replace('int m = (lo + hi) / 2;', 'int m = lo;');
    const wa = await run({ language: 'cpp', source: dumb, tests: [{ input: '999999\n', expected: '' }], interactor: { language: 'cpp', source: interactor } });
    assert.equal(wa.verdict, 'WA');
  });
  test('events: compile, test-start, test, verdict in order', async () => {
    await run({ language: 'cpp', source: AB.cpp });
    const types = events.map((e) => e.type).filter((t) => t !== 'telemetry');
    assert.deepEqual(types, ['status', 'compile', 'status', 'test-start', 'test', 'test-start', 'test', 'test-start', 'test', 'verdict']);
  });
  test('multi-file submission with a header', async () => {
    const r = await run({
      language: 'cpp',
      files: [
        { path: 'add.h', content: 'inline long long add(long long a, long long b) { return a + b; }\n' },
        { path: 'main.cpp', content: '#include <iostream>\n#include "add.h"\nint main(){long long a,b;std::cin>>a>>b;std::cout<<add(a,b)<<"\\n";}\n', entry: true },
      ],
    });
    assert.equal(r.verdict, 'AC');
  });
  test('unknown language and paths escaping the box are refused', async () => {
    await assert.rejects(run({ language: 'cobol', source: 'x' }), /unknown language/);
    await assert.rejects(run({ language: 'c', files: [{ path: '../x.c', content: '' }] }), /inside the work dir/);
  });
});
